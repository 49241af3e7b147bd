import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type {
  ConnectedRegistryInput, ConnectedRegistrySnapshot, ConnectedRegistryStore, IdentityStore, ManagementChange,
} from '../../src/metadata/index.js';
import { RegistryError } from '../../src/oci/index.js';

/**
 * What an implementation hands the suite: a fresh connected-registry store (no records) allowing
 * `limit` records, the identity store that shares its database (its unit of work spans both),
 * and how to throw them away.
 */
export interface OpenedConnectedRegistryStore {
  store: ConnectedRegistryStore;
  identities: IdentityStore;
  cleanup(): Promise<void>;
}

const codeOf = (code: string) => (err: unknown): boolean => err instanceof RegistryError && err.code === code;
const READ = 'repositories/app/content/read';

export function registryInput(name: string, parent: string | null = null): ConnectedRegistryInput {
  return {
    name, mode: 'ReadOnly', parent,
    sync: { tokenName: name, schedule: '* * * * *', syncWindow: null, messageTtl: 'P2D' },
    clientTokenIds: [], logging: { logLevel: 'Information', auditLogStatus: 'Disabled' },
    notificationsList: [], garbageCollection: { enabled: false, schedule: '0 5 * * *' },
  };
}

function snapshot(name: string, parent: string | null, activationEpoch = 0): ConnectedRegistrySnapshot {
  return { ...registryInput(name, parent), activationEpoch, resyncRequestedAt: null };
}

/**
 * The ConnectedRegistryStore contract as tests (docs/architecture.md, "Sync gateway"; docs/management-api.md).
 * Every implementation (SQLite, PostgreSQL) runs it.
 */
