import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import type { EventOf } from '../../src/core/events.js';
import { MAX_ATTEMPTS, retryDelayMs } from '../../src/events/webhook-delivery.js';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { OCI_MANIFEST, TestClient } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';
import { waitFor } from '../helpers/hierarchy.js';

/**
 * Webhook delivery at the root (docs/observability.md, "Webhooks and notifications"): a real
 * root on a manual clock, real receivers on loopback. Retries wait on the node's clock, so the
 * tests move it instead of sleeping, and wait for each attempt on the bus.
 */

type Attempted = EventOf<'webhook-attempted'>;

/** Resolves with the next `count` webhook attempts recorded at `node` (for `webhook`, when given). */
function nextAttempts(node: TestNode, count: number, webhook?: string): Promise<Attempted[]> {
  const seen: Attempted[] = [];
  return new Promise((resolve) => {
    const unsubscribe = node.node.events.subscribe(['webhook-attempted'], (event) => {
      if (webhook !== undefined && event.webhook !== webhook) return;
      seen.push(event);
      if (seen.length === count) {
        unsubscribe();
        resolve(seen);
      }
    });
  });
}

/** Resolves once `count` notification events have been recorded at `node`. */
function recorded(node: TestNode, count: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    const unsubscribe = node.node.events.subscribe(['notifications-recorded'], (event) => {
      seen += event.count;
      if (seen >= count) {
        unsubscribe();
        resolve();
      }
    });
  });
}

async function createWebhook(admin: TestClient, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const answer = await mgmt(admin, 'POST', '/webhooks', body);
  assert.equal(answer.status, 201, JSON.stringify(answer.json));
  return answer.json as Record<string, unknown>;
}

async function history(admin: TestClient, name: string): Promise<Array<Record<string, unknown>>> {
  const answer = await mgmt(admin, 'GET', `/webhooks/${name}/events`);
  assert.equal(answer.status, 200, JSON.stringify(answer.json));
  return answer.json as Array<Record<string, unknown>>;
}

