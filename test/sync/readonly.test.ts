import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createConnectedRegistry, startEdge, tagDigest, tokenClient, waitFor } from '../helpers/hierarchy.js';
import { TestClient, sha256 } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { WRITE_NOT_ALLOWED } from '../../src/sync/edge-policy.js';
import { FAST_SYNC, createToken, pushImage, startRoot, type PushedImage, type Root } from './sync-fixture.js';

/**
 * A ReadOnly edge (docs/api.md, "On a connected node") refuses every write — push, tag, delete — with 403
 * DENIED and `This operation is not allowed on this registry.`, whatever the token allows; its
 * token service still grants what the token allows, so clients reach that clear refusal.
 */
describe('a ReadOnly edge refuses every write', () => {
  let root: Root;
  let edge: TestNode;
  let writer: TestClient;
  let v1: PushedImage;

  before(async () => {
    root = await startRoot();
    const password = await createToken(root.admin, 'rowriter', ['content/read', 'content/write', 'content/delete', 'metadata/read', 'metadata/write'].map((a) => `repositories/app/${a}`));
    const cr = await createConnectedRegistry(root.admin, { name: 'edgereadonly', mode: 'ReadOnly', repositories: ['app'], clientTokens: ['rowriter'], logLevel: 'Error' });
    v1 = await pushImage(root.admin, 'app', 'v1');
    edge = await startEdge(cr.connectionString, { app: FAST_SYNC });
    writer = tokenClient(edge.url, 'rowriter', password);
    await waitFor('app:v1 at the edge, readable with the client token', async () => (await tagDigest(writer, 'app', 'v1')) === v1.digest);
  });

  after(async () => {
    await edge?.close();
    await root?.node.close();
  });

  async function assertDenied(res: Response, what: string): Promise<void> {
    assert.equal(res.status, 403, `${what}: ${res.status}`);
    const body = (await res.json()) as { errors: Array<{ code: string; message: string }> };
    assert.equal(body.errors[0]!.code, 'DENIED', what);
    assert.equal(body.errors[0]!.message, WRITE_NOT_ALLOWED, what);
  }

  /** Every kind of write to app (and, for the admin, to a repository out of the scope), as `client` sends it. */
  async function everyWrite(client: TestClient, outOfScope = false): Promise<Array<[string, Response]>> {
    const blob = 'not allowed here';
    return [
      ['start an upload', await client.request('POST', '/v2/app/blobs/uploads/')],
      ['monolithic upload', await client.request('POST', `/v2/app/blobs/uploads/?digest=${sha256(blob)}`, { body: blob, headers: { 'Content-Type': 'application/octet-stream' } })],
      ['cross-repository mount', await client.request('POST', `/v2/app/blobs/uploads/?mount=${v1.blobs[0]}&from=app`)],
      ['push a manifest', await client.putManifest('app', 'v2', v1.body)],
      ['tag by digest', await client.putManifest('app', 'again', v1.body)],
      ['push by digest', await client.putManifest('app', v1.digest, v1.body)],
      ['delete a tag', await client.request('DELETE', '/v2/app/manifests/v1')],
      ['delete a manifest', await client.request('DELETE', `/v2/app/manifests/${v1.digest}`)],
      ['delete a blob', await client.request('DELETE', `/v2/app/blobs/${v1.blobs[1]}`)],
      ...(outOfScope ? [['push to a repository out of the scope', await client.putManifest('elsewhere', 'v1', v1.body)] as [string, Response]] : []),
    ];
  }

  test('push, tag and delete are DENIED with the exact message, with Basic credentials of a token that allows them', async () => {
    for (const [what, res] of await everyWrite(writer)) await assertDenied(res, what);
    assert.equal(await tagDigest(writer, 'app', 'v1'), v1.digest, 'nothing changed');
    assert.equal(await tagDigest(writer, 'app', 'v2'), null);
  });

  test('the token service still grants push and delete in the JWT, and the write is DENIED, not 401', async () => {
    const host = new URL(edge.url).host;
    const res = await fetch(`${edge.url}/oauth2/token?service=${host}&scope=repository:app:pull,push,delete`, {
      headers: { Authorization: writer.authorization! },
    });
    assert.equal(res.status, 200);
    const token = ((await res.json()) as { token: string }).token;
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { access: Array<{ type: string; name: string; actions: string[] }> };
    const app = claims.access.find((a) => a.type === 'repository' && a.name === 'app');
    assert.ok(app, JSON.stringify(claims.access));
    assert.deepEqual([...app.actions].sort(), ['delete', 'pull', 'push']);

    const bearer = new TestClient(edge.url, `Bearer ${token}`);
    for (const [what, answer] of await everyWrite(bearer)) await assertDenied(answer, `${what} (Bearer)`);
    assert.equal(await tagDigest(bearer, 'app', 'v1'), v1.digest, 'pulls with the same JWT work');
  });

  test('the admin is refused too', async () => {
    for (const [what, res] of await everyWrite(new TestClient(edge.url), true)) await assertDenied(res, `${what} (admin)`);
    // The same credentials at the root are not refused: the refusal is the edge's mode.
    const atRoot = await root.admin.putManifest('app', 'v2', v1.body);
    assert.equal(atRoot.status, 201);
  });
});
