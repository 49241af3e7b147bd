export type {
  BlobLink, BlobLinkKey, Change, ChangeKind, ChangeOrigin, GuardedWriteResult, ManifestGraph, ManifestNode, ManifestRecord, MetadataStore, PutManifestInput,
  RepositoryInfo, StoredUsage, TagDetail, WriteContext, WriteOutcome,
} from './types.js';
export { SqliteMetadataStore } from './sqlite-store.js';
export { MIGRATIONS, runMigrations } from './migrations.js';
export {
  LATEST_SCHEMA_VERSION, NotAMetadataDatabaseError, advanceChangeSequence, SchemaTooNewError, readSqliteSnapshot, snapshotSqliteDatabase, type SnapshotContents,
} from './sqlite-snapshot.js';
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
  GarbageCollectionRequest, StatusDetail, StorageUsage, SyncProperties, ConnectedRegistrySnapshot, RepositorySyncStatus, ManagementChange, RegistryChange,
} from './connected-registry-types.js';
export { ancestorsOf, descendantsOf } from './connected-registry-hierarchy.js';
export type { HierarchyNode } from './connected-registry-hierarchy.js';
export { SYNC_STATE_KEYS } from './sync-types.js';
export type {
  AgentStateKey, FailureInput, OutboxFailure, ParkedItem, ParkedItemInput, StoreStateKey, SyncApplyResult, SyncFacts, SyncOp, SyncPlan,
  SyncStateKey, SyncStore, UnsettledWrite,
} from './sync-types.js';
export { SqliteSettingsStore } from './sqlite-settings-store.js';
export { DEFAULT_RETENTION_POLICY } from './settings-types.js';
export type { AuditLogSetting, PolicyStatus, RetentionPolicy, SettingsStore } from './settings-types.js';
export { SqliteNotificationStore } from './sqlite-notification-store.js';
export { MAX_WEBHOOKS } from './notification-types.js';
export type {
  DeliveryAttempt, DeliveryHistoryEntry, DeliveryInput, DeliveryOutcome, DeliveryState, EventToRecord, NotificationAction, NotificationEvent,
  ChangeToNotify, NotificationRequest, NotificationStore, PendingDelivery, StoredNotificationEvent, WebhookAction, WebhookChange, WebhookInput, WebhookRecord,
  WebhookStatus,
} from './notification-types.js';
