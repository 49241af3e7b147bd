import { test, describe, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tagDigest, waitFor } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { ManualClock } from '../../src/core/clock.js';
import {
  FAST_SYNC, GateProxy, blobFile, detailsAtRoot, edgeStore, getManifest, pushImage, startGatedEdge, type GatedEdge, type Root,
} from './sync-fixture.js';

/**
 * Push-back tells a local failure from the parent's answer (docs/architecture.md, "Outbox"): a
 * local write the edge cannot read back (a blob missing here) is never marked pushed — it is
 * parked, retried with backoff, reported at the root, and does not block later writes — while a
 * write the parent refuses for good is marked and reported at the root with what it was
 * (repository, tag or digest, the parent's code), every recent one, not only the last.
 */
describe('push-back: local failures and the parent\'s refusals', () => {
  const clock = new ManualClock(Date.now());
  let gated: GatedEdge;
  let root: Root;
  let gate: GateProxy;
  let edge: TestNode;
  let atEdge: TestClient;

  before(async () => {
    gated = await startGatedEdge('edgepushfail', 'ReadWrite', { ...FAST_SYNC, clock });
    ({ root, gate, edge, atEdge } = gated);
  });

  afterEach(() => gate.releaseAll());

  after(async () => {
    await gated?.close();
  });

  const drained = async (): Promise<boolean> => (await edgeStore(edge).outboxSize()) === 0;

  test('a local write whose blob is missing here is parked and reported, not marked pushed; later writes go up; it goes up once the blob is back', async () => {
    // The outbox is held at its first question to the parent, while the layer vanishes here.
    const held = gate.rule((method, path) => method === 'HEAD' && path.includes('/v2/app/blobs/'), 'hold');
    const image = await pushImage(atEdge, 'app', 'local-broken');
    await waitFor('the drain at the parent', async () => held.matched >= 1);
    const file = blobFile(edge, image.blobs[1]!);
    const bytes = await readFile(file);
    await rm(file);
    held.release();

    const later = await pushImage(atEdge, 'app', 'after-local-failure');
    await waitFor('the later write at the root', async () => (await tagDigest(root.admin, 'app', 'after-local-failure')) === later.digest);
    assert.equal((await getManifest(root.admin, 'app', image.digest)).status, 404, 'the broken write never reached the parent');
    assert.ok((await edgeStore(edge).outboxSize()) > 0, 'the failed write was marked pushed');
    const detail = await waitFor('the local failure at the root', async () =>
      (await detailsAtRoot(root, 'edgepushfail')).find((d) => d.type === 'OutboxItemFailed' && d.digest === image.digest));
    assert.equal(detail.code, 'BLOB_UNKNOWN');
    assert.equal(detail.repository, 'app');
    assert.ok(!(await detailsAtRoot(root, 'edgepushfail')).some((d) => d.type === 'OutboxRejected'), 'a local failure reported as the parent\'s refusal');

    // The blob comes back (a client pushes it again): the retry carries the write up.
    await writeFile(file, bytes);
    await waitFor('the parked write at the root', async () => {
      clock.advance(30_000);
      return (await tagDigest(root.admin, 'app', 'local-broken')) === image.digest && (await drained());
    });
    await waitFor('the detail cleared at the root', async () =>
      !(await detailsAtRoot(root, 'edgepushfail')).some((d) => d.type === 'OutboxItemFailed'));
  });

  test('a local write whose manifest bytes are gone here is parked too; it does not end the session', async () => {
    // A first write holds the drain at the link while the second one's manifest file vanishes.
    const held = gate.rule((method, path) => method === 'HEAD' && path.includes('/v2/app/blobs/'), 'hold');
    const first = await pushImage(atEdge, 'app', 'first-of-two');
    await waitFor('the drain at the parent', async () => held.matched >= 1);
    const second = await pushImage(atEdge, 'app', 'second-of-two');
    const file = blobFile(edge, second.digest);
    const bytes = await readFile(file);
    await rm(file);
    const activations = (): number => gate.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/activate')).length;
    const before = activations();
    held.release();
    const third = await pushImage(atEdge, 'app', 'third-of-two');
    await waitFor('the first and third writes at the root', async () =>
      (await tagDigest(root.admin, 'app', 'first-of-two')) === first.digest && (await tagDigest(root.admin, 'app', 'third-of-two')) === third.digest);
    const detail = await waitFor('the local failure at the root', async () =>
      (await detailsAtRoot(root, 'edgepushfail')).find((d) => d.type === 'OutboxItemFailed' && d.digest === second.digest));
    assert.equal(detail.code, 'BLOB_UNKNOWN');
    assert.equal(activations(), before, 'the session ended and started over');
    await writeFile(file, bytes);
    await waitFor('the parked write at the root', async () => {
      clock.advance(30_000);
      return (await tagDigest(root.admin, 'app', 'second-of-two')) === second.digest && (await drained());
    });
  });

  test('writes the parent refuses for good are marked, and each is reported at the root with its repository, reference and code', async () => {
    const refuse = gate.rule((method, path) => method === 'PUT' && /\/v2\/app\/manifests\/refused-[ab]$/.test(path), { status: 400, code: 'MANIFEST_INVALID' });
    const a = await pushImage(atEdge, 'app', 'refused-a');
    const b = await pushImage(atEdge, 'app', 'refused-b');
    await waitFor('the outbox drained', drained);
    assert.equal(refuse.matched, 2);
    const details = await waitFor('both refusals at the root', async () => {
      const shown = (await detailsAtRoot(root, 'edgepushfail')).filter((d) => d.type === 'OutboxRejected');
      return shown.length >= 2 ? shown : null;
    });
    for (const [tag, image] of [['refused-a', a], ['refused-b', b]] as const) {
      const detail = details.find((d) => d.tag === tag);
      assert.ok(detail, `no detail for ${tag}: ${JSON.stringify(details)}`);
      assert.equal(detail.repository, 'app');
      assert.equal(detail.digest, image.digest);
      assert.equal(detail.code, 'MANIFEST_INVALID');
    }
    refuse.release();
  });
});
