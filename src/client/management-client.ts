import type { GcReport } from '../core/gc-report.js';
import { ManagementError } from './management-error.js';
import type { CreateWebhookRequest, UpdateWebhookRequest, Webhook, WebhookEvent, WebhookPing } from './webhook-types.js';

export type { GcReport } from '../core/gc-report.js';

/** How long `collectGarbage` waits for its answer at least (the run's end); fetch's own header timeout is 5 minutes too. */
const GC_TIMEOUT_MS = 5 * 60 * 1000;

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
  /** Bytes of its linked blobs and manifests, each digest once. */
  sizeBytes: number;
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

export type ConnectedRegistryMode = 'ReadOnly' | 'ReadWrite';
export type ConnectionState = 'Online' | 'Offline' | 'Syncing' | 'Unhealthy';
export type ConnectedRegistryLogLevel = 'Debug' | 'Information' | 'Warning' | 'Error' | 'None';
export type AuditLogStatus = 'Enabled' | 'Disabled';

export interface GarbageCollection {
  enabled: boolean;
  schedule: string;
}

/**
 * A connected registry as the management API answers it (the fields `az acr connected-registry
 * show` prints, at top level). `version`, `connectionState`, `lastActivityTime`, `loginServer`,
 * `statusDetails` and `lastSyncTime` are what the edge reports (null/`Offline`/`[]` until it does).
 */
export interface ConnectedRegistry {
  id: string;
  name: string;
  type: string;
  provisioningState: string;
  mode: ConnectedRegistryMode;
  version: string | null;
  connectionState: ConnectionState;
  lastActivityTime: string | null;
  activation: { status: 'Active' | 'Inactive' };
  parent: {
    /** `connectedRegistries/<parent>`, or null when the parent is the root. */
    id: string | null;
    syncProperties: {
      /** `tokens/<sync token>`. */
      tokenId: string;
      schedule: string;
      syncWindow: string | null;
      messageTtl: string;
      lastSyncTime: string | null;
      gatewayEndpoint: string | null;
    };
  };
  /** `tokens/<name>` of each client token. */
  clientTokenIds: string[];
  loginServer: { host: string; tls?: { status: 'Enabled' | 'Disabled' } } | null;
  logging: { logLevel: ConnectedRegistryLogLevel; auditLogStatus: AuditLogStatus };
  /** Item details (SyncItemFailed, OutboxItemFailed, OutboxRejected) also name their repository, digest and tag. */
  statusDetails: Array<{ type: string; code: string; description: string; timestamp: string; correlationId: string; repository?: string; digest?: string; tag?: string }>;
  notificationsList: string[];
  garbageCollection: GarbageCollection;
  /** Outpost's own: each repository's lag at the edge's last heartbeat, and the last resync request. */
  syncStatus?: { repositories: Array<{ name: string; pendingChanges: number }>; resyncRequestedAt: string | null };
  /** Outpost's own: the storage the edge reported at its last heartbeat; null before one. */
  storage?: StorageUsage | null;
  /** Outpost's own: the last `gc` request, null when none. */
  garbageCollectionRequest?: { requestedAt: string; dryRun: boolean } | null;
  /** Outpost's own: the report of the edge's last garbage collection, as its heartbeat said; null before one. */
  lastGarbageCollection?: GcReport | null;
  creationDate: string;
}

/** What an edge stores and how full its filesystem is (the filesystem figures null where it cannot measure them). */
export interface StorageUsage {
  usedBytes: number;
  totalBytes: number | null;
  freeBytes: number | null;
  availableBytes: number | null;
  measuredAt: string;
}

/** One entry of `GET /usage` (the shape `az acr show-usage` prints); `limit` null when there is none. */
export interface RegistryUsage {
  name: string;
  currentValue: number;
  limit: number | null;
  unit: 'Bytes' | 'Count';
}

/** The retention policy for untagged manifests, as `az acr config retention show` prints it. */
export interface RetentionPolicy {
  days: number;
  lastUpdatedTime: string | null;
  status: 'enabled' | 'disabled';
}

/** `PATCH /config/retention`: at least one of `status` and `days` (0–365). */
export interface UpdateRetentionRequest {
  status?: 'enabled' | 'disabled';
  days?: number;
  type?: 'UntaggedManifests';
}

/** The root's audit log switch (`outpost config audit-log show`). */
export interface AuditLogState {
  status: 'enabled' | 'disabled';
  /** The file lines go to, or `-` for the node's standard output. */
  destination: string;
  lastUpdatedTime: string | null;
}

