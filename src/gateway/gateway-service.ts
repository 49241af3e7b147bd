import { RegistryError, isoDurationMs } from '../oci/index.js';
import {
  descendantsOf,
  type ConnectedRegistryChange, type ConnectedRegistryRecord, type ConnectedRegistryStore, type IdentityStore, type MetadataStore,
  type RepositorySyncStatus, type StorageUsage, type SyncStore,
} from '../metadata/index.js';
import type { ActivateRequest, ActivateResponse, ConfigDocument, DescendantStatus, StatusReport, StorageUsageDoc } from '../client/gateway-protocol.js';
import { buildConfigDocument, configEtag, inScope, syncScopeOf } from './config-document.js';
import { readFeed, type FeedPage } from './change-feed.js';
import type { EventBus } from '../core/events.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** The message TTL assumed when a record's cannot be read (the reference's default, P2D). */
const DEFAULT_TTL_MS = 2 * DAY_MS;
/** How long a node with no children keeps its change log (the longest TTL allowed, P90D). */
export const RETENTION_WITHOUT_CHILDREN_MS = 90 * DAY_MS;
const REPOSITORY_PAGE = 1000;

export interface GatewayStores {
  metadata: MetadataStore;
  identities: IdentityStore;
  connectedRegistries: ConnectedRegistryStore;
  /**
   * A connected node's outbox: the prune never drops the rows of local writes that are not
   * settled with its parent yet (waiting, parked, or pushed and awaiting their echo), however
   * old. Absent on the root, which pushes nowhere.
   */
  outbox?: Pick<SyncStore, 'oldestUnsettledLocalWrite'> | undefined;
}

/**
 * The parent side of sync (docs/architecture.md, "Sync gateway") over the local stores; the routes only parse HTTP and
 * authorize. A node serves its DIRECT children only: the records whose parent is this node
 * (`parent === selfName`; null on the root). On a connected node its own record is stored locally
 * with no parent and is never served.
 */
export class GatewayService {
  /** `events`: where each recorded heartbeat is announced (`connected-registry-status-received`). */
  constructor(
    private readonly stores: GatewayStores,
    private readonly selfName: string | null,
    private readonly clock: () => number,
    private readonly events?: EventBus,
  ) {}

  private readonly configCache = new Map<string, { doc: ConfigDocument; etag: string }>();
  private configGeneration = 0;

  private isDirectChild(record: ConnectedRegistryRecord): boolean {
    return record.parent === this.selfName && record.name !== this.selfName;
  }

  /** The direct child `name`; throws NOT_FOUND for anything else. */
  async directChild(name: string): Promise<ConnectedRegistryRecord> {
    const record = await this.stores.connectedRegistries.getConnectedRegistry(name);
    if (!record || !this.isDirectChild(record)) {
      throw new RegistryError('NOT_FOUND', `Connected registry '${name}' is not a child of this node.`, { connectedRegistry: name });
    }
    return record;
  }

  /**
   * The direct child `name`, when `instanceId` holds its activation. Throws NOT_FOUND, and
   * ALREADY_ACTIVATED (409) when another instance holds it or it was deactivated: the child
   * activates again.
   */
  async activeChild(name: string, instanceId: string): Promise<ConnectedRegistryRecord> {
    const child = await this.directChild(name);
    if (child.runtime.activationStatus !== 'Active' || child.runtime.instanceId !== instanceId) {
      const held = child.runtime.activationStatus === 'Active';
      throw new RegistryError('ALREADY_ACTIVATED',
        held
          ? 'Failed to activate the connected registry as it is already activated by another instance. Only one instance is supported at any time.'
          : `The connected registry '${child.name}' is not activated by this instance: activate it again.`,
        { activationStatus: child.runtime.activationStatus });
    }
    return child;
  }

  /** Claims the child for the instance; ALREADY_ACTIVATED (409) while another instance holds it. */
  async activate(name: string, request: ActivateRequest): Promise<ActivateResponse> {
    const child = await this.directChild(name);
    const record = await this.stores.connectedRegistries.activate(child.name, request.instanceId, request.version, new Date(this.clock()));
    return { name: record.name, mode: record.mode, activationStatus: 'Active' };
  }

  /**
   * The child's config document and its ETag. Cached per child until invalidateConfig(): every
   * held long-poll and heartbeat needs the ETag, and building the document reads every record,
   * token and scope map.
   */
  async config(child: ConnectedRegistryRecord): Promise<{ doc: ConfigDocument; etag: string }> {
    const cached = this.configCache.get(child.name);
    if (cached) return cached;
    const generation = this.configGeneration;
    const all = await this.stores.connectedRegistries.listConnectedRegistries();
    // The child as read now, not as the caller read it before: a record from before an
    // invalidation must not be cached after it.
    const current = all.find((r) => r.name === child.name);
    const doc = await buildConfigDocument(current ?? child, all, this.stores.identities);
    const built = { doc, etag: configEtag(doc) };
    // Built across an invalidation (or for a record gone since): correct for this caller, maybe stale for the next.
    if (generation === this.configGeneration && current !== undefined) this.configCache.set(child.name, built);
    return built;
  }

  /** Config may have changed (a management write, a config applied from the parent): drop the cached documents. */
  invalidateConfig(): void {
    this.configGeneration += 1;
    this.configCache.clear();
  }

  /** The repository patterns the child syncs. */
  scopeOf(child: ConnectedRegistryRecord): Promise<string[]> {
    return syncScopeOf(child, this.stores.identities);
  }

  /**
   * The child's messages after `after`. `checkRetention` (the first read of a request) throws
   * RESYNC_REQUIRED when the cursor is outside what this node still has for the child's TTL.
   */
  messages(child: ConnectedRegistryRecord, scope: readonly string[], after: number, checkRetention: boolean): Promise<FeedPage> {
    const retention = checkRetention ? { ttlMs: ttlMs(child), now: this.clock() } : undefined;
    return readFeed(this.stores.metadata, scope, after, retention);
  }

  /** The newest sequence number of this node's log, for the direct child `name` (a full reconcile continues after it). */
  async head(name: string): Promise<number> {
    await this.directChild(name);
    return this.stores.metadata.lastChangeSeq();
  }

  /**
   * Takes a heartbeat: the child's runtime (activity time by this node's clock, reported state,
   * version, login server, status details, last sync), its lag per repository computed from this
   * node's log, and the statuses it relays for its own descendants. Throws ALREADY_ACTIVATED (409)
   * when the reporting instance does not hold the activation (another one does, or it was
   * deactivated): the child activates again. Returns the child's current config ETag.
   */
  async status(name: string, report: StatusReport): Promise<string> {
    const child = await this.activeChild(name, report.instanceId);
    const scope = await this.scopeOf(child);
    const repositories = await this.lag(scope, report.cursor);
    const change: ConnectedRegistryChange = {
      sync: { lastSyncTime: report.lastSyncTime === null ? null : new Date(report.lastSyncTime) },
      // Activation fields are left out: a deactivate committed meanwhile stays in force.
      runtime: {
        connectionState: report.connectionState,
        lastActivityTime: new Date(this.clock()),
        version: report.version,
        loginServer: report.loginServer,
        statusDetails: report.statusDetails,
        repositories,
        outboxPending: report.outbox,
        storage: storageOf(report.storage),
        // An older child says nothing about garbage collection: what is recorded stays.
        ...(report.lastGarbageCollection !== undefined ? { lastGarbageCollection: report.lastGarbageCollection } : {}),
      },
    };
    const updated = await this.stores.connectedRegistries.updateConnectedRegistry(child.name, change);
    this.events?.publish({ type: 'connected-registry-status-received', name: child.name });
    await this.relay(updated, report.descendants);
    return (await this.config(updated)).etag;
  }

  /**
   * Per repository in the scope, how many changes of this node's log come after `cursor` (from
   * the start when the child has none yet). Repositories in scope that exist here are listed even
   * with nothing pending; deleted ones only while their changes are pending.
   */
  private async lag(scope: readonly string[], cursor: number | null): Promise<RepositorySyncStatus[]> {
    const { metadata } = this.stores;
    const counts = await metadata.changeCountsSince(cursor ?? 0);
    const names = new Set<string>();
    if (scope.some((p) => p.endsWith('*'))) {
      let last: string | undefined;
      for (;;) {
        const page = await metadata.listRepositories(last === undefined ? { limit: REPOSITORY_PAGE } : { last, limit: REPOSITORY_PAGE });
        for (const name of page) if (inScope(scope, name)) names.add(name);
        if (page.length < REPOSITORY_PAGE) break;
        last = page[page.length - 1];
      }
    } else {
      for (const name of scope) if (await metadata.repositoryExists(name)) names.add(name);
    }
    for (const name of counts.keys()) if (inScope(scope, name)) names.add(name);
    return [...names].sort().map((name) => ({ name, pendingChanges: counts.get(name) ?? 0 }));
  }

  /**
   * Applies statuses the child relays from below to the records of its descendants only. An
   * entry from an older activation epoch than the stored one is stale (a deactivate here has not
   * reached the node that serves it yet) and is ignored.
   */
  private async relay(child: ConnectedRegistryRecord, statuses: readonly DescendantStatus[]): Promise<void> {
    if (statuses.length === 0) return;
    const below = new Map(descendantsOf(child.name, await this.stores.connectedRegistries.listConnectedRegistries()).map((r) => [r.name, r]));
    for (const s of statuses) {
      const record = below.get(s.name);
      if (!record || s.activationEpoch < record.activationEpoch) continue;
      await this.stores.connectedRegistries.updateConnectedRegistry(record.name, {
        sync: { lastSyncTime: s.lastSyncTime === null ? null : new Date(s.lastSyncTime) },
        runtime: {
          activationStatus: s.activationStatus,
          instanceId: s.instanceId,
          connectionState: s.connectionState,
          lastActivityTime: s.lastActivityTime === null ? null : new Date(s.lastActivityTime),
          version: s.version,
          loginServer: s.loginServer,
          statusDetails: s.statusDetails,
          repositories: s.repositories,
          outboxPending: s.outbox ?? null,
          storage: storageOf(s.storage),
          ...(s.lastGarbageCollection !== undefined ? { lastGarbageCollection: s.lastGarbageCollection } : {}),
        },
      });
      this.events?.publish({ type: 'connected-registry-status-received', name: record.name });
    }
  }

  /**
   * Drops changes no direct child can still ask for: older than the longest message TTL of the
   * direct children (90 days without children), never the newest row, and on a connected node
   * never a local write not settled with its parent yet. Returns how many rows went.
   */
  async prune(): Promise<number> {
    const children = (await this.stores.connectedRegistries.listConnectedRegistries()).filter((r) => this.isDirectChild(r));
    const keepMs = children.length === 0 ? RETENTION_WITHOUT_CHILDREN_MS : Math.max(...children.map(ttlMs));
    const unsettled = this.stores.outbox ? await this.stores.outbox.oldestUnsettledLocalWrite() : null;
    return this.stores.metadata.pruneChanges(new Date(this.clock() - keepMs), unsettled ?? undefined);
  }
}

/** A record's message TTL in milliseconds (P2D when unreadable; values were validated on the way in). */
export function ttlMs(record: ConnectedRegistryRecord): number {
  return isoDurationMs(record.sync.messageTtl) ?? DEFAULT_TTL_MS;
}

/** A reported storage as stored; null when the report had none. */
function storageOf(doc: StorageUsageDoc | null | undefined): StorageUsage | null {
  if (doc === null || doc === undefined) return null;
  return { ...doc, measuredAt: new Date(doc.measuredAt) };
}
