import type { Logger } from 'pino';
import type { MetadataStore, PutManifestInput, SyncStore } from '../metadata/index.js';
import type { RegistryClient } from '../client/registry-client.js';
import type { Message } from '../client/gateway-protocol.js';
import { RemoteError } from '../client/http-transport.js';
import type { ContentPuller } from './content-puller.js';
import type { EdgePolicy } from './edge-policy.js';
import { Limiter, runAll } from './limiter.js';

/** Manifests prepared (fetched with their blobs) at once while a batch of messages is applied in order. */
const PREFETCH = 4;
/** Repositories and tags reconciled at once. */
const RECONCILE_PARALLEL = 4;

/**
 * The pull half of sync: applies the parent's change messages in order, each with its cursor in
 * the same transaction, and reconciles a whole scope against the parent's tag lists when the log
 * cannot be followed (first start, RESYNC_REQUIRED, a scope change, `resync`).
 */
export class PullSync {
  constructor(
    private readonly parent: RegistryClient,
    private readonly puller: ContentPuller,
    private readonly metadata: MetadataStore,
    private readonly state: SyncStore,
    private readonly policy: EdgePolicy,
    private readonly logger: Logger,
  ) {}

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
      } else if (m.kind === 'manifest-delete' || m.kind === 'repository-delete') {
        deletes.set(m.repository, (deletes.get(m.repository) ?? 0) + 1);
      }
    }
    for (const m of messages) {
      signal?.throwIfAborted();
      switch (m.kind) {
        case 'manifest':
        case 'tag': {
          // A message without a digest names nothing to fetch: step over it.
          const task = prepared.get(m.seq);
          const input = task ? await task() : null;
          if (input === null) await this.state.setCursor(m.seq);
          else await this.state.applyManifest(m.kind === 'tag' && m.tag !== null ? { ...input, tag: m.tag } : input, m.seq);
          break;
        }
        case 'tag-delete':
          if (m.tag !== null) await this.state.applyTagDelete(m.repository, m.tag, m.seq);
          else await this.state.setCursor(m.seq);
          break;
        case 'manifest-delete':
          if (m.digest !== null) await this.state.applyManifestDelete(m.repository, m.digest, m.seq);
          else await this.state.setCursor(m.seq);
          break;
        case 'repository-delete':
          await this.state.applyRepositoryDelete(m.repository, m.seq);
          break;
      }
    }
    const last = messages.length > 0 ? messages[messages.length - 1]!.seq : 0;
    if (next > last && next > ((await this.state.getCursor()) ?? 0)) await this.state.setCursor(next);
  }

  /**
   * Converges every repository in scope with the parent: its tags point where the parent's do,
   * tags the parent no longer has are dropped, and referrers of what was pulled come too.
   * Repositories gone from the parent (or from the scope, on a ReadOnly node) are deleted here.
   * Local writes still in the outbox are left alone (the store guarantees it). Sets the cursor to
   * `head` at the end: messages after it are applied on top (idempotently).
   */
  async reconcile(head: number, signal?: AbortSignal): Promise<{ repositories: number; tags: number }> {
    const parentRepos = (await this.parent.catalog(signal)).filter((r) => this.policy.inScope(r));
    const parentSet = new Set(parentRepos);
    const counts = await runAll(parentRepos, RECONCILE_PARALLEL, signal, (repository, inner) => this.reconcileRepository(repository, inner));
    const tags = counts.reduce((sum, n) => sum + n, 0);
    for (const repository of await this.allLocalRepositories()) {
      if (parentSet.has(repository)) continue;
      // Out of scope: pruned only on a ReadOnly node (reference §5). In scope but gone at the parent: deleted.
      if (!this.policy.inScope(repository) && this.policy.currentMode === 'ReadWrite') continue;
      await this.state.applyRepositoryDelete(repository);
    }
    await this.state.setCursor(head);
    this.logger.info({ repositories: parentRepos.length, tags }, 'full reconcile with the parent done');
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
      const input = await this.prepareOrGone(repository, digest, inner);
      if (input) await this.state.applyManifest({ ...input, tag });
    });
    // Referrers (signatures, SBOMs) are untagged: follow them from what the tags point at and
    // from the manifests an index lists (a signature of one platform's image).
    for (const digest of pulled) await this.pullReferrersOfTree(repository, digest, signal);
    const wanted = new Set(parentTags);
    const local = (await this.metadata.listTags(repository, { limit: 100_000 })) ?? [];
    for (const tag of local) if (!wanted.has(tag)) await this.state.applyTagDelete(repository, tag);
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
      const input = await this.prepareOrGone(repository, referrer.digest, signal);
      if (!input) continue;
      await this.state.applyManifest(input);
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

  /** Fetches a manifest with its content; null when the parent no longer has it (deleted since the message). */
  private async prepareOrGone(repository: string, digest: string, signal?: AbortSignal): Promise<PutManifestInput | null> {
    try {
      return await this.puller.prepare(repository, digest, signal);
    } catch (err) {
      if (err instanceof RemoteError && (err.code === 'MANIFEST_UNKNOWN' || err.code === 'NAME_UNKNOWN')) {
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
