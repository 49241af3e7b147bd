import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { RegistryError } from '../oci/index.js';
import type { Change, MetadataStore, PutManifestInput, SyncStore } from '../metadata/index.js';
import type { BlobStore } from '../storage/types.js';
import type { DomainEvent } from '../core/events.js';
import type { RemoteDestination } from '../client/registry-client.js';
import { toInput } from './content-puller.js';
import { runAll } from './limiter.js';
import { LocalSyncError, isRefusal, retryDelayMs } from './sync-failures.js';

const BATCH = 100;
const BLOB_PARALLEL = 4;

/**
 * The push half of sync on a ReadWrite node: drains the outbox (local writes after the pushed
 * mark) to the parent in order, over /v2 — the blobs the parent lacks, then the manifest, then
 * the tag; deletes of tags, manifests and blobs as DELETE — and records each change's outcome:
 *
 * - pushed: the mark moves past it; when the parent appended a change for it, it stays
 *   unsettled until that echo comes back (SyncStore), so no older parent message undoes it;
 * - refused by the parent for good (a 4xx other than credentials and throttling, e.g. a 405 to
 *   a blob DELETE): marked, kept and reported (OutboxRejected at the root);
 * - failed here (LocalSyncError: content this node cannot read back): parked, still unsettled
 *   and counted in the outbox, retried with backoff, reported (OutboxItemFailed);
 * - the link or the parent down (anything else): the drain stops with the change unmarked, and
 *   the same change is retried at the next drain.
 *
 * So one bad write never stalls every later one, and no write is ever marked pushed that did
 * not reach the parent or that the parent did not answer.
 */
export class OutboxPusher {
  /** The drain running now: one at a time, or two would push the same change and set the mark back. */
  private draining: Promise<void> = Promise.resolve();

  constructor(
    private readonly parent: RemoteDestination,
    private readonly blobs: BlobStore,
    private readonly metadata: MetadataStore,
    private readonly state: SyncStore,
    private readonly logger: Logger,
    private readonly now: () => number,
    /** The node's bus: each change's outcome is announced (`sync-push-finished`). */
    private readonly publish: (event: DomainEvent) => void = () => undefined,
  ) {}

  /** Blobs and manifests carried up so far, and the blobs' bytes (sent by this node; the parent may have had some). */
  readonly counters = { blobsPushed: 0, blobBytesPushed: 0, manifestsPushed: 0 };

  /**
   * Pushes everything pending, then the parked writes whose retry is due; returns how many
   * changes were handled. Throws RemoteError on link failures. A call while another drain runs
   * starts once that one has ended.
   */
  drain(signal?: AbortSignal): Promise<number> {
    const run = this.draining.then(() => this.drainNow(signal));
    this.draining = run.then(() => undefined, () => undefined);
    return run;
  }

  private async drainNow(signal?: AbortSignal): Promise<number> {
    let handled = 0;
    for (;;) {
      const batch = await this.state.pendingOutbox(BATCH);
      if (batch.length === 0) break;
      for (const change of batch) {
        signal?.throwIfAborted();
        await this.pushOne(change, 0, signal);
        handled += 1;
      }
    }
    const now = this.now();
    for (const failure of await this.state.outboxFailures()) {
      if (failure.state !== 'parked' || (failure.nextAttemptAt?.getTime() ?? 0) > now) continue;
      signal?.throwIfAborted();
      await this.pushOne(failure.change, failure.attempts, signal);
      handled += 1;
    }
    return handled;
  }

  /** Pushes one change and records its outcome; throws only what stops the drain (the link). */
  private async pushOne(change: Change, attempts: number, signal?: AbortSignal): Promise<void> {
    let appended: boolean;
    try {
      appended = await this.push(change, signal);
    } catch (err) {
      const at = new Date(this.now());
      if (err instanceof LocalSyncError) {
        const nextAttemptAt = new Date(at.getTime() + retryDelayMs(attempts + 1));
        await this.state.parkOutboxChange(change, { code: err.code, message: err.message, at, nextAttemptAt });
        this.announce(change, 'parked', err.code);
        this.logger.warn({ change: describe(change), code: err.code, err: err.message, retryAt: nextAttemptAt.toISOString() },
          'a local write cannot be read back here: parked, retried later (the writes after it go on)');
        return;
      }
      if (isRefusal(err)) {
        await this.state.recordRejected(change, { code: err.code, message: err.message, at });
        this.announce(change, 'rejected', err.code);
        this.logger.error({ change: describe(change), code: err.code, status: err.status, err: err.message }, 'the parent refused a local write; it stays local only');
        return;
      }
      throw err;
    }
    await this.state.recordPushed(change, appended);
    this.announce(change, 'pushed', null);
  }

