import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { EventBus } from '../core/events.js';
import type { DeliveryOutcome, NotificationStore, PendingDelivery } from '../metadata/index.js';
import type { WebhookSender } from './webhook-sender.js';

/** Attempts per delivery before it is given up (about 3 hours of retries, see retryDelayMs). */
export const MAX_ATTEMPTS = 20;
/** Webhooks served at once (each gets its own deliveries one at a time, in order). */
const PARALLEL_WEBHOOKS = 8;

/**
 * The wait after failed attempt `n` (1-based): 5 s doubling, at most 15 minutes — 5 s, 10 s,
 * 20 s, …, 640 s, then 900 s. Exponential so that a receiver that is down is not hammered, and
 * bounded so that one that comes back hears within a quarter of an hour.
 */
export function retryDelayMs(attempt: number): number {
  return Math.min(5_000 * 2 ** Math.max(0, attempt - 1), 15 * 60_000);
}

export interface WebhookDeliveryDeps {
  store: Pick<NotificationStore, 'dueDeliveries' | 'getWebhook' | 'recordAttempt'>;
  sender: Pick<WebhookSender, 'send'>;
  events: EventBus;
  clock: Clock;
  logger: Logger;
}

/**
 * Delivers the root's queued webhook deliveries (docs/observability.md, "Delivery"). The
 * composition root runs it as the `webhook-delivery` job: every second on the node's clock
 * (retries come due on it), and at once when events are queued (`wake`). Each webhook gets its
 * deliveries in order, one at a time (a delivery waiting for its retry holds back the later
 * ones of the same webhook); several webhooks are served at once. Each attempt is recorded with
 * the delivery's new state in one transaction; an attempt cut by the node's shutdown is not
 * recorded, so the delivery is made again after the restart (receivers dedupe by event `id`).
 */
export class WebhookDelivery {
  private again = false;

  constructor(private readonly deps: WebhookDeliveryDeps) {}

  /** Asks the running (or next) run to look again before it ends: something was queued. */
  markDirty(): void {
    this.again = true;
  }

  /** Attempts every delivery due now, until none is left due. */
  async run(signal: AbortSignal): Promise<number> {
    let attempted = 0;
    do {
      this.again = false;
      attempted += await this.deliverDue(signal);
    } while (this.again && !signal.aborted);
    return attempted;
  }

  private async deliverDue(signal: AbortSignal): Promise<number> {
    let attempted = 0;
    while (!signal.aborted) {
      const due = await this.deps.store.dueDeliveries(new Date(this.deps.clock.now()), PARALLEL_WEBHOOKS);
      if (due.length === 0) break;
      await Promise.all(due.map((delivery) => this.attempt(delivery, signal)));
      attempted += due.length;
    }
    return attempted;
  }

  private async attempt(delivery: PendingDelivery, signal: AbortSignal): Promise<void> {
    const { store, sender, clock, logger, events } = this.deps;
    const webhook = await store.getWebhook(delivery.webhook);
    if (!webhook) return;
    const result = await sender.send(webhook, delivery.payload, signal);
    if (result.aborted) return;
    const attempt = delivery.attempts + 1;
    const outcome: DeliveryOutcome = result.delivered
      ? { state: 'delivered' }
      : attempt >= MAX_ATTEMPTS ? { state: 'failed' } : { state: 'pending', nextAttemptAt: new Date(clock.now() + retryDelayMs(attempt)) };
    const recorded = await store.recordAttempt(delivery.id, { ...result.record, attempt }, outcome);
    if (!recorded) return;
    const status = result.record.response?.status ?? null;
    const durationMs = Math.round(result.record.durationMs);
    const fields = { webhook: webhook.name, eventId: delivery.eventId, action: delivery.action, attempt, status, durationMs };
    if (outcome.state === 'delivered') logger.debug(fields, 'webhook delivered');
    else if (outcome.state === 'failed') logger.error({ ...fields, err: result.record.error }, `webhook delivery given up after ${attempt} attempts`);
    else logger.warn({ ...fields, err: result.record.error, retryAt: outcome.nextAttemptAt.toISOString() }, 'webhook delivery failed; retrying');
    events.publish({
      type: 'webhook-attempted', webhook: webhook.name, eventId: delivery.eventId, action: delivery.action, attempt,
      outcome: outcome.state === 'pending' ? 'retrying' : outcome.state, status, durationMs,
    });
  }
}
