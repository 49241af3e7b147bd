import type { FastifyReply, FastifyRequest } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { Logger } from 'pino';
import { RegistryError, errorBody } from '../oci/index.js';
import { errorHeaders, httpErrorOf, httpStatusOf } from './error-mapping.js';

/** The one serializer of errors: the answer `httpErrorOf` decides (OCI error JSON, status, headers; no body for HEAD). */
export async function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown, logger: Logger): Promise<void> {
  const answer = httpErrorOf(err, logger);
  if (reply.sent || reply.raw.headersSent) {
    // Too late for a proper answer (a stream failed mid-body): end the connection so the client sees a failure, not a short body.
    reply.raw.destroy();
    return;
  }
  reply.code(answer.status).headers(answer.headers);
  if (request.method === 'HEAD') {
    await reply.header('Content-Length', 0).send();
    return;
  }
  await reply.type('application/json').send(JSON.stringify(answer.body));
}

/**
 * The same OCI error JSON as a whole HTTP/1.1 response, for a socket that has no response
 * object (parser errors). It always closes the connection: after such an error the rest of the
 * byte stream cannot be trusted to start a new request.
 */
export function rawErrorResponse(error: RegistryError): string {
  const body = JSON.stringify(errorBody(error));
  const status = httpStatusOf(error.code);
  const headers: Record<string, string | number> = {
    ...errorHeaders(error),
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  };
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}`);
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${lines.join('\r\n')}\r\n\r\n${body}`;
}
