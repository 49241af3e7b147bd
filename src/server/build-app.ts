import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { ConfigError, type NodeConfig, type LogLevel } from '../config/node-config.js';
import { OUTPOST_VERSION } from '../config/version.js';
import { BlobGate, createStorageDriver, DriverBlobStore, DriverUploadStore, StorageDriverSpecError, type StorageDriver } from '../storage/index.js';
import { SYNC_STATE_KEYS, SqliteMetadataStore } from '../metadata/index.js';
import type { MetadataStore } from '../metadata/types.js';
import { ManifestService } from '../registry/manifest-service.js';
import { RegistryWriter } from '../registry/registry-writer.js';
import { registerV2Routes } from '../registry/v2-routes.js';
import { sendError } from '../registry/errors-reply.js';
import { RegistryError } from '../oci/index.js';
import { ConnectionTracker } from './connection-tracker.js';
import { clientErrorHandler } from './client-errors.js';
import { refuseRepeatedHost } from './host-header.js';
import { BodyIdleTimeout } from './body-idle-timeout.js';
import type { IdentityLimits, IdentityStore } from '../metadata/index.js';
import { AccessGuard, Authenticator, JwtSigner, LoginThrottle, loadAdminPassword, registerTokenRoutes, type LoginThrottleOptions } from '../auth/index.js';
import { registerManagementRoutes } from '../management/management-routes.js';
import { registerConnectedRegistryRoutes } from '../management/connected-registry-routes.js';
import { registerIdentityRoutes } from '../management/identity-routes.js';
import { ConnectedRegistryService } from '../management/connected-registry-service.js';
import { TokenService } from '../management/token-service.js';
import { ScopeMapService } from '../management/scope-map-service.js';
import { InProcessLock } from '../management/workflow-lock.js';
import { registerGatewayRoutes, type GatewayHandle } from '../gateway/gateway-routes.js';
import { registerGcRoutes } from '../management/gc-routes.js';
import { GarbageCollector } from '../lifecycle/garbage-collector.js';
import type { GcReport } from '../core/gc-report.js';
import { hostname } from 'node:os';
import { EdgePolicy } from '../sync/edge-policy.js';
import { SyncAgent } from '../sync/sync-agent.js';
import { httpParentLink } from '../sync/parent-link.js';
import { systemClock, type Clock } from '../core/clock.js';
import { EventBus, REPOSITORY_EVENT_TYPES } from '../core/events.js';
import { JobRunner, type JobSchedule } from '../core/jobs.js';
import type { LoginServerDoc } from '../client/gateway-protocol.js';

const PINO_LEVELS: Record<LogLevel, LevelWithSilent> = {
  Debug: 'debug',
  Information: 'info',
  Warning: 'warn',
  Error: 'error',
  None: 'silent',
};

/** Upload sessions untouched this long are removed (docs/api.md, "Upload sessions"), checked every PURGE_EVERY_MS. */
const STALE_SESSION_MS = 60 * 60 * 1000;
/** Temporary blob files of a running node older than this are removed; at start all of them go. */
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;
const PURGE_EVERY_MS = 10 * 60 * 1000;
/** The change log is pruned this often (docs/architecture.md, "Message TTL and pruning"). */
const PRUNE_EVERY_MS = 60 * 60 * 1000;

export interface OutpostApp {
  app: FastifyInstance;
  logger: Logger;
  metadata: MetadataStore;
  /** Tokens and scope maps (on the metadata database). */
  identities: IdentityStore;
  /** Aborted when the node shuts down; background work listens to it. */
  shutdown: AbortController;
  /** The sync gateway this node serves its direct children (its prune runs as the `change-log-prune` job). */
  gateway: GatewayHandle;
  /** The sync agent of a connected node (started by startNode once the node listens); null on the root. */
  agent: SyncAgent | null;
  /** Typed domain events, published after each commit (docs/architecture.md, "Seams"). */
  events: EventBus;
  /** Background work of the node, on its clock. */
  jobs: JobRunner;
  /** The node's one clock. */
  clock: Clock;
  close(): Promise<void>;
}

