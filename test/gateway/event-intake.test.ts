import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { SqliteMetadataStore } from '../../src/metadata/index.js';
import type { EventBatchAck, EventDoc } from '../../src/client/gateway-protocol.js';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient } from '../helpers/oci-client.js';
import { errorCodeOf, mgmt } from '../helpers/management-calls.js';
import { createConnectedRegistry, tokenClient, waitFor, type CreatedRegistry } from '../helpers/hierarchy.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * `POST /gateway/v1/<cr>/events` (client/gateway-protocol.ts): what a child — a hostile one
 * included — can and cannot make its parent store. Only events made at itself or below it, every
 * field bounded, a bounded batch, from the instance holding the activation; each event id once.
 */
describe('gateway: event intake from a child', () => {
  let root: TestNode;
  let admin: TestClient;
  let child: CreatedRegistry;
  let sibling: CreatedRegistry;
  let asChild: TestClient;
  let receiver: WebhookReceiver;
  const INSTANCE = 'instance-child-1';

  function doc(extra: Partial<EventDoc> = {}): EventDoc {
    return {
      id: randomUUID(), timestamp: '2026-03-01T10:00:00.000Z', action: 'push', repository: 'app', tag: 'v1', digest: `sha256:${'a'.repeat(64)}`,
      mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 100, request: { id: 'r', host: 'edge:1', method: 'PUT', useragent: 'ua' },
      connectedRegistry: 'childone', ...extra,
    };
  }

  async function post(client: TestClient, name: string, body: unknown): Promise<{ status: number; json: unknown }> {
    const res = await client.request('POST', `/gateway/v1/${name}/events`, { body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
    const text = await res.text();
    return { status: res.status, json: text === '' ? null : JSON.parse(text) };
  }

  async function storedIds(): Promise<string[]> {
    return (await (root.node.metadata as SqliteMetadataStore).notifications.eventsAfter(0, 10_000)).map((e) => e.id);
  }

  before(async () => {
    root = await startTestNode();
    admin = new TestClient(root.url);
    child = await createConnectedRegistry(admin, { name: 'childone', mode: 'ReadWrite', repositories: ['app'] });
    sibling = await createConnectedRegistry(admin, { name: 'siblingone', mode: 'ReadWrite', repositories: ['app'] });
    assert.equal((await mgmt(admin, 'POST', '/connected-registries', { name: 'grandkid', parent: 'childone', mode: 'ReadWrite', repositories: ['app'] })).status, 201);
    asChild = tokenClient(root.url, child.tokenName, child.tokenPassword);
    const activated = await asChild.request('POST', '/gateway/v1/childone/activate', { body: JSON.stringify({ instanceId: INSTANCE, version: 'test' }), headers: { 'Content-Type': 'application/json' } });
    assert.equal(activated.status, 200);
    receiver = await WebhookReceiver.start();
    assert.equal((await mgmt(admin, 'POST', '/webhooks', { name: 'intakehook', serviceUri: receiver.url, actions: ['push', 'delete'] })).status, 201);
  });

  after(async () => {
    await root?.close();
    await receiver?.close();
  });

  test("a child's events and its descendants' are stored once each, and delivered once each with their registry's name", async () => {
    const own = doc();
    const below = doc({ connectedRegistry: 'grandkid', action: 'delete', tag: null, mediaType: null, size: null, request: null });
    const first = await post(asChild, 'childone', { instanceId: INSTANCE, events: [own, below, own] });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.deepEqual(first.json, { accepted: 2, duplicates: 1, refused: [] } satisfies EventBatchAck);
    const again = await post(asChild, 'childone', { instanceId: INSTANCE, events: [below, own] });
    assert.deepEqual(again.json, { accepted: 0, duplicates: 2, refused: [] }, 'a batch sent again (its answer lost) is stored once');
    await receiver.waitFor(2);
    await waitFor('both delivered', async () => ((await mgmt(admin, 'GET', '/webhooks/intakehook')).json as { deliveries: { delivered: number } }).deliveries.delivered === 2);
    assert.deepEqual(receiver.received.map((r) => [r.body.id, (r.body.connectedregistry as { name: string }).name]), [[own.id, 'childone'], [below.id, 'grandkid']]);
    const stored = await (root.node.metadata as SqliteMetadataStore).notifications.getEvent(below.id);
    assert.equal(stored!.receivedFrom, 'childone');
    assert.equal(stored!.connectedRegistry, 'grandkid');
  });

  test('a hostile child cannot speak for others nor pass bad fields: those events are refused one by one, the rest taken', async () => {
    const good = doc();
    const bad: Array<[unknown, RegExp]> = [
      [doc({ connectedRegistry: 'siblingone' }), /not 'childone' nor below it/],
      [doc({ connectedRegistry: 'nosuchregistry' }), /not 'childone' nor below it/],
      [doc({ connectedRegistry: '' }), /connectedRegistry/],
      [doc({ id: 'has space' }), /^id must be/],
      [doc({ id: 'x'.repeat(65) }), /^id must be/],
      [doc({ timestamp: 'yesterday' }), /timestamp/],
      [doc({ action: 'pull' as 'push' }), /action/],
      [doc({ repository: 'Bad Repo' }), /repository/],
      [doc({ tag: '-bad' }), /tag/],
      [doc({ digest: 'sha256:xyz' }), /digest/],
      [doc({ size: -1 }), /size/],
      [doc({ size: 1.5 }), /size/],
      [doc({ mediaType: 'm'.repeat(256) }), /mediaType/],
      [doc({ request: { id: 'r', host: 'h', method: 'put', useragent: 'u' } }), /request.method/],
      [doc({ request: { id: 'r', host: 'h', method: 'PUT', useragent: 'u'.repeat(513) } }), /request.useragent/],
      ['not an object', /JSON object/],
    ];
    const answer = await post(asChild, 'childone', { instanceId: INSTANCE, events: [...bad.map(([e]) => e), good] });
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    const ack = answer.json as EventBatchAck;
    assert.equal(ack.accepted, 1);
    assert.equal(ack.refused.length, bad.length);
    ack.refused.forEach((r, i) => {
      assert.equal(r.code, 'REQUEST_INVALID');
      assert.match(r.message, bad[i]![1], JSON.stringify(bad[i]![0]).slice(0, 100));
    });
    const ids = await storedIds();
    assert.ok(ids.includes(good.id));
    for (const [e] of bad) if (typeof e === 'object' && e !== null) assert.ok(!ids.includes((e as EventDoc).id), 'a refused event is not stored');
  });

  test('a batch that cannot be read is 400 as a whole and nothing of it is stored; a batch over the bound too', async () => {
    const before = await storedIds();
    const batches: unknown[] = [
      [doc()],
      { events: [doc()] },
      { instanceId: '', events: [doc()] },
      { instanceId: INSTANCE, events: 'all' },
      { instanceId: INSTANCE },
      { instanceId: INSTANCE, events: Array.from({ length: 101 }, () => doc()) },
    ];
    for (const batch of batches) {
      const answer = await post(asChild, 'childone', batch);
      assert.equal(answer.status, 400, JSON.stringify(batch).slice(0, 100));
      assert.equal(errorCodeOf(answer), 'REQUEST_INVALID');
    }
    assert.equal((await post(asChild, 'childone', '{"instanceId":')).status, 400);
    const huge = await post(asChild, 'childone', { instanceId: INSTANCE, events: [doc({ request: { id: 'r', host: 'h', method: 'PUT', useragent: 'u' } })], padding: 'x'.repeat(2 * 1024 * 1024) });
    assert.equal(huge.status, 400, 'the body limit (1 MiB) bounds a request');
    assert.equal(errorCodeOf(huge), 'SIZE_INVALID');
    assert.deepEqual(await storedIds(), before);
  });

  test('only from the instance holding the activation (409), only to its own parent (404), only with its own token (403)', async () => {
    const before = await storedIds();
    const stale = await post(asChild, 'childone', { instanceId: 'another-instance', events: [doc()] });
    assert.equal(stale.status, 409);
    assert.equal(errorCodeOf(stale), 'ALREADY_ACTIVATED');
    const notActive = await post(tokenClient(root.url, sibling.tokenName, sibling.tokenPassword), 'siblingone', { instanceId: 'x', events: [doc({ connectedRegistry: 'siblingone' })] });
    assert.equal(notActive.status, 409, 'a registry never activated');
    assert.equal((await post(admin, 'grandkid', { instanceId: 'x', events: [doc({ connectedRegistry: 'grandkid' })] })).status, 404, 'a grandchild talks to its own parent');
    assert.equal((await post(tokenClient(root.url, sibling.tokenName, sibling.tokenPassword), 'childone', { instanceId: INSTANCE, events: [doc()] })).status, 403);
    assert.equal((await post(new TestClient(root.url, null), 'childone', { instanceId: INSTANCE, events: [doc()] })).status, 401);
    assert.deepEqual(await storedIds(), before);
  });
});