  private announce(change: Change, result: 'pushed' | 'rejected' | 'parked', code: string | null): void {
    this.publish({ type: 'sync-push-finished', repository: change.repository, change: change.kind, tag: change.tag, digest: change.digest, result, code });
  }

  /** Carries one change up; returns whether the parent appended a change for it (whose echo comes back in its messages). */
  private async push(change: Change, signal?: AbortSignal): Promise<boolean> {
    const { repository } = change;
    switch (change.kind) {
      case 'manifest':
        return change.digest !== null && this.pushManifest(repository, change.digest, change.digest, signal);
      case 'tag':
        // Only while the tag still points there: a later local move has its own outbox row.
        if (change.tag === null || change.digest === null || (await this.metadata.resolveTag(repository, change.tag)) !== change.digest) return false;
        return this.pushManifest(repository, change.digest, change.tag, signal);
      case 'tag-delete':
        if (change.tag === null || (await this.metadata.resolveTag(repository, change.tag)) !== null) return false;
        return this.parent.deleteManifest(repository, change.tag, signal);
      case 'manifest-delete':
        if (change.digest === null || (await this.metadata.getManifest(repository, change.digest))) return false;
        return this.parent.deleteManifest(repository, change.digest, signal);
      case 'blob-delete':
        // Only while it is still unlinked here (a client may have pushed it again since).
        if (change.digest === null || (await this.metadata.getBlobLink(repository, change.digest))) return false;
        return this.parent.deleteBlob(repository, change.digest, signal);
      case 'repository-delete':
        // Only the root's management API deletes whole repositories; nothing local to carry up.
        return false;
    }
  }

  /** Blobs the parent lacks, then the manifest (under `reference`: its digest or a tag). False when it is gone here since. */
  private async pushManifest(repository: string, digest: string, reference: string, signal?: AbortSignal): Promise<boolean> {
    const record = await this.metadata.getManifest(repository, digest);
    if (!record) return false; // deleted here since; its manifest-delete row follows
    const what = `${repository}@${digest}`;
    const body = await readLocal(`the manifest ${what}`, () => this.blobs.get(digest));
    const input = await readLocal(`the manifest ${what}`, async (): Promise<PutManifestInput> => toInput(repository, digest, body, record.mediaType));
    await runAll(input.blobs, BLOB_PARALLEL, signal, async (blob, inner) => {
      if (await this.parent.hasBlob(repository, blob, inner)) return;
      const stored = await this.blobs.stat(blob);
      if (!stored) throw new LocalSyncError('BLOB_UNKNOWN', `blob ${blob} of ${what} is missing here`);
      // The upload streams from local storage: a read failure there surfaces from the HTTP client
      // as a failed request, but it is this node's failure, not the link's or the parent's.
      let readFailure: unknown = null;
      const open = async (): Promise<Readable> => {
        const stream = await readLocal(`blob ${blob} of ${what}`, () => this.blobs.open(blob));
        stream.once('error', (err) => (readFailure ??= err));
        return stream;
      };
      try {
        await this.parent.pushBlob(repository, blob, stored.size, open, inner);
        this.counters.blobsPushed += 1;
        this.counters.blobBytesPushed += stored.size;
      } catch (err) {
        if (readFailure === null) throw err;
        throw readFailure instanceof RegistryError
          ? new LocalSyncError(readFailure.code, `blob ${blob} of ${what} cannot be read here: ${readFailure.message}`, { cause: readFailure })
          : readFailure;
      }
    });
    // An index's children were local writes with earlier outbox rows, or came from the parent.
    await this.parent.putManifest(repository, reference, body, record.mediaType, signal);
    this.counters.manifestsPushed += 1;
    return true;
  }
}

/**
 * Reads local content for a push: this registry's own refusals (a blob or manifest missing or
 * invalid here) become LocalSyncErrors; a failing disk (an errno error) stays what it is (the
 * session ends and reports a DiskError).
 */
async function readLocal<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    if (err instanceof RegistryError) throw new LocalSyncError(err.code, `${what} cannot be read here: ${err.message}`, { cause: err });
    throw err;
  }
}

function describe(change: Change): string {
  return `${change.kind} ${change.repository}${change.tag !== null ? `:${change.tag}` : ''}${change.digest !== null ? `@${change.digest}` : ''} (#${change.seq})`;
}
