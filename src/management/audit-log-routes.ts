import type { FastifyInstance } from 'fastify';
import type { AccessGuard } from '../auth/index.js';
import type { PolicyStatus } from '../metadata/index.js';
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

/** The root's audit log switch (observability/audit-switch.ts). */
export interface AuditLogControl {
  show(): Promise<AuditLogState>;
  /** Stores the switch; `apply` then switches the log. */
  update(status: PolicyStatus): Promise<{ state: AuditLogState; apply(): void }>;
}

/**
 * `GET|PATCH /mgmt/v1/config/audit-log` (docs/management-api.md, "Audit log"): admin only, like
 * the rest of the management API. "enabled" applies at once (this request's line is recorded);
 * "disabled" once this request's line is recorded, so switching the log off leaves a trace too.
 */
export async function registerAuditLogRoutes(app: FastifyInstance, deps: { control: AuditLogControl; guard: AccessGuard }): Promise<void> {
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
