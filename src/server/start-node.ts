import type { NodeConfig } from '../config/node-config.js';
import { OUTPOST_VERSION } from '../config/version.js';
import { buildApp, createLogger, type AppOptions, type OutpostApp } from './build-app.js';

export interface RunningNode extends OutpostApp {
  url: string;
}

/** Builds and starts a node; logs one line when it is ready. */
export async function startNode(config: NodeConfig, options: AppOptions = {}): Promise<RunningNode> {
  const node = await buildApp(config, createLogger(config.logLevel, config.logFormat), options);
  // fastify logs one line per address it listens on (every interface on 0.0.0.0): this node says
  // it once, below, with what a person needs (the URL, root or edge, the data folder).
  const level = node.logger.level;
  node.logger.level = 'warn';
  try {
    await node.app.listen({ host: config.host, port: config.port });
  } finally {
    node.logger.level = level;
  }
  const address = node.app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  const url = `${config.tls ? 'https' : 'http'}://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
  const role = config.connection ? `connected registry ${config.connection.name} (parent ${config.connection.parentProtocol}://${config.connection.parentEndpoint})` : 'root';
  node.logger.info({ url, port, dataDir: config.dataDir, version: OUTPOST_VERSION, role: config.connection ? 'connected' : 'root' },
    `Outpost ${OUTPOST_VERSION} listening on ${url} as ${role}, data in ${config.dataDir}`);
  if (node.certificate) announceCertificate(node, config, port);
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
 * --tls-auto: where the CA is, and — the first time, when a person is setting the node up — how
 * each client trusts it (docs/deploy.md, "Trusting the node's CA").
 */
function announceCertificate(node: OutpostApp, config: NodeConfig, port: number): void {
  const { served, prepared } = node.certificate!;
  const caFile = served.caFile;
  if (config.tls?.source !== 'auto' || caFile === null) return;
  const host = config.loginServer ?? `${served.names[0] ?? 'localhost'}:${port}`;
  node.logger.info({ caFile, loginServer: host, names: served.names }, `HTTPS with a certificate from this node's CA ${caFile}: clients trust that file (docs/deploy.md, "TLS")`);
  if (!prepared.caCreated) return;
  process.stderr.write([
    '',
    `Outpost made a private CA for HTTPS: ${caFile}`,
    `Trust it on every machine that pulls from ${host} (as root):`,
    `  docker:      mkdir -p /etc/docker/certs.d/${host} && cp ${caFile} /etc/docker/certs.d/${host}/ca.crt`,
    `  podman, skopeo, buildah (containers-certs.d):`,
    `               mkdir -p /etc/containers/certs.d/${host} && cp ${caFile} /etc/containers/certs.d/${host}/ca.crt`,
    `  containerd:  mkdir -p /etc/containerd/certs.d/${host} && cp ${caFile} /etc/containerd/certs.d/${host}/ca.crt`,
    `               and /etc/containerd/certs.d/${host}/hosts.toml:`,
    `                 server = "https://${host}"`,
    `                 [host."https://${host}"]`,
    `                   ca = "/etc/containerd/certs.d/${host}/ca.crt"`,
    `  an Outpost edge below this root: its get-settings carry the CA (OUTPOST_PARENT_CA_CERT),`,
    `               or: outpost connected-registry get-settings … --ca-file-out parent-ca.crt, then serve --parent-ca parent-ca.crt`,
    '',
  ].join('\n'));
}

/**
 * Stops the node on SIGTERM/SIGINT: stop accepting, let in-flight requests finish, close the
 * store. A second signal exits at once. SIGHUP reloads the certificate (reloadOnHangup) and
 * reopens the audit log's file.
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
  reloadOnHangup(node);
}

/** SIGHUP: reopen the audit log's file; read the certificate files again and serve them to new connections (open ones keep theirs). */
export function reloadOnHangup(node: OutpostApp): () => void {
  const onHangup = (): void => {
    // logrotate's postrotate: the audit log starts its file afresh (docs/observability.md, "Audit log").
    node.audit?.reopen();
    if (!node.certificate) {
      node.logger.info('SIGHUP: plain HTTP, no certificate to reload');
      return;
    }
    const { served } = node.certificate;
    void served.renewIfDue().then(() => served.reload('SIGHUP'));
  };
  process.on('SIGHUP', onHangup);
  return () => process.off('SIGHUP', onHangup);
}
