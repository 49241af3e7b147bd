import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sha256 } from '../helpers/oci-client.js';
import type { ManualClock } from '../../src/core/clock.js';
import type { OutboxPusher } from '../../src/sync/outbox-pusher.js';
import { FakeParent, parentError } from './fake-parent.js';
import { CLIENT, localNode, manualClock, outboxPusher, pushLocal, until, type LocalNode } from './unit-fixture.js';

/**
 * OutboxPusher against a fake parent (docs/architecture.md, "Outbox"): local writes go up in
 * order — the blobs the parent lacks, the manifest, the tag, deletes — and each change's outcome
 * is recorded: pushed, refused by the parent for good, failed here (parked), or stopped by the
 * link (retried as it is). One drain runs at a time.
 */
describe('OutboxPusher', () => {
  let clock: ManualClock;
  let parent: FakeParent;
  let local: LocalNode;
  let pusher: OutboxPusher;

  beforeEach(async () => {
    clock = manualClock();
    parent = new FakeParent({ clock, mode: 'ReadWrite', repositories: ['app'] });
    local = await localNode(parent);
    pusher = outboxPusher(parent, local, clock);
  });

  afterEach(async () => {
    parent.releaseAll();
    await local.close();
  });

  const uploads = (): string[] => parent.callsOf((method, path) => method === 'PUT' && path.includes('/blobs/uploads/')).map((c) => c.path);
  const manifestPuts = (): string[] => parent.callsOf((method, path) => method === 'PUT' && path.includes('/manifests/')).map((c) => c.path);

  test('a local push goes up whole: the blobs the parent lacks, then the manifest, then its tag', async () => {
    const known = randomBytes(200);
    parent.putBlob('app', known);
    const image = await pushLocal(local, 'app', 'v1', [known, randomBytes(300)]);
    assert.ok((await pusher.drain()) > 0);
    assert.equal(parent.tagOf('app', 'v1'), image.digest);
    assert.equal(await local.store.outboxSize(), 0);
    // The blob the parent had is not uploaded again.
    assert.deepEqual(uploads().map((path) => path.slice(path.indexOf('digest=') + 7)).sort(), [image.blobs[0]!, image.blobs[2]!].sort());
    assert.ok(!uploads().some((path) => path.includes(sha256(known))));
    // Every upload before the first manifest PUT, the PUT by tag last.
    const order = parent.calls.filter((c) => c.method === 'PUT').map((c) => (c.path.includes('/blobs/') ? 'blob' : c.path.slice(c.path.lastIndexOf('/') + 1)));
    assert.deepEqual(order, ['blob', 'blob', image.digest, 'v1']);
  });

  test('writes made while the link is down stay in the outbox and go up in order once it is back', async () => {
    const down = parent.rule(() => true, { fail: () => parentError(0, 'CONNECTION_FAILED') });
    const moves = [];
    for (let i = 0; i < 3; i++) moves.push(await pushLocal(local, 'app', 'moving'));
    await assert.rejects(pusher.drain(), { code: 'CONNECTION_FAILED' });
    const pending = await local.store.outboxSize();
    assert.ok(pending >= 6, `${pending} writes pending`);
    down.release();
    await pusher.drain();
    assert.equal(await local.store.outboxSize(), 0);
    assert.equal(parent.tagOf('app', 'moving'), moves[2]!.digest);
    for (const image of moves) assert.ok(parent.hasManifest('app', image.digest));
  });

  test('a write the parent refuses for good is marked and kept as refused; the writes after it go up', async () => {
    const refuse = parent.rule((method, path) => method === 'PUT' && path.endsWith('/manifests/refused'), { fail: () => parentError(400, 'MANIFEST_INVALID') });
    const refused = await pushLocal(local, 'app', 'refused');
    const later = await pushLocal(local, 'app', 'later');
    await pusher.drain();
    assert.equal(refuse.matched, 1, 'asked once, not retried');
    assert.equal(parent.tagOf('app', 'later'), later.digest);
    assert.equal(await local.store.outboxSize(), 0);
    const failures = await local.store.outboxFailures();
    assert.deepEqual(failures.map((f) => [f.state, f.code, f.change.kind, f.change.tag, f.change.digest]), [['rejected', 'MANIFEST_INVALID', 'tag', 'refused', refused.digest]]);
    await pusher.drain();
    assert.equal(refuse.matched, 1);
  });

  test('a write whose blob is missing here is parked, never marked pushed; the writes after it go up; once the blob is back and its retry due, it goes up', async () => {
    const layer = randomBytes(300);
    const broken = await pushLocal(local, 'app', 'broken', [layer]);
    const bytes = await local.blobs.get(sha256(layer));
    await local.blobs.delete(sha256(layer));
    const later = await pushLocal(local, 'app', 'later');
    await pusher.drain();
    assert.equal(parent.tagOf('app', 'later'), later.digest);
    assert.equal(parent.hasManifest('app', broken.digest), false);
    assert.ok((await local.store.outboxSize()) > 0, 'the failed write was marked pushed');
    const parked = (await local.store.outboxFailures()).filter((f) => f.state === 'parked');
    assert.ok(parked.length > 0);
    assert.ok(parked.every((f) => f.code === 'BLOB_UNKNOWN' && f.change.digest === broken.digest));

    await local.blobs.put(bytes, sha256(layer), bytes.length);
    await pusher.drain();
    assert.equal(parent.hasManifest('app', broken.digest), false, 'retried before it was due');
    clock.advance(10_000);
    await pusher.drain();
    assert.equal(parent.tagOf('app', 'broken'), broken.digest);
    assert.equal(await local.store.outboxSize(), 0);
    assert.deepEqual(await local.store.outboxFailures(), []);
  });

  test('deletes go up as DELETE; a blob delete the parent refuses (405) is final, and the writes after it go up', async () => {
    const image = await pushLocal(local, 'app', 'doomed');
    const scratch = await pushLocal(local, 'app', 'scratch');
    await pusher.drain();
    assert.ok(await local.writer.deleteTag(CLIENT, 'app', 'scratch'));
    assert.ok(await local.writer.deleteManifest(CLIENT, 'app', image.digest));
    await pusher.drain();
    assert.equal(parent.tagOf('app', 'scratch'), null);
    assert.ok(parent.hasManifest('app', scratch.digest), 'a tag delete leaves the manifest');
    assert.equal(parent.hasManifest('app', image.digest), false);

    // A blob unlinked here that the parent refuses to unlink (a manifest there still uses it).
    const layer = scratch.blobs[1]!;
    assert.ok(await local.writer.deleteManifest(CLIENT, 'app', scratch.digest));
    assert.ok(await local.writer.unlinkBlob(CLIENT, 'app', layer));
    const refuse = parent.rule((method, path) => method === 'DELETE' && path.endsWith(`/blobs/${layer}`), { fail: () => parentError(405, 'UNSUPPORTED') });
    const later = await pushLocal(local, 'app', 'after-refusal');
    await pusher.drain();
    assert.equal(refuse.matched, 1);
    assert.equal(parent.tagOf('app', 'after-refusal'), later.digest);
    const rejected = (await local.store.outboxFailures()).filter((f) => f.state === 'rejected');
    assert.deepEqual(rejected.map((f) => [f.code, f.change.kind, f.change.digest]), [['UNSUPPORTED', 'blob-delete', layer]]);
  });

  test('one drain at a time: a drain asked for while one runs starts after it, and nothing is pushed twice', async () => {
    const image = await pushLocal(local, 'app', 'once', [randomBytes(100), randomBytes(100)]);
    const upload = parent.rule((method, path) => method === 'PUT' && path.includes('/blobs/uploads/'), 'hold');
    const first = pusher.drain();
    await until('the first drain uploading', () => upload.matched > 0);
    const second = pusher.drain();
    upload.release();
    await Promise.all([first, second]);
    const uploaded = uploads();
    assert.deepEqual(uploaded.filter((path, i) => uploaded.indexOf(path) !== i), [], 'a blob uploaded twice');
    assert.deepEqual(manifestPuts().filter((path) => path.endsWith('/manifests/once')), ['/v2/app/manifests/once']);
    assert.equal(parent.tagOf('app', 'once'), image.digest);
  });
});
