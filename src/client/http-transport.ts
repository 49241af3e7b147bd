import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';

/**
 * An error from (or on the way to) a parent registry. `code` is the OCI error code of the answer,
 * or `CONNECTION_FAILED` / `BAD_RESPONSE` (status 0 / the answer's status) when there is no OCI answer,
 * or `CERTIFICATE_UNTRUSTED` (status 0) when an https parent's certificate fails verification.
 * Only the HTTP clients of this folder create it (a lint rule keeps it so): a failure on this
 * node is never one, so it cannot be taken for the parent's answer (sync/ has LocalSyncError).
 */
export class RemoteError extends Error {
  readonly code: string;
  /** HTTP status of the answer; 0 when nothing answered. */
  readonly status: number;
  readonly detail: unknown;

  constructor(code: string, status: number, message: string, detail: unknown = null) {
    super(message);
    this.name = 'RemoteError';
    this.code = code;
    this.status = status;
    this.detail = detail;
  }

  /** Worth trying again later: the link, a timeout, an overloaded or restarting parent. */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export interface TransportOptions {
  /** `http://host:port` or `https://host:port`. */
  baseUrl: string;
  username: string;
  password: string;
  /** PEM file of extra CAs trusted for https, besides the system's. */
  caFile?: string | null;
  /** Extra CAs trusted for https as PEM text (the parent's CA from the connection settings). */
  caPem?: string | null;
  /** Parallel connections to the parent. */
  connections?: number;
  /** The User-Agent of every request (`outpost/<version>`): the parent's logs tell which build calls. */
  userAgent?: string;
}

export interface SendOptions {
  headers?: Record<string, string>;
  body?: Dispatcher.DispatchOptions['body'];
  signal?: AbortSignal;
  /** Waiting for the answer's headers (a long-poll needs more than the default). */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** TLS verification failures: the parent answered, but its certificate does not check out here (a missing CA, a wrong name, expired). */
const UNTRUSTED_CERTIFICATE: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * One authenticated HTTP connection pool to a parent, shared by the OCI and gateway clients.
 * Basic credentials on every request (the parent caches verified ones), keep-alive, and for
 * https the system CAs plus an optional CA file.
 */
export class HttpTransport {
  readonly baseUrl: string;
  private readonly authorization: string;
  private readonly userAgent: string | null;
  private readonly agent: Agent;

  constructor(options: TransportOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`;
    this.userAgent = options.userAgent ?? null;
    const extra = [...(options.caFile ? [readFileSync(options.caFile, 'utf8')] : []), ...(options.caPem ? [options.caPem] : [])];
    const ca = extra.length > 0 ? [...rootCertificates, ...extra] : undefined;
    this.agent = new Agent({
      connections: options.connections ?? 16,
      keepAliveTimeout: 30_000,
      ...(ca ? { connect: { ca } } : {}),
    });
  }

  /** Sends a request; any status comes back (callers decide), network failures are RemoteError CONNECTION_FAILED. */
  async send(method: Dispatcher.HttpMethod, path: string, options: SendOptions = {}): Promise<Dispatcher.ResponseData> {
    try {
      return await request(`${this.baseUrl}${path}`, {
        method,
        dispatcher: this.agent,
        headers: { authorization: this.authorization, ...(this.userAgent ? { 'user-agent': this.userAgent } : {}), ...options.headers },
        body: options.body ?? null,
        signal: options.signal ?? null,
        headersTimeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        bodyTimeout: Math.max(options.timeoutMs ?? DEFAULT_TIMEOUT_MS, 60_000),
      });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      const message = err instanceof Error ? err.message : String(err);
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      // undici's request() throws the socket's own error (its code is OpenSSL's verify error).
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && UNTRUSTED_CERTIFICATE.has(code)) {
        throw new RemoteError('CERTIFICATE_UNTRUSTED', 0, `the TLS certificate of ${this.baseUrl} is not trusted: ${message}`);
      }
      throw new RemoteError('CONNECTION_FAILED', 0, `cannot reach ${this.baseUrl}: ${cause?.message ?? cause?.code ?? message}`);
    }
  }

  /** Sends and parses a JSON answer; a status outside `ok` becomes a RemoteError from the OCI error body. */
  async json<T>(method: Dispatcher.HttpMethod, path: string, ok: number[], options: SendOptions = {}): Promise<{ status: number; body: T; headers: Dispatcher.ResponseData['headers'] }> {
    const res = await this.send(method, path, options);
    if (!ok.includes(res.statusCode)) throw await errorOf(res, `${method} ${path}`);
    if (res.statusCode === 304 || res.statusCode === 204) {
      await res.body.dump();
      return { status: res.statusCode, body: null as T, headers: res.headers };
    }
    try {
      return { status: res.statusCode, body: (await res.body.json()) as T, headers: res.headers };
    } catch {
      throw new RemoteError('BAD_RESPONSE', res.statusCode, `${method} ${path}: the parent's answer is not JSON`);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** Reads an error answer into a RemoteError (the OCI error JSON when there is one). */
export async function errorOf(res: Dispatcher.ResponseData, what: string): Promise<RemoteError> {
  let text = '';
  try {
    text = await res.body.text();
  } catch {
    // The body is lost; the status still says enough.
  }
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string; detail?: unknown }> };
    const first = parsed.errors?.[0];
    if (first?.code) return new RemoteError(first.code, res.statusCode, first.message ?? first.code, first.detail ?? null);
  } catch {
    // Not OCI JSON.
  }
  return new RemoteError(res.statusCode === 401 ? 'UNAUTHORIZED' : 'BAD_RESPONSE', res.statusCode,
    `${what}: HTTP ${res.statusCode}${text ? ` ${text.slice(0, 200)}` : ''}`);
}

/** A header's single value. */
export function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
