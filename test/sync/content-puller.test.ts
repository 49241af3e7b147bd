import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { sha256 } from '../helpers/oci-client.js';
import type { ManualClock } from '../../src/core/clock.js';
import type { ContentPuller } from '../../src/sync/content-puller.js';
import { FakeParent } from './fake-parent.js';
import { commitPulled, localNode, manualClock, pullParts, until, type LocalNode } from './unit-fixture.js';

/**
 * ContentPuller against a fake parent (docs/architecture.md, "Pull"): a manifest and its blobs
 * come verified by digest; what this node has already is never transferred again; the same blob
 * asked for twice at once downloads once; at most `parallel` downloads run at a time.
 */
describe('ContentPuller', () => {
  let clock: ManualClock;
  let parent: FakeParent;
  let local: LocalNode;
  let puller: ContentPuller;

  beforeEach(async () => {
    clock = manualClock();
    parent = new FakeParent({ clock, repositories: ['app', 'web'] });
    local = await localNode(parent);
    ({ puller } = pullParts(parent, local, clock, 2));
  });

  afterEach(async () => {
    parent.releaseAll();
    await local.close();
  });

  const blobGets = (digest: string): number => parent.callsOf((method, path) => method === 'GET' && path.endsWith(`/blobs/${digest}`)).length;

  test('a manifest comes with every blob, verified; the caller commits it with the new links', async () => {
    const image = parent.pushImage('app', 'v1', { layers: [randomBytes(300), randomBytes(400)] });
    const input = await puller.prepare('app', image.digest);
    assert.deepEqual(Object.keys(input.blobLinks ?? {}).sort(), [...image.blobs].sort());
    await commitPulled(local, { ...input, tag: 'v1' });
    assert.equal(await local.store.resolveTag('app', 'v1'), image.digest);
    for (const blob of image.blobs) assert.ok(await local.blobs.stat(blob), `blob ${blob} stored`);
    assert.equal((await local.blobs.get(image.digest)).toString(), image.body);
    assert.deepEqual({ ...puller.counters }, { manifestsFetched: 1, blobsFetched: 3, blobBytesFetched: puller.counters.blobBytesFetched });
  });

  test('a blob stored here for another repository is linked, not downloaded again; a manifest already here is not fetched', async () => {
    const shared = randomBytes(500);
    const first = parent.pushImage('app', 'v1', { layers: [shared] });
    await commitPulled(local, await puller.prepare('app', first.digest));
    const second = parent.pushImage('web', 'v1', { layers: [shared] });
    const input = await puller.prepare('web', second.digest);
    assert.equal(input.blobLinks?.[sha256(shared)], shared.length, 'linked to the new repository');
    assert.equal(blobGets(sha256(shared)), 1);
    assert.equal(puller.counters.blobsFetched, 3, 'the first image\'s two blobs and the second\'s config');
    await commitPulled(local, input);
    await puller.prepare('web', second.digest);
    assert.equal(puller.counters.manifestsFetched, 2);
  });

  test('the same blob asked for twice at once downloads once', async () => {
    const shared = randomBytes(500);
    const a = parent.pushImage('app', 'a', { layers: [shared] });
    const b = parent.pushImage('web', 'b', { layers: [shared] });
    const held = parent.rule((method, path) => method === 'GET' && path.endsWith(`/blobs/${sha256(shared)}`), 'hold');
    const both = Promise.all([puller.prepare('app', a.digest), puller.prepare('web', b.digest)]);
    await until('the shared blob requested', () => held.matched === 1);
    held.release();
    await both;
    assert.equal(blobGets(sha256(shared)), 1);
  });

  test('at most `parallel` blob downloads at once', async () => {
    const image = parent.pushImage('app', 'wide', { layers: [randomBytes(10), randomBytes(11), randomBytes(12), randomBytes(13)] });
    const held = parent.rule((method, path) => method === 'GET' && path.includes('/blobs/'), 'hold');
    const prepared = puller.prepare('app', image.digest);
    await until('two downloads', () => held.matched === 2);
    for (let i = 0; i < 20; i++) await tick();
    assert.equal(held.matched, 2, 'a third download started beside the two');
    held.release();
    await prepared;
    assert.equal(puller.counters.blobsFetched, 5);
  });

  test('an index: its child manifests are committed first, as sync writes', async () => {
    const children = [parent.pushImage('app', null), parent.pushImage('app', null)];
    const index = parent.pushIndex('app', 'multi', children);
    const input = await puller.prepare('app', index.digest);
    assert.deepEqual(input.manifests, children.map((c) => c.digest));
    for (const child of children) assert.ok(await local.store.getManifest('app', child.digest), `child ${child.digest} committed`);
    assert.equal(await local.store.getManifest('app', index.digest), null, 'the caller commits the index');
    assert.equal(await local.store.outboxSize(), 0, 'not local writes');
  });

  test('a manifest whose bytes are not its digest is refused (DIGEST_INVALID), nothing stored', async () => {
    const image = parent.pushImage('app', 'v1');
    parent.rule((method, path) => method === 'GET' && path.endsWith(`/manifests/${image.digest}`),
      { reply: () => ({ body: Buffer.from(image.body.replace('schemaVersion', 'schemaversion')), mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.digest }) });
    await assert.rejects(puller.prepare('app', image.digest), { code: 'DIGEST_INVALID' });
    assert.equal(await local.blobs.stat(image.digest), null);
  });

  test('a blob whose bytes are not its digest is refused, nothing published', async () => {
    const image = parent.pushImage('app', 'v1');
    const layer = image.blobs[1]!;
    parent.rule((method, path) => method === 'GET' && path.endsWith(`/blobs/${layer}`), { reply: () => ({ stream: Readable.from([randomBytes(256)]), size: 256 }) });
    await assert.rejects(puller.prepare('app', image.digest), { code: 'DIGEST_INVALID' });
    assert.equal(await local.blobs.stat(layer), null);
  });
});
