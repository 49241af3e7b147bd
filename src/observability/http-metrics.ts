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
 * Counts every request of the app with two fastify hooks and one listener, and no code in any
 * handler: `onRequest` notes the route, the socket's byte counters and the request in flight;
 * the response's `close` (which comes after the last byte went out, or when the client went
 * away first) counts it once, by route template, method and status, with its latency and the
 * bytes the exchange moved on the socket (headers and bodies; a keep-alive connection's requests
 * follow one another, so the differences are this request's).
 *
 * Latency is real elapsed time (fastify's timer), not the node's clock: it measures the
 * machine, not the time a test moves.
 */
export function registerHttpMetrics(app: FastifyInstance, families: HttpFamilies): void {
  app.addHook('onRequest', (request, reply, done) => {
    const route = routeLabel(request);
    const socket = request.raw.socket;
    const readAtStart = socket.bytesRead;
    const writtenAtStart = socket.bytesWritten;
    families.inFlight.inc({ route });
    const upload = UPLOAD_ROUTES.has(route);
    if (upload) families.uploadsInFlight.inc();
    reply.raw.once('close', () => finish(request, reply, route, upload, readAtStart, writtenAtStart));
    done();
  });

  function finish(request: FastifyRequest, reply: FastifyReply, route: string, upload: boolean, readAtStart: number, writtenAtStart: number): void {
    families.inFlight.dec({ route });
    if (upload) families.uploadsInFlight.dec();
    const method = request.method;
    families.requests.inc({ route, method, code: String(reply.raw.statusCode) });
    families.duration.observe({ route, method }, reply.elapsedTime / 1000);
    const socket = request.raw.socket;
    // A socket destroyed meanwhile still reports what it moved.
    families.received.inc({ route }, Math.max(0, socket.bytesRead - readAtStart));
    families.sent.inc({ route }, Math.max(0, socket.bytesWritten - writtenAtStart));
  }
}
