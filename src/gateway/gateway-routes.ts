import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { RegistryError } from '../oci/index.js';
import type { ConnectedRegistryStore, IdentityStore, MetadataStore } from '../metadata/index.js';
import { withBasicChallenge, type AccessGuard, type GatewayPermission } from '../auth/index.js';
import { GATEWAY_PREFIX, MAX_WAIT_SECONDS, type HeadResponse, type MessagesResponse, type StatusAck } from '../client/gateway-protocol.js';
import type { DomainEventType, EventBus } from '../core/events.js';
import { GatewayService, type GatewayStores } from './gateway-service.js';
import { ifNoneMatch, sameEtag } from './config-document.js';
import { parseActivateRequest, parseStatusReport } from './request-bodies.js';
import { Wakeup } from './wakeup.js';
import { useJsonBodies } from '../registry/http-util.js';

export interface GatewayDeps {
  metadata: MetadataStore;
  identities: IdentityStore;
  connectedRegistries: ConnectedRegistryStore;
  guard: AccessGuard;
  /** This node's connected-registry name; null on the root. */
  selfName: string | null;
  /** Milliseconds since the epoch: activity times, message TTL, prune. */
  clock: () => number;
  /**
   * The node's bus: config changes drop the cached config documents and wake held long-polls,
   * repository events wake them too; the status intake announces each heartbeat it records.
   */
  events: EventBus;
  logger: Logger;
  /** Aborted when the node shuts down: held long-polls answer at once. */
  shutdown?: AbortSignal;
  /** A connected node's outbox: never pruned (see GatewayService.prune). */
  outbox?: GatewayStores['outbox'];
}

/** What the composition root keeps of the gateway. */
export interface GatewayHandle {
  /** Prunes the change log now; returns how many rows went. The composition root runs it as the `change-log-prune` job. */
  prune(): Promise<number>;
}

/** The repository events of writes that append a change-log row: each may be a message for a held long-poll (a blob link appends none). */
const LOG_EVENT_TYPES = [
  'manifest-pushed', 'manifest-deleted', 'tag-set', 'tag-deleted', 'repository-deleted', 'blob-deleted',
] as const satisfies readonly DomainEventType[];

/**
 * The sync gateway (docs/architecture.md, "Sync gateway"; client/gateway-protocol.ts), served by every node to its direct
 * children under `/gateway/v1/<cr>/…`: activate, config, messages (long-poll), status. Each call
 * needs credentials with the gateway action for `<cr>` (401 without, 403 without the action) and
 * `<cr>` must be a direct child of this node (404). Its own plugin with its own JSON parser.
 */
export async function registerGatewayRoutes(app: FastifyInstance, deps: GatewayDeps): Promise<GatewayHandle> {
  const service = new GatewayService(
    { metadata: deps.metadata, identities: deps.identities, connectedRegistries: deps.connectedRegistries, outbox: deps.outbox },
    deps.selfName,
    deps.clock,
    deps.events,
  );
  // Subscribed before any long-poll, so the cache is dropped before held polls recompute their ETag.
  const unsubscribeConfig = deps.events.subscribe(['connected-registry-config-changed'], () => service.invalidateConfig());
  // Stopping: the node's shutdown or the app closing, whichever comes first.
  const stopping = new AbortController();
  deps.shutdown?.addEventListener('abort', () => stopping.abort(), { once: true });
  app.addHook('preClose', async () => {
    stopping.abort();
    unsubscribeConfig();
  });

  const prune = async (): Promise<number> => {
    const removed = await service.prune();
    if (removed > 0) deps.logger.info({ removed }, 'pruned the change log');
    return removed;
  };

  await app.register(async (api) => {
    useJsonBodies(api);

    const authorize = async (request: FastifyRequest, permission: GatewayPermission): Promise<string> => {
      const name = (request.params as { cr: string }).cr;
      let identity;
      try {
        identity = await deps.guard.identify(request);
      } catch (err) {
        throw withBasicChallenge(err);
      }
      if (identity === null || identity.kind === 'anonymous') throw withBasicChallenge(new RegistryError('UNAUTHORIZED', 'authentication required'));
      if (!identity.can('gateway', permission, name)) {
        throw new RegistryError('DENIED', 'requested access to the resource is denied', { action: `gateway/${name.toLowerCase()}/${permission}` });
      }
      return name;
    };

    api.post(`${GATEWAY_PREFIX}/:cr/activate`, async (request) => {
      const name = await authorize(request, 'config/write');
      return service.activate(name, parseActivateRequest(request.body));
    });

    api.get(`${GATEWAY_PREFIX}/:cr/config`, async (request, reply) => {
      const name = await authorize(request, 'config/read');
      const { doc, etag } = await service.config(await service.directChild(name));
      reply.header('ETag', etag).header('Cache-Control', 'no-cache');
      if (ifNoneMatch(request.headers['if-none-match'], etag)) return reply.code(304).send();
      return reply.type('application/json').send(JSON.stringify(doc));
    });

    api.get(`${GATEWAY_PREFIX}/:cr/messages`, async (request, reply) => {
      const name = await authorize(request, 'message/read');
      const query = request.query as Record<string, string | undefined>;
      const after = integerParam(query.after, 'after', 0);
      const waitSeconds = Math.min(integerParam(query.wait, 'wait', 0), MAX_WAIT_SECONDS);
      return holdMessages(service, deps, stopping.signal, request, reply, name, after, waitSeconds, query.config,
        () => authorize(request, 'message/read'));
    });

    api.get(`${GATEWAY_PREFIX}/:cr/head`, async (request) => {
      const name = await authorize(request, 'message/read');
      const answer: HeadResponse = { head: await service.head(name) };
      return answer;
    });

    api.put(`${GATEWAY_PREFIX}/:cr/status`, async (request) => {
      const name = await authorize(request, 'config/write');
      const ack: StatusAck = { config: await service.status(name, parseStatusReport(request.body)) };
      return ack;
    });
  });

  return { prune };
}

