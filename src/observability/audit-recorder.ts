import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseAuthorization, type AccessGuard } from '../auth/index.js';
import { REPOSITORY_EVENT_TYPES, SYNC_EVENT_TYPES, type EventBus, type RepositoryEvent } from '../core/events.js';
import { routeLabel } from './route-label.js';
import type { AuditEntry, AuditLog } from './audit-log.js';

/** The token endpoint's paths (auth/token-routes.ts). */
const TOKEN_PATHS: ReadonlySet<string> = new Set(['/oauth2/token', '/acr/oauth2/token']);
const MANAGEMENT_PREFIX = '/mgmt/v1/';

/** Who syncs, for the sync lines: the sync token's name and the parent's endpoint (never its password). */
export interface SyncIdentity {
  tokenName: string;
  parentEndpoint: string;
}

/**
 * Feeds the audit log (docs/observability.md, "Audit log") from two seams and nothing else:
 *
 * - one fastify `onResponse` hook, which sees every request once it is answered: a sign-in that
 *   presented credentials and was refused (401, or 429 from the login throttle) on /v2, the token
 *   endpoint, the gateway or the management API; a client write or delete on /v2 (manifest push,
 *   tag and manifest delete, blob upload, mount and delete; an upload that failed or was refused
 *   on its way); a management change (`/mgmt/v1`, any method but GET). Who comes from the access
 *   guard, which remembers whom it identified; the result from the status;
 * - the bus, for the sync agent's actions: the changes it applied (repository events of origin
 *   `sync`), its pushes up, parked items and reconciles.
 *
 * A line holds names, addresses, references and digests only: never a header, a body or a query
 * string, so no password, token or connection string can reach it.
 */
export class AuditRecorder {
  constructor(
    private readonly audit: AuditLog,
    private readonly guard: AccessGuard,
  ) {}

  attachHttp(app: FastifyInstance): void {
    app.addHook('onResponse', (request, reply, done) => {
      if (this.audit.enabled) {
        const entry = this.entryOf(request, reply);
        if (entry !== null) this.audit.record(entry);
      }
      done();
    });
  }

  observeSync(events: EventBus, who: SyncIdentity): void {
    const base = { identity: who.tokenName, address: who.parentEndpoint };
    events.subscribe(REPOSITORY_EVENT_TYPES, (event) => {
      if (event.origin !== 'sync' || !this.audit.enabled) return;
      this.audit.record({ ...base, ...appliedChange(event), result: 'applied' });
    });
    events.subscribe(SYNC_EVENT_TYPES, (event) => {
      if (!this.audit.enabled) return;
      switch (event.type) {
        case 'sync-push-finished':
          this.audit.record({ ...base, action: `sync.push.${event.change}`, repository: event.repository, reference: event.tag, digest: event.digest, result: event.result });
          break;
        case 'sync-item-parked':
          this.audit.record({ ...base, action: 'sync.apply.manifest', repository: event.repository, reference: event.tag, digest: event.digest, result: 'parked' });
          break;
        case 'sync-reconcile-finished':
          this.audit.record({ ...base, action: 'sync.reconcile', result: event.result });
          break;
        case 'sync-session-failed':
          // A link failure is not an action: metrics count it, the log says it.
          break;
      }
    });
  }

  private entryOf(request: FastifyRequest, reply: FastifyReply): AuditEntry | null {
    const status = reply.statusCode;
    const route = routeLabel(request);
    const path = pathOf(request.url);
    const address = request.ip;
    // Refused before an identity was established: a 429 then is the login throttle's (one after it,
    // such as too many upload sessions, is not about signing in).
    if ((status === 401 || status === 429) && this.guard.identityOf(request) === undefined) {
      const attempt = signInAttempt(request, path);
      if (attempt !== null) {
        return { action: 'authentication.failed', identity: attempt.name, address, resource: `${surfaceOf(route, path)}:${attempt.scheme}`, result: resultOf(status), status };
      }
    }
    const identity = this.identityName(request);
    if (route.startsWith('v2:')) {
      const write = v2Write(route.slice(3), request.method, path, request.url, status, reply);
      return write === null ? null : { ...write, identity, address, result: resultOf(status), status };
    }
    if (path.startsWith(MANAGEMENT_PREFIX) && request.method !== 'GET' && request.method !== 'HEAD') {
      return { action: `management.${request.method.toLowerCase()}`, identity, address, resource: safePath(path.slice(MANAGEMENT_PREFIX.length)), result: resultOf(status), status };
    }
    return null;
  }

  private identityName(request: FastifyRequest): string | null {
    const identity = this.guard.identityOf(request);
    if (identity) return identity.kind === 'anonymous' ? 'anonymous' : identity.name;
    // Refused before (or without) an identity: the name it tried, never more.
    const credentials = parseAuthorization(request.headers.authorization);
    return credentials?.type === 'basic' ? credentials.username : null;
  }
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** A path as written to a line: decoded where it can be, bounded. */
function safePath(path: string): string {
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // kept as sent
  }
  return decoded.slice(0, 300);
}

