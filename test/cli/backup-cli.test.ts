import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OUTPOST_BIN, spawnNode, tempDir, type NodeProcess } from '../helpers/test-node.js';
import { TestClient, basicAuth } from '../helpers/oci-client.js';
import { writeImageLayout, writeIndexLayout } from '../helpers/oci-layout.js';
import { Skopeo, runProcess, type RunResult } from '../helpers/sync-e2e.js';
import { assertServesExactly, contentOfBackup } from '../helpers/backup.js';
import { LATEST_SCHEMA_VERSION } from '../../src/metadata/index.js';

/**
 * The real `bin/outpost backup` and `bin/outpost restore`, each its own process, against a real
 * `bin/outpost serve` process that skopeo keeps pushing to while the backup runs (the metadata
 * snapshot is taken across processes, from a database the node holds open in WAL mode); then a
 * real node on the restored folder. And what the commands refuse, as one line on stderr.
 */

/** An environment without the caller's OUTPOST_* settings (the commands read OUTPOST_DATA_DIR, OUTPOST_STORAGE). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('OUTPOST_') && !key.startsWith('ACR_')) env[key] = value;
  return env;
}

function outpost(...args: string[]): Promise<RunResult> {
  return runProcess(process.execPath, [OUTPOST_BIN, ...args], { env: cleanEnv(), timeoutMs: 120_000 });
}

/** A failure: one `outpost: …` line on stderr (returned), nothing on stdout, exit `code`. */
function oneErrorLine(result: RunResult, code: number): string {
  assert.equal(result.signal, null, `the process ended by itself: ${result.stderr}`);
  assert.equal(result.code, code, `exit code; stderr: ${result.stderr}`);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^outpost: [^\n]+\n$/, `one line: ${JSON.stringify(result.stderr)}`);
  assert.doesNotMatch(result.stderr, /^\s+at |node:internal/m, 'no stack trace');
  return result.stderr.trimEnd();
}

