import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import Fastify, { LogController, type FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { ConfigError, type NodeConfig, type LogLevel, type LogFormat } from '../config/node-config.js';
import { OUTPOST_VERSION } from '../config/version.js';
import {
  BlobGate, createStorageDriver, DriverBlobStore, DriverUploadStore, parseStorageDriverSpec, StorageDriverSpecError, type AdoptingBlobStore, type StorageDriver,
} from '../storage/index.js';
import { DEFAULT_IDENTITY_LIMITS, SqliteMetadataStore, SYNC_STATE_KEYS } from '../metadata/index.js';
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
import { hostname, networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { ServedCertificate, type PreparedCertificate } from './served-certificate.js';
import { registerGcRoutes } from '../management/gc-routes.js';
import { GarbageCollector } from '../lifecycle/garbage-collector.js';
import type { GcReport } from '../core/gc-report.js';
import { EdgePolicy } from '../sync/edge-policy.js';
import { SyncAgent } from '../sync/sync-agent.js';
import { httpParentLink } from '../sync/parent-link.js';
import { systemClock, type Clock } from '../core/clock.js';
import { EventBus, REPOSITORY_EVENT_TYPES } from '../core/events.js';
import { JobRunner, type JobSchedule } from '../core/jobs.js';
import type { ConfigDocument, LoginServerDoc, StorageUsageDoc } from '../client/gateway-protocol.js';
import { RETENTION_EVERY_MS, RETENTION_JOB, RetentionService } from '../lifecycle/retention-service.js';
import { StorageMeter, type StorageFigures } from '../lifecycle/storage-meter.js';
import { UsageService } from '../lifecycle/usage-service.js';
import { registerLifecycleRoutes } from '../management/lifecycle-routes.js';
import { NotificationLog } from '../events/notification-log.js';
import { LocalEvents } from '../events/local-events.js';
import { EventIntake } from '../events/event-intake.js';
import { EventRelay } from '../events/event-relay.js';
import { WebhookSender } from '../events/webhook-sender.js';
import { WebhookService } from '../events/webhook-service.js';
import { WebhookDelivery } from '../events/webhook-delivery.js';
import { registerWebhookRoutes } from '../management/webhook-routes.js';
import { LogLevels, PINO_LEVELS } from '../observability/log-levels.js';
import { NodeMetrics } from '../observability/node-metrics.js';
import { MetricsServer } from '../observability/metrics-server.js';
import { AuditLogSwitch, registerAuditLogRoutes } from '../management/audit-log-routes.js';
import { AUDIT_ROTATION_CHECK_MS, AuditLog } from '../observability/audit-log.js';
import { AuditRecorder } from '../observability/audit-recorder.js';

/** Upload sessions untouched this long are removed (docs/api.md, "Upload sessions"), checked every PURGE_EVERY_MS. */
const STALE_SESSION_MS = 60 * 60 * 1000;
/** Temporary blob files of a running node older than this are removed; at start all of them go. */
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;
const PURGE_EVERY_MS = 10 * 60 * 1000;
/** The change log is pruned this often (docs/architecture.md, "Message TTL and pruning"). */
const PRUNE_EVERY_MS = 60 * 60 * 1000;
/**
 * Notification events and finished webhook deliveries are kept this long (docs/observability.md,
 * "Delivery guarantees"): the history list-events shows, and the window in which an event id
 * sent again is still known (a connected node keeps what its parent has not acknowledged).
 */
const NOTIFICATION_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
/** Due webhook deliveries (retries) are looked for this often on the node's clock; new events wake the job at once. */
const WEBHOOK_DELIVERY_EVERY_MS = 1000;
/** How often the notification events of committed writes are made when no write wakes their maker (after a failure). */
const NOTIFICATION_CATCH_UP_MS = 10_000;
/** --tls-auto checks its serving certificate this often (it is renewed 30 days before its end). */
const RENEW_CHECK_EVERY_MS = 12 * 60 * 60 * 1000;

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
  /** The served certificate of an HTTPS node (reload, renew, its CA), and what start found or made; null over plain HTTP. */
  certificate: { served: ServedCertificate; prepared: PreparedCertificate } | null;
  /** The node's log level, changed live by a connected node's config (docs/observability.md, "Log level"). */
  logLevels: LogLevels;
  /** The metrics listener (`--metrics-listen`); null when metrics are off. */
  metrics: { url: string; registry: NodeMetrics } | null;
  /** The audit log (`--audit-log`, else `<data>/audit.log`), recording or not (docs/observability.md, "Audit log"). */
  audit: AuditLog;
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
  /** How long a webhook receiver has to answer one attempt (10 s). */
  webhookTimeoutMs?: number;
  /** Reload the certificate when its files change (true); tests of SIGHUP turn it off. */
  watchCertificates?: boolean;
}

/** Default for AppOptions.bodyIdleTimeoutMs and headersTimeoutMs. */
const HTTP_IDLE_MS = 60_000;

/**
 * The node's logger: JSON lines (for collectors), or `pretty` (pino-pretty, in this process and
 * synchronous: a line is on the terminal before the next one is written) for a person.
 */
export function createLogger(level: LogLevel, format: LogFormat = 'json'): Logger {
  const options = { level: PINO_LEVELS[level], base: { service: 'outpost' } };
  if (format === 'json') return pino(options);
  return pino(options, pretty({
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss',
    ignore: 'pid,hostname,service',
    singleLine: true,
    sync: true,
  }));
}

/** The composition root: builds the parts of a node from its config and passes each its dependencies (no module-level singletons). */
export async function buildApp(config: NodeConfig, logger: Logger = createLogger(config.logLevel, config.logFormat), options: AppOptions = {}): Promise<OutpostApp> {
  // The node's one clock (docs/architecture.md, "Time"): everything below takes it from here.
  const clock: Clock = options.clock ?? systemClock;
  const now = (): number => clock.now();
  await mkdir(config.dataDir, { recursive: true });
  // The certificate first: a missing or bad one stops the start before anything is opened.
  const served = config.tls ? new ServedCertificate(config.tls, { clock, logger, names: certificateNames(config) }) : null;
  const prepared = served ? await served.prepare() : null;
  const driver = storageDriverOf(config, clock);
  // Metrics (docs/observability.md): built only when they are served, so a node without them pays nothing.
  const metrics = config.metricsListen ? new NodeMetrics(clock) : null;
  const storedBlobs = new DriverBlobStore(driver, { clock });
  const blobs: AdoptingBlobStore = metrics ? metrics.meterBlobStore(storedBlobs) : storedBlobs;
  const uploads = new DriverUploadStore(driver, blobs, {
    clock, ...(options.uploadSessionsPerCaller !== undefined ? { maxSessionsPerOwner: options.uploadSessionsPerCaller } : {}),
  });
  // Before the node listens, no put can be running: every temporary file is a crash's leftover
  // (one process per data folder, docs/api.md). Abandoned sessions go by the same rule as later.
  // A disk that refuses (read-only) must not keep the node from serving reads: warn and go on.
  await storedBlobs.clearTemp().then(() => uploads.purgeStale(STALE_SESSION_MS)).catch((err: unknown) =>
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
  // What the node stores and how full its disk is (heartbeats, show-usage); a write makes it count again.
  const meter = new StorageMeter({ metadata, path: storageFilesystemOf(config), clock });
  events.subscribe(REPOSITORY_EVENT_TYPES, () => meter.invalidate());

  // Slow clients (docs/security.md): headers must arrive within headersTimeout (checked every
  // connectionsCheckingInterval). No total request timeout (requestTimeout 0): it would cut a large
  // upload over a slow link; a body that stops arriving is cut by BodyIdleTimeout instead.
  const headersTimeout = options.headersTimeoutMs ?? HTTP_IDLE_MS;
  const serverOptions = {
    headersTimeout,
    requestTimeout: 0,
    connectionsCheckingInterval: Math.max(10, Math.min(5000, Math.floor(headersTimeout / 4))),
  };
  const https = prepared ? { key: prepared.key, cert: prepared.cert, ...serverOptions } : null;
  // One level for every logger of the node, changed live (a connected node's config sets it).
  const logLevels = new LogLevels(config.logLevel);
  logLevels.register(logger);
  const app = Fastify({
    loggerInstance: logger,
    // Per-request lines only at Debug: at Information a busy registry would log more than it serves.
    // Asked per request, so a level set later (from the parent's config) starts or stops them.
    logController: new LogController({ disableRequestLogging: () => !logLevels.requestLogging }),
    exposeHeadRoutes: false,
    // Repository names with several levels and digests make long paths; the spec allows 255-char names.
    routerOptions: { maxParamLength: 1024 },
    bodyLimit: 1024 * 1024,
    keepAliveTimeout: 65_000,
    // Request ids are UUIDs: a webhook payload's `request.id` then names one request for good
    // (fastify's default counter starts again at every restart).
    genReqId: () => randomUUID(),
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
  // fastify logs through its own child of `logger` (and each request through a child of that).
  logLevels.register(app.log);
  const connections = new ConnectionTracker();
  connections.attach(app.server, https !== null);
  if (served) {
    served.attach(app.server as unknown as import('node:https').Server);
    if (options.watchCertificates !== false) served.watch();
    if (config.tls?.source === 'auto') jobs.add({ name: 'certificate-renew', schedule: { everyMs: RENEW_CHECK_EVERY_MS }, run: () => served.renewIfDue() });
  }
  new BodyIdleTimeout(options.bodyIdleTimeoutMs ?? HTTP_IDLE_MS, logger).attach(app.server);
  if (options.onRoute) {
    const onRoute = options.onRoute;
    app.addHook('onRoute', (route) => {
      for (const method of [route.method].flat()) onRoute({ method, url: route.url });
    });
  }
  refuseRepeatedHost(app);
  // Hooks of the root instance, before any route: every route of every plugin is counted.
  metrics?.attachHttp(app);
  // The audit log (docs/observability.md): <data>/audit.log unless --audit-log names another
  // place. A root records when started with --audit-log (and not --audit-log-status Disabled)
  // until an administrator switches it through the API; a connected node's resource switches it.
  const audit = new AuditLog(config.auditLog ?? join(config.dataDir, 'audit.log'), {
    clock, registry: config.connection?.name ?? null, enabled: edge === null && config.auditLog !== null && config.auditLogEnabled,
    onError: (err) => logger.error({ err }, 'writing the audit log failed'),
  });
  const auditRecorder = new AuditRecorder(audit, guard);
  auditRecorder.attachHttp(app);
  const auditSwitch = edge === null ? new AuditLogSwitch(audit, metadata.settings) : null;
  await auditSwitch?.load();

  // The version, so that a probe or a person can tell which build answers (docs/deploy.md, "Upgrade").
  app.get('/healthz', async () => ({ status: 'ok', version: OUTPOST_VERSION }));
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
  const selfName = options.selfName ?? config.connection?.name ?? null;
  // Notifications (docs/observability.md, "Webhooks and notifications"): this node's own clients'
  // pushes and deletes, and its children's, stored durably; the root delivers them to its
  // webhooks, a connected node relays them to its parent (EventRelay, in the sync agent's sessions).
  const notificationLog = new NotificationLog(metadata.notifications, edge === null, events);
  const localEvents = new LocalEvents({
    events, log: notificationLog, changes: metadata.notifications, metadata, connectedRegistries: metadata.connectedRegistries, selfName, logger,
  });
  localEvents.start();
  // What a failed attempt left (a busy disk) is made at the next write, or by this job.
  jobs.add({ name: 'notification-catch-up', schedule: { everyMs: NOTIFICATION_CATCH_UP_MS }, run: () => localEvents.catchUp() });
  const webhookSender = new WebhookSender(clock, options.webhookTimeoutMs);
  // Garbage collection (docs/operations.md): the `gc` job on the root's own schedule
  // (--gc-schedule) or, on a connected node, its resource's; `gc-dry-run` only when asked. The
  // collector runs one collection at a time, whoever asks.
  // The collector works on the stored blobs directly (its listing and sweeping are not client traffic to meter).
  const collector = new GarbageCollector({ metadata, blobs: storedBlobs, uploads, gate, clock, graceMs: config.gcGraceMs, logger, events });
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
    const connectedRegistries = new ConnectedRegistryService({
      ...services, ...(config.loginServer !== null ? { loginServer: config.loginServer } : {}),
      // The CA a top-level edge must trust to reach this root over HTTPS (its settings carry it).
      ...(served ? { parentCaCertificate: () => served.caCertificate() } : {}),
    });
    await registerConnectedRegistryRoutes(app, { service: connectedRegistries, guard, clock });
    // Retention runs where the management plane is: a connected node gets these deletes through sync.
    const retention = new RetentionService({
      settings: metadata.settings, metadata, writer, clock, logger,
      // Enabled (or changed while enabled): apply it now rather than at the next hour. A run in
      // flight may have read the policy before this update (runNow would join it): run after it.
      onEnabled: () => {
        const run = (): Promise<unknown> => jobs.runNow(RETENTION_JOB).catch(() => undefined);
        void (jobs.status(RETENTION_JOB).running ? run().then(run) : run());
      },
    });
    jobs.add({ name: RETENTION_JOB, schedule: { everyMs: RETENTION_EVERY_MS }, run: (signal) => retention.run(signal) });
    const usage = new UsageService({
      metadata, identities: metadata.identity, connectedRegistries: metadata.connectedRegistries, meter,
      limits: { ...DEFAULT_IDENTITY_LIMITS, ...options.identityLimits },
    });
    await registerLifecycleRoutes(app, { retention, usage, guard });
    if (auditSwitch) await registerAuditLogRoutes(app, { control: auditSwitch, guard });
    await registerWebhookRoutes(app, { service: new WebhookService(metadata.notifications, webhookSender, clock), guard });
    // The durable queue's delivery: each second on the node's clock (retries come due on it), and at once when events are queued.
    const delivery = new WebhookDelivery({ store: metadata.notifications, sender: webhookSender, events, clock, logger: logger.child({ component: 'webhooks' }) });
    jobs.add({ name: 'webhook-delivery', schedule: { everyMs: WEBHOOK_DELIVERY_EVERY_MS, atStart: true }, run: (signal) => delivery.run(signal) });
    events.subscribe(['notifications-recorded'], () => {
      delivery.markDirty();
      jobs.runNow('webhook-delivery').catch(() => undefined);
    });
    await registerGcRoutes(app, { guard, collect: collectGarbage });
  }
  // gateway: every node serves its direct children; a connected node never prunes its unpushed outbox.
  const gateway = await registerGatewayRoutes(app, {
    metadata, identities: metadata.identity, connectedRegistries: metadata.connectedRegistries, guard, selfName, clock: now, events, logger,
    shutdown: shutdown.signal, ...(selfName !== null ? { outbox: metadata } : {}),
    eventIntake: new EventIntake(notificationLog, metadata.connectedRegistries),
  });
  // The change log keeps what its notification events are not made from yet: make them first.
  jobs.add({
    name: 'change-log-prune', schedule: { everyMs: PRUNE_EVERY_MS },
    run: async () => {
      await localEvents.catchUp().catch((err: unknown) => logger.warn({ err }, 'recording notification events before pruning failed'));
      return gateway.prune();
    },
  });
  // A connected node never drops an event its parent has not acknowledged.
  jobs.add({
    name: 'notification-prune',
    schedule: { everyMs: PRUNE_EVERY_MS },
    run: async () => metadata.notifications.pruneNotifications(
      new Date(clock.now() - NOTIFICATION_RETENTION_MS), edge === null ? undefined : await metadata.notifications.relayMark(),
    ),
  });

  const syncLogger = logger.child({ component: 'sync' });
  logLevels.register(syncLogger);
  // The connected registry's logging settings from the root (children made later inherit them).
  const applyLogging = (document: ConfigDocument): void => {
    logLevels.set(document.self.logging.logLevel);
    audit.enabled = document.self.logging.auditLogStatus === 'Enabled';
  };
  const connection = config.connection;
  const parent = edge === null || connection === null ? null : httpParentLink({
    tokenName: connection.tokenName, tokenPassword: connection.tokenPassword, parentEndpoint: connection.parentEndpoint,
    parentProtocol: connection.parentProtocol, caFile: config.parentCaFile, caPem: config.parentCaPem, userAgent: `outpost/${OUTPOST_VERSION}`,
  }, connection.name);
  // The notification events recorded here go up during each sync session, woken as they are recorded.
  const relay = parent === null ? null : new EventRelay({
    store: metadata.notifications, sink: parent.events ?? null, instanceId: () => metadata.getState(SYNC_STATE_KEYS.instanceId), clock, logger: syncLogger,
  });
  if (relay) events.subscribe(['notifications-recorded'], () => relay.wake());
  const agent = edge === null || connection === null || parent === null ? null : new SyncAgent({
    selfName: connection.name,
    parent,
    metadata,
    writer,
    identities: metadata.identity,
    connectedRegistries: metadata.connectedRegistries,
    blobs,
    policy: edge,
    logger: syncLogger,
    version: OUTPOST_VERSION,
    loginServer: () => loginServerOf(config, app),
    storage: async () => storageDocOf(await meter.measure()),
    collectGarbage,
    onConfigApplied: (document) => {
      events.publish({ type: 'connected-registry-config-changed', name: null });
      applyLogging(document);
    },
    onConfigLoaded: applyLogging,
    publish: (event) => events.publish(event),
    clock,
    ...(options.syncPollSeconds !== undefined ? { pollSeconds: options.syncPollSeconds } : {}),
    ...(options.heartbeatSeconds !== undefined ? { heartbeatSeconds: options.heartbeatSeconds } : {}),
    ...(relay ? { sessionTasks: [relay] } : {}),
  });
  // A local client's write that appended a change (the outbox is those) wakes the outbox drain at once.
  if (agent) events.subscribe(REPOSITORY_EVENT_TYPES, (event) => {
    if (event.origin === 'local' && event.seq !== null) agent.localWrite();
  });
  if (agent && connection) auditRecorder.observeSync(events, { tokenName: connection.tokenName, parentEndpoint: connection.parentEndpoint });
  if (audit.destination !== '-') {
    jobs.add({ name: 'audit-log-rotation', schedule: { everyMs: AUDIT_ROTATION_CHECK_MS }, run: async () => audit.checkRotation() });
  }
  let metricsServer: MetricsServer | null = null;
  if (metrics && config.metricsListen) {
    metrics.observeRepositoryEvents(events);
    // Every node may be a parent: its records of the registries below it.
    metrics.observeFleet(metadata.connectedRegistries, events, selfName);
    if (agent && edge) {
      const policy = edge;
      metrics.observeSync({
        observe: () => agent.observe(),
        syncedRepositories: (limit) => syncedRepositories(metadata, (name) => policy.inScope(name), limit),
      }, events);
    }
    const listen = config.metricsListen;
    metricsServer = await MetricsServer.start(metrics, listen, logger).catch(async (err: unknown) => {
      // The address is taken (or not ours): nothing else has started yet; close what is open and say which flag.
      await app.close();
      await metadata.close();
      throw new ConfigError(`--metrics-listen ${listen.host}:${listen.port}: ${err instanceof Error ? err.message : String(err)}`);
    });
  }

  // Leftovers of interrupted uploads never block anything (unique names); this frees their space
  // and, for sessions, their owner's place under the per-caller bound.
  jobs.add({
    name: 'upload-purge',
    schedule: { everyMs: PURGE_EVERY_MS },
    run: async (signal) => {
      const [sessions, temporary] = await Promise.all([uploads.purgeStale(STALE_SESSION_MS, { signal }), storedBlobs.purgeTemp(STALE_TEMP_MS, { signal })]);
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
    certificate: served && prepared ? { served, prepared } : null,
    logLevels,
    metrics: metrics && metricsServer ? { url: metricsServer.url, registry: metrics } : null,
    audit,
    async close() {
      shutdown.abort();
      served?.close();
      await metricsServer?.close();
      await jobs.stop();
      await agent?.stop();
      // Requests in flight finish; each keep-alive connection is closed once it goes idle.
      connections.drain();
      await app.close();
      // The events of the last writes are recorded before the database closes.
      await localEvents.stop();
      audit.close();
      await metadata.close();
    },
  };
}

/** The first `limit` repositories here that the sync scope takes (label values of the lag metrics), reading at most 10 pages. */
async function syncedRepositories(metadata: MetadataStore, inScope: (name: string) => boolean, limit: number): Promise<string[]> {
  const names: string[] = [];
  let last: string | undefined;
  for (let page = 0; page < 10 && names.length < limit; page++) {
    const batch = await metadata.listRepositories({ limit: 1000, ...(last !== undefined ? { last } : {}) });
    names.push(...batch.filter(inScope));
    if (batch.length < 1000) break;
    last = batch[batch.length - 1];
  }
  return names.slice(0, limit);
}

/** The node's storage driver, by the name in its config; a name no driver takes is a config error. */
function storageDriverOf(config: NodeConfig, clock: Clock): StorageDriver {
  try {
    return createStorageDriver(config.storage, { clock, root: storageRootOf(config) });
  } catch (err) {
    if (err instanceof StorageDriverSpecError) throw new ConfigError(`OUTPOST_STORAGE: ${err.message}`);
    throw err;
  }
}

/** The folder whose filesystem holds the node's blobs: the filesystem driver's root; null for storage that is not a local filesystem. */
function storageFilesystemOf(config: NodeConfig): string | null {
  return parseStorageDriverSpec(config.storage).name === 'filesystem' ? storageRootOf(config) : null;
}

/** Where the filesystem driver keeps its files. */
function storageRootOf(config: NodeConfig): string {
  return join(config.dataDir, 'storage');
}

/** A measurement as the heartbeat carries it. */
function storageDocOf(figures: StorageFigures): StorageUsageDoc {
  return {
    usedBytes: figures.usedBytes,
    totalBytes: figures.filesystem?.totalBytes ?? null,
    freeBytes: figures.filesystem?.freeBytes ?? null,
    availableBytes: figures.filesystem?.availableBytes ?? null,
    measuredAt: figures.measuredAt.toISOString(),
  };
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

/**
 * The names --tls-auto puts in the serving certificate: the login server's host, the listen
 * address (or, on a wildcard, every address of the machine), the host name, and localhost.
 */
export function certificateNames(config: Pick<NodeConfig, 'host' | 'loginServer'>): string[] {
  const names: string[] = [];
  const add = (name: string | null | undefined): void => {
    const bare = name?.replace(/^\[(.*)\]$/, '$1').toLowerCase();
    if (bare && !names.includes(bare)) names.push(bare);
  };
  if (config.loginServer) add(hostOf(config.loginServer));
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  add(hostname());
  if (!wildcard) add(config.host);
  add('localhost');
  add('127.0.0.1');
  add('::1');
  if (wildcard) {
    for (const addresses of Object.values(networkInterfaces())) {
      for (const address of addresses ?? []) if (!address.internal && !address.address.startsWith('fe80:')) add(address.address);
    }
  }
  return names;
}

/** `host`, `host:port`, `[v6]:port` or a bare IPv6 address → the host. */
function hostOf(address: string): string {
  if (isIP(address) === 6) return address;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) return bracketed[1]!;
  return address.replace(/:\d+$/, '');
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
