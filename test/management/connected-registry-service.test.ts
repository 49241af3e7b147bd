import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteMetadataStore, type ConnectedRegistryRecord, type ScopeMapRecord, type TokenRecord } from '../../src/metadata/index.js';
import { EventBus, type DomainEvent } from '../../src/core/events.js';
import { ManualClock } from '../../src/core/clock.js';
import { ConnectedRegistryService, type CreateConnectedRegistry } from '../../src/management/connected-registry-service.js';
import { TokenService } from '../../src/management/token-service.js';
import { ScopeMapService } from '../../src/management/scope-map-service.js';
import { InProcessLock } from '../../src/management/workflow-lock.js';

const gw = (n: string): string[] => [`gateway/${n}/config/read`, `gateway/${n}/config/write`, `gateway/${n}/message/read`, `gateway/${n}/message/write`];

function createInput(name: string, overrides: Partial<CreateConnectedRegistry> = {}): CreateConnectedRegistry {
  return {
    name, mode: 'ReadOnly', parent: null, sync: { repositories: [name.replace(/-.*/, '')] }, schedule: '* * * * *', syncWindow: null,
    messageTtl: 'P2D', logging: { logLevel: 'Information', auditLogStatus: 'Disabled' }, notificationsList: [], clientTokenIds: [],
    garbageCollection: { enabled: false, schedule: '0 0 * * *' }, ...overrides,
  };
}

const EMPTY_UPDATE = { addClientTokens: [], removeClientTokens: [], addNotifications: [], removeNotifications: [], logging: {} };

/**
 * The management services over a real SQLite file. Failures are injected in the database itself
 * (a trigger that aborts a statement, created over a second connection), so they strike in the
 * middle of the one transaction a workflow commits, after its earlier steps ran.
 */
class Fixture {
  dir!: string;
  metadata!: SqliteMetadataStore;
  events!: EventBus;
  heard: DomainEvent[] = [];
  crs!: ConnectedRegistryService;
  tokens!: TokenService;
  scopeMaps!: ScopeMapService;
  private admin!: Database.Database;

  async open(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), 'outpost-mgmt-service-'));
    const path = join(this.dir, 'metadata.db');
    this.metadata = await SqliteMetadataStore.open(path);
    this.admin = new Database(path);
    this.events = new EventBus((err) => {
      throw err;
    });
    this.events.subscribe('*', (e) => this.heard.push(e));
    const deps = {
      identities: this.metadata.identity, connectedRegistries: this.metadata.connectedRegistries, events: this.events,
      clock: new ManualClock(Date.parse('2026-05-01T00:00:00Z')), lock: new InProcessLock(),
    };
    this.crs = new ConnectedRegistryService(deps);
    this.tokens = new TokenService(deps);
    this.scopeMaps = new ScopeMapService(deps);
  }

  async close(): Promise<void> {
    this.admin.close();
    await this.metadata.close();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** From now on, `statement` on `table` (optionally only `when`) aborts with "injected failure". */
  inject(name: string, on: string, when = '1'): void {
    this.admin.exec(`CREATE TRIGGER ${name} BEFORE ${on} FOR EACH ROW WHEN ${when} BEGIN SELECT RAISE(ABORT, 'injected failure'); END`);
  }

  lift(name: string): void {
    this.admin.exec(`DROP TRIGGER ${name}`);
  }

  /** Everything the workflows write: records, tokens, scope maps. */
  async state(): Promise<{ records: ConnectedRegistryRecord[]; tokens: TokenRecord[]; scopeMaps: ScopeMapRecord[] }> {
    return {
      records: await this.metadata.connectedRegistries.listConnectedRegistries(),
      tokens: await this.metadata.identity.listTokens(),
      scopeMaps: await this.metadata.identity.listScopeMaps(),
    };
  }

  /** The events published since the last call. */
  take(): DomainEvent[] {
    const out = this.heard;
    this.heard = [];
    return out;
  }
}

const injected = (err: unknown): boolean => err instanceof Error && /injected failure/.test(err.message);

