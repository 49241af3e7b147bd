import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient, errorCode, sha256 } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';
import { createConnectedRegistry } from '../helpers/hierarchy.js';

/**
 * A JWT grants no more than the scopes it was issued for, whoever asked for it: the admin's JWT
 * for `repository:repoa:pull` pulls repoa and nothing else. The management API needs the admin's
 * Basic credentials and the sync gateway its gateway actions; a Bearer JWT opens neither.
 */
describe("an admin's JWT is held to its scope", () => {
  let node: TestNode;
  let admin: TestClient;
  let repob: { digest: string; layers: string[] };

  before(async () => {
    node = await startTestNode();
    admin = new TestClient(node.url);
    await admin.pushImage('repoa', 'v1');
    repob = await admin.pushImage('repob', 'v1');
  });
  after(() => node.close());

  async function adminJwt(scope: string): Promise<TestClient> {
    const res = await fetch(new URL(`/oauth2/token?service=outpost&scope=${encodeURIComponent(scope)}`, node.url), { headers: { Authorization: admin.authorization! } });
    assert.equal(res.status, 200);
    return new TestClient(node.url, `Bearer ${((await res.json()) as { token: string }).token}`);
  }

  async function statusOf(res: Promise<Response>): Promise<number> {
    const answer = await res;
    await answer.arrayBuffer();
    return answer.status;
  }

  test('pull repoa: allowed; push there, anything in repob and the catalog: 403 DENIED', async () => {
    const bearer = await adminJwt('repository:repoa:pull');
    assert.equal(await statusOf(bearer.request('GET', '/v2/repoa/manifests/v1')), 200);
    assert.equal(await statusOf(bearer.request('GET', '/v2/repoa/tags/list')), 200);
    const data = randomBytes(16);
    const push = await bearer.request('POST', `/v2/repoa/blobs/uploads/?digest=${sha256(data)}`, { body: data, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(push.status, 403);
    assert.equal(await errorCode(push), 'DENIED');
    assert.equal(await statusOf(bearer.request('GET', '/v2/repob/manifests/v1')), 403);
    const deleted = await bearer.request('DELETE', `/v2/repob/manifests/${repob.digest}`);
    assert.equal(deleted.status, 403);
    assert.equal(await errorCode(deleted), 'DENIED');
    assert.equal(await statusOf(bearer.request('DELETE', `/v2/repob/blobs/${repob.layers[0]}`)), 403);
    assert.equal(await statusOf(bearer.request('GET', '/v2/_catalog')), 403, 'the catalog was not in the scope');
    assert.equal(await statusOf(admin.request('GET', '/v2/repob/manifests/v1')), 200, 'repob is untouched');
  });

  test('the catalog scope lists every repository for the admin, and grants nothing else', async () => {
    const bearer = await adminJwt('registry:catalog:*');
    const catalog = await bearer.request('GET', '/v2/_catalog');
    assert.equal(catalog.status, 200);
    assert.deepEqual(((await catalog.json()) as { repositories: string[] }).repositories, ['repoa', 'repob']);
    assert.equal(await statusOf(bearer.request('GET', '/v2/repoa/manifests/v1')), 403);
  });

  test('the management API refuses every Bearer JWT, the widest admin JWT included; admin Basic opens it', async () => {
    const bearer = await adminJwt('repository:repoa:pull,push,delete repository:repob:pull,push,delete registry:catalog:*');
    for (const [method, path] of [['GET', '/tokens'], ['GET', '/scope-maps'], ['GET', '/repositories'], ['DELETE', '/repositories/repob'], ['POST', '/tokens']] as const) {
      const answer = await mgmt(bearer, method, path, method === 'POST' ? { name: 'sneaky-token', scopeMap: '_repositories_admin' } : undefined);
      assert.equal(answer.status, 403, `${method} ${path}`);
      assert.equal((answer.json as { errors: Array<{ code: string }> }).errors[0]!.code, 'DENIED');
    }
    assert.equal(await statusOf(admin.request('GET', '/v2/repob/manifests/v1')), 200, 'repob was not deleted');
    assert.equal((await mgmt(admin, 'GET', '/tokens')).status, 200);
    assert.equal((await mgmt(admin, 'GET', '/tokens/sneaky-token')).status, 404);
  });

  test('the sync gateway refuses an admin JWT (it never carries gateway actions); admin Basic is served', async () => {
    await createConnectedRegistry(admin, { name: 'edgegw', mode: 'ReadOnly', repositories: ['repoa'] });
    const bearer = await adminJwt('repository:repoa:pull,push,delete registry:catalog:*');
    const refused = await bearer.request('GET', '/gateway/v1/edgegw/config');
    assert.equal(refused.status, 403);
    assert.equal(await errorCode(refused), 'DENIED');
    assert.equal(await statusOf(admin.request('GET', '/gateway/v1/edgegw/config')), 200);
  });
});
