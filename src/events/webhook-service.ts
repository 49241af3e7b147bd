import { randomUUID } from 'node:crypto';
import { RegistryError } from '../oci/index.js';
import type { Clock } from '../core/clock.js';
import type { DeliveryHistoryEntry, DeliveryState, NotificationStore, WebhookChange, WebhookInput, WebhookRecord } from '../metadata/index.js';
import { pingPayload } from './webhook-payload.js';
import type { WebhookSender } from './webhook-sender.js';

/** What a ping did: its event id and the one attempt. */
export interface PingResult {
  id: string;
  delivered: boolean;
  status: number | null;
  durationMs: number;
  error: string | null;
}

/** The workflows of the root's webhooks (docs/management-api.md, "Webhooks"): the routes parse, this acts. */
export class WebhookService {
  constructor(
    private readonly store: Pick<NotificationStore, 'createWebhook' | 'updateWebhook' | 'deleteWebhook' | 'getWebhook' | 'listWebhooks'
      | 'recordOneOff' | 'deliveryHistory' | 'deliveryCounts'>,
    private readonly sender: Pick<WebhookSender, 'send'>,
    private readonly clock: Clock,
  ) {}

  create(input: WebhookInput): Promise<WebhookRecord> {
    return this.store.createWebhook(input);
  }

  update(name: string, change: WebhookChange): Promise<WebhookRecord> {
    return this.store.updateWebhook(name, change);
  }

  /** Deletes the webhook with its queued deliveries and history. */
  delete(name: string): Promise<void> {
    return this.store.deleteWebhook(name);
  }

  async get(name: string): Promise<WebhookRecord> {
    const webhook = await this.store.getWebhook(name);
    if (!webhook) throw notFound(name);
    return webhook;
  }

  list(): Promise<WebhookRecord[]> {
    return this.store.listWebhooks();
  }

  /** How many of the webhook's deliveries are pending, delivered and failed. */
  counts(name: string): Promise<Record<DeliveryState, number>> {
    return this.store.deliveryCounts(name);
  }

  /**
   * Sends a ping (`{id, timestamp, action: "ping"}`) to the webhook now, enabled or not, once,
   * without retries, and records it in the history. Throws NOT_FOUND.
   */
  async ping(name: string): Promise<PingResult> {
    const webhook = await this.get(name);
    const id = randomUUID();
    const payload = pingPayload(id, new Date(this.clock.now()));
    const result = await this.sender.send(webhook, payload);
    const recorded = await this.store.recordOneOff(webhook.name, { eventId: id, action: 'ping', payload }, { ...result.record, attempt: 1 }, result.delivered);
    if (!recorded) throw notFound(name);
    return {
      id, delivered: result.delivered, status: result.record.response?.status ?? null,
      durationMs: Math.round(result.record.durationMs), error: result.record.error,
    };
  }

  /** The newest `top` attempts of the webhook's deliveries. Throws NOT_FOUND. */
  async history(name: string, top: number): Promise<DeliveryHistoryEntry[]> {
    const entries = await this.store.deliveryHistory(name, top);
    if (entries === null) throw notFound(name);
    return entries;
  }
}

function notFound(name: string): RegistryError {
  return new RegistryError('NOT_FOUND', `The webhook '${name}' could not be found.`, { webhook: name });
}
