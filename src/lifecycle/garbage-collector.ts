import type { Clock } from '../core/clock.js';
import type { EventBus } from '../core/events.js';
import { describeGcReport, type GcCount, type GcReport } from '../core/gc-report.js';
import type { BlobLinkKey, MetadataStore } from '../metadata/index.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../oci/index.js';
import type { BlobGate, CallOptions, FileInfo, RandomReadHandle, UploadStore } from '../storage/index.js';

/** What the byte sweep freed (counted, in a dry run) and left to writes using it. */
interface Tally {
  blobs: GcCount;
  manifests: GcCount;
  skipped: number;
}

/** Links removed per transaction: pushes commit between batches. */
const LINK_BATCH = 500;
/** Blob files claimed, checked again and deleted per batch: a write wanting one of them waits for at most one batch. */
const BLOB_BATCH = 100;
/**
 * File operations of the sweep in flight at once. One at a time, each would wait its turn behind
 * the requests the node serves meanwhile (a sweep of a large store would take many minutes);
 * many at once would fill the thread pool that blob downloads read through. A few keep both going.
 */
const FILE_PARALLEL = 4;
/** Files up to this size are read whole at once to see whether they are manifests (for the report). */
const SMALL_FILE = 64 * 1024;
const OPEN_BRACE = 0x7b;

/** What the collector needs of the blob store (DriverBlobStore has it all). */
export interface SweepableBlobs {
  /** Every stored digest (the candidates are listed, never trusted: each is checked against the metadata). */
  list(options?: CallOptions): AsyncIterable<string>;
  /** Size and modification time of a blob's file, or null. */
  info(digest: string, options?: CallOptions): Promise<FileInfo | null>;
  openForRead(digest: string, options?: CallOptions): Promise<RandomReadHandle>;
  get(digest: string, options?: CallOptions): Promise<Buffer>;
  delete(digest: string, options?: CallOptions): Promise<void>;
  /** Temporary files of interrupted writes older than `olderThanMs` (dry run: only counted). */
  sweepTemp(olderThanMs: number, options?: CallOptions & { dryRun?: boolean }): Promise<GcCount>;
}

export interface GarbageCollectorDeps {
  metadata: Pick<MetadataStore, 'referencedBlobDigests' | 'referencedDigestsAmong' | 'unreferencedBlobLinks' | 'sweepBlobLinks'>;
  blobs: SweepableBlobs;
  uploads: Pick<UploadStore, 'sweepAbandoned'>;
  /** The gate the node's writes hold (storage/blob-gate.ts). */
  gate: BlobGate;
  /** The node's clock: the grace period is measured on it. */
  clock: Clock;
  /** Anything written or used (a link created or refreshed, a file written) within this long before a run starts stays. */
  graceMs: number;
  logger: { info(details: object, message: string): void };
  /** Where each run's report is announced (`garbage-collected`). */
  events?: EventBus;
  /**
   * The share of the time a sweep may keep the node busy (0 < share ≤ 1; DEFAULT_BUSY_SHARE):
   * after each batch it pauses so that batches take at most this share of its run. The node
   * serves requests in the pauses; a lower share is a gentler, longer sweep.
   */
  busyShare?: number;
}

/** Half the time: a sweep takes about twice as long as flat out, and reads keep most of their rate meanwhile. */
export const DEFAULT_BUSY_SHARE = 0.5;

/**
 * Online garbage collection of a node's storage (docs/architecture.md, "Garbage collection"):
 * mark-and-sweep over the metadata while pushes, pulls and sync go on.
 *
 * 1. **Links**: a repository's links to blobs that no manifest of the repository references
 *    (config or layer) and that were not created or used within the grace period are removed,
 *    one statement per batch that checks the conditions again as it deletes.
 * 2. **Mark**: what the metadata references — manifests, their blobs, the remaining links — in
 *    one snapshot, against a listing of the blob store: what is stored and not marked is a
 *    candidate.
 * 3. **Sweep**: candidates written within the grace period stay; the others are claimed in
 *    batches through the gate (a digest a write holds is left for the next run), checked against
 *    the metadata again under the claim, and deleted only if nothing references them now.
 * 4. **Uploads**: upload sessions and temporary files untouched for the grace period.
 *
 * Nothing here appends a change row: each node collects its own garbage, so none of it is pushed
 * up by a ReadWrite edge's outbox or sent down to children as deletes.
 */
export class GarbageCollector {
  #running: { dryRun: boolean; done: Promise<GcReport> } | null = null;

