import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestNode, tempDir, type TestNode } from '../helpers/test-node.js';
import { TestClient, basicAuth, TEST_ADMIN_PASSWORD } from '../helpers/oci-client.js';
import { mgmt, errorMessage, errorCodeOf, type MgmtAnswer } from '../helpers/management-calls.js';
import { resolveNodeConfig } from '../../src/config/node-config.js';
import { startNode } from '../../src/server/start-node.js';

interface Cr {
  name: string; mode: string; id: string;
  parent: { id: string | null; syncProperties: { tokenId: string; schedule: string; syncWindow: string | null; messageTtl: string; lastSyncTime: string | null; gatewayEndpoint: string | null } };
  clientTokenIds: string[]; logging: { logLevel: string; auditLogStatus: string }; notificationsList: string[];
  garbageCollection: { enabled: boolean; schedule: string }; activation: { status: string }; connectionState: string;
  lastActivityTime: string | null; version: string | null; loginServer: unknown; statusDetails: unknown[];
  syncStatus: { repositories: Array<{ name: string; pendingChanges: number }>; outboxPending: number | null; resyncRequestedAt: string | null };
}
const HELP = 'For more information on connected registries please visit https://aka.ms/acr/connected-registry.';

describe('management API: connected registries', () => {
  let node: TestNode;
  let admin: TestClient;
  let host: string;

  const call = (method: string, path: string, body?: unknown, client = admin): Promise<MgmtAnswer> => mgmt(client, method, path, body);
  const message = errorMessage;
  const code = errorCodeOf;
  const actionsOf = async (map: string): Promise<string[]> => ((await call('GET', `/scope-maps/${map}`)).json as { actions: string[] }).actions;
  const names = (r: { json: unknown }): string[] => (r.json as Cr[]).map((c) => c.name);
  const gw = (n: string): string[] => [`gateway/${n}/config/read`, `gateway/${n}/config/write`, `gateway/${n}/message/read`, `gateway/${n}/message/write`];

  before(async () => {
    node = await startTestNode({ app: { connectedRegistryLimit: 8 } });
    admin = new TestClient(node.url);
    host = new URL(node.url).host;
  });
  after(() => node.close());

  test('admin only', async () => {
    const none = await new TestClient(node.url, null).request('GET', '/mgmt/v1/connected-registries');
    assert.equal(none.status, 401);
  });

  test('create: defaults, output shape, sync token and scope map', async () => {
    const created = await call('POST', '/connected-registries', { name: 'edge01', repositories: ['hello-world', 'ACR/connected-registry'] });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const cr = created.json as Cr;
    assert.equal(cr.name, 'edge01');
    assert.equal(cr.mode, 'ReadOnly', 'ReadOnly by default');
    assert.equal(cr.parent.id, null);
    assert.deepEqual(cr.parent.syncProperties, {
      tokenId: 'tokens/edge01', schedule: '* * * * *', syncWindow: null, messageTtl: 'P2D', lastSyncTime: null, gatewayEndpoint: host,
    });
    assert.deepEqual(cr.clientTokenIds, []);
    assert.deepEqual(cr.logging, { logLevel: 'Information', auditLogStatus: 'Disabled' });
    assert.deepEqual(cr.notificationsList, []);
    assert.equal(cr.garbageCollection.enabled, false);
    assert.equal(cr.activation.status, 'Inactive');
    assert.equal(cr.connectionState, 'Offline');
    assert.equal(cr.lastActivityTime, null);
    assert.equal(cr.version, null);
    assert.equal(cr.loginServer, null);
    assert.deepEqual(cr.statusDetails, []);
    assert.deepEqual(cr.syncStatus, { repositories: [], outboxPending: null, resyncRequestedAt: null });
    assert.deepEqual(await actionsOf('edge01'), [
      'repositories/hello-world/content/read', 'repositories/hello-world/metadata/read',
      'repositories/acr/connected-registry/content/read', 'repositories/acr/connected-registry/metadata/read', ...gw('edge01'),
    ]);
    const token = (await call('GET', '/tokens/edge01')).json as { status: string; scopeMapId: string; credentials: { passwords: unknown[] } };
    assert.equal(token.status, 'enabled');
    assert.equal(token.scopeMapId, 'scopeMaps/edge01');
    assert.deepEqual(token.credentials.passwords, [], 'passwords come from get-settings');
    assert.equal(((await call('GET', '/connected-registries/edge01')).json as Cr).name, 'edge01');
  });

  test('create: validation and messages', async () => {
    const both = await call('POST', '/connected-registries', { name: 'edge09', repositories: ['a'], syncToken: 'edge01' });
    assert.equal(both.status, 400);
    assert.equal(message(both), 'either --sync-token or --repository must be provided, but not both.');
    assert.equal(message(await call('POST', '/connected-registries', { name: 'edge09' })), 'either --sync-token or --repository must be provided, but not both.');
    assert.equal(message(await call('POST', '/connected-registries', { name: 'edge', repositories: ['a'] })), 'Connected registry name must be at least 5 characters long.');
    assert.equal((await call('POST', '/connected-registries', { name: 'Edge09', repositories: ['a'] })).status, 400);
    assert.equal((await call('POST', '/connected-registries', { name: '9edge', repositories: ['a'] })).status, 400);
    assert.equal((await call('POST', '/connected-registries', { name: 'x'.repeat(41), repositories: ['a'] })).status, 400);
    const dup = await call('POST', '/connected-registries', { name: 'edge01', repositories: ['a'] });
    assert.equal(dup.status, 409);
    assert.equal(code(dup), 'CONFLICT');
    const noParent = await call('POST', '/connected-registries', { name: 'edge09', repositories: ['a'], parent: 'nowhere' });
    assert.equal(noParent.status, 404);
    assert.equal(message(noParent), "The parent connected registry 'nowhere' could not be found.");
    const rw = await call('POST', '/connected-registries', { name: 'edge09', repositories: ['a'], parent: 'edge01', mode: 'ReadWrite' });
    assert.equal(rw.status, 400);
    assert.equal(message(rw), `Can't create the registry 'edge09' with mode 'ReadWrite' when the connected registry parent 'edge01' mode is 'ReadOnly'. ${HELP}`);
    assert.match(message(await call('POST', '/connected-registries', { name: 'edge09', repositories: ['a'], mode: 'Cache' })), /Invalid mode/);
    assert.match(message(await call('POST', '/connected-registries', { name: 'edge09', repositories: ['a'], syncSchedule: '* * *' })), /5 fields/);
    assert.match(message(await call('POST', '/connected-registries', { name: 'edge09', repositories: ['a'], syncWindow: 'PT3H' })), /not continuous/);
    assert.match(message(await call('POST', '/connected-registries', { name: 'edge09', repositories: ['a'], syncSchedule: '0 9 * * *', syncWindow: 'PT30M' })), /between 1 hour and 7 days/);
    assert.match(message(await call('POST', '/connected-registries', { name: 'edge09', repositories: ['a'], syncMessageTtl: 'P91D' })), /between 1 and 90 days/);
    assert.match(message(await call('POST', '/connected-registries', { name: 'edge09', repositories: ['a'], logLevel: 'Verbose' })), /Invalid log level/);
    assert.match(message(await call('POST', '/connected-registries', { name: 'edge09', repositories: ['a'], notifications: ['hello:pull'] })), /Invalid notification/);
    const missingClient = await call('POST', '/connected-registries', { name: 'edge09', repositories: ['a'], clientTokens: ['nobody'] });
    assert.equal(missingClient.status, 404);
    const missingToken = await call('POST', '/connected-registries', { name: 'edge09', syncToken: 'nobody' });
    assert.equal(message(missingToken), "Token 'nobody' not found.");
    assert.equal((await call('GET', '/connected-registries/edge09')).status, 404, 'nothing was created by the failures');
    assert.equal((await call('GET', '/tokens/edge09')).status, 404);
    assert.equal(message(await call('GET', '/connected-registries/edge09')), "Connected registry 'edge09' doesn't exist.");
  });

  test('hierarchy: mode aliases, ancestors get the child\'s actions, list filters', async () => {
    assert.equal((await call('POST', '/connected-registries', {
      name: 'rw-top', mode: 'Registry', repositories: ['app'], syncSchedule: '0 9 * * *', syncWindow: 'PT3H', syncMessageTtl: 'P7D',
      logLevel: 'debug', notifications: ['app:*', 'app:1.0:push'], garbageCollection: { enabled: true, schedule: '0 5 * * *' },
    })).status, 201);
    const mid = await call('POST', '/connected-registries', { name: 'rw-mid', mode: 'ReadWrite', parent: 'rw-top', repositories: ['svc'] });
    assert.equal(mid.status, 201);
    assert.equal((mid.json as Cr).parent.id, 'connectedRegistries/rw-top');
    assert.equal((mid.json as Cr).parent.syncProperties.gatewayEndpoint, null, 'the parent edge has not reported its login server');
    const leaf = await call('POST', '/connected-registries', { name: 'ro-leaf', mode: 'Mirror', parent: 'rw-mid', repositories: ['leafrepo'] });
    assert.equal(leaf.status, 201);
    assert.equal((leaf.json as Cr).mode, 'ReadOnly');
    const rwActions = (r: string): string[] => ['content/read', 'metadata/read', 'content/write', 'content/delete', 'metadata/write'].map((p) => `repositories/${r}/${p}`);
    const roActions = (r: string): string[] => ['content/read', 'metadata/read'].map((p) => `repositories/${r}/${p}`);
    assert.deepEqual(await actionsOf('rw-top'), [...rwActions('app'), ...gw('rw-top'), ...rwActions('svc'), ...gw('rw-mid'), ...roActions('leafrepo'), ...gw('ro-leaf')]);
    assert.deepEqual(await actionsOf('rw-mid'), [...rwActions('svc'), ...gw('rw-mid'), ...roActions('leafrepo'), ...gw('ro-leaf')]);
    assert.deepEqual(await actionsOf('ro-leaf'), [...roActions('leafrepo'), ...gw('ro-leaf')]);

    const top = (await call('GET', '/connected-registries/rw-top')).json as Cr;
    assert.equal(top.mode, 'ReadWrite');
    assert.deepEqual(top.parent.syncProperties, { tokenId: 'tokens/rw-top', schedule: '0 9 * * *', syncWindow: 'PT3H', messageTtl: 'P7D', lastSyncTime: null, gatewayEndpoint: host });
    assert.equal(top.logging.logLevel, 'Debug');
    assert.deepEqual(top.notificationsList, ['app:*', 'app:1.0:push']);
    assert.deepEqual(top.garbageCollection, { enabled: true, schedule: '0 5 * * *' });

    assert.deepEqual(names(await call('GET', '/connected-registries')), ['edge01', 'ro-leaf', 'rw-mid', 'rw-top']);
    assert.deepEqual(names(await call('GET', '/connected-registries?parent=rw-top')), ['ro-leaf', 'rw-mid'], 'all descendants');
    assert.deepEqual(names(await call('GET', '/connected-registries?parent=rw-top&noChildren=true')), ['rw-mid'], 'direct children');
    assert.deepEqual(names(await call('GET', '/connected-registries?noChildren=true')), ['edge01', 'rw-top'], 'top level');
    assert.deepEqual(names(await call('GET', '/connected-registries?mode=ReadWrite')), ['rw-mid', 'rw-top']);
    assert.deepEqual(names(await call('GET', '/connected-registries?mode=Mirror')), ['edge01', 'ro-leaf']);
    assert.deepEqual(names(await call('GET', '/connected-registries?connectionState=Offline')), ['edge01', 'ro-leaf', 'rw-mid', 'rw-top']);
    assert.deepEqual(names(await call('GET', '/connected-registries?connectionState=Online')), []);
    assert.equal((await call('GET', '/connected-registries?connectionState=Sleeping')).status, 400);
    const missing = await call('GET', '/connected-registries?parent=nowhere');
    assert.equal(missing.status, 404);
    assert.equal(message(missing), "Parent connected registry 'nowhere' doesn't exist.");

    // A parent with children cannot be deleted.
    assert.equal((await call('DELETE', '/connected-registries/rw-mid')).status, 409);
  });

  test('create with an existing sync token', async () => {
    assert.equal((await call('POST', '/scope-maps', { name: 'own-sync-map', actions: ['repositories/own/content/read', 'repositories/own/metadata/read'] })).status, 201);
    assert.equal((await call('POST', '/tokens', { name: 'own-sync', scopeMap: 'own-sync-map', noPasswords: true })).status, 201);
    const created = await call('POST', '/connected-registries', { name: 'own-edge', syncToken: 'own-sync', parent: 'rw-top' });
    assert.equal(created.status, 201);
    assert.equal((created.json as Cr).parent.syncProperties.tokenId, 'tokens/own-sync');
    const top = await actionsOf('rw-top');
    assert.ok(top.includes('repositories/own/content/read') && top.includes('gateway/own-edge/message/write'));
    assert.deepEqual(await actionsOf('own-sync-map'), ['repositories/own/content/read', 'repositories/own/metadata/read'], 'an existing token is left as it is');
  });

  test('update: set semantics, ambiguity messages, schedule rules, immutable mode and parent', async () => {
    for (const t of ['client-a', 'client-b']) {
      assert.equal((await call('POST', '/tokens', { name: t, actions: ['repositories/hello-world/content/read'], noPasswords: true })).status, 201);
    }
    let r = await call('PATCH', '/connected-registries/edge01', { addClientTokens: ['client-a', 'client-b'], addNotifications: ['hello-world:*'] });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual((r.json as Cr).clientTokenIds, ['tokens/client-a', 'tokens/client-b']);
    r = await call('PATCH', '/connected-registries/edge01', { removeClientTokens: ['client-a'], addNotifications: ['*:*'], removeNotifications: ['hello-world:*'] });
    assert.deepEqual((r.json as Cr).clientTokenIds, ['tokens/client-b']);
    assert.deepEqual((r.json as Cr).notificationsList, ['*:*']);
    const listed = await call('GET', '/connected-registries/edge01/client-tokens');
    assert.deepEqual((listed.json as Array<{ name: string }>).map((t) => t.name), ['client-b']);
    assert.deepEqual((await call('GET', '/connected-registries/rw-top/client-tokens')).json, []);
    r = await call('PATCH', '/connected-registries/rw-top', { addClientTokens: ['client-a'] });
    assert.equal((await call('DELETE', '/tokens/client-a')).status, 204);
    assert.deepEqual(((await call('GET', '/connected-registries/rw-top')).json as Cr).clientTokenIds, [], 'a deleted client token leaves the list');

    const amb = await call('PATCH', '/connected-registries/edge01', { addClientTokens: ['client-b'], removeClientTokens: ['client-b'] });
    assert.equal(amb.status, 400);
    assert.equal(message(amb), "Update ambiguity. Duplicate client token ids were provided with --add-client-tokens and --remove-client-tokens arguments.\n['client-b']");
    const ambN = await call('PATCH', '/connected-registries/edge01', { addNotifications: ['*:*'], removeNotifications: ['*:*'] });
    assert.equal(message(ambN), "Update ambiguity. Duplicate notifications list were provided with --add-notifications and --remove-notifications arguments.\n['*:*']");
    assert.equal((await call('PATCH', '/connected-registries/edge01', { addClientTokens: ['nobody'] })).status, 404);
    assert.match(message(await call('PATCH', '/connected-registries/edge01', { addNotifications: ['bad'] })), /Invalid notification/);

    assert.match(message(await call('PATCH', '/connected-registries/edge01', { syncWindow: 'PT2H' })), /not continuous/);
    r = await call('PATCH', '/connected-registries/edge01', { syncSchedule: '30 2 * * 1-5', syncWindow: 'PT2H', syncMessageTtl: 'P30D', logLevel: 'Warning', auditLogStatus: 'Enabled', garbageCollection: { enabled: true } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const cr = r.json as Cr;
    assert.equal(cr.parent.syncProperties.schedule, '30 2 * * 1-5');
    assert.equal(cr.parent.syncProperties.syncWindow, 'PT2H');
    assert.equal(cr.parent.syncProperties.messageTtl, 'P30D');
    assert.deepEqual(cr.logging, { logLevel: 'Warning', auditLogStatus: 'Enabled' });
    assert.equal(cr.garbageCollection.enabled, true);
    assert.match(message(await call('PATCH', '/connected-registries/edge01', { syncSchedule: '* * * * *' })), /not continuous/, 'the window must go too');
    r = await call('PATCH', '/connected-registries/edge01', { syncSchedule: '* * * * *', syncWindow: null });
    assert.equal((r.json as Cr).parent.syncProperties.syncWindow, null);
    assert.match(message(await call('PATCH', '/connected-registries/edge01', { syncMessageTtl: 'PT1H' })), /between 1 and 90 days/);
    assert.match(message(await call('PATCH', '/connected-registries/edge01', { garbageCollection: { schedule: '99 * * * *' } })), /garbage collection schedule/);
    assert.match(message(await call('PATCH', '/connected-registries/edge01', { mode: 'ReadWrite' })), /mode .* cannot be changed/);
    assert.match(message(await call('PATCH', '/connected-registries/edge01', { parent: 'rw-top' })), /parent .* cannot be changed/);
    assert.equal((await call('PATCH', '/connected-registries/nowhere', {})).status, 404);
  });

  test('permissions: add to target and ancestors by its mode, remove from target and descendants', async () => {
    assert.equal(message(await call('PATCH', '/connected-registries/rw-mid/permissions', {})), 'No repository permissions to update.');
    assert.equal(message(await call('PATCH', '/connected-registries/rw-mid/permissions', { add: ['x'], remove: ['x'] })),
      "Update ambiguity. Duplicate repository names were provided with --add and --remove arguments.\n['x']");
    assert.equal(message(await call('PATCH', '/connected-registries/nowhere/permissions', { add: ['x'] })), "Connected registry 'nowhere' doesn't exist.");
    const added = await call('PATCH', '/connected-registries/ro-leaf/permissions', { add: ['extra'] });
    assert.equal(added.status, 200);
    for (const map of ['ro-leaf', 'rw-mid', 'rw-top']) {
      const actions = await actionsOf(map);
      assert.ok(actions.includes('repositories/extra/content/read') && !actions.includes('repositories/extra/content/write'), map);
    }
    await call('PATCH', '/connected-registries/rw-mid/permissions', { add: ['both'] });
    assert.ok((await actionsOf('rw-top')).includes('repositories/both/content/write'));
    assert.ok(!(await actionsOf('ro-leaf')).includes('repositories/both/content/read'), 'descendants do not get added permissions');
    const removed = await call('PATCH', '/connected-registries/rw-mid/permissions', { remove: ['extra', 'leafrepo'] });
    assert.equal(removed.status, 200);
    assert.ok(!(await actionsOf('rw-mid')).some((a) => a.startsWith('repositories/extra/') || a.startsWith('repositories/leafrepo/')));
    assert.ok(!(await actionsOf('ro-leaf')).some((a) => a.startsWith('repositories/extra/') || a.startsWith('repositories/leafrepo/')));
    assert.ok((await actionsOf('rw-top')).includes('repositories/extra/content/read'), 'ancestors keep theirs');
    const shown = await call('GET', '/connected-registries/ro-leaf/permissions');
    assert.equal((shown.json as { name: string }).name, 'ro-leaf');
  });

  test('get-settings: keys, placeholder password, generated password works, endpoint', async () => {
    assert.match(message(await call('POST', '/connected-registries/edge01/settings', {})), /parentProtocol/);
    assert.match(message(await call('POST', '/connected-registries/edge01/settings', { parentProtocol: 'https', generatePassword: 3 })), /generatePassword/);
    const plain = await call('POST', '/connected-registries/edge01/settings', { parentProtocol: 'http' });
    assert.equal(plain.status, 200);
    const s = plain.json as Record<string, string>;
    assert.equal(s.SYNC_TOKEN_USER, 'edge01');
    assert.equal(s.SYNC_TOKEN_PASSWORD, '<use --generate-password to generate a new password>');
    assert.equal(s.ACR_REGISTRY_CERTIFICATE_VOLUME, '/var/acr/certs');
    assert.equal(s.ACR_REGISTRY_DATA_VOLUME, '/var/acr/data');
    assert.equal(s.ACR_REGISTRY_LOGIN_SERVER, '<Optional: connected registry login server. More info at https://aka.ms/acr/connected-registry>');
    assert.equal(s.ACR_REGISTRY_CONNECTION_STRING,
      `ConnectedRegistryName=edge01;SyncTokenName=edge01;SyncTokenPassword=<use --generate-password to generate a new password>;ParentGatewayEndpoint=${host};ParentEndpointProtocol=http`);
    const gen = await call('POST', '/connected-registries/edge01/settings', { parentProtocol: 'https', generatePassword: 2 });
    const g = gen.json as Record<string, string>;
    assert.notEqual(g.SYNC_TOKEN_PASSWORD, s.SYNC_TOKEN_PASSWORD);
    assert.ok(g.ACR_REGISTRY_CONNECTION_STRING!.includes(`SyncTokenPassword=${g.SYNC_TOKEN_PASSWORD};`));
    assert.ok(g.ACR_REGISTRY_CONNECTION_STRING!.endsWith('ParentEndpointProtocol=https'));
    const token = (await call('GET', '/tokens/edge01')).json as { credentials: { passwords: Array<{ name: string }> } };
    assert.deepEqual(token.credentials.passwords.map((p) => p.name), ['password2']);
    const v2 = await new TestClient(node.url, basicAuth('edge01', g.SYNC_TOKEN_PASSWORD!)).request('GET', '/v2/');
    assert.equal(v2.status, 200, 'the generated password is the sync token\'s');
    const again = (await call('POST', '/connected-registries/edge01/settings', { parentProtocol: 'https', generatePassword: '2' })).json as Record<string, string>;
    const old = await new TestClient(node.url, basicAuth('edge01', g.SYNC_TOKEN_PASSWORD!)).request('GET', '/v2/');
    assert.equal(old.status, 401, 'generating replaces the old password');
    assert.equal((await new TestClient(node.url, basicAuth('edge01', again.SYNC_TOKEN_PASSWORD!)).request('GET', '/v2/')).status, 200);
    const child = (await call('POST', '/connected-registries/rw-mid/settings', { parentProtocol: 'https' })).json as Record<string, string>;
    assert.ok(child.ACR_REGISTRY_CONNECTION_STRING!.includes('ParentGatewayEndpoint=<parent gateway endpoint>;'));
  });

  test('resync: 202 with the request time, shown on the resource; 404 for a missing one', async () => {
    const before = Date.now();
    const asked = await call('POST', '/connected-registries/edge01/resync');
    assert.equal(asked.status, 202);
    const body = asked.json as { name: string; resyncRequestedAt: string; message: string };
    assert.equal(body.name, 'edge01');
    assert.equal(body.message, 'Resync requested: the connected registry reconciles in full at its next contact with its parent.');
    const at = Date.parse(body.resyncRequestedAt);
    assert.ok(at >= before - 1000 && at <= Date.now() + 1000, body.resyncRequestedAt);
    assert.equal(((await call('GET', '/connected-registries/edge01')).json as Cr).syncStatus.resyncRequestedAt, body.resyncRequestedAt);
    const missing = await call('POST', '/connected-registries/nowhere/resync');
    assert.equal(missing.status, 404);
    assert.equal(message(missing), "Connected registry 'nowhere' doesn't exist.");
  });

  test('deactivate, delete without and with cleanup, the limit', async () => {
    const d = await call('POST', '/connected-registries/edge01/deactivate');
    assert.equal(d.status, 200);
    assert.equal((d.json as Cr).activation.status, 'Inactive');
    assert.equal((await call('POST', '/connected-registries/nowhere/deactivate')).status, 404);

    const inUse = await call('DELETE', '/tokens/own-sync');
    assert.equal(inUse.status, 409);
    assert.equal(message(inUse), "Token 'own-sync' is the sync token of connected registry 'own-edge'; delete the connected registry first.");
    const plain = await call('DELETE', '/connected-registries/own-edge');
    assert.equal(plain.status, 200);
    const body = plain.json as { message: string; cleanupCommands: string[] };
    assert.match(body.message, /^Connected registry successfully deleted\. Please cleanup your sync tokens and scope maps\./);
    assert.deepEqual(body.cleanupCommands, [
      'outpost token delete --name own-sync --yes',
      'outpost scope-map delete --name own-sync-map --yes',
      'outpost scope-map update --name rw-top --remove-gateway own-edge config/read config/write message/read message/write',
    ]);
    assert.equal((await call('GET', '/tokens/own-sync')).status, 200, 'nothing cleaned up');
    assert.ok((await actionsOf('rw-top')).includes('gateway/own-edge/config/read'));
    assert.equal((await call('DELETE', '/tokens/own-sync')).status, 204, 'a former sync token can be deleted');

    const cleaned = await call('DELETE', '/connected-registries/ro-leaf?cleanup=true');
    assert.equal(cleaned.status, 200);
    assert.equal((await call('GET', '/connected-registries/ro-leaf')).status, 404);
    assert.equal((await call('GET', '/tokens/ro-leaf')).status, 404);
    assert.equal((await call('GET', '/scope-maps/ro-leaf')).status, 404);
    for (const map of ['rw-mid', 'rw-top']) {
      const actions = await actionsOf(map);
      assert.ok(!actions.some((a) => a.startsWith('gateway/ro-leaf/')), map);
      assert.ok(actions.includes('repositories/extra/content/read') || map === 'rw-mid', 'repository actions stay');
    }
    assert.equal((await call('DELETE', '/connected-registries/ro-leaf')).status, 404);

    // The limit (8 in this node).
    const existing = names(await call('GET', '/connected-registries')).length;
    for (let i = existing; i < 8; i++) assert.equal((await call('POST', '/connected-registries', { name: `fill-${i}x`, repositories: ['f'] })).status, 201);
    const over = await call('POST', '/connected-registries', { name: 'one-too-many', repositories: ['f'] });
    assert.equal(over.status, 429);
    assert.equal((await call('GET', '/tokens/one-too-many')).status, 404, 'no token left behind');
  });
});

describe('connected registries: an ancestor\'s permission limit refuses the whole change', () => {
  // 12 repository permissions per scope map: a ReadWrite repository is 5, a ReadOnly one 2.
  let node: TestNode;
  let admin: TestClient;
  const call = (method: string, path: string, body?: unknown): Promise<MgmtAnswer> => mgmt(admin, method, path, body);
  const actionsOf = async (map: string): Promise<string[]> => ((await call('GET', `/scope-maps/${map}`)).json as { actions: string[] }).actions;
  before(async () => {
    node = await startTestNode({ app: { identityLimits: { repositoryPermissionsPerScopeMap: 12 } } });
    admin = new TestClient(node.url);
    assert.equal((await call('POST', '/connected-registries', { name: 'top-edge', mode: 'ReadWrite', repositories: ['a'] })).status, 201);
    assert.equal((await call('POST', '/connected-registries', { name: 'kid-edge', parent: 'top-edge', repositories: ['b'] })).status, 201);
  });
  after(() => node.close());

  test('permissions add: the target keeps its map when an ancestor\'s would be over the limit', async () => {
    const kid = await actionsOf('kid-edge');
    const top = await actionsOf('top-edge');
    assert.equal(top.filter((a) => a.startsWith('repositories/')).length, 7);
    const refused = await call('PATCH', '/connected-registries/kid-edge/permissions', { add: ['c', 'd', 'e'] });
    assert.equal(refused.status, 429, JSON.stringify(refused.json));
    assert.equal(errorCodeOf(refused), 'TOOMANYREQUESTS');
    assert.deepEqual(await actionsOf('kid-edge'), kid, 'kid-edge (8 of 12) was not granted what top-edge (13) could not be');
    assert.deepEqual(await actionsOf('top-edge'), top);
    assert.equal((await call('PATCH', '/connected-registries/kid-edge/permissions', { add: ['c', 'd'] })).status, 200, 'within the limit');
    assert.ok((await actionsOf('top-edge')).includes('repositories/d/content/read'));
  });

  test('create: no child record when an ancestor\'s map would be over the limit', async () => {
    const top = await actionsOf('top-edge');
    const refused = await call('POST', '/connected-registries', { name: 'kid-two', parent: 'top-edge', repositories: ['x', 'y'] });
    assert.equal(refused.status, 429, JSON.stringify(refused.json));
    assert.equal((await call('GET', '/connected-registries/kid-two')).status, 404);
    assert.deepEqual(await actionsOf('top-edge'), top);
  });
});

describe('connected registries: --login-server', () => {
  test('the root\'s configured login server is the top-level ParentGatewayEndpoint', async () => {
    const dir = await tempDir();
    const env = { OUTPOST_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, ACR_REGISTRY_LOGIN_SERVER: 'ignored.example:1' };
    const config = resolveNodeConfig({ host: '127.0.0.1', port: '0', dataDir: dir.path, logLevel: 'Error', loginServer: 'root.example:8443' }, env);
    assert.equal(resolveNodeConfig({}, env).loginServer, 'ignored.example:1', 'the ACR name is accepted as an alias');
    const node = await startNode(config);
    try {
      const admin = new TestClient(node.url);
      const post = async (path: string, body: unknown): Promise<Record<string, unknown>> => {
        const res = await admin.request('POST', `/mgmt/v1${path}`, { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
        return (await res.json()) as Record<string, unknown>;
      };
      const cr = await post('/connected-registries', { name: 'edge01', repositories: ['hello-world'] });
      assert.equal((cr.parent as { syncProperties: { gatewayEndpoint: string } }).syncProperties.gatewayEndpoint, 'root.example:8443');
      const settings = await post('/connected-registries/edge01/settings', { parentProtocol: 'https' });
      assert.match(String(settings.ACR_REGISTRY_CONNECTION_STRING), /;ParentGatewayEndpoint=root\.example:8443;ParentEndpointProtocol=https$/);
    } finally {
      await node.close();
      await dir.cleanup();
    }
  });
});
