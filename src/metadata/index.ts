export type {
  BlobLink, BlobLinkKey, Change, ChangeKind, ChangeOrigin, ManifestRecord, MetadataStore, PutManifestInput, RepositoryInfo, TagDetail, WriteContext, WriteOutcome,
} from './types.js';
export { SqliteMetadataStore } from './sqlite-store.js';
export { MIGRATIONS, runMigrations } from './migrations.js';
export type { Migration } from './migrations.js';
export type { SqliteStoreOptions } from './sqlite-store.js';
export { SqliteIdentityStore } from './sqlite-identity-store.js';
export { DEFAULT_IDENTITY_LIMITS } from './identity-types.js';
export type {
  IdentityChange, IdentityLimits, IdentitySnapshot, IdentityStore, PasswordRecord, PasswordSlot, ScopeMapInput, ScopeMapRecord, ScopeMapType, TokenInput, TokenRecord, TokenStatus,
} from './identity-types.js';
export { SqliteConnectedRegistryStore } from './sqlite-connected-registry-store.js';
export {
  MAX_CLIENT_TOKENS, MAX_CONNECTED_REGISTRIES, HEARTBEAT_SECONDS, OFFLINE_AFTER_SECONDS, CRITICAL_STATUS_TYPES, effectiveConnectionState,
} from './connected-registry-types.js';
export type {
  ActivationStatus, AuditLogStatus, ConnectedRegistryChange, ConnectedRegistryInput, ConnectedRegistryLogLevel, ConnectedRegistryLogging,
  ConnectedRegistryMode, ConnectedRegistryRecord, ConnectedRegistryRuntime, ConnectedRegistryStore, ConnectionState, GarbageCollection,
  GarbageCollectionRequest, StatusDetail, SyncProperties, ConnectedRegistrySnapshot, RepositorySyncStatus, ManagementChange, RegistryChange,
} from './connected-registry-types.js';
export { ancestorsOf, descendantsOf } from './connected-registry-hierarchy.js';
export type { HierarchyNode } from './connected-registry-hierarchy.js';
export { SYNC_STATE_KEYS } from './sync-types.js';
export type {
  AgentStateKey, FailureInput, OutboxFailure, ParkedItem, ParkedItemInput, StoreStateKey, SyncApplyResult, SyncFacts, SyncOp, SyncPlan,
  SyncStateKey, SyncStore, UnsettledWrite,
} from './sync-types.js';
