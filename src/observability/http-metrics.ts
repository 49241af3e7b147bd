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
  // The series of a route, bound once: prom-client hashes the labels of every unbound call,
  // which would be most of the cost on a fast route (a manifest GET from memory).
  const byRoute = new Map<string, RouteSeries>();
  const seriesOf = (route: string): RouteSeries => {
    let series = byRoute.get(route);
    if (!series) {
      series = {
        inFlight: families.inFlight.labels(route), received: families.received.labels(route), sent: families.sent.labels(route),
        upload: UPLOAD_ROUTES.has(route), byMethod: new Map(),
      };
      byRoute.set(route, series);
    }
    return series;
  };

  app.addHook('onRequest', (request, reply, done) => {
    const route = routeLabel(request);
    const series = seriesOf(route);
    series.inFlight.inc();
    if (series.upload) families.uploadsInFlight.inc();
    reply.raw.once('close', () => finish(request, reply, route, series));
    done();
  });

  function finish(request: FastifyRequest, reply: FastifyReply, route: string, series: RouteSeries): void {
    series.inFlight.dec();
    if (series.upload) families.uploadsInFlight.dec();
    const method = request.method;
    let byMethod = series.byMethod.get(method);
    if (!byMethod) series.byMethod.set(method, (byMethod = { duration: families.duration.labels(route, method), byCode: new Map() }));
    const code = reply.raw.statusCode;
    let requests = byMethod.byCode.get(code);
    if (!requests) byMethod.byCode.set(code, (requests = families.requests.labels(route, method, String(code))));
    requests.inc();
    byMethod.duration.observe(reply.elapsedTime / 1000);
    // A socket destroyed meanwhile still reports what it moved.
    const socket = request.raw.socket;
    const last = counted.get(socket) ?? { read: 0, written: 0 };
    const now = { read: socket.bytesRead, written: socket.bytesWritten };
    counted.set(socket, now);
    series.received.inc(Math.max(0, now.read - last.read));
    series.sent.inc(Math.max(0, now.written - last.written));
  }
}

/** The bound series of one route (and of its methods and status codes, as they come). */
interface RouteSeries {
  inFlight: { inc(): void; dec(): void };
  received: { inc(value: number): void };
  sent: { inc(value: number): void };
  upload: boolean;
  byMethod: Map<string, { duration: { observe(value: number): void }; byCode: Map<number, { inc(): void }> }>;
}
