import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import {
  effectiveConnectionState, HEARTBEAT_SECONDS, type ConnectedRegistryRecord, type ConnectedRegistryStore, type IdentityStore,
  type MetadataStore, type StatusDetail, type SyncStore,
} from '../metadata/index.js';
import type { BlobStore } from '../storage/types.js';
import { HttpTransport, RemoteError } from '../client/http-transport.js';
import { RegistryClient } from '../client/registry-client.js';
import { GatewayClient } from '../client/gateway-client.js';
import type { ConfigDocument, DescendantStatus, LoginServerDoc, StatusReport } from '../client/gateway-protocol.js';
import { isoDurationMs } from '../oci/index.js';
import { ContentPuller } from './content-puller.js';
import { ConfigApplier } from './config-applier.js';
import { EdgePolicy } from './edge-policy.js';
import { OutboxPusher } from './outbox-pusher.js';
import { PullSync } from './pull-sync.js';
import { SyncApplier } from './sync-applier.js';
import type { RegistryWriter } from '../registry/registry-writer.js';
import { SyncSchedule } from './schedule.js';
import { systemClock, type Clock } from '../core/clock.js';
import { syncItemDetails } from './status-details.js';

const INSTANCE_KEY = 'instance-id';
const RESYNC_KEY = 'resync-handled';
const SCOPE_KEY = 'scope';
/** 'pending' from a reconcile request (scope change, resync) until a full reconcile begun after it ends. */
const RECONCILE_KEY = 'reconcile';
const DISK_ERRORS = new Set(['ENOSPC', 'EIO', 'EROFS', 'EDQUOT']);
/** A cursor past any real sequence number (the gateway takes up to 15 digits). */
const HEAD_PROBE = 999_999_999_999_999;
/**
 * Waits between attempts while the parent is unreachable: from 0.5 s, doubling, at most 5 s,
 * each drawn between half and all of that (jitter: a fleet of edges does not return in step).
 * So an outage costs at most 5 s more than it lasts.
 */
const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 5_000;
/** While the parent refuses this node (credentials, another instance): retried this often. */
const REFUSED_RETRY_MS = 30_000;

/** How the agent reaches its parent (from the connection string). */
export interface ParentSettings {
  name: string;
  tokenName: string;
  tokenPassword: string;
  parentEndpoint: string;
  parentProtocol: 'http' | 'https';
  caFile: string | null;
}

export interface SyncAgentDeps {
  parent: ParentSettings;
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
  clock?: Clock;
  /** Longest long-poll asked of the parent, seconds (25 by default; tests shorten it). */
  pollSeconds?: number;
  heartbeatSeconds?: number;
  /** Parallel blob transfers from the parent. */
  parallelBlobs?: number;
}

/** A reason the node cannot run as this connected registry at all (bad credentials, another instance holds it). */
export class SyncFatalError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'SyncFatalError';
  }
}

export type AgentState = 'Starting' | 'Online' | 'Syncing' | 'Offline' | 'OutsideWindow';

/**
 * The child side of sync (docs/architecture.md, "Connected node and sync agent"): activates at the parent with a persistent instance id,
 * follows the parent's config, pulls content (long-polling continuously, or inside each sync
 * window), pushes local writes up (ReadWrite), heartbeats its own and its descendants' status,
 * and keeps the node serving from local storage whenever the parent is unreachable.
 */
