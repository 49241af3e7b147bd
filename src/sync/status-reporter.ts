import type { Logger } from 'pino';
import {
  effectiveConnectionState, HEARTBEAT_SECONDS, SYNC_STATE_KEYS, type ConnectedRegistryRecord, type ConnectedRegistryStore, type StatusDetail, type SyncStore,
} from '../metadata/index.js';
import { RemoteError } from '../client/http-transport.js';
import type { ParentGateway } from '../client/gateway-client.js';
import type { DescendantStatus, GcReport, LoginServerDoc, StatusReport, StorageUsageDoc } from '../client/gateway-protocol.js';
import type { Clock } from '../core/clock.js';
import type { ConfigFollower } from './config-follower.js';
import type { SyncActivity } from './sync-activity.js';
import { syncItemDetails } from './status-details.js';
import { diskErrorCode, failureText } from './sync-failures.js';

export interface StatusReporterDeps {
  gateway: Pick<ParentGateway, 'status'>;
  /** `getState`: the report of this node's last garbage collection (SYNC_STATE_KEYS.gcLastReport). */
  store: Pick<SyncStore, 'parkedItems' | 'outboxFailures' | 'getCursor' | 'outboxSize' | 'getState'>;
  /** This node's gateway's records: its descendants' statuses are relayed up. */
  connectedRegistries: Pick<ConnectedRegistryStore, 'listConnectedRegistries'>;
  activity: Pick<SyncActivity, 'connectionState'>;
  config: Pick<ConfigFollower, 'refreshIfChanged'>;
  /** This node's own connected-registry name (its own record is not a descendant). */
  selfName: string;
  version: string;
  /** This node's address for clients and children (known once it listens). */
  loginServer: () => LoginServerDoc | null;
  instanceId: () => string;
  /**
   * Measures this node's storage for the heartbeat (what it stores, how full its filesystem is);
   * null when it cannot. Absent: the heartbeat carries none.
   */
  storage?: () => Promise<StorageUsageDoc | null>;
  /** Claims the registry again (the parent no longer counts this instance as active). */
  reactivate: (signal: AbortSignal) => Promise<void>;
  clock: Clock;
  logger: Logger;
  heartbeatSeconds?: number;
}

/**
 * Status reporting of a connected node (docs/architecture.md, "Connected node and sync agent"):
 * the heartbeat loop of a session and the report it sends — the connection state derived from
 * the work in flight, the status details (a DiskError while the disk fails; one per item sync
 * could not carry through, from the durable records), the last sync time, the cursor, the
 * outbox size and the statuses of every descendant this node's gateway recorded.
 */
export class StatusReporter {
  private lastSyncTime: number | null = null;
  private diskError: StatusDetail | null = null;

  constructor(private readonly deps: StatusReporterDeps) {}

  /** When a sync (a page of messages, a reconcile) last completed (this node's clock); null before the first. */
  get lastSync(): number | null {
    return this.lastSyncTime;
  }

  /** A sync (a page of messages, a reconcile) has completed now. */
  noteSynced(): void {
    this.lastSyncTime = this.deps.clock.now();
  }

  /** A session failed: a failure of the local disk is reported (DiskError) until clearDiskError. */
  noteFailure(err: unknown): void {
    const code = diskErrorCode(err);
    if (code === null) return;
    this.diskError = {
      type: 'DiskError', code, description: `local storage failed: ${failureText(err)}`.slice(0, 500),
      timestamp: new Date(this.deps.clock.now()).toISOString(), correlationId: this.deps.instanceId(),
    };
  }

  /** What failed on the disk has been stored since (messages applied, a full reconcile done). */
  clearDiskError(): void {
    this.diskError = null;
  }

  /** The heartbeat as it would be sent now (its connection state read last, after every await). */
  async report(): Promise<StatusReport> {
    const { store, instanceId } = this.deps;
    const items = syncItemDetails(await store.parkedItems(), await store.outboxFailures(), instanceId());
    const cursor = await store.getCursor();
    const outbox = await store.outboxSize();
    const descendants = await this.descendants();
    const storage = await this.storage();
    const gc = await store.getState(SYNC_STATE_KEYS.gcLastReport);
    return {
      instanceId: instanceId(),
      connectionState: this.deps.activity.connectionState,
      statusDetails: [...(this.diskError ? [{ ...this.diskError }] : []), ...items],
      lastSyncTime: this.lastSyncTime === null ? null : new Date(this.lastSyncTime).toISOString(),
      version: this.deps.version,
      loginServer: this.deps.loginServer(),
      cursor,
      outbox,
      storage,
      lastGarbageCollection: gc === null ? null : (JSON.parse(gc) as GcReport),
      descendants,
    };
  }

  /** This node's storage; a measurement that fails is left out of the heartbeat (logged), never a reason not to send it. */
  private async storage(): Promise<StorageUsageDoc | null> {
    if (!this.deps.storage) return null;
    try {
      return await this.deps.storage();
    } catch (err) {
      this.deps.logger.debug({ err: failureText(err) }, 'measuring storage for the heartbeat failed');
      return null;
    }
  }

  /** Sends a heartbeat; a new config ETag in the answer refreshes the config. Throws what the gateway throws. */
  async send(signal: AbortSignal): Promise<void> {
    const ack = await this.deps.gateway.status(await this.report(), signal);
    await this.deps.config.refreshIfChanged(ack.config, signal);
  }

  /** The session's heartbeat loop: every interval until `signal` aborts; a failed heartbeat is only logged, a deactivation activates again. */
  async heartbeats(signal: AbortSignal): Promise<void> {
    const interval = (this.deps.heartbeatSeconds ?? HEARTBEAT_SECONDS) * 1000;
    while (!signal.aborted) {
      try {
        await this.send(signal);
      } catch (err) {
        if (!(err instanceof RemoteError && err.code === 'ALREADY_ACTIVATED')) {
          this.deps.logger.debug({ err: failureText(err) }, 'heartbeat failed');
        } else {
          // Deactivated at the root while running: claim it again, unless another instance has meanwhile.
          this.deps.logger.warn('the parent no longer counts this instance as active: activating again');
          await this.deps.reactivate(signal);
        }
      }
      await this.deps.clock.sleep(interval, signal);
    }
  }

  /** Its descendants' status as this node's gateway has it, relayed up. */
  private async descendants(): Promise<DescendantStatus[]> {
    const now = this.deps.clock.now();
    return (await this.deps.connectedRegistries.listConnectedRegistries())
      .filter((r) => r.name !== this.deps.selfName)
      .map((r) => descendantStatus(r, now));
  }
}

function descendantStatus(r: ConnectedRegistryRecord, now: number): DescendantStatus {
  return {
    name: r.name,
    activationEpoch: r.activationEpoch,
    activationStatus: r.runtime.activationStatus,
    instanceId: r.runtime.instanceId,
    connectionState: effectiveConnectionState(r, now),
    lastActivityTime: r.runtime.lastActivityTime ? r.runtime.lastActivityTime.toISOString() : null,
    lastSyncTime: r.sync.lastSyncTime ? r.sync.lastSyncTime.toISOString() : null,
    version: r.runtime.version,
    loginServer: r.runtime.loginServer,
    statusDetails: r.runtime.statusDetails,
    repositories: r.runtime.repositories,
    outbox: r.runtime.outboxPending,
    storage: r.runtime.storage === null ? null : { ...r.runtime.storage, measuredAt: r.runtime.storage.measuredAt.toISOString() },
    lastGarbageCollection: r.runtime.lastGarbageCollection,
  };
}
