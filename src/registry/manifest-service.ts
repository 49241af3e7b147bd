import {
  RegistryError,
  parseManifest,
  parseReference,
  parseDigest,
  digestOf,
  declaredSizes,
  isManifestMediaType,
  type Reference,
  type ParsedManifest,
} from '../oci/index.js';
import type { BlobStore } from '../storage/types.js';
import type { BlobGate } from '../storage/blob-gate.js';
import type { MetadataStore, ManifestRecord, PutManifestInput } from '../metadata/types.js';
import { ManifestCache } from './manifest-cache.js';
import type { RegistryWriter } from './registry-writer.js';
import type { WriteRequest } from '../core/events.js';

export interface StoredManifest {
  record: ManifestRecord;
  body: Buffer;
}

export interface PutManifestResult {
  digest: string;
  subject: string | null;
}

/**
 * Manifests: validation, content addressing, storage of the bytes as a blob, and the metadata
 * commit (through the write pipeline) that makes them visible. The bytes are written before the
 * metadata transaction, so a crash in between leaves at most an unreferenced blob for GC, never a
 * visible half-manifest.
 */
export class ManifestService {
  private readonly cache: ManifestCache;

  constructor(
    private readonly blobs: BlobStore,
    private readonly metadata: MetadataStore,
    private readonly writer: RegistryWriter,
    /** Holds the manifest's bytes from their store until the commit (garbage collection). */
    private readonly gate: BlobGate,
    cacheBytes = 64 * 1024 * 1024,
  ) {
    this.cache = new ManifestCache(cacheBytes);
  }

  /** Resolves a tag or digest to the stored manifest. Throws MANIFEST_UNKNOWN. */
  async get(repository: string, reference: string): Promise<StoredManifest> {
    const ref = this.parseReadReference(reference);
    const digest = ref.kind === 'digest' ? ref.digest : await this.metadata.resolveTag(repository, ref.tag);
    const record = digest ? await this.metadata.getManifest(repository, digest) : null;
    if (!record) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown', { repository, reference });
    let body = this.cache.get(record.digest);
    if (!body) {
      body = await this.blobs.get(record.digest);
      this.cache.set(record.digest, body);
    }
    return { record, body };
  }

  /**
   * Validates and stores a manifest under a tag or digest reference. Throws MANIFEST_INVALID,
   * MANIFEST_TOO_LARGE, DIGEST_INVALID (body does not match a digest reference),
   * MANIFEST_BLOB_UNKNOWN (a referenced blob or child manifest is missing) and MANIFEST_INVALID
   * for a descriptor whose size differs from the stored blob or child manifest. `actor`: who
   * pushes, `request`: the request it came in (the events say both).
   */
  async put(
    repository: string, reference: string, body: Buffer, contentType: string | undefined, actor: string | null, request?: WriteRequest,
  ): Promise<PutManifestResult> {
    const ref = parseReference(reference);
    const parsed = parseManifest(body, contentType);
    const algorithm = ref.kind === 'digest' ? parseDigest(ref.digest).algorithm : 'sha256';
    const digest = digestOf(body, algorithm);
    if (ref.kind === 'digest' && ref.digest !== digest) {
      throw new RegistryError('DIGEST_INVALID', 'manifest body does not match the digest in the URL', { expected: ref.digest, actual: digest });
    }
    // The bytes are stored (or found stored) and committed under one hold: garbage collection cannot take them in between.
    await this.gate.holding([digest], async () => {
      await this.blobs.put(body, digest, body.length);
      await this.writer.putManifest(actor, { ...manifestFields(repository, digest, body, parsed), ...(ref.kind === 'tag' ? { tag: ref.tag } : {}) }, request);
    });
    this.cache.set(digest, body);
    return { digest, subject: parsed.subject?.digest ?? null };
  }

  /** Deletes a tag (reference is a tag) or a manifest and its tags (reference is a digest). Throws MANIFEST_UNKNOWN. */
  async delete(repository: string, reference: string, actor: string | null, request?: WriteRequest): Promise<void> {
    const ref = this.parseReadReference(reference);
    const deleted = ref.kind === 'tag'
      ? await this.writer.deleteTag(actor, repository, ref.tag, request)
      : await this.writer.deleteManifest(actor, repository, ref.digest, request);
    if (!deleted) throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown', { repository, reference });
  }

  /** Referrers of `subject` as the descriptors of an OCI image index. */
  async referrers(repository: string, subject: string, artifactType: string | undefined): Promise<ManifestRecord[]> {
    parseDigest(subject);
    return this.metadata.listReferrers(repository, subject, artifactType);
  }

  /** A bad tag on a read can't name anything stored: that is MANIFEST_UNKNOWN, not MANIFEST_INVALID. */
  private parseReadReference(reference: string): Reference {
    try {
      return parseReference(reference);
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'MANIFEST_INVALID') {
        throw new RegistryError('MANIFEST_UNKNOWN', 'manifest unknown', { reference: reference.slice(0, 200) });
      }
      throw err;
    }
  }
}

/** What the metadata store records of a validated manifest (the /v2 PUT and the sync agent both commit this). */
export function manifestFields(repository: string, digest: string, body: Buffer, parsed: ParsedManifest): PutManifestInput {
  return {
    repository,
    digest,
    mediaType: parsed.mediaType,
    size: body.length,
    artifactType: parsed.artifactType,
    subject: parsed.subject?.digest ?? null,
    annotations: parsed.annotations,
    blobs: [...new Set(parsed.blobs.map((d) => d.digest))],
    manifests: [...new Set(parsed.manifests.map((d) => d.digest))],
    declaredSizes: declaredSizes(parsed),
  };
}

/**
 * Content negotiation. Returns true when a client with this `Accept` header can take `mediaType`.
 * No Accept header, `*\/*`, or an Accept listing no manifest type at all accepts anything.
 */
export function accepts(acceptHeader: string | undefined, mediaType: string): boolean {
  if (!acceptHeader) return true;
  const accepted = acceptHeader.split(',').map((part) => part.split(';')[0]!.trim().toLowerCase());
  if (accepted.includes('*/*') || accepted.includes(mediaType)) return true;
  return !accepted.some((type) => isManifestMediaType(type) || type.startsWith('application/vnd.docker.distribution.manifest.v1'));
}
