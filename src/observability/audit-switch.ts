import type { AuditLogSetting, PolicyStatus, SettingsStore } from '../metadata/index.js';
import type { AuditLog } from './audit-log.js';

/** What `outpost config audit-log show` prints. */
export interface AuditLogState {
  status: PolicyStatus;
  /** The file lines go to, or `-` for standard output. */
  destination: string;
  /** When the switch was last set through the API; null while only the node's flags decided. */
  lastUpdatedTime: string | null;
}

/**
 * The root's audit log switch (docs/observability.md, "Audit log"): `serve --audit-log-status`
 * decides until an administrator sets it through the API; from then the stored setting decides,
 * at once and across restarts. An edge has no such switch: its resource's `auditLogStatus` does
 * the same from the root. Served by management/audit-log-routes.ts (the management API).
 */
export class AuditLogSwitch {
  constructor(
    private readonly audit: AuditLog,
    private readonly settings: SettingsStore,
  ) {}

  /** Applies the stored setting, if one was ever set (at start). */
  async load(): Promise<void> {
    const stored = await this.settings.auditLogSetting();
    if (stored !== null) this.audit.enabled = stored.status === 'enabled';
  }

  async show(): Promise<AuditLogState> {
    return this.stateOf(await this.settings.auditLogSetting());
  }

  /**
   * Stores the switch; `apply` then switches the log. The route applies "enabled" at once and
   * "disabled" once its own answer is recorded, so that switching the log off, like switching it
   * on, leaves its line (who did it) in the log.
   */
  async update(status: PolicyStatus): Promise<{ state: AuditLogState; apply(): void }> {
    const stored = await this.settings.updateAuditLogSetting(status);
    const enabled = stored.status === 'enabled';
    return { state: this.stateOf(stored, enabled), apply: () => { this.audit.enabled = enabled; } };
  }

  private stateOf(stored: AuditLogSetting | null, enabled = this.audit.enabled): AuditLogState {
    return {
      status: enabled ? 'enabled' : 'disabled',
      destination: this.audit.destination,
      lastUpdatedTime: stored ? stored.lastUpdatedTime.toISOString() : null,
    };
  }
}
