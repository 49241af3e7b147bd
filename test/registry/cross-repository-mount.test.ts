import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient, basicAuth, sha256 } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';

/**
 * Cross-repository mounts take a blob only from a repository the caller may read (content/read),
 * whoever the caller is (Basic or a Bearer JWT holding only its granted scopes). Anything else is
 * an ordinary upload session, answered exactly as if the blob did not exist anywhere, so a mount
 * never tells a caller what other repositories hold.
 */

interface TokenAnswer {
  credentials: { passwords: Array<{ value?: string }> };
}

const PUSH = ['content/read', 'content/write', 'metadata/read', 'metadata/write'];

async function createToken(admin: TestClient, name: string, actions: string[]): Promise<string> {
  const answer = await mgmt(admin, 'POST', '/tokens', { name, actions });
  assert.equal(answer.status, 201, JSON.stringify(answer.json));
  return (answer.json as TokenAnswer).credentials.passwords[0]!.value!;
}

/** A Bearer JWT from the token endpoint (Docker GET flow) for these scopes. */
async function bearer(node: TestNode, username: string, password: string, scopes: string[]): Promise<TestClient> {
  const host = new URL(node.url).host;
  const query = [`service=${host}`, ...scopes.map((s) => `scope=${encodeURIComponent(s)}`)].join('&');
  const res = await fetch(new URL(`/oauth2/token?${query}`, node.url), { headers: { Authorization: basicAuth(username, password) } });
  assert.equal(res.status, 200, await res.clone().text());
  return new TestClient(node.url, `Bearer ${((await res.json()) as { token: string }).token}`);
}

/** A Bearer JWT from the OAuth2 POST flow (grant_type=password), as containerd asks for one. */
async function bearerPost(node: TestNode, username: string, password: string, scopes: string[]): Promise<TestClient> {
  const res = await fetch(new URL('/oauth2/token', node.url), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username, password, service: 'outpost', scope: scopes.join(' ') }).toString(),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return new TestClient(node.url, `Bearer ${((await res.json()) as { access_token: string }).access_token}`);
}

/** The answer headers that describe an upload answer (everything but the per-request ones). */
function shape(res: Response): Record<string, string | null> {
  return {
    status: String(res.status),
    location: res.headers.get('location')?.replace(/[0-9a-f-]{36}$/, '<id>') ?? null,
    range: res.headers.get('range'),
    uuid: res.headers.get('docker-upload-uuid') === null ? null : '<id>',
    digest: res.headers.get('docker-content-digest'),
    length: res.headers.get('content-length'),
    names: [...res.headers.keys()].filter((name) => name !== 'date').sort().join(','),
  };
}

describe('a mount takes a blob only from a repository the caller may read', () => {
  let node: TestNode;
  let admin: TestClient;
  let secret: string;
  let basicA: TestClient;
  let passwordA: string;

  before(async () => {
    node = await startTestNode({ app: { loginThrottle: { baseMs: 1, maxMs: 5 } } });
    admin = new TestClient(node.url);
    // Only repob holds this blob; the token below has no access to repob at all.
    secret = await admin.pushBlob('repob', randomBytes(512));
    passwordA = await createToken(admin, 'tok-repoa', PUSH.map((p) => `repositories/repoa/${p}`));
    basicA = new TestClient(node.url, basicAuth('tok-repoa', passwordA));
  });
  after(() => node.close());

  test('mount without from of a blob only an unreadable repository holds: 202 and a session, nothing linked', async () => {
    const res = await basicA.request('POST', `/v2/repoa/blobs/uploads/?mount=${secret}`);
    assert.equal(res.status, 202);
    assert.match(res.headers.get('location') ?? '', /^\/v2\/repoa\/blobs\/uploads\/[0-9a-f-]{36}$/);
    assert.equal(res.headers.get('range'), '0-0');
    const get = await basicA.request('GET', `/v2/repoa/blobs/${secret}`);
    assert.equal(get.status, 404, 'repob\'s bytes must not be readable through repoa');
    assert.equal((await basicA.request('HEAD', `/v2/repoa/blobs/${secret}`)).status, 404);
  });

  test('mount with from naming an unreadable repository: 202, nothing linked', async () => {
    const res = await basicA.request('POST', `/v2/repoa/blobs/uploads/?mount=${secret}&from=repob`);
    assert.equal(res.status, 202);
    assert.equal((await basicA.request('GET', `/v2/repoa/blobs/${secret}`)).status, 404);
  });

  test('the answer is the same whether or not some other repository holds the digest', async () => {
    const absent = sha256(randomBytes(16));
    for (const from of ['', '&from=repob', '&from=nosuchrepo']) {
      const held = await basicA.request('POST', `/v2/repoa/blobs/uploads/?mount=${secret}${from}`);
      const nowhere = await basicA.request('POST', `/v2/repoa/blobs/uploads/?mount=${absent}${from}`);
      assert.deepEqual(shape(held), shape(nowhere), `mount${from || ' without from'}`);
      const plain = await basicA.request('POST', '/v2/repoa/blobs/uploads/');
      assert.deepEqual(shape(held), shape(plain), `mount${from || ' without from'} answers like a plain POST`);
    }
  });

  test('mount without from takes the blob from a repository the caller may read', async () => {
    const shared = await admin.pushBlob('team/readable', randomBytes(300));
    // Also in an unreadable repository that sorts first: the readable one must still be found.
    await admin.request('POST', `/v2/aaa/blobs/uploads/?mount=${shared}&from=team/readable`);
    const password = await createToken(admin, 'tok-reader', [...PUSH.map((p) => `repositories/repoc/${p}`), 'repositories/team/readable/content/read']);
    const reader = new TestClient(node.url, basicAuth('tok-reader', password));
    const res = await reader.request('POST', `/v2/repoc/blobs/uploads/?mount=${shared}`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('docker-content-digest'), shared);
    assert.equal((await reader.request('GET', `/v2/repoc/blobs/${shared}`)).status, 200);
    // The blob of repob stays out of reach for this token too.
    assert.equal((await reader.request('POST', `/v2/repoc/blobs/uploads/?mount=${secret}`)).status, 202);
  });

  test('a JWT without any scope on repob cannot mount from it either', async () => {
    const jwt = await bearer(node, 'tok-repoa', passwordA, ['repository:repoa:pull,push', 'repository:repob:pull']);
    assert.equal((await jwt.request('POST', `/v2/repoa/blobs/uploads/?mount=${secret}&from=repob`)).status, 202);
    assert.equal((await jwt.request('POST', `/v2/repoa/blobs/uploads/?mount=${secret}`)).status, 202);
    assert.equal((await jwt.request('GET', `/v2/repoa/blobs/${secret}`)).status, 404);
  });

  test('the admin still mounts with and without from', async () => {
    assert.equal((await admin.request('POST', `/v2/admin/one/blobs/uploads/?mount=${secret}&from=repob`)).status, 201);
    assert.equal((await admin.request('POST', `/v2/admin/two/blobs/uploads/?mount=${secret}`)).status, 201);
  });
});

