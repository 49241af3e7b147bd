import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import type { NodeConfig, LogLevel } from '../config/node-config.js';
import { FilesystemDriver, MemoryDriver, DriverBlobStore, DriverUploadStore } from '../storage/index.js';
import type { StorageDriver } from '../storage/driver.js';
import { SqliteMetadataStore } from '../metadata/index.js';
import type { MetadataStore } from '../metadata/types.js';
import { ManifestService } from '../registry/manifest-service.js';
import { registerV2Routes } from '../registry/v2-routes.js';
import { sendError } from '../registry/errors-reply.js';
import { RegistryError } from '../oci/index.js';
import { ConnectionTracker } from './connection-tracker.js';
import type { IdentityLimits, IdentityStore } from '../metadata/index.js';
import { AccessGuard, Authenticator, JwtSigner, LoginThrottle, loadAdminPassword, registerTokenRoutes, type LoginThrottleOptions } from '../auth/index.js';
import { registerManagementRoutes } from '../management/management-routes.js';
import { registerConnectedRegistryRoutes } from '../management/connected-registry-routes.js';
import { ConfigSignal } from '../gateway/config-signal.js';
import { registerGatewayRoutes, type GatewayHandle } from '../gateway/gateway-routes.js';

const PINO_LEVELS: Record<LogLevel, LevelWithSilent> = {
  Debug: 'debug',
  Information: 'info',
  Warning: 'warn',
  Error: 'error',
  None: 'silent',
};

/** Upload sessions and temporary blob files untouched this long are removed. */
const STALE_UPLOAD_MS = 24 * 60 * 60 * 1000;

export interface OutpostApp {
  app: FastifyInstance;
  logger: Logger;
  metadata: MetadataStore;
  /** Tokens and scope maps (on the metadata database). */
  identities: IdentityStore;
  /** Aborted when the node shuts down; background work listens to it. */
  shutdown: AbortController;
  /** Raised after every successful management write; the sync agent raises it after applying a new config from its parent. */
  configSignal: ConfigSignal;
  /** The sync gateway this node serves its direct children (prune on demand). */
  gateway: GatewayHandle;
  close(): Promise<void>;
}

/** Knobs tests turn (lower limits, a faster throttle, short-lived tokens); defaults otherwise. */
export interface AppOptions {
  identityLimits?: Partial<IdentityLimits>;
  loginThrottle?: LoginThrottleOptions;
  accessTokenTtlSeconds?: number;
  /** Connected registries per root (50 unless lowered for tests). */
  connectedRegistryLimit?: number;
  /** Milliseconds since the epoch for the gateway and the connected-registry API (tests move it); Date.now by default. */
  clock?: () => number;
  /** This node's connected-registry name on a connected node (its gateway serves that name's children); null/absent on the root. */
  selfName?: string | null;
}

export function createLogger(level: LogLevel): Logger {
  return pino({ level: PINO_LEVELS[level], base: { service: 'outpost' } });
}