  constructor(private readonly deps: GarbageCollectorDeps) {}

  /**
   * Collects (with `dryRun`, only finds what would be freed) and returns the report. One
   * collection at a time: a call while one of the same kind runs gets that run's report; while
   * one of the other kind runs, it waits for it to end and then runs. `signal` stops a run
   * between batches (it rejects with the signal's reason).
   */
  async run(options: { dryRun?: boolean; signal?: AbortSignal } = {}): Promise<GcReport> {
    const dryRun = options.dryRun === true;
    for (let running = this.#running; running !== null; running = this.#running) {
      if (running.dryRun === dryRun) return running.done;
      await running.done.catch(() => undefined);
    }
    const entry = { dryRun, done: this.#collect(dryRun, options.signal) };
    this.#running = entry;
    try {
      return await entry.done;
    } finally {
      if (this.#running === entry) this.#running = null;
    }
  }

  /**
   * After a batch that took `busyMs` of real time, pauses (on the node's clock) so that batches
   * keep the node busy at most `busyShare` of the time.
   */
  async #pace(busyMs: number, signal: AbortSignal | undefined): Promise<void> {
    const share = this.deps.busyShare ?? DEFAULT_BUSY_SHARE;
    if (share >= 1 || busyMs <= 0) return;
    await this.deps.clock.sleep((busyMs * (1 - share)) / share, signal);
    signal?.throwIfAborted();
  }

  async #collect(dryRun: boolean, signal: AbortSignal | undefined): Promise<GcReport> {
    const { clock, graceMs } = this.deps;
    const startedAt = clock.now();
    // At or before the cutoff is old enough to go; after it is protected by the grace period.
    const cutoff = new Date(startedAt - graceMs);
    const call: CallOptions = signal ? { signal } : {};
    // Durations are real elapsed time (a measure of the work), whatever the node's clock says.
    const t0 = performance.now();

    const { removed: links, digests: unlinked } = await this.#sweepLinks(cutoff, dryRun, signal);
    const t1 = performance.now();
    const candidates = await this.#mark(cutoff, dryRun, call);
    const t2 = performance.now();
    const swept = await this.#sweepBytes(candidates, unlinked, cutoff, dryRun, call);
    const t3 = performance.now();
    const sessions = await this.deps.uploads.sweepAbandoned(graceMs, { ...call, dryRun });
    const temporary = await this.deps.blobs.sweepTemp(graceMs, { ...call, dryRun });
    const t4 = performance.now();

    const uploads = { count: sessions.count + temporary.count, bytes: sessions.bytes + temporary.bytes };
    const ms = (from: number, to: number): number => Math.round(to - from);
    const report: GcReport = {
      dryRun,
      startedAt: new Date(startedAt).toISOString(),
      finishedAt: new Date(clock.now()).toISOString(),
      graceSeconds: Math.round(graceMs / 1000),
      links,
      blobs: swept.blobs,
      manifests: swept.manifests,
      uploads,
      freedBytes: swept.blobs.bytes + swept.manifests.bytes + uploads.bytes,
      skipped: swept.skipped,
      timings: { linksMs: ms(t0, t1), markMs: ms(t1, t2), sweepMs: ms(t2, t3), uploadsMs: ms(t3, t4), totalMs: ms(t0, t4) },
    };
    this.deps.logger.info({ gc: report }, describeGcReport(report));
    this.deps.events?.publish({ type: 'garbage-collected', report });
    return report;
  }

