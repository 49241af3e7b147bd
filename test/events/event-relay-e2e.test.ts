import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import type { SqliteMetadataStore, StoredNotificationEvent } from '../../src/metadata/index.js';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';
import { createConnectedRegistry, showAtRoot, startEdge, tagDigest, waitFor } from '../helpers/hierarchy.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { FAST_SYNC, LinkProxy, edgeStore, viaEndpoint } from '../sync/sync-fixture.js';

/**
 * Notification events travel up the hierarchy (docs/architecture.md, "How events travel up"):
 * each edge records its own clients' pushes and deletes as its notificationsList selects them,
 * keeps them through outages and restarts, and relays them to its parent, which relays them on
 * to the root; the root delivers each event once to its webhooks, with the edge's name. The
 * push-back of an edge's write lands at the root as a write too: that copy is not delivered.
 * Real nodes in this process, a real receiver, a TCP proxy standing for a link to cut.
 */

function notificationsOf(node: TestNode): SqliteMetadataStore['notifications'] {
  return (node.node.metadata as SqliteMetadataStore).notifications;
}

async function storedEvents(node: TestNode): Promise<StoredNotificationEvent[]> {
  return notificationsOf(node).eventsAfter(0, 1000);
}

/** What a delivered payload says, in short: `action repository[:tag] @connected-registry`. */
function summary(body: Record<string, unknown>): string {
  const target = body.target as { repository: string; tag?: string };
  const cr = (body.connectedregistry as { name: string } | undefined)?.name ?? 'root';
  return `${String(body.action)} ${target.repository}${target.tag ? `:${target.tag}` : ''} @${cr}`;
}