describe('management workflows: one transaction each (a failure mid-way leaves nothing)', () => {
  const f = new Fixture();
  beforeEach(async () => {
    await f.open();
    await f.crs.create(createInput('top-edge', { mode: 'ReadWrite' }));
    await f.crs.create(createInput('mid-edge', { mode: 'ReadWrite', parent: 'top-edge' }));
    f.take();
  });
  afterEach(() => f.close());

  test('create: the record fails after the sync token, its scope map and the ancestors\' grants were written: none of them stays (an orphan token before)', async () => {
    const before = await f.state();
    f.inject('no_new_records', 'INSERT ON connected_registries');
    await assert.rejects(f.crs.create(createInput('leaf-edge', { parent: 'mid-edge' })), injected);
    assert.deepEqual(await f.state(), before, 'no token, no scope map, no grant on mid-edge or top, no record');
    assert.deepEqual(f.take(), [], 'nothing announced');
    f.lift('no_new_records');
    await f.crs.create(createInput('leaf-edge', { parent: 'mid-edge' }));
    assert.ok((await f.metadata.identity.getScopeMap('top-edge'))!.actions.includes('gateway/leaf-edge/config/read'));
  });

  test('create: the top ancestor\'s grant fails after the nearer one\'s: no grant, token or scope map stays', async () => {
    const before = await f.state();
    f.inject('top_map_frozen', 'UPDATE ON scope_maps', "NEW.name = 'top-edge'");
    await assert.rejects(f.crs.create(createInput('leaf-edge', { parent: 'mid-edge' })), injected);
    assert.deepEqual(await f.state(), before);
  });

  test('delete with cleanup: the sync token\'s delete fails after the record and the ancestors\' gateway actions went: all of them stay', async () => {
    await f.crs.create(createInput('leaf-edge', { parent: 'mid-edge' }));
    f.take();
    const before = await f.state();
    f.inject('tokens_stay', 'DELETE ON tokens');
    await assert.rejects(f.crs.delete('leaf-edge', true), injected);
    assert.deepEqual(await f.state(), before, 'the record, its token and scope map, gateway/leaf-edge/* on mid-edge and top');
    assert.deepEqual(f.take(), []);
    f.lift('tokens_stay');
    assert.deepEqual(await f.crs.delete('leaf-edge', true), { name: 'leaf-edge', cleanup: true });
    const after = await f.state();
    assert.deepEqual(after.tokens.map((t) => t.name), ['mid-edge', 'top-edge']);
    assert.ok(!after.scopeMaps.some((m) => m.actions.some((a) => a.startsWith('gateway/leaf-edge/'))));
    assert.ok(after.scopeMaps.find((m) => m.name === 'top-edge')!.actions.includes('repositories/leaf/content/read'), 'repository actions stay');
  });

  test('token delete: taking it off a registry\'s client tokens fails after the token went: the token stays', async () => {
    await f.tokens.create({ name: 'client-a', status: 'enabled', scopeMap: '_repositories_pull', passwords: false, expiry: null });
    await f.crs.update('mid-edge', { ...EMPTY_UPDATE, addClientTokens: ['client-a'] });
    f.take();
    const before = await f.state();
    f.inject('records_frozen', 'UPDATE ON connected_registries');
    await assert.rejects(f.tokens.delete('client-a'), injected);
    assert.deepEqual(await f.state(), before);
    f.lift('records_frozen');
    await f.tokens.delete('client-a');
    assert.deepEqual((await f.crs.get('mid-edge')).clientTokenIds, []);
  });

  test('permissions: one ancestor\'s map fails after the target\'s changed: every map stays', async () => {
    const before = await f.state();
    f.inject('top_map_frozen', 'UPDATE ON scope_maps', "NEW.name = 'top-edge'");
    await assert.rejects(f.crs.updatePermissions('mid-edge', ['extra'], []), injected);
    assert.deepEqual(await f.state(), before);
  });

  test('get-settings: a password that cannot be stored is not handed out', async () => {
    f.inject('tokens_frozen', 'UPDATE ON tokens');
    await assert.rejects(f.crs.settings('mid-edge', 'https', 'password1', 'root.example:443'), injected);
    assert.equal((await f.metadata.identity.getToken('mid-edge'))!.password1, null);
    assert.deepEqual(f.take(), []);
  });
});

