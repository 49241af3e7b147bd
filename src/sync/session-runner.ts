import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { ParentGateway } from '../client/gateway-client.js';
import type { Clock } from '../core/clock.js';
import type { DomainEvent } from '../core/events.js';
import type { ConfigFollower } from './config-follower.js';
import type { OutboxLoop } from './outbox-loop.js';
import type { PullLoop } from './pull-loop.js';
import { RetryBackoff } from './retry-backoff.js';
import type { StatusReporter } from './status-reporter.js';
import type { SyncActivity } from './sync-activity.js';
import { asFatalRefusal, failureCode, failureKind, failureText, SyncFatalError } from './sync-failures.js';

/** While the parent refuses this node (credentials, another instance): retried this often. */
const REFUSED_RETRY_MS = 30_000;
/** Longest single sleep while waiting for a window (the config may change meanwhile). */
const WINDOW_CHECK_MS = 60_000;

export interface SessionRunnerDeps {
  gateway: Pick<ParentGateway, 'activate'>;
  config: Pick<ConfigFollower, 'refresh' | 'schedule'>;
  activity: Pick<SyncActivity, 'enter'>;
  pull: Pick<PullLoop, 'run'>;
  outbox: Pick<OutboxLoop, 'run'>;
  status: Pick<StatusReporter, 'heartbeats' | 'noteFailure'>;
  /**
   * More work that runs during each session beside the three loops (the notification event
   * relay): started with them, stopped with the session. It never ends a session itself, so it
   * must handle its own failures.
   */
  alongside?: ReadonlyArray<{ run(signal: AbortSignal): Promise<void> }>;
  instanceId: () => string;
  /** This node's own connected-registry name (for the messages of refusals). */
  selfName: string;
  version: string;
  /** Where the parent is, for logs. */
  parentAddress: string;
  clock: Clock;
  logger: Logger;
  /** The backoff's jitter source (Math.random; tests fix it). */
  random?: () => number;
  /** The node's bus: each failed session is announced (`sync-session-failed`). */
  publish?: (event: DomainEvent) => void;
}

/**
 * The session lifecycle of the agent (docs/architecture.md, "Start" and "Sessions and
 * windows"): activation at the parent, then sessions — continuously, or inside each window of
 * the schedule — each running the pull loop, the push-back loop and the heartbeats until the
 * first of them ends or fails; between failed sessions the backoff, and the log line when the
 * parent answers again. It is the only writer of the agent's phase.
 */
export class SessionRunner {
  private readonly stopping = new AbortController();
  private readonly backoff: RetryBackoff;
  private running: Promise<void> | null = null;
  /** When the parent became unreachable (this agent's clock), while it is. */
  private outageSince: number | null = null;
  /** The first session has connected (said once: "connected to the parent"). */
  private connectedOnce = false;

  constructor(private readonly deps: SessionRunnerDeps) {
    this.backoff = new RetryBackoff(deps.random);
  }

  /**
   * Activates at the parent and fetches the config, then keeps running sessions in the
   * background. Throws SyncFatalError when the parent refuses this node (wrong name or password,
   * another instance active, unknown registry, an untrusted certificate); a parent that cannot
   * be reached is only logged: the node serves what it has and sessions keep trying.
   */
  async start(): Promise<void> {
    try {
      await this.connect(this.stopping.signal);
    } catch (err) {
      if (err instanceof SyncFatalError) throw err;
      this.outageSince = this.deps.clock.now();
      this.deps.logger.warn({ err: failureText(err), parent: this.deps.parentAddress }, 'parent unreachable at start; serving local content and retrying');
    }
    this.running = this.run();
  }

  /** Ends the session running now (its requests abort at once) and the lifecycle. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running?.catch(() => undefined);
  }

  /** Claims the registry for this instance and brings the config up to date. Throws refusals as SyncFatalError. */
  async connect(signal: AbortSignal): Promise<void> {
    try {
      await this.deps.gateway.activate({ instanceId: this.deps.instanceId(), version: this.deps.version }, signal);
    } catch (err) {
      throw asFatalRefusal(err, this.deps.selfName);
    }
    await this.deps.config.refresh(signal);
  }

