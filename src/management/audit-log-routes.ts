import type { FastifyInstance } from 'fastify';
import type { AccessGuard } from '../auth/index.js';
import type { AuditLogSetting, PolicyStatus, SettingsStore } from '../metadata/index.js';
import { parseAuditLogUpdate } from './lifecycle-requests.js';
import { objectBody, useAdminJson } from './management-http.js';

/** What `GET /mgmt/v1/config/audit-log` answers. */
export interface AuditLogState {
  status: PolicyStatus;
  /** The file lines go to, or `-` for standard output. */
  destination: string;
  /** When the switch was last set through the API; null while only the node's flags decided. */
  lastUpdatedTime: string | null;
}

/** What the switch turns: the node's audit log (observability/audit-log.ts). */
export interface AuditSwitched {
  enabled: boolean;
  readonly destination: string;
}

/**
 * The root's audit log switch (docs/observability.md, "Audit log"): `serve --audit-log-status`
 * decides until an administrator sets it through the API; from then the stored setting decides,
 * at once and across restarts. An edge has no such switch: its resource's `auditLogStatus` does
 * the same from the root.
 */
export class AuditLogSwitch {
  constructor(
    private readonly audit: AuditSwitched,
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

/**
 * `GET|PATCH /mgmt/v1/config/audit-log` (docs/management-api.md, "Audit log"): admin only, like
 * the rest of the management API. "enabled" applies at once (this request's line is recorded);
 * "disabled" once this request's line is recorded, so switching the log off leaves a trace too.
 */
export async function registerAuditLogRoutes(app: FastifyInstance, deps: { control: AuditLogSwitch; guard: AccessGuard }): Promise<void> {
  await app.register(async (api) => {
    useAdminJson(api, deps.guard);
    api.get('/mgmt/v1/config/audit-log', async () => deps.control.show());
    api.patch('/mgmt/v1/config/audit-log', async (request, reply) => {
      const { state, apply } = await deps.control.update(parseAuditLogUpdate(objectBody(request)));
      // The audit recorder writes this request's line when the answer is finished; 'close'
      // comes after that, and comes also when the client went away first.
      if (state.status === 'enabled') apply();
      else reply.raw.once('close', apply);
      return state;
    });
  });
}
