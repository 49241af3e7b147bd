import type { Logger } from 'pino';
import { RegistryError } from '../oci/index.js';
import type { Change, MetadataStore, PutManifestInput, SyncStore } from '../metadata/index.js';
import type { RemoteSource } from '../client/registry-client.js';
import type { Message } from '../client/gateway-protocol.js';
import type { DomainEvent } from '../core/events.js';
import { RemoteError } from '../client/http-transport.js';
import type { ContentPuller } from './content-puller.js';
import type { SyncApplier } from './sync-applier.js';
import type { EdgePolicy } from './edge-policy.js';
import { Limiter, runAll } from './limiter.js';
import { failureCode, failureText, isItemFailure, retryDelayMs } from './sync-failures.js';

/** Manifests prepared (fetched with their blobs) at once while a batch of messages is applied in order. */
const PREFETCH = 4;
/**
 * Sessions in a row that may end on the same message with a server error (5xx) of the parent's
 * /v2 — the parent answers, but cannot serve this one item — before it is parked like an item
 * the parent refuses: a parent that is only briefly overloaded costs a retry, not a parked item.
 */
const SERVER_FAILURES_BEFORE_PARKING = 5;
/** Repositories and tags reconciled at once. */
const RECONCILE_PARALLEL = 4;

/** Which manifest a parked item is, and what brought it. */
interface ParkKey {
  repository: string;
  digest: string;
  tag: string | null;
  parentSeq: number | null;
}

/**
 * The pull half of sync: applies the parent's change messages in order, each with its cursor in
 * the same transaction, and reconciles a whole scope against the parent's tag lists when the log
 * cannot be followed (first start, RESYNC_REQUIRED, a scope change, `resync`).
 *
 * A manifest this node cannot complete — the parent cannot serve a blob of it (404), this
 * registry refuses it (MANIFEST_INVALID, MANIFEST_BLOB_UNKNOWN, a digest mismatch) — never
 * blocks the rest: it is parked (durably, with the cursor moving past it), reported, retried
 * with backoff and at each full reconcile, and forgotten once it succeeds or the parent deletes
 * it. A failure of the link (or of the disk) is not the item's: it ends the session as before.
 */
export class PullSync {
  constructor(
    private readonly parent: RemoteSource,
    private readonly puller: ContentPuller,
    private readonly metadata: MetadataStore,
    private readonly state: SyncStore,
    /** The writes: every change from the parent goes through the write pipeline and the sync policy. */
    private readonly applier: SyncApplier,
    private readonly policy: EdgePolicy,
    private readonly logger: Logger,
    private readonly now: () => number,
    /** The node's bus: each item parked is announced (`sync-item-parked`). */
    private readonly publish: (event: DomainEvent) => void = () => undefined,
  ) {}

  /** The message the last sessions ended on with a server error of the parent, and how many times in a row. */
  private serverFailures = { seq: -1, count: 0 };

  /**
   * Applies messages in order. Content is fetched ahead (several manifests at once) but every
   * commit happens in sequence, so the cursor never passes a change that is not applied.
   */
  async apply(messages: Message[], next: number, signal?: AbortSignal): Promise<void> {
    const limiter = new Limiter(PREFETCH);
    // Each manifest or tag message's content, fetched ahead unless a delete in its repository
    // comes earlier in the batch: fetching links blobs (and stores an index's children) in the
    // repository, which that delete, applied later, would drop again — or the delete removes a
    // child the prefetch found present. Those are fetched when their turn comes. A tagged push is
    // two messages (manifest, tag) of one digest: its content is fetched once.
    const prepared = new Map<number, () => Promise<PutManifestInput | null>>();
    const shared = new Map<string, () => Promise<PutManifestInput | null>>();
    const deletes = new Map<string, number>();
    for (const m of messages) {
      if ((m.kind === 'manifest' || m.kind === 'tag') && m.digest !== null) {
        const deletesBefore = deletes.get(m.repository) ?? 0;
        const key = `${m.repository}@${m.digest}#${deletesBefore}`;
        let task = shared.get(key);
        if (!task) {
          task = once(() => limiter.run(() => this.prepareOrGone(m.repository, m.digest!, signal)));
          if (deletesBefore === 0) task().catch(() => undefined);
          shared.set(key, task);
        }
        prepared.set(m.seq, task);
      } else if (m.kind === 'manifest-delete' || m.kind === 'repository-delete' || m.kind === 'blob-delete') {
        deletes.set(m.repository, (deletes.get(m.repository) ?? 0) + 1);
      }
    }
    // Pushes of this node whose echo never came (the parent had what they wrote already) are
    // settled once the log is past them; what they touch is compared with the parent again.
    const recheck: Change[] = [];
    let deadline = await this.state.nextEchoDeadline();
    const settleBefore = async (seq: number): Promise<void> => {
      if (deadline === null || deadline >= seq) return;
      recheck.push(...(await this.state.settleUnechoed(seq - 1)));
      deadline = await this.state.nextEchoDeadline();
    };
    for (const m of messages) {
      signal?.throwIfAborted();
      const seq = m.seq;
      await settleBefore(seq);
      switch (m.kind) {
        case 'manifest':
        case 'tag': {
          // A message without a digest names nothing to fetch: step over it.
          const task = prepared.get(seq);
          if (task && m.digest !== null) await this.commitMessage(m, m.digest, task, signal);
          else await this.state.setCursor(seq);
          break;
        }
        case 'tag-delete':
          if (m.tag !== null) await this.applier.applyTagDelete(m.repository, m.tag, seq);
          else await this.state.setCursor(seq);
          break;
        case 'manifest-delete':
          if (m.digest !== null) await this.applier.applyManifestDelete(m.repository, m.digest, seq);
          else await this.state.setCursor(seq);
          break;
        case 'repository-delete':
          await this.applier.applyRepositoryDelete(m.repository, seq);
          break;
        case 'blob-delete':
          if (m.digest !== null) await this.applier.applyBlobDelete(m.repository, m.digest, seq);
          else await this.state.setCursor(seq);
          break;
        default:
          // A kind this node does not know (a newer parent): stepped over, never asked for again.
          await this.state.setCursor(seq);
      }
    }
    const last = messages.length > 0 ? messages[messages.length - 1]!.seq : 0;
    if (next > last && next > ((await this.state.getCursor()) ?? 0)) await this.state.setCursor(next);
    await settleBefore(Math.max(next, last) + 1);
    for (const change of recheck) await this.recheck(change, signal);
  }

