import type { DeliveryInput, NotificationEvent, WebhookRecord } from '../metadata/index.js';
import { parseWebhookScope, scopeSelects } from './patterns.js';

/**
 * The body a webhook receives for an event, shaped like the reference's webhook payload (and the
 * `data` of its Event Grid ImagePushed / ImageDeleted events): id, timestamp, action, target
 * {mediaType, size, digest, length, repository, tag}, request {id, host, method, useragent},
 * and, for an event made at a connected registry, `connectedregistry: {name}`. Fields the event
 * does not have are left out (a delete has no size; an untag no digest). Deterministic: every
 * attempt of a delivery sends the same bytes.
 */
export function webhookPayload(event: NotificationEvent): string {
  const target: Record<string, unknown> = {};
  if (event.mediaType !== null) target.mediaType = event.mediaType;
  if (event.size !== null) target.size = event.size;
  if (event.digest !== null) target.digest = event.digest;
  if (event.size !== null) target.length = event.size;
  target.repository = event.repository;
  if (event.tag !== null) target.tag = event.tag;
  const body: Record<string, unknown> = {
    id: event.id,
    timestamp: event.timestamp.toISOString(),
    action: event.action,
    target,
  };
  if (event.request !== null) body.request = { ...event.request };
  if (event.connectedRegistry !== null) body.connectedregistry = { name: event.connectedRegistry };
  return JSON.stringify(body);
}

/** The body of a ping (the reference's `az acr webhook ping`): an id, the time and `action: ping`. */
export function pingPayload(id: string, timestamp: Date): string {
  return JSON.stringify({ id, timestamp: timestamp.toISOString(), action: 'ping' });
}

/**
 * The deliveries an event gets: one per enabled webhook whose actions include the event's and
 * whose scope takes it, each with the event's payload.
 */
export function deliveriesFor(event: NotificationEvent, webhooks: readonly WebhookRecord[]): DeliveryInput[] {
  const deliveries: DeliveryInput[] = [];
  let payload: string | null = null;
  for (const webhook of webhooks) {
    if (webhook.status !== 'enabled' || !webhook.actions.includes(event.action)) continue;
    let selected: boolean;
    try {
      selected = scopeSelects(parseWebhookScope(webhook.scope), event);
    } catch {
      // Stored scopes were checked on the way in; one that no longer parses takes nothing.
      selected = false;
    }
    if (!selected) continue;
    payload ??= webhookPayload(event);
    deliveries.push({ webhook: webhook.name, payload });
  }
  return deliveries;
}
