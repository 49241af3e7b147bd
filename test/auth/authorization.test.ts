import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestNode, tempDir, type TestNode } from '../helpers/test-node.js';
import { TestClient, basicAuth, errorCode, sha256, TEST_ADMIN_PASSWORD } from '../helpers/oci-client.js';

interface TokenAnswer {
  credentials: { passwords: Array<{ name: string; value?: string }> };
}

/** Creates a token with these actions through the management API; returns its two passwords. */
async function createToken(admin: TestClient, name: string, actions: string[], extra: Record<string, unknown> = {}): Promise<[string, string]> {
  const res = await admin.request('POST', '/mgmt/v1/tokens', { body: JSON.stringify({ name, actions, ...extra }), headers: { 'Content-Type': 'application/json' } });
  assert.equal(res.status, 201, await res.clone().text());
  const body = (await res.json()) as TokenAnswer;
  return [body.credentials.passwords[0]!.value!, body.credentials.passwords[1]!.value!];
}

const ALL = ['content/read', 'content/write', 'content/delete', 'metadata/read', 'metadata/write'];

type Action = (client: TestClient, repo: string) => Promise<number>;

describe('authorization matrix over real HTTP', () => {
  let node: TestNode;
  let admin: TestClient;
  const images = new Map<string, { digest: string; body: string; layers: string[] }>();

  before(async () => {
    node = await startTestNode({ app: { loginThrottle: { baseMs: 1, maxMs: 5 } } });
    admin = new TestClient(node.url);
    for (const repo of ['allowed/app', 'team/x', 'other']) images.set(repo, await admin.pushImage(repo, 'v1'));
  });
  after(() => node.close());

  /** A fresh manifest and blob to delete, pushed by the admin. */
  async function victim(repo: string): Promise<{ manifest: string; blob: string }> {
    const image = await admin.pushImage(repo, `del-${randomBytes(4).toString('hex')}`);
    const blob = await admin.pushBlob(repo, randomBytes(64));
    return { manifest: image.digest, blob };
  }

  const actions: Record<string, Action> = {
    'pull blob': async (c, repo) => (await c.request('GET', `/v2/${repo}/blobs/${images.get(repo)!.layers[0]}`)).status,
    'pull manifest': async (c, repo) => (await c.request('GET', `/v2/${repo}/manifests/v1`)).status,
    'push blob': async (c, repo) => {
      const data = randomBytes(32);
      return (await c.request('POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { body: data, headers: { 'Content-Type': 'application/octet-stream' } })).status;
    },
    'push manifest by tag': async (c, repo) => (await c.putManifest(repo, `t-${randomBytes(3).toString('hex')}`, images.get(repo)!.body)).status,
    'delete manifest': async (c, repo) => (await c.request('DELETE', `/v2/${repo}/manifests/${(await victim(repo)).manifest}`)).status,
    'delete blob': async (c, repo) => (await c.request('DELETE', `/v2/${repo}/blobs/${(await victim(repo)).blob}`)).status,
    'tags list': async (c, repo) => (await c.request('GET', `/v2/${repo}/tags/list`)).status,
    catalog: async (c) => (await c.request('GET', '/v2/_catalog')).status,
  };

  function ok(status: number): boolean {
    return status >= 200 && status < 300;
  }

  async function expectMatrix(client: TestClient, repo: string, expected: (action: string) => 'ok' | 401 | 403, label: string): Promise<void> {
    for (const [name, run] of Object.entries(actions)) {
      const status = await run(client, repo);
      const want = expected(name);
      if (want === 'ok') assert.ok(ok(status), `${label}: ${name} on ${repo} -> ${status}, expected 2xx`);
      else assert.equal(status, want, `${label}: ${name} on ${repo}`);
    }
  }

  test('an enabled token: everything on its repository, DENIED elsewhere; catalog lists only what it may read', async () => {
    const [p1, p2] = await createToken(admin, 'tok-enabled', ALL.map((a) => `repositories/allowed/app/${a}`));
    for (const [label, password] of [['password1', p1], ['password2', p2]] as const) {
      const client = new TestClient(node.url, basicAuth('tok-enabled', password));
      await expectMatrix(client, 'allowed/app', () => 'ok', label);
      await expectMatrix(client, 'other', (a) => (a === 'catalog' ? 'ok' : 403), label);
      const catalog = (await (await client.request('GET', '/v2/_catalog')).json()) as { repositories: string[] };
      assert.deepEqual(catalog.repositories, ['allowed/app']);
    }
  });

  test('a disabled token and an expired password: 401 everywhere', async () => {
    const [p1] = await createToken(admin, 'tok-disabled', ALL.map((a) => `repositories/allowed/app/${a}`), { status: 'disabled' });
    await expectMatrix(new TestClient(node.url, basicAuth('tok-disabled', p1)), 'allowed/app', () => 401, 'disabled');
    const [e1] = await createToken(admin, 'tok-expired', ALL.map((a) => `repositories/allowed/app/${a}`), { expiry: '2020-01-01T00:00:00Z' });
    await expectMatrix(new TestClient(node.url, basicAuth('tok-expired', e1)), 'allowed/app', () => 401, 'expired');
    const res = await new TestClient(node.url, basicAuth('tok-expired', e1)).request('GET', '/v2/allowed/app/tags/list');
    assert.equal(await errorCode(res), 'UNAUTHORIZED');
    await expectMatrix(new TestClient(node.url, basicAuth('tok-enabled', 'wrong')), 'allowed/app', () => 401, 'wrong password');
    await expectMatrix(new TestClient(node.url, null), 'allowed/app', () => 401, 'no credentials');
  });

  test('wildcard * (read only) and prefix/* (read-write, no delete)', async () => {
    const [star] = await createToken(admin, 'tok-star', ['repositories/*/content/read', 'repositories/*/metadata/read']);
    const starClient = new TestClient(node.url, basicAuth('tok-star', star));
    const readOnly = (a: string): 'ok' | 403 => (['pull blob', 'pull manifest', 'tags list', 'catalog'].includes(a) ? 'ok' : 403);
    for (const repo of ['allowed/app', 'other', 'team/x']) await expectMatrix(starClient, repo, readOnly, '*');

    const [prefix] = await createToken(admin, 'tok-prefix', ['content/read', 'content/write', 'metadata/read', 'metadata/write'].map((a) => `repositories/team/*/${a}`));
    const prefixClient = new TestClient(node.url, basicAuth('tok-prefix', prefix));
    await expectMatrix(prefixClient, 'team/x', (a) => (a.startsWith('delete') ? 403 : 'ok'), 'team/*');
    await expectMatrix(prefixClient, 'other', (a) => (a === 'catalog' ? 'ok' : 403), 'team/* elsewhere');
    // A repository that does not exist yet is covered by the wildcard.
    assert.ok(ok((await prefixClient.pushImage('team/brand-new', 'v1').then(() => 201))));
  });

  test('content/write without metadata/write pushes blobs but not tags', async () => {
    const [p] = await createToken(admin, 'tok-blobs', ['repositories/allowed/app/content/write', 'repositories/allowed/app/content/read']);
    const client = new TestClient(node.url, basicAuth('tok-blobs', p));
    assert.equal(await actions['push blob']!(client, 'allowed/app'), 201);
    const res = await client.putManifest('allowed/app', 'nope', images.get('allowed/app')!.body);
    assert.equal(res.status, 403);
    assert.equal(await errorCode(res), 'DENIED');
    assert.equal(await actions['tags list']!(client, 'allowed/app'), 403, 'tags list needs metadata/read');
  });

  test('the Docker token flow: 401 challenge, token with Basic, Bearer retry; scopes intersected', async () => {
    const [p] = await createToken(admin, 'tok-flow', ['repositories/allowed/app/content/read', 'repositories/allowed/app/metadata/read']);
    const host = new URL(node.url).host;
    const anonymous = await fetch(new URL('/v2/allowed/app/manifests/v1', node.url));
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.headers.get('www-authenticate'), `Bearer realm="http://${host}/oauth2/token",service="${host}",scope="repository:allowed/app:pull"`);
    const push = await fetch(new URL('/v2/allowed/app/blobs/uploads/', node.url), { method: 'POST' });
    assert.equal(push.headers.get('www-authenticate'), `Bearer realm="http://${host}/oauth2/token",service="${host}",scope="repository:allowed/app:pull,push"`);

    for (const path of ['/oauth2/token', '/acr/oauth2/token']) {
      const url = `${path}?service=${host}&scope=${encodeURIComponent('repository:allowed/app:pull,push,delete')}&scope=${encodeURIComponent('repository:other:pull')}`;
      const res = await fetch(new URL(url, node.url), { headers: { Authorization: basicAuth('tok-flow', p) } });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
      assert.equal(body.token, body.access_token);
      assert.ok(body.expires_in > 0 && body.expires_in <= 3600);
      assert.ok(!Number.isNaN(Date.parse(body.issued_at)));
      const claims = JSON.parse(Buffer.from(body.token.split('.')[1]!, 'base64url').toString()) as { access: Array<{ type: string; name: string; actions: string[] }> };
      assert.deepEqual(claims.access.map((a) => [a.type, a.name, a.actions]), [['repository', 'allowed/app', ['pull']]]);
      const bearer = new TestClient(node.url, `Bearer ${body.token}`);
      assert.equal((await bearer.request('GET', '/v2/allowed/app/manifests/v1')).status, 200);
      assert.equal((await bearer.request('GET', '/v2/allowed/app/tags/list')).status, 200);
      const denied = await bearer.request('GET', '/v2/other/manifests/v1');
      assert.equal(denied.status, 403);
      assert.equal(await errorCode(denied), 'DENIED');
      assert.equal((await bearer.putManifest('allowed/app', 'x', images.get('allowed/app')!.body)).status, 403);
    }
    const bad = await fetch(new URL('/oauth2/token?scope=repository:allowed/app:pull', node.url), { headers: { Authorization: basicAuth('tok-flow', 'nope') } });
    assert.equal(bad.status, 401);
    assert.equal(await errorCode(bad), 'UNAUTHORIZED');
    const garbage = new TestClient(node.url, 'Bearer not.a.jwt');
    assert.equal((await garbage.request('GET', '/v2/allowed/app/manifests/v1')).status, 401);
  });

  test('OAuth2 POST: grant_type=password, then refresh_token', async () => {
    const [p] = await createToken(admin, 'tok-post', ['repositories/allowed/app/content/read']);
    const form = (fields: Record<string, string>): RequestInit => ({
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
    const res = await fetch(new URL('/oauth2/token', node.url), form({
      grant_type: 'password', username: 'tok-post', password: p, service: 'outpost', scope: 'repository:allowed/app:pull,push', client_id: 'test', access_type: 'offline',
    }));
    assert.equal(res.status, 200);
    const body = (await res.json()) as { access_token: string; refresh_token: string; scope: string; expires_in: number };
    assert.equal(body.scope, 'repository:allowed/app:pull');
    assert.ok(body.refresh_token);
    assert.equal((await new TestClient(node.url, `Bearer ${body.access_token}`).request('GET', '/v2/allowed/app/manifests/v1')).status, 200);
    assert.equal((await new TestClient(node.url, `Bearer ${body.refresh_token}`).request('GET', '/v2/allowed/app/manifests/v1')).status, 401, 'a refresh token is not an access token');

    const refreshed = await fetch(new URL('/oauth2/token', node.url), form({ grant_type: 'refresh_token', refresh_token: body.refresh_token, service: 'outpost', scope: 'repository:allowed/app:pull' }));
    assert.equal(refreshed.status, 200);
    const again = (await refreshed.json()) as { access_token: string };
    assert.equal((await new TestClient(node.url, `Bearer ${again.access_token}`).request('GET', '/v2/allowed/app/manifests/v1')).status, 200);

    const wrong = await fetch(new URL('/oauth2/token', node.url), form({ grant_type: 'password', username: 'tok-post', password: 'x', scope: '' }));
    assert.equal(wrong.status, 401);
    // Disabling the token stops refreshes.
    await admin.request('PATCH', '/mgmt/v1/tokens/tok-post', { body: JSON.stringify({ status: 'disabled' }), headers: { 'Content-Type': 'application/json' } });
    const stopped = await fetch(new URL('/oauth2/token', node.url), form({ grant_type: 'refresh_token', refresh_token: body.refresh_token }));
    assert.equal(stopped.status, 401);
  });
});

describe('node identity files and options', () => {
  test('generated admin password file is 0600 and works; the JWT key persists across a restart', async () => {
    const data = await tempDir();
    try {
      let node = await startTestNode({ dataDir: data.path, adminPassword: null });
      const file = join(data.path, 'admin-password');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      assert.equal((await stat(join(data.path, 'jwt-signing-key.pem'))).mode & 0o777, 0o600);
      const password = (await readFile(file, 'utf8')).trim();
      assert.ok(password.length >= 32);
      const admin = new TestClient(node.url, basicAuth('admin', password));
      await admin.pushImage('keep/me', 'v1');
      assert.equal((await new TestClient(node.url).request('GET', '/v2/keep/me/manifests/v1')).status, 401, 'the test password is not the admin password here');
      const res = await fetch(new URL('/oauth2/token?scope=repository:keep/me:pull', node.url), { headers: { Authorization: basicAuth('admin', password) } });
      const { token } = (await res.json()) as { token: string };
      await node.close();

      node = await startTestNode({ dataDir: data.path, adminPassword: null });
      const bearer = new TestClient(node.url, `Bearer ${token}`);
      assert.equal((await bearer.request('GET', '/v2/keep/me/manifests/v1')).status, 200, 'a token issued before the restart still verifies');
      assert.equal((await new TestClient(node.url, basicAuth('admin', password)).request('GET', '/v2/keep/me/tags/list')).status, 200, 'same admin password');
      await node.close();
    } finally {
      await data.cleanup();
    }
  });

  test('anonymous pull lets anyone pull but not push', async () => {
    const node = await startTestNode({ anonymousPull: true });
    try {
      await new TestClient(node.url).pushImage('open/app', 'v1');
      const anon = new TestClient(node.url, null);
      assert.equal((await anon.request('GET', '/v2/open/app/manifests/v1')).status, 200);
      assert.equal((await anon.request('GET', '/v2/open/app/tags/list')).status, 200);
      const push = await anon.request('POST', '/v2/open/app/blobs/uploads/');
      assert.equal(push.status, 401);
      assert.match(push.headers.get('www-authenticate') ?? '', /^Bearer realm=/);
      const token = await fetch(new URL('/oauth2/token?scope=repository:open/app:pull,push', node.url));
      assert.equal(token.status, 200, 'anonymous tokens for pull');
    } finally {
      await node.close();
    }
  });

  test('failed logins are slowed down over HTTP, then recover', async () => {
    const node = await startTestNode({ app: { loginThrottle: { baseMs: 150, maxMs: 600, halfLifeMs: 400 } } });
    try {
      const bad = new TestClient(node.url, basicAuth('admin', 'wrong'));
      const timings: number[] = [];
      for (let i = 0; i < 4; i++) {
        const start = performance.now();
        assert.equal((await bad.request('GET', '/v2/')).status, 401);
        timings.push(performance.now() - start);
      }
      assert.ok(timings[3]! > timings[0]! + 200, `delays grow: ${timings.map((t) => t.toFixed(0)).join(', ')}`);
      await new Promise((r) => setTimeout(r, 3000));
      const start = performance.now();
      assert.equal((await new TestClient(node.url, basicAuth('admin', TEST_ADMIN_PASSWORD)).request('GET', '/v2/')).status, 200);
      assert.ok(performance.now() - start < 150, 'decayed: the right password is answered promptly');
    } finally {
      await node.close();
    }
  });
});