  /**
   * Commits a manifest or tag message with its cursor; parks it when it cannot be completed. A
   * commit this registry refuses is tried once more from scratch first: what is here may have
   * changed since the prefetch (a client deleted a blob it found linked).
   */
  private async commitMessage(m: Message, digest: string, task: () => Promise<PutManifestInput | null>, signal?: AbortSignal): Promise<void> {
    const tag = m.kind === 'tag' ? m.tag : null;
    const commit = async (input: PutManifestInput | null): Promise<void> => {
      if (input === null) await this.state.setCursor(m.seq);
      else await this.applier.applyManifest(tag !== null ? { ...input, tag } : input, m.seq);
    };
    let input: PutManifestInput | null;
    try {
      input = await task();
    } catch (err) {
      if (!isItemFailure(err) && this.countServerFailure(m.seq, err) < SERVER_FAILURES_BEFORE_PARKING) throw err;
      return this.park({ repository: m.repository, digest, tag, parentSeq: m.seq }, err, m.seq);
    }
    this.serverFailures = { seq: -1, count: 0 };
    try {
      return await commit(input);
    } catch (err) {
      if (!(err instanceof RegistryError) || !isItemFailure(err)) throw err;
    }
    try {
      return await commit(await this.prepareOrGone(m.repository, digest, signal));
    } catch (err) {
      if (!isItemFailure(err)) throw err;
      return this.park({ repository: m.repository, digest, tag, parentSeq: m.seq }, err, m.seq);
    }
  }

  /**
   * Counts the sessions in a row that ended on message `seq` with a 5xx answer of the parent
   * (not a connection failure: the parent answered); any other failure starts the count over.
   */
  private countServerFailure(seq: number, err: unknown): number {
    if (!(err instanceof RemoteError) || err.status < 500) {
      this.serverFailures = { seq: -1, count: 0 };
      return 0;
    }
    this.serverFailures = { seq, count: this.serverFailures.seq === seq ? this.serverFailures.count + 1 : 1 };
    return this.serverFailures.count;
  }

  /** Records an item this node cannot complete (and the cursor past its message, when given). */
  private async park(key: ParkKey, err: unknown, cursor?: number, retry = false): Promise<void> {
    const known = (await this.state.parkedItems()).find((p) => p.repository === key.repository && p.digest === key.digest);
    const attempts = retry || !known ? (known?.attempts ?? 0) + 1 : known.attempts;
    const failedAt = new Date(this.now());
    const nextAttemptAt = retry || !known ? new Date(failedAt.getTime() + retryDelayMs(attempts)) : known.nextAttemptAt;
    await this.state.parkItem({ ...key, code: failureCode(err), message: failureText(err), attempts, failedAt, nextAttemptAt }, cursor);
    const fields = {
      repository: key.repository, digest: key.digest, tag: key.tag, code: failureCode(err), err: failureText(err), attempts, retryAt: nextAttemptAt.toISOString(),
    };
    if (known && !retry) {
      this.logger.debug(fields, 'a parked change came again from the parent; still parked');
      return;
    }
    this.logger.warn(fields, 'a change from the parent cannot be completed here: parked, retried later (the changes after it go on)');
    this.publish({ type: 'sync-item-parked', repository: key.repository, digest: key.digest, tag: key.tag, code: failureCode(err) });
  }

