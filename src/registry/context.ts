import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { BlobStore, UploadStore } from '../storage/types.js';
import type { MetadataStore } from '../metadata/types.js';
import type { ManifestService } from './manifest-service.js';
import type { RegistryWriter } from './registry-writer.js';
import type { BlobSender } from './blob-sender.js';
import type { RepositoryAction, V2Route } from './route.js';

/** Everything the /v2 handlers need, built once by the composition root. */
export interface RegistryDeps {
  blobs: BlobStore;
  uploads: UploadStore;
  /** Reads; every write goes through `writer`. */
  metadata: MetadataStore;
  manifests: ManifestService;
  /** The write pipeline: commits with the caller as actor and publishes the events. */
  writer: RegistryWriter;
  /** Streams blob downloads with reused buffers (created once per node). */
  blobSender: BlobSender;
  logger: Logger;
  /**
   * Runs once before every /v2 route (the authorization seam, docs/architecture.md "Identity"). Throws a
   * RegistryError (UNAUTHORIZED, DENIED) to refuse. `repository` and `action` are null for `/v2/`
   * and the catalog. Returns what the caller may do in other repositories.
   */
  authorize?: (request: FastifyRequest, repository: string | null, action: RepositoryAction | null) => Promise<RepositoryAccess>;
}

/**
 * What the authorized caller may do beyond the request's own action, answered for the identity
 * that made the request (a Bearer JWT holds only its granted scopes).
 */
export interface RepositoryAccess {
  /** A stable key of the caller, for per-caller limits (open upload sessions). */
  readonly caller: string;
  /** May the catalog list this repository? */
  canList(repository: string): boolean;
  /** May the caller read (pull) this repository's content? A mount takes blobs only from such repositories. */
  canRead(repository: string): boolean;
}

/** One parsed /v2 request. */
export interface V2Context<R extends V2Route = V2Route> {
  request: FastifyRequest;
  reply: FastifyReply;
  route: R;
  query: URLSearchParams;
  deps: RegistryDeps;
  /** What the caller may do in other repositories (catalog filtering, mount sources). */
  access: RepositoryAccess;
}

export type V2Handler<R extends V2Route> = (ctx: V2Context<R>) => Promise<void>;
