import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Lets a server shut down without cutting anyone off: at `drain()` idle keep-alive connections
 * are ended, and every other connection is ended as soon as its last response has been written.
 *
 * Node's `closeIdleConnections()` (what fastify's `forceCloseConnections: 'idle'` uses) is not
 * enough: it counts a connection as idle once `res.end()` was called, and destroys it even while
 * the tail of a large streamed body still waits in the socket's write queue, truncating the
 * download of a slow client. `socket.end()` flushes that queue first.
 *
 * A connection whose response finishes during the drain is ended after a short linger, not at
 * once: a client may still be reading that response from its own buffers, and some clients
 * (undici among them) report a keep-alive connection closed under an unread body as an error.
 * A request arriving meanwhile is answered with `Connection: close`, which ends it cleanly.
 */
/** How long a connection may stay open after its last response once draining has begun. */
export const DRAIN_LINGER_MS = 2000;

export class ConnectionTracker {
  private readonly inFlight = new Map<Socket, number>();
  private draining = false;

  attach(server: HttpServer, secure: boolean): void {
    server.on(secure ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.inFlight.set(socket, 0);
      socket.once('close', () => this.inFlight.delete(socket));
    });
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const socket = request.socket;
      this.inFlight.set(socket, (this.inFlight.get(socket) ?? 0) + 1);
      response.once('close', () => {
        const left = (this.inFlight.get(socket) ?? 1) - 1;
        this.inFlight.set(socket, left);
        if (this.draining && left === 0) this.endSoon(socket);
      });
    });
  }

  /** True once `drain()` was called: answers should say `Connection: close`. */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Ends idle connections now and busy ones when their responses are done. */
  drain(): void {
    this.draining = true;
    for (const [socket, count] of this.inFlight) if (count === 0) this.endSoon(socket);
  }

  private endSoon(socket: Socket): void {
    setTimeout(() => {
      if ((this.inFlight.get(socket) ?? 0) === 0) socket.end();
    }, DRAIN_LINGER_MS).unref();
  }
}
