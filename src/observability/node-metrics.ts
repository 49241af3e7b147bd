import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../core/clock.js';
import { REPOSITORY_EVENT_TYPES, SYNC_EVENT_TYPES, type EventBus } from '../core/events.js';
import { effectiveConnectionState, type ConnectedRegistryStore } from '../metadata/index.js';
import type { AdoptingBlobStore } from '../storage/blob-store.js';
import type { SyncObservation } from '../sync/sync-agent.js';
import { registerHttpMetrics } from './http-metrics.js';
import { BLOB_STORE_OPERATIONS, MeteredBlobStore } from './metered-blob-store.js';

/** At most this many repositories get series of their own in the lag families; the rest are summed under `_other`. */
export const MAX_REPOSITORY_SERIES = 100;
export const OTHER_REPOSITORIES = '_other';
const AGENT_STATES = ['Starting', 'Online', 'Syncing', 'Offline', 'OutsideWindow'] as const;
const FLEET_STATES = ['Online', 'Syncing', 'Offline', 'Unhealthy'] as const;

/** What the edge families read at each scrape (the sync agent, and which repositories it syncs). */
export interface SyncSource {
  observe(): Promise<SyncObservation>;
  /** The repositories in the sync scope that exist here (label values: at most MAX_REPOSITORY_SERIES + 1 are asked for). */
  syncedRepositories(limit: number): Promise<string[]>;
}

/**
 * The node's Prometheus metrics (docs/observability.md, "Metrics"): one prom-client `Registry` of
 * its own (no global one: two nodes in one process, as in the tests, count apart), the families,
 * and what feeds them — fastify hooks for HTTP, a counting wrapper for the blob store, the event
 * bus for what happens once (sync outcomes, heartbeats received), and reads at scrape time for
 * what is a state (the agent's lag and outbox, the fleet's records). Nothing is counted in a
 * handler; the hot path pays a few increments per request.
 */
export class NodeMetrics {
  readonly registry = new Registry();
  private readonly refreshers: Array<() => Promise<void>> = [];

  constructor(private readonly clock: Clock) {
    // The conventional names (process_*, nodejs_*), which dashboards for Node.js services expect.
    collectDefaultMetrics({ register: this.registry });
  }

