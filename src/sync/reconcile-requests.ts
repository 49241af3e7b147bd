import { SYNC_STATE_KEYS, type SyncStore } from '../metadata/index.js';

/**
 * Whether a full reconcile is owed, kept so that no request is lost (docs/architecture.md,
 * "Config"): a request (a scope change, a resync at the root) is stored as `pending` before the
 * config that asked for it is stored as handled, and only a reconcile that began after the
 * request clears it. So neither a request arriving while a reconcile runs (that one may have
 * read the old scope) nor a stop before the reconcile ends can drop it.
 */
export class ReconcileRequests {
  private needed = false;

  constructor(private readonly state: Pick<SyncStore, 'getCursor' | 'getState' | 'setState'>) {}

  /** At start: owed when this node never synced, or when a requested reconcile did not end before it stopped. */
  async load(): Promise<void> {
    this.needed = (await this.state.getCursor()) === null || (await this.state.getState(SYNC_STATE_KEYS.reconcile)) === 'pending';
  }

  /** Is a reconcile owed now? */
  get pending(): boolean {
    return this.needed;
  }

  /** Owed because the parent's log cannot be followed (RESYNC_REQUIRED): in memory only, the parent says so again after a restart. */
  need(): void {
    this.needed = true;
  }

  /** Owed because the parent asked (scope change, resync): stored, so a restart still owes it. */
  async request(): Promise<void> {
    this.needed = true;
    await this.state.setState(SYNC_STATE_KEYS.reconcile, 'pending');
  }

  /**
   * Runs `reconcile` as the answer to every request made before it began. The flag is cleared
   * before it starts, so a request made meanwhile owes another one; a failure owes it again.
   */
  async run(reconcile: () => Promise<void>): Promise<void> {
    this.needed = false;
    try {
      await reconcile();
    } catch (err) {
      this.needed = true;
      throw err;
    }
    if (!this.needed) await this.state.setState(SYNC_STATE_KEYS.reconcile, 'done');
  }
}