  /**
   * Removes (counts, in a dry run) the links no manifest of their repository uses, not refreshed
   * after the cutoff; also answers the digests they named (blobs, not manifests: the report
   * need not read those files to tell).
   */
  async #sweepLinks(cutoff: Date, dryRun: boolean, signal: AbortSignal | undefined): Promise<{ removed: GcCount; digests: Set<string> }> {
    const { metadata } = this.deps;
    const removed: GcCount = { count: 0, bytes: 0 };
    const digests = new Set<string>();
    let after: BlobLinkKey | undefined;
    for (;;) {
      signal?.throwIfAborted();
      const started = performance.now();
      const page = await metadata.unreferencedBlobLinks(cutoff, after === undefined ? { limit: LINK_BATCH } : { after, limit: LINK_BATCH });
      const gone = dryRun ? page : await metadata.sweepBlobLinks(page, cutoff);
      for (const link of gone) {
        removed.count += 1;
        removed.bytes += link.size;
        digests.add(link.digest);
      }
      if (page.length < LINK_BATCH) return { removed, digests };
      after = page[page.length - 1];
      await this.#pace(performance.now() - started, signal);
    }
  }

  /**
   * The stored digests the metadata does not reference. A dry run marks as if the links its
   * link sweep counted were gone (only links refreshed after the cutoff count).
   */
  async #mark(cutoff: Date, dryRun: boolean, call: CallOptions): Promise<string[]> {
    const marked = await this.deps.metadata.referencedBlobDigests(dryRun ? { linksRefreshedAfter: cutoff } : {});
    const candidates: string[] = [];
    for await (const digest of this.deps.blobs.list(call)) if (!marked.has(digest)) candidates.push(digest);
    return candidates;
  }

  /**
   * Deletes the candidates older than the cutoff that nothing references under the claim (counts
   * those nothing holds, in a dry run). The mark may be stale by now — a link or manifest may
   * have been committed since — which the check under the claim sees. `linked`: digests whose
   * links this run removed (blobs, for the report).
   */
  async #sweepBytes(candidates: readonly string[], linked: ReadonlySet<string>, cutoff: Date, dryRun: boolean, call: CallOptions): Promise<Tally> {
    const tally: Tally = { blobs: { count: 0, bytes: 0 }, manifests: { count: 0, bytes: 0 }, skipped: 0 };
    let busy = 0;
    for (let i = 0; i < candidates.length; i += BLOB_BATCH) {
      if (i > 0) await this.#pace(busy, call.signal);
      call.signal?.throwIfAborted();
      const started = performance.now();
      await this.#sweepBatch(candidates.slice(i, i + BLOB_BATCH), linked, cutoff, dryRun, call, tally);
      busy = performance.now() - started;
    }
    return tally;
  }

  async #sweepBatch(batch: readonly string[], linked: ReadonlySet<string>, cutoff: Date, dryRun: boolean, call: CallOptions, tally: Tally): Promise<void> {
    const { blobs, gate, metadata } = this.deps;
    const count = (file: { size: number; manifest: boolean }): void => {
      const into = file.manifest ? tally.manifests : tally.blobs;
      into.count += 1;
      into.bytes += file.size;
    };
    // Read-only work before the claim, so the claim is short: the age (a file written within
    // the grace period stays) and what the file is, for the report.
    const looked = await inParallel(batch, FILE_PARALLEL, async (digest) => {
      const info = await blobs.info(digest, call);
      if (info === null || info.modifiedAt.getTime() > cutoff.getTime()) return null;
      // A digest a repository linked is a blob (config or layer): no need to read it.
      const manifest = !linked.has(digest) && (await this.#isManifest(digest, info.size, call));
      return [digest, { size: info.size, manifest }] as const;
    });
    const old = new Map(looked.filter((entry) => entry !== null));
    if (old.size === 0) return;
    if (dryRun) {
      for (const [digest, file] of old) {
        if (gate.isHeld(digest)) tally.skipped += 1;
        else count(file);
      }
      return;
    }
    const claim = gate.claim(old.keys());
    tally.skipped += old.size - claim.digests.length;
    try {
      const referenced = await metadata.referencedDigestsAmong(claim.digests);
      await inParallel(claim.digests.filter((digest) => !referenced.has(digest)), FILE_PARALLEL, async (digest) => {
        await blobs.delete(digest, call);
        count(old.get(digest)!);
      });
    } finally {
      claim.release();
    }
  }

  /**
   * Are a candidate's bytes a manifest (for the report only: deciding what to delete never
   * looks at content)? Small JSON that parses as one.
   */
  async #isManifest(digest: string, size: number, call: CallOptions): Promise<boolean> {
    if (size < 2 || size > MAX_MANIFEST_BYTES) return false;
    try {
      if (size > SMALL_FILE) {
        // Only JSON can be a manifest: one byte says whether a large file is worth reading whole.
        const file = await this.deps.blobs.openForRead(digest, call);
        const first = new Uint8Array(1);
        try {
          if ((await file.read(first, 0, 1)) !== 1 || first[0] !== OPEN_BRACE) return false;
        } finally {
          await file.close();
        }
      }
      const body = await this.deps.blobs.get(digest, call);
      if (body[0] !== OPEN_BRACE) return false;
      parseManifest(body, undefined);
      return true;
    } catch {
      // Not a manifest (or gone meanwhile): it is counted as a blob.
      return false;
    }
  }
}

/** `work` on each item, at most `limit` at once; the results in the items' order. */
async function inParallel<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
