import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { REPOSITORY_EVENT_TYPES, type EventBus, type RepositoryEvent } from '../core/events.js';
import type { Clock } from '../core/clock.js';
import type { ConnectedRegistryStore, MetadataStore, NotificationEvent } from '../metadata/index.js';
import { notificationsSelect } from './patterns.js';
import { notificationsOfWrite, type NotificationDraft } from './write-notifications.js';
import type { NotificationLog } from './notification-log.js';

export interface LocalEventsDeps {
  events: EventBus;
  log: Pick<NotificationLog, 'record'>;
  /** Sizes of manifests a tag moved onto (stored by an earlier write). */
  metadata: Pick<MetadataStore, 'getManifest'>;
  /** Whose sync tokens are push-backs, and (on a connected node) its own notificationsList. */
  connectedRegistries: Pick<ConnectedRegistryStore, 'listConnectedRegistries'>;
  /** This node's connected-registry name; null on the root. */
  selfName: string | null;
  clock: Clock;
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
 * "Webhooks and notifications"). It listens to the repository events on the bus and takes:
 *
 * - writes of origin `local` only — what the sync agent applied from the parent was notified
 *   where it was made;
 * - not the push-back of a child (a local write whose actor is a connected registry's sync
 *   token): the child records its own client's write, with that client's request and the
 *   child's name, and carries it up; recording the copy too would deliver one push twice;
 * - on a connected node, what its notificationsList selects; on the root, everything (webhooks
 *   filter by their own actions and scope).
 *
 * The events of one write arrive together (the write pipeline publishes them in one go, each
 * with the write's request), so they are gathered — until an event of another request arrives,
 * or the current tick ends — and made into notifications as one write (a push by tag is ONE push
 * event). Writes are recorded in order, one at a time.
 */
export class LocalEvents {
  private pending: RepositoryEvent[] = [];
  private chain: Promise<void> = Promise.resolve();
  private policy: Promise<Policy> | null = null;
  private readonly unsubscribe: Array<() => void> = [];

  constructor(private readonly deps: LocalEventsDeps) {}

  /** Starts listening. */
  start(): void {
    this.unsubscribe.push(
      this.deps.events.subscribe(REPOSITORY_EVENT_TYPES, (event) => this.take(event)),
      // A new child's sync token, or a new notificationsList from the parent: read them again.
      this.deps.events.subscribe(['connected-registry-config-changed'], () => {
        this.policy = null;
      }),
    );
  }

  /** Stops listening and waits for what was taken to be recorded. */
  async stop(): Promise<void> {
    for (const u of this.unsubscribe.splice(0)) u();
    await this.idle();
  }

  /** Resolves once every write taken so far is recorded (or failed to be). */
  async idle(): Promise<void> {
    await Promise.resolve();
    await this.chain;
  }

  private take(event: RepositoryEvent): void {
    if (event.origin !== 'local') return;
    // Another request's write: the one gathered so far is whole (two writes may publish in one tick).
    if (this.pending.length > 0 && this.pending[0]!.request?.id !== event.request?.id) this.flush();
    if (this.pending.length === 0) queueMicrotask(() => this.flush());
    this.pending.push(event);
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const write = this.pending;
    this.pending = [];
    this.chain = this.chain.then(() => this.recordWrite(write)).catch((err: unknown) => {
      this.deps.logger.warn({ err, repository: write[0]?.repository }, 'recording a notification event failed');
    });
  }

  private async recordWrite(write: RepositoryEvent[]): Promise<void> {
    const policy = await this.currentPolicy();
    const actor = write[0]?.actor ?? null;
    if (actor !== null && policy.syncTokens.has(actor)) return;
    const drafts = notificationsOfWrite(write).filter((d) => policy.notifications === null || notificationsSelect(policy.notifications, d));
    if (drafts.length === 0) return;
    const now = new Date(this.deps.clock.now());
    const events: NotificationEvent[] = [];
    for (const draft of drafts) events.push(await this.complete(draft, now));
    await this.deps.log.record(events, null);
  }

  private async complete(draft: NotificationDraft, timestamp: Date): Promise<NotificationEvent> {
    let size = draft.size;
    if (size === null && draft.action === 'push' && draft.digest !== null) {
      size = (await this.deps.metadata.getManifest(draft.repository, draft.digest))?.size ?? null;
    }
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
