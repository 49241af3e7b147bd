import type { FastifyInstance } from 'fastify';
import type { AccessGuard } from '../auth/index.js';
import type { DeliveryHistoryEntry, DeliveryState, WebhookRecord } from '../metadata/index.js';
import type { WebhookService } from '../events/webhook-service.js';
import { maskHeaders, maskUri } from '../events/secrets.js';
import { assertWebhookName } from '../events/webhook-rules.js';
import { parseHistoryTop, parseWebhookCreate, parseWebhookUpdate } from './webhook-requests.js';
import { objectBody, param, useAdminJson } from './management-http.js';

export interface WebhookRoutesDeps {
  service: WebhookService;
  guard: AccessGuard;
}

const PREFIX = '/mgmt/v1/webhooks';

/**
 * The root's webhooks (docs/management-api.md, "Webhooks"), as `az acr webhook` manages them:
 * create, list, show, update, delete, ping, list-events. Each route parses HTTP, calls the
 * WebhookService and answers JSON. Its own plugin, admin only. Secret-looking header values and
 * URI credentials are never echoed (docs/security.md).
 */
export async function registerWebhookRoutes(app: FastifyInstance, deps: WebhookRoutesDeps): Promise<void> {
  const { service } = deps;
  const name = (request: Parameters<typeof param>[0]): string => assertWebhookName(param(request, 'name'));
  const shown = async (webhook: WebhookRecord): Promise<Record<string, unknown>> => webhookJson(webhook, await service.counts(webhook.name));
  await app.register(async (api) => {
    useAdminJson(api, deps.guard);

    api.get(PREFIX, async () => Promise.all((await service.list()).map(shown)));
    api.post(PREFIX, async (request, reply) => reply.code(201).send(await shown(await service.create(parseWebhookCreate(objectBody(request))))));
    api.get(`${PREFIX}/:name`, async (request) => shown(await service.get(name(request))));
    api.patch(`${PREFIX}/:name`, async (request) => {
      const webhook = name(request);
      return shown(await service.update(webhook, parseWebhookUpdate(objectBody(request))));
    });
    api.delete(`${PREFIX}/:name`, async (request, reply) => {
      await service.delete(name(request));
      return reply.code(204).send();
    });
    api.post(`${PREFIX}/:name/ping`, async (request) => service.ping(name(request)));
    api.get(`${PREFIX}/:name/events`, async (request) => {
      const webhook = name(request);
      const top = parseHistoryTop((request.query as Record<string, string | undefined>).top);
      return (await service.history(webhook, top)).map(historyJson);
    });
  });
}

/** A webhook as JSON (the fields `az acr webhook show` prints, plus the masked URI and headers and its delivery counts). */
export function webhookJson(webhook: WebhookRecord, deliveries: Record<DeliveryState, number>): Record<string, unknown> {
  return {
    id: `webhooks/${webhook.name}`,
    name: webhook.name,
    type: 'webhooks',
    provisioningState: 'Succeeded',
    status: webhook.status,
    scope: webhook.scope,
    actions: webhook.actions,
    serviceUri: maskUri(webhook.serviceUri),
    customHeaders: maskHeaders(webhook.customHeaders),
    creationDate: webhook.createdAt.toISOString(),
    lastUpdated: webhook.updatedAt.toISOString(),
    deliveries,
  };
}

/** One attempt as `list-events` shows it: the event, the request sent and the answer (the reference's eventRequestMessage / eventResponseMessage). */
function historyJson(entry: DeliveryHistoryEntry): Record<string, unknown> {
  return {
    id: entry.eventId,
    action: entry.action,
    attempt: entry.attempt,
    state: entry.state,
    timestamp: entry.startedAt.toISOString(),
    durationMs: entry.durationMs,
    eventRequestMessage: { method: entry.request.method, requestUri: entry.request.uri, headers: entry.request.headers, content: entry.payload },
    eventResponseMessage: entry.response === null ? null : {
      statusCode: entry.response.status, reasonPhrase: entry.response.reason, headers: entry.response.headers, content: entry.response.body,
    },
    error: entry.error,
  };
}