/** The credentials a refused request presented (their kind and the name they named), or null when it presented none. */
function signInAttempt(request: FastifyRequest, path: string): { scheme: string; name: string | null } | null {
  const credentials = parseAuthorization(request.headers.authorization);
  if (credentials?.type === 'basic') return { scheme: 'basic', name: credentials.username };
  if (credentials?.type === 'bearer') return { scheme: 'bearer', name: null };
  if (request.method === 'POST' && TOKEN_PATHS.has(path) && request.body instanceof URLSearchParams) {
    const grant = request.body.get('grant_type');
    if (grant === 'password') return { scheme: 'password', name: request.body.get('username') };
    if (grant === 'refresh_token') return { scheme: 'refresh-token', name: null };
  }
  return null;
}

function surfaceOf(route: string, path: string): string {
  if (route.startsWith('v2:')) return 'v2';
  if (TOKEN_PATHS.has(path)) return 'token';
  if (path.startsWith('/gateway/')) return 'gateway';
  if (path.startsWith(MANAGEMENT_PREFIX)) return 'management';
  return 'other';
}

function resultOf(status: number): string {
  if (status < 400) return 'success';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'denied';
  if (status === 404) return 'not-found';
  if (status === 429) return 'throttled';
  return status >= 500 ? 'error' : 'refused';
}

const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * The audit fields of a /v2 request that writes (or tried to): null for reads and for the steps
 * of an upload that went well (its session start and chunks; the PUT that completes it is the
 * write). The repository and reference come from the path, digests from the query or the answer.
 */
function v2Write(
  kind: string, method: string, path: string, url: string, status: number, reply: FastifyReply,
): Pick<AuditEntry, 'action' | 'repository' | 'reference' | 'digest' | 'resource'> | null {
  if (method === 'GET' || method === 'HEAD') return null;
  const failed = status >= 400;
  const rest = safePath(path.slice('/v2/'.length));
  const query = new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');
  const answered = reply.getHeader('docker-content-digest');
  const answeredDigest = typeof answered === 'string' ? answered : null;
  switch (kind) {
    case 'manifest': {
      const at = rest.lastIndexOf('/manifests/');
      const repository = rest.slice(0, at);
      const reference = rest.slice(at + '/manifests/'.length);
      const byDigest = DIGEST.test(reference);
      if (method === 'PUT') return { action: 'v2.manifest.push', repository, reference, digest: answeredDigest ?? (byDigest ? reference : null) };
      if (method === 'DELETE') return { action: byDigest ? 'v2.manifest.delete' : 'v2.tag.delete', repository, reference, digest: byDigest ? reference : null };
      return null;
    }
    case 'blob': {
      const at = rest.lastIndexOf('/blobs/');
      return method === 'DELETE' ? { action: 'v2.blob.delete', repository: rest.slice(0, at), digest: rest.slice(at + '/blobs/'.length) } : null;
    }
    case 'upload-start': {
      const repository = rest.slice(0, rest.lastIndexOf('/blobs/uploads'));
      const mount = query.get('mount');
      // 202 to a mount: the source was not mountable and an upload session started instead (no write yet).
      if (mount !== null && (status !== 202 || failed)) return { action: 'v2.blob.mount', repository, digest: mount, resource: query.get('from') };
      if (query.get('digest') !== null && mount === null) return { action: 'v2.blob.upload', repository, digest: query.get('digest') };
      return failed ? { action: 'v2.blob.upload', repository } : null;
    }
    case 'upload': {
      const repository = rest.slice(0, rest.lastIndexOf('/blobs/uploads/'));
      if (method === 'PUT') return { action: 'v2.blob.upload', repository, digest: query.get('digest') };
      return failed && method === 'PATCH' ? { action: 'v2.blob.upload', repository } : null;
    }
    default:
      return null;
  }
}

/** The audit fields of a change the sync agent applied from the parent. */
function appliedChange(event: RepositoryEvent): Pick<AuditEntry, 'action' | 'repository' | 'reference' | 'digest'> {
  const repository = event.repository;
  switch (event.type) {
    case 'manifest-pushed':
      return { action: 'sync.apply.manifest', repository, digest: event.digest };
    case 'tag-set':
      return { action: 'sync.apply.tag', repository, reference: event.tag, digest: event.digest };
    case 'tag-deleted':
      return { action: 'sync.apply.tag-delete', repository, reference: event.tag };
    case 'manifest-deleted':
      return { action: 'sync.apply.manifest-delete', repository, digest: event.digest };
    case 'repository-deleted':
      return { action: 'sync.apply.repository-delete', repository };
    case 'blob-linked':
      return { action: 'sync.apply.blob-link', repository, digest: event.digest };
    case 'blob-deleted':
      return { action: 'sync.apply.blob-delete', repository, digest: event.digest };
  }
}
