import type { GcReport } from './gc-report.js';

/**
 * Typed domain events, published on an in-process bus after the write they describe has
 * committed. Cross-cutting work subscribes here (the gateway's wake-ups and config cache, the
 * sync agent's outbox wake-up; later webhooks, audit, metrics and the dashboard) instead of
 * being called from handlers or keyed on URL prefixes. In-process only: another process sharing
 * the database does not see them.
 */

/** Who made a write: a client of this node (`local`), or the sync agent applying its parent's change (`sync`). */
export type WriteOrigin = 'local' | 'sync';

/**
 * The HTTP request a local write came in (the webhook payload's `request`): its id (the
 * request id the node logs), the Host it was sent to, the method and the client's User-Agent.
 */
export interface WriteRequest {
  id: string;
  host: string;
  method: string;
  useragent: string;
}

/** What every repository event carries. */
interface RepositoryEventBase {
  repository: string;
  origin: WriteOrigin;
  /** The identity that made a local write (a token name, `admin`); null for sync writes. */
  actor: string | null;
  /** The change-log sequence number of the write, when it appended one. */
  seq: number | null;
  /** The request of a local write made over HTTP (absent for sync writes and writes without one). */
  request?: WriteRequest;
}

export type DomainEvent =
  | (RepositoryEventBase & { type: 'manifest-pushed'; digest: string; mediaType: string; size: number })
  | (RepositoryEventBase & { type: 'manifest-deleted'; digest: string })
  | (RepositoryEventBase & { type: 'tag-set'; tag: string; digest: string; mediaType: string })
  | (RepositoryEventBase & { type: 'tag-deleted'; tag: string })
  | (RepositoryEventBase & { type: 'repository-deleted' })
  | (RepositoryEventBase & { type: 'blob-linked'; digest: string; size: number })
  | (RepositoryEventBase & { type: 'blob-deleted'; digest: string })
  /**
   * A connected registry's desired config may have changed (its record, tokens, scope maps).
   * `name`: the registry the change is about; its ancestors' config documents include it, so a
   * cache keyed by registry drops theirs too. null: any of them (a token or scope map changed, or
   * a config from the parent was applied).
   */
  | { type: 'connected-registry-config-changed'; name: string | null }
  /** A heartbeat was recorded: a direct child's, or one it relayed up for a registry below it. */
  | { type: 'connected-registry-status-received'; name: string }
  /** A credential was created, rotated, disabled or deleted: caches of verified credentials drop it. `token` null: the admin or every token. */
  | { type: 'credential-changed'; token: string | null }
  /**
   * Notification events were stored here (docs/observability.md, "Webhooks and notifications"):
   * recorded from this node's own writes (`fromChild` null), or received from the direct child
   * `fromChild` (its own and its descendants').
   */
  | { type: 'notifications-recorded'; count: number; fromChild: string | null }
  /** A webhook delivery attempt was recorded: `outcome` says whether it was delivered, will be retried, or was given up. */
  | {
    type: 'webhook-attempted'; webhook: string; eventId: string; action: string; attempt: number;
    outcome: 'delivered' | 'retrying' | 'failed'; status: number | null; durationMs: number;
  }
  /*
   * The sync agent's work on a connected node (sync/), after each outcome is recorded: metrics
   * and the audit log subscribe. The changes it applies are the repository events of origin `sync`.
   */
  /** A local write carried up to the parent (`pushed`), refused there for good (`rejected`), or unreadable here and parked (`parked`). */
  | {
    type: 'sync-push-finished'; repository: string; change: string; tag: string | null; digest: string | null;
    result: 'pushed' | 'rejected' | 'parked'; code: string | null;
  }
  /** A full reconcile with the parent ended; `failed` with the failure's code (it is owed again). */
  | { type: 'sync-reconcile-finished'; result: 'completed' | 'failed'; repositories: number | null; tags: number | null; durationMs: number; code: string | null }
  /** A change from the parent could not be completed here and is parked (or parked again after a failed retry). */
  | { type: 'sync-item-parked'; repository: string; digest: string; tag: string | null; code: string }
  /** A sync session ended in failure: `kind` says whose (sync/sync-failures.ts, `SyncFailureKind`). */
  | { type: 'sync-session-failed'; kind: string; code: string }
  /** A garbage collection ended (a dry run too): what it found and freed. */
  | { type: 'garbage-collected'; report: GcReport };

export type DomainEventType = DomainEvent['type'];
export type EventOf<T extends DomainEventType> = Extract<DomainEvent, { type: T }>;

type Listener = (event: DomainEvent) => void;

/**
 * The node's event bus. `publish` calls every listener synchronously, in subscription order; a
 * listener's failure is reported to `onError` and never reaches the publisher (its write has
 * committed) or the other listeners. Listeners that do slow work start it and return.
 */
export class EventBus {
  private readonly listeners = new Map<DomainEventType | '*', Set<Listener>>();

  constructor(private readonly onError: (err: unknown, event: DomainEvent) => void = () => undefined) {}

  publish(event: DomainEvent): void {
    for (const key of [event.type, '*'] as const) {
      const set = this.listeners.get(key);
      if (!set) continue;
      for (const listener of [...set]) {
        try {
          listener(event);
        } catch (err) {
          this.onError(err, event);
        }
      }
    }
  }

  /** Calls `listener` for every event of the given types (`'*'`: all). Returns the unsubscribe function. */
  subscribe<T extends DomainEventType>(types: readonly T[] | '*', listener: (event: EventOf<T>) => void): () => void {
    const keys: ReadonlyArray<DomainEventType | '*'> = types === '*' ? ['*'] : types;
    const wrapped = listener as Listener;
    for (const key of keys) {
      let set = this.listeners.get(key);
      if (!set) this.listeners.set(key, (set = new Set()));
      set.add(wrapped);
    }
    return () => {
      for (const key of keys) this.listeners.get(key)?.delete(wrapped);
    };
  }

  /** How many listeners wait on these types now (tests wait for a long-poll to be held). */
  listenerCount(type: DomainEventType): number {
    return (this.listeners.get(type)?.size ?? 0) + (this.listeners.get('*')?.size ?? 0);
  }
}

/** The repository events, by type: what a change-log write publishes. */
export const REPOSITORY_EVENT_TYPES = [
  'manifest-pushed', 'manifest-deleted', 'tag-set', 'tag-deleted', 'repository-deleted', 'blob-linked', 'blob-deleted',
] as const satisfies readonly DomainEventType[];

/** An event of a repository write (it carries origin, actor and seq). */
export type RepositoryEvent = EventOf<(typeof REPOSITORY_EVENT_TYPES)[number]>;

/** The sync agent's events (a connected node only). */
export const SYNC_EVENT_TYPES = [
  'sync-push-finished', 'sync-reconcile-finished', 'sync-item-parked', 'sync-session-failed',
] as const satisfies readonly DomainEventType[];