describe('management workflows: events after each commit', () => {
  const f = new Fixture();
  beforeEach(() => f.open());
  afterEach(() => f.close());

  test('config and credential changes are announced once committed, naming what changed', async () => {
    await f.crs.create(createInput('top-edge'));
    assert.deepEqual(f.take(), [
      { type: 'connected-registry-config-changed', name: 'top-edge' },
      { type: 'credential-changed', token: 'top-edge' },
    ]);
    await f.crs.update('top-edge', { ...EMPTY_UPDATE, messageTtl: 'P3D' });
    await f.crs.deactivate('top-edge');
    await f.crs.resync('top-edge');
    await f.crs.updatePermissions('top-edge', ['more'], []);
    assert.deepEqual(f.take().map((e) => e.type === 'connected-registry-config-changed' && e.name), ['top-edge', 'top-edge', 'top-edge', 'top-edge']);

    await f.crs.settings('top-edge', 'http', null, 'root:1');
    assert.deepEqual(f.take(), [], 'get-settings without a new password changes nothing');
    await f.crs.settings('top-edge', 'http', 'password2', 'root:1');
    assert.deepEqual(f.take(), [{ type: 'connected-registry-config-changed', name: 'top-edge' }, { type: 'credential-changed', token: 'top-edge' }]);

    const { token } = await f.tokens.create({ name: 'client-a', status: 'enabled', scopeMap: '_repositories_pull', passwords: true, expiry: null });
    assert.ok(token.password1 && token.password2);
    await f.tokens.update('client-a', { status: 'disabled' });
    await f.tokens.deletePassword('client-a', 'password1');
    await f.tokens.delete('client-a');
    assert.deepEqual(f.take().filter((e) => e.type === 'credential-changed'), Array(4).fill({ type: 'credential-changed', token: 'client-a' }));

    await f.scopeMaps.create({ name: 'map-a', description: '', actions: ['repositories/a/content/read'] });
    await f.scopeMaps.edit('map-a', { add: ['repositories/b/content/read'], remove: [] });
    await f.scopeMaps.delete('map-a');
    assert.deepEqual(f.take(), Array(3).fill({ type: 'connected-registry-config-changed', name: null }), 'a scope map: any registry\'s config');

    await f.crs.delete('top-edge', false);
    assert.deepEqual(f.take(), [{ type: 'connected-registry-config-changed', name: 'top-edge' }]);
  });

  test('a refused workflow announces nothing', async () => {
    await f.crs.create(createInput('top-edge'));
    f.take();
    await assert.rejects(f.crs.create(createInput('top-edge')), /already exists/);
    await assert.rejects(f.crs.update('nowhere', EMPTY_UPDATE), /doesn't exist/);
    await assert.rejects(f.tokens.delete('top-edge'), /is the sync token/);
    await assert.rejects(f.scopeMaps.delete('_repositories_pull'), /system defined/);
    assert.deepEqual(f.take(), []);
  });
});

describe('management workflows: one at a time', () => {
  const f = new Fixture();
  beforeEach(() => f.open());
  afterEach(() => f.close());

  test('concurrent client-token updates of one registry both land (each reads what the other wrote)', async () => {
    await f.crs.create(createInput('top-edge'));
    const names = ['client-a', 'client-b', 'client-c', 'client-d'];
    for (const name of names) await f.tokens.create({ name, status: 'enabled', scopeMap: '_repositories_pull', passwords: false, expiry: null });
    await Promise.all(names.map((name) => f.crs.update('top-edge', { ...EMPTY_UPDATE, addClientTokens: [name] })));
    assert.deepEqual([...(await f.crs.get('top-edge')).clientTokenIds].sort(), names);
  });

  test('a token deleted while a registry is created with it as its sync token: one of them is refused', async () => {
    await f.scopeMaps.create({ name: 'own-map', description: '', actions: ['repositories/own/content/read'] });
    await f.tokens.create({ name: 'own-sync', status: 'enabled', scopeMap: 'own-map', passwords: false, expiry: null });
    const [created, deleted] = await Promise.allSettled([
      f.crs.create(createInput('own-edge', { sync: { tokenName: 'own-sync' } })),
      f.tokens.delete('own-sync'),
    ]);
    assert.equal(created.status, 'fulfilled');
    assert.equal(deleted.status, 'rejected', 'the token is the sync token of the registry created first');
    assert.ok(await f.metadata.identity.getToken('own-sync'));
  });

  test('the workflow lock runs one workflow after the other, whatever the first one\'s outcome', async () => {
    const lock = new InProcessLock();
    const order: string[] = [];
    const first = lock.run(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push('first');
      throw new Error('first failed');
    });
    const second = lock.run(async () => {
      order.push('second');
      return 2;
    });
    await assert.rejects(first, /first failed/);
    assert.equal(await second, 2);
    assert.deepEqual(order, ['first', 'second']);
  });
});

describe('management workflows: hierarchy grants', () => {
  const f = new Fixture();
  beforeEach(() => f.open());
  afterEach(() => f.close());

  test('every ancestor gains the child\'s actions; a removal reaches every descendant; delete cleanup revokes the gateway actions only', async () => {
    await f.crs.create(createInput('top-edge', { mode: 'ReadWrite' }));
    await f.crs.create(createInput('mid-edge', { mode: 'ReadWrite', parent: 'top-edge' }));
    await f.crs.create(createInput('leaf-edge', { parent: 'mid-edge' }));
    const actions = async (map: string): Promise<string[]> => (await f.metadata.identity.getScopeMap(map))!.actions;
    const ro = (r: string): string[] => [`repositories/${r}/content/read`, `repositories/${r}/metadata/read`];
    assert.deepEqual((await actions('top-edge')).filter((a) => a.includes('leaf')), [...ro('leaf'), ...gw('leaf-edge')]);
    assert.deepEqual((await actions('mid-edge')).filter((a) => a.includes('leaf')), [...ro('leaf'), ...gw('leaf-edge')]);
    await f.crs.updatePermissions('top-edge', [], ['leaf']);
    for (const map of ['top-edge', 'mid-edge', 'leaf-edge']) assert.ok(!(await actions(map)).some((a) => a.startsWith('repositories/leaf/')), map);
    await f.crs.delete('leaf-edge', true);
    assert.ok(!(await actions('top-edge')).some((a) => a.startsWith('gateway/leaf-edge/')));
  });
});
