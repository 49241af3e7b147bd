import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient, basicAuth, sha256 } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';
import { OFFLINE_AFTER_SECONDS } from '../../src/metadata/index.js';
import type { GcReport } from '../../src/core/gc-report.js';
import type { ConfigDocument, MessagesResponse, StatusAck, StatusReport } from '../../src/client/gateway-protocol.js';
import { systemClock } from '../../src/core/clock.js';

const ALREADY_ACTIVATED_MESSAGE = 'Failed to activate the connected registry as it is already activated by another instance. Only one instance is supported at any time.';
const DAY_MS = 24 * 60 * 60 * 1000;

interface Answer {
  status: number;
  headers: Headers;
  json: unknown;
  text: string;
}

interface ErrorJson {
  errors: Array<{ code: string; message: string; detail: unknown }>;
}

interface CrJson {
  connectionState: string;
  activation: { status: string };
  version: string | null;
  loginServer: unknown;
  lastActivityTime: string | null;
  statusDetails: Array<{ type: string; code: string }>;
  parent: { syncProperties: { lastSyncTime: string | null } };
  syncStatus: { repositories: Array<{ name: string; pendingChanges: number }>; outboxPending: number | null; resyncRequestedAt: string | null };
  lastGarbageCollection: GcReport | null;
  garbageCollectionRequest: { requestedAt: string; dryRun: boolean } | null;
}

/** A test root with an adjustable clock, the admin, and helpers to speak the gateway protocol. */
class Fixture {
  node!: TestNode;
  admin!: TestClient;
  /** Added to the real time by the node's clock. */
  offsetMs = 0;
  readonly passwords = new Map<string, string>();

  async start(): Promise<void> {
    this.node = await startTestNode({ app: { clock: { now: () => Date.now() + this.offsetMs, sleep: systemClock.sleep } } });
    this.admin = new TestClient(this.node.url);
  }

  async call(method: string, path: string, body?: unknown): Promise<Answer> {
    const answer = await mgmt(this.admin, method, path, body);
    return { status: answer.status, headers: new Headers(), json: answer.json, text: JSON.stringify(answer.json) };
  }

  async mustCall(method: string, path: string, body?: unknown): Promise<unknown> {
    const answer = await this.call(method, path, body);
    assert.ok(answer.status < 300, `${method} ${path}: ${answer.status} ${answer.text}`);
    return answer.json;
  }

  /** Creates a connected registry and generates its sync token's password1. */
  async createCr(body: Record<string, unknown>): Promise<void> {
    await this.mustCall('POST', '/connected-registries', body);
    const settings = (await this.mustCall('POST', `/connected-registries/${String(body.name)}/settings`, { parentProtocol: 'http', generatePassword: 1 })) as Record<string, string>;
    this.passwords.set(String(body.name), settings.SYNC_TOKEN_PASSWORD!);
  }

  /** Creates a token with its own scope map; returns its password1. */
  async createToken(name: string, actions: string[]): Promise<string> {
    const token = (await this.mustCall('POST', '/tokens', { name, actions })) as { credentials: { passwords: Array<{ name: string; value: string }> } };
    const password = token.credentials.passwords.find((p) => p.name === 'password1')!.value;
    this.passwords.set(name, password);
    return password;
  }

  auth(tokenName: string): string {
    return basicAuth(tokenName, this.passwords.get(tokenName)!);
  }

