import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { checkNewConnectedRegistryName, listOf, parseChoice, parseFlagBoolean, MODES } from '../../src/cli/connected-registry-args.js';
import {
  cleanupWarning, connectedRegistryList, connectedRegistryPermissionsUpdate, connectedRegistryUpdate, createRequest, deactivateQuestion, deleteQuestion,
  generatePasswordQuestion, overwriteWarnings, registerConnectedRegistryCommands, settingsRequest, updateRequest,
} from '../../src/cli/connected-registry-commands.js';
import type { ManagementClient } from '../../src/client/management-client.js';

/** A client that records the calls it gets. */
function recordingClient() {
  const calls: Array<{ method: string; args: unknown[] }> = [];
  const client = new Proxy({}, {
    get: (_target, method: string) => async (...args: unknown[]) => {
      calls.push({ method, args });
      return {};
    },
  }) as ManagementClient;
  return { client, calls };
}

const usage = { code: 'USAGE_INVALID', exitCode: 2 };

describe('connected-registry argument parsing', () => {
  test('choices are case-insensitive and come back canonical; others are az-style usage errors', () => {
    assert.equal(parseChoice('readwrite', MODES, '--mode/-m'), 'ReadWrite');
    assert.equal(parseChoice('READONLY', MODES, '--mode/-m'), 'ReadOnly');
    assert.equal(parseChoice(undefined, MODES, '--mode/-m'), undefined);
    assert.throws(() => parseChoice('Mirror', MODES, '--mode/-m'), { ...usage, message: "argument --mode/-m: invalid choice: 'Mirror' (choose from 'ReadOnly', 'ReadWrite')" });
  });

  test('three-state flags: absent, bare, or a word', () => {
    assert.equal(parseFlagBoolean(undefined, '--x'), undefined);
    assert.equal(parseFlagBoolean(true, '--x'), true);
    for (const word of ['true', 'Yes', 'on', '1', 'enabled']) assert.equal(parseFlagBoolean(word, '--x'), true, word);
    for (const word of ['false', 'NO', 'off', '0', 'disabled']) assert.equal(parseFlagBoolean(word, '--x'), false, word);
    assert.throws(() => parseFlagBoolean('maybe', '--gc-enabled'), { ...usage, message: "argument --gc-enabled: invalid value: 'maybe' (use true or false)" });
  });

  test("az's name checks before create: length first, then lowercase", () => {
    assert.throws(() => checkNewConnectedRegistryName('Edge'), { ...usage, message: 'argument error: Connected registry name must be at least 5 characters long.' });
    assert.throws(() => checkNewConnectedRegistryName('Edge01'), { ...usage, message: 'argument error: Connected registry name must use only lowercase.' });
    assert.doesNotThrow(() => checkNewConnectedRegistryName('edge01'));
  });

  test("nargs='*' lists: a bare flag and empty values are nothing", () => {
    assert.deepEqual(listOf(undefined), []);
    assert.deepEqual(listOf(true), []);
    assert.deepEqual(listOf(['a', '', 'b']), ['a', 'b']);
  });
});

