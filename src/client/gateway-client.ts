import { header, RemoteError, type HttpTransport } from './http-transport.js';
import {
  GATEWAY_PREFIX, type ActivateRequest, type ActivateResponse, type ConfigDocument, type HeadResponse, type MessagesResponse, type StatusAck,
  type StatusReport,
} from './gateway-protocol.js';

/**
 * The parent's sync gateway as the sync agent uses it, for one connected registry (the calls of
 * gateway-protocol.ts). Every call throws RemoteError for the parent's error answers and for a
 * link that fails; aborting a call's `signal` ends it (it rejects with the abort reason).
 * GatewayClient speaks it over HTTP; tests give the agent a fake parent instead.
 */
export interface ParentGateway {
  /** Claims the connected registry for this instance. Throws RemoteError ALREADY_ACTIVATED (409) while another instance holds it. */
  activate(request: ActivateRequest, signal?: AbortSignal): Promise<ActivateResponse>;
  /** The config document and its ETag; null when it still matches `etag`. */
  config(etag: string | null, signal?: AbortSignal): Promise<{ document: ConfigDocument; etag: string } | null>;
  /** Long-polls for changes after `after`, up to `waitSeconds`. Throws RemoteError RESYNC_REQUIRED (410) when the log after `after` is gone. */
  messages(after: number, waitSeconds: number, configEtag: string | null, signal?: AbortSignal): Promise<MessagesResponse>;
  /** The newest sequence number of the parent's log (where a full reconcile continues from). */
  head(signal?: AbortSignal): Promise<number>;
  /** The heartbeat; answers the current config ETag. Throws RemoteError ALREADY_ACTIVATED (409) when this instance does not hold the activation. */
  status(report: StatusReport, signal?: AbortSignal): Promise<StatusAck>;
}

/** ParentGateway over HTTP (docs/architecture.md, "Sync gateway"). */
export class GatewayClient implements ParentGateway {
  private readonly base: string;

  constructor(private readonly http: HttpTransport, connectedRegistry: string) {
    this.base = `${GATEWAY_PREFIX}/${encodeURIComponent(connectedRegistry)}`;
  }

  async activate(request: ActivateRequest, signal?: AbortSignal): Promise<ActivateResponse> {
    return (await this.http.json<ActivateResponse>('POST', `${this.base}/activate`, [200], { ...jsonBody(request), signal })).body;
  }

  async config(etag: string | null, signal?: AbortSignal): Promise<{ document: ConfigDocument; etag: string } | null> {
    const res = await this.http.json<ConfigDocument>('GET', `${this.base}/config`, [200, 304], { ...(etag ? { headers: { 'if-none-match': etag } } : {}), signal });
    if (res.status === 304) return null;
    return { document: res.body, etag: header(res.headers, 'etag') ?? '' };
  }

  async messages(after: number, waitSeconds: number, configEtag: string | null, signal?: AbortSignal): Promise<MessagesResponse> {
    const query = `after=${after}&wait=${waitSeconds}${configEtag ? `&config=${encodeURIComponent(configEtag)}` : ''}`;
    return (await this.http.json<MessagesResponse>('GET', `${this.base}/messages?${query}`, [200], { timeoutMs: (waitSeconds + 15) * 1000, signal })).body;
  }

  async head(signal?: AbortSignal): Promise<number> {
    const head = (await this.http.json<HeadResponse | null>('GET', `${this.base}/head`, [200], { signal })).body?.head;
    if (typeof head !== 'number' || !Number.isSafeInteger(head) || head < 0) throw new RemoteError('BAD_RESPONSE', 200, `GET ${this.base}/head: no head in the answer`);
    return head;
  }

  async status(report: StatusReport, signal?: AbortSignal): Promise<StatusAck> {
    return (await this.http.json<StatusAck>('PUT', `${this.base}/status`, [200], { ...jsonBody(report), signal })).body;
  }
}

function jsonBody(value: unknown): { headers: Record<string, string>; body: string } {
  return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}
