import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestNode, tempDir, type TestNode } from '../helpers/test-node.js';
import { TestClient, basicAuth, errorCode } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';

/**
 * A refresh token (and an access JWT) is bound to the exact credential it was obtained with — the
 * admin password, or one password slot of a token — and checked against the live credential on
 * every use (docs/architecture.md, "Identity"): rotating, removing, expiring or disabling that
 * credential, or deleting its token (even when a token of the same name is created again),
 * revokes it at once.
 */

interface TokenAnswer {
  access_token: string;
  refresh_token?: string;
  token?: string;
}

const READ = ['repositories/app/content/read', 'repositories/app/metadata/read'];

function form(fields: Record<string, string>): RequestInit {
  return { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() };
}

/** OAuth2 POST grant_type=password: the access and refresh token. */
async function passwordGrant(url: string, username: string, password: string): Promise<{ access: string; refresh: string }> {
  const res = await fetch(new URL('/oauth2/token', url), form({ grant_type: 'password', username, password, service: 'outpost', scope: 'repository:app:pull' }));
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as TokenAnswer;
  assert.ok(body.refresh_token);
  return { access: body.access_token, refresh: body.refresh_token };
}

/** The Docker GET flow with `offline_token=true`: the access and refresh token. */
async function offlineToken(url: string, username: string, password: string): Promise<{ access: string; refresh: string }> {
  const res = await fetch(new URL('/oauth2/token?service=outpost&scope=repository:app:pull&offline_token=true', url), {
    headers: { Authorization: basicAuth(username, password) },
  });
  assert.equal(res.status, 200, await res.clone().text());
  const body = (await res.json()) as TokenAnswer;
  assert.ok(body.refresh_token);
  return { access: body.access_token, refresh: body.refresh_token };
}

/** The status of grant_type=refresh_token with this refresh token. */
async function refreshStatus(url: string, refresh: string): Promise<number> {
  const res = await fetch(new URL('/oauth2/token', url), form({ grant_type: 'refresh_token', refresh_token: refresh, service: 'outpost', scope: 'repository:app:pull' }));
  const status = res.status;
  if (status === 401) assert.equal(await errorCode(res), 'UNAUTHORIZED');
  else await res.arrayBuffer();
  return status;
}

/** The status of pulling app:v1 with this access JWT. */
async function pullStatus(url: string, access: string): Promise<number> {
  const res = await new TestClient(url, `Bearer ${access}`).request('GET', '/v2/app/manifests/v1');
  await res.arrayBuffer();
  return res.status;
}

async function createToken(admin: TestClient, name: string, actions: string[]): Promise<{ password1: string; password2: string }> {
  const created = await mgmt(admin, 'POST', '/tokens', { name, actions });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  const passwords = (created.json as { credentials: { passwords: Array<{ name: string; value: string }> } }).credentials.passwords;
  return { password1: passwords.find((p) => p.name === 'password1')!.value, password2: passwords.find((p) => p.name === 'password2')!.value };
}