describe('connected-registry requests', () => {
  test('create sends only what was given (server defaults apply), in the API names', () => {
    assert.deepEqual(createRequest({ name: 'edge01', repository: ['hello-world'] }), { name: 'edge01', repositories: ['hello-world'] });
    assert.deepEqual(
      createRequest({
        name: 'edge02', syncToken: 'sync1', mode: 'readonly', parent: 'edge01', clientTokens: ['t1'], syncSchedule: '0 9 * * *', syncWindow: 'PT3H',
        syncMessageTtl: 'P3D', logLevel: 'error', notifications: ['a:*'], auditLogsEnabled: true, gcEnabled: 'false', gcSchedule: '0 1 * * *',
      }),
      {
        name: 'edge02', syncToken: 'sync1', mode: 'ReadOnly', parent: 'edge01', clientTokens: ['t1'], syncSchedule: '0 9 * * *', syncWindow: 'PT3H',
        syncMessageTtl: 'P3D', logLevel: 'Error', notifications: ['a:*'], auditLogStatus: 'Enabled', garbageCollection: { enabled: false, schedule: '0 1 * * *' },
      },
    );
    assert.deepEqual(createRequest({ name: 'edge03', repository: ['a'], gcSchedule: '0 1 * * *' }).garbageCollection, { schedule: '0 1 * * *' });
  });

  test('create: exactly one of --sync-token and --repository is checked before the name (as az)', () => {
    const both = 'argument error: either --sync-token or --repository must be provided, but not both.';
    assert.throws(() => createRequest({ name: 'x' }), { ...usage, message: both });
    assert.throws(() => createRequest({ name: 'x', repository: ['a'], syncToken: 't' }), { ...usage, message: both });
    assert.throws(() => createRequest({ name: 'edge01', repository: [''] }), { ...usage, message: both }, 'an empty repository is none');
    assert.throws(() => createRequest({ name: 'x', repository: ['a'] }), { ...usage, message: /at least 5 characters/ });
  });

  test('update: lists as given (the server applies the sets), "" clears the window, nothing is a usage error', async () => {
    assert.deepEqual(updateRequest({ name: 'edge01', addClientTokens: ['a', 'b'], removeClientTokens: true, syncWindow: '' }), { addClientTokens: ['a', 'b'], syncWindow: null });
    assert.deepEqual(
      updateRequest({ name: 'edge01', removeNotifications: ['x:*'], syncSchedule: '0 1 * * *', syncWindow: 'PT2H', logLevel: 'none', auditLogsEnabled: 'no', gcEnabled: true }),
      { removeNotifications: ['x:*'], syncSchedule: '0 1 * * *', syncWindow: 'PT2H', logLevel: 'None', auditLogStatus: 'Disabled', garbageCollection: { enabled: true } },
    );
    const { client, calls } = recordingClient();
    await assert.rejects(connectedRegistryUpdate(client, { name: 'edge01' }), { ...usage, message: /^usage error: nothing to update/ });
    await assert.rejects(connectedRegistryUpdate(client, { name: 'edge01', addClientTokens: true, addNotifications: [] }), usage);
    await assert.rejects(connectedRegistryUpdate(client, { name: 'edge01', logLevel: 'loud' }), usage);
    assert.equal(calls.length, 0, 'nothing sent');
    await connectedRegistryUpdate(client, { name: 'edge01', syncMessageTtl: 'P5D' });
    assert.deepEqual(calls, [{ method: 'updateConnectedRegistry', args: ['edge01', { syncMessageTtl: 'P5D' }] }]);
  });

  test('list filters: --no-children is noChildren, choices canonical', async () => {
    const { client, calls } = recordingClient();
    await connectedRegistryList(client, {});
    await connectedRegistryList(client, { children: true, parent: 'edge01' });
    await connectedRegistryList(client, { children: false, mode: 'readwrite', connectionState: 'UNHEALTHY' });
    assert.deepEqual(calls.map((c) => c.args[0]), [{}, { parent: 'edge01' }, { noChildren: true, mode: 'ReadWrite', connectionState: 'Unhealthy' }]);
    await assert.rejects(connectedRegistryList(client, { connectionState: 'Asleep' }), usage);
  });

  test('permissions update needs --add or --remove', async () => {
    const { client, calls } = recordingClient();
    await assert.rejects(connectedRegistryPermissionsUpdate(client, { name: 'edge01' }), { ...usage, message: 'No repository permissions to update.' });
    await assert.rejects(connectedRegistryPermissionsUpdate(client, { name: 'edge01', add: true, remove: [] }), usage);
    assert.equal(calls.length, 0);
    await connectedRegistryPermissionsUpdate(client, { name: 'edge01', remove: ['a'] });
    assert.deepEqual(calls[0], { method: 'updateConnectedRegistryPermissions', args: ['edge01', { remove: ['a'] }] });
  });

  test('get-settings: protocol and password number', () => {
    assert.deepEqual(settingsRequest({ name: 'edge01', parentProtocol: 'HTTP' }), { parentProtocol: 'http' });
    assert.deepEqual(settingsRequest({ name: 'edge01', parentProtocol: 'https', generatePassword: '2' }), { parentProtocol: 'https', generatePassword: 2 });
    assert.throws(() => settingsRequest({ name: 'edge01', parentProtocol: 'ftp' }), usage);
    assert.throws(() => settingsRequest({ name: 'edge01', parentProtocol: 'https', generatePassword: '0' }), usage);
  });

  test("az's questions; the cleanup warning names the registry in each command", () => {
    assert.equal(deactivateQuestion('edge01', 'http://h:1'), "Are you sure you want to deactivate the connected registry 'edge01' in 'http://h:1'?");
    assert.equal(generatePasswordQuestion('edge01', 2), "Are you sure you want to generate a new sync token 'edge01' password2?");
    assert.equal(deleteQuestion('edge01', 'http://h:1', false), "Are you sure you want to delete the connected registry 'edge01' in 'http://h:1' without cleanup flag enabled?");
    assert.equal(deleteQuestion('edge01', 'http://h:1', true), "Are you sure you want to delete the connected registry 'edge01' in 'http://h:1'?");
    assert.equal(cleanupWarning({ name: 'edge01', cleanup: true }, 'http://h:1'), null);
    assert.equal(overwriteWarnings('edge01', { scopeMap: false, token: false }), '');
    assert.equal(overwriteWarnings('edge01', { scopeMap: false, token: true }), "WARNING: Sync token 'edge01' already existed: its properties were overwritten.\n");
    assert.equal(
      cleanupWarning({ name: 'edge01', cleanup: false, message: 'Deleted. Run:', cleanupCommands: ['outpost token delete --name edge01 --yes'] }, 'http://h:1'),
      'WARNING: Deleted. Run:\n    outpost token delete --name edge01 --yes --registry http://h:1\n',
    );
  });
});

