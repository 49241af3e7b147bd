import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError, isValidRepositoryName } from '../oci/index.js';
import type { Authenticated, Authenticator } from './authenticator.js';
import type { Identity } from './identity.js';
import type { AccessEntry, JwtSigner } from './jwt-signer.js';
import { parseAuthorization, requestOrigin } from './access-guard.js';
import { BASIC_CHALLENGE, UnauthorizedError } from './challenge.js';

export interface TokenRoutesOptions {
  authenticator: Authenticator;
  signer: JwtSigner;
  /** Lifetime of access tokens (default 300 s). */
  accessTtlSeconds?: number;
  /** Lifetime of refresh tokens (default 24 h). */
  refreshTtlSeconds?: number;
}

const PATHS = ['/oauth2/token', '/acr/oauth2/token'];
const DOCKER_ACTIONS = ['pull', 'push', 'delete'];

/**
 * The token endpoint (Docker token spec and the OAuth2 form flow containerd and docker use), at
 * `/oauth2/token` and `/acr/oauth2/token`:
 * - GET with Basic (or nothing, for anonymous pull), `service` and `scope` →
 *   `{token, access_token, expires_in, issued_at}` (+ `refresh_token` with `offline_token=true`);
 * - POST form `grant_type=password` (username, password) or `grant_type=refresh_token` →
 *   `{access_token, refresh_token, expires_in, issued_at, scope}`.
 * The JWT grants the intersection of the requested scopes and what the identity may do. Access
 * and refresh tokens carry the fingerprint of the credential they were obtained with (a refresh
 * hands it on), so they die with it (Authenticator). Errors are OCI errors thrown to the app's
 * error handler.
 */
export async function registerTokenRoutes(app: FastifyInstance, options: TokenRoutesOptions): Promise<void> {
  const accessTtl = options.accessTtlSeconds ?? 300;
  const refreshTtl = options.refreshTtlSeconds ?? 24 * 60 * 60;
  const { authenticator, signer } = options;

  async function issue(reply: FastifyReply, caller: Authenticated, scopes: string[], service: string, refresh: string | null | 'new', extra: 'get' | 'post'): Promise<void> {
    const { identity, credential } = caller;
    const access = grant(identity, scopes);
    const signed = await signer.sign({ sub: identity.name, kind: identity.kind, access, use: 'access', audience: service, ttlSeconds: accessTtl, credential });
    let refreshToken: string | null = refresh === 'new' ? null : refresh;
    if (refresh === 'new' && identity.kind !== 'anonymous') {
      refreshToken = (await signer.sign({ sub: identity.name, kind: identity.kind, access: [], use: 'refresh', audience: service, ttlSeconds: refreshTtl, credential })).token;
    }
    const body: Record<string, unknown> = {
      access_token: signed.token,
      expires_in: signed.expiresIn,
      issued_at: signed.issuedAt.toISOString(),
    };
    if (extra === 'get') body.token = signed.token;
    else body.scope = access.map(scopeString).join(' ');
    if (refreshToken) body.refresh_token = refreshToken;
    await reply.code(200).header('Cache-Control', 'no-store').send(body);
  }

  const anonymousCaller = (): Authenticated | null => {
    const identity = authenticator.anonymous();
    return identity ? { identity, credential: null } : null;
  };

  await app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, new URLSearchParams(typeof body === 'string' ? body : body.toString('utf8')));
    });

    const get = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const query = new URLSearchParams(request.url.includes('?') ? request.url.slice(request.url.indexOf('?') + 1) : '');
      const credentials = parseAuthorization(request.headers.authorization);
      let caller: Authenticated | null;
      if (credentials?.type === 'basic') caller = await authenticator.authenticate(credentials.username, credentials.password, request.ip);
      else caller = anonymousCaller();
      if (!caller) throw new UnauthorizedError('authentication required', null, BASIC_CHALLENGE);
      const service = query.get('service') ?? requestOrigin(request).host;
      const scopes = query.getAll('scope').flatMap((s) => s.split(' ')).filter((s) => s !== '');
      await issue(reply, caller, scopes, service, query.get('offline_token') === 'true' ? 'new' : null, 'get');
    };

    const post = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      const form = request.body instanceof URLSearchParams ? request.body : null;
      if (!form) throw new RegistryError('REQUEST_INVALID', 'the body must be application/x-www-form-urlencoded');
      const service = form.get('service') ?? requestOrigin(request).host;
      const scopes = (form.get('scope') ?? '').split(' ').filter((s) => s !== '');
      const grantType = form.get('grant_type');
      if (grantType === 'password') {
        const username = form.get('username');
        const password = form.get('password');
        if (!username || password === null) throw new RegistryError('REQUEST_INVALID', 'username and password are required for grant_type=password');
        await issue(reply, await authenticator.authenticate(username, password, request.ip), scopes, service, 'new', 'post');
      } else if (grantType === 'refresh_token') {
        const refreshToken = form.get('refresh_token');
        const claims = refreshToken ? await signer.verify(refreshToken) : null;
        if (!claims || claims.use !== 'refresh') throw new RegistryError('UNAUTHORIZED', 'invalid or expired refresh token');
        // Checked against the live credential on every use: a rotated, removed, expired or disabled one refuses.
        await issue(reply, await authenticator.current(claims), scopes, service, refreshToken, 'post');
      } else {
        throw new RegistryError('REQUEST_INVALID', `unsupported grant_type: ${String(grantType)} (password or refresh_token)`);
      }
    };

    for (const path of PATHS) {
      scope.get(path, get);
      scope.post(path, post);
    }
  });
}

/** The intersection of requested scopes and what the identity may do, as a Docker `access` claim. */
export function grant(identity: Identity, scopes: readonly string[]): AccessEntry[] {
  const entries = new Map<string, AccessEntry>();
  for (const scope of scopes) {
    const first = scope.indexOf(':');
    const last = scope.lastIndexOf(':');
    if (first === -1 || last === first) continue;
    const type = scope.slice(0, first);
    const name = scope.slice(first + 1, last);
    const requested = scope.slice(last + 1).split(',').flatMap((a) => (a === '*' ? DOCKER_ACTIONS : [a]));
    if (type === 'repository' && isValidRepositoryName(name)) {
      const entry = entries.get(`repository:${name}`) ?? { type: 'repository', name, actions: [], metadata: [] };
      const add = (list: string[], value: string): void => {
        if (!list.includes(value)) list.push(value);
      };
      for (const action of requested) {
        const permission = { pull: 'content/read', push: 'content/write', delete: 'content/delete' }[action];
        if (!permission || !identity.can('repositories', permission, name)) continue;
        add(entry.actions, action);
        if (action === 'pull' && identity.can('repositories', 'metadata/read', name)) add(entry.metadata!, 'read');
        if (action === 'push' && identity.can('repositories', 'metadata/write', name)) add(entry.metadata!, 'write');
      }
      entries.set(`repository:${name}`, entry);
    } else if (type === 'registry' && name === 'catalog' && requested.length > 0) {
      const grants = identity.catalogActions();
      if (identity.mayListCatalog && (identity.isAdmin || grants.length > 0)) {
        entries.set('registry:catalog', { type: 'registry', name: 'catalog', actions: ['*'], grants });
      }
    }
  }
  return [...entries.values()].filter((e) => e.actions.length > 0);
}

function scopeString(entry: AccessEntry): string {
  return `${entry.type}:${entry.name}:${entry.actions.join(',')}`;
}
