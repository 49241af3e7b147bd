import type { FastifyInstance } from 'fastify';
import { effectiveConnectionState, type ConnectedRegistryRecord } from '../metadata/index.js';
import type { AccessGuard } from '../auth/index.js';
import type { Clock } from '../core/clock.js';
import type { ConnectedRegistryService } from './connected-registry-service.js';
import { GC_DRY_RUN_MESSAGE, GC_MESSAGE, RESYNC_MESSAGE } from './connected-registry-service.js';
import { parseGcRequest } from './gc-requests.js';
import { parseCreateRequest, parseListQuery, parsePermissionsRequest, parseSettingsRequest, parseUpdateRequest } from './connected-registry-requests.js';
import { objectBody, param, scopeMapJson, tokenJson, useAdminJson } from './management-http.js';

export interface ConnectedRegistryDeps {
  service: ConnectedRegistryService;
  guard: AccessGuard;
  /** `connectionState` is computed when shown. */
  clock: Clock;
}

const PREFIX = '/mgmt/v1/connected-registries';

/**
 * Connected registries as resources (docs/management-api.md): each route parses HTTP, calls the
 * ConnectedRegistryService and answers JSON. Its own plugin, admin only, with the management
 * API's JSON parser.
 */
export async function registerConnectedRegistryRoutes(app: FastifyInstance, deps: ConnectedRegistryDeps): Promise<void> {
  await app.register(async (api) => {
    useAdminJson(api, deps.guard);
    connectedRegistryRoutes(api, deps);
  });
}

function connectedRegistryRoutes(api: FastifyInstance, deps: ConnectedRegistryDeps): void {
  const { service, clock } = deps;
  const render = async (records: ConnectedRegistryRecord[], host: string | undefined): Promise<Array<Record<string, unknown>>> => {
    const endpointOf = await service.gatewayEndpoints(host);
    const now = clock.now();
    return records.map((r) => connectedRegistryJson(r, endpointOf(r), now));
  };
  const one = async (record: ConnectedRegistryRecord, host: string | undefined): Promise<Record<string, unknown>> => (await render([record], host))[0]!;

  api.get(PREFIX, async (request) =>
    render(await service.list(parseListQuery(request.query as Record<string, string | undefined>)), request.headers.host));

  api.post(PREFIX, async (request, reply) => {
    const created = await service.create(parseCreateRequest(objectBody(request)));
    return reply.code(201).send(await one(created, request.headers.host));
  });

  api.get(`${PREFIX}/:name`, async (request) => one(await service.get(param(request, 'name')), request.headers.host));

  api.patch(`${PREFIX}/:name`, async (request) => {
    const input = parseUpdateRequest(objectBody(request));
    return one(await service.update(param(request, 'name'), input), request.headers.host);
  });

  api.delete(`${PREFIX}/:name`, async (request) => {
    const query = request.query as Record<string, string | undefined>;
    return service.delete(param(request, 'name'), query.cleanup === 'true' || query.cleanup === '');
  });

  api.post(`${PREFIX}/:name/deactivate`, async (request) => one(await service.deactivate(param(request, 'name')), request.headers.host));

  api.post(`${PREFIX}/:name/resync`, async (request, reply) => {
    const { name, resyncRequestedAt } = await service.resync(param(request, 'name'));
    return reply.code(202).send({ name, resyncRequestedAt: resyncRequestedAt.toISOString(), message: RESYNC_MESSAGE });
  });

  api.post(`${PREFIX}/:name/gc`, async (request, reply) => {
    const { dryRun } = parseGcRequest(objectBody(request));
    const { name, requestedAt } = await service.requestGarbageCollection(param(request, 'name'), dryRun);
    return reply.code(202).send({ name, requestedAt: requestedAt.toISOString(), dryRun, message: dryRun ? GC_DRY_RUN_MESSAGE : GC_MESSAGE });
  });

  api.get(`${PREFIX}/:name/permissions`, async (request) => scopeMapJson(await service.permissions(param(request, 'name'))));

  api.patch(`${PREFIX}/:name/permissions`, async (request) => {
    const { add, remove } = parsePermissionsRequest(objectBody(request));
    return scopeMapJson(await service.updatePermissions(param(request, 'name'), add, remove));
  });

  api.get(`${PREFIX}/:name/client-tokens`, async (request) => (await service.clientTokens(param(request, 'name'))).map((t) => tokenJson(t)));

  api.post(`${PREFIX}/:name/settings`, async (request) => {
    const { parentProtocol, generatePassword } = parseSettingsRequest(objectBody(request));
    return service.settings(param(request, 'name'), parentProtocol, generatePassword, request.headers.host);
  });
}

/**
 * Outpost's own: the storage the edge reported at its last heartbeat (docs/operations.md, "Disk
 * planning and usage"); null before one carried it.
 */
function storageJson(record: ConnectedRegistryRecord): Record<string, unknown> | null {
  const storage = record.runtime.storage;
  if (storage === null) return null;
  return {
    usedBytes: storage.usedBytes, totalBytes: storage.totalBytes, freeBytes: storage.freeBytes, availableBytes: storage.availableBytes,
    measuredAt: storage.measuredAt.toISOString(),
  };
}

/**
 * The resource as JSON, top-level fields as `az acr connected-registry show` prints them.
 * `connectionState` is the one to show at `now` (Offline once heartbeats stop); `syncStatus` is
 * Outpost's own: the lag per repository at the last heartbeat and the pending resync request.
 */
export function connectedRegistryJson(record: ConnectedRegistryRecord, gatewayEndpoint: string | null, now: number): Record<string, unknown> {
  const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
  return {
    id: `connectedRegistries/${record.name}`,
    name: record.name,
    type: 'connectedRegistries',
    provisioningState: 'Succeeded',
    mode: record.mode,
    version: record.runtime.version,
    connectionState: effectiveConnectionState(record, now),
    lastActivityTime: iso(record.runtime.lastActivityTime),
    activation: { status: record.runtime.activationStatus },
    parent: {
      id: record.parent === null ? null : `connectedRegistries/${record.parent}`,
      syncProperties: {
        tokenId: `tokens/${record.sync.tokenName}`,
        schedule: record.sync.schedule,
        syncWindow: record.sync.syncWindow,
        messageTtl: record.sync.messageTtl,
        lastSyncTime: iso(record.sync.lastSyncTime),
        gatewayEndpoint,
      },
    },
    clientTokenIds: record.clientTokenIds.map((t) => `tokens/${t}`),
    loginServer: record.runtime.loginServer,
    logging: record.logging,
    statusDetails: record.runtime.statusDetails,
    notificationsList: record.notificationsList,
    garbageCollection: record.garbageCollection,
    // Outpost's own: the last manual request (outpost connected-registry gc) and the report of the edge's last collection.
    garbageCollectionRequest: record.gcRequest ? { requestedAt: record.gcRequest.requestedAt.toISOString(), dryRun: record.gcRequest.dryRun } : null,
    lastGarbageCollection: record.runtime.lastGarbageCollection,
    syncStatus: {
      repositories: record.runtime.repositories.map((r) => ({ name: r.name, pendingChanges: r.pendingChanges })),
      outboxPending: record.runtime.outboxPending,
      resyncRequestedAt: iso(record.resyncRequestedAt),
    },
    storage: storageJson(record),
    creationDate: record.createdAt.toISOString(),
  };
}
