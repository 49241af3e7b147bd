import { RegistryError } from '../oci/index.js';
import type { WebhookChange, WebhookInput } from '../metadata/index.js';
import { assertScope, assertServiceUri, assertWebhookName, parseActions, parseHeaders, parseStatus } from '../events/webhook-rules.js';

/**
 * The JSON bodies of the webhook routes (docs/management-api.md, "Webhooks"), checked and typed.
 * Each throws REQUEST_INVALID naming the first field that is wrong; unknown fields are refused
 * (a misspelt `customHeaders` must not pass for "no headers").
 */

const CREATE_FIELDS = new Set(['name', 'serviceUri', 'actions', 'scope', 'customHeaders', 'status']);
const UPDATE_FIELDS = new Set(['serviceUri', 'actions', 'scope', 'customHeaders', 'status']);
/** list-events: the newest 50 attempts by default, at most 1000. */
export const DEFAULT_HISTORY = 50;
const MAX_HISTORY = 1000;

function invalid(message: string): RegistryError {
  return new RegistryError('REQUEST_INVALID', message);
}

function onlyFields(body: Record<string, unknown>, allowed: Set<string>): void {
  const unknown = Object.keys(body).filter((k) => !allowed.has(k));
  if (unknown.length > 0) throw invalid(`Unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k.slice(0, 50)}'`).join(', ')}: use ${[...allowed].join(', ')}.`);
}

/** POST /webhooks: `{name, serviceUri, actions, scope?, customHeaders?, status?}` (enabled, every event, no headers by default). */
export function parseWebhookCreate(body: Record<string, unknown>): WebhookInput {
  onlyFields(body, CREATE_FIELDS);
  if (body.serviceUri === undefined) throw invalid('serviceUri is required.');
  if (body.actions === undefined) throw invalid('actions is required: push and/or delete.');
  return {
    name: assertWebhookName(body.name),
    serviceUri: assertServiceUri(body.serviceUri),
    actions: parseActions(body.actions),
    scope: body.scope === undefined ? '' : assertScope(body.scope),
    status: body.status === undefined ? 'enabled' : parseStatus(body.status),
    customHeaders: body.customHeaders === undefined ? {} : parseHeaders(body.customHeaders),
  };
}

/** PATCH /webhooks/<name>: any of `{serviceUri, actions, scope, customHeaders, status}`, at least one; customHeaders replaces the set ({} clears it). */
export function parseWebhookUpdate(body: Record<string, unknown>): WebhookChange {
  onlyFields(body, UPDATE_FIELDS);
  const change: WebhookChange = {};
  if (body.serviceUri !== undefined) change.serviceUri = assertServiceUri(body.serviceUri);
  if (body.actions !== undefined) change.actions = parseActions(body.actions);
  if (body.scope !== undefined) change.scope = assertScope(body.scope);
  if (body.customHeaders !== undefined) change.customHeaders = parseHeaders(body.customHeaders);
  if (body.status !== undefined) change.status = parseStatus(body.status);
  if (Object.keys(change).length === 0) throw invalid('Nothing to update: give serviceUri, actions, scope, customHeaders or status.');
  return change;
}

/** `?top=N` of list-events. */
export function parseHistoryTop(value: string | undefined): number {
  if (value === undefined || value === '') return DEFAULT_HISTORY;
  if (!/^\d{1,6}$/.test(value) || Number(value) < 1 || Number(value) > MAX_HISTORY) throw invalid(`top must be a whole number from 1 to ${MAX_HISTORY}.`);
  return Number(value);
}