  /** The exposition text, every scrape-time family brought up to date first. */
  async render(): Promise<string> {
    for (const refresh of this.refreshers) await refresh();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Requests by route, method and status; latency; bytes; requests and uploads in flight. */
  attachHttp(app: FastifyInstance): void {
    registerHttpMetrics(app, this.registry);
  }

  /** The node's blob store, counted (operations, failures, blobs and bytes written). */
  meterBlobStore(blobs: AdoptingBlobStore): AdoptingBlobStore {
    const metered = new MeteredBlobStore(blobs);
    const { counts } = metered;
    const registers = [this.registry];
    new Counter({
      name: 'outpost_blob_store_operations_total', help: 'Blob store calls, by operation.', labelNames: ['operation'] as const, registers,
      collect() {
        for (const operation of BLOB_STORE_OPERATIONS) setTotal(this, { operation }, counts.calls[operation]);
      },
    });
    new Counter({
      name: 'outpost_blob_store_errors_total', help: 'Blob store calls that failed (a blob unknown included), by operation.', labelNames: ['operation'] as const, registers,
      collect() {
        for (const operation of BLOB_STORE_OPERATIONS) setTotal(this, { operation }, counts.failures[operation]);
      },
    });
    new Counter({
      name: 'outpost_blob_store_written_blobs_total', help: 'Blobs written to the blob store (puts and completed uploads).', registers,
      collect() {
        setTotal(this, {}, counts.writtenBlobs);
      },
    });
    new Counter({
      name: 'outpost_blob_store_written_bytes_total', help: 'Bytes of the blobs written to the blob store.', registers,
      collect() {
        setTotal(this, {}, counts.writtenBytes);
      },
    });
    return metered;
  }

  /** Writes to the repositories, from the bus: by event, and by origin (a client here, or sync from the parent). */
  observeRepositoryEvents(events: EventBus): void {
    const writes = new Counter({
      name: 'outpost_repository_events_total', help: 'Repository writes committed, by event type and origin (local: a client of this node; sync: from the parent).',
      labelNames: ['event', 'origin'] as const, registers: [this.registry],
    });
    events.subscribe(REPOSITORY_EVENT_TYPES, (event) => writes.inc({ event: event.type, origin: event.origin }));
  }

  /** The sync agent of a connected node: state, lag, outbox, transfers, failures, reconciles. */
  observeSync(source: SyncSource, events: EventBus): void {
    const registers = [this.registry];
    const state = new Gauge({ name: 'outpost_sync_connection_state', help: 'The sync agent\'s state: 1 for the current one.', labelNames: ['state'] as const, registers });
    const lastSync = new Gauge({ name: 'outpost_sync_last_success_timestamp_seconds', help: 'When a sync with the parent last completed (a page of changes applied, a reconcile); absent before the first.', registers });
    const caughtUp = new Gauge({ name: 'outpost_sync_caught_up_timestamp_seconds', help: 'When this node last had every change of its parent\'s log; absent before the first time.', registers });
    const cursor = new Gauge({ name: 'outpost_sync_cursor', help: 'The sequence number of the parent\'s log this node has applied up to.', registers });
    const parentHead = new Gauge({ name: 'outpost_sync_parent_head', help: 'The parent\'s newest sequence number, as of its last answer.', registers });
    const behindSeconds = new Gauge({ name: 'outpost_sync_behind_seconds', help: 'How far behind the parent this node is, in seconds (0 when connected and caught up).', registers });
    const repoChanges = new Gauge({
      name: 'outpost_sync_repository_behind_changes', help: 'Changes from the parent known here and not applied yet, per synced repository.',
      labelNames: ['repository'] as const, registers,
    });
    const repoSeconds = new Gauge({
      name: 'outpost_sync_repository_behind_seconds', help: 'How far behind the parent a synced repository is, in seconds.', labelNames: ['repository'] as const, registers,
    });
    const outbox = new Gauge({ name: 'outpost_sync_outbox_pending', help: 'Local writes waiting to be pushed to the parent (ReadWrite).', registers });
    const parked = new Gauge({ name: 'outpost_sync_parked_items', help: 'Changes from the parent this node cannot complete now, parked and retried.', registers });
    const bytes = new Counter({ name: 'outpost_sync_transferred_bytes_total', help: 'Blob bytes moved by sync, by direction (pull: from the parent; push: to it).', labelNames: ['direction'] as const, registers });
    const blobs = new Counter({ name: 'outpost_sync_transferred_blobs_total', help: 'Blobs moved by sync, by direction.', labelNames: ['direction'] as const, registers });
    const manifests = new Counter({ name: 'outpost_sync_transferred_manifests_total', help: 'Manifests moved by sync, by direction.', labelNames: ['direction'] as const, registers });
    const errors = new Counter({
      name: 'outpost_sync_errors_total',
      help: 'Sync failures, by kind: a session ended by the link, the parent, a refusal, the disk or this node; an item parked; a push rejected or parked.',
      labelNames: ['kind'] as const, registers,
    });
    const reconciles = new Counter({ name: 'outpost_sync_reconciles_total', help: 'Full reconciles with the parent, by result.', labelNames: ['result'] as const, registers });
    const reconcileSeconds = new Gauge({ name: 'outpost_sync_last_reconcile_duration_seconds', help: 'How long the last full reconcile took.', registers });
    const pushes = new Counter({ name: 'outpost_sync_pushes_total', help: 'Local writes handled by the push-back, by result (pushed, rejected, parked).', labelNames: ['result'] as const, registers });

    events.subscribe(SYNC_EVENT_TYPES, (event) => {
      switch (event.type) {
        case 'sync-session-failed':
          errors.inc({ kind: event.kind });
          break;
        case 'sync-item-parked':
          errors.inc({ kind: 'item-parked' });
          break;
        case 'sync-push-finished':
          pushes.inc({ result: event.result });
          if (event.result !== 'pushed') errors.inc({ kind: `push-${event.result}` });
          break;
        case 'sync-reconcile-finished':
          reconciles.inc({ result: event.result });
          reconcileSeconds.set(event.durationMs / 1000);
          break;
      }
    });

    this.refreshers.push(async () => {
      const seen = await source.observe();
      const now = this.clock.now();
      for (const s of AGENT_STATES) state.set({ state: s }, s === seen.state ? 1 : 0);
      setOrRemove(lastSync, seen.lastSyncAt);
      setOrRemove(caughtUp, seen.caughtUpAt);
      setOrRemove(cursor, seen.cursor, 1);
      setOrRemove(parentHead, seen.parentHead, 1);
      outbox.set(seen.outbox);
      parked.set(seen.parked);
      setTotal(bytes, { direction: 'pull' }, seen.transfers.blobBytesFetched);
      setTotal(bytes, { direction: 'push' }, seen.transfers.blobBytesPushed);
      setTotal(blobs, { direction: 'pull' }, seen.transfers.blobsFetched);
      setTotal(blobs, { direction: 'push' }, seen.transfers.blobsPushed);
      setTotal(manifests, { direction: 'pull' }, seen.transfers.manifestsFetched);
      setTotal(manifests, { direction: 'push' }, seen.transfers.manifestsPushed);

      // While the agent is not connected, the parent may have anything since this node last
      // had all of it: every repository is as far behind as that, at least.
      const connected = seen.state === 'Online' || seen.state === 'Syncing';
      const unseenSince = connected ? null : (seen.caughtUpAt ?? seen.startedAt);
      const secondsSince = (at: number | null): number => (at === null || !Number.isFinite(at) ? 0 : Math.max(0, (now - at) / 1000));
      const earliest = (a: number | null, b: number | null): number | null => (a === null ? b : b === null ? a : Math.min(a, b));
      const pending = new Map(seen.pending.map((p) => [p.repository, p]));
      behindSeconds.set(secondsSince(earliest(unseenSince, seen.pending.reduce<number | null>((min, p) => earliest(min, p.oldestAt), null))));

      // Label values: repositories with changes pending first, then the synced ones, capped.
      const names = [...new Set([...seen.pending.map((p) => p.repository), ...(await source.syncedRepositories(MAX_REPOSITORY_SERIES + 1))])];
      repoChanges.reset();
      repoSeconds.reset();
      let otherChanges = 0;
      let otherOldest: number | null = null;
      names.forEach((repository, index) => {
        const p = pending.get(repository);
        if (index < MAX_REPOSITORY_SERIES) {
          repoChanges.set({ repository }, p?.changes ?? 0);
          repoSeconds.set({ repository }, secondsSince(earliest(unseenSince, p?.oldestAt ?? null)));
        } else {
          otherChanges += p?.changes ?? 0;
          otherOldest = earliest(otherOldest, p?.oldestAt ?? null);
        }
      });
      if (names.length > MAX_REPOSITORY_SERIES) {
        repoChanges.set({ repository: OTHER_REPOSITORIES }, otherChanges);
        repoSeconds.set({ repository: OTHER_REPOSITORIES }, secondsSince(earliest(unseenSince, otherOldest)));
      }
    });
  }

  /**
   * The connected registries below this node (its children and every descendant they relay),
   * from its own records at each scrape: a root shows the whole hierarchy in one scrape.
   * `selfName`: this node's own record (a connected node's), left out.
   */
  observeFleet(registries: Pick<ConnectedRegistryStore, 'listConnectedRegistries'>, events: EventBus, selfName: string | null): void {
    const registers = [this.registry];
    const labelNames = ['connected_registry', 'parent'] as const;
    const state = new Gauge({
      name: 'outpost_connected_registry_connection_state', help: 'A connected registry\'s connection state as this node shows it: 1 for the current one.',
      labelNames: [...labelNames, 'state'] as const, registers,
    });
    const heartbeatAge = new Gauge({
      name: 'outpost_connected_registry_last_heartbeat_age_seconds', help: 'Seconds since a connected registry\'s last heartbeat (relayed for those below a child); absent before the first.',
      labelNames, registers,
    });
    const lastSync = new Gauge({ name: 'outpost_connected_registry_last_sync_timestamp_seconds', help: 'When a connected registry last completed a sync, as it reported.', labelNames, registers });
    const pendingChanges = new Gauge({
      name: 'outpost_connected_registry_pending_changes', help: 'Changes of its parent\'s log a connected registry had not applied at its last heartbeat (all its repositories).',
      labelNames, registers,
    });
    const outbox = new Gauge({ name: 'outpost_connected_registry_outbox_pending', help: 'Local writes a connected registry had waiting to go up, at its last heartbeat.', labelNames, registers });
    const details = new Gauge({
      name: 'outpost_connected_registry_status_details', help: 'Status details a connected registry reported at its last heartbeat, by type.', labelNames: [...labelNames, 'type'] as const, registers,
    });
    const storageUsed = new Gauge({
      name: 'outpost_connected_registry_storage_used_bytes', help: 'Bytes of blobs and manifests a connected registry stores, as its last heartbeat reported.', labelNames, registers,
    });
    const storageFree = new Gauge({
      name: 'outpost_connected_registry_storage_free_bytes', help: 'Bytes still available to a connected registry on its storage\'s filesystem, as its last heartbeat reported.', labelNames, registers,
    });
    const heartbeats = new Counter({
      name: 'outpost_gateway_heartbeats_received_total', help: 'Heartbeats recorded by this node\'s gateway: its children\'s, and those they relay for the registries below them.',
      labelNames: ['connected_registry'] as const, registers,
    });
    events.subscribe(['connected-registry-status-received'], (event) => heartbeats.inc({ connected_registry: event.name }));

    this.refreshers.push(async () => {
      const now = this.clock.now();
      for (const family of [state, heartbeatAge, lastSync, pendingChanges, outbox, details, storageUsed, storageFree]) family.reset();
      for (const record of await registries.listConnectedRegistries()) {
        if (record.name === selfName) continue;
        const labels = { connected_registry: record.name, parent: record.parent ?? '' };
        const current = effectiveConnectionState(record, now);
        for (const s of FLEET_STATES) state.set({ ...labels, state: s }, s === current ? 1 : 0);
        if (record.runtime.lastActivityTime) heartbeatAge.set(labels, Math.max(0, (now - record.runtime.lastActivityTime.getTime()) / 1000));
        if (record.sync.lastSyncTime) lastSync.set(labels, record.sync.lastSyncTime.getTime() / 1000);
        pendingChanges.set(labels, record.runtime.repositories.reduce((sum, r) => sum + r.pendingChanges, 0));
        if (record.runtime.outboxPending !== null) outbox.set(labels, record.runtime.outboxPending);
        const storage = record.runtime.storage;
        if (storage) {
          storageUsed.set(labels, storage.usedBytes);
          if (storage.availableBytes !== null) storageFree.set(labels, storage.availableBytes);
        }
        const byType = new Map<string, number>();
        for (const d of record.runtime.statusDetails) byType.set(d.type, (byType.get(d.type) ?? 0) + 1);
        for (const [type, count] of byType) details.set({ ...labels, type }, count);
      }
    });
  }
}

/** A gauge of a time (ms, shown in seconds unless `scale`) or a number, removed while unknown. */
function setOrRemove(gauge: Gauge, value: number | null, scale = 1 / 1000): void {
  if (value === null) gauge.reset();
  else gauge.set(value * scale);
}

/** A counter kept by another part (a running total): shown as that total. */
function setTotal<T extends string>(counter: Counter<T>, labels: Partial<Record<T, string>>, total: number): void {
  counter.remove(labels);
  counter.inc(labels, total);
}