export function runConnectedRegistryStoreSuite(name: string, open: (limit?: number) => Promise<OpenedConnectedRegistryStore>): void {
  describe(`ConnectedRegistryStore contract: ${name}`, () => {
    let store: ConnectedRegistryStore;
    let identities: IdentityStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, identities, cleanup } = await open());
    });
    afterEach(async () => {
      await cleanup();
    });

    it('create, defaults, update, parent rules, limit, delete', async () => {
      const limited = await open(3);
      const crs = limited.store;
      try {
        assert.equal(crs.maxConnectedRegistries, 3);
        const top = await crs.createConnectedRegistry(registryInput('edge01'));
        assert.equal(top.runtime.activationStatus, 'Inactive');
        assert.equal(top.runtime.connectionState, 'Offline');
        assert.deepEqual(top.runtime.statusDetails, []);
        assert.equal(top.sync.lastSyncTime, null);
        assert.equal(top.activationEpoch, 0);
        assert.equal(top.resyncRequestedAt, null);
        await assert.rejects(crs.createConnectedRegistry(registryInput('edge01')), codeOf('CONFLICT'));
        await assert.rejects(crs.createConnectedRegistry(registryInput('edge02', 'missing')), codeOf('NOT_FOUND'));
        await crs.createConnectedRegistry(registryInput('edge02', 'edge01'));
        await crs.createConnectedRegistry(registryInput('edge03', 'edge02'));
        await assert.rejects(crs.createConnectedRegistry(registryInput('edge04')), codeOf('TOOMANYREQUESTS'));

        const updated = await crs.updateConnectedRegistry('edge02', {
          sync: { schedule: '0 9 * * *', syncWindow: 'PT3H' }, clientTokenIds: ['client1'], notificationsList: ['*:*'],
          logging: { logLevel: 'Debug' }, garbageCollection: { enabled: true, schedule: '0 5 * * *' },
          runtime: { activationStatus: 'Active', loginServer: { host: '10.0.0.1:8080' } },
        });
        assert.equal(updated.sync.schedule, '0 9 * * *');
        assert.equal(updated.sync.syncWindow, 'PT3H');
        assert.equal(updated.sync.messageTtl, 'P2D');
        assert.deepEqual(updated.clientTokenIds, ['client1']);
        assert.deepEqual(updated.logging, { logLevel: 'Debug', auditLogStatus: 'Disabled' });
        assert.equal(updated.garbageCollection.enabled, true);
        assert.equal(updated.runtime.loginServer?.host, '10.0.0.1:8080');
        assert.equal(updated.parent, 'edge01');
        await assert.rejects(crs.updateConnectedRegistry('missing', {}), codeOf('NOT_FOUND'));

        await assert.rejects(crs.deleteConnectedRegistry('edge02'), codeOf('CONFLICT'));
        await crs.deleteConnectedRegistry('edge03');
        await crs.deleteConnectedRegistry('edge02');
        await assert.rejects(crs.deleteConnectedRegistry('edge02'), codeOf('NOT_FOUND'));
        assert.deepEqual((await crs.listConnectedRegistries()).map((c) => c.name), ['edge01']);
      } finally {
        await limited.cleanup();
      }
    });

    it('activation: one instance at a time; deactivate frees it and bumps the epoch; resync records the time', async () => {
      await store.createConnectedRegistry(registryInput('edge01'));
      const at = new Date('2026-03-04T05:06:07.000Z');
      const active = await store.activate('edge01', 'instance-a', '1.0.0', at);
      assert.deepEqual([active.runtime.activationStatus, active.runtime.instanceId, active.runtime.version], ['Active', 'instance-a', '1.0.0']);
      assert.deepEqual(active.runtime.lastActivityTime, at);
      await store.activate('edge01', 'instance-a', '1.0.1', at);
      await assert.rejects(store.activate('edge01', 'instance-b', null, at), codeOf('ALREADY_ACTIVATED'));
      await assert.rejects(store.activate('missing', 'instance-b', null, at), codeOf('NOT_FOUND'));
      const freed = await store.deactivate('edge01');
      assert.deepEqual([freed.runtime.activationStatus, freed.runtime.instanceId, freed.activationEpoch], ['Inactive', null, 1]);
      assert.equal((await store.activate('edge01', 'instance-b', null, at)).runtime.instanceId, 'instance-b');
      await assert.rejects(store.deactivate('missing'), codeOf('NOT_FOUND'));
      assert.deepEqual((await store.requestResync('edge01', at)).resyncRequestedAt, at);
      await assert.rejects(store.requestResync('missing', at), codeOf('NOT_FOUND'));
    });

    it('replaceSubtree: the parent\'s records, runtime kept, a newer epoch frees the activation, missing ones removed', async () => {
      await store.replaceSubtree([snapshot('site', null), snapshot('line', 'site'), snapshot('gone', 'site')]);
      await store.activate('line', 'instance-a', null, new Date());
      await store.updateConnectedRegistry('line', { runtime: { version: '2.0.0' } });
      await store.replaceSubtree([snapshot('site', null), { ...snapshot('line', 'site'), logging: { logLevel: 'Debug', auditLogStatus: 'Disabled' } }]);
      let line = (await store.getConnectedRegistry('line'))!;
      assert.deepEqual([line.logging.logLevel, line.runtime.activationStatus, line.runtime.version], ['Debug', 'Active', '2.0.0']);
      assert.deepEqual((await store.listConnectedRegistries()).map((c) => c.name), ['line', 'site']);
      await store.replaceSubtree([snapshot('site', null), snapshot('line', 'site', 1)]);
      line = (await store.getConnectedRegistry('line'))!;
      assert.deepEqual([line.runtime.activationStatus, line.runtime.instanceId, line.activationEpoch], ['Inactive', null, 1]);
    });

    describe('applyChanges (a unit of work with the identity store)', () => {
      it('applies record, token and scope-map changes in order, in one transaction', async () => {
        await identities.createScopeMap({ name: 'top', description: '', actions: [] });
        await identities.createToken({ name: 'top', status: 'enabled', scopeMap: 'top' });
        await store.createConnectedRegistry(registryInput('top'));
        const at = new Date('2026-03-04T05:06:07.000Z');
        await store.applyChanges([
          { kind: 'put-scope-map', scopeMap: { name: 'kid', description: '', actions: [READ] } },
          { kind: 'put-token', name: 'kid', status: 'enabled', scopeMap: 'kid' },
          { kind: 'edit-scope-map-actions', name: 'top', add: [READ], remove: [] },
          { kind: 'create-registry', input: registryInput('kid', 'top') },
          { kind: 'update-registry', name: 'kid', change: { clientTokenIds: ['top'] } },
          { kind: 'request-resync', name: 'kid', at },
          { kind: 'deactivate-registry', name: 'kid' },
        ]);
        const kid = (await store.getConnectedRegistry('kid'))!;
        assert.deepEqual([kid.parent, kid.clientTokenIds, kid.resyncRequestedAt, kid.activationEpoch], ['top', ['top'], at, 1]);
        assert.equal((await identities.getToken('kid'))?.scopeMap, 'kid');
        assert.deepEqual((await identities.getScopeMap('top'))!.actions, [READ]);

        await store.applyChanges([
          { kind: 'delete-registry', name: 'kid' },
          { kind: 'edit-scope-map-actions', name: 'top', add: [], remove: [READ] },
          { kind: 'delete-token', name: 'kid' },
          { kind: 'delete-scope-map', name: 'kid', onlyIfUnused: true },
        ]);
        assert.equal(await store.getConnectedRegistry('kid'), null);
        assert.equal(await identities.getToken('kid'), null);
        assert.equal(await identities.getScopeMap('kid'), null);
        assert.deepEqual((await identities.getScopeMap('top'))!.actions, []);
      });

      it('a step that fails undoes every step before it: no orphan token, scope map, grant or record', async () => {
        await identities.createScopeMap({ name: 'top', description: '', actions: [] });
        await identities.createToken({ name: 'top', status: 'enabled', scopeMap: 'top' });
        await store.createConnectedRegistry(registryInput('top'));
        await store.createConnectedRegistry(registryInput('other'));
        const creates = (last: ManagementChange): ManagementChange[] => [
          { kind: 'put-scope-map', scopeMap: { name: 'kid', description: '', actions: [READ] } },
          { kind: 'put-token', name: 'kid', status: 'enabled', scopeMap: 'kid' },
          { kind: 'edit-scope-map-actions', name: 'top', add: [READ], remove: [] },
          { kind: 'update-registry', name: 'other', change: { clientTokenIds: ['kid'] } },
          last,
        ];
        const refusals: Array<[ManagementChange, string]> = [
          [{ kind: 'create-registry', input: registryInput('top') }, 'CONFLICT'],
          [{ kind: 'create-registry', input: registryInput('kid', 'missing') }, 'NOT_FOUND'],
          [{ kind: 'delete-registry', name: 'missing' }, 'NOT_FOUND'],
          [{ kind: 'update-registry', name: 'missing', change: {} }, 'NOT_FOUND'],
          [{ kind: 'deactivate-registry', name: 'missing' }, 'NOT_FOUND'],
          [{ kind: 'request-resync', name: 'missing', at: new Date() }, 'NOT_FOUND'],
          [{ kind: 'delete-token', name: 'missing' }, 'NOT_FOUND'],
        ];
        for (const [refused, code] of refusals) {
          await assert.rejects(store.applyChanges(creates(refused)), codeOf(code), `${refused.kind} ${code}`);
          assert.equal(await identities.getToken('kid'), null, refused.kind);
          assert.equal(await identities.getScopeMap('kid'), null, refused.kind);
          assert.deepEqual((await identities.getScopeMap('top'))!.actions, [], refused.kind);
          assert.deepEqual((await store.getConnectedRegistry('other'))!.clientTokenIds, [], refused.kind);
          assert.deepEqual((await store.listConnectedRegistries()).map((c) => c.name), ['other', 'top'], refused.kind);
        }
        await assert.rejects(store.applyChanges([
          { kind: 'create-registry', input: registryInput('kid', 'top') },
          { kind: 'delete-registry', name: 'top' },
        ]), codeOf('CONFLICT'), 'a registry with children');
        assert.equal(await store.getConnectedRegistry('kid'), null);
      });

      it('the registry limit is checked inside the unit of work', async () => {
        const limited = await open(1);
        try {
          await limited.store.createConnectedRegistry(registryInput('first'));
          await assert.rejects(limited.store.applyChanges([
            { kind: 'put-token', name: 'second', status: 'enabled', scopeMap: null },
            { kind: 'create-registry', input: registryInput('second') },
          ]), codeOf('TOOMANYREQUESTS'));
          assert.equal(await limited.identities.getToken('second'), null);
        } finally {
          await limited.cleanup();
        }
      });
    });
  });
}
