import { RegistryError, digestOf, parseDigest, parseManifest } from '../oci/index.js';
import type { BlobStore } from '../storage/types.js';
import type { MetadataStore, PutManifestInput } from '../metadata/index.js';
import type { RemoteSource } from '../client/registry-client.js';
import { manifestFields } from '../registry/manifest-service.js';
import { Limiter } from './limiter.js';
import type { SyncApplier } from './sync-applier.js';

/** Bytes and objects moved from the parent (for status and the benchmark's "bytes moved = bytes missing"). */
export interface TransferCounters {
  blobsFetched: number;
  blobBytesFetched: number;
  manifestsFetched: number;
}

/**
 * Brings manifests and their blobs from the parent into the local stores, verified by digest.
 * A blob already stored locally is never transferred again (it is only linked to the
 * repository); the same blob asked for twice at once downloads once; up to `parallel` blob
 * downloads run at a time, each streamed straight into the blob store.
 */
export class ContentPuller {
  private readonly blobLimiter: Limiter;
  private readonly inFlight = new Map<string, Promise<void>>();
  readonly counters: TransferCounters = { blobsFetched: 0, blobBytesFetched: 0, manifestsFetched: 0 };

  constructor(
    private readonly parent: RemoteSource,
    private readonly blobs: BlobStore,
    private readonly metadata: MetadataStore,
    /** Commits an index's children (as changes from the parent). */
    private readonly applier: SyncApplier,
    parallel = 8,
  ) {
    this.blobLimiter = new Limiter(parallel);
  }

  /**
   * Makes manifest `digest` of `repository` complete locally: its blobs linked, an index's
   * children stored (committed first, as sync writes), its own bytes in the blob store.
   * Returns what putManifest needs to commit it; the caller commits (with a tag and cursor).
   */
  async prepare(repository: string, digest: string, signal?: AbortSignal): Promise<PutManifestInput> {
    parseDigest(digest);
    if (await this.metadata.getManifest(repository, digest)) return this.localInput(repository, digest);
    const fetched = await this.parent.getManifest(repository, digest, signal);
    const actual = digestOf(fetched.body, parseDigest(digest).algorithm);
    if (actual !== digest) {
      throw new RegistryError('DIGEST_INVALID', `the parent's manifest ${repository}@${digest} has digest ${actual}`);
    }
    this.counters.manifestsFetched += 1;
    const input = toInput(repository, digest, fetched.body, fetched.mediaType);
    for (const child of input.manifests) {
      if (await this.metadata.getManifest(repository, child)) continue;
      await this.applier.applyManifest(await this.prepare(repository, child, signal));
    }
    const links = await Promise.all(input.blobs.map((blob) => this.ensureBlob(repository, blob, signal)));
    await this.blobs.put(fetched.body, digest, fetched.body.length);
    // Linked by the commit itself: one transaction for the manifest and all its new links.
    const blobLinks = Object.fromEntries(links.filter((link): link is [string, number] => link !== null));
    return { ...input, blobLinks };
  }

  /** The commit input of a manifest already stored here (to move a tag onto it). */
  async localInput(repository: string, digest: string): Promise<PutManifestInput> {
    const record = await this.metadata.getManifest(repository, digest);
    if (!record) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown', { repository, digest });
    return toInput(repository, digest, await this.blobs.get(digest), record.mediaType);
  }

  /**
   * Makes blob `digest` present here, downloading it only when no repository here has it.
   * Returns the link the commit must add (digest, size), or null when the repository has it.
   */
  private async ensureBlob(repository: string, digest: string, signal?: AbortSignal): Promise<[string, number] | null> {
    if (await this.metadata.getBlobLink(repository, digest)) return null;
    const stored = await this.blobs.stat(digest);
    if (!stored) await this.download(repository, digest, signal);
    const size = stored?.size ?? (await this.blobs.stat(digest))?.size;
    if (size === undefined) throw new RegistryError('BLOB_UNKNOWN', 'blob vanished after download', { digest });
    return [digest, size];
  }

  private download(repository: string, digest: string, signal?: AbortSignal): Promise<void> {
    const running = this.inFlight.get(digest);
    if (running) return running;
    const task = this.blobLimiter.run(async () => {
      if (await this.blobs.stat(digest)) return;
      const { stream, size } = await this.parent.getBlob(repository, digest, signal);
      try {
        const stored = await this.blobs.put(stream, digest, size ?? undefined);
        this.counters.blobsFetched += 1;
        this.counters.blobBytesFetched += stored.size;
      } finally {
        stream.destroy();
      }
    }).finally(() => this.inFlight.delete(digest));
    this.inFlight.set(digest, task);
    return task;
  }
}

/** What putManifest needs, from a manifest's bytes (validated as the /v2 PUT handler does). */
export function toInput(repository: string, digest: string, body: Buffer, mediaType: string): PutManifestInput {
  return manifestFields(repository, digest, body, parseManifest(body, mediaType || undefined));
}
