import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { SYNC_STATE_KEYS, type ConnectedRegistryStore, type IdentityStore, type MetadataStore, type SyncStore } from '../metadata/index.js';
import type { BlobStore } from '../storage/types.js';
import type { ConfigDocument, LoginServerDoc, StorageUsageDoc } from '../client/gateway-protocol.js';
import type { Clock } from '../core/clock.js';
import type { DomainEvent } from '../core/events.js';
import { ConfigApplier } from './config-applier.js';
import { ConfigFollower } from './config-follower.js';
import { ContentPuller, type TransferCounters } from './content-puller.js';
import type { EdgePolicy } from './edge-policy.js';
import { OutboxLoop } from './outbox-loop.js';
import { OutboxPusher } from './outbox-pusher.js';
import type { ParentLink } from './parent-link.js';
import { PullLoop } from './pull-loop.js';
import { PullSync } from './pull-sync.js';
import { ReconcileRequests } from './reconcile-requests.js';
import { SessionRunner } from './session-runner.js';
import { StatusReporter } from './status-reporter.js';
import { SyncActivity, type AgentState } from './sync-activity.js';
import { SyncApplier } from './sync-applier.js';
import { SyncProgress, type PendingRepository } from './sync-progress.js';
import type { RegistryWriter } from '../registry/registry-writer.js';

export type { AgentState } from './sync-activity.js';
export { SyncFatalError } from './sync-failures.js';

export interface SyncAgentDeps {
  /** This node's own connected-registry name (the connection string's ConnectedRegistryName). */
  selfName: string;
  /** The parent (httpParentLink from the connection string; a fake parent in unit tests). */
  parent: ParentLink;
  metadata: MetadataStore & SyncStore;
  /** The node's write pipeline: the changes from the parent are written through it. */
  writer: RegistryWriter;
  identities: IdentityStore;
  connectedRegistries: ConnectedRegistryStore;
  blobs: BlobStore;
  policy: EdgePolicy;
  logger: Logger;
  version: string;
  /** This node's address for clients and children (known once it listens). */
  loginServer: () => LoginServerDoc | null;
  /** Measures this node's storage for its heartbeats (absent: they carry none). */
  storage?: () => Promise<StorageUsageDoc | null>;
  /** Called after a new config is applied (wakes this node's own children's long-polls). */
  onConfigApplied?: (document: ConfigDocument) => void;
  /** Called at start with the config applied last, when there is one (its logging settings apply before the parent answers). */
  onConfigLoaded?: (document: ConfigDocument) => void;
  /** Runs this node's garbage collection when the root asks for it (`connected-registry gc`); resolves when it ends. */
  collectGarbage?: (dryRun: boolean) => Promise<unknown>;
  /** The node's one clock: windows, backoff, heartbeats, parked-item retries. */
  clock: Clock;
  /** Longest long-poll asked of the parent, seconds (25 by default; tests shorten it). */
  pollSeconds?: number;
  heartbeatSeconds?: number;
  /** Parallel blob transfers from the parent. */
  parallelBlobs?: number;
  /** The backoff's jitter source (Math.random; tests fix it). */
  random?: () => number;
  /** More work of each session beside pull, push-back and heartbeats (the notification event relay). */
  sessionTasks?: ReadonlyArray<{ run(signal: AbortSignal): Promise<void> }>;
  /** Publishes on the node's bus: the agent's outcomes (pushes, reconciles, parked items, failed sessions; core/events.ts). */
  publish?: (event: DomainEvent) => void;
}

/** What the agent can tell about its progress now (metrics read it at each scrape: docs/observability.md). */
export interface SyncObservation {
  state: AgentState;
  /** When a sync last completed (a page of messages applied, a reconcile); null before the first. */
  lastSyncAt: number | null;
  /** When the cursor last reached the parent's head; null before the first time. */
  caughtUpAt: number | null;
  /** When the agent started (the lag of a node that never caught up runs from here). */
  startedAt: number;
  cursor: number | null;
  /** The parent's newest sequence number as of its last answer; null before one. */
  parentHead: number | null;
  /** Changes from the parent known here and not applied yet, per repository, largest first. */
  pending: PendingRepository[];
  /** Local writes waiting to go up (ReadWrite). */
  outbox: number;
  /** Changes from the parent parked here. */
  parked: number;
  transfers: TransferCounters & { blobsPushed: number; blobBytesPushed: number; manifestsPushed: number };
}

/**
 * The child side of sync (docs/architecture.md, "Connected node and sync agent"), as the
 * composition root starts and stops it. It only builds and holds the parts, each with one job:
 * SessionRunner (activation, sessions, windows, backoff), PullLoop (messages, reconciles),
 * OutboxLoop (push-back), StatusReporter (heartbeats), ConfigFollower (the parent's config),
 * with SyncActivity deriving the state from the work in flight.
 */
