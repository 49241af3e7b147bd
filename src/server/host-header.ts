import type { FastifyInstance } from 'fastify';
import { UntrustedRequestError } from '../registry/http-util.js';

/**
 * RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
 * request message that lacks a Host header field and to any request message that contains more
 * than one Host header field". Node refuses a missing Host itself but keeps only the first of
 * several, so two front ends (a proxy and this node, or the login-server check and a log line)
 * could read different hosts. Runs on every request of every node, before any other hook.
 */
export function refuseRepeatedHost(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const raw = request.raw.rawHeaders;
    let hosts = 0;
    for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'host') hosts += 1;
    if (hosts > 1) {
      throw new UntrustedRequestError('more than one Host header (RFC 9112 §3.2)', { hosts });
    }
  });
}
