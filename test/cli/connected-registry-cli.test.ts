import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { startTestNode, tempDir, OUTPOST_BIN, type TestNode } from '../helpers/test-node.js';
import { TestClient, basicAuth, TEST_ADMIN_PASSWORD } from '../helpers/oci-client.js';
import { ManagementClient, type ConnectedRegistry, type ScopeMap, type Token } from '../../src/client/management-client.js';
import { ManagementError } from '../../src/client/management-error.js';
import { SqliteMetadataStore } from '../../src/metadata/index.js';
import { assertOneLineError, cliBatch, execRun, type CliRun } from '../helpers/cli-batch.js';

type Run = CliRun;

/** A command line after `outpost connected-registry`, and what its run must give when it fails. */
type Failure = [args: string[], code: number, message: RegExp | string];

const HELP = 'For more information on connected registries please visit https://aka.ms/acr/connected-registry.';
const PASSWORD_PLACEHOLDER = '<use --generate-password to generate a new password>';
const NO_TTY = 'Unable to prompt for confirmation as no tty available. Use --yes.';
const MISSING = "Connected registry 'nothere1' doesn't exist.";
const gateway = (n: string): string[] => ['config/read', 'config/write', 'message/read', 'message/write'].map((a) => `gateway/${n}/${a}`);
const readOnly = (r: string): string[] => ['content/read', 'metadata/read'].map((a) => `repositories/${r}/${a}`);
const readWrite = (r: string): string[] => ['content/read', 'metadata/read', 'content/write', 'content/delete', 'metadata/write'].map((a) => `repositories/${r}/${a}`);
const sorted = (values: readonly string[]): string[] => [...values].sort();
const HAS_SCRIPT = spawnSync('script', ['--version']).status === 0;

/**
 * An az-like table as rows of `{HEADER: cell}`, columns found from the dashed line, so that a
 * value in the wrong column (or a missing column) fails.
 */
function parseTable(text: string): { headers: string[]; rows: Array<Record<string, string>> } {
  const [header, dashes, ...lines] = text.trimEnd().split('\n');
  assert.ok(header !== undefined && dashes !== undefined && /^-+( {2}-+)*$/.test(dashes), `a table: ${text}`);
  const starts = [...dashes.matchAll(/-+/g)].map((m) => m.index);
  const cut = (line: string): string[] => starts.map((start, i) => line.slice(start, starts[i + 1] ?? line.length).trim());
  const headers = cut(header);
  return { headers, rows: lines.map((line) => Object.fromEntries(cut(line).map((cell, i) => [headers[i]!, cell]))) };
}

/** The stdout of a run that must have succeeded silently on stderr. */
function okOf(run: Run, what = ''): string {
  assert.equal(run.code, 0, `${what} failed: ${run.stderr}`);
  assert.equal(run.stderr, '', what);
  return run.stdout;
}

const jsonOf = <T>(run: Run, what = ''): T => JSON.parse(okOf(run, what)) as T;

/**
 * `outpost connected-registry …` against a real root node (real socket, real SQLite), logged in
 * to with `outpost login`: a few command lines through `bin/outpost` itself (exit codes, a
 * terminal), the rest through the same entry point in batches. The root runs in this process so
 * that the test can play the edges' part (heartbeats: activation, connection state, login server,
 * last sync), which the management API only shows.
 */
