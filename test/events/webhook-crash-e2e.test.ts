import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnNode, tempDir, type NodeProcess } from '../helpers/test-node.js';
import { TestClient } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';
import { waitFor } from '../helpers/hierarchy.js';
import { kill9 } from '../helpers/sync-e2e.js';
import { WebhookReceiver } from '../helpers/webhook-receiver.js';

/**
 * The delivery queue is durable (docs/observability.md, "Delivery guarantees"): a real root
 * process killed with SIGKILL while its receiver holds a delivery's request delivers the event
 * after it is started again on the same data — once: the cut attempt was never recorded, the
 * next one is, and a delivered event is never sent again. The receiver sees the same event id
 * both times (at-least-once towards the receiver; it dedupes by id).
 */
describe('the root killed mid-delivery (real process)', () => {
  let dir: { path: string; cleanup(): Promise<void> };
  let root: NodeProcess;
  let receiver: WebhookReceiver;

  before(async () => {
    dir = await tempDir('outpost-webhook-crash-');
    receiver = await WebhookReceiver.start(['hold']);
  });

  after(async () => {
    await root?.stop();
    await receiver?.close();
    await dir?.cleanup();
  });

  test('delivers after the restart, once, with the same event id', async () => {
    root = await spawnNode(dir.path);
    let admin = new TestClient(root.url);
    const created = await mgmt(admin, 'POST', '/webhooks', { name: 'crashhook', serviceUri: receiver.url, actions: ['push'] });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const image = await admin.pushImage('crash/app', 'v1');
    await receiver.waitFor(1);
    assert.equal(receiver.received[0]!.answered, null, 'the first attempt is held by the receiver');

    await kill9(root);
    root = await spawnNode(dir.path);
    admin = new TestClient(root.url);
    await receiver.waitFor(2);
    await waitFor('the delivery recorded as delivered', async () => {
      const shown = (await mgmt(admin, 'GET', '/webhooks/crashhook')).json as { deliveries: Record<string, number> };
      return shown.deliveries.delivered === 1 && shown.deliveries.pending === 0;
    });

    const [held, again] = receiver.received;
    assert.equal(again!.answered, 200);
    assert.equal(again!.body.id, held!.body.id, 'the same event, by its id');
    assert.equal((again!.body.target as { digest: string }).digest, image.digest);
    assert.deepEqual(receiver.deliveredIds(), [held!.body.id]);
    const history = (await mgmt(admin, 'GET', '/webhooks/crashhook/events')).json as Array<{ attempt: number; state: string }>;
    assert.deepEqual(history.map((h) => [h.attempt, h.state]), [[1, 'delivered']], 'the attempt the kill cut was never recorded');
    assert.equal(receiver.received.length, 2, 'a delivered event is not sent again');
  });
});
