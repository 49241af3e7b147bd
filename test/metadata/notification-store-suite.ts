import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { DeliveryAttempt, NotificationEvent, NotificationStore, WebhookInput } from '../../src/metadata/index.js';
import { RegistryError } from '../../src/oci/index.js';

/** What an implementation hands the suite: an empty store whose recorded times come from `clock`, and how to throw it away. */
export interface OpenedNotificationStore {
  store: NotificationStore;
  cleanup(): Promise<void>;
}

export interface NotificationSuiteOptions {
  /** Milliseconds since the epoch for the times the store records. */
  clock: () => number;
  webhookLimit?: number;
}

const codeOf = (code: string) => (err: unknown): boolean => err instanceof RegistryError && err.code === code;
const T0 = Date.parse('2026-02-01T00:00:00.000Z');
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

function event(id: string, extra: Partial<NotificationEvent> = {}): NotificationEvent {
  return {
    id, timestamp: new Date(T0), action: 'push', repository: 'app', tag: 'v1', digest: `sha256:${'a'.repeat(64)}`,
    mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 524, request: { id: 'req-1', host: 'edge:8080', method: 'PUT', useragent: 'skopeo' },
    connectedRegistry: 'edge-one', ...extra,
  };
}

function webhook(name: string, extra: Partial<WebhookInput> = {}): WebhookInput {
  return { name, serviceUri: 'http://receiver.example/hook', actions: ['push'], scope: '', status: 'enabled', customHeaders: {}, ...extra };
}

function attempt(n: number, status: number | null, at: number): DeliveryAttempt {
  return {
    attempt: n, startedAt: new Date(at), durationMs: 12.4,
    request: { method: 'POST', uri: 'http://receiver.example/hook', headers: { 'Content-Type': 'application/json', Authorization: '***' } },
    response: status === null ? null : { status, reason: 'Reason', headers: { 'content-type': 'text/plain' }, body: 'ok' },
    error: status === null ? 'ECONNREFUSED' : status < 300 ? null : `the receiver answered ${status}`,
  };
}

/**
 * The NotificationStore contract as tests (docs/observability.md, "Webhooks and notifications"):
 * idempotent intake by event id, the relay mark, webhooks, the durable delivery queue (oldest
 * pending per webhook, in order), attempts and history, pruning. Every implementation (SQLite,
 * PostgreSQL) runs it.
 */
