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
    private readonly store: Pick<NotificationStore, 'recordEvents' | 'recordNotified' | 'listWebhooks'>,
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
    const batch = await this.batchOf(events, receivedFrom);
    return batch.length === 0 ? [] : this.stored(await this.store.recordEvents(batch), receivedFrom);
  }

  /**
   * This node's own events, made from its change log up to seq `through`: stored with that seq
   * in one transaction when any is kept. False when none was (nothing written: the caller keeps
   * the seq until it has something to store with it).
   */
  async recordOwn(events: readonly NotificationEvent[], through: number): Promise<boolean> {
    const batch = await this.batchOf(events, null);
    if (batch.length === 0) return false;
    this.stored(await this.store.recordNotified(batch, through), null);
    return true;
  }

  private async batchOf(events: readonly NotificationEvent[], receivedFrom: string | null): Promise<EventToRecord[]> {
    if (events.length === 0) return [];
    const webhooks = this.isRoot ? await this.store.listWebhooks() : [];
    return events
      .map((event) => ({ event, receivedFrom, deliveries: deliveriesFor(event, webhooks) }))
      .filter((e) => !(this.isRoot && receivedFrom === null && e.deliveries.length === 0));
  }

  private stored(fresh: string[], receivedFrom: string | null): string[] {
    if (fresh.length > 0) this.events.publish({ type: 'notifications-recorded', count: fresh.length, fromChild: receivedFrom });
    return fresh;
  }
}
