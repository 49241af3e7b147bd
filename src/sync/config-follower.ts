import type { Logger } from 'pino';
import { SYNC_STATE_KEYS, type SyncStore } from '../metadata/index.js';
import type { ParentGateway } from '../client/gateway-client.js';
import type { ConfigDocument } from '../client/gateway-protocol.js';
import { isoDurationMs } from '../oci/index.js';
import type { AppliedConfig, ConfigApplier } from './config-applier.js';
import type { ReconcileRequests } from './reconcile-requests.js';
import { CONTINUOUS_SCHEDULE, SyncSchedule } from './schedule.js';
import { asFatalRefusal } from './sync-failures.js';

export interface ConfigFollowerDeps {
  gateway: Pick<ParentGateway, 'config'>;
  applier: Pick<ConfigApplier, 'load' | 'apply'>;
  state: Pick<SyncStore, 'getState' | 'setState'>;
  reconciles: Pick<ReconcileRequests, 'request'>;
  /** This node's own connected-registry name (for the messages of refusals). */
  selfName: string;
  logger: Logger;
  /** Called after a new config is applied (wakes this node's own children's long-polls, sets the log level). */
  onApplied?: (document: ConfigDocument) => void;
  /** Called when the config applied last is loaded at start (the node enforces its logging settings before the parent answers). */
  onLoaded?: (document: ConfigDocument) => void;
  /**
   * Runs this node's garbage collection (a dry run with `dryRun`) and resolves when it ends: what
   * a `gc` request at the root asks for. Absent: requests are ignored.
   */
  collectGarbage?: (dryRun: boolean) => Promise<unknown>;
}

/**
 * Follows the config the parent holds for this node: the one applied last (kept across restarts),
 * a refresh when the parent's ETag differs (the pull loop and the heartbeat both ask; one
 * refresh at a time), and what a new one asks of the agent — a full reconcile when the scope
 * changed or the root asked for a resync, a new schedule or window (read by the session lifecycle).
 */
export class ConfigFollower {
  private current: AppliedConfig | null = null;
  private refreshing: Promise<void> = Promise.resolve();
  /** The `gc` request this process is running (its `requestedAt`), so a refresh meanwhile does not start it twice. */
  private gcRunning: string | null = null;

  constructor(private readonly deps: ConfigFollowerDeps) {}

  /** Loads the config applied last (null on a node that never had one): the node enforces it before the parent answers. */
  async load(): Promise<void> {
    this.current = await this.deps.applier.load();
    if (this.current) this.deps.onLoaded?.(this.current.document);
    // A request that arrived before a stop and did not run to its end runs now.
    if (this.current !== null) await this.followGcRequest(this.current.document);
  }

  get document(): ConfigDocument | null {
    return this.current?.document ?? null;
  }

  get etag(): string | null {
    return this.current?.etag ?? null;
  }

  /** Refreshes when the parent's current ETag (from a messages answer or a heartbeat's ack) is not the one applied. */
  async refreshIfChanged(parentEtag: string, signal: AbortSignal): Promise<void> {
    if (parentEtag !== this.etag) await this.refresh(signal);
  }

  /** Fetches and applies the config unless it still matches; a refresh asked for while one runs starts after it. Throws what the gateway throws (refusals as SyncFatalError). */
  refresh(signal: AbortSignal): Promise<void> {
    const next = this.refreshing.catch(() => undefined).then(() => this.fetchAndApply(signal));
    this.refreshing = next;
    return next;
  }

  /** The sync schedule of the config applied (continuous before the first). */
  schedule(): SyncSchedule {
    const sync = this.document?.self.sync;
    if (!sync) return new SyncSchedule(CONTINUOUS_SCHEDULE, null);
    return new SyncSchedule(sync.schedule, sync.syncWindow === null ? null : isoDurationMs(sync.syncWindow));
  }

  /** Changes when the schedule or window changes (a session started under another one ends). */
  scheduleKey(): string {
    const sync = this.document?.self.sync;
    return sync ? `${sync.schedule}|${sync.syncWindow ?? ''}` : '';
  }

  private async fetchAndApply(signal: AbortSignal): Promise<void> {
    let fetched;
    try {
      fetched = await this.deps.gateway.config(this.etag, signal);
    } catch (err) {
      throw asFatalRefusal(err, this.deps.selfName);
    }
    if (fetched === null) return;
    const { state, logger } = this.deps;
    const before = this.current;
    await this.deps.applier.apply(fetched.document, fetched.etag);
    this.current = { document: fetched.document, etag: fetched.etag };
    logger.info({ etag: fetched.etag, mode: fetched.document.self.mode, repositories: fetched.document.repositories }, 'applied config from the parent');
    // The request is stored before the scope (or resync) is stored as handled: a stop between the two must not forget it.
    const scope = JSON.stringify([...fetched.document.repositories].sort());
    if ((await state.getState(SYNC_STATE_KEYS.scope)) !== scope) {
      if (before !== null) logger.info('sync scope changed: reconciling');
      await this.deps.reconciles.request();
      await state.setState(SYNC_STATE_KEYS.scope, scope);
    }
    const resync = fetched.document.self.resyncRequestedAt;
    if (resync !== null && (await state.getState(SYNC_STATE_KEYS.resyncHandled)) !== resync) {
      logger.info({ requestedAt: resync }, 'resync requested: reconciling in full');
      await this.deps.reconciles.request();
      await state.setState(SYNC_STATE_KEYS.resyncHandled, resync);
    }
    await this.followGcRequest(fetched.document);
    this.deps.onApplied?.(fetched.document);
  }

  /**
   * Starts the garbage collection the root asked for, once per request: it runs in the
   * background (a collection can take minutes; sync goes on meanwhile), and the request is
   * stored as handled only when it has run to its end, so a stop before that runs it again at
   * the next start.
   */
  private async followGcRequest(document: ConfigDocument): Promise<void> {
    const request = document.self.gcRequest ?? null;
    const collect = this.deps.collectGarbage;
    if (request === null || collect === undefined || this.gcRunning === request.requestedAt) return;
    const { state, logger } = this.deps;
    this.gcRunning = request.requestedAt;
    if ((await state.getState(SYNC_STATE_KEYS.gcHandled)) === request.requestedAt) {
      this.gcRunning = null;
      return;
    }
    logger.info({ requestedAt: request.requestedAt, dryRun: request.dryRun }, 'garbage collection requested at the root: running it');
    void (async () => {
      try {
        await collect(request.dryRun);
        await state.setState(SYNC_STATE_KEYS.gcHandled, request.requestedAt);
      } catch (err) {
        logger.warn({ err: err instanceof Error ? err.message : String(err), requestedAt: request.requestedAt },
          'the garbage collection requested at the root failed; it runs again at the next config change or start');
      } finally {
        if (this.gcRunning === request.requestedAt) this.gcRunning = null;
      }
    })();
  }
}
