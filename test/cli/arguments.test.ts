import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { buildActions, collectGroups, parseExpiry } from '../../src/cli/action-args.js';
import { tokenCreate, tokenCredentialDelete, tokenCredentialGenerate, tokenUpdate } from '../../src/cli/token-commands.js';
import { scopeMapCreate, scopeMapUpdate } from '../../src/cli/scope-map-commands.js';
import { parseImage, repositoryDelete } from '../../src/cli/repository-commands.js';
import type { ManagementClient } from '../../src/client/management-client.js';

/** A client that records the calls it gets and answers with `answer`. */
function recordingClient(answer: (method: string, args: unknown[]) => unknown = () => ({})) {
  const calls: Array<{ method: string; args: unknown[] }> = [];
  const client = new Proxy({}, {
    get: (_target, method: string) => async (...args: unknown[]) => {
      calls.push({ method, args });
      return answer(method, args);
    },
  }) as ManagementClient;
  return { client, calls };
}

describe('repeatable "flag followed by several values" options', () => {
  test('groups follow the command line', () => {
    const argv = ['scope-map', 'create', '-n', 'maps1', '--repository', 'hello', 'content/read', 'metadata/read', '--repository', 'other', 'content/write', '-r', 'x'];
    assert.deepEqual(collectGroups(argv, ['--repository']), [['hello', 'content/read', 'metadata/read'], ['other', 'content/write']]);
    assert.deepEqual(collectGroups(argv, ['--gateway']), []);
  });

  test('aliases share one list; --flag=value starts a group; -- ends the options', () => {
    const argv = ['--add', 'a', 'content/read', '--description', 'd', '--add-repository=b', 'content/write', '--', '--add', 'c'];
    assert.deepEqual(collectGroups(argv, ['--add-repository', '--add']), [['a', 'content/read'], ['b', 'content/write']]);
  });

  test('a flag with no values gives an empty group (reported as a usage error)', () => {
    assert.deepEqual(collectGroups(['--repository', '--status', 'enabled'], ['--repository']), [[]]);
    assert.throws(() => buildActions([[]], 'repository'), { code: 'USAGE_INVALID' });
  });
});

