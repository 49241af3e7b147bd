import type { Logger } from 'pino';
import type { Change, MetadataStore, SyncStore } from '../metadata/index.js';
import type { BlobStore } from '../storage/types.js';
import type { RegistryClient } from '../client/registry-client.js';
import { RemoteError } from '../client/http-transport.js';
import { toInput } from './content-puller.js';
import { runAll } from './limiter.js';

const BATCH = 100;
const BLOB_PARALLEL = 4;

/** A write the parent refused for good (not the link): it is skipped, logged and reported. */
export interface RejectedWrite {
  change: Change;
  code: string;
  message: string;
}

/**
 * The push half of sync on a ReadWrite node: drains the outbox (local writes after the pushed
 * mark) to the parent in order, over /v2 — the blobs the parent lacks, then the manifest, then
 * the tag — and moves the mark after each change. A link failure stops the drain with nothing
 * marked, so the same change is retried later; a change the parent refuses for good is
 * reported and skipped so one bad write cannot stall every later one.
 */
export class OutboxPusher {
  readonly rejected: RejectedWrite[] = [];
  /** The drain running now: one at a time, or two would push the same change and set the mark back. */
  private draining: Promise<void> = Promise.resolve();

  constructor(
    private readonly parent: RegistryClient,
    private readonly blobs: BlobStore,
    private readonly metadata: MetadataStore,
    private readonly state: SyncStore,
    private readonly logger: Logger,
  ) {}

  /**
   * Pushes everything pending; returns how many changes were handled. Throws RemoteError on link
   * failures. A call while another drain runs starts once that one has ended.
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
      if (batch.length === 0) return handled;
      for (const change of batch) {
        signal?.throwIfAborted();
        try {
          await this.push(change, signal);
        } catch (err) {
          if (!(err instanceof RemoteError) || err.retryable || err.code === 'UNAUTHORIZED') throw err;
          this.rejected.push({ change, code: err.code, message: err.message });
          if (this.rejected.length > 50) this.rejected.shift();
          this.logger.error({ change, code: err.code, err: err.message }, 'the parent refused a local write; it stays local only');
        }
        await this.state.markPushed(change.seq);
        handled += 1;
      }
    }
  }

  private async push(change: Change, signal?: AbortSignal): Promise<void> {
    const { repository } = change;
    switch (change.kind) {
      case 'manifest':
        if (change.digest !== null) await this.pushManifest(repository, change.digest, change.digest, signal);
        return;
      case 'tag':
        // Only while the tag still points there: a later local move has its own outbox row.
        if (change.tag !== null && change.digest !== null && (await this.metadata.resolveTag(repository, change.tag)) === change.digest) {
          await this.pushManifest(repository, change.digest, change.tag, signal);
        }
        return;
      case 'tag-delete':
        if (change.tag !== null && (await this.metadata.resolveTag(repository, change.tag)) === null) {
          await this.parent.deleteManifest(repository, change.tag, signal);
        }
        return;
      case 'manifest-delete':
        if (change.digest !== null && !(await this.metadata.getManifest(repository, change.digest))) {
          await this.parent.deleteManifest(repository, change.digest, signal);
        }
        return;
      case 'repository-delete':
        // Only the root's management API deletes whole repositories; nothing local to carry up.
        return;
    }
  }

  /** Blobs the parent lacks, then the manifest (under `reference`: its digest or a tag). */
  private async pushManifest(repository: string, digest: string, reference: string, signal?: AbortSignal): Promise<void> {
    const record = await this.metadata.getManifest(repository, digest);
    if (!record) return; // deleted here since; its manifest-delete row follows
    const body = await this.blobs.get(digest);
    const input = toInput(repository, digest, body, record.mediaType);
    await runAll(input.blobs, BLOB_PARALLEL, signal, async (blob, inner) => {
      if (await this.parent.hasBlob(repository, blob, inner)) return;
      const stored = await this.blobs.stat(blob);
      if (!stored) throw new RemoteError('BLOB_UNKNOWN', 404, `local blob ${blob} of ${repository}@${digest} is missing`);
      await this.parent.pushBlob(repository, blob, stored.size, () => this.blobs.open(blob), inner);
    });
    // An index's children were local writes with earlier outbox rows, or came from the parent.
    await this.parent.putManifest(repository, reference, body, record.mediaType, signal);
  }
}
