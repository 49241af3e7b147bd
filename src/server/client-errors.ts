import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { rawErrorResponse } from '../registry/errors-reply.js';
import { parserErrorOf } from '../registry/error-mapping.js';

/** How long a connection answered with a parser error may take to close before it is cut. */
const CLOSE_GRACE_MS = 2000;

/**
 * The server's `clientError` handler (fastify's `clientErrorHandler`): a request Node's HTTP
 * parser refuses (bad `Content-Length`, malformed headers or chunked encoding, headers too large
 * or too slow) gets the same OCI error JSON as every other error (docs/errors.md), with
 * `Connection: close`. Nothing is written when the client is gone or when a response on the same
 * connection has already started (a second status line would corrupt it); the connection is
 * closed either way.
 */
export function clientErrorHandler(logger: Logger): (err: Error, socket: Socket) => void {
  const answered = new WeakSet<Socket>();
  return (err, socket) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNRESET' || socket.destroyed || answered.has(socket)) return;
    answered.add(socket);
    const error = parserErrorOf(err);
    logger.debug({ code, remoteAddress: socket.remoteAddress }, `refused a malformed request: ${error.message}`);
    // Node keeps the response in flight on the socket here (not part of its typed API).
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) socket.end(rawErrorResponse(error));
    else socket.destroy();
    // end() waits for the client to close its side; a client that never does is cut.
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  };
}
