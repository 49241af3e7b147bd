import type Database from 'better-sqlite3';
import { RegistryError } from '../oci/errors.js';
import { toChange, type ChangeRow } from './sqlite-change-rows.js';
import {
  MAX_WEBHOOKS,
  type ChangeToNotify, type DeliveryAttempt, type DeliveryHistoryEntry, type DeliveryOutcome, type DeliveryState, type EventToRecord, type NotificationRequest,
  type NotificationStore, type PendingDelivery, type StoredNotificationEvent, type WebhookChange, type WebhookInput, type WebhookRecord,
} from './notification-types.js';

interface EventRow {
  position: number;
  id: string;
  timestamp: number;
  action: 'push' | 'delete';
  repository: string;
  tag: string | null;
  digest: string | null;
  media_type: string | null;
  size: number | null;
  request: string | null;
  connected_registry: string | null;
  received_from: string | null;
  recorded_at: number;
}

interface WebhookRow {
  name: string;
  service_uri: string;
  actions: string;
  scope: string;
  status: 'enabled' | 'disabled';
  custom_headers: string;
  created_at: number;
  updated_at: number;
}

interface DeliveryRow {
  id: number;
  webhook: string;
  event_id: string;
  action: string;
  payload: string;
  attempts: number;
  created_at: number;
}

interface HistoryRow {
  delivery_id: number;
  event_id: string;
  action: string;
  payload: string;
  state: DeliveryState;
  attempt: number;
  started_at: number;
  duration_ms: number;
  request: string;
  response: string | null;
  error: string | null;
}

const RELAY_MARK = 'relay-mark';
const NOTIFIED_SEQ = 'notified-seq';

/** A change-log row with what the notifications need besides the change. */
interface ChangeToNotifyRow extends ChangeRow {
  actor: string | null;
  request: string | null;
  write_id: number;
}

/**
 * The NotificationStore on the metadata database (migration 7). Writes are IMMEDIATE
 * transactions like the rest of the SQLite stores; one-statement reads run without BEGIN.
 */
export class SqliteNotificationStore implements NotificationStore {
  /** `clock`: the node's clock (milliseconds since the epoch), for the times it records. */
  constructor(private readonly db: Database.Database, private readonly clock: () => number, private readonly maxWebhooks = MAX_WEBHOOKS) {}

  // --- events -----------------------------------------------------------------------------------

  async recordEvents(events: readonly EventToRecord[]): Promise<string[]> {
    return this.db.transaction((): string[] => this.insertEvents(events)).immediate();
  }

  async recordNotified(events: readonly EventToRecord[], through: number): Promise<string[]> {
    return this.db.transaction((): string[] => {
      const fresh = this.insertEvents(events);
      this.raiseState(NOTIFIED_SEQ, through);
      return fresh;
    }).immediate();
  }

  async notifiedSeq(): Promise<number> {
    return this.state(NOTIFIED_SEQ);
  }

  async localChangesToNotify(after: number, limit: number): Promise<ChangeToNotify[]> {
    const columns = 'seq, repository, kind, tag, digest, media_type, at, actor, request, COALESCE(write_id, seq) AS write_id';
    return this.db.transaction((): ChangeToNotify[] => {
      const rows = this.db.prepare<[number, number], ChangeToNotifyRow>(
        `SELECT ${columns} FROM changes WHERE origin = 'local' AND seq > ? ORDER BY seq LIMIT ?`).all(after, Math.max(1, Math.floor(limit)));
      // The rest of the write the limit cut: its rows follow one another (one transaction, one writer at a time).
      const next = this.db.prepare<[number], ChangeToNotifyRow>(`SELECT ${columns} FROM changes WHERE seq > ? ORDER BY seq LIMIT 1`);
      const cut = rows.length >= limit ? rows.at(-1) : undefined;
      for (let row = cut && next.get(cut.seq); cut && row && row.write_id === cut.write_id; row = next.get(row.seq)) rows.push(row);
      return rows.map((r) => ({
        ...toChange(r), actor: r.actor, request: r.request === null ? null : JSON.parse(r.request) as NotificationRequest, writeId: r.write_id,
      }));
    })();
  }

