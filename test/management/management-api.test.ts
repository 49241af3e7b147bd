import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient, basicAuth, errorCode } from '../helpers/oci-client.js';
import { mgmt, errorMessage, errorCodeOf, type MgmtAnswer } from '../helpers/management-calls.js';


describe('management API /mgmt/v1', () => {
  let node: TestNode;
  let admin: TestClient;

  const call = (method: string, path: string, body?: unknown, client = admin): Promise<MgmtAnswer> => mgmt(client, method, path, body);
  const message = errorMessage;
  const code = errorCodeOf;

  before(async () => {
    node = await startTestNode({ app: { identityLimits: { tokens: 6, scopeMaps: 8 } } });
    admin = new TestClient(node.url);
  });
  after(() => node.close());

  test('admin only: 401 without credentials, 403 for a token', async () => {
    const none = await new TestClient(node.url, null).request('GET', '/mgmt/v1/tokens');
    assert.equal(none.status, 401);
    assert.equal(await errorCode(none), 'UNAUTHORIZED');
    const created = await call('POST', '/tokens', { name: 'not-admin', scopeMap: '_repositories_admin' });
    const pw = (created.json as { credentials: { passwords: Array<{ value: string }> } }).credentials.passwords[0]!.value;
    const asToken = await call('GET', '/tokens', undefined, new TestClient(node.url, basicAuth('not-admin', pw)));
    assert.equal(asToken.status, 403);
    assert.equal(code(asToken), 'DENIED');
    // A Bearer JWT never opens the management API, not even the admin's: it carries registry scopes only.
    const tok = await fetch(new URL('/oauth2/token', node.url), { headers: { Authorization: admin.authorization! } });
    const { token } = (await tok.json()) as { token: string };
    const asBearer = await call('GET', '/scope-maps', undefined, new TestClient(node.url, `Bearer ${token}`));
    assert.equal(asBearer.status, 403);
    assert.equal(code(asBearer), 'DENIED');
    assert.equal((await call('DELETE', '/tokens/not-admin')).status, 204);
  });

  test('scope maps: system maps, create, show, patch, put, delete, validation', async () => {
    const list = await call('GET', '/scope-maps');
    const system = (list.json as Array<{ name: string; type: string }>).filter((m) => m.type === 'SystemDefined').map((m) => m.name);
    assert.deepEqual(system, ['_repositories_admin', '_repositories_pull', '_repositories_push']);

    const created = await call('POST', '/scope-maps', { name: 'hello-world-scopemap', description: 'd', actions: ['repositories/Hello-World/content/read', 'repositories/hello-world/content/read'] });
    assert.equal(created.status, 201);
    const map = created.json as Record<string, unknown>;
    assert.deepEqual(map.actions, ['repositories/hello-world/content/read']);
    assert.equal(map.type, 'UserDefined');
    assert.equal(map.id, 'scopeMaps/hello-world-scopemap');
    assert.ok(!Number.isNaN(Date.parse(String(map.creationDate))));
    assert.equal((await call('POST', '/scope-maps', { name: 'hello-world-scopemap', actions: ['repositories/a/content/read'] })).status, 409);

    const patched = await call('PATCH', '/scope-maps/hello-world-scopemap', { addActions: ['gateway/edge01/config/read'], removeActions: ['REPOSITORIES/hello-world/content/read'] });
    assert.equal(patched.status, 200);
    assert.deepEqual((patched.json as { actions: string[] }).actions, ['gateway/edge01/config/read']);
    const put = await call('PUT', '/scope-maps/new-by-put', { actions: ['repositories/x/metadata/read'] });
    assert.equal(put.status, 201);
    assert.equal((await call('PUT', '/scope-maps/new-by-put', { description: 'again', actions: ['repositories/y/metadata/read'] })).status, 200);
    assert.equal(((await call('GET', '/scope-maps/new-by-put')).json as { description: string }).description, 'again');

    const empty = await call('POST', '/scope-maps', { name: 'empty-map', actions: [] });
    assert.equal(empty.status, 400);
    assert.equal(message(empty), 'At least one action must be specified with "empty-map".');
    const invalid = await call('POST', '/scope-maps', { name: 'bad-map', actions: ['repositories/hello/content/push'] });
    assert.equal(message(invalid), 'Invalid action "content/push" provided. \nValid actions are {\'content/delete\', \'content/read\', \'content/write\', \'metadata/read\', \'metadata/write\'}.');
    assert.equal((await call('POST', '/scope-maps', { name: 'wild-map', actions: ['repositories/a/*/b/content/read'] })).status, 400);
    assert.equal((await call('POST', '/scope-maps', { name: 'abc', actions: ['repositories/a/content/read'] })).status, 400, 'name too short');
    assert.equal((await call('POST', '/scope-maps', { name: 'long-desc', description: 'x'.repeat(257), actions: ['repositories/a/content/read'] })).status, 400);
    const notFound = await call('GET', '/scope-maps/missing-map');
    assert.equal(notFound.status, 404);
    assert.equal(message(notFound), "Scope map 'missing-map' not found.");
    assert.equal((await call('DELETE', '/scope-maps/_repositories_pull')).status, 403);
    assert.equal((await call('PATCH', '/scope-maps/_repositories_pull', { addActions: ['repositories/a/content/write'] })).status, 403);

    // In use by a token: 409 until the token is gone.
    assert.equal((await call('POST', '/tokens', { name: 'uses-map', scopeMap: 'new-by-put', noPasswords: true })).status, 201);
    assert.equal((await call('DELETE', '/scope-maps/new-by-put')).status, 409);
    assert.equal((await call('DELETE', '/tokens/uses-map')).status, 204);
    assert.equal((await call('DELETE', '/scope-maps/new-by-put')).status, 204);
    assert.equal((await call('DELETE', '/scope-maps/hello-world-scopemap')).status, 204);
  });

  test('500 repository permissions per scope map', async () => {
    const actions = Array.from({ length: 100 }, (_, i) => ['content/read', 'content/write', 'content/delete', 'metadata/read', 'metadata/write'].map((a) => `repositories/r${i}/${a}`)).flat();
    assert.equal(actions.length, 500);
    assert.equal((await call('POST', '/scope-maps', { name: 'five-hundred', actions })).status, 201);
    const over = await call('PATCH', '/scope-maps/five-hundred', { addActions: ['repositories/one-more/content/read'] });
    assert.equal(over.status, 429);
    assert.equal(code(over), 'TOOMANYREQUESTS');
    assert.equal((await call('PATCH', '/scope-maps/five-hundred', { addActions: ['gateway/edge01/config/read'] })).status, 200, 'gateway actions do not count');
    assert.equal((await call('DELETE', '/scope-maps/five-hundred')).status, 204);
  });

  test('tokens: create with actions, passwords shown once, update, credentials, delete, limits', async () => {
    const created = await call('POST', '/tokens', { name: 't-line1', actions: ['repositories/hello/content/read'] });
    assert.equal(created.status, 201);
    const token = created.json as { name: string; status: string; scopeMapId: string; id: string; credentials: { passwords: Array<{ name: string; value?: string; expiry: string | null; creationTime: string }> } };
    assert.equal(token.status, 'enabled');
    assert.equal(token.scopeMapId, 'scopeMaps/t-line1-scope-map');
    assert.equal(token.id, 'tokens/t-line1');
    assert.deepEqual(token.credentials.passwords.map((p) => p.name), ['password1', 'password2']);
    assert.ok(token.credentials.passwords.every((p) => typeof p.value === 'string' && p.value.length >= 32 && p.expiry === null));
    const shown = JSON.stringify((await call('GET', '/tokens/t-line1')).json);
    const listed = JSON.stringify((await call('GET', '/tokens')).json);
    for (const p of token.credentials.passwords) {
      assert.ok(!shown.includes(p.value!) && !listed.includes(p.value!), 'never retrievable again');
    }
    assert.ok(!shown.includes('"value"'));
    assert.equal((await call('POST', '/tokens', { name: 't-line1', scopeMap: '_repositories_pull' })).status, 409);
    assert.equal((await call('POST', '/tokens', { name: 'bad_name', scopeMap: '_repositories_pull' })).status, 400);
    assert.equal((await call('POST', '/tokens', { name: 'no-scope' })).status, 400);
    assert.equal((await call('POST', '/tokens', { name: 'missing-map', scopeMap: 'nope-nope' })).status, 404);

    const patched = await call('PATCH', '/tokens/t-line1', { status: 'disabled', scopeMap: null });
    assert.equal((patched.json as { status: string; scopeMapId: null }).status, 'disabled');
    assert.equal((patched.json as { scopeMapId: null }).scopeMapId, null);

    const generated = await call('POST', '/tokens/t-line1/credentials/generate', { passwordName: 'password2', expiry: '2030-01-01T00:00:00Z' });
    assert.equal(generated.status, 200);
    const pw2 = (generated.json as typeof token).credentials.passwords.find((p) => p.name === 'password2')!;
    assert.ok(pw2.value && pw2.value !== token.credentials.passwords[1]!.value);
    assert.equal(pw2.expiry, '2030-01-01T00:00:00.000Z');
    assert.equal((generated.json as typeof token).credentials.passwords.find((p) => p.name === 'password1')!.value, undefined);
    assert.equal((await call('POST', '/tokens/t-line1/credentials/generate', { passwordName: 'password3' })).status, 400);
    const deleted = await call('POST', '/tokens/t-line1/credentials/delete', { passwordName: 'password1' });
    assert.deepEqual((deleted.json as typeof token).credentials.passwords.map((p) => p.name), ['password2']);
    assert.equal((await call('DELETE', '/tokens/t-line1')).status, 204);
    const gone = await call('GET', '/tokens/t-line1');
    assert.equal(gone.status, 404);
    assert.equal(message(gone), "Token 't-line1' not found.");

    // The lowered limit of 6 tokens.
    for (let i = 0; i < 6; i++) await call('POST', '/tokens', { name: `limit-${i}`, scopeMap: '_repositories_pull', noPasswords: true });
    const over = await call('POST', '/tokens', { name: 'limit-x', scopeMap: '_repositories_pull', noPasswords: true });
    assert.equal(over.status, 429);
    for (let i = 0; i < 6; i++) await call('DELETE', `/tokens/limit-${i}`);
  });

  test('repositories: list, show, tags, untag, delete manifest, delete repository', async () => {
    const a = await admin.pushImage('team/app', 'v1');
    await admin.pushImage('team/app', 'v2');
    assert.ok(((await call('GET', '/repositories')).json as string[]).includes('team/app'));
    const shown = await call('GET', '/repositories/team%2Fapp');
    assert.equal(shown.status, 200);
    assert.equal((shown.json as { tagCount: number }).tagCount, 2);
    assert.equal((shown.json as { manifestCount: number }).manifestCount, 2);
    const tags = (await call('GET', '/repositories/team%2Fapp/tags')).json as Array<{ name: string; digest: string }>;
    assert.deepEqual(tags.map((t) => [t.name, t.digest])[0], ['v1', a.digest]);
    assert.equal((await call('DELETE', '/repositories/team%2Fapp/tags/v2')).status, 204);
    assert.equal((await call('DELETE', '/repositories/team%2Fapp/tags/v2')).status, 404);
    assert.equal((await call('DELETE', `/repositories/team%2Fapp/manifests/${a.digest}`)).status, 204);
    const deleted = await call('DELETE', '/repositories/team%2Fapp');
    assert.equal(deleted.status, 200);
    assert.deepEqual((deleted.json as { tagsDeleted: string[] }).tagsDeleted, []);
    assert.equal((deleted.json as { manifestsDeleted: string[] }).manifestsDeleted.length, 1);
    const missing = await call('GET', '/repositories/team%2Fapp');
    assert.equal(message(missing), "Repository 'team/app' not found.");
  });
});