/** The composition root (CONVENTIONS.md): builds every part of a node from its config and wires them. */
export async function buildApp(config: NodeConfig, logger: Logger = createLogger(config.logLevel), options: AppOptions = {}): Promise<OutpostApp> {
  await mkdir(config.dataDir, { recursive: true });
  const driver: StorageDriver = config.storage === 'memory' ? new MemoryDriver() : new FilesystemDriver(join(config.dataDir, 'storage'));
  const blobs = new DriverBlobStore(driver);
  const uploads = new DriverUploadStore(driver, blobs);
  const metadata = await SqliteMetadataStore.open(join(config.dataDir, 'metadata.db'), {
    ...(options.identityLimits ? { identityLimits: options.identityLimits } : {}),
    ...(options.connectedRegistryLimit !== undefined ? { connectedRegistryLimit: options.connectedRegistryLimit } : {}),
  });
  const authenticator = new Authenticator({
    identities: metadata.identity,
    adminPassword: await loadAdminPassword(config.dataDir, config.adminPassword, logger),
    throttle: new LoginThrottle(options.loginThrottle),
    anonymousPull: config.anonymousPull,
  });
  const signer = await JwtSigner.open(config.dataDir);
  const guard = new AccessGuard(authenticator, signer);
  const manifests = new ManifestService(blobs, metadata);
  const shutdown = new AbortController();
  const clock = options.clock ?? Date.now;

  const https = config.tls
    ? { key: await readFile(config.tls.keyFile), cert: await readFile(config.tls.certFile) }
    : null;
  const app = Fastify({
    loggerInstance: logger,
    // Per-request lines only at Debug: at Information a busy registry would log more than it serves.
    logController: new LogController({ disableRequestLogging: config.logLevel !== 'Debug' }),
    exposeHeadRoutes: false,
    // Repository names with several levels and digests make long paths; the spec allows 255-char names.
    routerOptions: { maxParamLength: 1024 },
    bodyLimit: 1024 * 1024,
    keepAliveTimeout: 65_000,
    // Shutdown is ConnectionTracker's job: fastify's 'idle' mode can truncate a slow download.
    forceCloseConnections: false,
    // Errors fastify raises before routing (a malformed URL, a bad Content-Type) get OCI JSON too.
    frameworkErrors: (err, request, reply) => {
      void sendError(request, reply, err, logger);
    },
    ...(https ? { https } : {}),
  }) as unknown as FastifyInstance;
  const connections = new ConnectionTracker();
  connections.attach(app.server, https !== null);

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    await metadata.lastChangeSeq();
    return { status: 'ready' };
  });
  // While shutting down, answers tell clients not to reuse the connection.
  app.addHook('onSend', async (_request, reply) => {
    if (connections.isDraining) reply.header('Connection', 'close');
  });
  // gateway: a successful management write may change a child's config; its long-poll wakes and recomputes the ETag.
  const configSignal = new ConfigSignal();
  app.addHook('onResponse', async (request, reply) => {
    if (request.method !== 'GET' && request.method !== 'HEAD' && request.url.startsWith('/mgmt/') && reply.statusCode < 400) configSignal.notify();
  });
  // Set before any plugin is registered: encapsulated plugins inherit the handlers present then.
  app.setNotFoundHandler(async (request, reply) => {
    await sendError(request, reply, new RegistryError('NOT_FOUND', 'no such endpoint', { path: request.url.slice(0, 300) }), logger);
  });
  app.setErrorHandler(async (err, request, reply) => {
    await sendError(request, reply, err, logger);
  });
  await registerV2Routes(app, { blobs, uploads, metadata, manifests, logger, authorize: guard.authorizeV2 });
  await registerTokenRoutes(app, { authenticator, signer, ...(options.accessTokenTtlSeconds ? { accessTtlSeconds: options.accessTokenTtlSeconds } : {}) });
  await registerManagementRoutes(app, { identities: metadata.identity, metadata, connectedRegistries: metadata.connectedRegistries, guard });
  await registerConnectedRegistryRoutes(app, {
    identities: metadata.identity, connectedRegistries: metadata.connectedRegistries, guard, clock,
    ...(config.loginServer !== null ? { loginServer: config.loginServer } : {}),
  });
  // gateway: every node serves its direct children; a connected node never prunes its unpushed outbox.
  const selfName = options.selfName ?? null;
  const gateway = await registerGatewayRoutes(app, {
    metadata, identities: metadata.identity, connectedRegistries: metadata.connectedRegistries, guard, selfName, clock, configSignal, logger,
    shutdown: shutdown.signal, ...(selfName !== null ? { outbox: metadata } : {}),
  });

  // Leftovers of interrupted uploads never block anything (unique names); this only frees their space.
  const purge = setInterval(() => {
    Promise.all([uploads.purgeStale(STALE_UPLOAD_MS), blobs.purgeTemp(STALE_UPLOAD_MS)]).catch((err: unknown) =>
      logger.warn({ err }, 'purging stale upload data failed'),
    );
  }, 60 * 60 * 1000);
  purge.unref();
  shutdown.signal.addEventListener('abort', () => clearInterval(purge));

  return {
    app,
    logger,
    metadata,
    identities: metadata.identity,
    shutdown,
    configSignal,
    gateway,
    async close() {
      shutdown.abort();
      // Requests in flight finish; each keep-alive connection is closed once it goes idle.
      connections.drain();
      await app.close();
      await metadata.close();
    },
  };
}
