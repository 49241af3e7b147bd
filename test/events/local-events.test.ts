import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ManualClock } from '../../src/core/clock.js';
import { EventBus, type RepositoryEvent, type WriteRequest } from '../../src/core/events.js';
import { SqliteMetadataStore, type ConnectedRegistryInput } from '../../src/metadata/index.js';
import { LocalEvents } from '../../src/events/local-events.js';
import { NotificationLog } from '../../src/events/notification-log.js';

/**
 * Which of a node's writes become notification events (docs/architecture.md, "How events travel
 * up"), on a real bus and a real database: local writes only, one event per write however many
 * repository events it published, not a child's push-back, and at a connected node only what
 * its notificationsList selects. The events are published here as the write pipeline does.
 */

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const request = (id: string): WriteRequest => ({ id, host: 'node:5000', method: 'PUT', useragent: 'test' });

function pushByTag(actor: string | null, repository: string, tag: string, digest: string, req: WriteRequest | undefined, seq: number): RepositoryEvent[] {
  const base = { origin: 'local' as const, actor, ...(req ? { request: req } : {}) };
  return [
    { ...base, type: 'blob-linked', repository, digest: D2, size: 5, seq: null },
    { ...base, type: 'manifest-pushed', repository, digest, mediaType: 'm', size: 100, seq },
    { ...base, type: 'tag-set', repository, tag, digest, mediaType: 'm', seq: seq + 1 },
  ];
}

function registry(name: string, parent: string | null, notificationsList: string[]): ConnectedRegistryInput {
  return {
    name, mode: 'ReadWrite', parent, sync: { tokenName: `${name}-sync`, schedule: '* * * * *', syncWindow: null, messageTtl: 'P2D', lastSyncTime: null },
    clientTokenIds: [], logging: { logLevel: 'Information', auditLogStatus: 'Disabled' }, notificationsList,
    garbageCollection: { enabled: false, schedule: '0 0 * * *' },
  } as ConnectedRegistryInput;
}