describe('connected-registry command tree', () => {
  /** The group as registered, with the help of each command. */
  function helpTexts(): Map<string, string> {
    const program = new Command('outpost');
    registerConnectedRegistryCommands(program, { argv: [], env: {}, stdout: () => undefined, interactive: false });
    const texts = new Map<string, string>();
    const walk = (command: Command, path: string[]): void => {
      texts.set(path.join(' '), command.helpInformation());
      for (const sub of command.commands) walk(sub, [...path, sub.name()]);
    };
    walk(program.commands.find((c) => c.name() === 'connected-registry')!, []);
    return texts;
  }

  test("az's commands, each with its flags; update has no --mode or --parent", () => {
    const help = helpTexts();
    assert.deepEqual([...help.keys()].sort(), [
      '', 'create', 'deactivate', 'delete', 'gc', 'get-settings', 'list', 'list-client-tokens', 'permissions', 'permissions show', 'permissions update', 'resync', 'show', 'update',
    ]);
    const flags: Record<string, string[]> = {
      create: ['-n, --name', '--repository', '--sync-token', '-m, --mode', '-p, --parent', '--client-tokens', '-s, --sync-schedule', '-w, --sync-window',
        '--sync-message-ttl', '--log-level', '--notifications', '--audit-logs-enabled', '--gc-enabled', '--gc-schedule', '-r, --registry', '-o, --output', '--query'],
      update: ['-n, --name', '--add-client-tokens', '--remove-client-tokens', '--add-notifications', '--remove-notifications', '-s, --sync-schedule',
        '-w, --sync-window', '--sync-message-ttl', '--log-level', '--audit-logs-enabled', '--gc-enabled', '--gc-schedule'],
      delete: ['-n, --name', '--cleanup', '-y, --yes'],
      deactivate: ['-n, --name', '-y, --yes'],
      list: ['-p, --parent', '--no-children', '-m, --mode', '--connection-state'],
      'get-settings': ['-n, --name', '--parent-protocol', '--generate-password', '-y, --yes'],
      'permissions update': ['-n, --name', '--add', '--remove'],
      resync: ['-n, --name'],
      gc: ['-n, --name', '--dry-run'],
    };
    for (const [command, names] of Object.entries(flags)) {
      for (const flag of names) assert.ok(help.get(command)!.includes(flag), `${command}: ${flag}`);
    }
    assert.doesNotMatch(help.get('update')!, /--mode|--parent/);
    assert.match(help.get('create')!, /default: ReadOnly/);
    assert.doesNotMatch(help.get('create')!, /-y, --yes/, 'accepted, not shown: nothing to confirm');
  });
});
