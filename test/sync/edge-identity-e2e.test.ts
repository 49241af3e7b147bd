import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { hostname } from 'node:os';
import { readFile } from 'node:fs/promises';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { TestClient } from '../helpers/oci-client.js';
import { createConnectedRegistry, showAtRoot, startEdge, waitFor } from '../helpers/hierarchy.js';

/** A plain HTTP proxy in front of `target` that keeps the headers of every request it forwards. */
async function recordingProxy(target: URL): Promise<{ endpoint: string; seen: IncomingHttpHeaders[]; server: Server }> {
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    const upstream = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { endpoint: `127.0.0.1:${port}`, seen, server };
}

/**
 * What an edge tells its parent about itself: the one version of package.json (in its status and
 * as the User-Agent of every sync request), and — listening on 0.0.0.0 without --login-server — its
 * host name, never the wildcard address.
 */
describe('an edge introduces itself to its parent', () => {
  let root: TestNode;
  let edge: TestNode;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  let version: string;

  before(async () => {
    version = (JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    root = await startTestNode();
    proxy = await recordingProxy(new URL(root.url));
    const created = await createConnectedRegistry(new TestClient(root.url), { name: 'edgeident', mode: 'ReadOnly', repositories: ['hello'] });
    const connectionString = created.connectionString.replace(/ParentGatewayEndpoint=[^;]+/, `ParentGatewayEndpoint=${proxy.endpoint}`);
    edge = await startEdge(connectionString, { host: '0.0.0.0', app: { heartbeatSeconds: 1 } });
  });

  after(async () => {
    await edge?.close();
    proxy?.server.close();
    proxy?.server.closeAllConnections();
    await root?.close();
  });

  test('the status names the version and the host name (not 0.0.0.0) with the port', async () => {
    const shown = await waitFor('the edge reports its login server', async () => {
      const cr = await showAtRoot(new TestClient(root.url), 'edgeident');
      return (cr.loginServer as { host?: string } | null)?.host ? cr : null;
    });
    const port = new URL(edge.url).port;
    assert.equal((shown.loginServer as { host: string }).host, `${hostname()}:${port}`);
    assert.doesNotMatch(JSON.stringify(shown.loginServer), /0\.0\.0\.0/);
    assert.equal(shown.version, version);
  });

  test('every sync request carries User-Agent outpost/<version>', () => {
    const gatewayCalls = proxy.seen.filter((headers) => headers['user-agent'] !== undefined);
    assert.ok(proxy.seen.length >= 3, `activation, config and status went through the proxy (${proxy.seen.length})`);
    assert.deepEqual([...new Set(proxy.seen.map((headers) => headers['user-agent']))], [`outpost/${version}`]);
    assert.equal(gatewayCalls.length, proxy.seen.length);
  });
});
