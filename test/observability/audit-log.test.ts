import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, rename } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startTestNode, tempDir, type TestNode } from '../helpers/test-node.js';
import { OCI_MANIFEST, TEST_ADMIN_PASSWORD, TestClient, basicAuth } from '../helpers/oci-client.js';
import { createConnectedRegistry, startEdge, tagDigest, waitFor, type CreatedRegistry } from '../helpers/hierarchy.js';
import { FAST_SYNC, createToken, edgeStore, mustMgmt, pushImage } from '../sync/sync-fixture.js';
import { mgmt } from '../helpers/management-calls.js';

// The audit log (docs/observability.md, "Audit log"): one JSON line per client write and delete,
// failed sign-in, management change and sync action, to its own file; switched on and off at an
// edge by its resource; reopened after rotation; never a secret in it.

interface AuditLine {
  time: string;
  registry: string | null;
  identity: string | null;
  address: string | null;
  action: string;
  repository: string | null;
  reference: string | null;
  digest: string | null;
  resource: string | null;
  result: string;
  status: number | null;
}

async function linesOf(path: string): Promise<AuditLine[]> {
  if (!existsSync(path)) return [];
  const text = await readFile(path, 'utf8');
  return text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AuditLine);
}

const FAST_THROTTLE = { loginThrottle: { baseMs: 1, maxMs: 5 } };
const WRONG = ['wrong-password-basic-1', 'wrong-password-form-2', 'wrong-password-gateway-3', 'wrong-password-mgmt-4'];