  /** A named number of notification_state (0 until set). */
  private state(key: string): number {
    return this.db.prepare<[string], { value: number }>('SELECT value FROM notification_state WHERE key = ?').get(key)?.value ?? 0;
  }

  /** Moves a named number of notification_state forward to `value` (never back). */
  private raiseState(key: string, value: number): void {
    this.db.prepare(`INSERT INTO notification_state (key, value) VALUES (?, ?)
      ON CONFLICT (key) DO UPDATE SET value = MAX(value, excluded.value)`).run(key, value);
  }

  private insertEvents(events: readonly EventToRecord[]): string[] {
    const insertEvent = this.db.prepare(`INSERT OR IGNORE INTO notification_events
      (id, timestamp, action, repository, tag, digest, media_type, size, request, connected_registry, received_from, recorded_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
    // A webhook deleted or disabled since the caller chose it gets nothing.
    const insertDelivery = this.db.prepare(`INSERT OR IGNORE INTO webhook_deliveries
      (webhook, event_id, action, payload, state, attempts, next_attempt_at, created_at)
      SELECT name, ?, ?, ?, 'pending', 0, ?, ? FROM webhooks WHERE name = ? AND status = 'enabled'`);
    const now = this.clock();
    const fresh: string[] = [];
    for (const { event: e, receivedFrom, deliveries } of events) {
      const inserted = insertEvent.run(
        e.id, e.timestamp.getTime(), e.action, e.repository, e.tag, e.digest, e.mediaType, e.size,
        e.request === null ? null : JSON.stringify(e.request), e.connectedRegistry, receivedFrom, now,
      );
      if (inserted.changes === 0) continue;
      fresh.push(e.id);
      for (const d of deliveries) insertDelivery.run(e.id, e.action, d.payload, now, now, d.webhook);
    }
    return fresh;
  }

  async eventsAfter(after: number, limit: number): Promise<StoredNotificationEvent[]> {
    return this.db.prepare<[number, number], EventRow>('SELECT * FROM notification_events WHERE position > ? ORDER BY position LIMIT ?')
      .all(after, Math.max(0, Math.floor(limit))).map(toEvent);
  }

  async getEvent(id: string): Promise<StoredNotificationEvent | null> {
    const row = this.db.prepare<[string], EventRow>('SELECT * FROM notification_events WHERE id = ?').get(id);
    return row ? toEvent(row) : null;
  }

  async relayMark(): Promise<number> {
    return this.state(RELAY_MARK);
  }

  async markRelayed(position: number): Promise<void> {
    this.raiseState(RELAY_MARK, position);
  }

  async pruneNotifications(olderThan: Date, keepAfter?: number): Promise<{ events: number; deliveries: number }> {
    const cutoff = olderThan.getTime();
    return this.db.transaction(() => {
      const events = keepAfter === undefined
        ? this.db.prepare('DELETE FROM notification_events WHERE recorded_at < ?').run(cutoff).changes
        : this.db.prepare('DELETE FROM notification_events WHERE recorded_at < ? AND position <= ?').run(cutoff, keepAfter).changes;
      const deliveries = this.db.prepare("DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_at < ?").run(cutoff).changes;
      return { events, deliveries };
    }).immediate();
  }

  // --- webhooks ---------------------------------------------------------------------------------

  async createWebhook(input: WebhookInput): Promise<WebhookRecord> {
    return this.db.transaction(() => {
      if (this.readWebhook(input.name)) throw new RegistryError('CONFLICT', `The webhook '${input.name}' already exists.`);
      const count = this.db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM webhooks').get()?.n ?? 0;
      if (count >= this.maxWebhooks) throw new RegistryError('TOOMANYREQUESTS', `The registry already has the maximum of ${this.maxWebhooks} webhooks.`);
      const now = this.clock();
      this.db.prepare(`INSERT INTO webhooks (name, service_uri, actions, scope, status, custom_headers, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
        .run(input.name, input.serviceUri, JSON.stringify(input.actions), input.scope, input.status, JSON.stringify(input.customHeaders), now, now);
      return this.mustWebhook(input.name);
    }).immediate();
  }

