import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SqliteMetadataStore, type ConnectedRegistryInput } from '../../src/metadata/index.js';
import { RegistryError } from '../../src/oci/index.js';

function input(name: string, parent: string | null = null): ConnectedRegistryInput {
  return {
    name, mode: 'ReadOnly', parent,
    sync: { tokenName: name, schedule: '* * * * *', syncWindow: null, messageTtl: 'P2D' },
    clientTokenIds: [], logging: { logLevel: 'Information', auditLogStatus: 'Disabled' },
    notificationsList: [], garbageCollection: { enabled: false, schedule: '0 5 * * *' },
  };
}

const codeOf = (code: string) => (err: unknown): boolean => err instanceof RegistryError && err.code === code;

describe('SqliteConnectedRegistryStore', () => {
  test('create, defaults, update, parent rules, limit, delete', async () => {
    const store = await SqliteMetadataStore.open(':memory:', { connectedRegistryLimit: 3 });
    const crs = store.connectedRegistries;
    try {
      const top = await crs.createConnectedRegistry(input('edge01'));
      assert.equal(top.runtime.activationStatus, 'Inactive');
      assert.equal(top.runtime.connectionState, 'Offline');
      assert.deepEqual(top.runtime.statusDetails, []);
      assert.equal(top.sync.lastSyncTime, null);
      await assert.rejects(crs.createConnectedRegistry(input('edge01')), codeOf('CONFLICT'));
      await assert.rejects(crs.createConnectedRegistry(input('edge02', 'missing')), codeOf('NOT_FOUND'));
      await crs.createConnectedRegistry(input('edge02', 'edge01'));
      await crs.createConnectedRegistry(input('edge03', 'edge02'));
      await assert.rejects(crs.createConnectedRegistry(input('edge04')), codeOf('TOOMANYREQUESTS'));

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

      await assert.rejects(crs.deleteConnectedRegistry('edge02'), codeOf('CONFLICT'));
      await crs.deleteConnectedRegistry('edge03');
      await crs.deleteConnectedRegistry('edge02');
      await assert.rejects(crs.deleteConnectedRegistry('edge02'), codeOf('NOT_FOUND'));
      assert.deepEqual((await crs.listConnectedRegistries()).map((c) => c.name), ['edge01']);
    } finally {
      await store.close();
    }
  });
});
