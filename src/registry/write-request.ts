import type { FastifyRequest } from 'fastify';
import type { WriteRequest } from '../core/events.js';

/** Longest Host and User-Agent kept for an event; a client controls both. */
const MAX_FIELD = 512;

/**
 * The request a local write came in, as its repository events carry it (the webhook payload's
 * `request`): the request id the node logs (a UUID, see build-app), the Host, the method and
 * the User-Agent, cut to a bounded length.
 */
export function writeRequestOf(request: FastifyRequest): WriteRequest {
  return {
    id: String(request.id).slice(0, MAX_FIELD),
    host: (request.headers.host ?? '').slice(0, MAX_FIELD),
    method: request.method,
    useragent: (request.headers['user-agent'] ?? '').slice(0, MAX_FIELD),
  };
}
