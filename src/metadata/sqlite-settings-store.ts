import type Database from 'better-sqlite3';
import { DEFAULT_RETENTION_POLICY, type AuditLogSetting, type PolicyStatus, type RetentionPolicy, type SettingsStore } from './settings-types.js';

const RETENTION = 'retention';
const AUDIT_LOG = 'audit-log';

/** The SettingsStore on the metadata database (registry_settings, migration 7). Values are JSON text. */
export class SqliteSettingsStore implements SettingsStore {
  private readonly read: Database.Statement<[string], { value: string; updated_at: number }>;
  private readonly write: Database.Statement<[string, string, number], void>;

  /** `clock`: the node's clock (milliseconds since the epoch), for the update times it records. */
  constructor(private readonly db: Database.Database, private readonly clock: () => number) {
    this.read = db.prepare('SELECT value, updated_at FROM registry_settings WHERE name = ?');
    this.write = db.prepare(`INSERT INTO registry_settings (name, value, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`);
  }

  async retentionPolicy(): Promise<RetentionPolicy> {
    return this.retention();
  }

  async updateRetentionPolicy(change: Partial<Pick<RetentionPolicy, 'status' | 'days'>>): Promise<RetentionPolicy> {
    return this.db.transaction((): RetentionPolicy => {
      const current = this.retention();
      const next = { status: change.status ?? current.status, days: change.days ?? current.days };
      this.write.run(RETENTION, JSON.stringify(next), this.clock());
      return this.retention();
    }).immediate();
  }

  async auditLogSetting(): Promise<AuditLogSetting | null> {
    return this.auditLog();
  }

  async updateAuditLogSetting(status: PolicyStatus): Promise<AuditLogSetting> {
    return this.db.transaction((): AuditLogSetting => {
      this.write.run(AUDIT_LOG, JSON.stringify({ status }), this.clock());
      return this.auditLog()!;
    }).immediate();
  }

  private auditLog(): AuditLogSetting | null {
    const row = this.read.get(AUDIT_LOG);
    if (row === undefined) return null;
    const stored = JSON.parse(row.value) as { status?: unknown };
    // A value this version does not know reads as disabled, never as "enabled".
    return { status: stored.status === 'enabled' ? 'enabled' : 'disabled', lastUpdatedTime: new Date(row.updated_at) };
  }

  private retention(): RetentionPolicy {
    const row = this.read.get(RETENTION);
    if (row === undefined) return { ...DEFAULT_RETENTION_POLICY };
    const stored = JSON.parse(row.value) as Partial<RetentionPolicy>;
    return {
      // A value this version does not know reads as the default, never as "enabled".
      status: stored.status === 'enabled' ? 'enabled' : 'disabled',
      days: typeof stored.days === 'number' && Number.isSafeInteger(stored.days) ? stored.days : DEFAULT_RETENTION_POLICY.days,
      lastUpdatedTime: new Date(row.updated_at),
    };
  }
}