describe('refresh tokens and access JWTs die with the credential they were obtained with', () => {
  let node: TestNode;
  let admin: TestClient;

  before(async () => {
    node = await startTestNode({ app: { loginThrottle: { baseMs: 1, maxMs: 5 } } });
    admin = new TestClient(node.url);
    await admin.pushImage('app', 'v1');
  });
  after(() => node.close());

  test('rotating the password a refresh token came from revokes it (and its JWTs); the other slot lives on', async () => {
    const { password1, password2 } = await createToken(admin, 'tok-rotate', READ);
    const viaP1 = await passwordGrant(node.url, 'tok-rotate', password1);
    const viaP2 = await passwordGrant(node.url, 'tok-rotate', password2);
    assert.equal(await refreshStatus(node.url, viaP1.refresh), 200, 'works before the rotation');
    assert.equal(await pullStatus(node.url, viaP1.access), 200);

    const rotated = await mgmt(admin, 'POST', '/tokens/tok-rotate/credentials/generate', { passwordName: 'password1' });
    assert.equal(rotated.status, 200);
    assert.equal(await refreshStatus(node.url, viaP1.refresh), 401, 'a refresh token of the rotated password');
    assert.equal(await pullStatus(node.url, viaP1.access), 401, 'an access JWT of the rotated password');
    assert.equal(await refreshStatus(node.url, viaP2.refresh), 200, 'password2 was not rotated');
    assert.equal(await pullStatus(node.url, viaP2.access), 200);
    const newPassword = (rotated.json as { credentials: { passwords: Array<{ name: string; value?: string }> } }).credentials.passwords.find((p) => p.name === 'password1')!.value!;
    const fresh = await passwordGrant(node.url, 'tok-rotate', newPassword);
    assert.equal(await refreshStatus(node.url, fresh.refresh), 200, 'the new password gets working tokens');
  });

  test('deleting the password revokes its refresh tokens; deleting both revokes all', async () => {
    const { password1, password2 } = await createToken(admin, 'tok-remove', READ);
    const viaP1 = await passwordGrant(node.url, 'tok-remove', password1);
    const viaP2 = await offlineToken(node.url, 'tok-remove', password2);
    assert.equal((await mgmt(admin, 'POST', '/tokens/tok-remove/credentials/delete', { passwordName: 'password1' })).status, 200);
    assert.equal(await refreshStatus(node.url, viaP1.refresh), 401);
    assert.equal(await pullStatus(node.url, viaP1.access), 401);
    assert.equal(await refreshStatus(node.url, viaP2.refresh), 200);
    assert.equal((await mgmt(admin, 'POST', '/tokens/tok-remove/credentials/delete', { passwordName: 'password2' })).status, 200);
    assert.equal(await refreshStatus(node.url, viaP2.refresh), 401, 'the GET offline_token flow is bound the same way');
    assert.equal(await pullStatus(node.url, viaP2.access), 401);
  });

  test('disabling the token revokes refresh tokens and access JWTs; enabling it again restores them', async () => {
    const { password1 } = await createToken(admin, 'tok-disable', READ);
    const tokens = await offlineToken(node.url, 'tok-disable', password1);
    assert.equal((await mgmt(admin, 'PATCH', '/tokens/tok-disable', { status: 'disabled' })).status, 200);
    assert.equal(await refreshStatus(node.url, tokens.refresh), 401);
    assert.equal(await pullStatus(node.url, tokens.access), 401, 'an access JWT of a disabled token');
    // The credential itself did not change: the same password works again once enabled.
    assert.equal((await mgmt(admin, 'PATCH', '/tokens/tok-disable', { status: 'enabled' })).status, 200);
    assert.equal(await refreshStatus(node.url, tokens.refresh), 200);
  });

  test('an expired password revokes its refresh tokens and access JWTs', async () => {
    const { password1 } = await createToken(admin, 'tok-expire', READ);
    const tokens = await passwordGrant(node.url, 'tok-expire', password1);
    const record = (await node.node.identities.getToken('tok-expire'))!.password1!;
    // The same hash, now expired: the credential is unchanged but no longer valid.
    await node.node.identities.setTokenPassword('tok-expire', 'password1', { ...record, expiry: new Date(Date.now() - 1000) });
    assert.equal(await refreshStatus(node.url, tokens.refresh), 401);
    assert.equal(await pullStatus(node.url, tokens.access), 401);
  });

  test('a token deleted and created again with the same name: the old refresh token and JWT grant nothing', async () => {
    const { password1 } = await createToken(admin, 'tok-reborn', READ);
    const old = await passwordGrant(node.url, 'tok-reborn', password1);
    assert.equal((await mgmt(admin, 'DELETE', '/tokens/tok-reborn')).status, 204);
    assert.equal(await refreshStatus(node.url, old.refresh), 401, 'the token is gone');
    assert.equal(await pullStatus(node.url, old.access), 401);
    // The same name, now with the system admin scope map: wider than before.
    assert.equal((await mgmt(admin, 'POST', '/tokens', { name: 'tok-reborn', scopeMap: '_repositories_admin' })).status, 201);
    assert.equal(await refreshStatus(node.url, old.refresh), 401, "not valid for the new token's scopes");
    assert.equal(await pullStatus(node.url, old.access), 401);
  });
});

describe("the admin's tokens die with the admin password", () => {
  test('a restart with a new OUTPOST_ADMIN_PASSWORD revokes refresh tokens and JWTs of the old one; the same password keeps them', async () => {
    const data = await tempDir();
    try {
      let node = await startTestNode({ dataDir: data.path, adminPassword: 'first-admin-password' });
      await new TestClient(node.url, basicAuth('admin', 'first-admin-password')).pushImage('app', 'v1');
      const viaPost = await passwordGrant(node.url, 'admin', 'first-admin-password');
      const viaGet = await offlineToken(node.url, 'admin', 'first-admin-password');
      await node.close();

      node = await startTestNode({ dataDir: data.path, adminPassword: 'first-admin-password' });
      assert.equal(await refreshStatus(node.url, viaPost.refresh), 200, 'same password: the refresh token survives a restart');
      assert.equal(await pullStatus(node.url, viaGet.access), 200);
      await node.close();

      node = await startTestNode({ dataDir: data.path, adminPassword: 'second-admin-password' });
      try {
        assert.equal((await new TestClient(node.url, basicAuth('admin', 'first-admin-password')).request('GET', '/v2/')).status, 401, 'the old Basic password');
        assert.equal(await refreshStatus(node.url, viaPost.refresh), 401, 'a refresh token of the old password (POST flow)');
        assert.equal(await refreshStatus(node.url, viaGet.refresh), 401, 'a refresh token of the old password (GET offline_token flow)');
        assert.equal(await pullStatus(node.url, viaPost.access), 401, 'an access JWT of the old password');
        assert.equal(await pullStatus(node.url, viaGet.access), 401);
        const fresh = await passwordGrant(node.url, 'admin', 'second-admin-password');
        assert.equal(await refreshStatus(node.url, fresh.refresh), 200, 'the new password gets working tokens');
        assert.equal(await pullStatus(node.url, fresh.access), 200);
      } finally {
        await node.close();
      }
    } finally {
      await data.cleanup();
    }
  });
});
