import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestNode, tempDir, type TestNode } from '../helpers/test-node.js';
import { TestClient, basicAuth, sha256 } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';

/**
 * Upload sessions belong to writing: only a caller that may push to the session's repository
 * can see or touch a session (its status GET included), through the URL of that repository
 * only; and one caller can hold only so many open sessions (429 TOOMANYREQUESTS past that).
 */

interface TokenAnswer {
  credentials: { passwords: Array<{ value?: string }> };
}

async function token(admin: TestClient, url: string, name: string, actions: string[]): Promise<TestClient> {
  const answer = await mgmt(admin, 'POST', '/tokens', { name, actions });
  assert.equal(answer.status, 201, JSON.stringify(answer.json));
  return new TestClient(url, basicAuth(name, (answer.json as TokenAnswer).credentials.passwords[0]!.value!));
}

const PUSH = ['content/read', 'content/write', 'metadata/read', 'metadata/write'];

describe('who may use an upload session', () => {
  let node: TestNode;
  let admin: TestClient;
  let reader: TestClient;
  let writer: TestClient;
  let location: string;

  before(async () => {
    node = await startTestNode({ app: { loginThrottle: { baseMs: 1, maxMs: 5 } } });
    admin = new TestClient(node.url);
    reader = await token(admin, node.url, 'tok-reader', ['repositories/up/app/content/read', 'repositories/up/app/metadata/read']);
    writer = await token(admin, node.url, 'tok-writer', [...PUSH.map((p) => `repositories/up/app/${p}`), ...PUSH.map((p) => `repositories/up/other/${p}`)]);
    const start = await admin.request('POST', '/v2/up/app/blobs/uploads/');
    assert.equal(start.status, 202);
    location = start.headers.get('location')!;
    assert.equal((await admin.request('PATCH', location, { body: 'secret bytes', headers: { 'Content-Type': 'application/octet-stream' } })).status, 202);
  });
  after(() => node.close());

  test('a caller that may only pull gets 403 on the status GET as on every other session call', async () => {
    const status = await reader.request('GET', location);
    assert.equal(status.status, 403, 'status GET needs push');
    assert.equal(status.headers.get('range'), null, 'and tells nothing of the session');
    assert.equal((await reader.request('PATCH', location, { body: 'x' })).status, 403);
    assert.equal((await reader.request('PUT', `${location}?digest=${sha256('secret bytes')}`)).status, 403);
    assert.equal((await reader.request('DELETE', location)).status, 403);
  });

  test('a caller that may push to the repository may use the session', async () => {
    const status = await writer.request('GET', location);
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-11');
  });

  test('through the URL of another repository a session is unknown, answered exactly as an id that never existed', async () => {
    const elsewhere = await writer.request('GET', location.replace('/v2/up/app/', '/v2/up/other/'));
    const id = location.slice(location.lastIndexOf('/') + 1);
    const never = await writer.request('GET', `/v2/up/other/blobs/uploads/${id.replace(/^.{8}/, '00000000')}`);
    assert.equal(elsewhere.status, 404);
    assert.equal(never.status, 404);
    const body = async (res: Response, replace: string): Promise<string> => (await res.text()).replace(replace, '<id>');
    assert.equal(await body(elsewhere, id), await body(never, id.replace(/^.{8}/, '00000000')));
    // Nor may it be written, completed or cancelled that way; the session is untouched.
    assert.equal((await writer.request('PATCH', location.replace('/v2/up/app/', '/v2/up/other/'), { body: 'x' })).status, 404);
    assert.equal((await writer.request('DELETE', location.replace('/v2/up/app/', '/v2/up/other/'))).status, 404);
    assert.equal((await writer.request('GET', location)).headers.get('range'), '0-11');
  });
});

describe('open upload sessions are bounded per caller', () => {
  let dir: { path: string; cleanup(): Promise<void> };
  let node: TestNode;
  let admin: TestClient;
  let pusher: TestClient;
  let other: TestClient;
  const LIMIT = 5;

  before(async () => {
    dir = await tempDir('outpost-sessions-');
    node = await startTestNode({ dataDir: dir.path, app: { uploadSessionsPerCaller: LIMIT, loginThrottle: { baseMs: 1, maxMs: 5 } } });
    admin = new TestClient(node.url);
    pusher = await token(admin, node.url, 'tok-pusher', PUSH.map((p) => `repositories/bound/*/${p}`));
    other = await token(admin, node.url, 'tok-other', PUSH.map((p) => `repositories/bound/*/${p}`));
  });
  after(async () => {
    await node.close();
    await dir.cleanup();
  });

  test('past the bound a POST is 429 TOOMANYREQUESTS with a clear message; finishing or cancelling frees a place', async () => {
    const locations: string[] = [];
    for (let i = 0; i < LIMIT; i++) {
      const res = await pusher.request('POST', `/v2/bound/r${i % 2}/blobs/uploads/`);
      assert.equal(res.status, 202);
      locations.push(res.headers.get('location')!);
    }
    const refused = await pusher.request('POST', '/v2/bound/r0/blobs/uploads/');
    assert.equal(refused.status, 429);
    const error = ((await refused.json()) as { errors: Array<{ code: string; message: string }> }).errors[0]!;
    assert.equal(error.code, 'TOOMANYREQUESTS');
    assert.match(error.message, /too many open upload sessions: this caller has 5, the limit is 5/);

    // Another caller is not affected, and monolithic pushes and mounts open no session.
    assert.equal((await other.request('POST', '/v2/bound/r0/blobs/uploads/')).status, 202);
    assert.match(await pusher.pushBlob('bound/r0', randomBytes(64)), /^sha256:/);

    assert.equal((await pusher.request('DELETE', locations.pop()!)).status, 204);
    assert.equal((await pusher.request('POST', '/v2/bound/r0/blobs/uploads/')).status, 202);
    assert.equal((await pusher.request('POST', '/v2/bound/r0/blobs/uploads/')).status, 429);
    const data = randomBytes(100);
    assert.equal((await pusher.request('PUT', `${locations.pop()!}?digest=${sha256(data)}`, { body: data, headers: { 'Content-Type': 'application/octet-stream' } })).status, 201);
    assert.equal((await pusher.request('POST', '/v2/bound/r1/blobs/uploads/')).status, 202);
  });

  test('the bound holds across a restart', async () => {
    await node.close();
    node = await startTestNode({ dataDir: dir.path, app: { uploadSessionsPerCaller: LIMIT, loginThrottle: { baseMs: 1, maxMs: 5 } } });
    const again = new TestClient(node.url, pusher.authorization);
    assert.equal((await again.request('POST', '/v2/bound/r0/blobs/uploads/')).status, 429);
  });
});
