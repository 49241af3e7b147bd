import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { BlobStore, UploadStore } from '../storage/types.js';
import type { BlobGate } from '../storage/blob-gate.js';
import type { MetadataStore } from '../metadata/types.js';
import type { RepositoryAccess, RepositoryAction } from '../auth/index.js';
import type { ManifestService } from './manifest-service.js';
import type { RegistryWriter } from './registry-writer.js';
import type { BlobSender } from './blob-sender.js';
import type { V2Route, V2RouteKind } from './route.js';

/** Everything the /v2 handlers need, built once by the composition root. */
export interface RegistryDeps {
  blobs: BlobStore;
  uploads: UploadStore;
  /** Held by an upload, a mount and a manifest push from before they store or find the bytes until the link commits (garbage collection). */
  gate: BlobGate;
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
  /**
   * The node's own rule about writes, asked after `authorize` for every request whose action
   * changes a repository (push, push-manifest, delete): a connected node takes writes only in its
   * mode and sync scope. Absent: every authorized write is taken.
   */
  writeRule?: WriteRule;
}

/** A node's rule about which repositories take writes now (sync/edge-policy.ts implements it on a connected node). */
export interface WriteRule {
  /** Throws a RegistryError (DENIED) when `repository` takes no write here now. */
  checkWrite(repository: string, action: RepositoryAction): void;
}

/** One parsed /v2 request. */
export interface V2Context<R extends { kind: V2RouteKind } = V2Route> {
  request: FastifyRequest;
  reply: FastifyReply;
  route: R;
  query: URLSearchParams;
  deps: RegistryDeps;
  /** What the caller may do in other repositories (catalog filtering, mount sources). */
  access: RepositoryAccess;
}

/** A handler of one kind of route. */
export type V2Handler<R extends { kind: V2RouteKind }> = (ctx: V2Context<R>) => Promise<void>;