/** `POST /connected-registries`: exactly one of `repositories` and `syncToken`. */
export interface CreateConnectedRegistryRequest {
  name: string;
  mode?: ConnectedRegistryMode;
  parent?: string;
  repositories?: string[];
  syncToken?: string;
  clientTokens?: string[];
  syncSchedule?: string;
  syncWindow?: string;
  syncMessageTtl?: string;
  logLevel?: ConnectedRegistryLogLevel;
  auditLogStatus?: AuditLogStatus;
  notifications?: string[];
  garbageCollection?: Partial<GarbageCollection>;
}

/** `PATCH /connected-registries/<n>`: lists change with set semantics; `syncWindow: null` clears it. */
export interface UpdateConnectedRegistryRequest {
  addClientTokens?: string[];
  removeClientTokens?: string[];
  addNotifications?: string[];
  removeNotifications?: string[];
  syncSchedule?: string;
  syncWindow?: string | null;
  syncMessageTtl?: string;
  logLevel?: ConnectedRegistryLogLevel;
  auditLogStatus?: AuditLogStatus;
  garbageCollection?: Partial<GarbageCollection>;
}

/** Filters of `GET /connected-registries`. */
export interface ConnectedRegistryListFilter {
  /** All descendants of this connected registry (only its children with `noChildren`). */
  parent?: string;
  /** Direct children of `parent`; without `parent`, the top-level ones. */
  noChildren?: boolean;
  mode?: ConnectedRegistryMode;
  connectionState?: ConnectionState;
}

/** The answer of a delete: without cleanup, the server's message and the commands left to run. */
export interface ConnectedRegistryDeleted {
  name: string;
  cleanup: boolean;
  message?: string;
  cleanupCommands?: string[];
}

/** The answer of get-settings (the keys `az acr connected-registry get-settings` prints). */
export interface ConnectedRegistrySettings {
  SYNC_TOKEN_USER: string;
  SYNC_TOKEN_PASSWORD: string;
  ACR_REGISTRY_CERTIFICATE_VOLUME: string;
  ACR_REGISTRY_DATA_VOLUME: string;
  ACR_REGISTRY_CONNECTION_STRING: string;
  ACR_REGISTRY_LOGIN_SERVER: string;
  /** The parent's CA (PEM), when the parent is a root with a CA of its own and the protocol is https. */
  OUTPOST_PARENT_CA_CERT?: string;
}

export interface ConnectedRegistrySettingsRequest {
  parentProtocol: 'http' | 'https';
  /** Regenerates that password of the sync token (the old one stops working). */
  generatePassword?: 1 | 2;
}

/** The answer of a garbage-collection request to a connected registry (202). */
export interface ConnectedRegistryGcRequested {
  name: string;
  requestedAt: string;
  dryRun: boolean;
  message: string;
}

/** The answer of a resync request (202). */
export interface ConnectedRegistryResync {
  name: string;
  resyncRequestedAt: string;
  message: string;
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

  // Usage and retention.
  showUsage(): Promise<{ value: RegistryUsage[] }> {
    return this.#json('GET', '/usage');
  }
  showRetention(): Promise<RetentionPolicy> {
    return this.#json('GET', '/config/retention');
  }
  updateRetention(request: UpdateRetentionRequest): Promise<RetentionPolicy> {
    return this.#json('PATCH', '/config/retention', request);
  }
  showAuditLog(): Promise<AuditLogState> {
    return this.#json('GET', '/config/audit-log');
  }
  updateAuditLog(status: 'enabled' | 'disabled'): Promise<AuditLogState> {
    return this.#json('PATCH', '/config/audit-log', { status });
  }