/** Knobs tests turn (lower limits, a faster throttle, short-lived tokens); defaults otherwise. */
export interface AppOptions {
  identityLimits?: Partial<IdentityLimits>;
  loginThrottle?: LoginThrottleOptions;
  accessTokenTtlSeconds?: number;
  /** Connected registries per root (50 unless lowered for tests). */
  connectedRegistryLimit?: number;
  /**
   * The node's one clock: every part that reads the time or waits takes it (auth, storage,
   * metadata, gateway, management, sync, background jobs). The system clock by default; tests
   * pass a ManualClock to move time through windows, TTLs and expiries.
   */
  clock?: Clock;
  /** This node's connected-registry name on a connected node (its gateway serves that name's children); null/absent on the root. */
  selfName?: string | null;
  /** Open upload sessions per caller (1000 unless lowered for tests). */
  uploadSessionsPerCaller?: number;
  /** Longest long-poll the sync agent asks of its parent (seconds). */
  syncPollSeconds?: number;
  heartbeatSeconds?: number;
  /** A request body that receives no byte for this long is answered 408 and closed (60 s). */
  bodyIdleTimeoutMs?: number;
  /** Request headers must be complete within this long (60 s). */
  headersTimeoutMs?: number;
  /** Called for every route the app registers (method and URL), before the app is ready: the authorization matrix enumerates routes with it. */
  onRoute?: (route: { method: string; url: string }) => void;
}

/** Default for AppOptions.bodyIdleTimeoutMs and headersTimeoutMs. */
const HTTP_IDLE_MS = 60_000;

export function createLogger(level: LogLevel): Logger {
  return pino({ level: PINO_LEVELS[level], base: { service: 'outpost' } });
}

