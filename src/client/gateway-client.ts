import { header, type HttpTransport } from './http-transport.js';
import {
  GATEWAY_PREFIX, type ActivateRequest, type ActivateResponse, type ConfigDocument, type MessagesResponse, type StatusAck, type StatusReport,
} from './gateway-protocol.js';

/** The parent's sync gateway (docs/architecture.md, "Sync gateway") for one connected registry. Aborting a call's `signal` ends its request. */
export class GatewayClient {
  private readonly base: string;

  constructor(private readonly http: HttpTransport, connectedRegistry: string) {
    this.base = `${GATEWAY_PREFIX}/${encodeURIComponent(connectedRegistry)}`;
  }

  async activate(request: ActivateRequest, signal?: AbortSignal): Promise<ActivateResponse> {
    return (await this.http.json<ActivateResponse>('POST', `${this.base}/activate`, [200], { ...jsonBody(request), signal })).body;
  }

  /** The config document and its ETag; null when it still matches `etag`. */
  async config(etag: string | null, signal?: AbortSignal): Promise<{ document: ConfigDocument; etag: string } | null> {
    const res = await this.http.json<ConfigDocument>('GET', `${this.base}/config`, [200, 304], { ...(etag ? { headers: { 'if-none-match': etag } } : {}), signal });
    if (res.status === 304) return null;
    return { document: res.body, etag: header(res.headers, 'etag') ?? '' };
  }

  /** Long-polls for changes after `after`, up to `waitSeconds`. Throws RemoteError RESYNC_REQUIRED (410). */
  async messages(after: number, waitSeconds: number, configEtag: string | null, signal?: AbortSignal): Promise<MessagesResponse> {
    const query = `after=${after}&wait=${waitSeconds}${configEtag ? `&config=${encodeURIComponent(configEtag)}` : ''}`;
    return (await this.http.json<MessagesResponse>('GET', `${this.base}/messages?${query}`, [200], { timeoutMs: (waitSeconds + 15) * 1000, signal })).body;
  }

  async status(report: StatusReport, signal?: AbortSignal): Promise<StatusAck> {
    return (await this.http.json<StatusAck>('PUT', `${this.base}/status`, [200], { ...jsonBody(report), signal })).body;
  }
}

function jsonBody(value: unknown): { headers: Record<string, string>; body: string } {
  return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(value) };
}
