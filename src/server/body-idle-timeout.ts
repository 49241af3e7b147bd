import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { RegistryError } from '../oci/index.js';
import { httpErrorOf } from '../registry/error-mapping.js';

/**
 * Cuts request bodies that stop arriving: a request whose body has received no byte for
 * `idleMs` is answered 408 `REQUEST_TIMEOUT` (when no answer has started) and its connection is
 * closed. Only silence counts, never the total time: a large upload over a slow but live link
 * keeps going however long it takes (so this is not Node's `requestTimeout`, which would cut it).
 *
 * Bytes are counted on the socket (`bytesRead`), which Node updates even while its HTTP parser
 * consumes the socket directly. Time during which the server itself is not reading (the body's
 * buffer is full because a handler is busy) is not held against the client.
 */
export class BodyIdleTimeout {
  private readonly tickMs: number;

  constructor(
    private readonly idleMs: number,
    private readonly logger: Logger,
  ) {
    this.tickMs = Math.max(10, Math.min(1000, Math.floor(idleMs / 4)));
  }

  attach(server: Server): void {
    server.on('request', (request: IncomingMessage, response: ServerResponse) => this.watch(request, response));
  }

  private watch(request: IncomingMessage, response: ServerResponse): void {
    const headers = request.headers;
    const hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
    if (!hasBody) return;
    const socket = request.socket;
    let seen = socket.bytesRead;
    let lastProgress = performance.now();
    const stop = (): void => clearInterval(timer);
    const timer = setInterval(() => {
      if (request.complete || socket.destroyed) return stop();
      const now = performance.now();
      const read = socket.bytesRead;
      const serverBusy = request.readableLength >= request.readableHighWaterMark;
      if (read !== seen || serverBusy) {
        seen = read;
        lastProgress = now;
        return;
      }
      if (now - lastProgress < this.idleMs) return;
      stop();
      this.expire(request, response);
    }, this.tickMs);
    timer.unref();
    // The request, not the socket: a keep-alive socket carries many requests.
    request.once('close', stop);
  }

  private expire(request: IncomingMessage, response: ServerResponse): void {
    const socket = request.socket;
    this.logger.info({ remoteAddress: socket.remoteAddress, method: request.method, url: request.url?.slice(0, 300) },
      `request body idle for ${this.idleMs} ms: closing the connection`);
    const error = new RegistryError('REQUEST_TIMEOUT', `no byte of the request body arrived for ${this.idleMs / 1000} s`);
    // Destroying the request (not only the socket) makes a handler still reading the body fail
    // with this error and release what it holds: once the response has finished, Node no longer
    // aborts the request when its socket closes.
    if (response.headersSent || response.writableEnded) {
      request.destroy(error);
      return;
    }
    const answer = httpErrorOf(error, this.logger);
    const body = JSON.stringify(answer.body);
    response.writeHead(answer.status, { ...answer.headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    response.end(body, () => request.destroy(error));
  }
}
