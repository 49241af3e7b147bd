import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { sha256 } from '../helpers/oci-client.js';
import { HOUR_MS, abandonUpload, blobFiles, gcStores, pushImage, uploadBlob, type GcStores, type PushedImage } from './gc-fixture.js';

/** The bytes of an image on disk: its manifest and its blobs. */
function filesOf(image: PushedImage): Map<string, number> {
  return new Map([[image.manifest, image.manifestSize], ...image.blobs]);
}

function sum(sizes: Iterable<number>): number {
  let total = 0;
  for (const size of sizes) total += size;
  return total;
}

describe('GarbageCollector', () => {
  let s: GcStores;

  beforeEach(async () => {
    s = await gcStores();
  });
  afterEach(async () => {
    await s.close();
  });

  /**
   * kept: a tagged image. deleted: an image whose manifest a client deleted (its links stay until
   * the sweep). orphan: bytes stored and never linked (a crash between the store and the commit).
   * An abandoned upload session and a temporary file of an interrupted write.
   */
  async function scene(): Promise<{ kept: PushedImage; deleted: PushedImage; orphan: { digest: string; size: number }; uploadBytes: number }> {
    const kept = await pushImage(s, 'app', 'v1', 2);
    const deleted = await pushImage(s, 'app', 'v2', 1, 3000);
    assert.equal(await s.writer.deleteManifest('tester', 'app', deleted.manifest), true);
    const orphanData = randomBytes(500);
    const orphan = { digest: sha256(orphanData), size: orphanData.length };
    await s.blobs.put(orphanData, orphan.digest, orphan.size);
    const session = await abandonUpload(s, 'app', 700);
    await s.driver.putContent('_tmp/4b8f0c6e-0000-4000-8000-000000000000', randomBytes(300));
    // The session's two files (its data and its info) and the temporary file.
    const sizes = await Promise.all([`uploads/${session}/data`, `uploads/${session}/info.json`].map((p) => s.driver.stat(p)));
    return { kept, deleted, orphan, uploadBytes: sizes.reduce((total, info) => total + info!.size, 0) + 300 };
  }

  it('frees the links, blobs and manifest bytes nothing references and the abandoned uploads; keeps what is referenced; says so', async () => {
    const { kept, deleted, orphan, uploadBytes } = await scene();
    const seq = await s.metadata.lastChangeSeq();
    s.clock.advance(2 * HOUR_MS);

    const report = await s.collector.run();

    const deletedBlobs = sum(deleted.blobs.values());
    assert.deepEqual(report.links, { count: 2, bytes: deletedBlobs }, 'the deleted image\'s config and layer links');
    assert.deepEqual(report.blobs, { count: 3, bytes: deletedBlobs + orphan.size });
    assert.deepEqual(report.manifests, { count: 1, bytes: deleted.manifestSize });
    assert.deepEqual(report.uploads, { count: 2, bytes: uploadBytes }, 'the session and the temporary file');
    assert.equal(report.freedBytes, report.blobs.bytes + report.manifests.bytes + report.uploads.bytes);
    assert.equal(report.dryRun, false);
    assert.equal(report.skipped, 0);

    assert.deepEqual(await blobFiles(s), filesOf(kept), 'exactly the kept image is left on disk');
    assert.deepEqual(await s.driver.list('uploads'), []);
    assert.deepEqual(await s.driver.list('_tmp'), []);
    assert.equal(await s.metadata.lastChangeSeq(), seq, 'no change row: nothing of it travels up or down');
    assert.equal(await s.metadata.resolveTag('app', 'v1'), kept.manifest);
    for (const digest of kept.blobs.keys()) assert.ok(await s.metadata.getBlobLink('app', digest));
    assert.match(s.lines.at(-1)!, /^garbage collection freed .*: 2 links, 3 blobs \(.*\), 1 manifest \(.*\), 2 uploads \(.*\) in /);
  });

  it('a dry run reports what a real run then frees, and frees nothing', async () => {
    await scene();
    s.clock.advance(2 * HOUR_MS);
    const before = await blobFiles(s);

    const dry = await s.collector.run({ dryRun: true });
    assert.equal(dry.dryRun, true);
    assert.deepEqual(await blobFiles(s), before);
    assert.equal((await s.metadata.unreferencedBlobLinks(new Date(s.clock.now()), { limit: 10 })).length, 2, 'the links are still there');
    assert.equal((await s.driver.list('uploads')).length, 1);
    assert.match(s.lines.at(-1)!, /^garbage collection \(dry run\) would free /);

    const real = await s.collector.run();
    for (const key of ['links', 'blobs', 'manifests', 'uploads', 'freedBytes'] as const) assert.deepEqual(real[key], dry[key], key);
  });

  it('within the grace period nothing is freed; a link used by a HEAD stays for another grace period', async () => {
    const { deleted } = await scene();
    s.clock.advance(HOUR_MS / 2);
    const early = await s.collector.run();
    assert.equal(early.freedBytes, 0);
    assert.equal(early.links.count + early.blobs.count + early.manifests.count + early.uploads.count, 0);

    // A client finds the deleted image's layer (HEAD) half an hour later: its link and bytes stay.
    const [config, layer] = [...deleted.blobs.keys()];
    s.clock.advance(HOUR_MS / 2);
    await s.writer.touchBlobLink('app', layer!);
    s.clock.advance(HOUR_MS / 2 + 1);
    const later = await s.collector.run();
    assert.equal(later.links.count, 1, 'only the config link went');
    assert.equal(await s.metadata.getBlobLink('app', config!), null);
    assert.ok(await s.metadata.getBlobLink('app', layer!));
    assert.ok(await s.blobs.stat(layer!));
    assert.equal(await s.blobs.stat(config!), null);
  });

  it('bytes a write holds are left for the next run (reported as in use), then freed', async () => {
    const orphanData = randomBytes(100);
    const digest = sha256(orphanData);
    await s.blobs.put(orphanData, digest, orphanData.length);
    s.clock.advance(2 * HOUR_MS);
    const release = await s.gate.hold([digest]);
    const first = await s.collector.run();
    assert.equal(first.skipped, 1);
    assert.equal(first.blobs.count, 0);
    assert.ok(await s.blobs.stat(digest));
    assert.match(s.lines.at(-1)!, /1 in use, left for the next run/);
    release();
    const second = await s.collector.run();
    assert.equal(second.blobs.count, 1);
    assert.equal(await s.blobs.stat(digest), null);
  });

  it('bytes found again and linked between the mark and the sweep are kept (the check under the claim)', async () => {
    const data = randomBytes(100);
    const digest = sha256(data);
    await s.blobs.put(data, digest, data.length);
    s.clock.advance(2 * HOUR_MS);
    // The collector's mark runs first; the link commits while it lists the blob store.
    const run = s.collector.run();
    await uploadBlob(s, 'late', data);
    await run;
    assert.ok(await s.metadata.getBlobLink('late', digest));
    assert.ok(await s.blobs.stat(digest), 'a linked blob always has its bytes');
  });

  it('runs one collection at a time: a second call joins the running one, a dry run waits for a real one to end', async () => {
    await scene();
    s.clock.advance(2 * HOUR_MS);
    const first = s.collector.run();
    const joined = s.collector.run();
    const dry = s.collector.run({ dryRun: true });
    const [a, b, c] = await Promise.all([first, joined, dry]);
    assert.equal(a, b, 'the same run');
    assert.equal(c.dryRun, true);
    assert.equal(c.freedBytes, 0, 'the dry run came after the real one had freed everything');
  });

  it('announces each report on the bus', async () => {
    const seen: boolean[] = [];
    s.events.subscribe(['garbage-collected'], (event) => seen.push(event.report.dryRun));
    await s.collector.run({ dryRun: true });
    await s.collector.run();
    assert.deepEqual(seen, [true, false]);
  });

  it('a run stopped by its signal rejects between batches and deletes nothing more', async () => {
    await scene();
    s.clock.advance(2 * HOUR_MS);
    const stop = new AbortController();
    stop.abort(new Error('node stopping'));
    await assert.rejects(s.collector.run({ signal: stop.signal }), /node stopping/);
    assert.equal((await s.metadata.unreferencedBlobLinks(new Date(s.clock.now()), { limit: 10 })).length, 2);
  });
});
