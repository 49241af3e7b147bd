import type { FastifyInstance } from 'fastify';
import type { GcReport } from '../core/gc-report.js';
import type { AccessGuard } from '../auth/index.js';
import { objectBody, useAdminJson } from './management-http.js';
import { parseGcRequest } from './gc-requests.js';

export interface GcRouteDeps {
  guard: AccessGuard;
  /** Runs the node's garbage collection (single-flight with the scheduled one) and resolves with its report. */
  collect(dryRun: boolean): Promise<GcReport>;
}

/**
 * `POST /mgmt/v1/gc` (docs/management-api.md, "Garbage collection"): the root collects its
 * garbage now, or with `{"dryRun": true}` reports what it would free; admin only. The answer is
 * the run's report, sent when the run ends.
 */
export async function registerGcRoutes(app: FastifyInstance, deps: GcRouteDeps): Promise<void> {
  await app.register(async (api) => {
    useAdminJson(api, deps.guard);
    api.post('/mgmt/v1/gc', async (request) => deps.collect(parseGcRequest(objectBody(request)).dryRun));
  });
}
