import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { IdentityLimits, IdentityStore, PasswordRecord, TokenRecord } from '../../src/metadata/index.js';
import { RegistryError } from '../../src/oci/index.js';

/** What an implementation hands the suite: a fresh store (system scope maps only) with these limits, and how to throw it away. */
export interface OpenedIdentityStore {
  store: IdentityStore;
  cleanup(): Promise<void>;
}

const codeOf = (code: string) => (err: unknown): boolean => err instanceof RegistryError && err.code === code;
const SYSTEM_MAPS = ['_repositories_admin', '_repositories_pull', '_repositories_push'];
const READ = 'repositories/app/content/read';
const WRITE = 'repositories/app/content/write';

function password(hash: string, expiry: Date | null = null): PasswordRecord {
  return { hash, createdAt: new Date('2026-01-02T03:04:05.000Z'), expiry };
}

/**
 * The IdentityStore contract as tests (docs/architecture.md, "Identity"). Every implementation
 * (SQLite, PostgreSQL) runs it; `open` must give a store holding only the system scope maps.
 */
export function runIdentityStoreSuite(name: string, open: (limits?: Partial<IdentityLimits>) => Promise<OpenedIdentityStore>): void {
  describe(`IdentityStore contract: ${name}`, () => {
    let store: IdentityStore;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      ({ store, cleanup } = await open());
    });
    afterEach(async () => {
      await cleanup();
    });

    it('starts with the three system scope maps and no tokens', async () => {
      const maps = await store.listScopeMaps();
      assert.deepEqual(maps.map((m) => m.name), SYSTEM_MAPS);
      assert.ok(maps.every((m) => m.type === 'SystemDefined'));
      assert.deepEqual(await store.listTokens(), []);
      assert.equal(await store.getScopeMap('nothing'), null);
      assert.equal(await store.getToken('nothing'), null);
    });

    it('scope maps: create, read, update, delete; system maps never change', async () => {
      const created = await store.createScopeMap({ name: 'map-a', description: 'd', actions: [READ] });
      assert.equal(created.type, 'UserDefined');
      assert.deepEqual(created.actions, [READ]);
      assert.ok(created.createdAt instanceof Date);
      await assert.rejects(store.createScopeMap({ name: 'map-a', description: '', actions: [READ] }), codeOf('CONFLICT'));
      const updated = await store.updateScopeMap('map-a', { actions: [READ, WRITE] });
      assert.deepEqual(updated.actions, [READ, WRITE]);
      assert.equal(updated.description, 'd', 'the description stays unless given');
      assert.equal((await store.updateScopeMap('map-a', { description: 'new' })).description, 'new');
      assert.deepEqual((await store.getScopeMap('map-a'))!.actions, [READ, WRITE]);
      await assert.rejects(store.updateScopeMap('missing', { actions: [] }), codeOf('NOT_FOUND'));
      await assert.rejects(store.updateScopeMap('_repositories_pull', { actions: [] }), codeOf('DENIED'));
      await assert.rejects(store.deleteScopeMap('_repositories_pull'), codeOf('DENIED'));
      await store.deleteScopeMap('map-a');
      await assert.rejects(store.deleteScopeMap('map-a'), codeOf('NOT_FOUND'));
    });

    it('updateScopeMapActions changes several maps, or none when one is refused', async () => {
      await store.createScopeMap({ name: 'map-a', description: '', actions: [READ] });
      await store.createScopeMap({ name: 'map-b', description: '', actions: [READ] });
      await store.updateScopeMapActions([{ name: 'map-a', actions: [WRITE] }, { name: 'map-b', actions: [] }]);
      assert.deepEqual((await store.getScopeMap('map-a'))!.actions, [WRITE]);
      await assert.rejects(store.updateScopeMapActions([{ name: 'map-a', actions: [READ] }, { name: 'missing', actions: [] }]), codeOf('NOT_FOUND'));
      assert.deepEqual((await store.getScopeMap('map-a'))!.actions, [WRITE], 'the first map was rolled back');
    });

    it('tokens: create (with a new scope map), update, passwords, delete; a scope map in use stays', async () => {
      const token = await store.createToken({
        name: 'token-a', status: 'enabled', scopeMap: 'token-a-map', newScopeMap: { name: 'token-a-map', description: '', actions: [READ] },
        password1: password('hash-1'), password2: null,
      });
      assert.equal(token.scopeMap, 'token-a-map');
      assert.deepEqual(token.password1, password('hash-1'));
      assert.equal(token.password2, null);
      assert.ok(await store.getScopeMap('token-a-map'), 'created in the same transaction');
      await assert.rejects(store.createToken({ name: 'token-a', status: 'enabled', scopeMap: null }), codeOf('CONFLICT'));
      await assert.rejects(store.createToken({ name: 'token-b', status: 'enabled', scopeMap: 'missing' }), codeOf('NOT_FOUND'));
      await assert.rejects(store.createToken({
        name: 'token-c', status: 'enabled', scopeMap: 'token-a-map', newScopeMap: { name: 'token-a-map', description: '', actions: [] },
      }), codeOf('CONFLICT'));
      assert.equal(await store.getToken('token-c'), null, 'nothing of a refused create');

      assert.equal((await store.updateToken('token-a', { status: 'disabled' })).status, 'disabled');
      assert.equal((await store.updateToken('token-a', { scopeMap: null })).scopeMap, null);
      await assert.rejects(store.updateToken('token-a', { scopeMap: 'missing' }), codeOf('NOT_FOUND'));
      await assert.rejects(store.updateToken('missing', { status: 'enabled' }), codeOf('NOT_FOUND'));
      const expiry = new Date('2030-01-01T00:00:00.000Z');
      assert.deepEqual((await store.setTokenPassword('token-a', 'password2', password('hash-2', expiry))).password2, password('hash-2', expiry));
      assert.equal((await store.setTokenPassword('token-a', 'password1', null)).password1, null);
      await assert.rejects(store.setTokenPassword('missing', 'password1', null), codeOf('NOT_FOUND'));

      await store.updateToken('token-a', { scopeMap: 'token-a-map' });
      await assert.rejects(store.deleteScopeMap('token-a-map'), codeOf('CONFLICT'));
      await store.deleteToken('token-a');
      await assert.rejects(store.deleteToken('token-a'), codeOf('NOT_FOUND'));
      await store.deleteScopeMap('token-a-map');
    });

    it('limits: tokens, scope maps, repository permissions per scope map (gateway actions do not count)', async () => {
      const limited = await open({ tokens: 1, scopeMaps: 2, repositoryPermissionsPerScopeMap: 2 });
      try {
        const s = limited.store;
        await s.createScopeMap({ name: 'map-a', description: '', actions: [READ, WRITE, 'gateway/edge1/config/read'] });
        await assert.rejects(s.createScopeMap({ name: 'map-b', description: '', actions: [READ, WRITE, 'repositories/x/content/read'] }), codeOf('TOOMANYREQUESTS'));
        await assert.rejects(s.updateScopeMap('map-a', { actions: [READ, WRITE, 'repositories/x/content/read'] }), codeOf('TOOMANYREQUESTS'));
        await s.createScopeMap({ name: 'map-b', description: '', actions: [] });
        await assert.rejects(s.createScopeMap({ name: 'map-c', description: '', actions: [] }), codeOf('TOOMANYREQUESTS'));
        await s.createToken({ name: 'token-a', status: 'enabled', scopeMap: null });
        await assert.rejects(s.createToken({ name: 'token-b', status: 'enabled', scopeMap: null }), codeOf('TOOMANYREQUESTS'));
      } finally {
        await limited.cleanup();
      }
    });

    it('replaceAll makes tokens and user-defined maps exactly the snapshot; system maps stay', async () => {
      await store.createScopeMap({ name: 'old-map', description: '', actions: [READ] });
      await store.createToken({ name: 'old-token', status: 'enabled', scopeMap: 'old-map' });
      const token: TokenRecord = {
        name: 'new-token', status: 'disabled', scopeMap: 'new-map', createdAt: new Date('2026-02-03T04:05:06.000Z'),
        password1: password('hash-1'), password2: null,
      };
      await store.replaceAll({ scopeMaps: [{ name: 'new-map', description: 'n', actions: [WRITE] }], tokens: [token] });
      assert.deepEqual((await store.listScopeMaps()).map((m) => m.name), [...SYSTEM_MAPS, 'new-map']);
      assert.deepEqual(await store.listTokens(), [token], 'password hashes and creation time as given');
    });

    describe('applyChanges (a unit of work)', () => {
      it('applies every kind of change, in order', async () => {
        await store.createScopeMap({ name: 'top-map', description: '', actions: [READ] });
        await store.applyChanges([
          { kind: 'put-scope-map', scopeMap: { name: 'edge-map', description: 'first', actions: [READ] } },
          { kind: 'put-scope-map', scopeMap: { name: 'edge-map', description: 'second', actions: [WRITE] } },
          { kind: 'put-token', name: 'edge-token', status: 'enabled', scopeMap: 'edge-map' },
          { kind: 'set-token-password', name: 'edge-token', slot: 'password1', password: password('hash-1') },
          { kind: 'put-token', name: 'edge-token', status: 'disabled', scopeMap: 'top-map' },
          { kind: 'edit-scope-map-actions', name: 'top-map', add: [WRITE, READ], remove: [] },
        ]);
        const map = (await store.getScopeMap('edge-map'))!;
        assert.deepEqual([map.description, map.actions], ['second', [WRITE]], 'put replaces a map');
        const token = (await store.getToken('edge-token'))!;
        assert.deepEqual([token.status, token.scopeMap], ['disabled', 'top-map'], 'put updates a token');
        assert.deepEqual(token.password1, password('hash-1'), 'and keeps its passwords');
        assert.deepEqual((await store.getScopeMap('top-map'))!.actions, [READ, WRITE], 'new actions appended once');

        await store.applyChanges([
          { kind: 'edit-scope-map-actions', name: 'top-map', add: [], remove: [READ] },
          { kind: 'delete-scope-map', name: 'top-map', onlyIfUnused: true },
          { kind: 'delete-scope-map', name: 'edge-map', onlyIfUnused: true },
        ]);
        assert.deepEqual((await store.getScopeMap('top-map'))?.actions, [WRITE], 'a map in use stays with onlyIfUnused');
        assert.equal(await store.getScopeMap('edge-map'), null, 'an unused one goes');
        await store.applyChanges([{ kind: 'delete-token', name: 'edge-token' }, { kind: 'delete-scope-map', name: 'top-map' }]);
        assert.deepEqual(await store.listTokens(), []);
        assert.equal(await store.getScopeMap('top-map'), null, 'free once the token went earlier in the same unit');
      });

      it('a change that fails undoes the changes before it', async () => {
        await store.createScopeMap({ name: 'top-map', description: '', actions: [READ] });
        const refusals: Array<[Parameters<IdentityStore['applyChanges']>[0][number], string]> = [
          [{ kind: 'edit-scope-map-actions', name: 'missing', add: [WRITE], remove: [] }, 'NOT_FOUND'],
          [{ kind: 'edit-scope-map-actions', name: '_repositories_pull', add: [WRITE], remove: [] }, 'DENIED'],
          [{ kind: 'put-scope-map', scopeMap: { name: '_repositories_pull', description: '', actions: [] } }, 'DENIED'],
          [{ kind: 'delete-scope-map', name: 'top-map' }, 'CONFLICT'],
          [{ kind: 'delete-token', name: 'missing' }, 'NOT_FOUND'],
          [{ kind: 'set-token-password', name: 'missing', slot: 'password1', password: null }, 'NOT_FOUND'],
          [{ kind: 'put-token', name: 'other-token', status: 'enabled', scopeMap: 'missing' }, 'NOT_FOUND'],
        ];
        for (const [refused, code] of refusals) {
          await assert.rejects(store.applyChanges([
            { kind: 'put-scope-map', scopeMap: { name: 'edge-map', description: '', actions: [READ] } },
            { kind: 'put-token', name: 'edge-token', status: 'enabled', scopeMap: 'top-map' },
            { kind: 'edit-scope-map-actions', name: 'top-map', add: [WRITE], remove: [] },
            refused,
          ]), codeOf(code), `${refused.kind} ${code}`);
          assert.equal(await store.getScopeMap('edge-map'), null, refused.kind);
          assert.equal(await store.getToken('edge-token'), null, refused.kind);
          assert.deepEqual((await store.getScopeMap('top-map'))!.actions, [READ], refused.kind);
        }
      });

      it('an edit that changes nothing is a no-op; one past the permission limit is refused', async () => {
        const limited = await open({ repositoryPermissionsPerScopeMap: 1 });
        try {
          await limited.store.createScopeMap({ name: 'map-a', description: '', actions: [READ] });
          await limited.store.applyChanges([{ kind: 'edit-scope-map-actions', name: 'map-a', add: [READ], remove: [WRITE] }]);
          await assert.rejects(limited.store.applyChanges([{ kind: 'edit-scope-map-actions', name: 'map-a', add: [WRITE], remove: [] }]), codeOf('TOOMANYREQUESTS'));
          assert.deepEqual((await limited.store.getScopeMap('map-a'))!.actions, [READ]);
        } finally {
          await limited.cleanup();
        }
      });
    });
  });
}