describe('outpost backup and restore (real processes, skopeo pushing meanwhile)', () => {
  const dirs: Array<{ cleanup(): Promise<void> }> = [];
  let work: string;
  let skopeo: Skopeo;
  let root: NodeProcess | undefined;
  let restored: NodeProcess | undefined;
  let rootDir: string;
  let adminPassword: string;

  async function newDir(prefix: string): Promise<string> {
    const dir = await tempDir(prefix);
    dirs.push(dir);
    return dir.path;
  }

  before(async () => {
    work = await newDir('outpost-backup-cli-');
    skopeo = await Skopeo.create(work);
    rootDir = await newDir('outpost-backup-cli-root-');
    // No OUTPOST_ADMIN_PASSWORD: the node generates <data>/admin-password, which the backup must carry.
    root = await spawnNode(rootDir, [], { OUTPOST_ADMIN_PASSWORD: '' });
    adminPassword = (await readFile(join(rootDir, 'admin-password'), 'utf8')).trim();
  });

  after(async () => {
    for (const proc of [restored, root]) await proc?.stop();
    for (const dir of dirs) await dir.cleanup();
  });

  test('a backup while skopeo pushes, a restore, a node on it: the snapshot served exactly, the same admin password', async () => {
    const host = new URL(root!.url).host;
    const creds = `admin:${adminPassword}`;
    const push = (layout: string, tag: string, target: string): Promise<string> =>
      skopeo.ok('copy', '--all', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${layout}:${tag}`, `docker://${host}/${target}`);
    const app = join(work, 'app');
    const v1 = await writeImageLayout(app, { tag: 'v1', layers: 3, layerSize: 256 * 1024 });
    const multi = await writeIndexLayout(app, { tag: 'multi', platforms: [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }] });
    await push(app, 'v1', 'app:v1');
    await push(app, 'multi', 'app:multi');

    // The load: skopeo pushing images with new blobs, one after another, until the backup is done.
    const loads: string[] = [];
    for (let i = 0; i < 6; i++) {
      const dir = join(work, `load-${i}`);
      await writeImageLayout(dir, { tag: 'x', layers: 2, layerSize: 128 * 1024 });
      loads.push(dir);
    }
    let running = true;
    /** When each push ran (real time), to show the backup overlapped them. */
    const spans: Array<{ start: number; end: number }> = [];
    let firstPushed!: () => void;
    const first = new Promise<void>((resolve) => {
      firstPushed = resolve;
    });
    const loop = (async () => {
      for (let i = 0; running; i++) {
        const start = Date.now();
        await push(loads[i % loads.length]!, 'x', `load:t${i}`);
        spans.push({ start, end: Date.now() });
        if (spans.length === 1) firstPushed();
      }
    })();
    await first;
    const backupDir = join(await newDir('outpost-backup-cli-target-'), 'b');
    const backupStart = Date.now();
    const backup = await outpost('backup', '--to', backupDir, '--data-dir', rootDir);
    const backupEnd = Date.now();
    running = false;
    await loop;
    assert.equal(backup.code, 0, backup.stderr);
    assert.equal(backup.stderr, '');
    assert.ok(spans.some((span) => span.start < backupEnd && span.end > backupStart), 'skopeo was pushing while the backup ran');
    const summary = JSON.parse(backup.stdout) as { backup: string; blobs: { count: number }; files: string[]; snapshots: number };
    assert.equal(summary.backup, backupDir);
    assert.deepEqual(summary.files, ['admin-password', 'jwt-signing-key.pem']);
    assert.ok(!backup.stdout.includes(adminPassword), 'the admin password is never printed');
    assert.equal((await stat(backupDir)).mode & 0o777, 0o700, 'the backup folder is its owner\'s only');

    const held = contentOfBackup(backupDir);
    assert.equal(held.tags.get('app')?.get('v1'), v1.digest);
    assert.equal(held.tags.get('app')?.get('multi'), multi.digest);

    const dataDir = join(await newDir('outpost-backup-cli-restored-'), 'data');
    const restore = await outpost('restore', '--from', backupDir, '--data-dir', dataDir, '-o', 'table');
    assert.equal(restore.code, 0, restore.stderr);
    assert.match(restore.stdout, /^DATA DIR\s+BACKUP CREATED\s+SCHEMA\s+REPOSITORIES/);
    assert.ok(restore.stdout.includes(dataDir));

    restored = await spawnNode(dataDir, [], { OUTPOST_ADMIN_PASSWORD: '' });
    const client = new TestClient(restored.url, basicAuth('admin', adminPassword));
    await assertServesExactly(client, held);
    // And a real client pulls what was pushed before the backup, digests preserved.
    const out = join(work, 'pulled');
    await skopeo.ok('copy', '--all', '--preserve-digests', '--src-tls-verify=false', '--src-creds', creds, `docker://${new URL(restored.url).host}/app:multi`, `oci:${out}:multi`);
    const index = JSON.parse(await readFile(join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    assert.equal(index.manifests[0]!.digest, multi.digest);
  });

  test('bad arguments and refusals are one line on stderr with a non-zero exit; nothing is written', async () => {
    const scratch = await newDir('outpost-backup-cli-bad-');
    const nowhere = join(scratch, 'nowhere');

    assert.match(oneErrorLine(await outpost('backup'), 1), /^outpost: required option '--to <dir>' not specified$/);
    assert.match(oneErrorLine(await outpost('restore', '--from', scratch), 1), /^outpost: required option '--data-dir <dir>' not specified$/);
    assert.match(oneErrorLine(await outpost('backup', '--to', '', '--data-dir', rootDir), 2), /^outpost: argument --to: expected a folder, got an empty value$/);
    assert.match(oneErrorLine(await outpost('backup', '--to', nowhere, '--data-dir', rootDir, '-o', 'xml'), 2), /^outpost: argument --output\/-o: invalid choice: 'xml'/);
    assert.match(oneErrorLine(await outpost('restore', '--from', scratch, '--data-dir', nowhere, '--query', '[?'), 2), /^outpost: argument --query: invalid JMESPath query/);

    // Not a data folder; a non-empty target; not a backup.
    const notData = join(scratch, 'not-data');
    await mkdir(notData);
    assert.match(oneErrorLine(await outpost('backup', '--to', nowhere, '--data-dir', notData), 1), /holds no metadata\.db: it is not a node's data folder \(give --data-dir\)$/);
    const occupied = join(scratch, 'occupied');
    await mkdir(occupied);
    await writeFile(join(occupied, 'x'), 'x');
    assert.match(oneErrorLine(await outpost('backup', '--to', occupied, '--data-dir', rootDir), 1), /^outpost: the backup target .*occupied is not empty \(it holds x\): give a new or empty folder$/);
    assert.match(oneErrorLine(await outpost('restore', '--from', scratch, '--data-dir', nowhere), 1), /holds no outpost-backup\.json: it is not a backup, or a backup that did not finish$/);

    // A backup from a newer Outpost.
    const newer = join(scratch, 'newer');
    const made = await outpost('backup', '--to', newer, '--data-dir', rootDir);
    assert.equal(made.code, 0, made.stderr);
    const manifest = JSON.parse(await readFile(join(newer, 'outpost-backup.json'), 'utf8')) as Record<string, unknown>;
    await writeFile(join(newer, 'outpost-backup.json'), JSON.stringify({ ...manifest, schemaVersion: LATEST_SCHEMA_VERSION + 1 }));
    assert.match(oneErrorLine(await outpost('restore', '--from', newer, '--data-dir', nowhere), 1),
      new RegExp(`^outpost: the backup's metadata is at schema version ${LATEST_SCHEMA_VERSION + 1}, newer than this Outpost knows \\(${LATEST_SCHEMA_VERSION}\\): restore it with Outpost .* or later$`));

    assert.deepEqual((await readdir(scratch)).sort(), ['newer', 'not-data', 'occupied'], 'no folder was created by a refused command');
    assert.deepEqual(await readdir(occupied), ['x']);
  });
});