  async updateWebhook(name: string, change: WebhookChange): Promise<WebhookRecord> {
    return this.db.transaction(() => {
      const current = this.mustWebhook(name);
      const next = { ...current, ...definedOf(change) };
      this.db.prepare(`UPDATE webhooks SET service_uri = ?, actions = ?, scope = ?, status = ?, custom_headers = ?, updated_at = ? WHERE name = ?`)
        .run(next.serviceUri, JSON.stringify(next.actions), next.scope, next.status, JSON.stringify(next.customHeaders), this.clock(), current.name);
      return this.mustWebhook(current.name);
    }).immediate();
  }

  async deleteWebhook(name: string): Promise<void> {
    // The deliveries and their attempts go with it (ON DELETE CASCADE).
    const deleted = this.db.prepare('DELETE FROM webhooks WHERE name = ?').run(name).changes;
    if (deleted === 0) throw webhookNotFound(name);
  }

  async getWebhook(name: string): Promise<WebhookRecord | null> {
    const row = this.readWebhook(name);
    return row ? toWebhook(row) : null;
  }

  async listWebhooks(): Promise<WebhookRecord[]> {
    return this.db.prepare<[], WebhookRow>('SELECT * FROM webhooks ORDER BY name').all().map(toWebhook);
  }

  // --- deliveries -------------------------------------------------------------------------------

  async dueDeliveries(now: Date, limit: number): Promise<PendingDelivery[]> {
    return this.db.prepare<[number, number], DeliveryRow>(`
      SELECT d.id, d.webhook, d.event_id, d.action, d.payload, d.attempts, d.created_at
      FROM webhooks w
      JOIN webhook_deliveries d ON d.id = (
        SELECT MIN(p.id) FROM webhook_deliveries p WHERE p.webhook = w.name AND p.state = 'pending')
      WHERE w.status = 'enabled' AND d.next_attempt_at <= ?
      ORDER BY d.id LIMIT ?`)
      .all(now.getTime(), Math.max(0, Math.floor(limit)))
      .map((r) => ({ id: r.id, webhook: r.webhook, eventId: r.event_id, action: r.action, payload: r.payload, attempts: r.attempts, createdAt: new Date(r.created_at) }));
  }

  async recordOneOff(webhook: string, delivery: { eventId: string; action: string; payload: string }, attempt: DeliveryAttempt, delivered: boolean): Promise<boolean> {
    return this.db.transaction((): boolean => {
      if (!this.readWebhook(webhook)) return false;
      const now = this.clock();
      const id = Number(this.db.prepare(`INSERT INTO webhook_deliveries (webhook, event_id, action, payload, state, attempts, next_attempt_at, created_at)
        VALUES (?, ?, ?, ?, ?, 1, ?, ?)`).run(webhook, delivery.eventId, delivery.action, delivery.payload, delivered ? 'delivered' : 'failed', now, now).lastInsertRowid);
      this.insertAttempt(id, attempt);
      return true;
    }).immediate();
  }

  async recordAttempt(id: number, attempt: DeliveryAttempt, outcome: DeliveryOutcome): Promise<boolean> {
    return this.db.transaction((): boolean => {
      const next = outcome.state === 'pending' ? outcome.nextAttemptAt.getTime() : this.clock();
      const updated = this.db.prepare(`UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, next_attempt_at = ?
        WHERE id = ? AND state = 'pending'`).run(outcome.state, next, id).changes;
      if (updated === 0) return false;
      this.insertAttempt(id, attempt);
      return true;
    }).immediate();
  }