describe('outpost connected-registry against a real root', () => {
  let root: TestNode;
  let home: { path: string; cleanup(): Promise<void> };
  let api: ManagementClient;
  let store: SqliteMetadataStore['connectedRegistries'];

  function env(): NodeJS.ProcessEnv {
    const clean: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('OUTPOST_')) clean[key] = value;
    return { ...clean, HOME: home.path, XDG_CONFIG_HOME: home.path };
  }

  const exec = (file: string, args: string[], stdin?: string): Promise<Run> => execRun(file, args, env(), stdin);


  /** `bin/outpost …` as its own process. */
  const outpost = (...args: string[]): Promise<Run> => exec(process.execPath, [OUTPOST_BIN, ...args]);

  /** `outpost <args>` for each of `commands`, in order, in one process (the shared batch runner). */
  const outpostBatch = (commands: string[][]): Promise<Run[]> => cliBatch(commands, env());


  /** `outpost connected-registry <args>` for each of `commands`, in order, in one process. */
  const batch = (...commands: string[][]): Promise<Run[]> => outpostBatch(commands.map((c) => ['connected-registry', ...c]));

  /** Runs `commands`, then `failures`, in one batch; checks each failure and answers the runs of `commands`. */
  async function batchWithFailures(commands: string[][], failures: Failure[]): Promise<Run[]> {
    const runs = await batch(...commands, ...failures.map(([args]) => args));
    runs.slice(commands.length).forEach((run, i) => assertOneLineError(run, failures[i]![1], failures[i]![2], failures[i]![0].join(' ')));
    return runs.slice(0, commands.length);
  }

  const assertFailures = async (failures: Failure[]): Promise<void> => void (await batchWithFailures([], failures));

  const actionsOf = async (map: string): Promise<string[]> => sorted((await api.showScopeMap(map)).actions);
  const isStatus = (code: number) => (err: unknown): boolean => err instanceof ManagementError && err.status === code;
  const NAMES = ['list', '--query', '[].name'];
  /**
   * What an edge's heartbeat would record: active, seen, and what it reports. "Seen" a few minutes
   * ahead, so that the root still counts it as connected (heartbeats within 30 s) on a slow machine.
   */
  const heartbeat = (name: string, report: { connectionState?: 'Online' | 'Syncing'; loginServer?: { host: string }; lastSyncTime?: Date } = {}) =>
    store.updateConnectedRegistry(name, {
      runtime: {
        activationStatus: 'Active', lastActivityTime: new Date(Date.now() + 5 * 60_000), connectionState: report.connectionState ?? 'Online',
        ...(report.loginServer ? { loginServer: report.loginServer } : {}),
      },
      ...(report.lastSyncTime ? { sync: { lastSyncTime: report.lastSyncTime } } : {}),
    });

  before(async () => {
    root = await startTestNode();
    home = await tempDir('outpost-cr-cli-home-');
    api = new ManagementClient({ registry: root.url, username: 'admin', password: TEST_ADMIN_PASSWORD });
    assert.ok(root.node.metadata instanceof SqliteMetadataStore);
    store = root.node.metadata.connectedRegistries;
    const login = await outpost('login', root.url, '-u', 'admin', '-p', TEST_ADMIN_PASSWORD);
    assert.equal(login.code, 0, login.stderr);
    await new TestClient(root.url).pushImage('hello-world', 'v1');
    await api.createToken({ name: 'client-a1', scopeMap: '_repositories_pull', noPasswords: true });
    await api.createToken({ name: 'client-b1', scopeMap: '_repositories_pull', noPasswords: true });
    await api.createScopeMap({ name: 'mid-sync-map', actions: [...readWrite('svc'), ...gateway('rwmid1')] });
    await api.createToken({ name: 'mid-sync', scopeMap: 'mid-sync-map', noPasswords: true });
  });

  after(async () => {
    await root?.close();
    await home?.cleanup();
  });

  test('the group is in bin/outpost: --help lists every command', async () => {
    const help = okOf(await outpost('connected-registry', '--help'));
    assert.match(help, /^Usage: outpost connected-registry/);
    for (const command of ['create', 'update', 'delete', 'deactivate', 'list', 'show', 'get-settings', 'list-client-tokens', 'permissions', 'resync', 'gc']) {
      assert.match(help, new RegExp(`\\n  ${command} `), command);
    }
  });

  test('create: defaults, every flag, --sync-token, nested; the sync token and scope maps; JSON as the server answers it', async () => {
    const created = jsonOf<ConnectedRegistry>(await outpost('connected-registry', 'create', '-n', 'edge01', '--repository', 'hello-world', 'ACR/Connected-Registry'));
    assert.deepEqual(created, await api.showConnectedRegistry('edge01'), 'the JSON is the resource unchanged');
    assert.equal(created.name, 'edge01');
    assert.equal(created.mode, 'ReadOnly', "the project's default mode");
    assert.deepEqual(created.parent, {
      id: null,
      syncProperties: { tokenId: 'tokens/edge01', schedule: '* * * * *', syncWindow: null, messageTtl: 'P2D', lastSyncTime: null, gatewayEndpoint: new URL(root.url).host },
    });
    assert.deepEqual(created.logging, { logLevel: 'Information', auditLogStatus: 'Disabled' });
    assert.deepEqual(created.clientTokenIds, []);
    assert.deepEqual(created.notificationsList, []);
    assert.equal(created.activation.status, 'Inactive');
    assert.equal(created.connectionState, 'Offline');
    assert.deepEqual(await actionsOf('edge01'), sorted([...readOnly('hello-world'), ...readOnly('acr/connected-registry'), ...gateway('edge01')]));
    const token = await api.showToken('edge01');
    assert.equal(token.scopeMapId, 'scopeMaps/edge01');
    assert.deepEqual(token.credentials.passwords, [], 'no password before get-settings generates one');

    const [topRun, midRun, leafRun] = await batch(
      // Every flag, and values az takes case-insensitively.
      ['create', '-n', 'rwtop1', '-m', 'readwrite', '--repository', 'app', '--client-tokens', 'client-a1',
        '-s', '0 9 * * *', '-w', 'PT3H', '--sync-message-ttl', 'P7D', '--log-level', 'debug', '--notifications', 'app:*', 'app:1.0:push',
        '--audit-logs-enabled', '--gc-enabled', '--gc-schedule', '0 5 * * *', '-y'],
      // An existing sync token; a child of a ReadWrite parent.
      ['create', '-n', 'rwmid1', '-p', 'rwtop1', '--mode', 'ReadWrite', '--sync-token', 'mid-sync', '--audit-logs-enabled', 'false'],
      ['create', '-n', 'roleaf1', '-p', 'rwmid1', '--repository', 'leafrepo', '-o', 'table'],
    );
    const top = jsonOf<ConnectedRegistry>(topRun!);
    assert.equal(top.mode, 'ReadWrite');
    assert.deepEqual(top.clientTokenIds, ['tokens/client-a1']);
    assert.equal(top.parent.syncProperties.schedule, '0 9 * * *');
    assert.equal(top.parent.syncProperties.syncWindow, 'PT3H');
    assert.equal(top.parent.syncProperties.messageTtl, 'P7D');
    assert.deepEqual(top.logging, { logLevel: 'Debug', auditLogStatus: 'Enabled' });
    assert.deepEqual(top.notificationsList, ['app:*', 'app:1.0:push']);
    assert.deepEqual(top.garbageCollection, { enabled: true, schedule: '0 5 * * *' });

    const mid = jsonOf<ConnectedRegistry>(midRun!);
    assert.equal(mid.parent.id, 'connectedRegistries/rwtop1');
    assert.equal(mid.parent.syncProperties.tokenId, 'tokens/mid-sync');
    assert.equal(mid.logging.auditLogStatus, 'Disabled');

    const leaf = parseTable(okOf(leafRun!));
    assert.deepEqual(leaf.headers, ['NAME', 'MODE', 'CONNECTION STATE', 'PARENT', 'LOGIN SERVER', 'LAST SYNC (UTC)', 'STORAGE USED', 'STORAGE FREE', 'SYNC SCHEDULE', 'SYNC WINDOW']);
    assert.deepEqual(leaf.rows, [{
      NAME: 'roleaf1', MODE: 'ReadOnly', 'CONNECTION STATE': 'Offline', PARENT: 'rwmid1', 'LOGIN SERVER': '', 'LAST SYNC (UTC)': '',
      'STORAGE USED': '', 'STORAGE FREE': '', 'SYNC SCHEDULE': '* * * * *', 'SYNC WINDOW': '',
    }]);
    // Every ancestor's sync scope map got the children's repositories (by the child's mode) and gateways.
    assert.deepEqual(await actionsOf('rwtop1'), sorted([...readWrite('app'), ...gateway('rwtop1'), ...readWrite('svc'), ...gateway('rwmid1'), ...readOnly('leafrepo'), ...gateway('roleaf1')]));
    assert.deepEqual(await actionsOf('mid-sync-map'), sorted([...readWrite('svc'), ...gateway('rwmid1'), ...readOnly('leafrepo'), ...gateway('roleaf1')]));
  });

  test('create: argument errors exit 2 and send nothing; the server refusals exit 1; one line each', async () => {
    // Through bin/outpost: the process exit codes.
    const [usage, refused] = await Promise.all([
      outpost('connected-registry', 'create', '-n', 'edge', '--repository', 'a'),
      outpost('connected-registry', 'create', '-n', 'edge09', '--repository', 'a', '-p', 'nowhere1'),
    ]);
    assertOneLineError(usage, 2, 'argument error: Connected registry name must be at least 5 characters long.');
    assertOneLineError(refused, 1, "The parent connected registry 'nowhere1' could not be found.");

    await assertFailures([
      [['create', '-n', 'edge09'], 2, 'argument error: either --sync-token or --repository must be provided, but not both.'],
      [['create', '-n', 'edge09', '--repository', 'a', '--sync-token', 'mid-sync'], 2, 'argument error: either --sync-token or --repository must be provided, but not both.'],
      [['create', '-n', 'Edge09', '--repository', 'a'], 2, 'argument error: Connected registry name must use only lowercase.'],
      [['create', '-n', 'edge09', '--repository', 'a', '-m', 'Cache'], 2, "argument --mode/-m: invalid choice: 'Cache' (choose from 'ReadOnly', 'ReadWrite')"],
      [['create', '-n', 'edge09', '--repository', 'a', '--log-level', 'Verbose'], 2,
        "argument --log-level: invalid choice: 'Verbose' (choose from 'Debug', 'Information', 'Warning', 'Error', 'None')"],
      [['create', '-n', 'edge09', '--repository', 'a', '--audit-logs-enabled', 'maybe'], 2, "argument --audit-logs-enabled: invalid value: 'maybe' (use true or false)"],
      [['create', '-n', 'edge09', '--repository', 'a', '--gc-enabled', 'perhaps'], 2, "argument --gc-enabled: invalid value: 'perhaps' (use true or false)"],
      [['create', '-n', 'edge09', '--repository', 'a', '-o', 'xml'], 2, /invalid choice: 'xml'/],
      [['create', '--repository', 'a'], 1, /required option '-n, --name <name>' not specified/],
      [['create', '-n', 'edge09', '--repository', 'a', '-p', 'edge01', '-m', 'ReadWrite'], 1,
        `Can't create the registry 'edge09' with mode 'ReadWrite' when the connected registry parent 'edge01' mode is 'ReadOnly'. ${HELP}`],
      [['create', '-n', 'edge09', '--repository', 'a', '-w', 'PT3H'], 1, /not continuous/],
      [['create', '-n', 'edge09', '--repository', 'a', '-s', '* * *'], 1, /5 fields/],
      [['create', '-n', 'edge09', '--repository', 'a', '--sync-message-ttl', 'P91D'], 1, /between 1 and 90 days/],
      [['create', '-n', 'edge09', '--repository', 'a', '--notifications', 'hello:pull'], 1, /Invalid notification 'hello:pull'/],
      [['create', '-n', 'edge09', '--repository', 'a', '--client-tokens', 'nobody1'], 1, "Token 'nobody1' not found."],
      [['create', '-n', 'edge09', '--sync-token', 'nobody1'], 1, "Token 'nobody1' not found."],
      [['create', '-n', 'edge01', '--repository', 'a'], 1, /^outpost: .*'edge01'.*\n$/],
      [['create', '-n', 'x'.repeat(41), '--repository', 'a'], 1, /at most 40 characters/],
    ]);
    assert.deepEqual((await api.listConnectedRegistries()).map((c) => c.name), ['edge01', 'roleaf1', 'rwmid1', 'rwtop1'], 'nothing was created');
    await assert.rejects(api.showToken('edge09'), isStatus(404));
  });

  test('list: all, descendants, --no-children, --mode, --connection-state; table, tsv, yaml, JSON; show', async () => {
    await heartbeat('edge01', { loginServer: { host: 'edge01.local:8080' }, lastSyncTime: new Date('2026-11-23T12:34:56.789Z') });
    await heartbeat('rwmid1', { connectionState: 'Syncing', loginServer: { host: 'mid.local:8443' } });

    const runs = await batchWithFailures([
      NAMES,
      [...NAMES, '--parent', 'rwtop1'],
      [...NAMES, '--parent', 'rwtop1', '--no-children'],
      [...NAMES, '-p', 'rwmid1', '--no-children'],
      [...NAMES, '--no-children'],
      [...NAMES, '--mode', 'readwrite'],
      [...NAMES, '--connection-state', 'ONLINE'],
      [...NAMES, '--connection-state', 'syncing'],
      [...NAMES, '-m', 'ReadOnly', '--no-children'],
      ['list', '-o', 'table'],
      ['show', '-n', 'rwtop1', '-o', 'table'],
      ['show', '-n', 'edge01', '-o', 'yaml'],
      ['list', '--query', "[?mode=='ReadWrite'].name", '-o', 'tsv'],
      ['list'],
      ['show', '--name', 'edge01'],
    ], [
      [['list', '--parent', 'nowhere1'], 1, "Parent connected registry 'nowhere1' doesn't exist."],
      [['list', '--connection-state', 'asleep'], 2, "argument --connection-state: invalid choice: 'asleep' (choose from 'Online', 'Offline', 'Syncing', 'Unhealthy')"],
      [['list', '--mode', 'Cache'], 2, "argument --mode/-m: invalid choice: 'Cache' (choose from 'ReadOnly', 'ReadWrite')"],
      [['list', '--query', '[?'], 2, /invalid JMESPath query/],
      [['show', '-n', 'nothere1'], 1, MISSING],
      [['show'], 1, /required option '-n, --name <name>' not specified/],
    ]);
    const [all, descendants, children, midChildren, topLevel, readWriteOnes, online, syncing, readOnlyTop] = runs.slice(0, 9).map((r) => jsonOf<string[]>(r));
    assert.deepEqual(all, ['edge01', 'roleaf1', 'rwmid1', 'rwtop1']);
    assert.deepEqual(descendants, ['roleaf1', 'rwmid1'], 'all descendants, not only children');
    assert.deepEqual(children, ['rwmid1']);
    assert.deepEqual(midChildren, ['roleaf1']);
    assert.deepEqual(topLevel, ['edge01', 'rwtop1']);
    assert.deepEqual(readWriteOnes, ['rwmid1', 'rwtop1']);
    assert.deepEqual(online, ['edge01']);
    assert.deepEqual(syncing, ['rwmid1']);
    assert.deepEqual(readOnlyTop, ['edge01']);

    const list = parseTable(okOf(runs[9]!));
    assert.deepEqual(list.headers, ['NAME', 'MODE', 'CONNECTION STATE', 'PARENT', 'LOGIN SERVER', 'LAST SYNC (UTC)', 'STORAGE USED', 'STORAGE FREE']);
    assert.deepEqual(list.rows, [
      { NAME: 'edge01', MODE: 'ReadOnly', 'CONNECTION STATE': 'Online', PARENT: '', 'LOGIN SERVER': 'edge01.local:8080', 'LAST SYNC (UTC)': '2026-11-23T12:34:56Z', 'STORAGE USED': '', 'STORAGE FREE': '' },
      { NAME: 'roleaf1', MODE: 'ReadOnly', 'CONNECTION STATE': 'Offline', PARENT: 'rwmid1', 'LOGIN SERVER': '', 'LAST SYNC (UTC)': '', 'STORAGE USED': '', 'STORAGE FREE': '' },
      { NAME: 'rwmid1', MODE: 'ReadWrite', 'CONNECTION STATE': 'Syncing', PARENT: 'rwtop1', 'LOGIN SERVER': 'mid.local:8443', 'LAST SYNC (UTC)': '', 'STORAGE USED': '', 'STORAGE FREE': '' },
      { NAME: 'rwtop1', MODE: 'ReadWrite', 'CONNECTION STATE': 'Offline', PARENT: '', 'LOGIN SERVER': '', 'LAST SYNC (UTC)': '', 'STORAGE USED': '', 'STORAGE FREE': '' },
    ]);
    const show = parseTable(okOf(runs[10]!));
    assert.deepEqual(show.headers, ['NAME', 'MODE', 'CONNECTION STATE', 'PARENT', 'LOGIN SERVER', 'LAST SYNC (UTC)', 'STORAGE USED', 'STORAGE FREE', 'SYNC SCHEDULE', 'SYNC WINDOW', 'LAST GC (UTC)']);
    assert.deepEqual(show.rows.map((r) => [r.NAME, r['SYNC SCHEDULE'], r['SYNC WINDOW']]), [['rwtop1', '0 9 * * *', 'PT3H']]);
    const edge01 = await api.showConnectedRegistry('edge01');
    assert.deepEqual(parseYaml(okOf(runs[11]!)), edge01);
    assert.equal(okOf(runs[12]!), 'rwmid1\nrwtop1\n');
    assert.deepEqual(jsonOf(runs[13]!), await api.listConnectedRegistries(), 'the JSON is the resources unchanged');
    assert.deepEqual(jsonOf(runs[14]!), edge01);
  });

  test('update: set semantics, sync, logging, garbage collection; "Update ambiguity" and other refusals in one line, changing nothing', async () => {
    const runs = await batch(
      ['update', '-n', 'edge01', '--add-client-tokens', 'client-a1', 'client-b1'],
      ['update', '-n', 'edge01', '--remove-client-tokens', 'client-a1', '--add-client-tokens', 'client-b1', '--add-notifications', 'hello-world:*', 'hello-world:v1:push'],
      ['update', '-n', 'edge01', '--remove-notifications', 'hello-world:v1:push', 'never-there:*'],
      // Refusals, then the registry as it is.
      ['update', '-n', 'edge01', '--add-client-tokens', 'client-a1', '--remove-client-tokens', 'client-a1'],
      ['update', '-n', 'edge01', '--add-notifications', 'x:*', 'y:*', '--remove-notifications', 'y:*', 'x:*'],
      ['update', '-n', 'edge01'],
      ['update', '-n', 'edge01', '--add-client-tokens'],
      ['update', '-n', 'edge01', '-s', 'every minute'],
      ['update', '-n', 'edge01', '-w', 'PT2H'],
      ['update', '-n', 'edge01', '--add-client-tokens', 'nobody1'],
      ['update', '-n', 'edge01', '--log-level', 'loud'],
      ['update', '-n', 'edge01', '--mode', 'ReadWrite'],
      ['update', '-n', 'edge01', '--parent', 'rwtop1'],
      ['update', '-n', 'nothere1', '--log-level', 'Error'],
      ['show', '-n', 'edge01'],
    );
    assert.deepEqual(sorted(jsonOf<ConnectedRegistry>(runs[0]!).clientTokenIds), ['tokens/client-a1', 'tokens/client-b1']);
    const changed = jsonOf<ConnectedRegistry>(runs[1]!);
    assert.deepEqual(changed.clientTokenIds, ['tokens/client-b1'], '(current + add) - remove');
    assert.deepEqual(changed.notificationsList, ['hello-world:*', 'hello-world:v1:push']);
    const fewer = jsonOf<ConnectedRegistry>(runs[2]!);
    assert.deepEqual(fewer.notificationsList, ['hello-world:*']);

    const failures: Array<[number, RegExp | string]> = [
      [1, "Update ambiguity. Duplicate client token ids were provided with --add-client-tokens and --remove-client-tokens arguments. ['client-a1']"],
      [1, "Update ambiguity. Duplicate notifications list were provided with --add-notifications and --remove-notifications arguments. ['x:*', 'y:*']"],
      [2, /^outpost: usage error: nothing to update: give --add-client-tokens, /],
      [2, /^outpost: usage error: nothing to update/],
      [1, /Invalid sync schedule 'every minute'/],
      [1, /not continuous/],
      [1, "Token 'nobody1' not found."],
      [2, /^outpost: argument --log-level: invalid choice: 'loud'/],
      [1, /unknown option '--mode'/],
      [1, /unknown option '--parent'/],
      [1, MISSING],
    ];
    failures.forEach(([code, message], i) => assertOneLineError(runs[3 + i]!, code, message, `update failure ${i}`));
    assert.deepEqual(jsonOf(runs[14]!), fewer, 'the refusals changed nothing');

    const [tableRun, continuousRun] = await batch(
      ['update', '-n', 'edge01', '-s', '0 */6 * * *', '-w', 'PT2H', '--sync-message-ttl', 'P3D', '--log-level', 'warning',
        '--audit-logs-enabled', 'true', '--gc-enabled', '--gc-schedule', '30 2 * * 0', '-o', 'table'],
      // Back to continuous sync: the window has to go with it (-w "").
      ['update', '-n', 'edge01', '-s', '* * * * *', '-w', '', '--audit-logs-enabled', 'false', '--gc-enabled', 'false'],
    );
    const table = parseTable(okOf(tableRun!));
    assert.deepEqual(table.rows.map((r) => [r.NAME, r['SYNC SCHEDULE'], r['SYNC WINDOW']]), [['edge01', '0 */6 * * *', 'PT2H']]);
    const continuous = jsonOf<ConnectedRegistry>(continuousRun!);
    assert.equal(continuous.parent.syncProperties.schedule, '* * * * *');
    assert.equal(continuous.parent.syncProperties.syncWindow, null);
    assert.equal(continuous.parent.syncProperties.messageTtl, 'P3D', 'from the update before');
    assert.deepEqual(continuous.logging, { logLevel: 'Warning', auditLogStatus: 'Disabled' });
    assert.deepEqual(continuous.garbageCollection, { enabled: false, schedule: '30 2 * * 0' });
    assert.equal(continuous.mode, 'ReadOnly');
    assert.deepEqual(continuous.clientTokenIds, ['tokens/client-b1'], 'lists not given stay');
    assert.deepEqual(continuous.notificationsList, ['hello-world:*']);
  });

  test('list-client-tokens; permissions show and update (--add up to the ancestors, --remove down to the descendants)', async () => {
    // The refusals change nothing, so they run with the reads.
    const reads = await batchWithFailures([
      ['list-client-tokens', '-n', 'edge01'],
      ['list-client-tokens', '-n', 'rwmid1'],
      ['list-client-tokens', '-n', 'edge01', '-o', 'table'],
      ['permissions', 'show', '-n', 'edge01'],
      ['permissions', 'show', '-n', 'rwmid1', '-o', 'table'],
    ], [
      [['permissions', 'update', '-n', 'edge01'], 2, 'No repository permissions to update.'],
      [['permissions', 'update', '-n', 'edge01', '--add'], 2, 'No repository permissions to update.'],
      [['permissions', 'update', '-n', 'edge01', '--add', 'a1', 'b1', '--remove', 'a1'], 1,
        "Update ambiguity. Duplicate repository names were provided with --add and --remove arguments. ['a1']"],
      [['permissions', 'update', '-n', 'nothere1', '--add', 'a1'], 1, MISSING],
      [['permissions', 'show', '-n', 'nothere1'], 1, MISSING],
      [['list-client-tokens', '-n', 'nothere1'], 1, MISSING],
    ]);
    assert.deepEqual(jsonOf<Token[]>(reads[0]!), [await api.showToken('client-b1')]);
    assert.equal(okOf(reads[1]!), '[]\n');
    assert.match(okOf(reads[2]!), /^NAME\s+STATUS\s+SCOPE MAP\s+PASSWORD1 EXPIRY\s+PASSWORD2 EXPIRY\s+CREATION DATE\n-+.*\nclient-b1\s+enabled\s+_repositories_pull/s);
    assert.deepEqual(jsonOf<ScopeMap>(reads[3]!), await api.showScopeMap('edge01'));
    assert.deepEqual(parseTable(okOf(reads[4]!)).rows.map((r) => [r.NAME, r.TYPE]), [['mid-sync-map', 'UserDefined']]);

    const maps = ['roleaf1', 'rwmid1', 'rwtop1'].map((n) => ['permissions', 'show', '-n', n]);
    const runs = await batch(['permissions', 'update', '-n', 'roleaf1', '--add', 'newrepo', 'other/*'], ...maps, ['permissions', 'update', '-n', 'rwtop1', '--remove', 'newrepo'], ...maps);
    const [added, ...afterAdd] = runs.slice(0, 4).map((r) => jsonOf<ScopeMap>(r));
    const [removed, ...afterRemove] = runs.slice(4).map((r) => jsonOf<ScopeMap>(r));
    assert.equal(added!.name, 'roleaf1', "the target's sync scope map");
    for (const map of afterAdd) {
      for (const action of [...readOnly('newrepo'), ...readOnly('other/*')]) assert.ok(map.actions.includes(action), `${map.name}: ${action}`);
      assert.ok(!map.actions.includes('repositories/newrepo/content/write'), `${map.name}: the target's mode decides the actions`);
    }
    assert.equal(removed!.name, 'rwtop1');
    for (const map of afterRemove) {
      assert.ok(!map.actions.some((a) => a.startsWith('repositories/newrepo/')), `${map.name}: removed`);
      assert.ok(map.actions.includes('repositories/other/*/content/read'), `${map.name}: other repositories stay`);
    }
  });

  test('get-settings: the keys, the connection string, the parent endpoint; --generate-password rotates the sync password', async () => {
    const host = new URL(root.url).host;
    const connectionString = ['--query', 'ACR_REGISTRY_CONNECTION_STRING', '-o', 'tsv'];
    const runs = await batch(
      ['get-settings', '-n', 'edge01', '--parent-protocol', 'http'],
      ['get-settings', '-n', 'rwmid1', '--parent-protocol', 'https', ...connectionString],
      ['get-settings', '-n', 'roleaf1', '--parent-protocol', 'HTTPS', ...connectionString],
      ['get-settings', '-n', 'edge01', '--parent-protocol', 'https', '--generate-password', '1'],
      ['get-settings', '-n', 'edge01', '--parent-protocol', 'ftp'],
      ['get-settings', '-n', 'edge01', '--parent-protocol', 'https', '--generate-password', '3', '--yes'],
      ['get-settings', '-n', 'edge01'],
      ['get-settings', '-n', 'nothere1', '--parent-protocol', 'https'],
    );
    assert.deepEqual(jsonOf(runs[0]!), {
      SYNC_TOKEN_USER: 'edge01',
      SYNC_TOKEN_PASSWORD: PASSWORD_PLACEHOLDER,
      ACR_REGISTRY_CERTIFICATE_VOLUME: '/var/acr/certs',
      ACR_REGISTRY_DATA_VOLUME: '/var/acr/data',
      ACR_REGISTRY_CONNECTION_STRING: `ConnectedRegistryName=edge01;SyncTokenName=edge01;SyncTokenPassword=${PASSWORD_PLACEHOLDER};ParentGatewayEndpoint=${host};ParentEndpointProtocol=http`,
      ACR_REGISTRY_LOGIN_SERVER: '<Optional: connected registry login server. More info at https://aka.ms/acr/connected-registry>',
    });
    // rwtop1 has reported no login server; rwmid1 has.
    assert.equal(okOf(runs[1]!), `ConnectedRegistryName=rwmid1;SyncTokenName=mid-sync;SyncTokenPassword=${PASSWORD_PLACEHOLDER};ParentGatewayEndpoint=<parent gateway endpoint>;ParentEndpointProtocol=https\n`);
    assert.equal(okOf(runs[2]!), `ConnectedRegistryName=roleaf1;SyncTokenName=roleaf1;SyncTokenPassword=${PASSWORD_PLACEHOLDER};ParentGatewayEndpoint=mid.local:8443;ParentEndpointProtocol=https\n`);
    assertOneLineError(runs[3]!, 2, NO_TTY);
    assertOneLineError(runs[4]!, 2, "argument --parent-protocol: invalid choice: 'ftp' (choose from 'http', 'https')");
    assertOneLineError(runs[5]!, 2, "argument --generate-password: invalid choice: '3' (choose from '1', '2')");
    assertOneLineError(runs[6]!, 1, /required option '--parent-protocol <protocol>' not specified/);
    assertOneLineError(runs[7]!, 1, MISSING);
    assert.deepEqual((await api.showToken('edge01')).credentials.passwords, [], 'no password was generated');

    const generate = ['get-settings', '-n', 'edge01', '--parent-protocol', 'https', '--generate-password', '1', '--yes', ...connectionString];
    const [first, second] = (await batch(generate, generate)).map((run) => {
      const m = /^ConnectedRegistryName=edge01;SyncTokenName=edge01;SyncTokenPassword=([^;<]+);ParentGatewayEndpoint=[^;]+;ParentEndpointProtocol=https\n$/.exec(okOf(run));
      assert.ok(m, run.stdout);
      return m[1]!;
    });
    assert.notEqual(first, second);
    const tags = (password: string): Promise<number> =>
      fetch(`${root.url}/v2/hello-world/tags/list`, { headers: { authorization: basicAuth('edge01', password) } }).then((r) => r.status);
    assert.equal(await tags(second!), 200, 'the sync token pulls with the generated password');
    assert.equal(await tags(first!), 401, 'the password it replaced stopped working');
  });

  test('deactivate asks first (no terminal: refused), then sets the activation Inactive', async () => {
    await heartbeat('edge01');
    const runs = await batch(
      ['deactivate', '-n', 'edge01'],
      ['deactivate', '-n', 'nothere1', '-y'],
      ['show', '-n', 'edge01', '--query', '{activation: activation.status, state: connectionState}', '-o', 'tsv'],
      ['deactivate', '-n', 'edge01', '--yes'],
      ['show', '-n', 'edge01'],
    );
    assertOneLineError(runs[0]!, 2, NO_TTY);
    assertOneLineError(runs[1]!, 1, MISSING);
    assert.equal(okOf(runs[2]!), 'Active\tOnline\n', 'not without --yes');
    const deactivated = jsonOf<ConnectedRegistry>(runs[3]!);
    assert.equal(deactivated.activation.status, 'Inactive');
    assert.equal(deactivated.connectionState, 'Offline');
    assert.deepEqual(deactivated, jsonOf(runs[4]!));
  });

  test("on a terminal, delete and --generate-password ask az's questions", { skip: HAS_SCRIPT ? false : 'no `script` to give the CLI a terminal' }, async () => {
    /** bin/outpost on a pseudo-terminal (util-linux `script`), answering its question with `answer`. */
    const onTerminal = (answer: string, ...args: string[]): Promise<Run> => {
      const command = [process.execPath, OUTPOST_BIN, 'connected-registry', ...args].map((a) => `'${a}'`).join(' ');
      return exec('script', ['-qec', command, '/dev/null'], `${answer}\n`);
    };
    const [refused, generated] = await Promise.all([
      onTerminal('n', 'delete', '-n', 'edge01'),
      onTerminal('y', 'get-settings', '-n', 'edge01', '--parent-protocol', 'https', '--generate-password', '2', '--query', 'SYNC_TOKEN_PASSWORD', '-o', 'tsv'),
    ]);
    assert.equal(refused.code, 2, refused.stdout);
    assert.ok(refused.stdout.includes(`Are you sure you want to delete the connected registry 'edge01' in '${root.url}' without cleanup flag enabled? (y/n): `), refused.stdout);
    assert.match(refused.stdout, /outpost: Operation cancelled\./);
    assert.equal((await api.showConnectedRegistry('edge01')).name, 'edge01', 'not deleted');

    assert.equal(generated.code, 0, generated.stdout);
    assert.ok(generated.stdout.includes("Are you sure you want to generate a new sync token 'edge01' password2? (y/n): "), generated.stdout);
    const password2 = generated.stdout.trimEnd().split(/\r?\n/).at(-1)!.trim();
    const status = await fetch(`${root.url}/v2/hello-world/tags/list`, { headers: { authorization: basicAuth('edge01', password2) } }).then((r) => r.status);
    assert.equal(status, 200, `password2 '${password2}' works`);
  });

  test('delete: refused with children; without --cleanup it prints the cleanup commands, which work; --cleanup does it', async () => {
    const failures: Failure[] = [
      [['delete', '-n', 'rwtop1', '-y'], 1, /rwtop1.*children/],
      [['delete', '-n', 'roleaf1'], 2, NO_TTY],
      [['delete', '-n', 'nothere1', '-y'], 1, MISSING],
    ];
    const runs = await batch(...failures.map(([args]) => args), NAMES, ['delete', '-n', 'roleaf1', '--yes']);
    failures.forEach(([args, code, message], i) => assertOneLineError(runs[i]!, code, message, args.join(' ')));
    assert.deepEqual(jsonOf(runs[3]!), ['edge01', 'roleaf1', 'rwmid1', 'rwtop1'], 'the refusals deleted nothing');

    const deleted = runs[4]!;
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, '', 'a delete prints nothing on stdout');
    const [first, ...commands] = deleted.stderr.trimEnd().split('\n');
    assert.equal(first, 'WARNING: Connected registry successfully deleted. Please cleanup your sync tokens and scope maps. Run the following commands for cleanup:');
    const removeGateway = 'config/read config/write message/read message/write';
    assert.deepEqual(commands.map((c) => c.trim()), [
      `outpost token delete --name roleaf1 --yes --registry ${root.url}`,
      `outpost scope-map delete --name roleaf1 --yes --registry ${root.url}`,
      `outpost scope-map update --name mid-sync-map --remove-gateway roleaf1 ${removeGateway} --registry ${root.url}`,
      `outpost scope-map update --name rwtop1 --remove-gateway roleaf1 ${removeGateway} --registry ${root.url}`,
    ]);
    assert.equal((await api.showToken('roleaf1')).name, 'roleaf1', 'the sync token is left');
    assert.ok((await actionsOf('rwtop1')).includes('gateway/roleaf1/config/read'));

    // The printed commands are real commands: run them, in their order (the token before its scope map).
    const cleanup = await outpostBatch(commands.map((line) => line.trim().split(' ').slice(1)));
    cleanup.forEach((run, i) => okOf(run, commands[i]));
    await assert.rejects(api.showToken('roleaf1'), isStatus(404));
    await assert.rejects(api.showScopeMap('roleaf1'), isStatus(404));
    for (const map of ['mid-sync-map', 'rwtop1']) assert.ok(!(await actionsOf(map)).some((a) => a.startsWith('gateway/roleaf1/')), map);

    const [cleaned, left] = await batch(['delete', '-n', 'rwmid1', '--cleanup', '-y'], NAMES);
    assert.deepEqual(cleaned, { code: 0, stdout: '', stderr: '' }, 'nothing to say after a cleanup');
    assert.deepEqual(jsonOf(left!), ['edge01', 'rwtop1']);
    await assert.rejects(api.showToken('mid-sync'), isStatus(404));
    await assert.rejects(api.showScopeMap('mid-sync-map'), isStatus(404));
    const top = await actionsOf('rwtop1');
    assert.ok(!top.some((a) => a.startsWith('gateway/rwmid1/')), "the gateway actions left the ancestors' sync scope maps");
    assert.ok(top.includes('repositories/svc/content/read'), "the ancestors' repository actions stay");
  });

  test('resync: the 202 answer as JSON, -o and --query; one line for a missing one', async () => {
    const before = Date.now();
    const runs = await batch(
      ['resync', '-n', 'edge01'],
      ['resync', '--name', 'edge01', '--query', 'message', '-o', 'tsv'],
      ['resync', '-n', 'edge01', '-o', 'table'],
      ['show', '-n', 'edge01', '--query', 'syncStatus.resyncRequestedAt', '-o', 'tsv'],
      ['resync', '-n', 'nothere1'],
    );
    const answer = jsonOf<{ name: string; resyncRequestedAt: string; message: string }>(runs[0]!);
    assert.deepEqual(Object.keys(answer).sort(), ['message', 'name', 'resyncRequestedAt']);
    assert.equal(answer.name, 'edge01');
    const at = Date.parse(answer.resyncRequestedAt);
    assert.ok(at >= before - 1000 && at <= Date.now() + 1000, answer.resyncRequestedAt);
    assert.equal(answer.message, 'Resync requested: the connected registry reconciles in full at its next contact with its parent.');
    assert.equal(okOf(runs[1]!), `${answer.message}\n`);
    const table = parseTable(okOf(runs[2]!));
    assert.deepEqual(table.headers, ['NAME', 'RESYNC REQUESTED AT', 'MESSAGE']);
    assert.equal(table.rows[0]!.NAME, 'edge01');
    assert.ok(Date.parse(okOf(runs[3]!).trim()) >= at, 'the root recorded the request');
    assertOneLineError(runs[4]!, 1, MISSING);
  });

  test('gc: the 202 answer (a dry run too), the request in show; the edge\'s last report in show, as JSON and in the table', async () => {
    const runs = await batch(
      ['gc', '-n', 'edge01'],
      ['gc', '-n', 'edge01', '--dry-run', '--query', '[dryRun, message]', '-o', 'tsv'],
      ['show', '-n', 'edge01', '--query', 'garbageCollectionRequest.dryRun', '-o', 'tsv'],
      ['gc', '-n', 'nothere1'],
    );
    const answer = jsonOf<{ name: string; requestedAt: string; dryRun: boolean; message: string }>(runs[0]!);
    assert.deepEqual(Object.keys(answer).sort(), ['dryRun', 'message', 'name', 'requestedAt']);
    assert.deepEqual([answer.name, answer.dryRun], ['edge01', false]);
    assert.match(answer.message, /^Garbage collection requested: the connected registry collects at its next contact with its parent/);
    assert.match(okOf(runs[1]!), /^true\nGarbage collection dry run requested/);
    assert.equal(okOf(runs[2]!), 'true\n', 'the last request is the dry run');
    assertOneLineError(runs[3]!, 1, MISSING);

    const report = {
      dryRun: false, startedAt: '2026-11-23T03:00:00.000Z', finishedAt: '2026-11-23T03:00:04.000Z', graceSeconds: 3600,
      links: { count: 3, bytes: 3000 }, blobs: { count: 2, bytes: 1536 }, manifests: { count: 1, bytes: 512 }, uploads: { count: 0, bytes: 0 },
      freedBytes: 2048, skipped: 0, timings: { linksMs: 1, markMs: 2, sweepMs: 3, uploadsMs: 0, totalMs: 6 },
    };
    await store.updateConnectedRegistry('edge01', { runtime: { lastGarbageCollection: report } });
    const [json, table] = await batch(['show', '-n', 'edge01', '--query', 'lastGarbageCollection'], ['show', '-n', 'edge01', '-o', 'table']);
    assert.deepEqual(jsonOf(json!), report);
    assert.equal(parseTable(okOf(table!)).rows[0]!['LAST GC (UTC)'], '2026-11-23T03:00:04Z freed 2.0 KiB');
  });

  test('outpost gc: the root\'s report as JSON, and as a table of what it freed', async () => {
    const [dry, table, real] = await outpostBatch([['gc', '--dry-run'], ['gc', '--dry-run', '-o', 'table'], ['gc', '--query', 'dryRun']]);
    const report = jsonOf<Record<string, unknown>>(dry!);
    assert.deepEqual(Object.keys(report).sort(),
      ['blobs', 'dryRun', 'finishedAt', 'freedBytes', 'graceSeconds', 'links', 'manifests', 'skipped', 'startedAt', 'timings', 'uploads']);
    assert.equal(report.dryRun, true);
    assert.equal(report.graceSeconds, 3600, 'the default grace period');
    const rows = parseTable(okOf(table!));
    assert.deepEqual(rows.headers, ['WHAT', 'COUNT', 'BYTES', 'SIZE', 'SECONDS']);
    assert.deepEqual(rows.rows.map((r) => r.WHAT), ['links', 'blobs', 'manifests', 'uploads', 'would free']);
    assert.equal(okOf(real!), 'false\n');
  });

  test('create --repository over a scope map and token of that name overwrites them and says so on stderr', async () => {
    await api.createScopeMap({ name: 'reused1', actions: readOnly('old') });
    await api.createToken({ name: 'reused1', scopeMap: '_repositories_pull', status: 'disabled', noPasswords: true });
    const [created] = await batch(['create', '-n', 'reused1', '--repository', 'fresh', '--query', 'name', '-o', 'tsv']);
    assert.equal(created!.code, 0, created!.stderr);
    assert.equal(created!.stdout, 'reused1\n');
    assert.equal(created!.stderr, [
      "WARNING: Sync scope map 'reused1' already existed: its actions were overwritten.\n",
      "WARNING: Sync token 'reused1' already existed: its properties were overwritten.\n",
    ].join(''));
    assert.deepEqual(await actionsOf('reused1'), sorted([...readOnly('fresh'), ...gateway('reused1')]));
    const token = await api.showToken('reused1');
    assert.deepEqual([token.status, token.scopeMapId], ['enabled', 'scopeMaps/reused1']);
  });
});