/** The composition root: builds the parts of a node from its config and passes each its dependencies (no module-level singletons). */
export async function buildApp(config: NodeConfig, logger: Logger = createLogger(config.logLevel), options: AppOptions = {}): Promise<OutpostApp> {
  // The node's one clock (docs/architecture.md, "Time"): everything below takes it from here.
  const clock: Clock = options.clock ?? systemClock;
  const now = (): number => clock.now();
  await mkdir(config.dataDir, { recursive: true });
  const driver = storageDriverOf(config, clock);
  const blobs = new DriverBlobStore(driver, { clock });
  const uploads = new DriverUploadStore(driver, blobs, {
    clock, ...(options.uploadSessionsPerCaller !== undefined ? { maxSessionsPerOwner: options.uploadSessionsPerCaller } : {}),
  });
  // Before the node listens, no put can be running: every temporary file is a crash's leftover
  // (one process per data folder, docs/api.md). Abandoned sessions go by the same rule as later.
  // A disk that refuses (read-only) must not keep the node from serving reads: warn and go on.
  await blobs.clearTemp().then(() => uploads.purgeStale(STALE_SESSION_MS)).catch((err: unknown) =>
    logger.warn({ err }, 'removing leftover upload data at start failed'));
  const metadata = await SqliteMetadataStore.open(join(config.dataDir, 'metadata.db'), {
    ...(options.identityLimits ? { identityLimits: options.identityLimits } : {}),
    ...(options.connectedRegistryLimit !== undefined ? { connectedRegistryLimit: options.connectedRegistryLimit } : {}),
    clock: now,
  });
  // A connected node (docs/architecture.md, "Connected node and sync agent"): its policy comes from its parent's config.
  const edge = config.connection ? new EdgePolicy() : null;
  const signer = await JwtSigner.open(config.dataDir, { clock });
  const authenticator = new Authenticator({
    ...(edge ? { tokenUsable: (name: string) => edge.tokenUsable(name) } : {}),
    identities: metadata.identity,
    adminPassword: await loadAdminPassword(config.dataDir, config.adminPassword, logger),
    throttle: new LoginThrottle({ clock, ...options.loginThrottle }),
    anonymousPull: config.anonymousPull,
    credentialKey: signer.credentialKey,
    clock,
  });
  const guard = new AccessGuard(authenticator, signer);
  const shutdown = new AbortController();
  const events = new EventBus((err, event) => logger.warn({ err, event: event.type }, 'an event listener failed'));
  const jobs = new JobRunner(clock, logger);
  // Writes hold the blob bytes they rely on until their metadata commits; garbage collection claims
  // what it deletes through the same gate (docs/architecture.md, "Garbage collection").
  const gate = new BlobGate();
  // The one write pipeline of the repositories: /v2, the management API and the sync agent write through it.
  const writer = new RegistryWriter(metadata, events, { blobs, gate });
  const manifests = new ManifestService(blobs, metadata, writer, gate);

  // Slow clients (docs/security.md): headers must arrive within headersTimeout (checked every
  // connectionsCheckingInterval). No total request timeout (requestTimeout 0): it would cut a large
  // upload over a slow link; a body that stops arriving is cut by BodyIdleTimeout instead.
  const headersTimeout = options.headersTimeoutMs ?? HTTP_IDLE_MS;
  const serverOptions = {
    headersTimeout,
    requestTimeout: 0,
    connectionsCheckingInterval: Math.max(10, Math.min(5000, Math.floor(headersTimeout / 4))),
  };
  const https = config.tls
    ? { key: await readFile(config.tls.keyFile), cert: await readFile(config.tls.certFile), ...serverOptions }
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
    // Errors of Node's HTTP parser (before any route) get OCI JSON too.
    clientErrorHandler: clientErrorHandler(logger),
    ...(https ? { https } : { http: serverOptions }),
  }) as unknown as FastifyInstance;
  const connections = new ConnectionTracker();
  connections.attach(app.server, https !== null);
  new BodyIdleTimeout(options.bodyIdleTimeoutMs ?? HTTP_IDLE_MS, logger).attach(app.server);
  if (options.onRoute) {
    const onRoute = options.onRoute;
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) onRoute({ method, url: route.url });
    });
  }
  refuseRepeatedHost(app);

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    await metadata.lastChangeSeq();
    return { status: 'ready' };
  });
  // While shutting down, answers tell clients not to reuse the connection.
  app.addHook('onSend', async (_request, reply) => {
    if (connections.isDraining) reply.header('Connection', 'close');
  });
  // Set before any plugin is registered: encapsulated plugins inherit the handlers present then.
  app.setNotFoundHandler(async (request, reply) => {
    await sendError(request, reply, new RegistryError('NOT_FOUND', 'no such endpoint', { path: request.url.slice(0, 300) }), logger);
  });
  app.setErrorHandler(async (err, request, reply) => {
    await sendError(request, reply, err, logger);
  });
  if (edge && config.loginServer !== null) refuseOtherHosts(app, config.loginServer);
  // On a connected node its policy is the /v2 write rule (mode and sync scope, sync/edge-policy.ts).
  await registerV2Routes(app, { blobs, uploads, gate, metadata, manifests, writer, logger, authorize: guard.authorizeV2, ...(edge ? { writeRule: edge } : {}) });
  await registerTokenRoutes(app, { authenticator, signer, ...(options.accessTokenTtlSeconds ? { accessTtlSeconds: options.accessTokenTtlSeconds } : {}) });
  // Garbage collection (docs/operations.md): the `gc` job on the root's own schedule
  // (--gc-schedule) or, on a connected node, its resource's; `gc-dry-run` only when asked. The
  // collector runs one collection at a time, whoever asks.
  const collector = new GarbageCollector({ metadata, blobs, uploads, gate, clock, graceMs: config.gcGraceMs, logger, events });
  const selfName = options.selfName ?? config.connection?.name ?? null;
  const ownGcSchedule = async (): Promise<JobSchedule> => {
    const self = selfName === null ? null : await metadata.connectedRegistries.getConnectedRegistry(selfName);
    return self?.garbageCollection.enabled ? { cron: self.garbageCollection.schedule } : null;
  };
  jobs.add({
    name: 'gc',
    schedule: edge === null ? (config.gcSchedule === null ? null : { cron: config.gcSchedule }) : await ownGcSchedule(),
    run: (signal) => collector.run({ signal }),
  });
  jobs.add({ name: 'gc-dry-run', schedule: null, run: (signal) => collector.run({ dryRun: true, signal }) });
  const collectGarbage = (dryRun: boolean): Promise<GcReport> => jobs.runNow<GcReport>(dryRun ? 'gc-dry-run' : 'gc');
  if (edge !== null) {
    // A schedule changed at the root applies without a restart.
    events.subscribe(['connected-registry-config-changed'], () => {
      void ownGcSchedule().then((schedule) => jobs.reschedule('gc', schedule)).catch((err: unknown) =>
        logger.warn({ err }, 'the garbage collection schedule from the parent cannot be used'));
    });
    // The last report goes up in every heartbeat, also after a restart.
    events.subscribe(['garbage-collected'], (event) => {
      void metadata.setState(SYNC_STATE_KEYS.gcLastReport, JSON.stringify(event.report)).catch((err: unknown) =>
        logger.warn({ err }, 'storing the garbage collection report failed'));
    });
  }

  // The management plane lives on the root only; a connected node's config comes from its parent.
  // Its services announce every committed change on the bus (config and credential changes).
  if (edge === null) {
    const services = { identities: metadata.identity, connectedRegistries: metadata.connectedRegistries, events, clock, lock: new InProcessLock() };
    await registerIdentityRoutes(app, { tokens: new TokenService(services), scopeMaps: new ScopeMapService(services), guard });
    await registerManagementRoutes(app, { metadata, writer, guard });
    const connectedRegistries = new ConnectedRegistryService({ ...services, ...(config.loginServer !== null ? { loginServer: config.loginServer } : {}) });
    await registerConnectedRegistryRoutes(app, { service: connectedRegistries, guard, clock });
    await registerGcRoutes(app, { guard, collect: collectGarbage });
  }
  // gateway: every node serves its direct children; a connected node never prunes its unpushed outbox.
  const gateway = await registerGatewayRoutes(app, {
    metadata, identities: metadata.identity, connectedRegistries: metadata.connectedRegistries, guard, selfName, clock: now, events, logger,
    shutdown: shutdown.signal, ...(selfName !== null ? { outbox: metadata } : {}),
  });
  jobs.add({ name: 'change-log-prune', schedule: { everyMs: PRUNE_EVERY_MS }, run: () => gateway.prune() });

  const syncLogger = logger.child({ component: 'sync' });
  const connection = config.connection;
  const agent = edge === null || connection === null ? null : new SyncAgent({
    selfName: connection.name,
    parent: httpParentLink({
      tokenName: connection.tokenName, tokenPassword: connection.tokenPassword, parentEndpoint: connection.parentEndpoint,
      parentProtocol: connection.parentProtocol, caFile: config.parentCaFile,
    }, connection.name),
    metadata,
    writer,
    identities: metadata.identity,
    connectedRegistries: metadata.connectedRegistries,
    blobs,
    policy: edge,
    logger: syncLogger,
    version: OUTPOST_VERSION,
    loginServer: () => loginServerOf(config, app),
    collectGarbage,
    onConfigApplied: (document) => {
      events.publish({ type: 'connected-registry-config-changed', name: null });
      // The connected registry's log level from the root (children made later inherit it).
      logger.level = PINO_LEVELS[document.self.logging.logLevel];
      syncLogger.level = logger.level;
    },
    clock,
    ...(options.syncPollSeconds !== undefined ? { pollSeconds: options.syncPollSeconds } : {}),
    ...(options.heartbeatSeconds !== undefined ? { heartbeatSeconds: options.heartbeatSeconds } : {}),
  });
  // A local client's write that appended a change (the outbox is those) wakes the outbox drain at once.
  if (agent) events.subscribe(REPOSITORY_EVENT_TYPES, (event) => {
    if (event.origin === 'local' && event.seq !== null) agent.localWrite();
  });

  // Leftovers of interrupted uploads never block anything (unique names); this frees their space
  // and, for sessions, their owner's place under the per-caller bound.
  jobs.add({
    name: 'upload-purge',
    schedule: { everyMs: PURGE_EVERY_MS },
    run: async (signal) => {
      const [sessions, temporary] = await Promise.all([uploads.purgeStale(STALE_SESSION_MS, { signal }), blobs.purgeTemp(STALE_TEMP_MS, { signal })]);
      return { sessions, temporary };
    },
  });
  jobs.start();

  return {
    app,
    logger,
    metadata,
    identities: metadata.identity,
    shutdown,
    gateway,
    agent,
    events,
    jobs,
    clock,
    async close() {
      shutdown.abort();
      await jobs.stop();
      await agent?.stop();
      // Requests in flight finish; each keep-alive connection is closed once it goes idle.
      connections.drain();
      await app.close();
      await metadata.close();
    },
  };
}

