import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { startTestNode, OUTPOST_BIN, type TestNode } from '../helpers/test-node.js';
import { TestClient, TEST_ADMIN_PASSWORD } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';
import { pushImage } from '../sync/sync-fixture.js';
import { formatOutput, humanBytes } from '../../src/cli/output.js';
import { CONNECTED_REGISTRY_LIST_TABLE } from '../../src/cli/connected-registry-commands.js';
import { retentionUpdateRequest } from '../../src/cli/lifecycle-commands.js';
import { UsageError } from '../../src/cli/usage-error.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `outpost show-usage`, `outpost config retention show|update`, `outpost config audit-log`, the size in `repository show`
 * and the storage columns of `connected-registry list` (docs/cli.md): the real `bin/outpost`
 * against a real root, and the argument checks that run before anything is sent.
 */
describe('outpost show-usage and config retention', () => {
  let node: TestNode;
  let admin: TestClient;

  before(async () => {
    node = await startTestNode();
    admin = new TestClient(node.url);
  });

  after(async () => {
    await node?.close();
  });

  function outpost(...args: string[]): Promise<Run> {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('OUTPOST_')) env[key] = value;
    Object.assign(env, { OUTPOST_REGISTRY: node.url, OUTPOST_USERNAME: 'admin', OUTPOST_PASSWORD: TEST_ADMIN_PASSWORD, XDG_CONFIG_HOME: node.dataDir });
    return new Promise((resolve) => {
      execFile(process.execPath, [OUTPOST_BIN, ...args], { env, encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  async function ok(...args: string[]): Promise<string> {
    const run = await outpost(...args);
    assert.equal(run.code, 0, `outpost ${args.join(' ')}: ${run.stderr}`);
    assert.equal(run.stderr, '');
    return run.stdout;
  }

  function assertOneLineError(run: Run, code: number, message: RegExp): void {
    assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^outpost: [^\n]+\n$/, `one line: ${JSON.stringify(run.stderr)}`);
    assert.match(run.stderr, message);
  }

  test('config retention show and update print the policy as az does; an omitted --days keeps the stored one', async () => {
    assert.deepEqual(JSON.parse(await ok('config', 'retention', 'show')), { days: 7, lastUpdatedTime: null, status: 'disabled' });
    const updated = JSON.parse(await ok('config', 'retention', 'update', '--status', 'Enabled', '--days', '30', '--type', 'untaggedmanifests')) as Record<string, unknown>;
    assert.equal(updated.status, 'enabled');
    assert.equal(updated.days, 30);
    assert.ok(typeof updated.lastUpdatedTime === 'string');
    const table = await ok('config', 'retention', 'update', '--days', '10', '-o', 'table');
    const [header, dashes, row] = table.trimEnd().split('\n');
    assert.match(header!, /^DAYS\s+LAST UPDATED TIME\s+STATUS$/);
    assert.match(dashes!, /^-+\s+-+\s+-+$/);
    assert.match(row!, /^10\s+\S+\s+enabled$/);
    assert.equal((await ok('config', 'retention', 'show', '--query', 'status', '-o', 'tsv')).trim(), 'enabled');
    await ok('config', 'retention', 'update', '--status', 'disabled');
  });

  test('bad retention arguments are one line and exit 2, and nothing changes', async () => {
    const before = await ok('config', 'retention', 'show');
    assertOneLineError(await outpost('config', 'retention', 'update'), 2, /nothing to update: give --status enabled\|disabled, --days N, or both/);
    assertOneLineError(await outpost('config', 'retention', 'update', '--days', '366'), 2, /argument --days: invalid value: '366' \(a whole number of days from 0 to 365\)/);
    assertOneLineError(await outpost('config', 'retention', 'update', '--days=-1'), 2, /argument --days: invalid value: '-1'/);
    assertOneLineError(await outpost('config', 'retention', 'update', '--days', '7.5'), 2, /argument --days: invalid value: '7.5'/);
    assertOneLineError(await outpost('config', 'retention', 'update', '--days', 'week'), 2, /argument --days: invalid value: 'week'/);
    assertOneLineError(await outpost('config', 'retention', 'update', '--status', 'on'), 2, /argument --status: invalid choice: 'on' \(choose from 'enabled', 'disabled'\)/);
    assertOneLineError(await outpost('config', 'retention', 'update', '--status', 'enabled', '--type', 'TaggedManifests'), 2, /argument --type: invalid choice/);
    assertOneLineError(await outpost('config', 'retention', 'update', '--days'), 1, /option '--days <n>' argument missing/);
    assert.equal(await ok('config', 'retention', 'show'), before);
  });

  test("config audit-log show and update switch the root's audit log while it runs; bad arguments are one line, exit 2", async () => {
    const shown = JSON.parse(await ok('config', 'audit-log', 'show')) as Record<string, unknown>;
    assert.deepEqual(shown, { status: 'disabled', destination: `${node.dataDir}/audit.log`, lastUpdatedTime: null });
    const on = JSON.parse(await ok('config', 'audit-log', 'update', '--status', 'Enabled')) as Record<string, unknown>;
    assert.equal(on.status, 'enabled');
    assert.equal(node.node.audit.enabled, true);
    assertOneLineError(await outpost('config', 'audit-log', 'update'), 2, /give --status enabled\|disabled/);
    assertOneLineError(await outpost('config', 'audit-log', 'update', '--status', 'on'), 2, /argument --status: invalid choice: 'on'/);
    await ok('config', 'audit-log', 'update', '--status', 'disabled', '-o', 'none');
    assert.equal(node.node.audit.enabled, false);
    assert.equal((await ok('config', 'audit-log', 'show', '--query', 'status', '-o', 'tsv')).trim(), 'disabled');
  });

  test('show-usage lists the figures as az does, as JSON and as a table', async () => {
    const image = await pushImage(admin, 'app', 'v1', { layers: [Buffer.alloc(4096, 1)] });
    const answer = JSON.parse(await ok('show-usage')) as { value: Array<{ name: string; currentValue: number; limit: number | null; unit: string }> };
    const size = answer.value.find((e) => e.name === 'Size')!;
    assert.equal(size.unit, 'Bytes');
    assert.ok(size.currentValue > 4096 + image.size);
    assert.deepEqual(answer.value.find((e) => e.name === 'Manifests'), { name: 'Manifests', currentValue: 1, limit: null, unit: 'Count' });
    const table = (await ok('show-usage', '-o', 'table')).trimEnd().split('\n');
    assert.match(table[0]!, /^NAME\s+LIMIT\s+CURRENT VALUE\s+UNIT$/);
    assert.match(table.find((l) => l.startsWith('Size'))!, new RegExp(`^Size\\s+\\d+\\s+${size.currentValue}\\s+Bytes$`));
    assert.match(table.find((l) => l.startsWith('Repositories'))!, /^Repositories\s+1\s+Count$/);
    assert.match(table.find((l) => l.startsWith('ConnectedRegistries'))!, /^ConnectedRegistries\s+50\s+0\s+Count$/);
    assertOneLineError(await outpost('show-usage', '-o', 'xml'), 2, /argument --output\/-o: invalid choice: 'xml'/);
    assertOneLineError(await outpost('show-usage', '--query', 'value[?'), 2, /argument --query: invalid JMESPath query/);
    assertOneLineError(await outpost('config', 'retention', 'show', '--bogus'), 1, /unknown option '--bogus'/);
  });

  test('repository show includes the size, in bytes (JSON) and readable (table)', async () => {
    const shown = JSON.parse(await ok('repository', 'show', '-n', 'app')) as { sizeBytes: number };
    const info = await mgmt(admin, 'GET', '/repositories/app');
    assert.equal(shown.sizeBytes, (info.json as { sizeBytes: number }).sizeBytes);
    const [header, , row] = (await ok('repository', 'show', '-n', 'app', '-o', 'table')).trimEnd().split('\n');
    assert.match(header!, /^NAME\s+TAG COUNT\s+MANIFEST COUNT\s+SIZE\s+CREATED TIME\s+LAST UPDATE TIME$/);
    assert.match(row!, new RegExp(`^app\\s+1\\s+1\\s+${humanBytes(shown.sizeBytes).replace('.', '\\.')}\\s`));
  });

  test('connected-registry list -o table has the storage columns, empty until the edge reports', async () => {
    assert.equal((await mgmt(admin, 'POST', '/connected-registries', { name: 'cli-store', repositories: ['app'] })).status, 201);
    const [header, , row] = (await ok('connected-registry', 'list', '-o', 'table')).trimEnd().split('\n');
    assert.match(header!, /LAST SYNC \(UTC\)\s+STORAGE USED\s+STORAGE FREE$/);
    assert.match(row!, /^cli-store\s+ReadOnly\s+Offline\s*$/);
    const shown = JSON.parse(await ok('connected-registry', 'show', '-n', 'cli-store')) as { storage: unknown };
    assert.equal(shown.storage, null);
  });

  test('the storage columns show what the edge reported, in binary units (free: what is available to the node)', () => {
    const row = {
      name: 'edge01', mode: 'ReadOnly', connectionState: 'Online', parent: { id: null, syncProperties: { lastSyncTime: null } }, loginServer: null,
      storage: { usedBytes: 1536, totalBytes: 100 * 1024 ** 3, freeBytes: 30 * 1024 ** 3, availableBytes: 25.5 * 1024 ** 3, measuredAt: '2026-01-01T00:00:00.000Z' },
    };
    const lines = formatOutput([row], { output: 'table', table: CONNECTED_REGISTRY_LIST_TABLE }).trimEnd().split('\n');
    assert.match(lines[2]!, /1\.5 KiB\s+25\.5 GiB$/);
    assert.deepEqual([0, 512, 1024, 1024 ** 2 * 3, -1, null].map(humanBytes), ['0 B', '512 B', '1.0 KiB', '3.0 MiB', '', '']);
  });

  test('the update request carries only what was given', () => {
    assert.deepEqual(retentionUpdateRequest({ days: '0' }), { days: 0 });
    assert.deepEqual(retentionUpdateRequest({ status: 'DISABLED' }), { status: 'disabled' });
    assert.deepEqual(retentionUpdateRequest({ status: 'enabled', days: ' 365 ', type: 'UntaggedManifests' }), { status: 'enabled', days: 365, type: 'UntaggedManifests' });
    assert.throws(() => retentionUpdateRequest({ days: '' }), UsageError);
    assert.throws(() => retentionUpdateRequest({ days: '1e2' }), UsageError);
  });
});
