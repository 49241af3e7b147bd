import { RegistryError } from '../oci/index.js';
import type { WebhookAction, WebhookStatus } from '../metadata/index.js';
import { parseWebhookScope } from './patterns.js';

/**
 * The rules of a webhook's fields (docs/management-api.md, "Webhooks"), as the reference's
 * `az acr webhook` has them where they apply to Outpost. Each check throws RegistryError
 * REQUEST_INVALID with a message that names the field.
 */

const NAME = /^[A-Za-z0-9]{5,50}$/;
const MAX_URI = 2048;
const MAX_HEADERS = 20;
const MAX_HEADER_VALUE = 4096;
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** Header values: visible characters, spaces and tabs; no line breaks (no header injection). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** Headers the HTTP client sets itself: a custom value would break the request. */
const MANAGED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect']);

export const WEBHOOK_ACTIONS: readonly WebhookAction[] = ['push', 'delete'];
/** The reference's other actions, which Outpost has no source for. */
const FOREIGN_ACTIONS: Record<string, string> = {
  quarantine: "Outpost has no quarantine (the reference's content-trust quarantine)",
  chart_push: 'Outpost has no Helm chart repositories (Helm charts are OCI artifacts here: their pushes are push events)',
  chart_delete: 'Outpost has no Helm chart repositories (Helm charts are OCI artifacts here: their deletes are delete events)',
};

function invalid(message: string): RegistryError {
  return new RegistryError('REQUEST_INVALID', message);
}

export function assertWebhookName(value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw invalid(`Invalid webhook name '${String(value).slice(0, 100)}': use 5 to 50 letters and digits.`);
  }
  return value;
}

/** An absolute http or https URL without a fragment, at most 2048 characters. */
export function assertServiceUri(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_URI) throw invalid(`The service URI must be an http or https URL of at most ${MAX_URI} characters.`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid('The service URI is not a valid URL: use http://host[:port]/path or https://….');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`The service URI must use http or https (got '${url.protocol.slice(0, -1).slice(0, 20)}').`);
  if (url.hostname === '') throw invalid('The service URI must name a host.');
  if (url.hash !== '') throw invalid('The service URI must not have a fragment (#…).');
  return value;
}

/** A non-empty list of push and delete, without repeats; the reference's quarantine and chart actions are refused with why. */
export function parseActions(value: unknown): WebhookAction[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid('actions must be a non-empty list of push and delete.');
  const actions: WebhookAction[] = [];
  for (const item of value) {
    const action = typeof item === 'string' ? item.toLowerCase() : item;
    if (typeof action === 'string' && action in FOREIGN_ACTIONS) {
      throw invalid(`The action '${action}' is not supported: ${FOREIGN_ACTIONS[action]}. Use push and/or delete.`);
    }
    if (action !== 'push' && action !== 'delete') throw invalid(`Invalid action '${String(item).slice(0, 50)}': use push and/or delete.`);
    if (!actions.includes(action)) actions.push(action);
  }
  return actions;
}

/** '' (every event) or `repository[:tag]` (see parseWebhookScope). */
export function assertScope(value: unknown): string {
  if (typeof value !== 'string' || value.length > 512) throw invalid('scope must be a string: repository[:tag], or empty for every event.');
  parseWebhookScope(value);
  return value;
}

export function parseStatus(value: unknown): WebhookStatus {
  if (value !== 'enabled' && value !== 'disabled') throw invalid(`Invalid status '${String(value).slice(0, 50)}': use enabled or disabled.`);
  return value;
}

/**
 * Custom headers: an object of header names to values, at most 20, names HTTP tokens (unique
 * whatever their case), values without line breaks, and none of the headers the client manages
 * (Host, Content-Length, …). The messages never repeat a value (it may be a secret).
 */
export function parseHeaders(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('headers must be a JSON object of header names to values.');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_HEADERS) throw invalid(`At most ${MAX_HEADERS} custom headers (got ${entries.length}).`);
  const seen = new Set<string>();
  const headers: Record<string, string> = {};
  for (const [name, v] of entries) {
    if (!HEADER_NAME.test(name)) throw invalid(`Invalid header name '${name.slice(0, 50)}': use letters, digits and - (an HTTP token).`);
    const lower = name.toLowerCase();
    if (MANAGED_HEADERS.has(lower)) throw invalid(`The header '${name}' is set by the registry itself and cannot be a custom header.`);
    if (seen.has(lower)) throw invalid(`The header '${name}' is given twice.`);
    seen.add(lower);
    if (typeof v !== 'string' || v.length > MAX_HEADER_VALUE || !HEADER_VALUE.test(v)) {
      throw invalid(`The value of header '${name}' must be a string of at most ${MAX_HEADER_VALUE} characters without line breaks.`);
    }
    headers[name] = v;
  }
  return headers;
}