export class SyncAgent {
  private readonly gateway: GatewayClient;
  private readonly transport: HttpTransport;
  private readonly puller: ContentPuller;
  private readonly pull: PullSync;
  private readonly outbox: OutboxPusher;
  private readonly applier: ConfigApplier;
  private readonly clock: Clock;
  private readonly stopping = new AbortController();
  private config: ConfigDocument | null = null;
  private configEtag: string | null = null;
  private instanceId = '';
  private needsReconcile = false;
  private running: Promise<void> | null = null;
  private state: AgentState = 'Starting';
  private lastSyncTime: Date | null = null;
  private readonly problems = new Map<string, StatusDetail>();
  /** When the parent became unreachable (this agent's clock), while it is. */
  private outageSince: number | null = null;
  private outboxWake: (() => void) | null = null;
  private refreshing: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SyncAgentDeps) {
    const p = deps.parent;
    this.transport = new HttpTransport({
      baseUrl: `${p.parentProtocol}://${p.parentEndpoint}`, username: p.tokenName, password: p.tokenPassword, caFile: p.caFile,
    });
    this.gateway = new GatewayClient(this.transport, p.name);
    const registry = new RegistryClient(this.transport);
    this.clock = deps.clock ?? systemClock;
    const now = (): number => this.clock.now();
    const applier = new SyncApplier(deps.writer);
    this.puller = new ContentPuller(registry, deps.blobs, deps.metadata, applier, deps.parallelBlobs ?? 8);
    this.pull = new PullSync(registry, this.puller, deps.metadata, deps.metadata, applier, deps.policy, deps.logger, now);
    this.outbox = new OutboxPusher(registry, deps.blobs, deps.metadata, deps.metadata, deps.logger, now);
    this.applier = new ConfigApplier(deps.connectedRegistries, deps.identities, deps.metadata, deps.policy);
  }

  get currentState(): AgentState {
    return this.state;
  }

  get transfers(): ContentPuller['counters'] {
    return this.puller.counters;
  }

  /**
   * Loads the last config, then activates at the parent and fetches the config. Throws
   * SyncFatalError when the parent refuses this node for good (wrong name or password, another
   * instance active, unknown registry); a parent that cannot be reached is only logged: the node
   * serves what it has and the agent keeps trying in the background (`run`).
   */
  async start(): Promise<void> {
    const stored = await this.applier.load();
    if (stored) {
      this.config = stored.document;
      this.configEtag = stored.etag;
    }
    this.instanceId = (await this.deps.metadata.getState(INSTANCE_KEY)) ?? randomUUID();
    await this.deps.metadata.setState(INSTANCE_KEY, this.instanceId);
    // Never synced, or a requested reconcile did not finish before the node stopped.
    this.needsReconcile = (await this.deps.metadata.getCursor()) === null || (await this.deps.metadata.getState(RECONCILE_KEY)) === 'pending';
    try {
      await this.connect(this.stopping.signal);
    } catch (err) {
      if (err instanceof SyncFatalError) throw err;
      this.outageSince = this.clock.now();
      this.deps.logger.warn({ err: errorText(err), parent: this.transport.baseUrl }, 'parent unreachable at start; serving local content and retrying');
    }
    this.running = this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running?.catch(() => undefined);
    await this.transport.close();
  }

  /** Wakes the outbox drain (a local write was committed). */
  localWrite(): void {
    this.outboxWake?.();
  }

  private async connect(signal: AbortSignal): Promise<void> {
    try {
      await this.gateway.activate({ instanceId: this.instanceId, version: this.deps.version }, signal);
    } catch (err) {
      throw fatalOrSame(err, this.deps.parent.name);
    }
    await this.refreshConfig(signal);
  }

  /** One config refresh at a time (the pull loop and the heartbeat both ask): a later one waits and then asks again. */
  private refreshConfig(signal: AbortSignal): Promise<void> {
    const next = this.refreshing.catch(() => undefined).then(() => this.fetchAndApplyConfig(signal));
    this.refreshing = next;
    return next;
  }

  private async fetchAndApplyConfig(signal: AbortSignal): Promise<void> {
    let fetched;
    try {
      fetched = await this.gateway.config(this.configEtag, signal);
    } catch (err) {
      throw fatalOrSame(err, this.deps.parent.name);
    }
    if (fetched === null) return;
    const before = this.config;
    await this.applier.apply(fetched.document, fetched.etag);
    this.config = fetched.document;
    this.configEtag = fetched.etag;
    this.deps.logger.info({ etag: fetched.etag, mode: fetched.document.self.mode, repositories: fetched.document.repositories }, 'applied config from the parent');
    const scope = JSON.stringify([...fetched.document.repositories].sort());
    if ((await this.deps.metadata.getState(SCOPE_KEY)) !== scope) {
      if (before !== null) this.deps.logger.info('sync scope changed: reconciling');
      await this.requestReconcile();
      await this.deps.metadata.setState(SCOPE_KEY, scope);
    }
    const resync = fetched.document.self.resyncRequestedAt;
    if (resync !== null && (await this.deps.metadata.getState(RESYNC_KEY)) !== resync) {
      this.deps.logger.info({ requestedAt: resync }, 'resync requested: reconciling in full');
      await this.requestReconcile();
      await this.deps.metadata.setState(RESYNC_KEY, resync);
    }
    this.deps.onConfigApplied?.(fetched.document);
  }

  /** The loop: wait for the window, run a session, back off on failures, until stopped. */
  private async run(): Promise<void> {
    const signal = this.stopping.signal;
    let backoffMs = FIRST_RETRY_MS;
    while (!signal.aborted) {
      const schedule = this.schedule();
      const now = this.clock.now();
      const window = schedule.at(now);
      if (!window.open) {
        this.state = 'OutsideWindow';
        await this.clock.sleep(Math.min(window.opensAt - now, 60_000), signal);
        if (!window.catchUp || this.clock.now() < window.opensAt || signal.aborted) continue;
      }
      const started = this.clock.now();
      try {
        await this.session(window.open ? window.closesAt : null, !window.open);
        backoffMs = FIRST_RETRY_MS;
      } catch (err) {
        if (signal.aborted) break;
        this.state = 'Offline';
        this.notePossibleDiskError(err);
        const fatal = err instanceof SyncFatalError;
        this.outageSince ??= this.clock.now();
        this.deps.logger[fatal ? 'error' : 'warn']({ err: errorText(err) }, fatal ? 'the parent refuses this node' : 'sync with the parent interrupted; retrying');
        // A continuous session only ever ends by failing: one that held for a while starts the
        // waits over (else every outage would wait longer than the last); one that fails at
        // once, again and again, keeps doubling them up to the ceiling.
        if (this.clock.now() - started > backoffMs) backoffMs = FIRST_RETRY_MS;
        const waitMs = fatal ? REFUSED_RETRY_MS : backoffMs / 2 + Math.random() * (backoffMs / 2);
        await this.sleepUntil(this.clock.now() + waitMs, signal);
        backoffMs = Math.min(backoffMs * 2, MAX_RETRY_MS);
      }
    }
  }

  /** Sleeps on the agent's clock until `deadline` (a manual clock's sleeps may end early: they are slept again). */
  private async sleepUntil(deadline: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted && this.clock.now() < deadline) await this.clock.sleep(deadline - this.clock.now(), signal);
  }

  /** The parent answered again after an outage: say so, and how long it lasted. */
  private noteReconnected(): void {
    if (this.outageSince === null) return;
    const outageSeconds = Math.round((this.clock.now() - this.outageSince) / 100) / 10;
    this.outageSince = null;
    this.deps.logger.info({ outageSeconds, parent: this.transport.baseUrl }, `reconnected to the parent after ${outageSeconds} s`);
  }

  /** One connected stretch: activate, follow config and messages, push the outbox, heartbeat. */
  private async session(closesAt: number | null, once: boolean): Promise<void> {
    const session = new AbortController();
    const signal = AbortSignal.any([this.stopping.signal, session.signal]);
    // Every transfer in flight listens to it (dozens at once in a reconcile): not a leak.
    setMaxListeners(0, signal);
    await this.connect(signal);
    this.noteReconnected();
    this.state = 'Online';
    // The first of the three to end (or fail) ends the session; the others stop with it.
    const tasks = [this.pullLoop(closesAt, once, signal), this.heartbeatLoop(signal), this.outboxLoop(signal)];
    for (const task of tasks) task.catch(() => undefined);
    try {
      await Promise.race(tasks);
    } finally {
      session.abort();
      await Promise.allSettled(tasks);
    }
    // A last heartbeat is not sent at a window's end: the parent shows Offline until the next one.
    this.state = closesAt !== null || once ? 'OutsideWindow' : this.state;
  }

  private async pullLoop(closesAt: number | null, once: boolean, signal: AbortSignal): Promise<void> {
    const pollSeconds = this.deps.pollSeconds ?? 25;
    const scheduleAtStart = this.scheduleKey();
    while (!signal.aborted) {
      const now = this.clock.now();
      if (closesAt !== null && now >= closesAt) return;
      // A new schedule or window from the parent: end this session, the run loop starts over with it.
      if (this.scheduleKey() !== scheduleAtStart) return;
      if (this.needsReconcile) await this.reconcile(signal);
      const cursor = (await this.deps.metadata.getCursor()) ?? 0;
      // Whole seconds, rounded up: a wait of 0 in the window's last second would ask again and again until it closes.
      const remaining = closesAt === null ? pollSeconds : Math.min(pollSeconds, Math.ceil((closesAt - now) / 1000));
      // Every push accepted before this request is in the parent's log by the time it answers:
      // the answer's head bounds where their echoes can be (SyncStore.noteParentHead).
      const pushOrder = await this.deps.metadata.lastPushOrder();
      let page;
      try {
        page = await this.gateway.messages(cursor, once ? 0 : remaining, this.configEtag, signal);
      } catch (err) {
        if (err instanceof RemoteError && err.code === 'RESYNC_REQUIRED') {
          this.deps.logger.warn({ cursor }, 'the parent no longer has the changes after our cursor (message TTL): reconciling in full');
          this.needsReconcile = true;
          continue;
        }
        throw fatalOrSame(err, this.deps.parent.name);
      }
      await this.deps.metadata.noteParentHead(page.head, pushOrder);
      if (page.config !== this.configEtag) await this.refreshConfig(signal);
      if (page.messages.length > 0) {
        this.state = 'Syncing';
        await this.pull.apply(page.messages, page.next, signal);
        this.state = 'Online';
        this.problems.delete('DiskError');
      } else {
        // Nothing in scope: the cursor moves on, and pushes whose echo would be before it are settled.
        await this.pull.apply([], page.next, signal);
      }
      // Parked items whose retry is due (a failing one is parked again, with a longer wait).
      await this.pull.retryParked(signal);
      this.lastSyncTime = new Date(this.clock.now());
      if (once && page.messages.length === 0 && page.next >= page.head && !this.needsReconcile) {
        await this.outbox.drain(signal);
        await this.sendStatus(signal);
        return;
      }
    }
  }

  /**
   * Marks a full reconcile as needed, in the database too: the scope or resync that asked for it
   * is stored as handled right after, so a stop before the reconcile ends must not forget it.
   */
  private async requestReconcile(): Promise<void> {
    this.needsReconcile = true;
    await this.deps.metadata.setState(RECONCILE_KEY, 'pending');
  }

  private async reconcile(signal: AbortSignal): Promise<void> {
    this.state = 'Syncing';
    // Cleared before it starts, so a request made meanwhile (a config a heartbeat brought, with
    // a new scope this reconcile may have read too late) runs another one.
    this.needsReconcile = false;
    try {
      await this.pull.reconcile(await this.parentHead(signal), signal);
    } catch (err) {
      this.needsReconcile = true;
      throw err;
    }
    if (!this.needsReconcile) await this.deps.metadata.setState(RECONCILE_KEY, 'done');
    // What failed on the disk (a reconcile is retried first) has been stored now.
    this.problems.delete('DiskError');
    this.lastSyncTime = new Date(this.clock.now());
    this.state = 'Online';
    // Tell the parent at once (not at the next heartbeat) that the reconcile is done.
    await this.sendStatus(signal).catch((err: unknown) => this.deps.logger.debug({ err: errorText(err) }, 'status after reconcile failed'));
  }

  /** The parent's newest sequence number: a cursor past it is refused with RESYNC_REQUIRED, whose detail carries the head. */
  private async parentHead(signal: AbortSignal): Promise<number> {
    try {
      return (await this.gateway.messages(HEAD_PROBE, 0, this.configEtag, signal)).head;
    } catch (err) {
      const head = err instanceof RemoteError && err.code === 'RESYNC_REQUIRED' ? (err.detail as { head?: unknown } | null)?.head : undefined;
      if (typeof head === 'number') return head;
      throw fatalOrSame(err, this.deps.parent.name);
    }
  }

  private async outboxLoop(signal: AbortSignal): Promise<void> {
    if (this.deps.policy.currentMode !== 'ReadWrite') return new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    while (!signal.aborted) {
      // A local write during the drain or the wait after it ends the wait: one timer per wait,
      // gone with it (every committed write wakes this loop, the parent's too).
      const wake = new AbortController();
      const stop = (): void => wake.abort();
      this.outboxWake = stop;
      signal.addEventListener('abort', stop, { once: true });
      try {
        if ((await this.deps.metadata.outboxSize()) > 0) {
          this.state = 'Syncing';
          await this.outbox.drain(signal);
          this.state = 'Online';
        }
        await this.clock.sleep(5_000, wake.signal);
      } finally {
        signal.removeEventListener('abort', stop);
      }
    }
  }

  private async heartbeatLoop(signal: AbortSignal): Promise<void> {
    const interval = (this.deps.heartbeatSeconds ?? HEARTBEAT_SECONDS) * 1000;
    while (!signal.aborted) {
      try {
        await this.sendStatus(signal);
      } catch (err) {
        if (!(err instanceof RemoteError && err.code === 'ALREADY_ACTIVATED')) {
          this.deps.logger.debug({ err: errorText(err) }, 'heartbeat failed');
        } else {
          // Deactivated at the root while running: claim it again, unless another instance has meanwhile.
          this.deps.logger.warn('the parent no longer counts this instance as active: activating again');
          await this.connect(signal);
        }
      }
      await this.clock.sleep(interval, signal);
    }
  }

  private async sendStatus(signal: AbortSignal): Promise<void> {
    const items = syncItemDetails(await this.deps.metadata.parkedItems(), await this.deps.metadata.outboxFailures(), this.instanceId);
    const report: StatusReport = {
      instanceId: this.instanceId,
      connectionState: this.state === 'Syncing' ? 'Syncing' : 'Online',
      statusDetails: [...[...this.problems.values()].map((d) => ({ ...d })), ...items],
      lastSyncTime: this.lastSyncTime ? this.lastSyncTime.toISOString() : null,
      version: this.deps.version,
      loginServer: this.deps.loginServer(),
      cursor: await this.deps.metadata.getCursor(),
      outbox: await this.deps.metadata.outboxSize(),
      descendants: await this.descendants(),
    };
    const ack = await this.gateway.status(report, signal);
    if (ack.config !== this.configEtag) await this.refreshConfig(signal);
  }

  /** Its descendants' status as this node's gateway has it, relayed up. */
  private async descendants(): Promise<DescendantStatus[]> {
    const now = this.clock.now();
    return (await this.deps.connectedRegistries.listConnectedRegistries())
      .filter((r) => r.name !== this.deps.parent.name)
      .map((r) => descendantStatus(r, now));
  }

  /** A local storage failure is reported up as a DiskError status detail (the parent shows Unhealthy). */
  private notePossibleDiskError(err: unknown): void {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code !== 'string' || !DISK_ERRORS.has(code)) return;
    this.problems.set('DiskError', {
      type: 'DiskError', code, description: `local storage failed: ${errorText(err)}`.slice(0, 500),
      timestamp: new Date(this.clock.now()).toISOString(), correlationId: this.instanceId,
    });
  }

  private scheduleKey(): string {
    const sync = this.config?.self.sync;
    return sync ? `${sync.schedule}|${sync.syncWindow ?? ''}` : '';
  }

  private schedule(): SyncSchedule {
    const sync = this.config?.self.sync;
    if (!sync) return new SyncSchedule('* * * * *', null);
    return new SyncSchedule(sync.schedule, sync.syncWindow === null ? null : isoDurationMs(sync.syncWindow));
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
  };
}

