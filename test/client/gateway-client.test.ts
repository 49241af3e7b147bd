import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { HttpTransport, RemoteError } from '../../src/client/http-transport.js';
import { GatewayClient } from '../../src/client/gateway-client.js';
import type { StatusReport } from '../../src/client/gateway-protocol.js';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient } from '../helpers/oci-client.js';
import { createConnectedRegistry, type CreatedRegistry } from '../helpers/hierarchy.js';

/**
 * GatewayClient against a real root's gateway (docs/architecture.md, "Sync gateway"): the head of
 * the parent's log asked for explicitly; and against a server that never answers: a call ends
 * with its signal.
 */
describe('GatewayClient', () => {
  describe('against a real root', () => {
    let root: TestNode;
    let admin: TestClient;
    let cr: CreatedRegistry;
    let transport: HttpTransport;

    before(async () => {
      root = await startTestNode();
      admin = new TestClient(root.url);
      cr = await createConnectedRegistry(admin, { name: 'edge-head', repositories: ['app'] });
      transport = new HttpTransport({ baseUrl: root.url, username: cr.tokenName, password: cr.tokenPassword });
    });

    after(async () => {
      await transport?.close();
      await root?.close();
    });

    test('head: the newest sequence number of the log, read without a cursor and without side effects', async () => {
      const gateway = new GatewayClient(transport, cr.name);
      const before = await gateway.head();
      assert.equal(before, await root.node.metadata.lastChangeSeq());
      await admin.pushImage('app', 'v1');
      const head = await gateway.head();
      assert.ok(head > before);
      assert.equal(head, await root.node.metadata.lastChangeSeq());
      assert.equal(await gateway.head(), head, 'asking again changes nothing');
      // The same head the messages answer carries.
      assert.equal((await gateway.messages(head, 0, null)).head, head);
    });

    test('head of a registry this node does not serve: 404 for a grandchild (its own parent serves it), 403 without the action', async () => {
      await createConnectedRegistry(admin, { name: 'edge-head-kid', parent: 'edge-head', repositories: ['app'] });
      const grandchild = new GatewayClient(transport, 'edge-head-kid');
      await assert.rejects(grandchild.head(), (err: unknown) => err instanceof RemoteError && err.status === 404 && err.code === 'NOT_FOUND');
      const stranger = new GatewayClient(transport, 'not-mine');
      await assert.rejects(stranger.head(), (err: unknown) => err instanceof RemoteError && err.status === 403 && err.code === 'DENIED');
    });
  });

  describe('against a server that never answers', () => {
    let server: Server;
    let transport: HttpTransport;

    before(async () => {
      server = createServer((req) => req.resume());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      transport = new HttpTransport({ baseUrl: `http://127.0.0.1:${(server.address() as { port: number }).port}`, username: 'u', password: 'p' });
    });

    after(async () => {
      await transport?.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    test('a heartbeat the parent does not answer ends at once when its signal aborts (a node stopping does not wait 30 s)', async () => {
      const gateway = new GatewayClient(transport, 'edge');
      const stop = new AbortController();
      const report: StatusReport = {
        instanceId: 'i', connectionState: 'Online', statusDetails: [], lastSyncTime: null, version: 't', loginServer: null, cursor: null, outbox: 0, descendants: [],
      };
      const sent = gateway.status(report, stop.signal);
      await new Promise<void>((resolve) => server.once('request', () => resolve()));
      const started = Date.now();
      stop.abort();
      await assert.rejects(sent);
      assert.ok(Date.now() - started < 1_000, `ended ${Date.now() - started} ms after the abort`);
    });
  });
});
