import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestNode, tempDir, OUTPOST_BIN, type TestNode } from '../helpers/test-node.js';
import { TestClient, TEST_ADMIN_PASSWORD } from '../helpers/oci-client.js';
import { assertOneLineError, cliBatch, execRun, type CliRun } from '../helpers/cli-batch.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { waitFor } from '../helpers/hierarchy.js';
import type { Webhook, WebhookEvent, WebhookPing } from '../../src/client/webhook-types.js';

/**
 * `outpost webhook …` against a real root and a real receiver, logged in with `outpost login`:
 * every command with json and table output, and bad input on every command — one line on
 * stderr, exit 2 for what the CLI refuses before sending anything, 1 for the server's refusals.
 */
describe('outpost webhook against a real root', () => {
  let root: TestNode;
  let home: { path: string; cleanup(): Promise<void> };
  let receiver: WebhookReceiver;

  function env(): NodeJS.ProcessEnv {
    const clean: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('OUTPOST_')) clean[key] = value;
    return { ...clean, HOME: home.path, XDG_CONFIG_HOME: home.path };
  }
  const webhook = (...commands: string[][]): Promise<CliRun[]> => cliBatch(commands.map((c) => ['webhook', ...c]), env());
  const json = <T>(run: CliRun, what = ''): T => {
    assert.equal(run.code, 0, `${what}: ${run.stderr}`);
    assert.equal(run.stderr, '', what);
    return JSON.parse(run.stdout) as T;
  };

  before(async () => {
    root = await startTestNode();
    home = await tempDir('outpost-webhook-cli-home-');
    receiver = await WebhookReceiver.start();
    const login = await execRun(process.execPath, [OUTPOST_BIN, 'login', root.url, '-u', 'admin', '-p', TEST_ADMIN_PASSWORD], env());
    assert.equal(login.code, 0, login.stderr);
  });

  after(async () => {
    await root?.close();
    await receiver?.close();
    await home?.cleanup();
  });

  test('bin/outpost lists the group and its commands', async () => {
    const help = await execRun(process.execPath, [OUTPOST_BIN, 'webhook', '--help'], env());
    assert.equal(help.code, 0);
    for (const command of ['create', 'list', 'show', 'update', 'delete', 'ping', 'list-events']) assert.match(help.stdout, new RegExp(`\\n  ${command} `), command);
  });

  test('create, show, list, update, ping, list-events, delete: JSON as the server answers it, tables with the columns', async () => {
    const [created, shown, table, updated, ping] = await webhook(
      ['create', '-n', 'clihook1', '--uri', receiver.url, '--actions', 'push', 'delete', '--scope', 'cli/*:*', '--headers', 'Authorization=Basic c2VjcmV0', 'X-Env=a=b c'],
      ['show', '-n', 'clihook1'],
      ['list', '-o', 'table'],
      ['update', '-n', 'clihook1', '--actions', 'push', '--status', 'Disabled'],
      ['ping', '-n', 'clihook1'],
    );
    const made = json<Webhook>(created!, 'create');
    assert.deepEqual(made.actions, ['push', 'delete']);
    assert.equal(made.scope, 'cli/*:*');
    assert.deepEqual(made.customHeaders, { Authorization: '***', 'X-Env': 'a=b c' }, 'a value keeps its = and spaces; a secret is masked');
    assert.ok(!created!.stdout.includes('c2VjcmV0'));
    assert.deepEqual(json<Webhook>(shown!, 'show'), made);
    assert.match(table!.stdout, /^NAME +STATUS +ACTIONS +SCOPE +SERVICE URI +PENDING +DELIVERED +FAILED\n/);
    assert.match(table!.stdout, /\nclihook1 +enabled +push, delete +cli\/\*:\* +http:\/\/127\.0\.0\.1:\d+\/hook +0 +0 +0\n/);
    assert.equal(json<Webhook>(updated!, 'update').status, 'disabled');
    const pinged = json<WebhookPing>(ping!, 'ping');
    assert.equal(pinged.delivered, true);
    assert.equal(receiver.received.at(-1)!.headers.authorization, 'Basic c2VjcmV0', 'the receiver gets the real header');

    const [enable] = await webhook(['update', '-n', 'clihook1', '--status', 'enabled', '--headers', '']);
    assert.deepEqual(json<Webhook>(enable!, 'update').customHeaders, {}, '--headers "" clears them');
    const before = receiver.received.length;
    await new TestClient(root.url).pushImage('cli/app', 'v1');
    await receiver.waitFor(before + 1);
    await waitFor('the push delivered', async () => {
      const [run] = await webhook(['list-events', '-n', 'clihook1']);
      return json<WebhookEvent[]>(run!).some((e) => e.action === 'push' && e.state === 'delivered');
    });
    const [events, eventsTable, top1] = await webhook(['list-events', '-n', 'clihook1'], ['list-events', '-n', 'clihook1', '-o', 'table'], ['list-events', '-n', 'clihook1', '--top', '1']);
    const listed = json<WebhookEvent[]>(events!, 'list-events');
    assert.deepEqual(listed.map((e) => [e.action, e.attempt, e.state, e.eventResponseMessage?.statusCode]), [['push', 1, 'delivered', 200], ['ping', 1, 'delivered', 200]]);
    assert.equal(listed[1]!.id, pinged.id);
    assert.equal(listed[1]!.eventRequestMessage.headers.Authorization, '***');
    assert.match(eventsTable!.stdout, /^TIMESTAMP +ID +ACTION +ATTEMPT +STATE +STATUS +DURATION MS +ERROR\n/);
    assert.equal(json<WebhookEvent[]>(top1!).length, 1);

    const [deleted, gone] = await webhook(['delete', '-n', 'clihook1', '--yes'], ['show', '-n', 'clihook1']);
    assert.equal(deleted!.code, 0, deleted!.stderr);
    assertOneLineError(gone!, 1, "The webhook 'clihook1' could not be found.");
  });

  test('bad input on every command: one line, exit 2 before sending, exit 1 for the server', async () => {
    const [good] = await webhook(['create', '-n', 'clihook2', '--uri', receiver.url, '--actions', 'push']);
    json<Webhook>(good!, 'create');
    const failures: Array<[string[], number, RegExp | string]> = [
      [['create', '--uri', receiver.url, '--actions', 'push'], 1, /required option '-n, --name <name>' not specified/],
      [['create', '-n', 'clihook3', '--actions', 'push'], 1, /required option '--uri <uri>' not specified/],
      [['create', '-n', 'clihook3', '--uri', receiver.url], 1, /required option '--actions <action\.\.\.>' not specified/],
      [['create', '-n', 'clihook3', '--uri', receiver.url, '--actions', 'quarantine'], 2, "argument --actions: 'quarantine' is not supported: Outpost has no quarantine. Use push and/or delete."],
      [['create', '-n', 'clihook3', '--uri', receiver.url, '--actions', 'chart_push'], 2, /'chart_push' is not supported: Outpost has no Helm chart repositories/],
      [['create', '-n', 'clihook3', '--uri', receiver.url, '--actions', 'pull'], 2, "argument --actions: invalid choice: 'pull' (choose from 'push', 'delete')"],
      [['create', '-n', 'clihook3', '--uri', receiver.url, '--actions', 'push', '--status', 'paused'], 2, "argument --status: invalid choice: 'paused' (choose from 'enabled', 'disabled')"],
      [['create', '-n', 'clihook3', '--uri', receiver.url, '--actions', 'push', '--headers', '=x'], 2, /argument --headers: use NAME=VALUE pairs/],
      [['create', '-n', 'clihook3', '--uri', receiver.url, '--actions', 'push', '--headers', 'A=1', 'a=2'], 2, "argument --headers: the header 'a' is given twice"],
      [['create', '-n', 'clihook3', '--uri', receiver.url, '--actions', 'push', '-o', 'xml'], 2, /argument --output\/-o: invalid choice: 'xml'/],
      [['create', '-n', 'bad', '--uri', receiver.url, '--actions', 'push'], 1, "Invalid webhook name 'bad': use 5 to 50 letters and digits."],
      [['create', '-n', 'clihook3', '--uri', 'ftp://x/', '--actions', 'push'], 1, "The service URI must use http or https (got 'ftp')."],
      [['create', '-n', 'clihook3', '--uri', receiver.url, '--actions', 'push', '--scope', 'a:b:c'], 1, /Invalid scope 'a:b:c'/],
      [['create', '-n', 'clihook3', '--uri', receiver.url, '--actions', 'push', '--headers', 'Host=evil'], 1, "The header 'Host' is set by the registry itself and cannot be a custom header."],
      [['create', '-n', 'clihook2', '--uri', receiver.url, '--actions', 'push'], 1, "The webhook 'clihook2' already exists."],
      [['update', '-n', 'clihook2'], 2, 'usage error: nothing to update: give --uri, --actions, --scope, --headers or --status'],
      [['update', '-n', 'clihook2', '--actions', 'chart_delete'], 2, /'chart_delete' is not supported/],
      [['update', '-n', 'nosuchhook', '--status', 'enabled'], 1, "The webhook 'nosuchhook' could not be found."],
      [['update', '-n', 'clihook2', '--uri', 'not a url'], 1, 'The service URI is not a valid URL: use http://host[:port]/path or https://….'],
      [['show'], 1, /required option '-n, --name <name>' not specified/],
      [['show', '-n', 'nosuchhook'], 1, "The webhook 'nosuchhook' could not be found."],
      [['delete', '-n', 'clihook2'], 2, 'Unable to prompt for confirmation as no tty available. Use --yes.'],
      [['delete', '-n', 'nosuchhook', '--yes'], 1, "The webhook 'nosuchhook' could not be found."],
      [['ping', '-n', 'nosuchhook'], 1, "The webhook 'nosuchhook' could not be found."],
      [['list-events', '-n', 'clihook2', '--top', '0'], 2, "argument --top: expected a whole number from 1 to 1000 (got '0')"],
      [['list-events', '-n', 'clihook2', '--top', 'many'], 2, "argument --top: expected a whole number from 1 to 1000 (got 'many')"],
      [['list-events', '-n', 'nosuchhook'], 1, "The webhook 'nosuchhook' could not be found."],
      [['list', '--query', '[?'], 2, /argument --query: invalid JMESPath query/],
      [['list', '-r', 'http://127.0.0.1:1'], 1, /cannot reach the registry at http:\/\/127\.0\.0\.1:1/],
    ];
    const runs = await webhook(...failures.map(([args]) => args));
    runs.forEach((run, i) => assertOneLineError(run, failures[i]![1], failures[i]![2], failures[i]![0].join(' ')));
    const [list] = await webhook(['list', '--query', '[].name']);
    assert.deepEqual(json<string[]>(list!), ['clihook2'], 'nothing else was created, clihook2 is still there');
  });
});
