/** The webhook shapes of the management API (docs/management-api.md, "Webhooks"). */

export type WebhookAction = 'push' | 'delete';
export type WebhookStatus = 'enabled' | 'disabled';

/** A webhook as the management API answers it. `serviceUri` and `customHeaders` come with their secrets masked (`***`). */
export interface Webhook {
  id: string;
  name: string;
  type: 'webhooks';
  provisioningState: string;
  status: WebhookStatus;
  /** `repository[:tag]`, or '' for every event. */
  scope: string;
  actions: WebhookAction[];
  serviceUri: string;
  customHeaders: Record<string, string>;
  creationDate: string;
  lastUpdated: string;
  deliveries: { pending: number; delivered: number; failed: number };
}

/** `POST /webhooks`. */
export interface CreateWebhookRequest {
  name: string;
  serviceUri: string;
  actions: string[];
  scope?: string;
  customHeaders?: Record<string, string>;
  status?: WebhookStatus;
}

/** `PATCH /webhooks/<name>`: what is given changes; `customHeaders` replaces the set (`{}` clears it). */
export interface UpdateWebhookRequest {
  serviceUri?: string;
  actions?: string[];
  scope?: string;
  customHeaders?: Record<string, string>;
  status?: WebhookStatus;
}

/** The answer of a ping: the ping's event id and its one attempt. */
export interface WebhookPing {
  id: string;
  delivered: boolean;
  status: number | null;
  durationMs: number;
  error: string | null;
}

/** One delivery attempt, as list-events shows it. */
export interface WebhookEvent {
  /** The event's id (the payload's `id`). */
  id: string;
  action: string;
  attempt: number;
  /** The delivery's state now: pending (a retry is due), delivered, failed (given up). */
  state: 'pending' | 'delivered' | 'failed';
  timestamp: string;
  durationMs: number;
  eventRequestMessage: { method: string; requestUri: string; headers: Record<string, string>; content: string };
  eventResponseMessage: { statusCode: number; reasonPhrase: string; headers: Record<string, string>; content: string } | null;
  error: string | null;
}