  /** Waits for the window, runs a session, backs off after a failure, until stopped. */
  private async run(): Promise<void> {
    const { clock, activity, logger } = this.deps;
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const now = clock.now();
      const window = this.deps.config.schedule().at(now);
      if (!window.open) {
        activity.enter('OutsideWindow');
        await clock.sleep(Math.min(window.opensAt - now, WINDOW_CHECK_MS), signal);
        if (!window.catchUp || clock.now() < window.opensAt || signal.aborted) continue;
      }
      const started = clock.now();
      try {
        await this.session(window.open ? window.closesAt : null, !window.open);
        this.backoff.reset();
      } catch (err) {
        if (signal.aborted) break;
        activity.enter('Offline');
        this.deps.status.noteFailure(err);
        this.deps.publish?.({ type: 'sync-session-failed', kind: failureKind(err), code: failureCode(err) });
        const fatal = err instanceof SyncFatalError;
        this.outageSince ??= clock.now();
        // A continuous session only ever ends by failing: one that held a while starts the waits over.
        const waitMs = fatal ? REFUSED_RETRY_MS : this.backoff.next(clock.now() - started);
        const retryIn = `${Math.round(waitMs / 100) / 10} s`;
        logger[fatal ? 'error' : 'warn']({ err: failureText(err), retryInSeconds: waitMs / 1000 },
          fatal ? `the parent refuses this node: ${failureText(err)}; trying again in ${retryIn}` : `sync with the parent interrupted: ${failureText(err)}; retrying in ${retryIn}`);
        await this.sleepUntil(clock.now() + waitMs, signal);
      }
    }
  }

  /** Sleeps on the clock until `deadline` (a manual clock's sleeps may end early: they are slept again). */
  private async sleepUntil(deadline: number, signal: AbortSignal): Promise<void> {
    const { clock } = this.deps;
    while (!signal.aborted && clock.now() < deadline) await clock.sleep(deadline - clock.now(), signal);
  }

  /** The parent answered: the first time say so, after an outage say how long it lasted. */
  private noteReconnected(): void {
    if (!this.connectedOnce && this.outageSince === null) {
      this.connectedOnce = true;
      this.deps.logger.info({ parent: this.deps.parentAddress }, `connected to the parent ${this.deps.parentAddress}`);
      return;
    }
    this.connectedOnce = true;
    if (this.outageSince === null) return;
    const outageSeconds = Math.round((this.deps.clock.now() - this.outageSince) / 100) / 10;
    this.outageSince = null;
    this.deps.logger.info({ outageSeconds, parent: this.deps.parentAddress }, `reconnected to the parent after ${outageSeconds} s`);
  }

  /** One connected stretch: activate, then pull, push back and heartbeat until the first of the three ends or fails. */
  private async session(closesAt: number | null, once: boolean): Promise<void> {
    const session = new AbortController();
    const signal = AbortSignal.any([this.stopping.signal, session.signal]);
    // Every transfer in flight listens to it (dozens at once in a reconcile): not a leak.
    setMaxListeners(0, signal);
    await this.connect(signal);
    this.noteReconnected();
    this.deps.activity.enter('Connected');
    const tasks = [this.deps.pull.run({ closesAt, once }, signal), this.deps.status.heartbeats(signal), this.deps.outbox.run(signal)];
    const alongside = (this.deps.alongside ?? []).map((task) => task.run(signal));
    for (const task of [...tasks, ...alongside]) task.catch(() => undefined);
    try {
      await Promise.race(tasks);
    } finally {
      session.abort();
      await Promise.allSettled([...tasks, ...alongside]);
    }
    // No last heartbeat at a window's end: the parent shows Offline until the next one.
    if (closesAt !== null || once) this.deps.activity.enter('OutsideWindow');
  }
}
