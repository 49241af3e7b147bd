import type { Change } from './types.js';

/**
 * Notification events and webhooks (docs/observability.md, "Webhooks and notifications"): the
 * durable queue of push and delete events every node records, the relay mark of a connected
 * node (what its parent has acknowledged), and on the root the webhooks, their deliveries and
 * the history of every delivery attempt.
 */

export type NotificationAction = 'push' | 'delete';

/** The HTTP request a client's write came in. */
export interface NotificationRequest {
  id: string;
  host: string;
  method: string;
  useragent: string;
}

/** A change of the change log of a local write, with what the notifications need of it. */
export interface ChangeToNotify extends Change {
  /** Who made it (a token name, `admin`, `retention`); null: unknown or anonymous. */
  actor: string | null;
  request: NotificationRequest | null;
  /** The seq of the first row of the same write: the rows of one write share it. */
  writeId: number;
}

/**
 * One push or delete made by a client at some node of the hierarchy, as it travels up to the
 * root. `id` is its identity at every hop: a node stores an id once, whoever sends it again.
 */
export interface NotificationEvent {
  /** A UUID made where the write was made. */
  id: string;
  /** When it was recorded where the write was made. */
  timestamp: Date;
  action: NotificationAction;
  repository: string;
  /** The tag a push set or a delete removed (null: a push or delete by digest). */
  tag: string | null;
  /** The manifest's digest (null: a tag delete, a repository delete). */
  digest: string | null;
  mediaType: string | null;
  /** The manifest's size in bytes (pushes). */
  size: number | null;
  /** The client's request (null when the write came without one, or when it is unknown). */
  request: NotificationRequest | null;
  /** The connected registry where the client made the write; null: the root itself. */
  connectedRegistry: string | null;
}

/** An event as a node stored it. */
export interface StoredNotificationEvent extends NotificationEvent {
  /** This node's order of arrival (the relay mark counts in it). */
  position: number;
  recordedAt: Date;
  /** The direct child it came from; null when this node recorded it from its own writes. */
  receivedFrom: string | null;
}

/** A delivery to queue for a new event: the webhook and the exact body every attempt sends. */
export interface DeliveryInput {
  webhook: string;
  payload: string;
}

/** An event to store, with the deliveries to queue for it when it is new here. */
export interface EventToRecord {
  event: NotificationEvent;
  receivedFrom: string | null;
  deliveries: DeliveryInput[];
}

export type WebhookAction = 'push' | 'delete';
export type WebhookStatus = 'enabled' | 'disabled';

export interface WebhookInput {
  /** 5 to 50 letters and digits (the reference's webhook names). */
  name: string;
  serviceUri: string;
  actions: WebhookAction[];
  /** `repo[:tag]` with `*` wildcards; '' for every event. */
  scope: string;
  status: WebhookStatus;
  /** Sent with every delivery. Values may be secrets: never logged, masked when shown. */
  customHeaders: Record<string, string>;
}

export interface WebhookRecord extends WebhookInput {
  createdAt: Date;
  updatedAt: Date;
}

/** What an update changes (absent: unchanged). */
export type WebhookChange = Partial<Omit<WebhookInput, 'name'>>;

/** Webhooks per registry (the reference's Premium tier). */
export const MAX_WEBHOOKS = 500;

export type DeliveryState = 'pending' | 'delivered' | 'failed';

/** A delivery waiting for its next attempt. */
export interface PendingDelivery {
  id: number;
  webhook: string;
  eventId: string;
  action: string;
  payload: string;
  /** Attempts made so far. */
  attempts: number;
  createdAt: Date;
}

/** One attempt to deliver, as recorded (header values that may be secrets already masked). */
export interface DeliveryAttempt {
  attempt: number;
  startedAt: Date;
  durationMs: number;
  request: { method: string; uri: string; headers: Record<string, string> };
  /** The receiver's answer; null when none arrived (refused, timed out, reset). */
  response: { status: number; reason: string; headers: Record<string, string>; body: string } | null;
  /** Why no answer arrived, or why the answer counts as a failure. */
  error: string | null;
}

/** A delivery's state after an attempt: delivered, failed for good, or pending until `nextAttemptAt`. */
export type DeliveryOutcome =
  | { state: 'delivered' }
  | { state: 'failed' }
  | { state: 'pending'; nextAttemptAt: Date };

