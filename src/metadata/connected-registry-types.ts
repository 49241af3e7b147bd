/**
 * Connected registries as resources (reference §2), stored on the root next to tokens and scope
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

export interface StatusDetail {
  type: string;
  code: string;
  description: string;
  timestamp: string;
  correlationId: string;
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
