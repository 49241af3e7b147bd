import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Counter, Gauge, Histogram } from 'prom-client';
import { routeLabel, UPLOAD_ROUTES } from './route-label.js';

/** The HTTP families, registered by NodeMetrics. */
export interface HttpFamilies {
  requests: Counter<'route' | 'method' | 'code'>;
  duration: Histogram<'route' | 'method'>;
  received: Counter<'route'>;
  sent: Counter<'route'>;
  inFlight: Gauge<'route'>;
  uploadsInFlight: Gauge;
}

/**
 * Counts every request of the app with one fastify hook and one listener, and no code in any
 * handler: `onRequest` notes the route and the request in flight; the response's `close` (which
 * comes after the last byte went out, or when the client went away first) counts it once, by
 * route template, method and status, with its latency and the bytes the socket moved for it.
 *
 * Bytes: a keep-alive connection's requests follow one another, so what a socket read and wrote
 * since the previous request on it closed belongs to this one (its headers and body, and its
 * answer). The kernel may hand a small request whole to the socket before fastify sees it, so a
 * difference taken from `onRequest` would miss it; one taken from the previous close does not.
 *
 * Latency is real elapsed time (fastify's timer), not the node's clock: it measures the
 * machine, not the time a test moves.
 */
export function registerHttpMetrics(app: FastifyInstance, families: HttpFamilies): void {
  /** What each socket had read and written when its last request was counted. */
  const counted = new WeakMap<Socket, { read: number; written: number }>();

  app.addHook('onRequest', (request, reply, done) => {
    const route = routeLabel(request);
    families.inFlight.inc({ route });
    const upload = UPLOAD_ROUTES.has(route);
    if (upload) families.uploadsInFlight.inc();
    reply.raw.once('close', () => finish(request, reply, route, upload));
    done();
  });

  function finish(request: FastifyRequest, reply: FastifyReply, route: string, upload: boolean): void {
    families.inFlight.dec({ route });
    if (upload) families.uploadsInFlight.dec();
    const method = request.method;
    families.requests.inc({ route, method, code: String(reply.raw.statusCode) });
    families.duration.observe({ route, method }, reply.elapsedTime / 1000);
    // A socket destroyed meanwhile still reports what it moved.
    const socket = request.raw.socket;
    const last = counted.get(socket) ?? { read: 0, written: 0 };
    const now = { read: socket.bytesRead, written: socket.bytesWritten };
    counted.set(socket, now);
    families.received.inc({ route }, Math.max(0, now.read - last.read));
    families.sent.inc({ route }, Math.max(0, now.written - last.written));
  }
}
