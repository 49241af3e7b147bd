import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { routeLabel, UPLOAD_ROUTES } from './route-label.js';

/** Latency buckets (seconds): a manifest from memory takes well under a millisecond, a large blob minutes. */
export const DURATION_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** One method of one route: its requests by status, and their latencies. */
class MethodStats {
  count = 0;
  sum = 0;
  /** Observations per bucket (not cumulative); the last one is past every bound (+Inf). */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  readonly codes = new Map<number, number>();
}

/** One route's counts. */
class RouteStats {
  inFlight = 0;
  received = 0;
  sent = 0;
  readonly methods = new Map<string, MethodStats>();
  constructor(readonly upload: boolean) {}
}

/**
 * Counts every request of the app with one fastify hook and one listener, and no code in any
 * handler: `onRequest` notes the route and the request in flight; the response's `close` (which
 * comes after the last byte went out, or when the client went away first) counts it once, by
 * route template, method and status, with its latency and the bytes the socket moved for it.
 *
 * The hot path only adds to plain numbers (a few map lookups and additions per request): the
 * prom-client families are filled from them when Prometheus scrapes. prom-client's own `inc` and
 * `observe` validate and hash the labels on every call, which on a fast route (a manifest GET
 * from memory) cost more than the route itself.
 *
 * Bytes: a keep-alive connection's requests follow one another, so what a socket read and wrote
 * since the previous request on it closed belongs to this one (its headers and body, and its
 * answer). The kernel may hand a small request whole to the socket before fastify sees it, so a
 * difference taken from `onRequest` would miss it; one taken from the previous close does not.
 *
 * Latency is real elapsed time (fastify's timer), not the node's clock: it measures the
 * machine, not the time a test moves.
 */
export function registerHttpMetrics(app: FastifyInstance, registry: Registry): void {
  const routes = new Map<string, RouteStats>();
  /** What each socket had read and written when its last request was counted (one object per connection, not per request). */
  const counted = new WeakMap<Socket, { read: number; written: number }>();
  let uploadsInFlight = 0;

  app.addHook('onRequest', (request, reply, done) => {
    const route = routeLabel(request);
    let stats = routes.get(route);
    if (!stats) routes.set(route, (stats = new RouteStats(UPLOAD_ROUTES.has(route))));
    const onRoute = stats;
    onRoute.inFlight += 1;
    if (onRoute.upload) uploadsInFlight += 1;
    // Nothing is added to Node's request, response or socket objects: a property they were not
    // made with changes their shape, which measurably slowed every request (bench metrics-cost).
    reply.raw.on('close', () => finish(request, reply, onRoute));
    done();
  });

  function finish(request: FastifyRequest, reply: FastifyReply, stats: RouteStats): void {
    stats.inFlight -= 1;
    if (stats.upload) uploadsInFlight -= 1;
    let method = stats.methods.get(request.method);
    if (!method) stats.methods.set(request.method, (method = new MethodStats()));
    const code = reply.raw.statusCode;
    method.codes.set(code, (method.codes.get(code) ?? 0) + 1);
    const seconds = reply.elapsedTime / 1000;
    method.count += 1;
    method.sum += seconds;
    let bucket = 0;
    while (bucket < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[bucket]!) bucket += 1;
    method.buckets[bucket]! += 1;
    // A socket destroyed meanwhile still reports what it moved.
    const socket = request.raw.socket;
    let mark = counted.get(socket);
    if (!mark) counted.set(socket, (mark = { read: 0, written: 0 }));
    const read = socket.bytesRead;
    const written = socket.bytesWritten;
    stats.received += Math.max(0, read - mark.read);
    stats.sent += Math.max(0, written - mark.written);
    mark.read = read;
    mark.written = written;
  }

  const registers = [registry];
  new Counter({
    name: 'outpost_http_requests_total', help: 'HTTP requests answered, by route template, method and status code.',
    labelNames: ['route', 'method', 'code'] as const, registers,
    collect() {
      this.reset();
      for (const [route, stats] of routes) {
        for (const [method, m] of stats.methods) for (const [code, n] of m.codes) this.inc({ route, method, code: String(code) }, n);
      }
    },
  });
  new Counter({
    name: 'outpost_http_received_bytes_total', help: 'Bytes received on the socket for requests (headers and bodies), by route template.', labelNames: ['route'] as const, registers,
    collect() {
      this.reset();
      for (const [route, stats] of routes) this.inc({ route }, stats.received);
    },
  });
  new Counter({
    name: 'outpost_http_sent_bytes_total', help: 'Bytes sent on the socket for answers (headers and bodies), by route template.', labelNames: ['route'] as const, registers,
    collect() {
      this.reset();
      for (const [route, stats] of routes) this.inc({ route }, stats.sent);
    },
  });
  new Gauge({
    name: 'outpost_http_requests_in_flight', help: 'Requests being served now, by route template.', labelNames: ['route'] as const, registers,
    collect() {
      for (const [route, stats] of routes) this.set({ route }, stats.inFlight);
    },
  });
  new Gauge({
    name: 'outpost_uploads_in_flight', help: 'Blob upload requests (POST, PATCH, PUT of upload sessions) being received now.', registers,
    collect() {
      this.set(uploadsInFlight);
    },
  });
  new DurationHistogram(routes, registers);
}

/** The latency histogram, exported from the plain counts at each scrape (prom-client has no way to set a histogram's buckets). */
class DurationHistogram extends Histogram<'route' | 'method'> {
  constructor(private readonly routes: Map<string, RouteStats>, registers: Registry[]) {
    super({
      name: 'outpost_http_request_duration_seconds', help: 'Time from the request to the last byte of the answer, by route template and method.',
      labelNames: ['route', 'method'] as const, buckets: [...DURATION_BUCKETS], registers,
    });
  }

  /** What the registry prints: cumulative buckets, sum and count per route and method. */
  async getForPromString(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> }> {
    const name = 'outpost_http_request_duration_seconds';
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = [];
    for (const [route, stats] of this.routes) {
      for (const [method, m] of stats.methods) {
        let cumulative = 0;
        DURATION_BUCKETS.forEach((le, i) => {
          cumulative += m.buckets[i]!;
          values.push({ metricName: `${name}_bucket`, labels: { route, method, le }, value: cumulative });
        });
        values.push({ metricName: `${name}_bucket`, labels: { route, method, le: '+Inf' }, value: m.count });
        values.push({ metricName: `${name}_sum`, labels: { route, method }, value: m.sum });
        values.push({ metricName: `${name}_count`, labels: { route, method }, value: m.count });
      }
    }
    return { name, help: 'Time from the request to the last byte of the answer, by route template and method.', type: 'histogram', aggregator: 'sum', values };
  }
}
