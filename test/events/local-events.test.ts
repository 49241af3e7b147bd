import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { ManualClock } from '../../src/core/clock.js';
import { EventBus, type WriteRequest } from '../../src/core/events.js';
import { SqliteMetadataStore, type ConnectedRegistryInput } from '../../src/metadata/index.js';
import { RegistryWriter } from '../../src/registry/registry-writer.js';
import { LocalEvents } from '../../src/events/local-events.js';
import { NotificationLog } from '../../src/events/notification-log.js';

/**
 * Which of a node's writes become notification events (docs/architecture.md, "How events travel
 * up"), on a real bus and a real database, the writes made through the write pipeline: local
 * writes only, one event per write however many change rows it appended, not a child's
 * push-back, at a connected node only what its notificationsList selects — and, since the events
 * are made from the change log, nothing lost when the process stops between a write and its event.
 */

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const request = (id: string): WriteRequest => ({ id, host: 'node:5000', method: 'PUT', useragent: 'test' });

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
  let writer: RegistryWriter;
  let local: LocalEvents | null;
  const clock = new ManualClock(Date.parse('2026-03-01T00:00:00Z'));

  function start(selfName: string | null): LocalEvents {
    local = new LocalEvents({
      events: bus, log: new NotificationLog(store.notifications, selfName === null, bus), changes: store.notifications, metadata: store,
      connectedRegistries: store.connectedRegistries, selfName, logger: pino({ level: 'silent' }),
    });
    local.start();
    return local;
  }

  /** Pushes manifest `digest` (size 100 + its first hex digit) by tag as one write of `actor`. */
  async function pushByTag(actor: string | null, repository: string, tag: string, digest: string, req?: WriteRequest): Promise<void> {
    await writer.linkBlob(actor, repository, D2, 5);
    const size = 100 + Number.parseInt(digest.slice(7, 8), 16);
    await writer.putManifest(actor, { repository, digest, mediaType: 'm', size, artifactType: null, subject: null, annotations: null, blobs: [D2], manifests: [], tag }, req);
  }

  async function recorded(): Promise<string[]> {
    await local?.idle();
    return (await store.notifications.eventsAfter(0, 1000)).map((e) =>
      `${e.action} ${e.repository}${e.tag ? `:${e.tag}` : ''}${e.digest ? `@${e.digest.slice(7, 9)}` : ''}${e.size !== null ? ` ${e.size}B` : ''} req=${e.request?.id ?? '-'} cr=${e.connectedRegistry ?? '-'}`);
  }

  /** The root stores its own events only when a webhook takes them: one that takes everything. */
  async function webhookForAll(): Promise<void> {
    await store.notifications.createWebhook({ name: 'takesall', serviceUri: 'http://127.0.0.1:9/', actions: ['push', 'delete'], scope: '', status: 'enabled', customHeaders: {} });
  }

  beforeEach(async () => {
    store = await SqliteMetadataStore.open(':memory:', { clock: () => clock.now() });
    bus = new EventBus();
    writer = new RegistryWriter(store, bus);
    local = null;
  });

  afterEach(async () => {
    await local?.stop();
    await store.close();
  });

  test('the root stores nothing of its own writes that no webhook takes (a root without webhooks pays nothing per push)', async () => {
    await store.notifications.createWebhook({ name: 'onlyother', serviceUri: 'http://127.0.0.1:9/', actions: ['push'], scope: 'other:*', status: 'enabled', customHeaders: {} });
    start(null);
    await pushByTag('ci', 'app', 'v1', D1, request('r-1'));
    await pushByTag('ci', 'other', 'v1', D1, request('r-2'));
    assert.deepEqual(await recorded(), ['push other:v1@11 101B req=r-2 cr=-']);
    assert.equal(await store.notifications.notifiedSeq(), await store.lastChangeSeq(), 'every change was considered');
  });

  test('writes that make no event kept cost no write of their own: how far it got is stored by catchUp, and at stop', async () => {
    const making = start(null);
    await pushByTag('ci', 'app', 'v1', D1, request('r-1'));
    await making.idle();
    assert.equal(await store.notifications.notifiedSeq(), 0, 'nothing stored per push on a root without webhooks');
    await making.catchUp();
    assert.equal(await store.notifications.notifiedSeq(), await store.lastChangeSeq());
    await pushByTag('ci', 'app', 'v2', D1, request('r-2'));
    await making.stop();
    assert.equal(await store.notifications.notifiedSeq(), await store.lastChangeSeq());
    assert.deepEqual(await recorded(), []);
  });

  test('one event per write, even for writes committed back to back; sync writes are not notified', async () => {
    await webhookForAll();
    start(null);
    await Promise.all([pushByTag('ci', 'app', 'v1', D1, request('r-1')), pushByTag('ci', 'app', 'v2', D1, request('r-2'))]);
    await writer.applySync('app', null, () => [{ op: 'delete-tag', tag: 'v1' }]);
    const events = await recorded();
    assert.deepEqual(events.sort(), ['push app:v1@11 101B req=r-1 cr=-', 'push app:v2@11 101B req=r-2 cr=-'], 'the sync delete of v1 is not notified');
  });

  test("a child's push-back (its sync token's write) is not notified again; the root notifies every other local write", async () => {
    await store.connectedRegistries.createConnectedRegistry(registry('edgeone', null, []));
    await webhookForAll();
    start(null);
    await pushByTag('edgeone-sync', 'app', 'pushed-back', D1, request('r-3'));
    await pushByTag('admin', 'app', 'v9', D1, request('r-4'));
    await writer.deleteManifest('admin', 'app', D1, request('r-5'));
    assert.deepEqual(await recorded(), ['push app:v9@11 101B req=r-4 cr=-', 'delete app@11 req=r-5 cr=-']);
  });

  test('at a connected node: what its notificationsList selects, named after it; a new list applies after the config changes', async () => {
    await store.connectedRegistries.createConnectedRegistry(registry('siteone', null, ['app:*:push']));
    await store.connectedRegistries.createConnectedRegistry(registry('childone', 'siteone', []));
    start('siteone');
    await pushByTag('client', 'app', 'v1', D1, request('r-1'));
    await pushByTag('client', 'other', 'v1', D1, request('r-2'));
    await writer.deleteTag('client', 'app', 'v1', request('r-3'));
    await pushByTag('childone-sync', 'app', 'from-child', D1, request('r-4'));
    assert.deepEqual(await recorded(), ['push app:v1@11 101B req=r-1 cr=siteone']);

    await store.connectedRegistries.updateConnectedRegistry('siteone', { notificationsList: ['*:*'] });
    bus.publish({ type: 'connected-registry-config-changed', name: null });
    await writer.deleteTag('client', 'other', 'v1', request('r-5'));
    assert.deepEqual((await recorded()).slice(1), ['delete other:v1 req=r-5 cr=siteone']);
  });

  test("a tag moved onto a manifest stored earlier carries that manifest's size, read from the store", async () => {
    await webhookForAll();
    await pushByTag('ci', 'app', 'first', D1, request('r-0'));
    start(null);
    await writer.putManifest('ci', { repository: 'app', digest: D1, mediaType: 'm', size: 101, artifactType: null, subject: null, annotations: null, blobs: [D2], manifests: [], tag: 'later' }, request('r-6'));
    assert.deepEqual((await recorded()).slice(-1), ['push app:later@11 101B req=r-6 cr=-']);
  });

  test('writes committed while no events were being made (a crash right after the commit) are notified at the next start, each once', async () => {
    await webhookForAll();
    // Committed, and the process "dies" before any event is made of them: nothing is listening.
    await pushByTag('ci', 'app', 'v1', D1, request('r-1'));
    await writer.deleteTag('ci', 'app', 'v1', request('r-2'));
    assert.deepEqual(await recorded(), []);
    // The change log keeps what was not notified yet, whatever its age.
    clock.advance(400 * 24 * 3600_000);
    await store.pruneChanges(new Date(clock.now()));
    start(null);
    assert.deepEqual(await recorded(), ['push app:v1@11 101B req=r-1 cr=-', 'delete app:v1 req=r-2 cr=-']);
    // Started again over the same database: nothing is made twice.
    await local!.stop();
    start(null);
    await pushByTag('ci', 'app', 'v2', D1, request('r-3'));
    assert.deepEqual(await recorded(), ['push app:v1@11 101B req=r-1 cr=-', 'delete app:v1 req=r-2 cr=-', 'push app:v2@11 101B req=r-3 cr=-']);
  });

  test('a write the batch of change rows cuts in two is still one write (one push, not a push by digest and one by tag)', async () => {
    await webhookForAll();
    await pushByTag('ci', 'app', 'first', D1, request('r-0'));
    start(null);
    await local!.stop();
    // One row (a tag moved onto a stored manifest), then 250 pushes of new manifests by tag (a
    // manifest row and a tag row each): 501 rows, and the batch of 500 ends between the last
    // push's two rows.
    await writer.putManifest('ci', { repository: 'app', digest: D1, mediaType: 'm', size: 101, artifactType: null, subject: null, annotations: null, blobs: [D2], manifests: [], tag: 'moved' }, request('r-moved'));
    for (let i = 0; i < 250; i++) {
      const digest = `sha256:${'b'.repeat(56)}${i.toString(16).padStart(8, '0')}`;
      await writer.putManifest('ci', { repository: 'app', digest, mediaType: 'm', size: 200, artifactType: null, subject: null, annotations: null, blobs: [D2], manifests: [], tag: `t${i}` }, request(`r-${i}`));
    }
    start(null);
    const events = (await recorded()).slice(1);
    assert.equal(events.length, 251);
    assert.equal(events.filter((e) => !e.startsWith('push app:')).length, 0, 'every push is by tag: no write was split');
    assert.match(events.at(-1)!, /^push app:t249@bb 200B req=r-249 cr=-$/);
    assert.equal(await store.lastChangeSeq(), 503, '2 + 1 + 250 x 2 rows: the batch of 500 after the first 2 ends inside the last push');
  });
});