/** One line of a webhook's history (`list-events`): an attempt and the delivery it belongs to. */
export interface DeliveryHistoryEntry extends DeliveryAttempt {
  deliveryId: number;
  eventId: string;
  action: string;
  /** The body sent. */
  payload: string;
  /** The delivery's state now. */
  state: DeliveryState;
}

/**
 * The durable side of notifications and webhooks. Every method is one transaction; a PostgreSQL
 * store shares the contract (test/metadata/notification-store-suite.ts).
 */
export interface NotificationStore {
  // --- events ---------------------------------------------------------------------------------
  /**
   * Stores the events whose id is not stored yet, each with its deliveries (a delivery to a
   * webhook that is gone or disabled by then is left out), in ONE transaction, in order. An id
   * already stored is skipped with its deliveries, so a batch sent again is stored once.
   * Returns the ids that were new.
   */
  recordEvents(events: readonly EventToRecord[]): Promise<string[]>;
  /**
   * The notifications of this node's own writes are made from its change log, in order: the
   * local changes after seq `after`, at most `limit` rows (and never a write cut in two: the
   * rows of the write the limit falls in come along).
   */
  localChangesToNotify(after: number, limit: number): Promise<ChangeToNotify[]>;
  /** The last change seq the notifications were made from. */
  notifiedSeq(): Promise<number>;
  /**
   * recordEvents and moving the notified seq forward to `through` (never back), in ONE
   * transaction: a change is made into events exactly once, whatever crashes when.
   */
  recordNotified(events: readonly EventToRecord[], through: number): Promise<string[]>;
  /** Stored events after position `after` (exclusive), in order, at most `limit`. */
  eventsAfter(after: number, limit: number): Promise<StoredNotificationEvent[]>;
  getEvent(id: string): Promise<StoredNotificationEvent | null>;
  /** The position up to which the parent has acknowledged this node's events (0: none). */
  relayMark(): Promise<number>;
  /** Moves the relay mark forward to `position` (never back). */
  markRelayed(position: number): Promise<void>;
  /**
   * Drops events recorded before `olderThan` — on a connected node only those at or before the
   * relay mark (`keepAfter`), so an event is never dropped before the parent has it — and
   * finished deliveries (delivered or failed) created before it, with their attempts. Returns how
   * many events and deliveries went.
   */
  pruneNotifications(olderThan: Date, keepAfter?: number): Promise<{ events: number; deliveries: number }>;

  // --- webhooks -------------------------------------------------------------------------------
  /** Throws RegistryError CONFLICT when the name is taken, TOOMANYREQUESTS past MAX_WEBHOOKS. */
  createWebhook(input: WebhookInput): Promise<WebhookRecord>;
  /** Throws NOT_FOUND. */
  updateWebhook(name: string, change: WebhookChange): Promise<WebhookRecord>;
  /** Deletes a webhook with its deliveries and their history. Throws NOT_FOUND. */
  deleteWebhook(name: string): Promise<void>;
  getWebhook(name: string): Promise<WebhookRecord | null>;
  /** Every webhook, by name. */
  listWebhooks(): Promise<WebhookRecord[]>;

  // --- deliveries -----------------------------------------------------------------------------
  /**
   * The deliveries to attempt now: for each enabled webhook, its OLDEST pending delivery, when
   * that one is due at `now` (so each webhook receives its events in order), oldest first, at
   * most `limit`.
   */
  dueDeliveries(now: Date, limit: number): Promise<PendingDelivery[]>;
  /**
   * Records a one-off delivery made at once (a ping: one attempt, no retry) with its attempt, in
   * one transaction. Returns false (recording nothing) when the webhook is gone.
   */
  recordOneOff(webhook: string, delivery: { eventId: string; action: string; payload: string }, attempt: DeliveryAttempt, delivered: boolean): Promise<boolean>;
  /**
   * Records an attempt of delivery `id` and the delivery's new state in one transaction. Returns
   * false (recording nothing) when the delivery is gone (its webhook was deleted meanwhile) or
   * is not pending any more.
   */
  recordAttempt(id: number, attempt: DeliveryAttempt, outcome: DeliveryOutcome): Promise<boolean>;
  /** A webhook's history, newest attempt first, at most `limit`. Null when the webhook does not exist. */
  deliveryHistory(webhook: string, limit: number): Promise<DeliveryHistoryEntry[] | null>;
  /** How many deliveries of a webhook are in each state. */
  deliveryCounts(webhook: string): Promise<Record<DeliveryState, number>>;
}
