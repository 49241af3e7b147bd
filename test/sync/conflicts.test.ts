import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { tagDigest, waitFor } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { LinkProxy, edgeStore, getManifest, listTags, mustMgmt, pushImage, type Root, startLinkedEdge, type LinkedEdge } from './sync-fixture.js';

/**
 * Tag conflicts on a ReadWrite edge (docs/architecture.md, "Connected node and sync agent": read-your-writes): a child never lets an older parent message
 * overwrite a local write still waiting in its outbox; once that write has reached the parent,
 * the parent's order wins and both sides converge. The edge reaches the root through a proxy the
 * test cuts, so the conflict is made on purpose, not by a race.
 */
describe('tag conflicts between a ReadWrite edge and its parent', () => {
  let linked: LinkedEdge;
  let root: Root;
  let link: LinkProxy;
  let edge: TestNode;
  let atEdge: TestClient;

  before(async () => {
    linked = await startLinkedEdge('edgeconflict', 'ReadWrite', {});
    ({ root, link, edge, atEdge } = linked);
  });

  after(async () => {
    await linked?.close();
  });

  const both = async (tag: string): Promise<[string | null, string | null]> => [await tagDigest(root.admin, 'app', tag), await tagDigest(atEdge, 'app', tag)];

  test('the edge keeps its local write of a tag the parent moved meanwhile until it is pushed; then both agree on the parent\'s order', async () => {
    const first = await pushImage(root.admin, 'app', 't');
    await waitFor('app:t at the edge', async () => (await tagDigest(atEdge, 'app', 't')) === first.digest);

    link.cut();
    const local = await pushImage(atEdge, 'app', 't');
    const parent = await pushImage(root.admin, 'app', 't');
    assert.deepEqual(await both('t'), [parent.digest, local.digest]);
    const store = edgeStore(edge);
    assert.ok((await store.outboxSize()) > 0);

    // Watch the edge while the link comes back: it may show the parent's digest only once its
    // own write has left the outbox (the tag is read first, the outbox after: a pending outbox
    // after seeing the parent's digest means it was pending then too).
    let watching = true;
    let samples = 0;
    const violations: string[] = [];
    const watcher = (async () => {
      while (watching) {
        samples += 1;
        const seen = await store.resolveTag('app', 't');
        const pending = await store.outboxSize();
        if (seen === parent.digest && pending > 0) violations.push(`parent digest shown with ${pending} local write(s) pending`);
        await tick();
      }
    })();
    link.restore();
    // The parent accepted its own move first and the edge's write after: the edge's wins.
    await waitFor('both on the local write', async () => {
      const [atRoot, here] = await both('t');
      return atRoot === local.digest && here === local.digest && (await store.outboxSize()) === 0;
    }, 10_000);
    watching = false;
    await watcher;
    assert.deepEqual(violations, []);
    assert.ok(samples > 10, `the watcher looked ${samples} times`);
    // The parent's history has both writes, in that order: its move, then the edge's.
    const parentManifest = await root.admin.request('HEAD', `/v2/app/manifests/${parent.digest}`, { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(parentManifest.status, 200);
  });

  test('once the local write is pushed, a later move at the parent wins at the edge', async () => {
    const later = await pushImage(root.admin, 'app', 't');
    await waitFor('the parent\'s later move at the edge', async () => {
      const [atRoot, here] = await both('t');
      return atRoot === later.digest && here === later.digest;
    });
  });

  test('a move at the edge while the link is up reaches the parent, and a tag delete at the edge too', async () => {
    const moved = await pushImage(atEdge, 'app', 't');
    await waitFor('the edge\'s move at the root', async () => {
      const [atRoot, here] = await both('t');
      return atRoot === moved.digest && here === moved.digest;
    });
    await pushImage(atEdge, 'app', 'scratch');
    await waitFor('app:scratch at the root', async () => (await tagDigest(root.admin, 'app', 'scratch')) !== null);
    assert.equal((await atEdge.request('DELETE', '/v2/app/manifests/scratch')).status, 202);
    await waitFor('app:scratch deleted at the root', async () => (await tagDigest(root.admin, 'app', 'scratch')) === null);
  });

  test('a tag deleted at the edge while the parent moves it: the delete is kept until pushed, then the parent\'s order (delete last) wins', async () => {
    const before = await pushImage(root.admin, 'app', 'd');
    await waitFor('app:d at the edge', async () => (await tagDigest(atEdge, 'app', 'd')) === before.digest);
    link.cut();
    assert.equal((await atEdge.request('DELETE', '/v2/app/manifests/d')).status, 202);
    const moved = await pushImage(root.admin, 'app', 'd');
    assert.deepEqual(await both('d'), [moved.digest, null]);
    link.restore();
    await waitFor('both without app:d', async () => {
      const [atRoot, here] = await both('d');
      return atRoot === null && here === null && (await edgeStore(edge).outboxSize()) === 0;
    }, 10_000);
  });

  test('a manifest deleted at the edge while the parent tags it again: not brought back while the delete is pending; deleted at both after', async () => {
    const image = await pushImage(root.admin, 'app', 'm1');
    await waitFor('app:m1 at the edge', async () => (await tagDigest(atEdge, 'app', 'm1')) === image.digest);
    link.cut();
    // A big local write ahead of the delete in the outbox gives the pull time to see the parent's tag first.
    await pushImage(atEdge, 'app', 'bulky', { layers: [randomBytes(16 * 1024 * 1024)] });
    assert.equal((await atEdge.request('DELETE', `/v2/app/manifests/${image.digest}`)).status, 202);
    assert.equal((await root.admin.putManifest('app', 'm2', image.body)).status, 201);
    const store = edgeStore(edge);
    let watching = true;
    const violations: string[] = [];
    const watcher = (async () => {
      while (watching) {
        const present = (await store.getManifest('app', image.digest)) !== null;
        const pending = await store.outboxSize();
        if (present && pending > 0) violations.push(`the manifest came back with ${pending} local write(s) pending`);
        await tick();
      }
    })();
    link.restore();
    // The parent tagged it (m2) before it got the edge's delete: deleted last, it is gone at both.
    await waitFor('deleted at both', async () => (await store.outboxSize()) === 0
      && (await getManifest(root.admin, 'app', image.digest)).status === 404 && (await getManifest(atEdge, 'app', image.digest)).status === 404, 10_000);
    watching = false;
    await watcher;
    assert.deepEqual(violations, []);
    assert.equal(await tagDigest(atEdge, 'app', 'm2'), null);
  });

  test('a repository deleted at the parent while the edge has a pending write in it: both end with only that write', async () => {
    const a = await pushImage(root.admin, 'app', 'r-a');
    await waitFor('app:r-a at the edge', async () => (await tagDigest(atEdge, 'app', 'r-a')) === a.digest);
    link.cut();
    const local = await pushImage(atEdge, 'app', 'r-local');
    await mustMgmt(root.admin, 'DELETE', '/repositories/app');
    link.restore();
    // The parent deleted the repository, then took the edge's push: only that write is left.
    await waitFor('the edge\'s write at the parent', async () => (await tagDigest(root.admin, 'app', 'r-local')) === local.digest
      && (await edgeStore(edge).outboxSize()) === 0, 10_000);
    assert.deepEqual(await listTags(root.admin, 'app'), ['r-local']);
    await waitFor('the edge converges', async () => JSON.stringify(await listTags(atEdge, 'app')) === JSON.stringify(['r-local']), 5_000);
  });
});