describe('mounts with Bearer tokens', () => {
  let node: TestNode;
  let admin: TestClient;
  let password: string;
  let layer: string;

  before(async () => {
    node = await startTestNode({ app: { loginThrottle: { baseMs: 1, maxMs: 5 } } });
    admin = new TestClient(node.url);
    layer = await admin.pushBlob('team/app', randomBytes(1024));
    // Pull on team/app, push on team/new: docker's shape of a mount across repositories.
    password = await createToken(admin, 'tok-team', [
      'repositories/team/app/content/read', 'repositories/team/app/metadata/read',
      ...PUSH.map((p) => `repositories/team/new/${p}`),
    ]);
  });
  after(() => node.close());

  test('Basic: 201', async () => {
    const basic = new TestClient(node.url, basicAuth('tok-team', password));
    const res = await basic.request('POST', `/v2/team/new/blobs/uploads/?mount=${layer}&from=team/app`);
    assert.equal(res.status, 201);
  });

  test('a JWT granting pull on from and push on the target (GET flow): 201, and the blob is readable there', async () => {
    const jwt = await bearer(node, 'tok-team', password, ['repository:team/new:pull,push', 'repository:team/app:pull']);
    const res = await jwt.request('POST', `/v2/team/new/blobs/uploads/?mount=${layer}&from=team/app`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('location'), `/v2/team/new/blobs/${layer}`);
    assert.equal((await jwt.request('HEAD', `/v2/team/new/blobs/${layer}`)).status, 200);
  });

  test('a JWT from the OAuth2 POST flow: 201, also without from', async () => {
    const other = await admin.pushBlob('team/app', randomBytes(700));
    const jwt = await bearerPost(node, 'tok-team', password, ['repository:team/new:pull,push', 'repository:team/app:pull']);
    assert.equal((await jwt.request('POST', `/v2/team/new/blobs/uploads/?mount=${other}&from=team/app`)).status, 201);
    const third = await admin.pushBlob('team/app', randomBytes(701));
    assert.equal((await jwt.request('POST', `/v2/team/new/blobs/uploads/?mount=${third}`)).status, 201);
  });

  test('a JWT that was not granted pull on from gets a session, though its token could read from', async () => {
    const fresh = await admin.pushBlob('team/app', randomBytes(900));
    const jwt = await bearer(node, 'tok-team', password, ['repository:team/new:pull,push']);
    assert.equal((await jwt.request('POST', `/v2/team/new/blobs/uploads/?mount=${fresh}&from=team/app`)).status, 202);
    assert.equal((await jwt.request('POST', `/v2/team/new/blobs/uploads/?mount=${fresh}`)).status, 202);
  });
});