/**
 * GET messages: answers at once when there is something for the child (messages, or a config
 * ETag other than the one it holds), else holds the request up to `waitSeconds` and answers as
 * soon as a committed write appended changes or the configuration changed — within
 * milliseconds, not at the end of the wait. Gives up waiting when the client goes away or the
 * node stops. A config change may have revoked the caller (token disabled, password replaced,
 * gateway action removed): `reauthorize` runs again before the poll goes on.
 */
async function holdMessages(
  service: GatewayService, deps: GatewayDeps, stopping: AbortSignal, request: FastifyRequest, reply: FastifyReply,
  name: string, after: number, waitSeconds: number, heldEtag: string | undefined, reauthorize: () => Promise<unknown>,
): Promise<MessagesResponse> {
  const wakeup = new Wakeup();
  // Subscribed before the first read, so a write between the read and the wait is not missed.
  const changes = wakeup.source('changes');
  const unsubscribe = [
    deps.events.subscribe(LOG_EVENT_TYPES, changes),
    deps.events.subscribe(['connected-registry-config-changed'], wakeup.source('config')),
  ];
  const gone = new AbortController();
  const onStop = (): void => gone.abort();
  const onClose = (): void => {
    if (!reply.raw.writableEnded) gone.abort();
  };
  // A request that arrives while the node is already stopping is not held at all.
  if (stopping.aborted) gone.abort();
  else stopping.addEventListener('abort', onStop, { once: true });
  reply.raw.once('close', onClose);
  if (request.raw.socket.destroyed) gone.abort();
  try {
    let child = await service.directChild(name);
    let scope = await service.scopeOf(child);
    let page = await service.messages(child, scope, after, true);
    let etag = (await service.config(child)).etag;
    const known = heldEtag ?? etag;
    // Real elapsed time, not the node's clock: the hold is bounded by the child's HTTP timeout,
    // which is real time too, so a test's moved clock must not hold a request longer.
    const deadline = performance.now() + waitSeconds * 1000;
    while (page.messages.length === 0 && sameEtag(etag, known) && !gone.signal.aborted) {
      const left = deadline - performance.now();
      if (left <= 0) break;
      const fired = await wakeup.wait(left, gone.signal);
      if (gone.signal.aborted) break;
      if (fired.has('config')) {
        await reauthorize();
        child = await service.directChild(name);
        scope = await service.scopeOf(child);
        etag = (await service.config(child)).etag;
      }
      if (fired.size > 0) page = await service.messages(child, scope, page.next, false);
    }
    return { messages: page.messages, next: page.next, head: page.head, config: etag };
  } finally {
    for (const u of unsubscribe) u();
    stopping.removeEventListener('abort', onStop);
    reply.raw.removeListener('close', onClose);
  }
}

function integerParam(value: string | undefined, what: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  if (!/^\d{1,15}$/.test(value)) throw new RegistryError('REQUEST_INVALID', `${what} must be a non-negative integer.`);
  return Number(value);
}