describe('webhook delivery at the root (manual clock, real receivers)', () => {
  const clock = new ManualClock(Date.parse('2026-03-01T10:00:00Z'));
  let root: TestNode;
  let admin: TestClient;
  const receivers: WebhookReceiver[] = [];
  const receiver = async (plan: Array<number | 'hold'> = []): Promise<WebhookReceiver> => {
    const r = await WebhookReceiver.start(plan);
    receivers.push(r);
    return r;
  };

  before(async () => {
    root = await startTestNode({ app: { clock, webhookTimeoutMs: 5_000 } });
    admin = new TestClient(root.url);
  });

  after(async () => {
    await root?.close();
    for (const r of receivers) await r.close();
  });

  test('a receiver that fails twice, then answers 200, gets the push once; the history shows the three attempts', async () => {
    const hook = await receiver([500, 503]);
    await createWebhook(admin, { name: 'retrying', serviceUri: hook.url, actions: ['push'], customHeaders: { 'X-Env': 'test' } });
    const first = nextAttempts(root, 1, 'retrying');
    const image = await admin.pushImage('retry/app', 'v1');
    assert.equal((await first)[0]!.outcome, 'retrying');
    assert.equal((await first)[0]!.status, 500);

    // The retry waits for the node's clock: nothing more arrives until it moves.
    assert.equal(hook.received.length, 1);
    const second = nextAttempts(root, 1, 'retrying');
    clock.advance(retryDelayMs(1));
    assert.deepEqual((await second).map((a) => [a.attempt, a.outcome, a.status]), [[2, 'retrying', 503]]);
    const third = nextAttempts(root, 1, 'retrying');
    clock.advance(retryDelayMs(2));
    assert.deepEqual((await third).map((a) => [a.attempt, a.outcome, a.status]), [[3, 'delivered', 200]]);

    assert.equal(hook.received.length, 3);
    const ids = new Set(hook.received.map((r) => r.body.id));
    assert.equal(ids.size, 1, 'every attempt carries the same event id');
    assert.deepEqual(hook.deliveredIds(), [...ids], 'delivered once');
    const body = hook.received[2]!.body as Record<string, Record<string, unknown>>;
    assert.equal(body.action as unknown, 'push');
    assert.deepEqual(body.target, {
      mediaType: OCI_MANIFEST, size: Buffer.byteLength(image.body), digest: image.digest, length: Buffer.byteLength(image.body),
      repository: 'retry/app', tag: 'v1',
    });
    assert.equal(body.request!.method, 'PUT');
    assert.equal(body.request!.host, new URL(root.url).host);
    assert.match(String(body.request!.id), /^[0-9a-f-]{36}$/);
    assert.equal(body.connectedregistry, undefined, 'a push at the root names no connected registry');
    assert.equal(hook.received[0]!.headers['content-type'], 'application/json');
    assert.equal(hook.received[0]!.headers['x-env'], 'test');

    const shown = await history(admin, 'retrying');
    assert.deepEqual(shown.map((h) => [h.attempt, (h.eventResponseMessage as { statusCode: number }).statusCode, h.state]), [
      [3, 200, 'delivered'], [2, 503, 'delivered'], [1, 500, 'delivered'],
    ]);
    assert.equal((shown[0]!.eventRequestMessage as { content: string }).content, JSON.stringify(hook.received[2]!.body));
    assert.ok(shown.every((h) => typeof h.durationMs === 'number'));
    const webhook = (await mgmt(admin, 'GET', '/webhooks/retrying')).json as { deliveries: Record<string, number> };
    assert.deepEqual(webhook.deliveries, { pending: 0, delivered: 1, failed: 0 });
  });

  test('actions and scope choose what each webhook gets; a tag moved is a push, an untag and a manifest delete are deletes', async () => {
    const appPushes = await receiver();
    const otherDeletes = await receiver();
    const onlyV2 = await receiver();
    const everything = await receiver();
    await createWebhook(admin, { name: 'apppushes', serviceUri: appPushes.url, actions: ['push'], scope: 'filters/app:*' });
    await createWebhook(admin, { name: 'otherdeletes', serviceUri: otherDeletes.url, actions: ['delete'], scope: 'filters/other:*' });
    await createWebhook(admin, { name: 'onlyappv2', serviceUri: onlyV2.url, actions: ['push', 'delete'], scope: 'filters/app:v2' });
    await createWebhook(admin, { name: 'everything', serviceUri: everything.url, actions: ['push', 'delete'], scope: 'filters/*:*' });
    const done = recorded(root, 6);
    const v1 = await admin.pushImage('filters/app', 'v1');
    await admin.putManifest('filters/app', 'v2', v1.body); // the same manifest under a second tag
    const other = await admin.pushImage('filters/other', 'v1');
    assert.equal((await admin.request('DELETE', `/v2/filters/other/manifests/${other.digest}`)).status, 202);
    assert.equal((await admin.request('DELETE', '/v2/filters/app/manifests/v2')).status, 202);
    const latest = await admin.pushImage('filters/app', 'latest');
    await done;

    await appPushes.waitFor(3);
    await otherDeletes.waitFor(1);
    await onlyV2.waitFor(2);
    await everything.waitFor(6);
    const summary = (r: WebhookReceiver): string[] => r.received.map((h) => {
      const t = h.body.target as Record<string, string>;
      return `${String(h.body.action)} ${t.repository}${t.tag ? `:${t.tag}` : ''}${t.digest ? `@${t.digest.slice(7, 15)}` : ''}`;
    });
    const short = (d: string): string => d.slice(7, 15);
    assert.deepEqual(summary(appPushes), [`push filters/app:v1@${short(v1.digest)}`, `push filters/app:v2@${short(v1.digest)}`, `push filters/app:latest@${short(latest.digest)}`]);
    assert.deepEqual(summary(otherDeletes), [`delete filters/other@${short(other.digest)}`]);
    assert.deepEqual(summary(onlyV2), [`push filters/app:v2@${short(v1.digest)}`, 'delete filters/app:v2']);
    assert.equal(everything.received.length, 6);
    assert.equal((appPushes.received[1]!.body.target as { size: number }).size, Buffer.byteLength(v1.body), 'a retag carries the size of the manifest stored before');
    // Exactly these: the events were all recorded (and their deliveries queued with them) before the receivers were counted.
    for (const [name, count] of [['apppushes', 3], ['otherdeletes', 1], ['onlyappv2', 2], ['everything', 6]] as const) await waitDelivered(admin, name, count);
  });

  test('a ping is sent at once, once, and shows in the history', async () => {
    const hook = await receiver([404]);
    await createWebhook(admin, { name: 'pinged', serviceUri: hook.url, actions: ['push'], status: 'disabled' });
    const failed = await mgmt(admin, 'POST', '/webhooks/pinged/ping');
    assert.equal(failed.status, 200);
    assert.deepEqual({ ...(failed.json as Record<string, unknown>), durationMs: 0, id: '' }, { id: '', delivered: false, status: 404, durationMs: 0, error: 'the receiver answered 404' });
    const ok = (await mgmt(admin, 'POST', '/webhooks/pinged/ping')).json as { id: string; delivered: boolean };
    assert.equal(ok.delivered, true, 'a disabled webhook can still be pinged');
    assert.deepEqual(hook.received.map((r) => r.body.action), ['ping', 'ping']);
    assert.equal(hook.received[1]!.body.id, ok.id);
    const shown = await history(admin, 'pinged');
    assert.deepEqual(shown.map((h) => [h.id, h.action, h.state]), [[ok.id, 'ping', 'delivered'], [(failed.json as { id: string }).id, 'ping', 'failed']]);
  });

  test('credentials in custom headers and in the URI reach the receiver, and are masked wherever they are shown', async () => {
    const hook = await receiver();
    const uri = hook.url.replace('http://', 'http://robot:uri-password@') + '?code=query-secret&team=a';
    const created = await createWebhook(admin, {
      name: 'secrets', serviceUri: uri, actions: ['push'], scope: 'secret/app:*',
      customHeaders: { Authorization: 'Basic c2VjcmV0', 'X-Api-Key': 'key-secret', 'X-Team': 'platform' },
    });
    assert.deepEqual(created.customHeaders, { Authorization: '***', 'X-Api-Key': '***', 'X-Team': 'platform' });
    assert.equal(created.serviceUri, hook.url.replace('http://', 'http://robot:***@') + '?code=***&team=a');
    await admin.pushImage('secret/app', 'v1');
    await hook.waitFor(1);
    assert.equal(hook.received[0]!.headers.authorization, 'Basic c2VjcmV0');
    assert.equal(hook.received[0]!.headers['x-api-key'], 'key-secret');
    assert.equal(hook.received[0]!.path, '/hook?code=query-secret&team=a');
    await waitDelivered(admin, 'secrets', 1);
    const [entry] = await history(admin, 'secrets');
    const sent = entry!.eventRequestMessage as { requestUri: string; headers: Record<string, string> };
    assert.equal(sent.headers.Authorization, '***');
    assert.equal(sent.headers['X-Api-Key'], '***');
    assert.equal(sent.headers['X-Team'], 'platform');
    assert.ok(!sent.requestUri.includes('uri-password') && !sent.requestUri.includes('query-secret'), sent.requestUri);
    assert.equal((entry!.eventResponseMessage as { headers: Record<string, string> }).headers['set-cookie'], '***');
    const listed = JSON.stringify((await mgmt(admin, 'GET', '/webhooks')).json);
    for (const secret of ['c2VjcmV0', 'key-secret', 'uri-password', 'query-secret']) assert.ok(!listed.includes(secret), `list shows ${secret}`);
  });

  test('a disabled webhook gets nothing; a deleted one stops retrying; a delivery given up does not hold back the next event', async () => {
    const disabled = await receiver();
    await createWebhook(admin, { name: 'sleeping', serviceUri: disabled.url, actions: ['push'], scope: 'quiet/app:*', status: 'disabled' });
    const down = await receiver(Array.from({ length: MAX_ATTEMPTS }, () => 500));
    await createWebhook(admin, { name: 'givingup', serviceUri: down.url, actions: ['push'], scope: 'quiet/app:*' });
    const doomed = await receiver(Array.from({ length: 50 }, () => 500));
    await createWebhook(admin, { name: 'deleted', serviceUri: doomed.url, actions: ['push'], scope: 'quiet/app:*' });

    const firstAttempts = Promise.all([nextAttempts(root, 1, 'givingup'), nextAttempts(root, 1, 'deleted')]);
    await admin.pushImage('quiet/app', 'v1');
    await firstAttempts;
    let attempts: Promise<Attempted[]>;
    assert.equal(await mgmt(admin, 'DELETE', '/webhooks/deleted').then((a) => a.status), 204);
    for (let n = 1; n < MAX_ATTEMPTS; n++) {
      attempts = nextAttempts(root, 1, 'givingup');
      clock.advance(retryDelayMs(n));
      const [a] = await attempts;
      assert.equal(a!.attempt, n + 1);
      assert.equal(a!.outcome, n + 1 === MAX_ATTEMPTS ? 'failed' : 'retrying');
    }
    assert.equal(down.received.length, MAX_ATTEMPTS);
    assert.equal(doomed.received.length, 1, 'no attempt after the webhook was deleted');
    assert.equal(disabled.received.length, 0);
    const next = nextAttempts(root, 1, 'givingup');
    await admin.pushImage('quiet/app', 'v2');
    assert.equal((await next)[0]!.outcome, 'delivered', 'the next event goes out once the first was given up');
    const shown = (await mgmt(admin, 'GET', '/webhooks/givingup')).json as { deliveries: Record<string, number> };
    assert.deepEqual(shown.deliveries, { pending: 0, delivered: 1, failed: 1 });
    assert.equal(disabled.received.length, 0);
  });
});

/** Waits until exactly `count` deliveries of the webhook are delivered and none is pending or failed. */
async function waitDelivered(admin: TestClient, name: string, count: number): Promise<void> {
  await waitFor(`${name}: ${count} delivered`, async () => {
    const shown = (await mgmt(admin, 'GET', `/webhooks/${name}`)).json as { deliveries: Record<string, number> };
    return shown.deliveries.delivered === count && shown.deliveries.pending === 0 && shown.deliveries.failed === 0;
  });
}
