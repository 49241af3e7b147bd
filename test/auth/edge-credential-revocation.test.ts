import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createConnectedRegistry, startEdge, tagDigest, tokenClient, waitFor } from '../helpers/hierarchy.js';
import { TestClient } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';
import type { TestNode } from '../helpers/test-node.js';
import { FAST_SYNC, createToken, pushImage, startRoot, type Root } from '../sync/sync-fixture.js';

/**
 * An edge authenticates client tokens from the records its parent sends; when a credential is
 * rotated or a token leaves the edge at the root, the next config makes the edge refuse the old
 * password (Basic), and the JWTs and refresh tokens the edge issued for it too.
 */
describe('credentials revoked at the root stop working at the edge, JWTs and refresh tokens included', () => {
  let root: Root;
  let edge: TestNode;

  before(async () => {
    root = await startRoot();
    await pushImage(root.admin, 'app', 'v1');
  });
  after(async () => {
    await edge?.close();
    await root?.node.close();
  });

  async function grant(username: string, password: string): Promise<{ access: string; refresh: string }> {
    const res = await fetch(new URL('/oauth2/token', edge.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'password', username, password, service: 'edge', scope: 'repository:app:pull' }).toString(),
    });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { access_token: string; refresh_token: string };
    return { access: body.access_token, refresh: body.refresh_token };
  }

  async function refreshStatus(refresh: string): Promise<number> {
    const res = await fetch(new URL('/oauth2/token', edge.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refresh, scope: 'repository:app:pull' }).toString(),
    });
    await res.arrayBuffer();
    return res.status;
  }

  async function pullStatus(authorization: string): Promise<number> {
    const res = await new TestClient(edge.url, authorization).request('GET', '/v2/app/manifests/v1');
    await res.arrayBuffer();
    return res.status;
  }

  test('a rotated password and a token removed from the edge: Basic, JWT and refresh token all refused there', async () => {
    const rotating = await createToken(root.admin, 'edge-rotating', ['repositories/app/content/read', 'repositories/app/metadata/read']);
    const leaving = await createToken(root.admin, 'edge-leaving', ['repositories/app/content/read', 'repositories/app/metadata/read']);
    const cr = await createConnectedRegistry(root.admin, { name: 'edgeauth', mode: 'ReadOnly', repositories: ['app'], clientTokens: ['edge-rotating', 'edge-leaving'], logLevel: 'None' });
    edge = await startEdge(cr.connectionString, { app: { ...FAST_SYNC, loginThrottle: { baseMs: 1, maxMs: 5 } } });
    await waitFor('app:v1 at the edge for both client tokens', async () =>
      (await tagDigest(tokenClient(edge.url, 'edge-rotating', rotating), 'app', 'v1')) !== null
      && (await tagDigest(tokenClient(edge.url, 'edge-leaving', leaving), 'app', 'v1')) !== null);

    const rotatingTokens = await grant('edge-rotating', rotating);
    const leavingTokens = await grant('edge-leaving', leaving);
    assert.equal(await pullStatus(`Bearer ${rotatingTokens.access}`), 200);
    assert.equal(await refreshStatus(rotatingTokens.refresh), 200);

    assert.equal((await mgmt(root.admin, 'POST', '/tokens/edge-rotating/credentials/generate', { passwordName: 'password1' })).status, 200);
    assert.equal((await mgmt(root.admin, 'PATCH', '/connected-registries/edgeauth', { removeClientTokens: ['edge-leaving'] })).status, 200);
    await waitFor('the edge refuses the rotated password', async () => (await pullStatus(tokenClient(edge.url, 'edge-rotating', rotating).authorization!)) === 401);
    await waitFor('the edge refuses the removed token', async () => (await pullStatus(tokenClient(edge.url, 'edge-leaving', leaving).authorization!)) === 401);

    assert.equal(await pullStatus(`Bearer ${rotatingTokens.access}`), 401, 'an access JWT of the rotated password');
    assert.equal(await refreshStatus(rotatingTokens.refresh), 401, 'a refresh token of the rotated password');
    assert.equal(await pullStatus(`Bearer ${leavingTokens.access}`), 401, 'an access JWT of a token no longer accepted here');
    assert.equal(await refreshStatus(leavingTokens.refresh), 401, 'a refresh token of a token no longer accepted here');
  });
});
