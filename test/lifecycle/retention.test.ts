import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import type { EventOf } from '../../src/core/events.js';
import type { RetentionRun } from '../../src/lifecycle/retention-service.js';
import { RETENTION_GRACE_MS } from '../../src/lifecycle/retention-policy.js';
import { mgmt, errorCodeOf, errorMessage } from '../helpers/management-calls.js';
import { waitFor } from '../helpers/hierarchy.js';
import { getManifest, mustMgmt, pushArtifact, pushImage, pushIndex, startRoot, type Root } from '../sync/sync-fixture.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Retention of untagged manifests on a real root (docs/operations.md, "Retention"): the policy
 * over the management API, the job applying it on the node's clock (a ManualClock moved by days),
 * what it deletes and what it keeps — tagged manifests, those untagged or pushed recently, what a
 * kept index lists, referrers of kept manifests and their chains — and the deletes being ordinary
 * local writes of the change log.
 */
describe('retention of untagged manifests on a root', () => {
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 8));
  let root: Root;
  const deletedEvents: Array<EventOf<'manifest-deleted'>> = [];

  before(async () => {
    root = await startRoot({ clock });
    root.node.node.events.subscribe(['manifest-deleted'], (event) => deletedEvents.push(event));
  });

  after(async () => {
    await root?.node.close();
  });

  /** Runs the job now (or joins the run the last update started) and returns what it did. */
  const runRetention = (): Promise<RetentionRun> => root.node.node.jobs.runNow<RetentionRun>('retention');
  const present = async (digest: string): Promise<boolean> => (await getManifest(root.admin, 'app', digest)).status === 200;

  async function expectPresent(expected: Record<string, string>, wanted: boolean): Promise<void> {
    for (const [label, digest] of Object.entries(expected)) assert.equal(await present(digest), wanted, `${label} ${wanted ? 'is kept' : 'is deleted'}`);
  }

  test('the policy is disabled with 7 days until set, and shown as az shows it', async () => {
    assert.deepEqual(await mustMgmt(root.admin, 'GET', '/config/retention'), { days: 7, lastUpdatedTime: null, status: 'disabled' });
  });

  test('bad input is refused with 400 and leaves the policy as it was', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [{}, /Nothing to update/],
      [{ days: -1 }, /from 0 to 365/],
      [{ days: 366 }, /from 0 to 365/],
      [{ days: 1.5 }, /from 0 to 365/],
      [{ days: '7' }, /from 0 to 365/],
      [{ days: null }, /from 0 to 365/],
      [{ status: 'on' }, /use enabled or disabled/],
      [{ status: 'enabled', day: 30 }, /Unknown field 'day'/],
      [{ status: 'enabled', type: 'TaggedManifests' }, /only retention type is 'UntaggedManifests'/],
      [[], /must be a JSON object/],
    ];
    for (const [body, message] of bad) {
      const answer = await mgmt(root.admin, 'PATCH', '/config/retention', body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(errorCodeOf(answer), 'REQUEST_INVALID');
      assert.match(errorMessage(answer), message, JSON.stringify(body));
    }
    const notJson = await root.admin.request('PATCH', '/mgmt/v1/config/retention', { body: '{"status":', headers: { 'Content-Type': 'application/json' } });
    assert.equal(notJson.status, 400);
    assert.deepEqual(await mustMgmt(root.admin, 'GET', '/config/retention'), { days: 7, lastUpdatedTime: null, status: 'disabled' });
  });

  test('deletes expired untagged manifests and keeps tagged, recent, listed and referring ones', async () => {
    // Day 0.
    const tagged = await pushImage(root.admin, 'app', 'v1');
    const taggedSignature = await pushArtifact(root.admin, 'app', tagged, 'application/vnd.example.signature');
    const replaced = await pushImage(root.admin, 'app', 'latest');
    const replacing = await pushImage(root.admin, 'app', 'latest');
    const multi = await pushIndex(root.admin, 'app', 'multi', [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }]);
    const platformSignature = await pushArtifact(root.admin, 'app', multi.children[0]!, 'application/vnd.example.signature');
    const signatureOfSignature = await pushArtifact(root.admin, 'app', { digest: platformSignature.digest, size: Buffer.byteLength(platformSignature.body) }, 'application/vnd.example.countersign');
    const oldIndex = await pushIndex(root.admin, 'app', 'gone-index', [{ os: 'linux', architecture: 'amd64' }, { os: 'windows', architecture: 'amd64' }]);
    assert.equal((await root.admin.request('DELETE', '/mgmt/v1/repositories/app/tags/gone-index')).status, 204);
    const byDigest = await pushImage(root.admin, 'app', null);
    const orphanSignature = await pushArtifact(root.admin, 'app', byDigest, 'application/vnd.example.signature');
    const movedLater = await pushImage(root.admin, 'app', 'g');

    // Day 8: some manifests lose their tags only now; others are pushed now.
    clock.advance(8 * DAY_MS);
    const untaggedNow = await pushImage(root.admin, 'app', 'e');
    assert.equal((await root.admin.request('DELETE', '/mgmt/v1/repositories/app/tags/e')).status, 204);
    const freshByDigest = await pushImage(root.admin, 'app', null);
    const movedOnto = await pushImage(root.admin, 'app', 'g');
    // The job's own runs while the clock moved found the policy disabled.
    await runRetention();
    assert.ok(await present(replaced.digest), 'nothing goes while the policy is disabled');

    const enabled = await mustMgmt(root.admin, 'PATCH', '/config/retention', { status: 'enabled', days: 7 });
    assert.deepEqual(enabled, { days: 7, lastUpdatedTime: new Date(clock.now()).toISOString(), status: 'enabled' });
    // Enabling runs the job at once, without waiting for its hour.
    await waitFor('the run the update started', async () => deletedEvents.filter((e) => e.repository === 'app').length === 6);
    const again = await runRetention();
    assert.equal(again.enabled, true);
    assert.deepEqual(again.deleted, {}, 'a second run at the same time finds nothing more');

    await expectPresent({
      'the image whose tag moved away 8 days ago': replaced.digest,
      'the index untagged 8 days ago': oldIndex.digest,
      'its platform manifests': oldIndex.children[0]!.digest,
      'its other platform manifest': oldIndex.children[1]!.digest,
      'an image pushed by digest 8 days ago': byDigest.digest,
      'a referrer of that image': orphanSignature.digest,
    }, false);
    await expectPresent({
      'a tagged image': tagged.digest,
      'a referrer of a tagged image': taggedSignature.digest,
      'the image the tag moved to': replacing.digest,
      'a tagged index': multi.digest,
      'its untagged platform manifests': multi.children[0]!.digest,
      'its other untagged platform manifest': multi.children[1]!.digest,
      'a referrer of a platform manifest of a tagged index': platformSignature.digest,
      'a referrer of that referrer': signatureOfSignature.digest,
      'an image pushed 8 days ago whose tag was deleted today': untaggedNow.digest,
      'an image pushed by digest today': freshByDigest.digest,
      'an image pushed 8 days ago whose tag moved away today': movedLater.digest,
      'the image that tag moved to': movedOnto.digest,
    }, true);

    // The deletes are the node's own writes: local, by `retention`, each with its change-log row.
    const mine = deletedEvents.filter((e) => e.repository === 'app');
    assert.equal(mine.length, 6);
    assert.ok(mine.every((e) => e.origin === 'local' && e.actor === 'retention' && e.seq !== null));
    const rows = await root.node.node.metadata.changesSince(mine[0]!.seq! - 1, 100);
    assert.deepEqual(rows.filter((r) => r.kind === 'manifest-delete').map((r) => r.digest).sort(), mine.map((e) => e.digest).sort());
    // The index went before what it listed (the store refuses the reverse).
    const order = mine.map((e) => e.digest);
    assert.ok(order.indexOf(oldIndex.digest) < order.indexOf(oldIndex.children[0]!.digest));

    // Eight more days: what was untagged or pushed on day 8 has expired too.
    clock.advance(8 * DAY_MS);
    await runRetention();
    await expectPresent({ untaggedNow: untaggedNow.digest, freshByDigest: freshByDigest.digest, movedLater: movedLater.digest }, false);
    await expectPresent({
      tagged: tagged.digest, taggedSignature: taggedSignature.digest, replacing: replacing.digest, multi: multi.digest,
      platform: multi.children[1]!.digest, signatureOfSignature: signatureOfSignature.digest, movedOnto: movedOnto.digest,
    }, true);
  });

  test('days 0 deletes an untagged manifest at the first run past the grace period', async () => {
    await mustMgmt(root.admin, 'PATCH', '/config/retention', { days: 0 });
    const image = await pushImage(root.admin, 'zero', 'now');
    assert.equal((await root.admin.request('DELETE', '/mgmt/v1/repositories/zero/tags/now')).status, 204);
    const kept = await pushImage(root.admin, 'zero', 'stays');
    await runRetention();
    assert.equal((await getManifest(root.admin, 'zero', image.digest)).status, 200, 'just untagged: within the grace period');
    clock.advance(RETENTION_GRACE_MS + 1000);
    await runRetention();
    assert.equal((await getManifest(root.admin, 'zero', image.digest)).status, 404);
    assert.equal((await getManifest(root.admin, 'zero', kept.digest)).status, 200);
  });

  test('a disabled policy deletes nothing, however old; its days are kept', async () => {
    assert.deepEqual(await mustMgmt(root.admin, 'PATCH', '/config/retention', { status: 'disabled' }),
      { days: 0, lastUpdatedTime: new Date(clock.now()).toISOString(), status: 'disabled' });
    const image = await pushImage(root.admin, 'off', null);
    clock.advance(400 * DAY_MS);
    const run = await runRetention();
    assert.equal(run.enabled, false);
    assert.equal((await getManifest(root.admin, 'off', image.digest)).status, 200);
  });
});