describe('the audit log', () => {
  let dir: { path: string; cleanup(): Promise<void> };
  let rootLog: string;
  let root: TestNode;
  let atRoot: TestClient;
  let edge: TestNode;
  let atEdge: TestClient;
  let cr: CreatedRegistry;
  let edgeLog: string;
  let botPassword: string;
  let jwt: string;
  const generatedPasswords: string[] = [];

  before(async () => {
    dir = await tempDir();
    rootLog = join(dir.path, 'logs', 'root-audit.log');
    root = await startTestNode({ env: { OUTPOST_AUDIT_LOG: rootLog }, app: FAST_THROTTLE });
    atRoot = new TestClient(root.url);
    cr = await createConnectedRegistry(atRoot, { name: 'audited', mode: 'ReadWrite', repositories: ['app'], logLevel: 'None', auditLogStatus: 'Disabled' });
    edge = await startEdge(cr.connectionString, { app: { ...FAST_SYNC, ...FAST_THROTTLE } });
    atEdge = new TestClient(edge.url);
    edgeLog = join(edge.dataDir, 'audit.log');
    await waitFor('the first sync', async () => (await edgeStore(edge).getCursor()) !== null);
  });

  after(async () => {
    await edge?.close();
    await root?.close();
    await dir?.cleanup();
  });

  test('a push, a denied push, a Bearer push, a delete and a mount at the root are one line each, with who and from where', async () => {
    const image = await pushImage(atRoot, 'app', 'v1');
    botPassword = await createToken(atRoot, 'ci-bot', ['repositories/app/content/read', 'repositories/app/content/write', 'repositories/app/metadata/write']);
    const bot = new TestClient(root.url, basicAuth('ci-bot', botPassword));
    const denied = await bot.request('POST', '/v2/other/blobs/uploads/');
    assert.equal(denied.status, 403);
    // A Bearer JWT from the token endpoint: its subject is who pushed.
    const form = new URLSearchParams({ grant_type: 'password', username: 'ci-bot', password: botPassword, scope: 'repository:app:pull,push', service: 'x' });
    const issued = await fetch(`${root.url}/oauth2/token`, { method: 'POST', body: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    assert.equal(issued.status, 200);
    jwt = ((await issued.json()) as { access_token: string }).access_token;
    const bearer = new TestClient(root.url, `Bearer ${jwt}`);
    const byBot = await pushImage(bearer, 'app', 'bot');
    const untag = await atRoot.request('DELETE', '/v2/app/manifests/bot');
    assert.equal(untag.status, 202);
    const mounted = await atRoot.request('POST', `/v2/copy/blobs/uploads/?mount=${image.blobs[1]}&from=app`);
    assert.equal(mounted.status, 201);

    const lines = await linesOf(rootLog);
    const push = lines.find((l) => l.action === 'v2.manifest.push' && l.reference === 'v1');
    assert.deepEqual({ ...push, time: 'x' }, {
      time: 'x', registry: null, identity: 'admin', address: '127.0.0.1', action: 'v2.manifest.push', repository: 'app', reference: 'v1',
      digest: image.digest, resource: null, result: 'success', status: 201,
    });
    assert.ok(!Number.isNaN(Date.parse(push!.time)));
    assert.ok(lines.filter((l) => l.action === 'v2.blob.upload' && l.identity === 'admin' && l.repository === 'app').length >= 2, 'the blobs pushed');
    assert.ok(lines.some((l) => l.action === 'v2.blob.upload' && l.repository === 'other' && l.identity === 'ci-bot' && l.result === 'denied' && l.status === 403));
    assert.ok(lines.some((l) => l.action === 'v2.manifest.push' && l.reference === 'bot' && l.identity === 'ci-bot' && l.digest === byBot.digest), 'the JWT\'s subject');
    assert.ok(lines.some((l) => l.action === 'v2.tag.delete' && l.reference === 'bot' && l.result === 'success'));
    assert.ok(lines.some((l) => l.action === 'v2.blob.mount' && l.repository === 'copy' && l.digest === image.blobs[1] && l.resource === 'app'));
    assert.ok(!lines.some((l) => l.action.startsWith('v2.') && l.status === 200 && l.action !== 'v2.blob.upload'), 'reads are not audited');
  });

  test('failed sign-ins on /v2, the token endpoint, the gateway and the management API are lines with the name tried', async () => {
    const bad = await fetch(`${root.url}/v2/`, { headers: { Authorization: basicAuth('ci-bot', WRONG[0]!) } });
    assert.equal(bad.status, 401);
    const form = new URLSearchParams({ grant_type: 'password', username: 'ci-bot', password: WRONG[1]!, service: 'x' });
    assert.equal((await fetch(`${root.url}/oauth2/token`, { method: 'POST', body: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })).status, 401);
    assert.equal((await fetch(`${root.url}/gateway/v1/audited/config`, { headers: { Authorization: basicAuth(cr.tokenName, WRONG[2]!) } })).status, 401);
    assert.equal((await fetch(`${root.url}/mgmt/v1/tokens`, { method: 'POST', headers: { Authorization: basicAuth('admin', WRONG[3]!) } })).status, 401);
    assert.equal((await fetch(`${root.url}/v2/app/tags/list`, { headers: { Authorization: 'Bearer not-a-real-jwt-secret' } })).status, 401);
    assert.equal((await fetch(`${root.url}/v2/`)).status, 401);

    const failed = (await linesOf(rootLog)).filter((l) => l.action === 'authentication.failed');
    const seen = failed.map((l) => `${l.resource} ${l.identity}`);
    for (const expected of ['v2:basic ci-bot', 'token:password ci-bot', `gateway:basic ${cr.tokenName}`, 'management:basic admin', 'v2:bearer null']) {
      assert.ok(seen.includes(expected), `${expected} in ${JSON.stringify(seen)}`);
    }
    assert.equal(failed.length, 5, 'a request without credentials is a challenge, not a failed sign-in');
    assert.ok(failed.every((l) => l.result === 'unauthenticated' && l.status === 401 && l.address === '127.0.0.1'));
  });

  test('management changes are lines with their resource; reads are not', async () => {
    await mustMgmt(atRoot, 'PATCH', '/tokens/ci-bot', { status: 'disabled' });
    const generated = await mustMgmt(atRoot, 'POST', '/tokens/ci-bot/credentials/generate', { passwordName: 'password2' });
    generatedPasswords.push(...JSON.stringify(generated).match(/"value":"([^"]+)"/g)!.map((m) => m.slice('"value":"'.length, -1)));
    assert.ok(generatedPasswords.length > 0);
    await mustMgmt(atRoot, 'GET', '/tokens');
    const lines = (await linesOf(rootLog)).filter((l) => l.action.startsWith('management.'));
    assert.ok(lines.some((l) => l.action === 'management.post' && l.resource === 'tokens' && l.identity === 'admin' && l.result === 'success'));
    assert.ok(lines.some((l) => l.action === 'management.patch' && l.resource === 'tokens/ci-bot'));
    assert.ok(lines.some((l) => l.action === 'management.post' && l.resource === 'tokens/ci-bot/credentials/generate'));
    assert.ok(lines.some((l) => l.action === 'management.post' && l.resource === 'connected-registries/audited/settings'), 'the connection string was made');
    assert.ok(!lines.some((l) => l.resource === 'tokens' && l.action === 'management.get'));
  });

  test('an edge records nothing while its resource says Disabled, and its sync and client actions once Enabled', async () => {
    await pushImage(atRoot, 'app', 'quiet');
    await waitFor('quiet at the edge', async () => (await tagDigest(atEdge, 'app', 'quiet')) !== null);
    assert.equal((await linesOf(edgeLog)).length, 0, 'Disabled: no line');

    await mustMgmt(atRoot, 'PATCH', '/connected-registries/audited', { auditLogStatus: 'Enabled' });
    await waitFor('the edge switched on', async () => edge.node.audit.enabled === true);
    const fromRoot = await pushImage(atRoot, 'app', 'v2');
    await waitFor('v2 at the edge', async () => (await tagDigest(atEdge, 'app', 'v2')) === fromRoot.digest);
    const local = await pushImage(atEdge, 'app', 'from-edge');
    await waitFor('the push up', async () => (await linesOf(edgeLog)).some((l) => l.action === 'sync.push.tag' && l.reference === 'from-edge'));
    await mustMgmt(atRoot, 'POST', '/connected-registries/audited/resync');
    await waitFor('the reconcile', async () => (await linesOf(edgeLog)).some((l) => l.action === 'sync.reconcile'));

    const lines = await linesOf(edgeLog);
    const applied = lines.find((l) => l.action === 'sync.apply.tag' && l.reference === 'v2');
    assert.ok(applied, JSON.stringify(lines.map((l) => l.action)));
    assert.equal(applied.digest, fromRoot.digest);
    assert.equal(applied.identity, cr.tokenName, 'sync acts as the sync token');
    assert.equal(applied.registry, 'audited');
    assert.equal(applied.result, 'applied');
    assert.ok(lines.some((l) => l.action === 'sync.apply.manifest' && l.digest === fromRoot.digest));
    assert.ok(lines.some((l) => l.action === 'v2.manifest.push' && l.reference === 'from-edge' && l.identity === 'admin' && l.digest === local.digest));
    const pushed = lines.find((l) => l.action === 'sync.push.tag' && l.reference === 'from-edge');
    assert.equal(pushed?.result, 'pushed');
    assert.equal(lines.find((l) => l.action === 'sync.reconcile')?.result, 'completed');

    await mustMgmt(atRoot, 'PATCH', '/connected-registries/audited', { auditLogStatus: 'Disabled' });
    await waitFor('the edge switched off', async () => edge.node.audit.enabled === false);
    const count = (await linesOf(edgeLog)).length;
    await pushImage(atRoot, 'app', 'v3');
    await waitFor('v3 at the edge', async () => (await tagDigest(atEdge, 'app', 'v3')) !== null);
    assert.equal((await linesOf(edgeLog)).length, count, 'Disabled again: no more lines');
  });

  test('after rotation (a rename, then SIGHUP or the periodic check) lines go to a new file', async () => {
    await rename(rootLog, `${rootLog}.1`);
    root.node.audit.checkRotation();
    const res = await atRoot.request('DELETE', '/v2/app/manifests/quiet');
    assert.equal(res.status, 202);
    const fresh = await linesOf(rootLog);
    assert.equal(fresh.length, 1);
    assert.equal(fresh[0]!.action, 'v2.tag.delete');
    await rename(rootLog, `${rootLog}.2`);
    root.node.audit.reopen();
    assert.equal((await atRoot.request('DELETE', '/v2/app/manifests/v3')).status, 202);
    assert.equal((await linesOf(rootLog)).length, 1);
  });

  test('no line holds a secret: passwords, tokens, Authorization headers, connection strings', async () => {
    const texts = [
      await readFile(`${rootLog}.1`, 'utf8'), await readFile(`${rootLog}.2`, 'utf8'), await readFile(rootLog, 'utf8'), await readFile(edgeLog, 'utf8'),
    ].join('\n');
    assert.ok(texts.length > 1000, 'the logs are not empty');
    const secrets = [TEST_ADMIN_PASSWORD, botPassword, cr.tokenPassword, cr.connectionString, jwt, jwt.split('.')[2]!, ...WRONG, 'not-a-real-jwt-secret', ...generatedPasswords];
    for (const secret of secrets) assert.ok(!texts.includes(secret), `a secret in the audit log: ${secret.slice(0, 12)}…`);
    assert.ok(!/authorization|basic [a-z0-9+/=]{8,}|bearer /i.test(texts), 'no header');
    assert.ok(!texts.includes('SyncTokenPassword'), 'no connection string');
  });
});

describe('the audit log switch of a root', () => {
  test('--audit-log-status Disabled records nothing; without --audit-log nothing is recorded in <data>/audit.log', async () => {
    const dir = await tempDir();
    const path = join(dir.path, 'audit.log');
    const off = await startTestNode({ env: { OUTPOST_AUDIT_LOG: path, OUTPOST_AUDIT_LOG_STATUS: 'Disabled' } });
    const none = await startTestNode();
    try {
      await pushImage(new TestClient(off.url), 'app', 'v1');
      await pushImage(new TestClient(none.url), 'app', 'v1');
      assert.equal(existsSync(path), false);
      assert.equal(none.node.audit.enabled, false);
      assert.equal(existsSync(join(none.dataDir, 'audit.log')), false);
      const manifest = await new TestClient(off.url).request('GET', '/v2/app/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
      assert.equal(manifest.status, 200);
    } finally {
      await off.close();
      await none.close();
      await dir.cleanup();
    }
  });

  test('an administrator switches it on and off while the root runs, and the switch outlives a restart', async () => {
    const dir = await tempDir();
    const path = join(dir.path, 'audit.log');
    let root = await startTestNode({ dataDir: join(dir.path, 'data'), env: { OUTPOST_AUDIT_LOG: path, OUTPOST_AUDIT_LOG_STATUS: 'Disabled' } });
    try {
      let admin = new TestClient(root.url);
      const before = (await mustMgmt(admin, 'GET', '/config/audit-log')) as { status: string; destination: string; lastUpdatedTime: string | null };
      assert.deepEqual(before, { status: 'disabled', destination: path, lastUpdatedTime: null });
      await pushImage(admin, 'app', 'off-1');
      assert.equal(existsSync(path), false, 'nothing recorded while off');

      const on = (await mustMgmt(admin, 'PATCH', '/config/audit-log', { status: 'Enabled' })) as { status: string; lastUpdatedTime: string };
      assert.equal(on.status, 'enabled');
      assert.ok(!Number.isNaN(Date.parse(on.lastUpdatedTime)));
      await pushImage(admin, 'app', 'on-1');
      const recorded = await linesOf(path);
      assert.ok(recorded.some((l) => l.action === 'v2.manifest.push' && l.reference === 'on-1'), 'the push after the switch is recorded');
      assert.ok(recorded.some((l) => l.action === 'management.patch' && l.resource === 'config/audit-log' && l.identity === 'admin'), 'switching it on is recorded');
      assert.ok(!recorded.some((l) => l.reference === 'off-1'), 'nothing from before the switch');

      // A restart keeps what the administrator set, over the flag's Disabled.
      await root.close();
      root = await startTestNode({ dataDir: join(dir.path, 'data'), env: { OUTPOST_AUDIT_LOG: path, OUTPOST_AUDIT_LOG_STATUS: 'Disabled' } });
      admin = new TestClient(root.url);
      assert.equal(root.node.audit.enabled, true);
      await pushImage(admin, 'app', 'on-2');
      assert.ok((await linesOf(path)).some((l) => l.reference === 'on-2'));

      await mustMgmt(admin, 'PATCH', '/config/audit-log', { status: 'disabled' });
      await waitFor('the switch applied', async () => !root.node.audit.enabled);
      const afterOff = await linesOf(path);
      assert.equal(afterOff.filter((l) => l.action === 'management.patch' && l.resource === 'config/audit-log').length, 2, 'switching it off is recorded too');
      const count = afterOff.length;
      await pushImage(admin, 'app', 'off-2');
      assert.equal((await linesOf(path)).length, count, 'nothing recorded after switching off');

      // Bad bodies change nothing.
      for (const body of [{ status: 'maybe' }, {}, { status: 'enabled', destination: '/etc/passwd' }, ['enabled']]) {
        const refused = await mgmt(admin, 'PATCH', '/config/audit-log', body);
        assert.equal(refused.status, 400, JSON.stringify(body));
        assert.equal((refused.json as { errors: Array<{ code: string }> }).errors[0]!.code, 'REQUEST_INVALID');
      }
      assert.equal(((await mustMgmt(admin, 'GET', '/config/audit-log')) as { status: string }).status, 'disabled');
    } finally {
      await root.close();
      await dir.cleanup();
    }
  });
});
