/**
 * The sync gateway's wire protocol (docs/architecture.md, "Sync gateway"), shared by the parent side (gateway/) and the
 * child side (sync/, through GatewayClient). JSON only; times are ISO 8601 strings.
 *
 * | call | body / query | answer |
 * |---|---|---|
 * | `POST /gateway/v1/<cr>/activate` | ActivateRequest | 200 ActivateResponse; 409 ALREADY_ACTIVATED |
 * | `GET /gateway/v1/<cr>/config` | `If-None-Match: <etag>` | 200 ConfigDocument + `ETag`; 304 when unchanged |
 * | `GET /gateway/v1/<cr>/messages` | `?after=<seq>&wait=<s>&config=<etag>` | 200 MessagesResponse; 410 RESYNC_REQUIRED (detail ResyncRequiredDetail) |
 * | `GET /gateway/v1/<cr>/head` | — | 200 HeadResponse |
 * | `PUT /gateway/v1/<cr>/status` | StatusReport | 200 StatusAck; 409 ALREADY_ACTIVATED |
 * | `POST /gateway/v1/<cr>/events` | EventBatch | 200 EventBatchAck; 409 ALREADY_ACTIVATED |
 *
 * Every call needs the sync token of `<cr>` (Basic) and its gateway actions
 * (`gateway/<cr>/config/read|write`, `gateway/<cr>/message/read` for messages and head,
 * `gateway/<cr>/message/write` for events): 401 UNAUTHORIZED without valid
 * credentials, 403 DENIED without the action. A node serves its direct children only: any other
 * `<cr>` is 404 NOT_FOUND. Bad bodies or query values are 400 REQUEST_INVALID.
 *
 * - The config ETag is a quoted strong ETag (`"<hex>"`). `MessagesResponse.config` and
 *   `StatusAck.config` carry it exactly as the `ETag` header does; the `config` query parameter
 *   and `If-None-Match` accept it quoted or bare.
 * - messages: `after` defaults to 0, `wait` to 0 (capped at MAX_WAIT_SECONDS). Without `config`
 *   the poll is held until changes arrive or the config changes while it is held.
 * - head: the newest sequence number of the parent's log, read without a cursor, a wait or any
 *   check (a child starting a full reconcile continues after it).
 * - status: 409 ALREADY_ACTIVATED when the reporting instance does not hold the activation
 *   (another instance does, or it was deactivated): activate again; that succeeds only when no
 *   other instance holds it.
 * - events: the child's notification events (its own clients' pushes and deletes, and those its
 *   children sent it), at most MAX_EVENTS_PER_BATCH per request, each for the child itself or a
 *   registry below it. Idempotent by event id: a batch sent again is stored once. A batch that
 *   does not parse is 400 as a whole; an event the parent refuses (a registry not below the
 *   child, a field out of bounds) is listed in `refused` and the others are taken. Same
 *   activation rule as status.
 */

import type { GcReport, GcRequestDoc } from '../core/gc-report.js';

export type { GcReport, GcRequestDoc } from '../core/gc-report.js';

export const GATEWAY_PREFIX = '/gateway/v1';

/** Longest long-poll a gateway grants (seconds); a child asks for less. */
export const MAX_WAIT_SECONDS = 60;

export type Mode = 'ReadOnly' | 'ReadWrite';
/**
 * A change of the parent's log. `blob-delete` (digest: the blob's) is newer than the others: a
 * child steps over kinds it does not know (its cursor moves past them).
 */
export type MessageKind = 'manifest' | 'tag' | 'tag-delete' | 'manifest-delete' | 'repository-delete' | 'blob-delete';

export interface ActivateRequest {
  /** Persistent id of the running instance (a UUID kept in its data folder). */
  instanceId: string;
  version: string;
}

export interface ActivateResponse {
  name: string;
  mode: Mode;
  activationStatus: 'Active';
}

/** A connected registry's desired state (no runtime fields). */
export interface RegistryDoc {
  name: string;
  mode: Mode;
  /** The parent's name; null for a child of the root. */
  parent: string | null;
  sync: { tokenName: string; schedule: string; syncWindow: string | null; messageTtl: string };
  clientTokenIds: string[];
  logging: { logLevel: 'Debug' | 'Information' | 'Warning' | 'Error' | 'None'; auditLogStatus: 'Enabled' | 'Disabled' };
  notificationsList: string[];
  garbageCollection: { enabled: boolean; schedule: string };
  /** Bumped by each deactivate at the root. */
  activationEpoch: number;
  /** The last `resync` request at the root (ISO), or null. */
  resyncRequestedAt: string | null;
  /** The last `gc` request at the root, or null (absent from a parent that predates it). The edge runs each request once. */
  gcRequest?: GcRequestDoc | null;
}

export interface PasswordDoc {
  hash: string;
  createdAt: string;
  expiry: string | null;
}

export interface TokenDoc {
  name: string;
  status: 'enabled' | 'disabled';
  scopeMap: string | null;
  createdAt: string;
  password1: PasswordDoc | null;
  password2: PasswordDoc | null;
}

export interface ScopeMapDoc {
  name: string;
  description: string;
  actions: string[];
}

/**
 * GET config: everything a child needs to run and to serve its own children offline.
 * `tokens` are the child's client tokens plus every descendant's sync and client tokens (password
 * hashes only), with the scope maps they use.
 */