export function runNotificationStoreSuite(name: string, open: (options: NotificationSuiteOptions) => Promise<OpenedNotificationStore>): void {
  describe(`NotificationStore contract: ${name}`, () => {
    let store: NotificationStore;
    let cleanup: () => Promise<void>;
    let now = T0;
    beforeEach(async () => {
      now = T0;
      ({ store, cleanup } = await open({ clock: () => now, webhookLimit: 3 }));
    });
    afterEach(async () => {
      await cleanup();
    });

    it('stores events in order, each id once, with every field as given', async () => {
      assert.deepEqual(await store.recordEvents([]), []);
      const full = event('e-1');
      const bare = event('e-2', { action: 'delete', tag: null, digest: null, mediaType: null, size: null, request: null, connectedRegistry: null });
      assert.deepEqual(await store.recordEvents([{ event: full, receivedFrom: 'edge-one', deliveries: [] }, { event: bare, receivedFrom: null, deliveries: [] }]), ['e-1', 'e-2']);
      now += MINUTE;
      // Sent again (an answer lost on the way): the known id is skipped, the new one stored.
      assert.deepEqual(await store.recordEvents([{ event: event('e-1', { repository: 'changed' }), receivedFrom: 'edge-one', deliveries: [] }, { event: event('e-3'), receivedFrom: 'edge-one', deliveries: [] }]), ['e-3']);
      const stored = await store.eventsAfter(0, 10);
      assert.deepEqual(stored.map((e) => e.id), ['e-1', 'e-2', 'e-3']);
      assert.ok(stored[0]!.position < stored[1]!.position && stored[1]!.position < stored[2]!.position);
      const { position: _p1, recordedAt: r1, receivedFrom: f1, ...first } = stored[0]!;
      assert.deepEqual(first, full);
      assert.equal(f1, 'edge-one');
      assert.equal(r1.getTime(), T0);
      const { position: _p2, recordedAt: _r2, receivedFrom: f2, ...second } = stored[1]!;
      assert.deepEqual(second, bare);
      assert.equal(f2, null);
      assert.equal(stored[2]!.recordedAt.getTime(), T0 + MINUTE);
      assert.deepEqual((await store.eventsAfter(stored[0]!.position, 1)).map((e) => e.id), ['e-2']);
      assert.deepEqual(await store.eventsAfter(stored[2]!.position, 10), []);
      assert.equal((await store.getEvent('e-2'))!.action, 'delete');
      assert.equal(await store.getEvent('nothing'), null);
    });

    it('the relay mark starts at 0 and only moves forward', async () => {
      assert.equal(await store.relayMark(), 0);
      await store.markRelayed(5);
      await store.markRelayed(3);
      assert.equal(await store.relayMark(), 5);
      await store.markRelayed(9);
      assert.equal(await store.relayMark(), 9);
    });

    it('webhooks: create, read, update, delete; names are unique; the count is bounded', async () => {
      const created = await store.createWebhook(webhook('hookone', { customHeaders: { Authorization: 'Basic x', 'X-Env': 'prod' }, scope: 'app:*', actions: ['push', 'delete'] }));
      assert.equal(created.createdAt.getTime(), T0);
      assert.deepEqual(created.customHeaders, { Authorization: 'Basic x', 'X-Env': 'prod' }, 'the store keeps the real values: masking is for showing');
      assert.deepEqual(created.actions, ['push', 'delete']);
      await assert.rejects(store.createWebhook(webhook('hookone')), codeOf('CONFLICT'));
      now += MINUTE;
      const updated = await store.updateWebhook('hookone', { status: 'disabled', customHeaders: {} });
      assert.equal(updated.status, 'disabled');
      assert.deepEqual(updated.customHeaders, {});
      assert.equal(updated.scope, 'app:*', 'what is not given stays');
      assert.equal(updated.updatedAt.getTime(), T0 + MINUTE);
      assert.equal(updated.createdAt.getTime(), T0);
      await assert.rejects(store.updateWebhook('missing', { status: 'enabled' }), codeOf('NOT_FOUND'));
      await store.createWebhook(webhook('hooktwo'));
      await store.createWebhook(webhook('hookthree'));
      await assert.rejects(store.createWebhook(webhook('hookfour')), codeOf('TOOMANYREQUESTS'));
      assert.deepEqual((await store.listWebhooks()).map((w) => w.name), ['hookone', 'hookthree', 'hooktwo']);
      await store.deleteWebhook('hooktwo');
      await assert.rejects(store.deleteWebhook('hooktwo'), codeOf('NOT_FOUND'));
      assert.equal(await store.getWebhook('hooktwo'), null);
      assert.equal((await store.getWebhook('hookone'))!.status, 'disabled');
    });

    it('a new event queues its deliveries in the same call, to enabled webhooks only; a known id queues nothing again', async () => {
      await store.createWebhook(webhook('enabled1'));
      await store.createWebhook(webhook('disabled1', { status: 'disabled' }));
      await store.recordEvents([{ event: event('e-1'), receivedFrom: null, deliveries: [
        { webhook: 'enabled1', payload: '{"id":"e-1"}' }, { webhook: 'disabled1', payload: '{}' }, { webhook: 'gone1', payload: '{}' },
      ] }]);
      await store.recordEvents([{ event: event('e-1'), receivedFrom: null, deliveries: [{ webhook: 'enabled1', payload: '{"again":true}' }] }]);
      const due = await store.dueDeliveries(new Date(now), 10);
      assert.deepEqual(due.map((d) => [d.webhook, d.eventId, d.action, d.payload, d.attempts]), [['enabled1', 'e-1', 'push', '{"id":"e-1"}', 0]]);
      assert.deepEqual(await store.deliveryCounts('enabled1'), { pending: 1, delivered: 0, failed: 0 });
      assert.deepEqual(await store.deliveryCounts('disabled1'), { pending: 0, delivered: 0, failed: 0 });
    });

    it('due deliveries: the oldest pending one of each enabled webhook, once its time has come', async () => {
      await store.createWebhook(webhook('hooka'));
      await store.createWebhook(webhook('hookb'));
      const deliveries = [{ webhook: 'hooka', payload: 'a' }, { webhook: 'hookb', payload: 'b' }];
      await store.recordEvents([1, 2, 3].map((i) => ({ event: event(`e-${i}`), receivedFrom: null, deliveries })));
      let due = await store.dueDeliveries(new Date(now), 10);
      assert.deepEqual(due.map((d) => [d.webhook, d.eventId]), [['hooka', 'e-1'], ['hookb', 'e-1']]);
      assert.deepEqual((await store.dueDeliveries(new Date(now), 1)).map((d) => d.webhook), ['hooka'], 'oldest first, at most the limit');

      // hooka's first fails: its later deliveries wait behind it (in order), hookb goes on.
      const [a1, b1] = due;
      assert.equal(await store.recordAttempt(a1!.id, attempt(1, 500, now), { state: 'pending', nextAttemptAt: new Date(now + 5_000) }), true);
      assert.equal(await store.recordAttempt(b1!.id, attempt(1, 200, now), { state: 'delivered' }), true);
      due = await store.dueDeliveries(new Date(now), 10);
      assert.deepEqual(due.map((d) => [d.webhook, d.eventId]), [['hookb', 'e-2']]);
      due = await store.dueDeliveries(new Date(now + 5_000), 10);
      assert.deepEqual(due.map((d) => [d.webhook, d.eventId, d.attempts]), [['hooka', 'e-1', 1], ['hookb', 'e-2', 0]]);

      // A disabled webhook's deliveries wait (kept) until it is enabled again.
      await store.updateWebhook('hooka', { status: 'disabled' });
      assert.deepEqual((await store.dueDeliveries(new Date(now + 5_000), 10)).map((d) => d.webhook), ['hookb']);
      await store.updateWebhook('hooka', { status: 'enabled' });
      assert.deepEqual((await store.dueDeliveries(new Date(now + 5_000), 10)).map((d) => d.webhook), ['hooka', 'hookb']);
    });

    it('attempts: recorded with the new state; not for a delivery that is gone or finished; the history is newest first', async () => {
      await store.createWebhook(webhook('hookh'));
      await store.recordEvents([{ event: event('e-1'), receivedFrom: null, deliveries: [{ webhook: 'hookh', payload: '{"id":"e-1"}' }] }]);
      const [d] = await store.dueDeliveries(new Date(now), 10);
      assert.equal(await store.recordAttempt(d!.id, attempt(1, null, now), { state: 'pending', nextAttemptAt: new Date(now + 5_000) }), true);
      assert.equal(await store.recordAttempt(d!.id, attempt(2, 503, now + 5_000), { state: 'pending', nextAttemptAt: new Date(now + 15_000) }), true);
      assert.equal(await store.recordAttempt(d!.id, attempt(3, 204, now + 15_000), { state: 'delivered' }), true);
      assert.equal(await store.recordAttempt(d!.id, attempt(4, 204, now + 16_000), { state: 'delivered' }), false, 'a finished delivery takes no attempt');
      assert.equal(await store.recordAttempt(987654, attempt(1, 200, now), { state: 'delivered' }), false);
      assert.deepEqual(await store.dueDeliveries(new Date(now + DAY), 10), []);
      const history = (await store.deliveryHistory('hookh', 10))!;
      assert.deepEqual(history.map((h) => [h.attempt, h.response?.status ?? null, h.error, h.state, h.eventId, h.payload]), [
        [3, 204, null, 'delivered', 'e-1', '{"id":"e-1"}'],
        [2, 503, 'the receiver answered 503', 'delivered', 'e-1', '{"id":"e-1"}'],
        [1, null, 'ECONNREFUSED', 'delivered', 'e-1', '{"id":"e-1"}'],
      ]);
      assert.deepEqual(history[0]!.request, attempt(3, 204, 0).request);
      assert.deepEqual(history[0]!.response, { status: 204, reason: 'Reason', headers: { 'content-type': 'text/plain' }, body: 'ok' });
      assert.equal(history[0]!.startedAt.getTime(), now + 15_000);
      assert.equal(history[0]!.durationMs, 12);
      assert.deepEqual((await store.deliveryHistory('hookh', 1))!.map((h) => h.attempt), [3]);
      assert.equal(await store.deliveryHistory('missing', 10), null);
      assert.deepEqual(await store.deliveryCounts('hookh'), { pending: 0, delivered: 1, failed: 0 });
      // A delivery given up.
      await store.recordEvents([{ event: event('e-2'), receivedFrom: null, deliveries: [{ webhook: 'hookh', payload: '{}' }] }]);
      const [d2] = await store.dueDeliveries(new Date(now + DAY), 10);
      assert.equal(await store.recordAttempt(d2!.id, attempt(20, 500, now), { state: 'failed' }), true);
      assert.deepEqual(await store.deliveryCounts('hookh'), { pending: 0, delivered: 1, failed: 1 });
    });

    it('a one-off delivery (a ping) is recorded with its attempt, never queued; not for an unknown webhook', async () => {
      await store.createWebhook(webhook('hookp'));
      assert.equal(await store.recordOneOff('hookp', { eventId: 'ping-1', action: 'ping', payload: '{"action":"ping"}' }, attempt(1, 200, now), true), true);
      assert.equal(await store.recordOneOff('hookp', { eventId: 'ping-2', action: 'ping', payload: '{}' }, attempt(1, 404, now + 1), false), true);
      assert.equal(await store.recordOneOff('missing', { eventId: 'ping-3', action: 'ping', payload: '{}' }, attempt(1, 200, now), true), false);
      assert.deepEqual(await store.dueDeliveries(new Date(now + DAY), 10), []);
      assert.deepEqual((await store.deliveryHistory('hookp', 10))!.map((h) => [h.eventId, h.action, h.state]), [['ping-2', 'ping', 'failed'], ['ping-1', 'ping', 'delivered']]);
    });

    it('deleting a webhook takes its queued deliveries and its history with it', async () => {
      await store.createWebhook(webhook('hookd'));
      await store.recordEvents([{ event: event('e-1'), receivedFrom: null, deliveries: [{ webhook: 'hookd', payload: '{}' }] }]);
      const [d] = await store.dueDeliveries(new Date(now), 10);
      await store.recordAttempt(d!.id, attempt(1, 500, now), { state: 'pending', nextAttemptAt: new Date(now) });
      await store.deleteWebhook('hookd');
      assert.deepEqual(await store.dueDeliveries(new Date(now + DAY), 10), []);
      assert.equal(await store.recordAttempt(d!.id, attempt(2, 200, now), { state: 'delivered' }), false);
      await store.createWebhook(webhook('hookd'));
      assert.deepEqual(await store.deliveryHistory('hookd', 10), [], 'a webhook made again under the name starts empty');
      assert.deepEqual(await store.deliveryCounts('hookd'), { pending: 0, delivered: 0, failed: 0 });
    });

    it('prune: old events (on a connected node only those its parent has), old finished deliveries; never a pending one', async () => {
      await store.createWebhook(webhook('hookq'));
      const deliveries = [{ webhook: 'hookq', payload: '{}' }];
      await store.recordEvents([{ event: event('old-1'), receivedFrom: null, deliveries }, { event: event('old-2'), receivedFrom: null, deliveries }]);
      const [first] = await store.dueDeliveries(new Date(now), 10);
      await store.recordAttempt(first!.id, attempt(1, 200, now), { state: 'delivered' });
      now += 40 * DAY;
      await store.recordEvents([{ event: event('new-1'), receivedFrom: null, deliveries }]);
      const positions = (await store.eventsAfter(0, 10)).map((e) => e.position);
      // A connected node whose parent has only acknowledged the first event keeps the second, however old.
      assert.deepEqual(await store.pruneNotifications(new Date(now - 30 * DAY), positions[0]), { events: 1, deliveries: 1 });
      assert.deepEqual((await store.eventsAfter(0, 10)).map((e) => e.id), ['old-2', 'new-1']);
      assert.deepEqual(await store.deliveryCounts('hookq'), { pending: 2, delivered: 0, failed: 0 }, 'pending deliveries stay, however old');
      assert.deepEqual(await store.pruneNotifications(new Date(now - 30 * DAY)), { events: 1, deliveries: 0 });
      assert.deepEqual((await store.eventsAfter(0, 10)).map((e) => e.id), ['new-1']);
      assert.deepEqual(await store.deliveryHistory('hookq', 10), []);
    });
  });
}