export class SyncAgent {
  private readonly activity = new SyncActivity();
  private readonly puller: ContentPuller;
  private readonly outbox: OutboxLoop;
  private readonly config: ConfigFollower;
  private readonly reconciles: ReconcileRequests;
  private readonly sessions: SessionRunner;
  private readonly pusher: OutboxPusher;
  private readonly status: StatusReporter;
  private readonly progress = new SyncProgress();
  private readonly startedAt: number;
  private instanceId = '';

  constructor(private readonly deps: SyncAgentDeps) {
    const { parent, metadata, selfName, logger, clock } = deps;
    const now = (): number => clock.now();
    const publish = deps.publish ?? ((): void => undefined);
    this.startedAt = now();
    const instanceId = (): string => this.instanceId;
    this.reconciles = new ReconcileRequests(metadata);
    this.config = new ConfigFollower({
      gateway: parent.gateway,
      applier: new ConfigApplier(deps.connectedRegistries, deps.identities, metadata, deps.policy),
      state: metadata, reconciles: this.reconciles, selfName, logger,
      ...(deps.onConfigApplied ? { onApplied: deps.onConfigApplied } : {}),
      ...(deps.onConfigLoaded ? { onLoaded: deps.onConfigLoaded } : {}),
      ...(deps.collectGarbage ? { collectGarbage: deps.collectGarbage } : {}),
    });
    // The parent's changes are written through the node's write pipeline.
    const applier = new SyncApplier(deps.writer);
    this.puller = new ContentPuller(parent.registry, deps.blobs, metadata, applier, deps.parallelBlobs ?? 8);
    const pull = new PullSync(parent.registry, this.puller, metadata, metadata, applier, deps.policy, logger, now, publish);
    this.pusher = new OutboxPusher(parent.registry, deps.blobs, metadata, metadata, logger, now, publish);
    this.outbox = new OutboxLoop({
      pusher: this.pusher,
      store: metadata, policy: deps.policy, activity: this.activity, clock, logger,
    });
    const status = this.status = new StatusReporter({
      gateway: parent.gateway, store: metadata, connectedRegistries: deps.connectedRegistries, activity: this.activity, config: this.config,
      selfName, version: deps.version, loginServer: deps.loginServer, instanceId, clock, logger,
      ...(deps.storage ? { storage: deps.storage } : {}),
      reactivate: (signal) => this.sessions.connect(signal),
      ...(deps.heartbeatSeconds !== undefined ? { heartbeatSeconds: deps.heartbeatSeconds } : {}),
    });
    const pullLoop = new PullLoop({
      gateway: parent.gateway, pull, store: metadata, config: this.config, reconciles: this.reconciles, activity: this.activity,
      status, outbox: this.outbox, clock, logger, selfName, progress: this.progress, publish,
      ...(deps.pollSeconds !== undefined ? { pollSeconds: deps.pollSeconds } : {}),
    });
    this.sessions = new SessionRunner({
      gateway: parent.gateway, config: this.config, activity: this.activity, pull: pullLoop, outbox: this.outbox, status,
      instanceId, selfName, version: deps.version, parentAddress: parent.address, clock, logger, publish,
      ...(deps.random ? { random: deps.random } : {}),
      ...(deps.sessionTasks ? { alongside: deps.sessionTasks } : {}),
    });
  }

  /** What the agent is doing now (derived: see SyncActivity). */
  get currentState(): AgentState {
    return this.activity.state;
  }

  /** Bytes and objects moved from the parent so far. */
  get transfers(): TransferCounters {
    return this.puller.counters;
  }

  /** The agent's progress now: state, lag behind the parent, outbox, transfers (a few reads of the store). */
  async observe(): Promise<SyncObservation> {
    const { metadata } = this.deps;
    const cursor = await metadata.getCursor();
    return {
      state: this.activity.state,
      lastSyncAt: this.status.lastSync,
      caughtUpAt: this.progress.caughtUpAt,
      startedAt: this.startedAt,
      cursor,
      parentHead: this.progress.parentHead,
      pending: this.progress.pending(cursor),
      outbox: await metadata.outboxSize(),
      parked: (await metadata.parkedItems()).length,
      transfers: { ...this.puller.counters, ...this.pusher.counters },
    };
  }

  /**
   * Loads the last config (the node enforces it at once), the instance id and whether a
   * reconcile is owed, then activates at the parent and fetches the config. Throws
   * SyncFatalError when the parent refuses this node for good; a parent that cannot be reached
   * is only logged: the node serves what it has and the agent keeps trying in the background.
   */
  async start(): Promise<void> {
    const { metadata } = this.deps;
    await this.config.load();
    this.instanceId = (await metadata.getState(SYNC_STATE_KEYS.instanceId)) ?? randomUUID();
    await metadata.setState(SYNC_STATE_KEYS.instanceId, this.instanceId);
    await this.reconciles.load();
    await this.sessions.start();
  }

  async stop(): Promise<void> {
    await this.sessions.stop();
    await this.deps.parent.close();
  }

  /** Wakes the push-back loop (a local write was committed). */
  localWrite(): void {
    this.outbox.wake();
  }
}
