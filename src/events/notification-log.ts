import type { EventBus } from '../core/events.js';
import type { EventToRecord, NotificationEvent, NotificationStore } from '../metadata/index.js';
import { deliveriesFor } from './webhook-payload.js';

/**
 * Where a node stores notification events, whether recorded from its own clients' writes
 * (LocalEvents) or received from a child (EventIntake). On the root, each new event is queued
 * in the same transaction for every webhook that takes it; on a connected node it waits for the
 * relay to its parent (EventRelay). After each commit that stored something new, the bus hears
 * `notifications-recorded` (the relay and the delivery job wake on it).
 */
export class NotificationLog {
  /** `isRoot`: this node delivers to webhooks (a connected node relays up instead). */
  constructor(
    private readonly store: Pick<NotificationStore, 'recordEvents' | 'listWebhooks'>,
    private readonly isRoot: boolean,
    private readonly events: EventBus,
  ) {}

  /**
   * Stores the events not stored yet (their ids are the key) and returns the ids that were new.
   * The root does not store an event of its own that no webhook takes: nothing would ever read
   * it, and a root without webhooks then pays nothing per push. A child's events are stored
   * whatever (their ids must be known when a batch is sent again).
   */
  async record(events: readonly NotificationEvent[], receivedFrom: string | null): Promise<string[]> {
    if (events.length === 0) return [];
    const webhooks = this.isRoot ? await this.store.listWebhooks() : [];
    const batch: EventToRecord[] = events
      .map((event) => ({ event, receivedFrom, deliveries: deliveriesFor(event, webhooks) }))
      .filter((e) => !(this.isRoot && receivedFrom === null && e.deliveries.length === 0));
    if (batch.length === 0) return [];
    const fresh = await this.store.recordEvents(batch);
    if (fresh.length > 0) this.events.publish({ type: 'notifications-recorded', count: fresh.length, fromChild: receivedFrom });
    return fresh;
  }
}
