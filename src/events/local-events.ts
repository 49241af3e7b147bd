import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { REPOSITORY_EVENT_TYPES, type EventBus } from '../core/events.js';
import type { ChangeToNotify, ConnectedRegistryStore, MetadataStore, NotificationEvent, NotificationStore } from '../metadata/index.js';
import { notificationsSelect } from './patterns.js';
import { notificationsOfWrite, type NotificationDraft } from './write-notifications.js';
import type { NotificationLog } from './notification-log.js';

/** Change rows read at a time. */
const BATCH = 500;

export interface LocalEventsDeps {
  events: EventBus;
  log: Pick<NotificationLog, 'recordOwn'>;
  /** The change log of this node's writes, and the notified seq (in the same database as the events). */
  changes: Pick<NotificationStore, 'localChangesToNotify' | 'notifiedSeq' | 'recordNotified'>;
  /** The sizes of pushed manifests. */
  metadata: Pick<MetadataStore, 'getManifest'>;
  /** Whose sync tokens are push-backs, and (on a connected node) its own notificationsList. */
  connectedRegistries: Pick<ConnectedRegistryStore, 'listConnectedRegistries'>;
  /** This node's connected-registry name; null on the root. */
  selfName: string | null;
  logger: Logger;
}

/** What decides which local writes are notified, read from the connected-registry records. */
interface Policy {
  /** The sync tokens of the connected registries known here: their writes are push-backs. */
  syncTokens: Set<string>;
  /** A connected node's notificationsList; null on the root, which records every event. */
  notifications: string[] | null;
}

/**
 * Turns this node's own clients' writes into notification events (docs/observability.md,
 * "Webhooks and notifications"). The events are made from the change log — which commits with
 * each write — in order after the notified seq, and stored with the seq they reach in ONE
 * transaction (NotificationStore.recordNotified): a crash between a write and its event loses
 * nothing, and no change is made into events twice. A repository event of origin `local` on the
 * bus wakes it; it also reads at start (what a crash left) and at each `catchUp`. It takes:
 *
 * - writes of origin `local` only — what the sync agent applied from the parent was notified
 *   where it was made;
 * - not the push-back of a child (a local write whose actor is a connected registry's sync
 *   token): the child records its own client's write, with that client's request and the
 *   child's name, and carries it up; recording the copy too would deliver one push twice;
 * - on a connected node, what its notificationsList selects; on the root, everything (webhooks
 *   filter by their own actions and scope).
 *
 * The rows of one write (one store transaction) are made into notifications together: a push by
 * tag is ONE push event.
 */
export class LocalEvents {
  /**
   * The last change considered, when it is past the stored notified seq: changes that made no
   * event kept (a root without webhooks) move it without a write each; it is stored with the
   * next events, by `catchUp` and at `stop`. After a crash those changes are considered again,
   * with the same outcome.
   */
  private unstoredMark: number | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private policy: Promise<Policy> | null = null;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly deps: LocalEventsDeps) {}

  /** Starts listening, and makes the events of what was written before (a crash's leftovers). */
  start(): void {
    this.unsubscribe.push(
      this.deps.events.subscribe(REPOSITORY_EVENT_TYPES, (event) => {
        if (event.origin === 'local' && event.seq !== null) this.wake();
      }),
      // A new child's sync token, or a new notificationsList from the parent: read them again.
      this.deps.events.subscribe(['connected-registry-config-changed'], () => {
        this.policy = null;
      }),
    );
    this.wake();
  }

  /** Stops listening, waits for the events being made and stores how far it got. */
  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await this.idle();
    await this.storeMark().catch((err: unknown) => this.deps.logger.warn({ err }, 'storing the notified seq failed'));
  }

  /** Resolves once every change committed before the call has been made into events (or failed to be: it is tried again at the next wake). */
  async idle(): Promise<void> {
    await Promise.resolve();
    while (this.running) await this.running;
  }

  /** Makes the events of what is committed now, and resolves once that is done (the `notification-catch-up` job: after a failure, nothing else may write for a while). */
  async catchUp(): Promise<void> {
    this.wake();
    await this.idle();
    await this.storeMark();
  }

  private async storeMark(): Promise<void> {
    const mark = this.unstoredMark;
    if (mark === null) return;
    await this.deps.changes.recordNotified([], mark);
    if (this.unstoredMark === mark) this.unstoredMark = null;
  }

  /** Makes the events of the changes committed so far (single flight: a wake while running runs once more after). */
  wake(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.drain()
      .catch((err: unknown) => this.deps.logger.warn({ err }, 'recording notification events failed (tried again at the next write, or within 10 s)'))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.wake();
        }
      });
  }

  private async drain(): Promise<void> {
    for (;;) {
      const after = this.unstoredMark ?? await this.deps.changes.notifiedSeq();
      const rows = await this.deps.changes.localChangesToNotify(after, BATCH);
      if (rows.length === 0) return;
      const policy = await this.currentPolicy();
      const events: NotificationEvent[] = [];
      for (const write of writesOf(rows)) events.push(...await this.eventsOfWrite(write, policy));
      const through = rows.at(-1)!.seq;
      this.unstoredMark = (await this.deps.log.recordOwn(events, through)) ? null : through;
      if (rows.length < BATCH) return;
    }
  }

  private async eventsOfWrite(write: ChangeToNotify[], policy: Policy): Promise<NotificationEvent[]> {
    const actor = write[0]!.actor;
    if (actor !== null && policy.syncTokens.has(actor)) return [];
    const drafts = notificationsOfWrite(write).filter((d) => policy.notifications === null || notificationsSelect(policy.notifications, d));
    const events: NotificationEvent[] = [];
    for (const draft of drafts) events.push(await this.complete(draft, write[0]!.at));
    return events;
  }

  private async complete(draft: NotificationDraft, timestamp: Date): Promise<NotificationEvent> {
    // A pushed manifest's size, from the store (null once it is gone again).
    const size = draft.action === 'push' && draft.digest !== null ? (await this.deps.metadata.getManifest(draft.repository, draft.digest))?.size ?? null : null;
    return {
      id: randomUUID(), timestamp, action: draft.action, repository: draft.repository, tag: draft.tag, digest: draft.digest,
      mediaType: draft.mediaType, size, request: draft.request, connectedRegistry: this.deps.selfName,
    };
  }

  private currentPolicy(): Promise<Policy> {
    this.policy ??= this.readPolicy().catch((err: unknown) => {
      this.policy = null;
      throw err;
    });
    return this.policy;
  }

  private async readPolicy(): Promise<Policy> {
    const records = await this.deps.connectedRegistries.listConnectedRegistries();
    const self = this.deps.selfName === null ? null : records.find((r) => r.name === this.deps.selfName);
    return {
      syncTokens: new Set(records.map((r) => r.sync.tokenName)),
      // A connected node before its first config knows no list yet: it records nothing.
      notifications: this.deps.selfName === null ? null : [...(self?.notificationsList ?? [])],
    };
  }
}

/** The rows of each write, in order (a write's rows follow one another and share its write id). */
function writesOf(rows: readonly ChangeToNotify[]): ChangeToNotify[][] {
  const writes: ChangeToNotify[][] = [];
  for (const row of rows) {
    const current = writes.at(-1);
    if (current !== undefined && current[0]!.writeId === row.writeId) current.push(row);
    else writes.push([row]);
  }
  return writes;
}
