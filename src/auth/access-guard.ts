import type { FastifyRequest } from 'fastify';
import { RegistryError } from '../oci/index.js';
import type { Authenticator } from './authenticator.js';
import { authorize, type Identity } from './identity.js';
import type { JwtSigner } from './jwt-signer.js';
import { withBasicChallenge, withChallenge, type Challenge } from './challenge.js';

/**
 * What a /v2 request wants to do to a repository, for authorization (docs/architecture.md,
 * "Identity"). A manifest PUT is `push-manifest`: besides content it can move a tag, which is
 * repository metadata. The registry parses requests into these (registry/route.ts).
 */
export type RepositoryAction = 'pull' | 'push' | 'push-manifest' | 'delete' | 'list';

/** The actions that change a repository (a connected node's write rule refuses them outside its mode and scope). */
export const WRITE_ACTIONS: ReadonlySet<RepositoryAction> = new Set(['push', 'push-manifest', 'delete']);

/**
 * What an authorized /v2 caller may do beyond the request's own action: the registry asks it
 * about other repositories (a mount's source, catalog entries). It answers for the identity
 * that made the request; a Bearer JWT's identity holds only the scopes the JWT granted.
 */
export interface RepositoryAccess {
  /** A stable key of the caller (`<kind>:<name>`), for per-caller limits such as open upload sessions. */
  readonly caller: string;
  /** May the catalog list this repository (content/read and metadata/read)? */
  canList(repository: string): boolean;
  /** May the caller read (pull) this repository's content (content/read)? */
  canRead(repository: string): boolean;
}

export type Credentials = { type: 'basic'; username: string; password: string } | { type: 'bearer'; token: string };

/** Parses an Authorization header (Basic or Bearer); null when absent or of another scheme. */
export function parseAuthorization(header: string | undefined): Credentials | null {
  if (!header) return null;
  const space = header.indexOf(' ');
  if (space === -1) return null;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer' && value !== '') return { type: 'bearer', token: value };
  if (scheme !== 'basic') return null;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return null;
  return { type: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** `<scheme>://<host>` of a request as the client addressed it. */
export function requestOrigin(request: FastifyRequest): { origin: string; host: string } {
  const host = request.headers.host ?? 'localhost';
  return { origin: `${request.protocol}://${host}`, host };
}

/**
 * Authenticates a request (Basic, Bearer JWT of this node, or anonymous) and decides what it may
 * do on /v2 (docs/architecture.md, "Identity") and on the management API (the admin's Basic
 * credentials only).
 */
export class AccessGuard {
  /** Who each request in progress was identified as (the audit log asks once it is answered); gone with the request. */
  private readonly identified = new WeakMap<object, Identity>();

  constructor(
    private readonly authenticator: Authenticator,
    private readonly signer: JwtSigner,
  ) {}

  /** The caller's identity; null without credentials (and no anonymous access). Throws UNAUTHORIZED for bad credentials. */
  async identify(request: FastifyRequest): Promise<Identity | null> {
    const identity = await this.identifyNow(request);
    if (identity !== null) this.identified.set(request.raw, identity);
    return identity;
  }

  /** Who `request` was identified as by `identify`; undefined when it was not (or failed). */
  identityOf(request: FastifyRequest): Identity | undefined {
    return this.identified.get(request.raw);
  }

  private async identifyNow(request: FastifyRequest): Promise<Identity | null> {
    const credentials = parseAuthorization(request.headers.authorization);
    if (credentials === null) return this.authenticator.anonymous();
    if (credentials.type === 'basic') return this.authenticator.basic(credentials.username, credentials.password, request.ip);
    const claims = await this.signer.verify(credentials.token);
    if (!claims || claims.use !== 'access') throw new RegistryError('UNAUTHORIZED', 'invalid or expired token');
    // Checks on every request that the credential the JWT was obtained with still stands.
    return this.authenticator.fromClaims(claims);
  }

  /**
   * The /v2 authorization seam. 401 (with the Bearer challenge) without valid credentials,
   * 403 DENIED when the identity may not do the action. Returns what the identity may do
   * elsewhere (list, read), for the catalog and for cross-repository mounts.
   */
  readonly authorizeV2 = async (request: FastifyRequest, repository: string | null, action: RepositoryAction | null): Promise<RepositoryAccess> => {
    const isCatalog = repository === null && /^\/v2\/_catalog(?:\?|$)/.test(request.url);
    const scope = repository !== null && action !== null ? repositoryScope(repository, action) : isCatalog ? 'registry:catalog:*' : null;
    const challenge = bearerChallenge(request, scope);
    let identity: Identity | null;
    try {
      identity = await this.identify(request);
    } catch (err) {
      throw withChallenge(err, challenge);
    }
    // The ping (/v2/) answers 401 to anonymous callers even with anonymous pull, so clients find the token endpoint.
    if (identity === null || (identity.kind === 'anonymous' && repository === null && !isCatalog)) {
      throw withChallenge(new RegistryError('UNAUTHORIZED', 'authentication required'), challenge);
    }
    const who = identity;
    if (repository !== null && action !== null) {
      const missing = requiredPermissions(action).filter((p) => !authorize(who, p, repository));
      if (missing.length > 0) {
        if (who.kind === 'anonymous') throw withChallenge(new RegistryError('UNAUTHORIZED', 'authentication required'), challenge);
        throw new RegistryError('DENIED', 'requested access to the resource is denied', { repository, action, missing });
      }
    } else if (isCatalog && !who.mayListCatalog) {
      throw new RegistryError('DENIED', 'requested access to the resource is denied', { scope: 'registry:catalog:*' });
    }
    return {
      caller: `${who.kind}:${who.name}`,
      canList: (name) => who.canList(name),
      canRead: (name) => authorize(who, 'content/read', name),
    };
  };

  /**
   * Management API: the admin's Basic credentials only. 401 without valid credentials, 403 for
   * anyone else — a Bearer JWT included, even the admin's: a JWT carries registry scopes only.
   */
  async requireAdmin(request: FastifyRequest): Promise<Identity> {
    const identity = await this.identify(request).catch((err: unknown) => {
      throw withBasicChallenge(err);
    });
    if (identity === null || identity.kind === 'anonymous') throw withBasicChallenge(new RegistryError('UNAUTHORIZED', 'authentication required'));
    if (identity.kind === 'bearer') throw new RegistryError('DENIED', "the management API takes the admin's Basic credentials, not a Bearer token");
    if (!identity.isAdmin) throw new RegistryError('DENIED', 'the management API is for the admin only');
    return identity;
  }
}

/** The scope-map permissions a /v2 action needs (docs/architecture.md, "Identity"). */
function requiredPermissions(action: RepositoryAction): string[] {
  switch (action) {
    case 'pull':
      return ['content/read'];
    case 'list':
      return ['content/read', 'metadata/read'];
    case 'delete':
      return ['content/delete'];
    case 'push':
      return ['content/write'];
    case 'push-manifest':
      // A manifest PUT can move a tag, which is metadata; blob uploads are content only.
      return ['content/write', 'metadata/write'];
  }
}

function repositoryScope(repository: string, action: RepositoryAction): string {
  const actions = action === 'push' || action === 'push-manifest' ? 'pull,push' : action === 'delete' ? 'delete' : 'pull';
  return `repository:${repository}:${actions}`;
}

/** The Docker token challenge of a /v2 request: the token endpoint at the address the client used, and the scope it needs. */
function bearerChallenge(request: FastifyRequest, scope: string | null): Challenge {
  const { origin, host } = requestOrigin(request);
  return { scheme: 'Bearer', realm: `${origin}/oauth2/token`, service: host, scope };
}
