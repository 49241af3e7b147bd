import type { FastifyInstance } from 'fastify';
import type { RetentionPolicy } from '../metadata/index.js';
import type { AccessGuard } from '../auth/index.js';
import type { RetentionService } from '../lifecycle/retention-service.js';
import type { UsageService } from '../lifecycle/usage-service.js';
import { parseRetentionUpdate } from './lifecycle-requests.js';
import { objectBody, useAdminJson } from './management-http.js';

export interface LifecycleRoutesDeps {
  retention: RetentionService;
  usage: UsageService;
  guard: AccessGuard;
}

const PREFIX = '/mgmt/v1';

/**
 * The registry's usage and its retention policy (docs/management-api.md, "Usage" and
 * "Retention"): each route parses HTTP, calls the service and answers JSON. Its own plugin, admin
 * only, like the rest of the management API.
 */
export async function registerLifecycleRoutes(app: FastifyInstance, deps: LifecycleRoutesDeps): Promise<void> {
  const { retention, usage } = deps;
  await app.register(async (api) => {
    useAdminJson(api, deps.guard);
    // `az acr show-usage` answers `{value: [...]}`; so does this.
    api.get(`${PREFIX}/usage`, async () => ({ value: await usage.usage() }));
    api.get(`${PREFIX}/config/retention`, async () => retentionJson(await retention.policy()));
    api.patch(`${PREFIX}/config/retention`, async (request) => retentionJson(await retention.update(parseRetentionUpdate(objectBody(request)))));
  });
}

/** The policy as `az acr config retention show` prints it. */
export function retentionJson(policy: RetentionPolicy): Record<string, unknown> {
  return { days: policy.days, lastUpdatedTime: policy.lastUpdatedTime ? policy.lastUpdatedTime.toISOString() : null, status: policy.status };
}
