import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import type { ParentEventSink } from '../client/gateway-client.js';
import { MAX_EVENTS_PER_BATCH, type EventDoc } from '../client/gateway-protocol.js';
import type { NotificationStore, StoredNotificationEvent } from '../metadata/index.js';

/** How long the relay waits between looks when nothing wakes it. */
const IDLE_MS = 5_000;
/** After a failed send: 1 s doubling to a minute. */
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;
/** A parent that has no event intake (an older version) is asked again this seldom. */
const NO_INTAKE_RETRY_MS = 5 * 60_000;

export interface EventRelayDeps {
  store: Pick<NotificationStore, 'eventsAfter' | 'relayMark' | 'markRelayed'>;
  /** The parent's gateway; null when the parent link takes no events (then the relay only waits). */
  sink: ParentEventSink | null;
  /** The instance id this node activated with (the parent checks it holds the activation). */
  instanceId: () => Promise<string | null>;
  clock: Clock;
  logger: Logger;
}

/**
 * Carries a connected node's notification events up to its parent (docs/architecture.md, "How
 * events travel up"): every event stored here after the relay mark — its own clients' and those
 * its children sent — in order, MAX_EVENTS_PER_BATCH per request; the mark moves past a batch
 * only once the parent has answered for it, so an outage or a restart sends it again (the
 * parent takes each id once). It runs inside the sync agent's sessions (never outside a sync
 * window), woken when events are recorded and every 5 s. A failure never ends the session: the
 * relay retries on its own with backoff, so a parent that cannot take events does not stop sync.
 */
export class EventRelay {
  private wakeWait: (() => void) | null = null;

  constructor(private readonly deps: EventRelayDeps) {}

  /** Events were recorded here: send them now. */
  wake(): void {
    this.wakeWait?.();
  }

  /** Sends until `signal` aborts (the session's end). Never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, logger } = this.deps;
    let retryMs = FIRST_RETRY_MS;
    while (!signal.aborted) {
      // An event recorded during the drain or the wait after it ends the wait.
      const wake = new AbortController();
      const stop = (): void => wake.abort();
      this.wakeWait = stop;
      signal.addEventListener('abort', stop, { once: true });
      try {
        await this.drain(signal);
        retryMs = FIRST_RETRY_MS;
        await clock.sleep(IDLE_MS, wake.signal);
      } catch (err) {
        if (signal.aborted) break;
        const status = (err as { status?: unknown }).status;
        let waitMs: number;
        if (status === 404 || status === 405) {
          waitMs = NO_INTAKE_RETRY_MS;
          logger.warn({ err: (err as Error).message }, 'the parent takes no notification events (an older version?); they wait here');
        } else {
          waitMs = retryMs;
          retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
          logger.warn({ err: (err as Error).message, retryInMs: waitMs }, 'sending notification events to the parent failed; retrying');
        }
        // A failed send waits its time, even when more events are recorded meanwhile (a manual
        // clock's sleeps may end early: they are slept again).
        const deadline = clock.now() + waitMs;
        while (!signal.aborted && clock.now() < deadline) await clock.sleep(deadline - clock.now(), signal);
      } finally {
        signal.removeEventListener('abort', stop);
      }
    }
  }

  /** Sends every event after the mark, batch by batch. Throws what the parent or the link throws. */
  async drain(signal?: AbortSignal): Promise<number> {
    const { store, sink, logger } = this.deps;
    if (sink === null) return 0;
    let mark = await store.relayMark();
    let sent = 0;
    for (;;) {
      const batch = await store.eventsAfter(mark, MAX_EVENTS_PER_BATCH);
      if (batch.length === 0) return sent;
      const instanceId = await this.deps.instanceId();
      if (instanceId === null) return sent;
      const ack = await sink.postEvents({ instanceId, events: batch.map(eventDoc) }, signal);
      // Refused for good (a name the parent does not know below this node, a field it bounds):
      // sending it again cannot help, and it must not hold back the events after it.
      for (const r of ack.refused) logger.warn({ id: r.id, code: r.code, reason: r.message }, 'the parent refused a notification event');
      mark = batch[batch.length - 1]!.position;
      await store.markRelayed(mark);
      sent += batch.length;
    }
  }
}

function eventDoc(e: StoredNotificationEvent): EventDoc {
  return {
    id: e.id,
    timestamp: e.timestamp.toISOString(),
    action: e.action,
    repository: e.repository,
    tag: e.tag,
    digest: e.digest,
    mediaType: e.mediaType,
    size: e.size,
    request: e.request,
    // Every event here was made at this node or below it (recorded with a name, or received from a child).
    connectedRegistry: e.connectedRegistry ?? '',
  };
}
