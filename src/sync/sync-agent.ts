import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { SYNC_STATE_KEYS, type ConnectedRegistryStore, type IdentityStore, type MetadataStore, type SyncStore } from '../metadata/index.js';
import type { BlobStore } from '../storage/types.js';
import type { ConfigDocument, LoginServerDoc } from '../client/gateway-protocol.js';
import type { Clock } from '../core/clock.js';
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
  /** Called after a new config is applied (wakes this node's own children's long-polls). */
  onConfigApplied?: (document: ConfigDocument) => void;
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
  private instanceId = '';

  constructor(private readonly deps: SyncAgentDeps) {
    const { parent, metadata, selfName, logger, clock } = deps;
    const now = (): number => clock.now();
    const instanceId = (): string => this.instanceId;
    this.reconciles = new ReconcileRequests(metadata);
    this.config = new ConfigFollower({
      gateway: parent.gateway,
      applier: new ConfigApplier(deps.connectedRegistries, deps.identities, metadata, deps.policy),
      state: metadata, reconciles: this.reconciles, selfName, logger,
      ...(deps.onConfigApplied ? { onApplied: deps.onConfigApplied } : {}),
      ...(deps.collectGarbage ? { collectGarbage: deps.collectGarbage } : {}),
    });
    // The parent's changes are written through the node's write pipeline.
    const applier = new SyncApplier(deps.writer);
    this.puller = new ContentPuller(parent.registry, deps.blobs, metadata, applier, deps.parallelBlobs ?? 8);
    const pull = new PullSync(parent.registry, this.puller, metadata, metadata, applier, deps.policy, logger, now);
    this.outbox = new OutboxLoop({
      pusher: new OutboxPusher(parent.registry, deps.blobs, metadata, metadata, logger, now),
      store: metadata, policy: deps.policy, activity: this.activity, clock,
    });
    const status = new StatusReporter({
      gateway: parent.gateway, store: metadata, connectedRegistries: deps.connectedRegistries, activity: this.activity, config: this.config,
      selfName, version: deps.version, loginServer: deps.loginServer, instanceId, clock, logger,
      reactivate: (signal) => this.sessions.connect(signal),
      ...(deps.heartbeatSeconds !== undefined ? { heartbeatSeconds: deps.heartbeatSeconds } : {}),
    });
    const pullLoop = new PullLoop({
      gateway: parent.gateway, pull, store: metadata, config: this.config, reconciles: this.reconciles, activity: this.activity,
      status, outbox: this.outbox, clock, logger, selfName,
      ...(deps.pollSeconds !== undefined ? { pollSeconds: deps.pollSeconds } : {}),
    });
    this.sessions = new SessionRunner({
      gateway: parent.gateway, config: this.config, activity: this.activity, pull: pullLoop, outbox: this.outbox, status,
      instanceId, selfName, version: deps.version, parentAddress: parent.address, clock, logger,
      ...(deps.random ? { random: deps.random } : {}),
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