  /**
   * Retries the parked items whose time has come (every one with `all`, after a full
   * reconcile): completes them (moving a tag only where the parent's tag still points),
   * forgets those the parent no longer has or that left the scope, parks the others again with a
   * longer wait. Throws what is not the item's failure (the link). Returns how many completed.
   */
  async retryParked(signal?: AbortSignal, all = false): Promise<number> {
    let completed = 0;
    for (const item of await this.state.parkedItems()) {
      signal?.throwIfAborted();
      if (!all && item.nextAttemptAt.getTime() > this.now()) continue;
      const key = { repository: item.repository, digest: item.digest, tag: item.tag, parentSeq: item.parentSeq };
      if (!this.policy.inScope(item.repository)) {
        await this.state.forgetParked(item.repository, item.digest);
        continue;
      }
      try {
        const input = await this.prepareOrGone(item.repository, item.digest, signal);
        if (input === null) {
          await this.state.forgetParked(item.repository, item.digest);
          this.logger.info({ repository: item.repository, digest: item.digest }, 'a parked change is gone at the parent: forgotten');
          continue;
        }
        const tagHere = item.tag !== null && (await this.parent.headManifest(item.repository, item.tag, signal)) === item.digest;
        await this.applier.applyManifest(tagHere ? { ...input, tag: item.tag! } : input);
        completed += 1;
        this.logger.info({ repository: item.repository, digest: item.digest, tag: tagHere ? item.tag : null, attempts: item.attempts }, 'a parked change is complete now');
      } catch (err) {
        if (!isItemFailure(err)) throw err;
        await this.park(key, err, undefined, true);
      }
    }
    return completed;
  }

  /**
   * A pushed write whose echo never came (the parent already had what it wrote): a parent
   * message on what it touches may have been left alone while it was unsettled. Takes the
   * parent's present state of that tag, manifest or blob link (later messages apply on top, as
   * after a reconcile); unsettled local writes stay protected by the sync policy.
   */
  private async recheck(change: Change, signal?: AbortSignal): Promise<void> {
    const { repository } = change;
    if (!this.policy.inScope(repository)) return;
    try {
      if ((change.kind === 'tag' || change.kind === 'tag-delete') && change.tag !== null) {
        const there = await this.parent.headManifest(repository, change.tag, signal);
        if (there === (await this.metadata.resolveTag(repository, change.tag))) return;
        if (there === null) {
          await this.applier.applyTagDelete(repository, change.tag);
          return;
        }
        const input = await this.prepareOrGone(repository, there, signal);
        if (input) await this.applier.applyManifest({ ...input, tag: change.tag });
      } else if ((change.kind === 'manifest' || change.kind === 'manifest-delete') && change.digest !== null) {
        const there = (await this.parent.headManifest(repository, change.digest, signal)) !== null;
        if (there === ((await this.metadata.getManifest(repository, change.digest)) !== null)) return;
        if (!there) {
          await this.applier.applyManifestDelete(repository, change.digest);
          return;
        }
        const input = await this.prepareOrGone(repository, change.digest, signal);
        if (input) await this.applier.applyManifest(input);
      } else if (change.kind === 'blob-delete' && change.digest !== null) {
        if ((await this.metadata.getBlobLink(repository, change.digest)) && !(await this.parent.hasBlob(repository, change.digest, signal))) {
          await this.applier.applyBlobDelete(repository, change.digest);
        }
      }
    } catch (err) {
      if (!isItemFailure(err)) throw err;
      this.logger.debug({ repository, change: change.seq, err: failureText(err) }, 'comparing a pushed write with the parent failed; its later messages settle it');
    }
  }