describe('actions', () => {
  test('az strings, resource lower-cased, actions case-insensitive, duplicates dropped', () => {
    assert.deepEqual(buildActions([['Hello', 'Content/Read', 'metadata/read'], ['hello', 'content/read'], ['team/*', 'content/write']], 'repository'), [
      'repositories/hello/content/read',
      'repositories/hello/metadata/read',
      'repositories/team/*/content/write',
    ]);
    assert.deepEqual(buildActions([['edge01', 'config/read', 'message/write']], 'gateway'), ['gateway/edge01/config/read', 'gateway/edge01/message/write']);
  });

  test("the reference's messages for no action and an invalid action", () => {
    assert.throws(() => buildActions([['hello']], 'repository'), { message: 'At least one action must be specified with "hello".' });
    assert.throws(() => buildActions([['hello', 'content/push']], 'repository'), {
      message: `Invalid action "content/push" provided. Valid actions are {'content/delete', 'content/read', 'content/write', 'metadata/read', 'metadata/write'}.`,
    });
    assert.throws(() => buildActions([['edge01', 'content/read']], 'gateway'), { message: /^Invalid action "content\/read" provided. Valid actions are \{'config\/read'/ });
  });
});

describe('expiry', () => {
  const now = new Date('2026-01-01T00:00:00.000Z');
  test('--expiration-in-days and --expiration', () => {
    assert.equal(parseExpiry({}, now), undefined);
    assert.equal(parseExpiry({ expirationInDays: '30' }, now), '2026-01-31T00:00:00.000Z');
    assert.equal(parseExpiry({ expiration: '2027-02-03T04:05:06Z' }, now), '2027-02-03T04:05:06.000Z');
  });
  test('bad values and both together are usage errors', () => {
    for (const bad of [{ expirationInDays: '0' }, { expirationInDays: 'x' }, { expiration: '2027-02-30T00:00:00Z' }, { expiration: '2027-02-03' }, { expirationInDays: '1', expiration: '2027-02-03T04:05:06Z' }]) {
      assert.throws(() => parseExpiry(bad, now), { code: 'USAGE_INVALID' }, JSON.stringify(bad));
    }
  });
});

describe('command functions build the requests of the contract', () => {
  test('token create with --repository groups sends actions; with --scope-map the name', async () => {
    const { client, calls } = recordingClient();
    await tokenCreate(client, { name: 't-line1', repository: [['hello', 'content/read']], gateway: [['edge01', 'config/read']], status: 'disabled', expirationInDays: '1' });
    const body = calls[0]!.args[0] as Record<string, unknown>;
    assert.deepEqual(body.actions, ['repositories/hello/content/read', 'gateway/edge01/config/read']);
    assert.equal(body.status, 'disabled');
    assert.match(String(body.expiry), /^\d{4}-\d\d-\d\dT/);
    await tokenCreate(client, { name: 't-line2', scopeMap: 'maps1', repository: [], gateway: [], passwords: false });
    assert.deepEqual(calls[1]!.args[0], { name: 't-line2', scopeMap: 'maps1', noPasswords: true });
  });

  test('token create needs exactly one of --scope-map and actions', async () => {
    const { client, calls } = recordingClient();
    await assert.rejects(tokenCreate(client, { name: 't-line1' }), { code: 'USAGE_INVALID' });
    await assert.rejects(tokenCreate(client, { name: 't-line1', scopeMap: 'm', repository: [['a', 'content/read']] }), { code: 'USAGE_INVALID' });
    await assert.rejects(tokenCreate(client, { name: 't-line1', scopeMap: 'm', passwords: false, expirationInDays: '3' }), { code: 'USAGE_INVALID' });
    assert.equal(calls.length, 0);
  });

  test('token update sends only what was given', async () => {
    const { client, calls } = recordingClient();
    await tokenUpdate(client, { name: 't-line1', status: 'disabled' });
    assert.deepEqual(calls[0]!.args, ['t-line1', { status: 'disabled' }]);
    await assert.rejects(tokenUpdate(client, { name: 't-line1' }), { code: 'USAGE_INVALID' });
  });

  test('credential generate without flags renews both and keeps both new values', async () => {
    const { client, calls } = recordingClient((_method, args) => ({
      name: 't-line1',
      credentials: { passwords: [
        { name: 'password1', expiry: null, ...(args[1] === 'password1' ? { value: 'v1' } : {}) },
        { name: 'password2', expiry: null, ...(args[1] === 'password2' ? { value: 'v2' } : {}) },
      ] },
    }));
    const token = await tokenCredentialGenerate(client, { name: 't-line1' });
    assert.deepEqual(calls.map((c) => c.args), [['t-line1', 'password1', undefined], ['t-line1', 'password2', undefined]]);
    assert.deepEqual(token.credentials.passwords.map((p) => p.value), ['v1', 'v2']);
    await assert.rejects(tokenCredentialDelete(client, { name: 't-line1' }), { code: 'USAGE_INVALID' });
  });

  test('scope-map create and update', async () => {
    const { client, calls } = recordingClient();
    await scopeMapCreate(client, { name: 'maps1', description: 'd', repository: [['hello', 'content/read', 'metadata/read'], ['other', 'content/write']] });
    assert.deepEqual(calls[0]!.args[0], { name: 'maps1', description: 'd', actions: ['repositories/hello/content/read', 'repositories/hello/metadata/read', 'repositories/other/content/write'] });
    await scopeMapUpdate(client, { name: 'maps1', addRepository: [['x', 'content/read']], removeGateway: [['edge01', 'message/read']] });
    assert.deepEqual(calls[1]!.args, ['maps1', { addActions: ['repositories/x/content/read'], removeActions: ['gateway/edge01/message/read'] }]);
    await assert.rejects(scopeMapCreate(client, { name: 'maps1' }), { code: 'USAGE_INVALID' });
    await assert.rejects(scopeMapCreate(client, { name: 'maps1', description: 'x'.repeat(257), repository: [['a', 'content/read']] }), { code: 'USAGE_INVALID' });
    await assert.rejects(scopeMapUpdate(client, { name: 'maps1' }), { code: 'USAGE_INVALID' });
  });

  test('--image and repository delete', async () => {
    assert.deepEqual(parseImage('team/hello:v1'), { repository: 'team/hello', tag: 'v1' });
    assert.deepEqual(parseImage(`hello@sha256:${'a'.repeat(64)}`), { repository: 'hello', digest: `sha256:${'a'.repeat(64)}` });
    assert.throws(() => parseImage('hello'), { code: 'USAGE_INVALID' });
    const { client, calls } = recordingClient((method) => (method === 'listTags' ? [{ name: 'v1', digest: 'sha256:abc' }] : undefined));
    await repositoryDelete(client, { image: 'hello:v1' });
    assert.deepEqual(calls.map((c) => [c.method, ...c.args]), [['listTags', 'hello'], ['deleteManifest', 'hello', 'sha256:abc']]);
    await assert.rejects(repositoryDelete(client, { image: 'hello:v2' }), { code: 'NOT_FOUND', message: "Tag 'v2' not found in repository 'hello'." });
    await assert.rejects(repositoryDelete(client, {}), { code: 'USAGE_INVALID' });
  });
});