describe('notification events from edges reach the root webhook, each once', () => {
  let root: TestNode;
  let admin: TestClient;
  let receiver: WebhookReceiver;
  const closing: Array<() => Promise<void>> = [];

  before(async () => {
    root = await startTestNode();
    admin = new TestClient(root.url);
    receiver = await WebhookReceiver.start();
    const created = await mgmt(admin, 'POST', '/webhooks', { name: 'allevents', serviceUri: receiver.url, actions: ['push', 'delete'] });
    assert.equal(created.status, 201, JSON.stringify(created.json));
  });

  after(async () => {
    for (const close of closing.reverse()) await close();
    await root?.close();
    await receiver?.close();
  });

  /**
   * Pushes `app:sentinel-<n>` at the root and waits for its delivery: the root records its own
   * writes in order, so every write before it (the edges' push-backs) has been looked at by then.
   */
  let sentinels = 0;
  async function sentinel(): Promise<string> {
    sentinels += 1;
    const tag = `sentinel-${sentinels}`;
    const before = receiver.received.length;
    await admin.pushImage('app', tag);
    await waitFor(`${tag} delivered`, async () => receiver.received.slice(before).some((r) => summary(r.body) === `push app:${tag} @root`));
    return tag;
  }

  test('an edge cut off from its parent keeps its events through a restart and delivers all of them, each once, when it is back', async () => {
    const link = await LinkProxy.start(root.url);
    closing.push(() => link.close());
    const cr = await createConnectedRegistry(admin, { name: 'edgeoffline', mode: 'ReadWrite', repositories: ['app'], notifications: ['*:*'], logLevel: 'None' });
    let edge = await startEdge(viaEndpoint(cr.connectionString, link.endpoint), { app: FAST_SYNC });
    const dataDir = edge.dataDir;
    closing.push(async () => {
      await edge.node.close();
      await rm(dataDir, { recursive: true, force: true });
    });
    await waitFor('the first sync', async () => (await edgeStore(edge).getCursor()) !== null);
    await sentinel();
    const start = receiver.received.length;

    link.cut();
    await waitFor('the agent sees the link down', async () => edge.node.agent!.currentState === 'Offline');
    const atEdge = new TestClient(edge.url);
    const pushed: Array<{ digest: string }> = [];
    const edgeHost = new URL(edge.url).host;
    for (let i = 1; i <= 5; i++) pushed.push(await atEdge.pushImage('app', `offline-${i}`));
    assert.equal((await atEdge.request('DELETE', '/v2/app/manifests/offline-5')).status, 202);
    await waitFor('six events stored at the edge', async () => (await storedEvents(edge)).length === 6);

    // A restart while cut off: the events are in the edge's database, not in memory.
    await edge.node.close();
    edge = await startEdge(viaEndpoint(cr.connectionString, link.endpoint), { dataDir, app: FAST_SYNC });
    assert.equal((await storedEvents(edge)).length, 6);
    assert.equal(receiver.received.length, start, 'nothing reached the root while the link was down');

    link.restore();
    await receiver.waitFor(start + 6, 30_000);
    await waitFor('the last push-back at the root', async () => (await tagDigest(admin, 'app', 'offline-4')) === pushed[3]!.digest, 30_000);
    await waitFor('the edge relayed everything', async () => {
      const events = await storedEvents(edge);
      return (await notificationsOf(edge).relayMark()) === events[events.length - 1]!.position;
    });
    await sentinel();

    const fromEdge = receiver.received.slice(start).filter((r) => (r.body.connectedregistry as { name?: string } | undefined)?.name === 'edgeoffline');
    assert.deepEqual(fromEdge.map((r) => summary(r.body)), [
      ...[1, 2, 3, 4, 5].map((i) => `push app:offline-${i} @edgeoffline`), 'delete app:offline-5 @edgeoffline',
    ]);
    const ids = fromEdge.map((r) => String(r.body.id));
    assert.equal(new Set(ids).size, 6, 'each event delivered once');
    assert.deepEqual(ids, (await storedEvents(edge)).map((e) => e.id), 'with the ids the edge gave them');
    // The push-backs landed at the root as writes of the edge's sync token: not delivered again.
    const atRoot = receiver.received.slice(start).map((r) => summary(r.body));
    assert.deepEqual(atRoot.filter((s) => s.endsWith('@root')), [`push app:sentinel-${sentinels} @root`]);
    assert.equal(fromEdge[0]!.body.request !== undefined, true);
    assert.equal((fromEdge[0]!.body.request as { host: string }).host, edgeHost, "the request is the edge client's");
  });

  test("a level-2 edge's push reaches the root's webhook through its parent; each edge notifies what its own list selects", async () => {
    const site = await createConnectedRegistry(admin, { name: 'sitemain', mode: 'ReadWrite', repositories: ['app', 'lab/*'], notifications: ['lab/*:delete'], logLevel: 'None' });
    const siteNode = await startEdge(site.connectionString, { app: FAST_SYNC });
    closing.push(() => siteNode.close());
    await waitFor('the site to report its login server', async () => (await showAtRoot(admin, 'sitemain')).loginServer);
    const lab = await createConnectedRegistry(admin, {
      name: 'labnode', mode: 'ReadWrite', parent: 'sitemain', repositories: ['app', 'lab/*'], notifications: ['lab/*:push', 'app:*:delete'], logLevel: 'None',
    });
    // The site lets the lab in once its config from the root carries the lab's sync token and password.
    await waitFor("the lab's sync token at the site", async () => (await siteNode.node.identities.getToken(lab.tokenName))?.password1 ?? null);
    const labNode = await startEdge(lab.connectionString, { app: FAST_SYNC });
    closing.push(() => labNode.close());
    await waitFor('the lab to sync', async () => (await edgeStore(labNode).getCursor()) !== null);
    const start = receiver.received.length;

    const atLab = new TestClient(labNode.url);
    const atSite = new TestClient(siteNode.url);
    const built = await atLab.pushImage('lab/tool', 'v1');
    await atLab.pushImage('app', 'from-lab'); // a push of app: the lab's list has only deletes of app
    await atSite.pushImage('lab/site-tool', 'v1'); // a push at the site: its list has only deletes
    assert.equal((await atSite.request('DELETE', '/v2/lab/site-tool/manifests/v1')).status, 202);

    await waitFor('lab/tool:v1 pushed back to the root', async () => (await tagDigest(admin, 'lab/tool', 'v1')) === built.digest, 30_000);
    await waitFor('the lab and the site relayed everything', async () => {
      for (const node of [labNode, siteNode]) {
        const events = await storedEvents(node);
        if (events.length === 0 || (await notificationsOf(node).relayMark()) !== events[events.length - 1]!.position) return false;
      }
      return true;
    }, 30_000);
    await waitFor('both events delivered', async () => receiver.received.length >= start + 2);
    await sentinel();
    const delivered = receiver.received.slice(start).map((r) => summary(r.body)).filter((s) => !s.includes('sentinel'));
    assert.deepEqual(delivered.sort(), ['delete lab/site-tool:v1 @sitemain', 'push lab/tool:v1 @labnode']);
    const fromLab = receiver.received.slice(start).find((r) => summary(r.body) === 'push lab/tool:v1 @labnode')!;
    assert.equal((fromLab.body.target as { digest: string }).digest, built.digest);
    assert.equal((fromLab.body.request as { host: string }).host, new URL(labNode.url).host);
    // The site stored the lab's event (received from its child) and its own delete.
    const atSiteEvents = await storedEvents(siteNode);
    assert.deepEqual(atSiteEvents.map((e) => [e.connectedRegistry, e.receivedFrom, e.action]).sort(), [['labnode', 'labnode', 'push'], ['sitemain', null, 'delete']]);
  });
});
