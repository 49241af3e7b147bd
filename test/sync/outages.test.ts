import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { tagDigest, waitFor } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { LinkProxy, pushImage, type Root, startLinkedEdge, type LinkedEdge } from './sync-fixture.js';

/**
 * Outages of the link to the parent (docs/architecture.md, "Start"): the agent retries with a
 * growing wait while the parent is unreachable, but an outage after a healthy stretch starts the
 * waits over — else each outage in a node's life would be followed by a longer silence than the
 * last. The waits themselves, on the manual clock: session-runner.test.ts.
 */
describe('outages of the link to the parent', () => {
  let linked: LinkedEdge;
  let root: Root;
  let link: LinkProxy;
  let atEdge: TestClient;
  let edge: TestNode;

  before(async () => {
    linked = await startLinkedEdge('edgeoutages', 'ReadOnly', { synced: true });
    ({ root, link, atEdge, edge } = linked);
  });

  after(async () => {
    await linked?.close();
  });

  test('after each outage that follows a healthy stretch, sync resumes within about a second of the link coming back', async () => {
    for (let outage = 1; outage <= 3; outage++) {
      await sleep(1_100); // a healthy stretch, longer than the wait before the retry after the last outage
      link.cut();
      await waitFor('the agent sees the link down', async () => edge.node.agent!.currentState === 'Offline');
      const down = await pushImage(root.admin, 'app', `after-outage-${outage}`);
      link.restore();
      const back = Date.now();
      await waitFor(`app:after-outage-${outage} at the edge`, async () => (await tagDigest(atEdge, 'app', `after-outage-${outage}`)) === down.digest, 20_000);
      const took = Date.now() - back;
      assert.ok(took < 1_500, `outage ${outage}: sync resumed ${took} ms after the link came back`);
    }
  });
});
