import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { SqliteMetadataStore } from '../../src/metadata/index.js';
import { AccessGuard, Authenticator, JwtSigner, LoginThrottle, hashPassword } from '../../src/auth/index.js';
import { EventBus, type DomainEvent } from '../../src/core/events.js';
import { registerGatewayRoutes } from '../../src/gateway/gateway-routes.js';
import type { MessagesResponse, StatusReport } from '../../src/client/gateway-protocol.js';
import { basicAuth } from '../helpers/oci-client.js';
import { registryInput } from '../metadata/connected-registry-store-suite.js';
import { manifestInput } from '../metadata/store-suite.js';

const NAME = 'edge-wake';
const PASSWORD = 'edge-wake-password';

/**
 * The gateway alone, on real stores and a real bus, WITHOUT the composition root's bridge from
 * MetadataStore.subscribe: what wakes a held long-poll here is the bus and nothing else.
 */
describe('gateway: held long-polls and the config cache follow the bus', () => {
  let dir: string;
  let store: SqliteMetadataStore;
  let app: FastifyInstance;
  let url: string;
  const events = new EventBus((err) => {
    throw err;
  });
  const heard: DomainEvent[] = [];
  events.subscribe('*', (e) => heard.push(e));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outpost-gateway-events-'));
    store = await SqliteMetadataStore.open(join(dir, 'metadata.db'));
    const actions = ['repositories/app/content/read', 'repositories/app/metadata/read', ...['config/read', 'config/write', 'message/read', 'message/write'].map((p) => `gateway/${NAME}/${p}`)];
    await store.identity.createToken({
      name: NAME, status: 'enabled', scopeMap: NAME, newScopeMap: { name: NAME, description: '', actions },
      password1: { hash: await hashPassword(PASSWORD), createdAt: new Date(), expiry: null },
    });
    await store.connectedRegistries.createConnectedRegistry(registryInput(NAME));
    const signer = await JwtSigner.open(dir);
    const authenticator = new Authenticator({
      identities: store.identity, adminPassword: 'not-used-here', throttle: new LoginThrottle(), anonymousPull: false, credentialKey: signer.credentialKey,
    });
    const logger = pino({ level: 'silent' });
    app = Fastify({ loggerInstance: logger }) as unknown as FastifyInstance;
    await registerGatewayRoutes(app, {
      metadata: store, identities: store.identity, connectedRegistries: store.connectedRegistries, guard: new AccessGuard(authenticator, signer),
      selfName: null, clock: Date.now, events, logger,
    });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  after(async () => {
    await app.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const call = async (method: string, path: string, body?: unknown): Promise<Response> => fetch(`${url}/gateway/v1/${NAME}/${path}`, {
    method,
    headers: { Authorization: basicAuth(NAME, PASSWORD), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const poll = async (after: number): Promise<MessagesResponse> => {
    const res = await call('GET', `messages?after=${after}&wait=20`);
    assert.equal(res.status, 200);
    return (await res.json()) as MessagesResponse;
  };
  /** Resolves once a long-poll is held: its listeners are on the bus and (shortly after) its first read is done. */
  const idle = (): number => events.listenerCount('connected-registry-config-changed');
  const held = async (base: number): Promise<void> => {
    const until = Date.now() + 5000;
    while (events.listenerCount('connected-registry-config-changed') <= base) {
      assert.ok(Date.now() < until, 'no long-poll was held');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // It subscribes before its first read; nothing announces the read's end, so leave it a moment.
    await new Promise((resolve) => setTimeout(resolve, 100));
  };
  const stillPending = async (answer: Promise<unknown>): Promise<boolean> =>
    Promise.race([answer.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 300))]);

  test('a repository event wakes a held poll: the new change is answered at once', async () => {
    const head = await store.lastChangeSeq();
    const base = idle();
    const answer = poll(head);
    await held(base);
    await store.putManifest({ origin: 'local', actor: null }, manifestInput('app', 'pushed', { tag: 'v1' }));
    assert.equal(await stillPending(answer), true, 'a committed write alone (no event) does not wake it here');
    const started = Date.now();
    events.publish({ type: 'tag-set', repository: 'app', tag: 'v1', digest: 'sha256:x', mediaType: 'x', origin: 'local', actor: null, seq: head + 2 });
    const page = await answer;
    assert.ok(Date.now() - started < 1000, `answered ${Date.now() - started} ms after the event`);
    assert.deepEqual(page.messages.map((m) => m.tag ?? '-'), ['-', 'v1']);
  });

  test('a config-changed event drops the cached config and wakes a held poll with the new ETag', async () => {
    const first = await call('GET', 'config');
    const etag = first.headers.get('etag')!;
    const head = await store.lastChangeSeq();
    const base = idle();
    const answer = poll(head);
    await held(base);
    await store.connectedRegistries.updateConnectedRegistry(NAME, { notificationsList: ['app:*'] });
    assert.equal(await stillPending(answer), true, 'the cached config still says nothing changed');
    assert.equal((await call('GET', 'config')).headers.get('etag'), etag, 'served from the cache until announced');
    events.publish({ type: 'connected-registry-config-changed', name: NAME });
    const page = await answer;
    assert.deepEqual(page.messages, []);
    assert.notEqual(page.config, etag);
    assert.equal((await call('GET', 'config')).headers.get('etag'), page.config);
  });

  test('the status intake announces each heartbeat it records', async () => {
    assert.equal((await call('POST', 'activate', { instanceId: 'instance-a', version: '1.0.0' })).status, 200);
    heard.length = 0;
    const report: StatusReport = {
      instanceId: 'instance-a', connectionState: 'Online', statusDetails: [], lastSyncTime: null, version: '1.0.0', loginServer: null,
      cursor: null, outbox: 0, descendants: [],
    };
    assert.equal((await call('PUT', 'status', report)).status, 200);
    assert.deepEqual(heard, [{ type: 'connected-registry-status-received', name: NAME }]);
  });
});