describe('LocalEvents: which writes are notified', () => {
  let store: SqliteMetadataStore;
  let bus: EventBus;
  let local: LocalEvents;
  const clock = new ManualClock(Date.parse('2026-03-01T00:00:00Z'));

  async function start(selfName: string | null): Promise<void> {
    local = new LocalEvents({
      events: bus, log: new NotificationLog(store.notifications, selfName === null, bus), metadata: store,
      connectedRegistries: store.connectedRegistries, selfName, clock, logger: pino({ level: 'silent' }),
    });
    local.start();
  }

  async function recorded(): Promise<string[]> {
    await local.idle();
    return (await store.notifications.eventsAfter(0, 100)).map((e) =>
      `${e.action} ${e.repository}${e.tag ? `:${e.tag}` : ''}${e.digest ? `@${e.digest.slice(7, 9)}` : ''}${e.size !== null ? ` ${e.size}B` : ''} req=${e.request?.id ?? '-'} cr=${e.connectedRegistry ?? '-'}`);
  }

  beforeEach(async () => {
    store = await SqliteMetadataStore.open(':memory:', { clock: () => clock.now() });
    bus = new EventBus();
  });

  afterEach(async () => {
    await local.stop();
    await store.close();
  });

  test('the root stores nothing of its own writes that no webhook takes (a root without webhooks pays nothing per push)', async () => {
    await store.notifications.createWebhook({ name: 'onlyother', serviceUri: 'http://127.0.0.1:9/', actions: ['push'], scope: 'other:*', status: 'enabled', customHeaders: {} });
    await start(null);
    for (const event of pushByTag('ci', 'app', 'v1', D1, request('r-1'), 1)) bus.publish(event);
    for (const event of pushByTag('ci', 'other', 'v1', D1, request('r-2'), 3)) bus.publish(event);
    assert.deepEqual(await recorded(), ['push other:v1@11 100B req=r-2 cr=-']);
  });

  /** The root stores its own events only when a webhook takes them: one that takes everything. */
  async function webhookForAll(): Promise<void> {
    await store.notifications.createWebhook({ name: 'takesall', serviceUri: 'http://127.0.0.1:9/', actions: ['push', 'delete'], scope: '', status: 'enabled', customHeaders: {} });
  }

  test('one event per write, even when two writes publish in the same tick; sync writes are not notified', async () => {
    await webhookForAll();
    await start(null);
    const both = [...pushByTag('ci', 'app', 'v1', D1, request('r-1'), 1), ...pushByTag('ci', 'app', 'v2', D1, request('r-2'), 3)];
    for (const event of both) bus.publish(event);
    bus.publish({ origin: 'sync', actor: null, type: 'tag-set', repository: 'app', tag: 'v3', digest: D1, mediaType: 'm', seq: 5 });
    assert.deepEqual(await recorded(), ['push app:v1@11 100B req=r-1 cr=-', 'push app:v2@11 100B req=r-2 cr=-']);
  });

  test("a child's push-back (its sync token's write) is not notified again; the root notifies every other local write", async () => {
    await store.connectedRegistries.createConnectedRegistry(registry('edgeone', null, []));
    await webhookForAll();
    await start(null);
    for (const event of pushByTag('edgeone-sync', 'app', 'pushed-back', D1, request('r-3'), 1)) bus.publish(event);
    for (const event of pushByTag('admin', 'app', 'v9', D1, request('r-4'), 3)) bus.publish(event);
    bus.publish({ origin: 'local', actor: 'admin', type: 'manifest-deleted', repository: 'app', digest: D1, seq: 5, request: request('r-5') });
    assert.deepEqual(await recorded(), ['push app:v9@11 100B req=r-4 cr=-', 'delete app@11 req=r-5 cr=-']);
  });

  test("at a connected node: what its notificationsList selects, named after it; a new list applies after the config changes", async () => {
    await store.connectedRegistries.createConnectedRegistry(registry('siteone', null, ['app:*:push']));
    await store.connectedRegistries.createConnectedRegistry(registry('childone', 'siteone', []));
    await start('siteone');
    for (const event of pushByTag('client', 'app', 'v1', D1, request('r-1'), 1)) bus.publish(event);
    for (const event of pushByTag('client', 'other', 'v1', D1, request('r-2'), 3)) bus.publish(event);
    bus.publish({ origin: 'local', actor: 'client', type: 'tag-deleted', repository: 'app', tag: 'v1', seq: 5, request: request('r-3') });
    for (const event of pushByTag('childone-sync', 'app', 'from-child', D1, request('r-4'), 6)) bus.publish(event);
    assert.deepEqual(await recorded(), ['push app:v1@11 100B req=r-1 cr=siteone']);

    await store.connectedRegistries.updateConnectedRegistry('siteone', { notificationsList: ['*:*'] });
    bus.publish({ type: 'connected-registry-config-changed', name: null });
    bus.publish({ origin: 'local', actor: 'client', type: 'tag-deleted', repository: 'app', tag: 'v1', seq: 8, request: request('r-5') });
    assert.deepEqual((await recorded()).slice(1), ['delete app:v1 req=r-5 cr=siteone']);
  });

  test('a tag moved onto a manifest stored earlier carries that manifest\'s size, read from the store', async () => {
    await webhookForAll();
    await start(null);
    await store.linkBlob({ origin: 'local', actor: null }, 'app', D2, 5);
    const body = { repository: 'app', digest: D1, mediaType: 'm', size: 321, artifactType: null, subject: null, annotations: null, blobs: [D2], manifests: [] };
    await store.putManifest({ origin: 'local', actor: null }, body);
    bus.publish({ origin: 'local', actor: 'ci', type: 'tag-set', repository: 'app', tag: 'later', digest: D1, mediaType: 'm', seq: 9, request: request('r-6') });
    assert.deepEqual(await recorded(), ['push app:later@11 321B req=r-6 cr=-']);
  });
});
