import { performance } from 'node:perf_hooks';
import { STATUS_CODES } from 'node:http';
import { request } from 'undici';
import type { Clock } from '../core/clock.js';
import type { DeliveryAttempt, WebhookRecord } from '../metadata/index.js';
import { maskHeaders, maskUri } from './secrets.js';

/** How long a receiver has for its answer's headers, then for each piece of its body. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** The first bytes of an answer's body kept in the history. */
const KEPT_BODY_BYTES = 1024;

/** What one attempt gave: whether it counts as delivered, and the attempt as the history keeps it (attempt number set by the caller). */
export interface SendResult {
  delivered: boolean;
  /** The node was stopping: the attempt does not count (it is made again after the restart). */
  aborted: boolean;
  record: Omit<DeliveryAttempt, 'attempt'>;
}

/**
 * Makes one HTTP attempt to deliver a webhook's body, as the reference does: `POST` to the
 * service URI with `Content-Type: application/json` (unless a custom header sets it) and the
 * webhook's custom headers, nothing else. A 2xx answer is delivered; anything else, or no
 * answer within the timeout, is a failure. Redirects are not followed (a receiver that moved
 * answers 3xx: a failure the history shows). The history gets the request and the answer with
 * secret-looking header values masked; nothing here logs a header value.
 */
export class WebhookSender {
  constructor(private readonly clock: Clock, private readonly timeoutMs = DEFAULT_TIMEOUT_MS) {}

  async send(webhook: Pick<WebhookRecord, 'serviceUri' | 'customHeaders'>, payload: string, signal?: AbortSignal): Promise<SendResult> {
    const headers: Record<string, string> = {};
    if (!Object.keys(webhook.customHeaders).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
    Object.assign(headers, webhook.customHeaders);
    const startedAt = new Date(this.clock.now());
    // Real elapsed time: what the receiver took, whatever the node's clock does.
    const t0 = performance.now();
    const sent = { method: 'POST', uri: maskUri(webhook.serviceUri), headers: maskHeaders(headers) };
    const record = (response: DeliveryAttempt['response'], error: string | null): Omit<DeliveryAttempt, 'attempt'> => ({
      startedAt, durationMs: performance.now() - t0, request: sent, response, error,
    });
    try {
      const answer = await request(webhook.serviceUri, {
        method: 'POST', headers, body: payload, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs, ...(signal ? { signal } : {}),
      });
      const body = await firstBytes(answer.body, KEPT_BODY_BYTES);
      const status = answer.statusCode;
      const delivered = status >= 200 && status < 300;
      const response = { status, reason: STATUS_CODES[status] ?? '', headers: maskHeaders(flatHeaders(answer.headers)), body };
      return { delivered, aborted: false, record: record(response, delivered ? null : `the receiver answered ${status}`) };
    } catch (err) {
      return { delivered: false, aborted: signal?.aborted === true, record: record(null, failureText(err)) };
    }
  }
}

/** Reads at most `limit` bytes of a body (as text) and drops the rest. */
async function firstBytes(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break;
  }
  body.destroy();
  return Buffer.concat(chunks).subarray(0, limit).toString('utf8');
}

function flatHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  return out;
}

/** Why no answer arrived, in a line (undici's error codes name the cause). */
function failureText(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = e.code ?? e.cause?.code;
  const message = e.cause?.message ?? e.message ?? String(err);
  return (code ? `${code}: ${message}` : message).slice(0, 500);
}
