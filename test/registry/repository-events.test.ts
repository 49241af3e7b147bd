import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { REPOSITORY_EVENT_TYPES, type RepositoryEvent } from '../../src/core/events.js';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient, basicAuth } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';

/**
 * Every repository write of a node — /v2 and the management API alike — goes through the write
 * pipeline, which publishes its events on the node's bus after the commit: one per change row
 * (with its seq) and one per new blob link, with the identity that wrote as actor.
 */
describe('repository events of /v2 and management writes', () => {
  let node: TestNode;
  let admin: TestClient;
  let bot: TestClient;
  const events: RepositoryEvent[] = [];

  before(async () => {
    node = await startTestNode();
    admin = new TestClient(node.url);
    const created = await mgmt(admin, 'POST', '/tokens', { name: 'ci-bot', actions: ['repositories/app/content/read', 'repositories/app/content/write', 'repositories/app/content/delete', 'repositories/app/metadata/write'] });
    assert.equal(created.status, 201);
    const password = (created.json as { credentials: { passwords: Array<{ value: string }> } }).credentials.passwords[0]!.value;
    bot = new TestClient(node.url, basicAuth('ci-bot', password));
    node.node.events.subscribe(REPOSITORY_EVENT_TYPES, (event) => events.push(event));
  });
  after(() => node.close());

  test('a push, a re-push, a tag delete over /v2 and a manifest delete over the management API', async () => {
    const image = await bot.pushImage('app', 'v1');
    const pushed = events.splice(0);
    assert.deepEqual(pushed.map((e) => [e.type, e.actor, e.origin]), [
      ['blob-linked', 'ci-bot', 'local'], ['blob-linked', 'ci-bot', 'local'], ['manifest-pushed', 'ci-bot', 'local'], ['tag-set', 'ci-bot', 'local'],
    ]);
    const changes = await node.node.metadata.changesSince(0, 100);
    assert.deepEqual(pushed.slice(2).map((e) => e.seq), changes.map((c) => c.seq));
    const manifestEvent = pushed[2]!;
    assert.ok(manifestEvent.type === 'manifest-pushed');
    assert.equal(manifestEvent.digest, image.digest);
    assert.equal(manifestEvent.size, Buffer.byteLength(image.body));

    // The same bytes again: nothing is written, nothing is announced.
    assert.equal((await bot.putManifest('app', 'v1', image.body)).status, 201);
    assert.deepEqual(events.splice(0), []);

    assert.equal((await bot.request('DELETE', '/v2/app/manifests/v1')).status, 202);
    assert.deepEqual(events.splice(0).map((e) => [e.type, e.actor, e.type === 'tag-deleted' ? e.tag : null]), [['tag-deleted', 'ci-bot', 'v1']]);

    assert.equal((await mgmt(admin, 'DELETE', `/repositories/app/manifests/${image.digest}`)).status, 204);
    const deleted = events.splice(0);
    assert.deepEqual(deleted.map((e) => [e.type, e.actor, e.seq]), [['manifest-deleted', 'admin', await node.node.metadata.lastChangeSeq()]]);
  });
});