export interface ConfigDocument {
  self: RegistryDoc;
  /** Repository patterns in the child's sync scope (names, `*`, `prefix/*`), lower-case. */
  repositories: string[];
  /** Every connected registry below the child, parents before children. */
  descendants: RegistryDoc[];
  tokens: TokenDoc[];
  scopeMaps: ScopeMapDoc[];
}

export interface Message {
  seq: number;
  kind: MessageKind;
  repository: string;
  tag: string | null;
  digest: string | null;
  mediaType: string | null;
  at: string;
}

/**
 * The detail of a 410 RESYNC_REQUIRED on messages. `ahead`: the cursor is past this parent's
 * head (the log is not the one the cursor came from); `pruned`: rows after the cursor are
 * gone; `expired`: the next change after the cursor is older than the child's message TTL. The
 * child reconciles in full and continues after `head`.
 */
export interface ResyncRequiredDetail {
  reason: 'ahead' | 'pruned' | 'expired';
  after: number;
  head: number;
  /** The first retained sequence number after `after`, when there is one. */
  oldest: number | null;
}

export interface MessagesResponse {
  /** Changes for repositories in the child's scope with `seq > after`, in order (at most a page). */
  messages: Message[];
  /** The cursor to ask with next (past changes outside the scope too). */
  next: number;
  /** The newest sequence number of the parent's log. */
  head: number;
  /** The ETag of the child's current config; a child holding another one fetches config. */
  config: string;
}

/** GET head. */
export interface HeadResponse {
  /** The newest sequence number of the parent's log (0 when it is empty). */
  head: number;
}

/** A status detail; the item types (SyncItemFailed, OutboxItemFailed, OutboxRejected) name their item in `repository`, `digest`, `tag`. */
export interface StatusDetailDoc {
  type: string;
  code: string;
  description: string;
  timestamp: string;
  correlationId: string;
  repository?: string;
  digest?: string;
  tag?: string;
}

export interface LoginServerDoc {
  host: string;
  tls?: { status: 'Enabled' | 'Disabled' };
}

export interface RepositoryStatusDoc {
  name: string;
  pendingChanges: number;
}

/**
 * What a node stores and how full the filesystem of its storage is, measured when it sends a
 * heartbeat. `usedBytes`: the distinct blobs and manifests its metadata holds (each digest once);
 * the filesystem figures (`statfs`: size, free, available to the node) are null where the storage
 * is not a local filesystem it can measure.
 */
export interface StorageUsageDoc {
  usedBytes: number;
  totalBytes: number | null;
  freeBytes: number | null;
  availableBytes: number | null;
  measuredAt: string;
}

/** A descendant's status as the node that serves it sees it, relayed up in its parent's heartbeat. */
export interface DescendantStatus {
  name: string;
  activationEpoch: number;
  activationStatus: 'Active' | 'Inactive';
  instanceId: string | null;
  connectionState: 'Online' | 'Offline' | 'Syncing' | 'Unhealthy';
  lastActivityTime: string | null;
  lastSyncTime: string | null;
  version: string | null;
  loginServer: LoginServerDoc | null;
  statusDetails: StatusDetailDoc[];
  repositories: RepositoryStatusDoc[];
  /** Its local writes still waiting to go up, as it last reported; null when unknown. */
  outbox?: number | null;
  /** Its storage as it last reported; null or absent when unknown (a node of an earlier version). */
  storage?: StorageUsageDoc | null;
  /** Its last garbage collection, as it last reported; null when none (absent from an older node: unknown). */
  lastGarbageCollection?: GcReport | null;
}

/** PUT status: the heartbeat. */
export interface StatusReport {
  instanceId: string;
  /** What the child is doing: Online (idle or long-polling) or Syncing (applying or pushing). */
  connectionState: 'Online' | 'Syncing';
  statusDetails: StatusDetailDoc[];
  lastSyncTime: string | null;
  version: string;
  loginServer: LoginServerDoc | null;
  /** The child's cursor in this parent's log (null before its first full sync). */
  cursor: number | null;
  /** Local writes waiting to be pushed up (ReadWrite). */
  outbox: number;
  /** Its storage now; null when it could not be measured (absent from a node of an earlier version). */
  storage?: StorageUsageDoc | null;
  /** The report of its last garbage collection (a dry run's too); null before the first. Absent from an older child. */
  lastGarbageCollection?: GcReport | null;
  descendants: DescendantStatus[];
}

export interface StatusAck {
  /** The ETag of the child's current config. */
  config: string;
}

/** Events a child sends in one request at most. */
export const MAX_EVENTS_PER_BATCH = 100;

/** A notification event on the wire (docs/observability.md, "Webhooks and notifications"). */
export interface EventDoc {
  /** A UUID made where the write was made: the key of idempotent intake at every hop. */
  id: string;
  /** When it was recorded where the write was made (ISO). */
  timestamp: string;
  action: 'push' | 'delete';
  repository: string;
  tag: string | null;
  digest: string | null;
  mediaType: string | null;
  size: number | null;
  request: { id: string; host: string; method: string; useragent: string } | null;
  /** The connected registry where the client made the write: the sender or one below it. */
  connectedRegistry: string;
}

/** POST events. */
export interface EventBatch {
  /** The sending instance (it must hold the activation, as for status). */
  instanceId: string;
  events: EventDoc[];
}

export interface EventBatchAck {
  /** Events stored now. */
  accepted: number;
  /** Events this parent had already (sent before). */
  duplicates: number;
  /** Events refused for good (never stored); the child does not send them again. */
  refused: Array<{ id: string; code: string; message: string }>;
}