/** The parent's answers that no retry can fix become SyncFatalError with a message an operator can act on. */
function fatalOrSame(err: unknown, name: string): unknown {
  if (!(err instanceof RemoteError)) return err;
  if (err.code === 'CERTIFICATE_UNTRUSTED') {
    return new SyncFatalError(`${err.message}; if the parent's certificate comes from a private CA, give that CA with --parent-ca FILE (OUTPOST_PARENT_CA)`, err.code);
  }
  if (err.status === 401) {
    return new SyncFatalError(`the parent refused the sync token of '${name}': wrong SyncTokenName or SyncTokenPassword, a disabled token or an expired password (${err.message})`, 'UNAUTHORIZED');
  }
  if (err.code === 'ALREADY_ACTIVATED') return new SyncFatalError(`${err.message} ${typeof err.detail === 'string' ? err.detail : ''}`.trim(), err.code);
  if (err.status === 403) return new SyncFatalError(`the sync token may not sync '${name}' at this parent: ${err.message}`, 'DENIED');
  if (err.status === 404 && err.code !== 'MANIFEST_UNKNOWN' && err.code !== 'BLOB_UNKNOWN' && err.code !== 'NAME_UNKNOWN') {
    return new SyncFatalError(`the parent does not know the connected registry '${name}': ${err.message}`, 'NOT_FOUND');
  }
  return err;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