  /** A gateway call; `as` is the token whose credentials are sent (its own sync token by default), null for none. */
  async gw(method: string, cr: string, path: string, init: { as?: string | null; body?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Answer> {
    const who = init.as === undefined ? cr : init.as;
    const headers: Record<string, string> = { ...(who !== null ? { Authorization: this.auth(who) } : {}), ...init.headers };
    if (init.body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(new URL(`/gateway/v1/${cr}/${path}`, this.node.url), {
      method, headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}), ...(init.signal ? { signal: init.signal } : {}),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, json: text === '' ? null : (JSON.parse(text) as unknown) };
  }

  async show(cr: string): Promise<CrJson> {
    return (await this.mustCall('GET', `/connected-registries/${cr}`)) as CrJson;
  }

  async config(cr: string): Promise<{ doc: ConfigDocument; etag: string }> {
    const answer = await this.gw('GET', cr, 'config');
    assert.equal(answer.status, 200, answer.text);
    return { doc: answer.json as ConfigDocument, etag: answer.headers.get('etag')! };
  }

  async messages(cr: string, query: string): Promise<MessagesResponse> {
    const answer = await this.gw('GET', cr, `messages?${query}`);
    assert.equal(answer.status, 200, answer.text);
    return answer.json as MessagesResponse;
  }

  async head(): Promise<number> {
    return this.node.node.metadata.lastChangeSeq();
  }

  close(): Promise<void> {
    return this.node.close();
  }
}

const code = (answer: Answer): string => (answer.json as ErrorJson).errors[0]!.code;
const message = (answer: Answer): string => (answer.json as ErrorJson).errors[0]!.message;

function report(instanceId: string, extra: Partial<StatusReport> = {}): StatusReport {
  return {
    instanceId, connectionState: 'Online', statusDetails: [], lastSyncTime: null, version: '1.0.0', loginServer: null,
    cursor: null, outbox: 0, descendants: [], ...extra,
  };
}

describe('gateway: authorization and activation', () => {
  const f = new Fixture();
  before(async () => {
    await f.start();
    await f.createCr({ name: 'edge-a', repositories: ['hello-world'] });
    await f.createCr({ name: 'edge-b', mode: 'ReadWrite', repositories: ['other'] });
    await f.createCr({ name: 'edge-b-kid', parent: 'edge-b', repositories: ['other'] });
    await f.createToken('client-pull', ['repositories/hello-world/content/read']);
  });
  after(() => f.close());

  test('no credentials 401, another registry\'s token 403, a client token 403, bad password 401', async () => {
    const none = await f.gw('GET', 'edge-a', 'config', { as: null });
    assert.equal(none.status, 401);
    assert.equal(code(none), 'UNAUTHORIZED');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Basic /);
    const other = await f.gw('GET', 'edge-a', 'config', { as: 'edge-b' });
    assert.equal(other.status, 403);
    assert.equal(code(other), 'DENIED');
    const client = await f.gw('GET', 'edge-a', 'messages', { as: 'client-pull' });
    assert.equal(client.status, 403);
    const wrong = await fetch(new URL('/gateway/v1/edge-a/config', f.node.url), { headers: { Authorization: basicAuth('edge-a', 'not-the-password') } });
    assert.equal(wrong.status, 401);
    for (const [method, path] of [['POST', 'activate'], ['GET', 'messages'], ['PUT', 'status']] as const) {
      assert.equal((await f.gw(method, 'edge-a', path, { as: 'edge-b', body: method === 'GET' ? undefined : {} })).status, 403, path);
    }
  });

  test('a node serves its direct children only: a grandchild is 404 at the root, even for an ancestor\'s token', async () => {
    // edge-b's sync token holds gateway/edge-b-kid/* (ancestors get their children's actions).
    const kidAtRoot = await f.gw('GET', 'edge-b-kid', 'config', { as: 'edge-b' });
    assert.equal(kidAtRoot.status, 404);
    assert.equal(code(kidAtRoot), 'NOT_FOUND');
    assert.equal((await f.gw('GET', 'edge-b-kid', 'config')).status, 404, 'nor with its own token');
    assert.equal((await f.gw('POST', 'edge-b-kid', 'activate', { body: { instanceId: 'kid-1', version: '1' } })).status, 404);
    assert.equal((await f.gw('GET', 'edge-b', 'config')).status, 200);
  });

  test('activate: one instance at a time; the same one again; deactivate frees it and bumps the epoch', async () => {
    const first = await f.gw('POST', 'edge-a', 'activate', { body: { instanceId: 'instance-1', version: '1.0.0' } });
    assert.equal(first.status, 200, first.text);
    assert.deepEqual(first.json, { name: 'edge-a', mode: 'ReadOnly', activationStatus: 'Active' });
    let shown = await f.show('edge-a');
    assert.equal(shown.activation.status, 'Active');
    assert.equal(shown.connectionState, 'Offline', 'activated, but Online only once it has reported a status');
    assert.equal(shown.version, '1.0.0');
    assert.equal((await f.gw('PUT', 'edge-a', 'status', { body: report('instance-1') })).status, 200);
    assert.equal((await f.show('edge-a')).connectionState, 'Online');

    const second = await f.gw('POST', 'edge-a', 'activate', { body: { instanceId: 'instance-2', version: '1.0.0' } });
    assert.equal(second.status, 409);
    assert.equal(code(second), 'ALREADY_ACTIVATED');
    assert.equal(message(second), ALREADY_ACTIVATED_MESSAGE);
    assert.equal((await f.gw('PUT', 'edge-a', 'status', { body: report('instance-2') })).status, 409, 'the other instance cannot heartbeat either');
    const again = await f.gw('POST', 'edge-a', 'activate', { body: { instanceId: 'instance-1', version: '1.0.1' } });
    assert.equal(again.status, 200, 'the holder may activate again (a restart)');
    assert.equal((await f.show('edge-a')).version, '1.0.1');

    assert.equal((await f.config('edge-a')).doc.self.activationEpoch, 0);
    const deactivated = (await f.mustCall('POST', '/connected-registries/edge-a/deactivate')) as CrJson;
    assert.equal(deactivated.activation.status, 'Inactive');
    assert.equal(deactivated.connectionState, 'Offline');
    assert.equal((await f.config('edge-a')).doc.self.activationEpoch, 1, 'the epoch travels down in the config');
    const lost = await f.gw('PUT', 'edge-a', 'status', { body: report('instance-1') });
    assert.equal(lost.status, 409, 'the old instance lost its claim');
    assert.equal(code(lost), 'ALREADY_ACTIVATED');
    assert.equal((await f.gw('POST', 'edge-a', 'activate', { body: { instanceId: 'instance-2', version: '2.0.0' } })).status, 200, 'a new instance may claim it');
    assert.equal((await f.gw('POST', 'edge-a', 'activate', { body: { instanceId: 'instance-1', version: '1.0.1' } })).status, 409);
    shown = await f.show('edge-a');
    assert.equal(shown.activation.status, 'Active');
    assert.equal(shown.version, '2.0.0');
  });

  test('bad bodies are 400', async () => {
    const missing = await f.gw('POST', 'edge-b', 'activate', { body: { version: '1' } });
    assert.equal(missing.status, 400);
    assert.equal(code(missing), 'REQUEST_INVALID');
    assert.equal((await f.gw('PUT', 'edge-b', 'status', { body: { instanceId: 'x', connectionState: 'Sleeping', version: '1' } })).status, 400);
    assert.equal((await f.gw('GET', 'edge-b', 'messages?after=-1')).status, 400);
    assert.equal((await f.gw('GET', 'edge-b', 'messages?after=abc')).status, 400);
  });
});

describe('gateway: config document', () => {
  const f = new Fixture();
  before(async () => {
    await f.start();
    await f.createToken('client-top', ['repositories/app/content/read', 'repositories/app/metadata/read']);
    await f.createToken('client-kid', ['repositories/app/content/read']);
    await f.createToken('client-unrelated', ['repositories/else/content/read']);
    await f.createCr({ name: 'site-main', mode: 'ReadWrite', repositories: ['app', 'team/*'], clientTokens: ['client-top'], syncMessageTtl: 'P3D' });
    await f.createCr({ name: 'line-one', parent: 'site-main', repositories: ['app'], clientTokens: ['client-kid'] });
    await f.createCr({ name: 'lab-rw01', mode: 'ReadWrite', parent: 'site-main', repositories: ['team/lab'] });
    await f.createCr({ name: 'lab-leaf', parent: 'lab-rw01', repositories: ['team/lab'] });
    await f.createCr({ name: 'elsewhere', repositories: ['else'], clientTokens: ['client-unrelated'] });
  });
  after(() => f.close());

  test('self, scope, descendants parents first, tokens with hashes and their scope maps', async () => {
    const { doc, etag } = await f.config('site-main');
    assert.match(etag, /^"[0-9a-f]{40}"$/);
    assert.equal(doc.self.name, 'site-main');
    assert.equal(doc.self.mode, 'ReadWrite');
    assert.equal(doc.self.parent, null);
    assert.deepEqual(doc.self.sync, { tokenName: 'site-main', schedule: '* * * * *', syncWindow: null, messageTtl: 'P3D' });
    assert.deepEqual(doc.self.clientTokenIds, ['client-top']);
    assert.equal(doc.self.resyncRequestedAt, null);
    assert.equal(doc.self.gcRequest, null);
    assert.deepEqual(doc.repositories, ['app', 'team/*', 'team/lab'], 'its own and, as an ancestor, its descendants\' repositories');
    assert.deepEqual(doc.descendants.map((d) => [d.name, d.parent]), [['lab-rw01', 'site-main'], ['line-one', 'site-main'], ['lab-leaf', 'lab-rw01']]);
    assert.deepEqual(doc.tokens.map((t) => t.name), ['client-kid', 'client-top', 'lab-leaf', 'lab-rw01', 'line-one'],
      'its client tokens and every descendant\'s sync and client tokens; not its own sync token, nothing unrelated');
    assert.deepEqual(doc.scopeMaps.map((m) => m.name), ['client-kid-scope-map', 'client-top-scope-map', 'lab-leaf', 'lab-rw01', 'line-one']);
    assert.deepEqual(doc.scopeMaps.find((m) => m.name === 'line-one')!.actions, [
      'repositories/app/content/read', 'repositories/app/metadata/read',
      'gateway/line-one/config/read', 'gateway/line-one/config/write', 'gateway/line-one/message/read', 'gateway/line-one/message/write',
    ]);
    const kid = doc.tokens.find((t) => t.name === 'line-one')!;
    assert.match(kid.password1!.hash, /^scrypt\$/);
    assert.equal(kid.password2, null);
    assert.equal(kid.scopeMap, 'line-one');
    for (const [name, password] of f.passwords) assert.ok(!JSON.stringify(doc).includes(password), `no clear password of ${name}`);

    const leaf = await f.config('elsewhere');
    assert.deepEqual(leaf.doc.descendants, []);
    assert.deepEqual(leaf.doc.tokens.map((t) => t.name), ['client-unrelated']);
  });

  test('ETag: 304 while unchanged; a client-token change, a password, a resync, a gc request and a TTL change all change it', async () => {
    const { etag } = await f.config('site-main');
    const same = await f.gw('GET', 'site-main', 'config', { headers: { 'If-None-Match': etag } });
    assert.equal(same.status, 304);
    assert.equal(same.headers.get('etag'), etag);
    assert.equal(same.text, '');
    assert.equal((await f.gw('GET', 'site-main', 'config', { headers: { 'If-None-Match': '"something-else"' } })).status, 200);

    let previous = etag;
    const changed = async (what: string): Promise<ConfigDocument> => {
      const now = await f.config('site-main');
      assert.notEqual(now.etag, previous, what);
      assert.equal((await f.gw('GET', 'site-main', 'config', { headers: { 'If-None-Match': previous } })).status, 200, what);
      previous = now.etag;
      return now.doc;
    };
    await f.mustCall('PATCH', '/connected-registries/line-one', { addClientTokens: ['client-unrelated'] });
    assert.ok((await changed('a descendant\'s client token')).tokens.some((t) => t.name === 'client-unrelated'));
    await f.mustCall('POST', '/tokens/client-kid/credentials/generate', { passwordName: 'password2' });
    assert.match((await changed('a client token\'s new password')).tokens.find((t) => t.name === 'client-kid')!.password2!.hash, /^scrypt\$/);
    await f.mustCall('POST', '/connected-registries/lab-leaf/settings', { parentProtocol: 'http', generatePassword: 2 });
    await changed('a descendant\'s new sync password');
    await f.mustCall('POST', '/connected-registries/site-main/resync');
    assert.notEqual((await changed('a resync request')).self.resyncRequestedAt, null);
    await f.mustCall('POST', '/connected-registries/site-main/gc', { dryRun: true });
    assert.equal((await changed('a gc request')).self.gcRequest?.dryRun, true);
    await f.mustCall('POST', '/connected-registries/line-one/gc', {});
    assert.equal((await changed('a descendant\'s gc request')).descendants.find((d) => d.name === 'line-one')?.gcRequest?.dryRun, false,
      'carried down to the edge that serves it');
    await f.mustCall('PATCH', '/connected-registries/site-main', { syncMessageTtl: 'P5D' });
    assert.equal((await changed('the TTL')).self.sync.messageTtl, 'P5D');
    await f.mustCall('PATCH', '/tokens/client-top', { status: 'disabled' });
    assert.equal((await changed('a disabled client token')).tokens.find((t) => t.name === 'client-top')!.status, 'disabled');
  });
});

describe('gateway: messages', () => {
  const f = new Fixture();
  let client: TestClient;
  before(async () => {
    await f.start();
    client = f.admin;
    await f.createCr({ name: 'edge-wild', repositories: ['hello-world', 'team/*'] });
    await f.createCr({ name: 'edge-ttl1', repositories: ['*'], syncMessageTtl: 'P1D' });
  });
  after(() => f.close());

  test('scope filtering with wildcards; next moves past rows out of scope', async () => {
    const before = await f.head();
    const hello = await client.pushImage('hello-world', 'v1');
    await client.pushImage('team/app', 'v1');
    await client.pushImage('teamx', 'v1');
    await client.pushImage('team', 'v1');
    await client.pushImage('unrelated', 'v1');
    const head = await f.head();
    const page = await f.messages('edge-wild', `after=${before}`);
    assert.deepEqual(page.messages.map((m) => `${m.kind} ${m.repository}`), ['manifest hello-world', 'tag hello-world', 'manifest team/app', 'tag team/app']);
    const tag = page.messages[1]!;
    assert.equal(tag.tag, 'v1');
    assert.equal(tag.digest, hello.digest);
    assert.equal(tag.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.ok(Date.parse(tag.at) > 0);
    assert.ok(page.messages.every((m, i) => i === 0 || m.seq > page.messages[i - 1]!.seq), 'in order');
    assert.equal(page.next, head, 'past the out-of-scope rows at the end');
    assert.equal(page.head, head);
    assert.equal(page.config, (await f.config('edge-wild')).etag);
    const rest = await f.messages('edge-wild', `after=${page.next}`);
    assert.deepEqual(rest.messages, []);
    assert.equal(rest.next, head);
    const all = await f.messages('edge-ttl1', `after=${before}`);
    assert.equal(all.messages.length, 10, 'the * scope sees everything');

    await client.request('DELETE', `/v2/hello-world/manifests/v1`);
    const deleted = await client.request('DELETE', `/v2/hello-world/manifests/${hello.digest}`);
    assert.equal(deleted.status, 202);
    const deletes = await f.messages('edge-wild', `after=${head}`);
    assert.deepEqual(deletes.messages.map((m) => m.kind), ['tag-delete', 'manifest-delete']);
  });

  test('paging: at most 500 messages, next continues', async () => {
    // Many tag changes straight into the store (fast), in scope for edge-wild.
    const metadata = f.node.node.metadata;
    const config = Buffer.from('{}');
    const configDigest = sha256(config);
    await metadata.linkBlob({ origin: 'local', actor: null }, 'team/paged', configDigest, config.length);
    const manifest = { repository: 'team/paged', digest: sha256('paged-manifest'), mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 10, artifactType: null, subject: null, annotations: null, blobs: [configDigest], manifests: [] };
    const start = await f.head();
    for (let i = 0; i < 620; i++) await metadata.putManifest({ origin: 'local', actor: null }, { ...manifest, tag: `t${i}` });
    const head = await f.head();
    const first = await f.messages('edge-wild', `after=${start}`);
    assert.equal(first.messages.length, 500);
    assert.equal(first.next, first.messages[499]!.seq);
    assert.equal(first.head, head);
    const second = await f.messages('edge-wild', `after=${first.next}`);
    assert.equal(second.messages.length, head - first.next);
    assert.equal(second.next, head);
    assert.equal(second.messages.at(-1)!.tag, 't619');
  });

  test('long-poll: answers within milliseconds of a push, ignores out-of-scope pushes, times out after wait', async () => {
    const head = await f.head();
    const started = Date.now();
    const polled = f.messages('edge-wild', `after=${head}&wait=20`).then((page) => ({ page, at: Date.now() }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await client.pushImage('unrelated', 'v2');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const pushed = await client.pushImage('team/app', 'v2');
    const pushedAt = Date.now();
    const { page, at } = await polled;
    assert.ok(at - pushedAt < 150, `answered ${at - pushedAt} ms after the push`);
    assert.ok(at - started >= 600, 'the out-of-scope push did not answer it');
    assert.deepEqual(page.messages.map((m) => `${m.kind} ${m.repository}`), ['manifest team/app', 'tag team/app']);
    assert.equal(page.messages[1]!.digest, pushed.digest);
    assert.equal(page.next, await f.head());

    const idleStart = Date.now();
    const idle = await f.messages('edge-wild', `after=${page.next}&wait=1`);
    const took = Date.now() - idleStart;
    assert.ok(took >= 950 && took < 3000, `waited ${took} ms for wait=1`);
    assert.deepEqual(idle.messages, []);
    assert.equal(idle.next, page.next);

    const noWait = Date.now();
    await f.messages('edge-wild', `after=${page.next}`);
    assert.ok(Date.now() - noWait < 500, 'without wait it answers at once');
  });

  test('long-poll: a config change wakes it; a stale config ETag answers at once', async () => {
    const head = await f.head();
    const { etag } = await f.config('edge-wild');
    const stale = Date.now();
    const now = await f.messages('edge-wild', `after=${head}&wait=20&config=${encodeURIComponent('"stale"')}`);
    assert.ok(Date.now() - stale < 500, 'a child holding another config is told at once');
    assert.equal(now.config, etag);

    const polled = f.messages('edge-wild', `after=${head}&wait=20&config=${encodeURIComponent(etag)}`).then((page) => ({ page, at: Date.now() }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await f.mustCall('PATCH', '/connected-registries/edge-wild', { logLevel: 'Debug' });
    const changedAt = Date.now();
    const { page, at } = await polled;
    assert.ok(at - changedAt < 150, `answered ${at - changedAt} ms after the change`);
    assert.deepEqual(page.messages, []);
    assert.notEqual(page.config, etag);
    assert.equal(page.config, (await f.config('edge-wild')).etag);
    // The bare form (no quotes) is accepted too.
    const bare = Date.now();
    await f.messages('edge-wild', `after=${head}&wait=1&config=${page.config.replaceAll('"', '')}`);
    assert.ok(Date.now() - bare >= 950, 'the same ETag, bare, holds the poll');
  });

  test('long-poll: a held poll whose token loses its access meanwhile is refused at once, not kept open', async () => {
    await f.createCr({ name: 'edge-revoke', repositories: ['*'] });
    const hold = async (): Promise<{ answer: Answer; at: number }> => {
      const answer = await f.gw('GET', 'edge-revoke', `messages?after=${await f.head()}&wait=20`);
      return { answer, at: Date.now() };
    };
    // Its own sync token is not in its config document: the ETag stays the same.
    const { etag } = await f.config('edge-revoke');
    let polled = hold();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await f.mustCall('PATCH', '/tokens/edge-revoke', { status: 'disabled' });
    let changedAt = Date.now();
    let { answer, at } = await polled;
    assert.equal(answer.status, 401, answer.text);
    assert.ok(at - changedAt < 1000, `answered ${at - changedAt} ms after the token was disabled`);
    await f.mustCall('PATCH', '/tokens/edge-revoke', { status: 'enabled' });
    assert.equal((await f.config('edge-revoke')).etag, etag);

    polled = hold();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await f.mustCall('PATCH', '/scope-maps/edge-revoke', { removeActions: ['gateway/edge-revoke/message/read'] });
    changedAt = Date.now();
    ({ answer, at } = await polled);
    assert.equal(answer.status, 403, answer.text);
    assert.equal(code(answer), 'DENIED');
    assert.ok(at - changedAt < 1000, `answered ${at - changedAt} ms after the action was removed`);
  });

  test('TTL: 410 RESYNC_REQUIRED when the next change is older than the child\'s TTL (injected clock)', async () => {
    const head = await f.head();
    f.offsetMs = 1.5 * DAY_MS;
    try {
      const expired = await f.gw('GET', 'edge-ttl1', 'messages?after=0');
      assert.equal(expired.status, 410);
      assert.equal(code(expired), 'RESYNC_REQUIRED');
      assert.equal((expired.json as ErrorJson).errors[0]!.detail && ((expired.json as ErrorJson).errors[0]!.detail as { head: number }).head, head);
      assert.equal((await f.gw('GET', 'edge-ttl1', `messages?after=${head - 1}`)).status, 410, 'the newest change is 1.5 days old too');
      assert.equal((await f.gw('GET', 'edge-ttl1', `messages?after=${head}`)).status, 200, 'a current cursor needs nothing old');
      assert.equal((await f.gw('GET', 'edge-wild', 'messages?after=0')).status, 200, 'P2D (the default) has not expired yet');
      const ahead = await f.gw('GET', 'edge-wild', `messages?after=${head + 10}`);
      assert.equal(ahead.status, 410, 'a cursor ahead of the log');
    } finally {
      f.offsetMs = 0;
    }
    assert.equal((await f.gw('GET', 'edge-ttl1', 'messages?after=0')).status, 200);
  });

  test('prune: keeps the longest TTL of the direct children; a cursor before the pruned rows gets 410', async () => {
    const head = await f.head();
    f.offsetMs = 1.5 * DAY_MS;
    const prune = (): Promise<number> => f.node.node.jobs.runNow<number>('change-log-prune');
    assert.equal(await prune(), 0, 'edge-wild keeps P2D');
    f.offsetMs = 3 * DAY_MS;
    const removed = await prune();
    assert.equal(removed, head - 1, 'everything but the newest row');
    f.offsetMs = 0;
    const gone = await f.gw('GET', 'edge-wild', 'messages?after=0');
    assert.equal(gone.status, 410);
    assert.equal(((gone.json as ErrorJson).errors[0]!.detail as { reason: string }).reason, 'pruned');
    assert.equal((await f.gw('GET', 'edge-wild', `messages?after=${head - 1}`)).status, 200, 'the newest row stays');
    await client.pushImage('hello-world', 'after-prune');
    const page = await f.messages('edge-wild', `after=${head}`);
    assert.deepEqual(page.messages.map((m) => m.tag ?? '-'), ['-', 'after-prune']);
  });

  test('a client that goes away ends its long-poll', async () => {
    const events = f.node.node.events;
    const held = (): number => events.listenerCount('connected-registry-config-changed');
    const base = held();
    const controller = new AbortController();
    const polled = f.gw('GET', 'edge-wild', `messages?after=${await f.head()}&wait=30`, { signal: controller.signal }).catch((err: unknown) => err);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(held(), base + 1, 'the poll is held');
    controller.abort();
    assert.ok((await polled) instanceof Error);
    const until = Date.now() + 2000;
    while (held() > base && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(held(), base, 'the gateway stopped waiting for it');
  });

  test('a held long-poll answers at once when the node shuts down', async () => {
    const g = new Fixture();
    await g.start();
    await g.createCr({ name: 'edge-stop', repositories: ['*'] });
    const polled = g.messages('edge-stop', 'after=0&wait=30');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const closing = Date.now();
    await g.close();
    const page = await polled;
    assert.ok(Date.now() - closing < 5000, `closed in ${Date.now() - closing} ms, not after the 30 s wait`);
    assert.deepEqual(page.messages, []);
  });
});

describe('gateway: status', () => {
  const f = new Fixture();
  before(async () => {
    await f.start();
    await f.createCr({ name: 'edge-st1', repositories: ['hello-world', 'team/*'] });
    await f.createCr({ name: 'site-rw1', mode: 'ReadWrite', repositories: ['app'] });
    await f.createCr({ name: 'site-kid', parent: 'site-rw1', repositories: ['app'] });
    await f.createCr({ name: 'site-leaf', parent: 'site-kid', repositories: ['app'] });
    for (const cr of ['edge-st1', 'site-rw1']) {
      assert.equal((await f.gw('POST', cr, 'activate', { body: { instanceId: `${cr}-i1`, version: '1.0.0' } })).status, 200);
    }
  });
  after(() => f.close());

  test('the root shows what the heartbeat reported: Active, Online, version, login server, last sync, lag', async () => {
    await f.admin.pushImage('hello-world', 'v1');
    await f.admin.pushImage('team/app', 'v1');
    await f.admin.pushImage('unrelated', 'v1');
    const cursor = await f.head();
    await f.admin.pushImage('hello-world', 'v2');
    const lastSync = new Date(Date.now() - 5000).toISOString();
    const ack = await f.gw('PUT', 'edge-st1', 'status', {
      body: report('edge-st1-i1', { version: '1.2.3', loginServer: { host: 'edge.local:8080', tls: { status: 'Disabled' } }, lastSyncTime: lastSync, cursor }),
    });
    assert.equal(ack.status, 200, ack.text);
    assert.equal((ack.json as StatusAck).config, (await f.config('edge-st1')).etag);
    const shown = await f.show('edge-st1');
    assert.equal(shown.activation.status, 'Active');
    assert.equal(shown.connectionState, 'Online');
    assert.equal(shown.version, '1.2.3');
    assert.deepEqual(shown.loginServer, { host: 'edge.local:8080', tls: { status: 'Disabled' } });
    assert.equal(shown.parent.syncProperties.lastSyncTime, lastSync);
    assert.ok(Math.abs(Date.parse(shown.lastActivityTime!) - Date.now()) < 5000);
    assert.deepEqual(shown.syncStatus.repositories, [{ name: 'hello-world', pendingChanges: 2 }, { name: 'team/app', pendingChanges: 0 }]);

    await f.gw('PUT', 'edge-st1', 'status', { body: report('edge-st1-i1', { cursor: await f.head() }) });
    assert.deepEqual((await f.show('edge-st1')).syncStatus.repositories, [{ name: 'hello-world', pendingChanges: 0 }, { name: 'team/app', pendingChanges: 0 }]);
    await f.gw('PUT', 'edge-st1', 'status', { body: report('edge-st1-i1', { cursor: null }) });
    assert.deepEqual((await f.show('edge-st1')).syncStatus.repositories, [{ name: 'hello-world', pendingChanges: 4 }, { name: 'team/app', pendingChanges: 2 }],
      'before its first sync, everything is pending');
    // The outbox backlog it reports is shown as it was at the last heartbeat.
    await f.gw('PUT', 'edge-st1', 'status', { body: report('edge-st1-i1', { outbox: 7 }) });
    assert.equal((await f.show('edge-st1')).syncStatus.outboxPending, 7);
    const syncing = await f.gw('PUT', 'edge-st1', 'status', { body: report('edge-st1-i1', { connectionState: 'Syncing' }) });
    assert.equal((await f.show('edge-st1')).syncStatus.outboxPending, 0, 'drained');
    assert.equal(syncing.status, 200);
    assert.equal((await f.show('edge-st1')).connectionState, 'Syncing');
  });

  test('Unhealthy with a DiskError detail, Online again when it clears, Offline once heartbeats stop', async () => {
    const disk = { type: 'Disk', code: 'DiskError', description: 'No space left on device.', timestamp: new Date().toISOString(), correlationId: 'c-1' };
    assert.equal((await f.gw('PUT', 'edge-st1', 'status', { body: report('edge-st1-i1', { statusDetails: [disk] }) })).status, 200);
    let shown = await f.show('edge-st1');
    assert.equal(shown.connectionState, 'Unhealthy');
    assert.deepEqual(shown.statusDetails, [disk]);
    assert.deepEqual((await f.mustCall('GET', '/connected-registries?connectionState=Unhealthy') as Array<{ name: string }>).map((c) => c.name), ['edge-st1']);
    await f.gw('PUT', 'edge-st1', 'status', { body: report('edge-st1-i1') });
    shown = await f.show('edge-st1');
    assert.equal(shown.connectionState, 'Online');
    assert.deepEqual(shown.statusDetails, []);

    f.offsetMs = (OFFLINE_AFTER_SECONDS + 1) * 1000;
    try {
      assert.equal((await f.show('edge-st1')).connectionState, 'Offline');
      const offline = (await f.mustCall('GET', '/connected-registries?connectionState=Offline')) as Array<{ name: string }>;
      assert.ok(offline.some((c) => c.name === 'edge-st1'));
      const online = (await f.mustCall('GET', '/connected-registries?connectionState=Online')) as Array<{ name: string }>;
      assert.ok(!online.some((c) => c.name === 'edge-st1'));
      await f.gw('PUT', 'edge-st1', 'status', { body: report('edge-st1-i1') });
      assert.equal((await f.show('edge-st1')).connectionState, 'Online', 'a heartbeat at the new time brings it back');
    } finally {
      f.offsetMs = 0;
    }
  });

  test('the last garbage collection: recorded from the heartbeat and relayed from below; kept when an older child says nothing; checked', async () => {
    const gc: GcReport = {
      dryRun: false, startedAt: '2030-01-01T00:00:00.000Z', finishedAt: '2030-01-01T00:00:02.000Z', graceSeconds: 3600,
      links: { count: 3, bytes: 300 }, blobs: { count: 2, bytes: 200 }, manifests: { count: 1, bytes: 10 }, uploads: { count: 1, bytes: 5 },
      freedBytes: 215, skipped: 0, timings: { linksMs: 1, markMs: 2, sweepMs: 3, uploadsMs: 1, totalMs: 7 },
    };
    assert.equal((await f.show('edge-st1')).lastGarbageCollection, null, 'none before a report');
    assert.equal((await f.gw('PUT', 'edge-st1', 'status', { body: report('edge-st1-i1', { lastGarbageCollection: gc }) })).status, 200);
    assert.deepEqual((await f.show('edge-st1')).lastGarbageCollection, gc);
    const { lastGarbageCollection: _none, ...older } = report('edge-st1-i1');
    assert.equal((await f.gw('PUT', 'edge-st1', 'status', { body: older })).status, 200);
    assert.deepEqual((await f.show('edge-st1')).lastGarbageCollection, gc, 'a heartbeat without the field leaves it');
    const bad = await f.gw('PUT', 'edge-st1', 'status', { body: report('edge-st1-i1', { lastGarbageCollection: { ...gc, freedBytes: -1 } }) });
    assert.equal(bad.status, 400);
    assert.match(message(bad), /lastGarbageCollection\.freedBytes/);

    const seen = new Date().toISOString();
    const kid = {
      name: 'site-kid', activationEpoch: 0, activationStatus: 'Active' as const, instanceId: 'kid-i1', connectionState: 'Online' as const,
      lastActivityTime: seen, lastSyncTime: seen, version: '0.9.0', loginServer: null, statusDetails: [], repositories: [], outbox: 0,
      lastGarbageCollection: { ...gc, dryRun: true },
    };
    assert.equal((await f.gw('PUT', 'site-rw1', 'status', { body: report('site-rw1-i1', { descendants: [kid] }) })).status, 200);
    assert.deepEqual((await f.show('site-kid')).lastGarbageCollection, { ...gc, dryRun: true }, 'relayed from below');
  });

  test('relayed statuses update the child\'s descendants only; an older activation epoch is ignored', async () => {
    const seen = new Date().toISOString();
    const kid = {
      name: 'site-kid', activationEpoch: 0, activationStatus: 'Active' as const, instanceId: 'kid-i1', connectionState: 'Online' as const,
      lastActivityTime: seen, lastSyncTime: seen, version: '0.9.0', loginServer: { host: 'kid.local:8080' }, statusDetails: [],
      repositories: [{ name: 'app', pendingChanges: 3 }], outbox: 5,
    };
    const leaf = { ...kid, name: 'site-leaf', instanceId: 'leaf-i1', version: '0.8.0', statusDetails: [{ type: 'Disk', code: 'DiskError', description: 'full', timestamp: seen, correlationId: '' }] };
    const stranger = { ...kid, name: 'edge-st1', version: '6.6.6', instanceId: 'evil' };
    const ack = await f.gw('PUT', 'site-rw1', 'status', { body: report('site-rw1-i1', { descendants: [kid, leaf, stranger, { ...kid, name: 'nowhere-cr' }] }) });
    assert.equal(ack.status, 200, ack.text);
    const shownKid = await f.show('site-kid');
    assert.equal(shownKid.activation.status, 'Active');
    assert.equal(shownKid.connectionState, 'Online');
    assert.equal(shownKid.version, '0.9.0');
    assert.deepEqual(shownKid.loginServer, { host: 'kid.local:8080' });
    assert.equal(shownKid.parent.syncProperties.lastSyncTime, seen);
    assert.deepEqual(shownKid.syncStatus.repositories, [{ name: 'app', pendingChanges: 3 }]);
    assert.equal(shownKid.syncStatus.outboxPending, 5, 'relayed from below');
    assert.equal((await f.show('site-leaf')).connectionState, 'Unhealthy');
    assert.notEqual((await f.show('edge-st1')).version, '6.6.6', 'not a descendant of the reporter');

    await f.mustCall('POST', '/connected-registries/site-kid/deactivate');
    await f.gw('PUT', 'site-rw1', 'status', { body: report('site-rw1-i1', { descendants: [kid] }) });
    const after = await f.show('site-kid');
    assert.equal(after.activation.status, 'Inactive', 'the relay from before the deactivate reached the edge is stale');
    assert.equal(after.connectionState, 'Offline');
    await f.gw('PUT', 'site-rw1', 'status', { body: report('site-rw1-i1', { descendants: [{ ...kid, activationEpoch: 1, instanceId: 'kid-i2', version: '1.0.0' }] }) });
    const renewed = await f.show('site-kid');
    assert.equal(renewed.activation.status, 'Active', 'a relay at the new epoch applies');
    assert.equal(renewed.version, '1.0.0');
  });
});
