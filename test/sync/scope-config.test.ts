import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SYNC_STATE_KEYS } from '../../src/metadata/index.js';
import { createConnectedRegistry, startEdge, tagDigest, tokenClient, waitFor } from '../helpers/hierarchy.js';
import { TestClient, errorCode } from '../helpers/oci-client.js';
import type { TestNode } from '../helpers/test-node.js';
import { WRITE_NOT_ALLOWED } from '../../src/sync/edge-policy.js';
import { FAST_SYNC, createToken, edgeStore, hasRepository, mustMgmt, pushImage, startRoot, type Root } from './sync-fixture.js';

/**
 * Config changes at the root reach running edges without a restart (docs/architecture.md, "Connected node and sync agent"): repositories
 * added to or removed from the sync scope (pruned only on a ReadOnly edge), client tokens, the
 * log level.
 */
describe('scope and config changes reach running edges', () => {
  let root: Root;
  let ro: TestNode;
  let rw: TestNode;
  let atRo: TestClient;
  let atRw: TestClient;

  before(async () => {
    root = await startRoot();
    await pushImage(root.admin, 'alpha', '1');
    await pushImage(root.admin, 'beta', '1');
    const roCr = await createConnectedRegistry(root.admin, { name: 'edgescopero', mode: 'ReadOnly', repositories: ['alpha'], logLevel: 'Error' });
    const rwCr = await createConnectedRegistry(root.admin, { name: 'edgescoperw', mode: 'ReadWrite', repositories: ['alpha'], logLevel: 'Error' });
    [ro, rw] = await Promise.all([startEdge(roCr.connectionString, { app: FAST_SYNC }), startEdge(rwCr.connectionString, { app: FAST_SYNC })]);
    atRo = new TestClient(ro.url);
    atRw = new TestClient(rw.url);
    await waitFor('alpha at both edges', async () => (await tagDigest(atRo, 'alpha', '1')) !== null && (await tagDigest(atRw, 'alpha', '1')) !== null);
    assert.equal(await hasRepository(atRo, 'beta'), false);
    assert.equal(await hasRepository(atRw, 'beta'), false);
  });

  after(async () => {
    await Promise.all([ro?.close(), rw?.close()]);
    await root?.node.close();
  });

  test('a repository added to the scope comes to both edges', async () => {
    for (const name of ['edgescopero', 'edgescoperw']) await mustMgmt(root.admin, 'PATCH', `/connected-registries/${name}/permissions`, { add: ['beta'] });
    const expected = await tagDigest(root.admin, 'beta', '1');
    await waitFor('beta at both edges', async () => (await tagDigest(atRo, 'beta', '1')) === expected && (await tagDigest(atRw, 'beta', '1')) === expected);
    // And it keeps following: a later push to beta arrives too.
    const b2 = await pushImage(root.admin, 'beta', '2');
    await waitFor('beta:2 at both edges', async () => (await tagDigest(atRo, 'beta', '2')) === b2.digest && (await tagDigest(atRw, 'beta', '2')) === b2.digest);
  });

  test('a repository removed from the scope is pruned on the ReadOnly edge only', async () => {
    for (const name of ['edgescopero', 'edgescoperw']) await mustMgmt(root.admin, 'PATCH', `/connected-registries/${name}/permissions`, { remove: ['beta'] });
    await waitFor('beta pruned at the ReadOnly edge', async () => !(await hasRepository(atRo, 'beta')));
    // The ReadWrite edge has the new scope (it refuses writes to beta now) and has reconciled
    // since (two pushes to alpha came through after it), yet keeps beta.
    await waitFor('the ReadWrite edge has the new scope', async () => (await edgeStore(rw).getState(SYNC_STATE_KEYS.scope)) === JSON.stringify(['alpha']));
    const refused = await atRw.putManifest('beta', 'local', '{}');
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { errors: Array<{ message: string }> }).errors[0]!.message, WRITE_NOT_ALLOWED);
    for (const tag of ['2', '3']) {
      const pushed = await pushImage(root.admin, 'alpha', tag);
      await waitFor(`alpha:${tag} at the ReadWrite edge`, async () => (await tagDigest(atRw, 'alpha', tag)) === pushed.digest);
    }
    assert.ok(await hasRepository(atRw, 'beta'));
    assert.ok((await tagDigest(atRw, 'beta', '2')) !== null);
    // Nor does it follow beta any more.
    await pushImage(root.admin, 'beta', '3');
    const a4 = await pushImage(root.admin, 'alpha', '4');
    await waitFor('alpha:4 at the ReadWrite edge', async () => (await tagDigest(atRw, 'alpha', '4')) === a4.digest);
    assert.equal(await tagDigest(atRw, 'beta', '3'), null);
  });

  test('a client token added at the root can pull at the edge within seconds; removed or disabled, it is refused', async () => {
    const password = await createToken(root.admin, 'alphareader', ['repositories/alpha/content/read', 'repositories/alpha/metadata/read']);
    const reader = tokenClient(ro.url, 'alphareader', password);
    const pull = async (): Promise<number> => (await reader.request('GET', '/v2/alpha/manifests/1', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).status;
    assert.equal(await pull(), 401, 'not a client token of this edge yet');

    const added = Date.now();
    await mustMgmt(root.admin, 'PATCH', '/connected-registries/edgescopero', { addClientTokens: ['alphareader'] });
    await waitFor('the token works at the edge', async () => (await pull()) === 200, 5_000);
    assert.ok(Date.now() - added < 3_000, `took ${Date.now() - added} ms`);
    // Its scope map still applies at the edge: no other repository.
    const other = await reader.request('GET', '/v2/beta/tags/list');
    assert.ok(other.status === 401 || other.status === 403, `beta answered ${other.status}`);

    await mustMgmt(root.admin, 'PATCH', '/tokens/alphareader', { status: 'disabled' });
    await waitFor('a disabled token is refused at the edge', async () => (await pull()) === 401, 5_000);
    await mustMgmt(root.admin, 'PATCH', '/tokens/alphareader', { status: 'enabled' });
    await waitFor('enabled again', async () => (await pull()) === 200, 5_000);

    await mustMgmt(root.admin, 'PATCH', '/connected-registries/edgescopero', { removeClientTokens: ['alphareader'] });
    await waitFor('a removed client token is refused at the edge', async () => (await pull()) === 401, 5_000);
    const refused = await reader.request('GET', '/v2/alpha/tags/list');
    assert.equal(refused.status, 401);
    assert.equal(await errorCode(refused), 'UNAUTHORIZED');
  });

  test('a log level change applies at the edge without a restart', async () => {
    assert.equal(ro.node.logger.level, 'error');
    await mustMgmt(root.admin, 'PATCH', '/connected-registries/edgescopero', { logLevel: 'Warning' });
    await waitFor('Warning at the edge', async () => ro.node.logger.level === 'warn', 5_000);
    await mustMgmt(root.admin, 'PATCH', '/connected-registries/edgescopero', { logLevel: 'None' });
    await waitFor('None at the edge', async () => ro.node.logger.level === 'silent', 5_000);
  });
});