  // Connected registries.
  listConnectedRegistries(filter: ConnectedRegistryListFilter = {}): Promise<ConnectedRegistry[]> {
    const query = new URLSearchParams();
    if (filter.parent !== undefined) query.set('parent', filter.parent);
    if (filter.noChildren) query.set('noChildren', 'true');
    if (filter.mode !== undefined) query.set('mode', filter.mode);
    if (filter.connectionState !== undefined) query.set('connectionState', filter.connectionState);
    const search = query.toString();
    return this.#json('GET', `/connected-registries${search === '' ? '' : `?${search}`}`);
  }
  showConnectedRegistry(name: string): Promise<ConnectedRegistry> {
    return this.#json('GET', `/connected-registries/${enc(name)}`);
  }
  createConnectedRegistry(request: CreateConnectedRegistryRequest): Promise<ConnectedRegistry> {
    return this.#json('POST', '/connected-registries', request);
  }
  updateConnectedRegistry(name: string, request: UpdateConnectedRegistryRequest): Promise<ConnectedRegistry> {
    return this.#json('PATCH', `/connected-registries/${enc(name)}`, request);
  }
  deleteConnectedRegistry(name: string, options: { cleanup?: boolean } = {}): Promise<ConnectedRegistryDeleted> {
    return this.#json('DELETE', `/connected-registries/${enc(name)}${options.cleanup ? '?cleanup=true' : ''}`);
  }
  deactivateConnectedRegistry(name: string): Promise<ConnectedRegistry> {
    return this.#json('POST', `/connected-registries/${enc(name)}/deactivate`);
  }
  /** The sync token's scope map. */
  showConnectedRegistryPermissions(name: string): Promise<ScopeMap> {
    return this.#json('GET', `/connected-registries/${enc(name)}/permissions`);
  }
  updateConnectedRegistryPermissions(name: string, request: { add?: string[]; remove?: string[] }): Promise<ScopeMap> {
    return this.#json('PATCH', `/connected-registries/${enc(name)}/permissions`, request);
  }
  listConnectedRegistryClientTokens(name: string): Promise<Token[]> {
    return this.#json('GET', `/connected-registries/${enc(name)}/client-tokens`);
  }
  getConnectedRegistrySettings(name: string, request: ConnectedRegistrySettingsRequest): Promise<ConnectedRegistrySettings> {
    return this.#json('POST', `/connected-registries/${enc(name)}/settings`, request);
  }
  /** Asks for a full reconciliation at the edge's next contact with its parent. */
  resyncConnectedRegistry(name: string): Promise<ConnectedRegistryResync> {
    return this.#json('POST', `/connected-registries/${enc(name)}/resync`);
  }
  /** Asks the edge to collect its garbage (or report what it would free) at its next contact with its parent. */
  requestConnectedRegistryGc(name: string, options: { dryRun?: boolean } = {}): Promise<ConnectedRegistryGcRequested> {
    return this.#json('POST', `/connected-registries/${enc(name)}/gc`, { dryRun: options.dryRun === true });
  }

  // Webhooks.
  listWebhooks(): Promise<Webhook[]> {
    return this.#json('GET', '/webhooks');
  }
  showWebhook(name: string): Promise<Webhook> {
    return this.#json('GET', `/webhooks/${enc(name)}`);
  }
  createWebhook(request: CreateWebhookRequest): Promise<Webhook> {
    return this.#json('POST', '/webhooks', request);
  }
  updateWebhook(name: string, request: UpdateWebhookRequest): Promise<Webhook> {
    return this.#json('PATCH', `/webhooks/${enc(name)}`, request);
  }
  async deleteWebhook(name: string): Promise<void> {
    await this.#request('DELETE', `/webhooks/${enc(name)}`);
  }
  /** Sends a ping to the webhook now (one attempt, recorded in its history). */
  pingWebhook(name: string): Promise<WebhookPing> {
    return this.#json('POST', `/webhooks/${enc(name)}/ping`);
  }
  /** The newest delivery attempts of the webhook (`top`: how many; 50 by default). */
  listWebhookEvents(name: string, top?: number): Promise<WebhookEvent[]> {
    return this.#json('GET', `/webhooks/${enc(name)}/events${top === undefined ? '' : `?top=${top}`}`);
  }
  // Garbage collection of the root.
  /** Collects the root's garbage now (or reports what it would free) and answers with the run's report. */
  collectGarbage(options: { dryRun?: boolean } = {}): Promise<GcReport> {
    // The answer comes when the run ends: a large store takes longer than other calls.
    return this.#json('POST', '/gc', { dryRun: options.dryRun === true }, Math.max(this.#timeoutMs, GC_TIMEOUT_MS));
  }

  async #json<T>(method: string, path: string, body?: unknown, timeoutMs = this.#timeoutMs): Promise<T> {
    const response = await this.#request(method, path, body, timeoutMs);
    const text = await response.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ManagementError('BAD_RESPONSE', response.status, `the registry at ${this.registry} answered ${method} ${PREFIX}${path} with something other than JSON`);
    }
  }

  /** Sends one request; resolves with a 2xx response, rejects with a `ManagementError` otherwise. */
  async #request(method: string, path: string, body?: unknown, timeoutMs = this.#timeoutMs): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#authorization) headers.authorization = this.#authorization;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.registry}${PREFIX}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      throw this.#networkError(err, timeoutMs);
    }
    if (response.ok) return response;
    throw await errorFromResponse(response, this.registry);
  }

  #networkError(err: unknown, timeoutMs: number): ManagementError {
    const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError' || e.name === 'AbortError') {
      return new ManagementError('TIMEOUT', 0, `the registry at ${this.registry} did not answer within ${Math.round(timeoutMs / 1000)} s`);
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
