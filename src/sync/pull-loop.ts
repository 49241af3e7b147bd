import type { Logger } from 'pino';
import type { SyncStore } from '../metadata/index.js';
import { RemoteError } from '../client/http-transport.js';
import type { ParentGateway } from '../client/gateway-client.js';
import type { Clock } from '../core/clock.js';
import type { DomainEvent } from '../core/events.js';
import type { ConfigFollower } from './config-follower.js';
import type { OutboxLoop } from './outbox-loop.js';
import type { PullSync } from './pull-sync.js';
import type { ReconcileRequests } from './reconcile-requests.js';
import type { StatusReporter } from './status-reporter.js';
import type { SyncActivity } from './sync-activity.js';
import { asFatalRefusal, failureCode, failureText } from './sync-failures.js';
import type { SyncProgress } from './sync-progress.js';

/** Longest long-poll asked of the parent by default (seconds). */
const POLL_SECONDS = 25;

export interface PullLoopDeps {
  gateway: Pick<ParentGateway, 'messages' | 'head'>;
  pull: Pick<PullSync, 'apply' | 'retryParked' | 'reconcile'>;
  store: Pick<SyncStore, 'getCursor' | 'lastPushOrder' | 'noteParentHead'>;
  config: Pick<ConfigFollower, 'etag' | 'scheduleKey' | 'refreshIfChanged'>;
  reconciles: ReconcileRequests;
  activity: Pick<SyncActivity, 'track'>;
  status: Pick<StatusReporter, 'send' | 'noteSynced' | 'clearDiskError'>;
  /** A session that syncs once until caught up drains the outbox before it ends. */
  outbox: Pick<OutboxLoop, 'drain'>;
  clock: Clock;
  logger: Logger;
  /** This node's own connected-registry name (for the messages of refusals). */
  selfName: string;
  /** Longest long-poll asked of the parent, seconds (25 by default; tests shorten it). */
  pollSeconds?: number;
  /** Where each answer and catch-up is noted (how far behind the parent this node is). */
  progress?: SyncProgress;
  /** The node's bus: each reconcile's end is announced (`sync-reconcile-finished`). */
  publish?: (event: DomainEvent) => void;
}

/** When a session's pull loop stops by itself. */
export interface SessionWindow {
  /** The window's end (this agent's clock); null: never (continuous). */
  closesAt: number | null;
  /** Sync once until caught up (a schedule without a window), then end. */
  once: boolean;
}

/**
 * The pull loop of a session (docs/architecture.md, "Connected node and sync agent"): a full
 * reconcile when one is owed, then long-polls for the parent's messages after the cursor and
 * applies them (PullSync), retries the parked items whose time has come, and follows a new
 * config ETag. Applies and reconciles count as work in flight. Ends when the window closes, when
 * the schedule changes, or — syncing once — when caught up; throws what ends the session.
 */
export class PullLoop {
  constructor(private readonly deps: PullLoopDeps) {}

  async run(window: SessionWindow, signal: AbortSignal): Promise<void> {
    const { gateway, pull, store, config, reconciles, activity, status, clock, logger } = this.deps;
    const { closesAt, once } = window;
    const pollSeconds = this.deps.pollSeconds ?? POLL_SECONDS;
    const scheduleAtStart = config.scheduleKey();
    while (!signal.aborted) {
      const now = clock.now();
      if (closesAt !== null && now >= closesAt) return;
      // A new schedule or window from the parent: end this session, the lifecycle starts over with it.
      if (config.scheduleKey() !== scheduleAtStart) return;
      if (reconciles.pending) await this.reconcile(signal);
      const cursor = (await store.getCursor()) ?? 0;
      // Whole seconds, rounded up: a wait of 0 in the window's last second would ask again and again until it closes.
      const remaining = closesAt === null ? pollSeconds : Math.min(pollSeconds, Math.ceil((closesAt - now) / 1000));
      // Every push accepted before this request is in the parent's log by the time it answers:
      // the answer's head bounds where their echoes can be (SyncStore.noteParentHead).
      const pushOrder = await store.lastPushOrder();
      let page;
      try {
        page = await gateway.messages(cursor, once ? 0 : remaining, config.etag, signal);
      } catch (err) {
        if (err instanceof RemoteError && err.code === 'RESYNC_REQUIRED') {
          logger.warn({ cursor }, 'the parent no longer has the changes after our cursor (message TTL): reconciling in full');
          reconciles.need();
          continue;
        }
        throw asFatalRefusal(err, this.deps.selfName);
      }
      this.deps.progress?.noteAnswer(page);
      await store.noteParentHead(page.head, pushOrder);
      await config.refreshIfChanged(page.config, signal);
      if (page.messages.length > 0) {
        const { messages, next } = page;
        await activity.track('apply', () => pull.apply(messages, next, signal));
        status.clearDiskError();
      } else {
        // Nothing in scope: the cursor moves on, and pushes whose echo would be before it are settled.
        await pull.apply([], page.next, signal);
      }
      if (page.next >= page.head) this.deps.progress?.noteCaughtUp(clock.now());
      // Parked items whose retry is due (a failing one is parked again, with a longer wait).
      await pull.retryParked(signal);
      status.noteSynced();
      if (once && page.messages.length === 0 && page.next >= page.head && !reconciles.pending) {
        await this.deps.outbox.drain(signal);
        await status.send(signal);
        return;
      }
    }
  }

  private async reconcile(signal: AbortSignal): Promise<void> {
    const { pull, reconciles, activity, status, logger, clock } = this.deps;
    const started = clock.now();
    // Set inside the reconcile's closure (what it walked), read after it.
    const walked: { counts: { repositories: number; tags: number } | null } = { counts: null };
    try {
      await activity.track('reconcile', () => reconciles.run(async () => {
        walked.counts = await pull.reconcile(await this.parentHead(signal), signal);
      }));
    } catch (err) {
      this.deps.publish?.({
        type: 'sync-reconcile-finished', result: 'failed', repositories: null, tags: null, durationMs: clock.now() - started, code: failureCode(err),
      });
      throw err;
    }
    this.deps.publish?.({
      type: 'sync-reconcile-finished', result: 'completed', repositories: walked.counts?.repositories ?? null, tags: walked.counts?.tags ?? null,
      durationMs: clock.now() - started, code: null,
    });
    // What failed on the disk (a reconcile is retried first) has been stored now.
    status.clearDiskError();
    status.noteSynced();
    // Tell the parent at once (not at the next heartbeat) that the reconcile is done.
    await status.send(signal).catch((err: unknown) => logger.debug({ err: failureText(err) }, 'status after reconcile failed'));
  }

  /** The parent's newest sequence number, read before the reconcile starts: later messages apply on top. */
  private async parentHead(signal: AbortSignal): Promise<number> {
    try {
      return await this.deps.gateway.head(signal);
    } catch (err) {
      throw asFatalRefusal(err, this.deps.selfName);
    }
  }
}
