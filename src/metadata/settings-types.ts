/**
 * Registry-wide settings (docs/operations.md), stored at the root next to the registry's data
 * (migration 7, one row per setting). Values are validated by the service above before they get
 * here. Every method is asynchronous and runs as ONE transaction.
 */
export interface SettingsStore {
  /** The retention policy for untagged manifests; the defaults (disabled, 7 days, never updated) until one is set. */
  retentionPolicy(): Promise<RetentionPolicy>;
  /** Changes the given fields of the retention policy (the others stay) and stamps it with the node's time; returns the new policy. */
  updateRetentionPolicy(change: Partial<Pick<RetentionPolicy, 'status' | 'days'>>): Promise<RetentionPolicy>;
  /** The root's audit log switch as last set through the API; null while it never was (the node's flags decide then). */
  auditLogSetting(): Promise<AuditLogSetting | null>;
  /** Stores the root's audit log switch and stamps it with the node's time; returns it. */
  updateAuditLogSetting(status: PolicyStatus): Promise<AuditLogSetting>;
}

export type PolicyStatus = 'enabled' | 'disabled';

/** `az acr config retention`: untagged manifests older than `days` are deleted while `status` is enabled. */
export interface RetentionPolicy {
  status: PolicyStatus;
  /** 0 to 365. */
  days: number;
  /** When the policy was last updated; null while it never was. */
  lastUpdatedTime: Date | null;
}

export const DEFAULT_RETENTION_POLICY: RetentionPolicy = { status: 'disabled', days: 7, lastUpdatedTime: null };

/** The root's audit log switch (`outpost config audit-log update --status`); an edge's comes from its resource. */
export interface AuditLogSetting {
  status: PolicyStatus;
  lastUpdatedTime: Date;
}
