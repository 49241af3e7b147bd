import { ManagementError } from './management-error.js';

/** A scope map as the management API answers it (the shape `az acr scope-map show` prints). */
export interface ScopeMap {
  name: string;
  description: string;
  actions: string[];
  type: 'UserDefined' | 'SystemDefined';
  creationDate: string;
  id: string;
}

export type PasswordName = 'password1' | 'password2';
export type TokenStatus = 'enabled' | 'disabled';

/** One of a token's passwords. `value` is only present in the answer that created it. */
export interface TokenPassword {
  name: PasswordName;
  creationTime?: string;
  expiry: string | null;
  value?: string;
}

/** A token as the management API answers it (the shape `az acr token show` prints). */
export interface Token {
  name: string;
  status: TokenStatus;
  scopeMapId: string | null;
  creationDate: string;
  id: string;
  credentials: { passwords: TokenPassword[] };
}

export interface RepositoryInfo {
  name: string;
  tagCount: number;
  manifestCount: number;
  createdTime: string;
  lastUpdateTime: string;
}

export interface TagInfo {
  name: string;
  digest: string;
  createdTime: string;
  lastUpdateTime: string;
}

export interface RepositoryDeleted {
  manifestsDeleted: string[];
  tagsDeleted: string[];
}

export interface CreateScopeMapRequest {
  name: string;
  description?: string;
  actions: string[];
}

export interface UpdateScopeMapRequest {
  description?: string;
  addActions?: string[];
  removeActions?: string[];
}

export interface CreateTokenRequest {
  name: string;
  scopeMap?: string;
  actions?: string[];
  status?: TokenStatus;
  noPasswords?: boolean;
  expiry?: string | null;
}

export interface UpdateTokenRequest {
  status?: TokenStatus;
  scopeMap?: string | null;
}

export interface ManagementClientOptions {
  /** Base URL of the root node, e.g. `https://registry.example:8080` (no `/mgmt/v1`). */
  registry: string;
  username?: string;
  password?: string;
  /** Per-request time limit in milliseconds (default 60 s). */
  timeoutMs?: number;
}

const PREFIX = '/mgmt/v1';

/**
 * The client of a root node's management API (`docs/management-api.md`). Every method resolves
 * with the parsed answer, or rejects with a `ManagementError` carrying the OCI error's code and
 * message (or `CONNECTION_FAILED`, `TIMEOUT`, `BAD_RESPONSE` when no usable answer arrived).
 */
export class ManagementClient {
  readonly registry: string;
  readonly #authorization: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: ManagementClientOptions) {
    this.registry = options.registry.replace(/\/+$/, '');
    this.#authorization =
      options.username !== undefined && options.password !== undefined
        ? `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`
        : undefined;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  // Scope maps.
  listScopeMaps(): Promise<ScopeMap[]> {
    return this.#json('GET', '/scope-maps');
  }
  showScopeMap(name: string): Promise<ScopeMap> {
    return this.#json('GET', `/scope-maps/${enc(name)}`);
  }
  createScopeMap(request: CreateScopeMapRequest): Promise<ScopeMap> {
    return this.#json('POST', '/scope-maps', request);
  }
  updateScopeMap(name: string, request: UpdateScopeMapRequest): Promise<ScopeMap> {
    return this.#json('PATCH', `/scope-maps/${enc(name)}`, request);
  }
  replaceScopeMap(name: string, request: { description?: string; actions: string[] }): Promise<ScopeMap> {
    return this.#json('PUT', `/scope-maps/${enc(name)}`, request);
  }
  async deleteScopeMap(name: string): Promise<void> {
    await this.#request('DELETE', `/scope-maps/${enc(name)}`);
  }

  // Tokens.
  listTokens(): Promise<Token[]> {
    return this.#json('GET', '/tokens');
  }
  showToken(name: string): Promise<Token> {
    return this.#json('GET', `/tokens/${enc(name)}`);
  }
  createToken(request: CreateTokenRequest): Promise<Token> {
    return this.#json('POST', '/tokens', request);
  }
  updateToken(name: string, request: UpdateTokenRequest): Promise<Token> {
    return this.#json('PATCH', `/tokens/${enc(name)}`, request);
  }
  async deleteToken(name: string): Promise<void> {
    await this.#request('DELETE', `/tokens/${enc(name)}`);
  }
  generateCredential(name: string, passwordName: PasswordName, expiry?: string | null): Promise<Token> {
    const body = expiry === undefined ? { passwordName } : { passwordName, expiry };
    return this.#json('POST', `/tokens/${enc(name)}/credentials/generate`, body);
  }
  deleteCredential(name: string, passwordName: PasswordName): Promise<Token> {
    return this.#json('POST', `/tokens/${enc(name)}/credentials/delete`, { passwordName });
  }

  // Repositories.
  listRepositories(): Promise<string[]> {
    return this.#json('GET', '/repositories');
  }
  showRepository(name: string): Promise<RepositoryInfo> {
    return this.#json('GET', `/repositories/${enc(name)}`);
  }
  listTags(repository: string): Promise<TagInfo[]> {
    return this.#json('GET', `/repositories/${enc(repository)}/tags`);
  }
  deleteRepository(name: string): Promise<RepositoryDeleted> {
    return this.#json('DELETE', `/repositories/${enc(name)}`);
  }
  async untag(repository: string, tag: string): Promise<void> {
    await this.#request('DELETE', `/repositories/${enc(repository)}/tags/${enc(tag)}`);
  }
  async deleteManifest(repository: string, digest: string): Promise<void> {
    await this.#request('DELETE', `/repositories/${enc(repository)}/manifests/${enc(digest)}`);
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.#request(method, path, body);
    const text = await response.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ManagementError('BAD_RESPONSE', response.status, `the registry at ${this.registry} answered ${method} ${PREFIX}${path} with something other than JSON`);
    }
  }

  /** Sends one request; resolves with a 2xx response, rejects with a `ManagementError` otherwise. */
  async #request(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#authorization) headers.authorization = this.#authorization;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.registry}${PREFIX}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      throw this.#networkError(err);
    }
    if (response.ok) return response;
    throw await errorFromResponse(response, this.registry);
  }

  #networkError(err: unknown): ManagementError {
    const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      return new ManagementError('TIMEOUT', 0, `the registry at ${this.registry} did not answer within ${Math.round(this.#timeoutMs / 1000)} s`);
    }
    const cause = e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
    const why = cause === 'ECONNREFUSED' ? 'connection refused' : cause === 'ENOTFOUND' ? 'host not found' : cause;
    return new ManagementError('CONNECTION_FAILED', 0, `cannot reach the registry at ${this.registry}: ${why}`);
  }
}

function enc(segment: string): string {
  return encodeURIComponent(segment);
}

/** Turns a non-2xx answer into a `ManagementError`, from its OCI error JSON when it has one. */
export async function errorFromResponse(response: Response, registry: string): Promise<ManagementError> {
  const text = await response.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown; detail?: unknown }> };
    const first = parsed.errors?.[0];
    if (first && typeof first.code === 'string') {
      const message = typeof first.message === 'string' && first.message !== '' ? first.message : first.code;
      return new ManagementError(first.code, response.status, message, first.detail ?? null);
    }
  } catch {
    // not OCI error JSON: fall through
  }
  const code = response.status === 401 ? 'UNAUTHORIZED' : response.status === 403 ? 'DENIED' : response.status === 404 ? 'NOT_FOUND' : 'BAD_RESPONSE';
  const reason = response.statusText ? ` ${response.statusText}` : '';
  return new ManagementError(code, response.status, `the registry at ${registry} answered ${response.status}${reason}`);
}