/** The node's storage driver, by the name in its config; a name no driver takes is a config error. */
function storageDriverOf(config: NodeConfig, clock: Clock): StorageDriver {
  try {
    return createStorageDriver(config.storage, { clock, root: join(config.dataDir, 'storage') });
  } catch (err) {
    if (err instanceof StorageDriverSpecError) throw new ConfigError(`OUTPOST_STORAGE: ${err.message}`);
    throw err;
  }
}

/** The address this node's clients and children use: --login-server, else its listen address. */
function loginServerOf(config: NodeConfig, app: FastifyInstance): LoginServerDoc | null {
  const tls = { status: config.tls ? 'Enabled' as const : 'Disabled' as const };
  if (config.loginServer !== null) return { host: config.loginServer, tls };
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) return null;
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  const host = wildcard ? hostname() : config.host;
  return { host: `${host.includes(':') ? `[${host}]` : host}:${address.port}`, tls };
}

/** ACR_REGISTRY_LOGIN_SERVER: "the connected registry only accepts requests made to this login server value". */
function refuseOtherHosts(app: FastifyInstance, loginServer: string): void {
  const allowed = loginServer.toLowerCase();
  app.addHook('onRequest', async (request) => {
    if (request.url === '/healthz' || request.url === '/readyz') return;
    const host = (request.headers.host ?? '').toLowerCase();
    if (host !== allowed) {
      throw new RegistryError('DENIED', `this registry only accepts requests made to its login server ${loginServer}`, { host: host.slice(0, 200) });
    }
  });
}
