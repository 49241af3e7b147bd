import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { NodeMetrics } from './node-metrics.js';

/**
 * The metrics listener (`serve --metrics-listen host:port`): a plain HTTP server of its own,
 * apart from the registry's port, that answers `GET /metrics` with the Prometheus text format and
 * 404 to anything else. No authentication, like distribution's debug address: bind it to a
 * private address (docs/observability.md).
 */
export class MetricsServer {
  private constructor(private readonly server: Server) {}

  static async start(metrics: NodeMetrics, listen: { host: string; port: number }, logger: Logger): Promise<MetricsServer> {
    const server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
        response.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found: the metrics are at GET /metrics\n');
        return;
      }
      metrics.render().then(
        (text) => {
          response.writeHead(200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' });
          response.end(request.method === 'HEAD' ? undefined : text);
        },
        (err: unknown) => {
          logger.warn({ err }, 'collecting the metrics failed');
          response.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end('collecting the metrics failed\n');
        },
      );
    });
    // A scraper holds its connection open between scrapes; closing the node must not wait for it.
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new MetricsServer(server);
  }

  /** `http://host:port` of the listener (the real port when it was 0). */
  get url(): string {
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
