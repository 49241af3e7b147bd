import net from 'node:net';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';

/** One step of a scripted client: bytes to send, or a pause. */
export type SocketStep = string | Buffer | { pauseMs: number };

export interface SocketExchange {
  /** Everything the server sent until it closed the connection (or the exchange timed out). */
  raw: string;
  /** The first response's status (0 when none arrived). */
  status: number;
  /** Its headers, lower-cased names. */
  headers: Record<string, string>;
  /** Its body (the bytes after the first blank line, as text). */
  body: string;
  /** Did the server close the connection (rather than the exchange timing out)? */
  closedByServer: boolean;
  /** Milliseconds from connecting until the server closed the connection (or the timeout). */
  elapsedMs: number;
}

/**
 * A scripted client on a raw TCP socket, for what no HTTP client sends: malformed or duplicated
 * headers, a body that stalls or trickles. Runs the steps in order (stopping early when the server
 * closes), then waits for the server to close the connection, at most `timeoutMs` in all.
 */
export async function socketExchange(base: string, steps: SocketStep[], timeoutMs = 10_000, options: { ca?: string } = {}): Promise<SocketExchange> {
  const url = new URL(base);
  const secure = url.protocol === 'https:';
  const socket: net.Socket = secure
    ? tls.connect({ port: Number(url.port), host: url.hostname, ...(options.ca ? { ca: options.ca } : {}) })
    : net.connect(Number(url.port), url.hostname);
  const started = performance.now();
  const chunks: Buffer[] = [];
  let closedByServer = false;
  let closedAt = 0;
  const closed = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closedAt = performance.now();
      resolve();
    });
    socket.on('end', () => {
      closedByServer = true;
      socket.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    socket.once(secure ? 'secureConnect' : 'connect', resolve);
    socket.once('error', reject);
  });
  const deadline = started + timeoutMs;
  for (const step of steps) {
    if (socket.destroyed || closedByServer) break;
    if (typeof step === 'object' && !Buffer.isBuffer(step)) await Promise.race([sleep(step.pauseMs), closed]);
    else socket.write(step);
  }
  const left = deadline - performance.now();
  if (left > 0) await Promise.race([closed, sleep(left)]);
  if (!socket.destroyed) socket.destroy();
  const raw = Buffer.concat(chunks).toString('latin1');
  const headEnd = raw.indexOf('\r\n\r\n');
  const head = headEnd === -1 ? raw : raw.slice(0, headEnd);
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    raw,
    status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0),
    headers,
    body: headEnd === -1 ? '' : raw.slice(headEnd + 4),
    closedByServer,
    elapsedMs: (closedAt || performance.now()) - started,
  };
}

/** The first OCI error code of a raw answer's body ('' when the body is not OCI error JSON). */
export function ociCode(exchange: SocketExchange): string {
  try {
    const body = JSON.parse(exchange.body) as { errors?: Array<{ code?: unknown }> };
    return typeof body.errors?.[0]?.code === 'string' ? body.errors[0].code : '';
  } catch {
    return '';
  }
}
