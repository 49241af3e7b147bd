import type { GcReport } from '../core/gc-report.js';
import type { IdentityChange } from './identity-types.js';

/**
 * Connected registries as resources (docs/management-api.md, "Connected registries"), stored on the root next to tokens and scope
 * maps. Values are validated by management/ before they reach the store; the store enforces
 * uniqueness, the parent reference and the per-root limit. Every method is asynchronous and runs
 * as ONE transaction. Errors are RegistryErrors: NOT_FOUND (missing registry or parent), CONFLICT
 * (the name exists anywhere in the hierarchy, or a registry still has children), TOOMANYREQUESTS
 * (the limit is reached).
 */
export interface ConnectedRegistryStore {
  /** How many connected registries the root may have (MAX_CONNECTED_REGISTRIES unless lowered for tests). */
  readonly maxConnectedRegistries: number;
  /** Every connected registry, by name. */
  listConnectedRegistries(): Promise<ConnectedRegistryRecord[]>;
  getConnectedRegistry(name: string): Promise<ConnectedRegistryRecord | null>;
  /** Throws CONFLICT when the name exists, NOT_FOUND for a missing parent, TOOMANYREQUESTS past the limit. */
  createConnectedRegistry(input: ConnectedRegistryInput): Promise<ConnectedRegistryRecord>;
  /** Replaces the given fields (mode and parent never change). Throws NOT_FOUND. */
  updateConnectedRegistry(name: string, change: ConnectedRegistryChange): Promise<ConnectedRegistryRecord>;
  /** Throws NOT_FOUND, CONFLICT while it has children. */
  deleteConnectedRegistry(name: string): Promise<void>;

  /**
   * Claims the registry for a running instance: Active with this instance id. Throws
   * ALREADY_ACTIVATED when another instance holds it, NOT_FOUND when it does not exist.
   */
  activate(name: string, instanceId: string, version: string | null, at: Date): Promise<ConnectedRegistryRecord>;
  /** Frees it: Inactive, no instance, Offline, and a new activation epoch. Throws NOT_FOUND. */
  deactivate(name: string): Promise<ConnectedRegistryRecord>;
  /** Asks the edge to reconcile in full at its next contact. Throws NOT_FOUND. */
  requestResync(name: string, at: Date): Promise<ConnectedRegistryRecord>;
  /** Asks the edge to collect its garbage (or, with `dryRun`, to report what it would free) at its next contact. Throws NOT_FOUND. */
  requestGarbageCollection(name: string, at: Date, dryRun: boolean): Promise<ConnectedRegistryRecord>;
  /**
   * On a connected node: replaces the local copy of its own record and its descendants' with
   * the parent's config (parents before children; the node's own record has no parent here).
   * Runtime fields stay as this node's gateway saw them, except that a newer activation epoch
   * frees the activation. Records missing from `records` are removed.
   */
  replaceSubtree(records: ConnectedRegistrySnapshot[]): Promise<void>;

  /**
   * Applies `changes` in order as ONE transaction, together with the token and scope-map changes
   * among them (on the IdentityStore that shares this store's database): all of them or, when one
   * throws, none — a workflow that fails half-way leaves no orphan token, scope map or record.
   * The management services read what they need, compute the whole change set in TypeScript and
   * hand it over here (a unit of work: the same shape for SQLite's synchronous transactions and
   * PostgreSQL's asynchronous ones). Each change throws as its one-change method does.
   */
  applyChanges(changes: readonly ManagementChange[]): Promise<void>;
}

/** One step of a unit of work on connected-registry records (`ConnectedRegistryStore.applyChanges`). */
export type RegistryChange =
  /** As createConnectedRegistry. */
  | { kind: 'create-registry'; input: ConnectedRegistryInput }
  /** As updateConnectedRegistry. */
  | { kind: 'update-registry'; name: string; change: ConnectedRegistryChange }
  /** As deleteConnectedRegistry. */
  | { kind: 'delete-registry'; name: string }
  /** As deactivate. */
  | { kind: 'deactivate-registry'; name: string }
  /** As requestResync. */
  | { kind: 'request-resync'; name: string; at: Date }
  /** As requestGarbageCollection. */
  | { kind: 'request-gc'; name: string; at: Date; dryRun: boolean };

/** A step of a management workflow: a record change or a token/scope-map change. */
export type ManagementChange = RegistryChange | IdentityChange;

/** A connected registry's desired state as it travels down the hierarchy in config documents. */
export interface ConnectedRegistrySnapshot extends ConnectedRegistryInput {
  activationEpoch: number;
  resyncRequestedAt: Date | null;
  /** Absent (a parent from before garbage collection could be asked for): none. */
  gcRequest?: GarbageCollectionRequest | null;
}

/** The last manual garbage collection asked of a connected registry (`outpost connected-registry gc`). */
export interface GarbageCollectionRequest {
  /** A new time is a new request; the edge runs each once. */
  requestedAt: Date;
  dryRun: boolean;
}

/** How far a child is behind its parent in one repository (computed by the parent at each heartbeat). */
export interface RepositorySyncStatus {
  name: string;
  /** Changes in the parent's log for this repository that the child has not applied. */
  pendingChanges: number;
}

export type ConnectedRegistryMode = 'ReadOnly' | 'ReadWrite';
export type ConnectedRegistryLogLevel = 'Debug' | 'Information' | 'Warning' | 'Error' | 'None';
export type AuditLogStatus = 'Enabled' | 'Disabled';
export type ActivationStatus = 'Active' | 'Inactive';
export type ConnectionState = 'Online' | 'Offline' | 'Syncing' | 'Unhealthy';

