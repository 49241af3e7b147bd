import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { systemClock } from '../../src/core/clock.js';
import { OUTPOST_VERSION } from '../../src/config/version.js';
import { backupNode } from '../../src/lifecycle/backup.js';
import { restoreNode } from '../../src/lifecycle/restore.js';
import { BACKUP_MANIFEST_FILE, hashFile, type BackupManifest } from '../../src/lifecycle/backup-manifest.js';
import { LATEST_SCHEMA_VERSION } from '../../src/metadata/index.js';
import { startTestNode, tempDir } from '../helpers/test-node.js';
import { TestClient } from '../helpers/oci-client.js';
import { assertServesExactly, contentOfBackup, partialLeftovers } from '../helpers/backup.js';

/**
 * What `restoreNode` and `backupNode` refuse, and that a refused or failed restore leaves the
 * target as it was (absent, or empty), with nothing half-restored.
 */

describe('restore and backup refusals', () => {
  let work: { path: string; cleanup(): Promise<void> };
  /** A finished backup of a small node (never modified: each test works on a copy). */
  let pristine: string;
  let layer: string;
  let copies = 0;

  before(async () => {
    work = await tempDir('outpost-restore-refusals-');
    const node = await startTestNode({ adminPassword: null });
    try {
      const admin = new TestClient(node.url, `Basic ${Buffer.from(`admin:${(await readFile(join(node.dataDir, 'admin-password'), 'utf8')).trim()}`).toString('base64')}`);
      const pushed = await admin.pushImage('app', 'v1', { layers: 2 });
      layer = pushed.layers[0]!;
      pristine = join(work.path, 'pristine');
      await backupNode({ dataDir: node.dataDir, storage: 'filesystem', to: pristine, outpostVersion: OUTPOST_VERSION, clock: systemClock });
    } finally {
      await node.close();
    }
  });

  after(async () => {
    await work.cleanup();
  });

  /** A fresh copy of the backup to damage. */
  async function copyOfBackup(): Promise<string> {
    const copy = join(work.path, `copy-${++copies}`);
    await cp(pristine, copy, { recursive: true });
    return copy;
  }

  async function manifestOf(backup: string): Promise<BackupManifest> {
    return JSON.parse(await readFile(join(backup, BACKUP_MANIFEST_FILE), 'utf8')) as BackupManifest;
  }

  async function writeManifest(backup: string, manifest: unknown): Promise<void> {
    await writeFile(join(backup, BACKUP_MANIFEST_FILE), JSON.stringify(manifest));
  }

  function blobFileIn(backup: string, digest: string): string {
    const hex = digest.slice('sha256:'.length);
    return join(backup, 'blobs', 'sha256', hex.slice(0, 2), hex);
  }

  /** Restores `backup` into `dataDir` expecting the BackupError `code`; returns its message. */
  async function refused(backup: string, dataDir: string, code: string, storage = 'filesystem'): Promise<string> {
    let message = '';
    await assert.rejects(restoreNode({ from: backup, dataDir, storage, clock: systemClock }), (err: Error & { code?: string }) => {
      assert.equal(err.code, code, err.message);
      assert.doesNotMatch(err.message, /\n/, 'one line');
      message = err.message;
      return true;
    });
    return message;
  }

  /** Nothing of a restore is left: the folder is absent (or empty when it existed), no partial folder beside it. */
  async function assertNothingRestored(dataDir: string, existed: boolean): Promise<void> {
    if (existed) assert.deepEqual(await readdir(dataDir), [], `${dataDir} is still empty`);
    else await assert.rejects(stat(dataDir), { code: 'ENOENT' }, `${dataDir} was not created`);
    assert.deepEqual(await partialLeftovers(dataDir), []);
  }

  test('the pristine backup restores, into a new folder and into an empty existing one (a volume with lost+found)', async () => {
    const fresh = join(work.path, 'fresh', 'data');
    const summary = await restoreNode({ from: pristine, dataDir: fresh, storage: 'filesystem', clock: systemClock });
    assert.equal(summary.tags, 1);
    assert.deepEqual(summary.files, ['admin-password', 'jwt-signing-key.pem']);
    assert.equal((await stat(join(fresh, 'admin-password'))).mode & 0o777, 0o600, 'the admin password stays readable by its owner only');
    const volume = join(work.path, 'volume');
    await mkdir(join(volume, 'lost+found'), { recursive: true });
    await restoreNode({ from: pristine, dataDir: volume, storage: 'filesystem', clock: systemClock });
    assert.deepEqual((await readdir(volume)).sort(), ['admin-password', 'jwt-signing-key.pem', 'lost+found', 'metadata.db', 'storage']);
    // The restored node comes back with the same generated admin password.
    const password = (await readFile(join(volume, 'admin-password'), 'utf8')).trim();
    assert.equal(password, (await readFile(join(pristine, 'files', 'admin-password'), 'utf8')).trim());
    const node = await startTestNode({ dataDir: volume, adminPassword: null });
    try {
      await assertServesExactly(new TestClient(node.url, `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`), contentOfBackup(pristine));
    } finally {
      await node.close();
    }
  });

  test('a corrupted blob in a backup makes restore fail clearly, naming it, and leaves the target absent or empty', async () => {
    const backup = await copyOfBackup();
    const file = blobFileIn(backup, layer);
    const bytes = await readFile(file);
    bytes[10] = bytes[10]! ^ 0xff;
    await writeFile(file, bytes);
    const absent = join(work.path, 'corrupt-absent');
    const message = await refused(backup, absent, 'BACKUP_CORRUPT');
    assert.match(message, new RegExp(`^the backup is damaged: blob ${layer} does not match its digest or size .*; nothing was restored$`));
    await assertNothingRestored(absent, false);
    const empty = join(work.path, 'corrupt-empty');
    await mkdir(empty);
    await refused(backup, empty, 'BACKUP_CORRUPT');
    await assertNothingRestored(empty, true);
  });

  test('a truncated blob, a missing blob, a changed database or a changed key file are damage too', async () => {
    const truncated = await copyOfBackup();
    const file = blobFileIn(truncated, layer);
    await writeFile(file, (await readFile(file)).subarray(0, 100));
    await refused(truncated, join(work.path, 'truncated'), 'BACKUP_CORRUPT');
    await assertNothingRestored(join(work.path, 'truncated'), false);

    const missing = await copyOfBackup();
    await rm(blobFileIn(missing, layer));
    assert.match(await refused(missing, join(work.path, 'missing'), 'BACKUP_CORRUPT'), new RegExp(`missing from the backup \\(${layer}\\)`));

    const database = await copyOfBackup();
    const db = new Database(join(database, 'metadata.db'));
    db.exec("UPDATE tags SET name = 'v2'");
    db.close();
    assert.match(await refused(database, join(work.path, 'database'), 'BACKUP_CORRUPT'), /the metadata database does not match the backup manifest/);

    const key = await copyOfBackup();
    await writeFile(join(key, 'files', 'jwt-signing-key.pem'), 'not the key');
    const message = await refused(key, join(work.path, 'key'), 'BACKUP_CORRUPT');
    assert.match(message, /the file jwt-signing-key\.pem does not match the backup manifest/);
    assert.doesNotMatch(message, /sha256:/, 'no digest of a secret file is shown');
    await assertNothingRestored(join(work.path, 'key'), false);
  });

  test('a truncated backup (no manifest: a backup that did not finish) is refused', async () => {
    const backup = await copyOfBackup();
    await rm(join(backup, BACKUP_MANIFEST_FILE));
    assert.match(await refused(backup, join(work.path, 'no-manifest'), 'BACKUP_INCOMPLETE'), /holds no outpost-backup\.json: it is not a backup, or a backup that did not finish/);
    await assertNothingRestored(join(work.path, 'no-manifest'), false);
    await refused(join(work.path, 'no-such-backup'), join(work.path, 'nothing'), 'BACKUP_INCOMPLETE');
  });

  test('a backup from a newer schema is refused with one line saying which Outpost can restore it', async () => {
    // The manifest says so: refused before anything is read.
    const declared = await copyOfBackup();
    await writeManifest(declared, { ...(await manifestOf(declared)), schemaVersion: LATEST_SCHEMA_VERSION + 1, outpostVersion: '9.9.9' });
    assert.equal(await refused(declared, join(work.path, 'newer'), 'SCHEMA_TOO_NEW'),
      `the backup's metadata is at schema version ${LATEST_SCHEMA_VERSION + 1}, newer than this Outpost knows (${LATEST_SCHEMA_VERSION}): restore it with Outpost 9.9.9 or later`);
    await assertNothingRestored(join(work.path, 'newer'), false);

    // The database says so (a manifest edited to hide it): refused as well.
    const hidden = await copyOfBackup();
    const db = new Database(join(hidden, 'metadata.db'));
    db.pragma(`user_version = ${LATEST_SCHEMA_VERSION + 1}`);
    db.close();
    const manifest = await manifestOf(hidden);
    await writeManifest(hidden, { ...manifest, metadata: await hashFile(join(hidden, 'metadata.db')) });
    await refused(hidden, join(work.path, 'hidden'), 'SCHEMA_TOO_NEW');
    await assertNothingRestored(join(work.path, 'hidden'), false);
  });

  test('a manifest of a newer format, not JSON, or naming a file outside the data folder is refused', async () => {
    const newer = await copyOfBackup();
    await writeManifest(newer, { ...(await manifestOf(newer)), formatVersion: 2 });
    assert.match(await refused(newer, join(work.path, 'f2'), 'BACKUP_INVALID'), /backup format 2, newer than this Outpost reads \(1\)/);

    const garbage = await copyOfBackup();
    await writeFile(join(garbage, BACKUP_MANIFEST_FILE), '{"format": "outpost-backup", ');
    assert.match(await refused(garbage, join(work.path, 'garbage'), 'BACKUP_INVALID'), /it is not JSON/);

    const escape = await copyOfBackup();
    const manifest = await manifestOf(escape);
    await writeManifest(escape, { ...manifest, files: [...manifest.files, { ...manifest.files[0]!, path: '../outside' }] });
    await refused(escape, join(work.path, 'escape'), 'BACKUP_INVALID');
    await assert.rejects(stat(join(work.path, 'outside')), { code: 'ENOENT' });
  });

  test('a non-empty target is refused and left untouched', async () => {
    const target = join(work.path, 'occupied');
    await mkdir(target);
    await writeFile(join(target, 'precious'), 'do not touch');
    assert.match(await refused(pristine, target, 'TARGET_NOT_EMPTY'), /the data folder .*occupied is not empty \(it holds precious\): give a new or empty folder/);
    assert.deepEqual(await readdir(target), ['precious']);
    assert.equal(await readFile(join(target, 'precious'), 'utf8'), 'do not touch');
    const file = join(work.path, 'a-file');
    await writeFile(file, 'x');
    assert.match(await refused(pristine, file, 'TARGET_NOT_EMPTY'), /exists and is not a folder/);
  });

  test('the memory storage driver is refused by restore and backup', async () => {
    assert.match(await refused(pristine, join(work.path, 'memory'), 'STORAGE_UNSUPPORTED', 'memory'), /keeps blobs in the node's process only/);
    await assertNothingRestored(join(work.path, 'memory'), false);
    await assert.rejects(
      backupNode({ dataDir: join(work.path, 'no-such-data'), storage: 'memory', to: join(work.path, 'mem-backup'), outpostVersion: OUTPOST_VERSION, clock: systemClock }),
      { code: 'STORAGE_UNSUPPORTED' },
    );
  });

  test('an interrupted backup or restore (its signal aborted) keeps nothing', async () => {
    const source = join(work.path, 'to-interrupt');
    await restoreNode({ from: pristine, dataDir: source, storage: 'filesystem', clock: systemClock });
    const controller = new AbortController();
    const to = join(work.path, 'interrupted-backup');
    await assert.rejects(
      backupNode({
        dataDir: source, storage: 'filesystem', to, outpostVersion: OUTPOST_VERSION, clock: systemClock, signal: controller.signal,
        // Stopped once the snapshot is taken, before the blobs are copied.
        onSnapshot: () => controller.abort(new Error('SIGINT')),
      }),
      (err: Error & { code?: string; exitCode?: number }) => err.code === 'INTERRUPTED' && err.exitCode === 130 && /nothing was kept/.test(err.message),
    );
    await assert.rejects(stat(to), { code: 'ENOENT' });
    assert.deepEqual(await partialLeftovers(to), []);

    const dataDir = join(work.path, 'interrupted-restore');
    await assert.rejects(
      restoreNode({ from: pristine, dataDir, storage: 'filesystem', clock: systemClock, signal: AbortSignal.abort(new Error('SIGTERM')) }),
      { code: 'INTERRUPTED' },
    );
    await assertNothingRestored(dataDir, false);
  });

  test('backup refuses a non-empty target, a folder that is not a data folder, and a target inside the data folder', async () => {
    const source = join(work.path, 'to-back-up');
    await restoreNode({ from: pristine, dataDir: source, storage: 'filesystem', clock: systemClock });
    const backup = (to: string, dataDir = source): Promise<unknown> => backupNode({ dataDir, storage: 'filesystem', to, outpostVersion: OUTPOST_VERSION, clock: systemClock });
    await assert.rejects(backup(pristine), (err: Error & { code?: string }) => err.code === 'TARGET_NOT_EMPTY' && /the backup target .* is not empty/.test(err.message));
    await assert.rejects(backup(join(work.path, 'b1'), join(work.path, 'no-such-data')), (err: Error & { code?: string }) =>
      err.code === 'SOURCE_INVALID' && err.message.includes('holds no metadata.db: it is not a node\'s data folder'));
    await assert.rejects(backup(join(source, 'backups', 'b')), (err: Error & { code?: string }) =>
      err.code === 'SOURCE_INVALID' && /is inside the data folder/.test(err.message));
    for (const target of [join(work.path, 'b1'), join(source, 'backups')]) await assert.rejects(stat(target), { code: 'ENOENT' });
  });
});