  /**
   * Converges every repository in scope with the parent: its tags point where the parent's do,
   * tags the parent no longer has are dropped, and referrers of what was pulled come too.
   * Repositories gone from the parent (or from the scope, on a ReadOnly node) are deleted here.
   * Local writes still in the outbox are left alone (the sync policy guarantees it). Sets the cursor to
   * `head` at the end: messages after it are applied on top (idempotently).
   */
  async reconcile(head: number, signal?: AbortSignal): Promise<{ repositories: number; tags: number }> {
    const parentRepos = (await this.parent.catalog(signal)).filter((r) => this.policy.inScope(r));
    const parentSet = new Set(parentRepos);
    const counts = await runAll(parentRepos, RECONCILE_PARALLEL, signal, (repository, inner) => this.reconcileRepository(repository, inner));
    const tags = counts.reduce((sum, n) => sum + n, 0);
    for (const repository of await this.allLocalRepositories()) {
      if (parentSet.has(repository)) continue;
      // Out of scope: pruned only on a ReadOnly node (docs/architecture.md, "Connected node and sync agent": reconcile). In scope but gone at the parent: deleted.
      if (!this.policy.inScope(repository) && this.policy.currentMode === 'ReadWrite') continue;
      await this.applier.applyRepositoryDelete(repository);
    }
    await this.state.setCursor(head);
    this.logger.info({ repositories: parentRepos.length, tags }, `reconciled ${parentRepos.length} ${parentRepos.length === 1 ? 'repository' : 'repositories'} (${tags} tags) with the parent`);
    // Parked items of the log are retried too (a reconcile only walks tags).
    await this.retryParked(signal, true);
    return { repositories: parentRepos.length, tags };
  }

  private async reconcileRepository(repository: string, signal: AbortSignal): Promise<number> {
    const parentTags = await this.parent.listTags(repository, signal);
    const pulled = new Set<string>();
    await runAll(parentTags, RECONCILE_PARALLEL, signal, async (tag, inner) => {
      const digest = await this.parent.headManifest(repository, tag, inner);
      if (digest === null) return;
      pulled.add(digest);
      if ((await this.metadata.resolveTag(repository, tag)) === digest) return;
      try {
        const input = await this.prepareOrGone(repository, digest, inner);
        if (input) await this.applier.applyManifest({ ...input, tag });
      } catch (err) {
        // One tag this node cannot complete does not fail the whole reconcile.
        if (!isItemFailure(err)) throw err;
        await this.park({ repository, digest, tag, parentSeq: null }, err);
      }
    });
    // Referrers (signatures, SBOMs) are untagged: follow them from what the tags point at and
    // from the manifests an index lists (a signature of one platform's image).
    for (const digest of pulled) await this.pullReferrersOfTree(repository, digest, signal);
    const wanted = new Set(parentTags);
    const local = (await this.metadata.listTags(repository, { limit: 100_000 })) ?? [];
    for (const tag of local) if (!wanted.has(tag)) await this.applier.applyTagDelete(repository, tag);
    return parentTags.length;
  }

  /** The referrers of `digest` and, when it is an index here, of every manifest it lists. */
  private async pullReferrersOfTree(repository: string, digest: string, signal?: AbortSignal): Promise<void> {
    await this.pullReferrers(repository, digest, signal);
    if (!(await this.metadata.getManifest(repository, digest))) return; // gone at the parent meanwhile
    for (const child of (await this.puller.localInput(repository, digest)).manifests) await this.pullReferrersOfTree(repository, child, signal);
  }

  private async pullReferrers(repository: string, subject: string, signal?: AbortSignal, depth = 0): Promise<void> {
    if (depth > 4) return;
    for (const referrer of await this.parent.referrers(repository, subject, signal)) {
      if (await this.metadata.getManifest(repository, referrer.digest)) continue;
      try {
        const input = await this.prepareOrGone(repository, referrer.digest, signal);
        if (!input) continue;
        await this.applier.applyManifest(input);
      } catch (err) {
        if (!isItemFailure(err)) throw err;
        await this.park({ repository, digest: referrer.digest, tag: null, parentSeq: null }, err);
        continue;
      }
      await this.pullReferrers(repository, referrer.digest, signal, depth + 1);
    }
  }

  private async allLocalRepositories(): Promise<string[]> {
    const names: string[] = [];
    let last: string | undefined;
    for (;;) {
      const page = await this.metadata.listRepositories({ limit: 1000, ...(last !== undefined ? { last } : {}) });
      names.push(...page);
      if (page.length < 1000) return names;
      last = page[page.length - 1];
    }
  }

  /**
   * Fetches a manifest with its content; null when the parent no longer has it (deleted since
   * the message). A child of an index the parent lacks is the index's failure, not its absence.
   */
  private async prepareOrGone(repository: string, digest: string, signal?: AbortSignal): Promise<PutManifestInput | null> {
    try {
      return await this.puller.prepare(repository, digest, signal);
    } catch (err) {
      if (err instanceof RemoteError && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) {
        if (err.code === 'MANIFEST_UNKNOWN' && (await this.parent.headManifest(repository, digest, signal)) !== null) throw err;
        this.logger.debug({ repository, digest }, 'manifest gone at the parent; skipped');
        return null;
      }
      throw err;
    }
  }
}

/** `start`, run on the first call only; every call returns its promise. */
function once<T>(start: () => Promise<T>): () => Promise<T> {
  let started: Promise<T> | null = null;
  return () => (started ??= start());
}