export interface SyncProperties {
  /** The sync token's name. */
  tokenName: string;
  /** 5-field cron, UTC; `* * * * *` is continuous. */
  schedule: string;
  /** ISO 8601 duration, or null (only with a non-continuous schedule). */
  syncWindow: string | null;
  /** ISO 8601 duration. */
  messageTtl: string;
  lastSyncTime: Date | null;
}

/**
 * A problem an edge reports in its heartbeat (reference: `statusDetails`). The sync agent's
 * types: `DiskError` (critical), `SyncItemFailed` (a change from the parent it cannot complete,
 * parked and retried), `OutboxItemFailed` (a local write it cannot read back, parked and
 * retried), `OutboxRejected` (a local write the parent refused for good). The item types name
 * what they are about in `repository`, `digest` and `tag`, so an operator can act on them.
 */
export interface StatusDetail {
  type: string;
  code: string;
  description: string;
  timestamp: string;
  correlationId: string;
  repository?: string;
  digest?: string;
  tag?: string;
}

export interface GarbageCollection {
  enabled: boolean;
  schedule: string;
}

export interface ConnectedRegistryLogging {
  logLevel: ConnectedRegistryLogLevel;
  auditLogStatus: AuditLogStatus;
}

/** What the edge reports about itself (the gateway fills these in; creation sets the defaults). */
export interface ConnectedRegistryRuntime {
  activationStatus: ActivationStatus;
  connectionState: ConnectionState;
  lastActivityTime: Date | null;
  version: string | null;
  /** `{host, tls}` as the edge reports it, or null. */
  loginServer: { host: string; tls?: { status: 'Enabled' | 'Disabled' } } | null;
  statusDetails: StatusDetail[];
  /** The instance that holds the activation, or null. */
  instanceId: string | null;
  /** Per repository lag behind the parent, at the last heartbeat. */
  repositories: RepositorySyncStatus[];
  /** Local writes (ReadWrite) still waiting to go up, at the last heartbeat; null before one. */
  outboxPending: number | null;
  /** The storage it reported at its last heartbeat; null before one that carried it. */
  storage: StorageUsage | null;
  /** The report of its last garbage collection, as its heartbeat said; null before one. */
  lastGarbageCollection: GcReport | null;
}

/** What an edge stores and how full its disk is (docs/operations.md, "Disk planning and usage"). */
export interface StorageUsage {
  /**
   * Bytes of the distinct blobs and manifests its metadata holds (each digest once). Blobs no
   * longer referenced but not yet swept by garbage collection are not in it; they show in the
   * filesystem's figures.
   */
  usedBytes: number;
  /** The filesystem of its storage: size, free, and available to the node (free less the blocks reserved for root); null where it cannot be measured. */
  totalBytes: number | null;
  freeBytes: number | null;
  availableBytes: number | null;
  /** When it was measured (by the edge's clock). */
  measuredAt: Date;
}

export interface ConnectedRegistryInput {
  name: string;
  mode: ConnectedRegistryMode;
  parent: string | null;
  sync: Omit<SyncProperties, 'lastSyncTime'>;
  /** Token names, at most 50. */
  clientTokenIds: string[];
  logging: ConnectedRegistryLogging;
  notificationsList: string[];
  garbageCollection: GarbageCollection;
}

export interface ConnectedRegistryRecord extends ConnectedRegistryInput {
  sync: SyncProperties;
  /** Bumped by each deactivate; flows down the hierarchy so the edge serving the child frees it too. */
  activationEpoch: number;
  resyncRequestedAt: Date | null;
  gcRequest: GarbageCollectionRequest | null;
  runtime: ConnectedRegistryRuntime;
  createdAt: Date;
}

export interface ConnectedRegistryChange {
  sync?: Partial<Omit<SyncProperties, 'tokenName'>>;
  clientTokenIds?: string[];
  logging?: Partial<ConnectedRegistryLogging>;
  notificationsList?: string[];
  garbageCollection?: GarbageCollection;
  runtime?: Partial<ConnectedRegistryRuntime>;
}

/** The reference's limits: 50 connected registries per registry, 50 clients per connected registry. */
export const MAX_CONNECTED_REGISTRIES = 50;
export const MAX_CLIENT_TOKENS = 50;

/** A child heartbeats this often while it is connected (and inside its sync window). */
export const HEARTBEAT_SECONDS = 10;
/** A registry with no heartbeat for this long is Offline. */
export const OFFLINE_AFTER_SECONDS = 3 * HEARTBEAT_SECONDS;
/**
 * Status details that make a registry Unhealthy, matched against a detail's `code` or `type`
 * (the reference reports `{type: 'Disk', code: 'DiskError'}`).
 */
export const CRITICAL_STATUS_TYPES: readonly string[] = ['DiskError', 'StorageError', 'CertificateError'];

/**
 * The connection state to show now: Offline when inactive, before its first heartbeat, or silent for OFFLINE_AFTER_SECONDS
 * (which also covers the time outside a sync window, when the edge does not call), Unhealthy
 * when its last heartbeat carried a critical status detail, else what it reported.
 */
export function effectiveConnectionState(record: ConnectedRegistryRecord, now: number, offlineAfterMs = OFFLINE_AFTER_SECONDS * 1000): ConnectionState {
  const rt = record.runtime;
  if (rt.activationStatus !== 'Active' || rt.lastActivityTime === null) return 'Offline';
  if (now - rt.lastActivityTime.getTime() > offlineAfterMs) return 'Offline';
  // Activated but no heartbeat yet (or relayed as Offline from below): nothing is known of its sync.
  if (rt.connectionState === 'Offline') return 'Offline';
  if (rt.statusDetails.some((d) => CRITICAL_STATUS_TYPES.includes(d.code) || CRITICAL_STATUS_TYPES.includes(d.type))) return 'Unhealthy';
  return rt.connectionState === 'Syncing' ? 'Syncing' : 'Online';
}
