import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { GcReport } from '../../src/core/gc-report.js';
import { errorCodeOf, errorMessage, mgmt } from '../helpers/management-calls.js';
import { TestClient } from '../helpers/oci-client.js';
import { startTestNode, type TestNode } from '../helpers/test-node.js';

/**
 * Garbage collection through the management API (docs/management-api.md, "Garbage collection"):
 * `POST /mgmt/v1/gc` runs the root's now and answers its report; `POST
 * /mgmt/v1/connected-registries/<n>/gc` asks an edge for one at its next contact.
 */
describe('management API: garbage collection', () => {
  let node: TestNode;
  let admin: TestClient;

  before(async () => {
    node = await startTestNode({ env: { OUTPOST_GC_GRACE: 'PT0S', OUTPOST_GC_SCHEDULE: '30 4 * * *' } });
    admin = new TestClient(node.url);
  });
  after(async () => {
    await node.close();
  });

  test('the root collects on its own schedule (--gc-schedule)', () => {
    const next = node.node.jobs.status('gc').nextRunAt;
    assert.ok(next !== null);
    assert.deepEqual([new Date(next).getUTCHours(), new Date(next).getUTCMinutes()], [4, 30]);
  });

  test('a dry run says what would go and frees nothing; the run then frees exactly that', async () => {
    const kept = await admin.pushImage('app', 'v1');
    const gone = await admin.pushImage('app', 'v2');
    assert.equal((await mgmt(admin, 'DELETE', `/repositories/app/manifests/${gone.digest}`)).status, 204);

    const dry = await mgmt(admin, 'POST', '/gc', { dryRun: true });
    assert.equal(dry.status, 200, JSON.stringify(dry.json));
    const would = dry.json as GcReport;
    assert.equal(would.dryRun, true);
    assert.equal(would.graceSeconds, 0);
    assert.deepEqual([would.links.count, would.blobs.count, would.manifests.count], [2, 2, 1]);
    assert.equal((await admin.request('GET', `/v2/app/blobs/${gone.layers[0]}`)).status, 200, 'still linked after a dry run');

    const real = await mgmt(admin, 'POST', '/gc', {});
    assert.equal(real.status, 200);
    const freed = real.json as GcReport;
    assert.equal(freed.dryRun, false);
    for (const key of ['links', 'blobs', 'manifests', 'freedBytes'] as const) assert.deepEqual(freed[key], would[key], key);
    assert.equal((await admin.request('GET', `/v2/app/blobs/${gone.layers[0]}`)).status, 404);
    assert.equal((await admin.request('GET', `/v2/app/blobs/${kept.layers[0]}`)).status, 200);
    assert.equal(node.node.jobs.status('gc').runs, 1, 'the real run went through the scheduled job (one at a time with it)');
  });

  test('a body that is not {"dryRun": boolean} is 400 REQUEST_INVALID and runs nothing', async () => {
    const runs = node.node.jobs.status('gc').runs;
    for (const body of [{ dryRun: 'yes' }, { dryrun: true }, []]) {
      const answer = await mgmt(admin, 'POST', '/gc', body);
      assert.equal(answer.status, 400, JSON.stringify(body));
      assert.equal(errorCodeOf(answer), 'REQUEST_INVALID');
    }
    assert.equal(node.node.jobs.status('gc').runs, runs);
  });

  test('asking an edge for a collection records the request (202); the resource shows it; an unknown edge is 404', async () => {
    assert.equal((await mgmt(admin, 'POST', '/connected-registries', { name: 'edgegcapi', repositories: ['app'] })).status, 201);
    const shownBefore = (await mgmt(admin, 'GET', '/connected-registries/edgegcapi')).json as Record<string, unknown>;
    assert.equal(shownBefore.garbageCollectionRequest, null);
    assert.equal(shownBefore.lastGarbageCollection, null);

    const asked = await mgmt(admin, 'POST', '/connected-registries/edgegcapi/gc', { dryRun: true });
    assert.equal(asked.status, 202);
    const answer = asked.json as { name: string; requestedAt: string; dryRun: boolean; message: string };
    assert.equal(answer.name, 'edgegcapi');
    assert.equal(answer.dryRun, true);
    assert.match(answer.message, /dry run/);
    const shown = (await mgmt(admin, 'GET', '/connected-registries/edgegcapi')).json as Record<string, unknown>;
    assert.deepEqual(shown.garbageCollectionRequest, { requestedAt: answer.requestedAt, dryRun: true });

    const missing = await mgmt(admin, 'POST', '/connected-registries/nosuchedge/gc', {});
    assert.equal(missing.status, 404);
    assert.match(errorMessage(missing), /nosuchedge/);
    const bad = await mgmt(admin, 'POST', '/connected-registries/edgegcapi/gc', { dryRun: 1 });
    assert.equal(bad.status, 400);
  });
});