  async deliveryHistory(webhook: string, limit: number): Promise<DeliveryHistoryEntry[] | null> {
    return this.db.transaction((): DeliveryHistoryEntry[] | null => {
      if (!this.readWebhook(webhook)) return null;
      return this.db.prepare<[string, number], HistoryRow>(`
        SELECT a.delivery_id, d.event_id, d.action, d.payload, d.state, a.attempt, a.started_at, a.duration_ms, a.request, a.response, a.error
        FROM webhook_deliveries d JOIN webhook_attempts a ON a.delivery_id = d.id
        WHERE d.webhook = ?
        ORDER BY a.started_at DESC, a.delivery_id DESC, a.attempt DESC LIMIT ?`)
        .all(webhook, Math.max(0, Math.floor(limit)))
        .map((r) => ({
          deliveryId: r.delivery_id, eventId: r.event_id, action: r.action, payload: r.payload, state: r.state,
          attempt: r.attempt, startedAt: new Date(r.started_at), durationMs: r.duration_ms,
          request: JSON.parse(r.request) as DeliveryAttempt['request'],
          response: r.response === null ? null : (JSON.parse(r.response) as NonNullable<DeliveryAttempt['response']>),
          error: r.error,
        }));
    })();
  }

  async deliveryCounts(webhook: string): Promise<Record<DeliveryState, number>> {
    const counts: Record<DeliveryState, number> = { pending: 0, delivered: 0, failed: 0 };
    const rows = this.db.prepare<[string], { state: DeliveryState; n: number }>('SELECT state, COUNT(*) AS n FROM webhook_deliveries WHERE webhook = ? GROUP BY state').all(webhook);
    for (const row of rows) counts[row.state] = row.n;
    return counts;
  }

  private insertAttempt(deliveryId: number, a: DeliveryAttempt): void {
    this.db.prepare(`INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, request, response, error)
      VALUES (?, ?, ?, ?, ?, ?, ?)`)
      .run(deliveryId, a.attempt, a.startedAt.getTime(), Math.max(0, Math.round(a.durationMs)), JSON.stringify(a.request),
        a.response === null ? null : JSON.stringify(a.response), a.error);
  }

  private readWebhook(name: string): WebhookRow | undefined {
    return this.db.prepare<[string], WebhookRow>('SELECT * FROM webhooks WHERE name = ?').get(name);
  }

  private mustWebhook(name: string): WebhookRecord {
    const row = this.readWebhook(name);
    if (!row) throw webhookNotFound(name);
    return toWebhook(row);
  }
}

function webhookNotFound(name: string): RegistryError {
  return new RegistryError('NOT_FOUND', `The webhook '${name}' could not be found.`, { webhook: name });
}

/** The fields of a change that are given (an absent or undefined field leaves the stored value). */
function definedOf(change: WebhookChange): WebhookChange {
  return Object.fromEntries(Object.entries(change).filter(([, v]) => v !== undefined)) as WebhookChange;
}

function toEvent(row: EventRow): StoredNotificationEvent {
  return {
    position: row.position,
    id: row.id,
    timestamp: new Date(row.timestamp),
    action: row.action,
    repository: row.repository,
    tag: row.tag,
    digest: row.digest,
    mediaType: row.media_type,
    size: row.size,
    request: row.request === null ? null : (JSON.parse(row.request) as NotificationRequest),
    connectedRegistry: row.connected_registry,
    receivedFrom: row.received_from,
    recordedAt: new Date(row.recorded_at),
  };
}

function toWebhook(row: WebhookRow): WebhookRecord {
  return {
    name: row.name,
    serviceUri: row.service_uri,
    actions: JSON.parse(row.actions) as WebhookRecord['actions'],
    scope: row.scope,
    status: row.status,
    customHeaders: JSON.parse(row.custom_headers) as Record<string, string>,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}
