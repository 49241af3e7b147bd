import type { NodeConfig } from '../config/node-config.js';
import { buildApp, createLogger, type AppOptions, type OutpostApp } from './build-app.js';

export interface RunningNode extends OutpostApp {
  url: string;
}

/** Builds and starts a node; logs one line when it is ready. */
export async function startNode(config: NodeConfig, options: AppOptions = {}): Promise<RunningNode> {
  const node = await buildApp(config, createLogger(config.logLevel), options);
  await node.app.listen({ host: config.host, port: config.port });
  const address = node.app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `${config.tls ? 'https' : 'http'}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
  node.logger.info({ url, port, dataDir: config.dataDir }, `Outpost listening on ${url}`);
  if (node.agent) {
    try {
      // Activation at the parent: a refusal (bad credentials, another instance) stops the node.
      await node.agent.start();
    } catch (err) {
      await node.close().catch(() => undefined);
      throw err;
    }
    node.logger.info({ parent: config.connection?.parentEndpoint, name: config.connection?.name }, 'connected registry started');
  }
  return { ...node, url };
}

/**
 * Stops the node on SIGTERM/SIGINT: stop accepting, let in-flight requests finish, close the
 * store. A second signal exits at once. SIGHUP reopens the audit log's file.
 */
export function closeOnSignals(node: RunningNode): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (closing) process.exit(1);
    closing = true;
    node.logger.info({ signal }, 'shutting down');
    node.close().then(
      () => process.exit(0),
      (err: unknown) => {
        node.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // logrotate's postrotate: the audit log starts its file afresh (docs/observability.md, "Audit log").
  process.on('SIGHUP', () => node.audit?.reopen());
}
