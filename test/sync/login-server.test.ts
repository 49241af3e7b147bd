import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestNode } from '../helpers/test-node.js';
import { TestClient, ADMIN_HEADERS } from '../helpers/oci-client.js';
import { rawRequest } from '../helpers/raw-http.js';
import { createConnectedRegistry, startEdge, waitFor, showAtRoot } from '../helpers/hierarchy.js';

test('ACR_REGISTRY_LOGIN_SERVER: a connected node answers only requests made to its login server, and reports it', async (t) => {
  const root = await startTestNode();
  t.after(() => root.close());
  const admin = new TestClient(root.url);
  await admin.pushImage('hello', 'v1');
  const cr = await createConnectedRegistry(admin, { name: 'edge-host', repositories: ['hello'] });
  const edge = await startEdge(cr.connectionString, { env: { ACR_REGISTRY_LOGIN_SERVER: 'edge.factory.example:8443' }, app: { heartbeatSeconds: 1 } });
  t.after(() => edge.close());

  const asLoginServer = { ...ADMIN_HEADERS, Host: 'edge.factory.example:8443' };
  await waitFor('hello:v1 at the edge', async () => (await rawRequest(edge.url, 'HEAD', '/v2/hello/manifests/v1', {
    headers: { ...asLoginServer, Accept: 'application/vnd.oci.image.manifest.v1+json' },
  })).status === 200);
  // Any other Host (the IP the client happened to use, another name) is refused in OCI JSON.
  for (const host of [new URL(edge.url).host, 'other.example:8443', 'edge.factory.example']) {
    const refused = await rawRequest(edge.url, 'GET', '/v2/', { headers: { ...ADMIN_HEADERS, Host: host } });
    assert.equal(refused.status, 403, host);
    const body = JSON.parse(refused.body.toString()) as { errors: Array<{ code: string; message: string }> };
    assert.equal(body.errors[0]!.code, 'DENIED');
    assert.equal(body.errors[0]!.message, 'this registry only accepts requests made to its login server edge.factory.example:8443');
  }
  // Case does not matter in a host name; probes answer whatever the Host.
  assert.equal((await rawRequest(edge.url, 'GET', '/v2/', { headers: { ...ADMIN_HEADERS, Host: 'EDGE.factory.example:8443' } })).status, 200);
  assert.equal((await rawRequest(edge.url, 'GET', '/healthz', { headers: { Host: 'probe.internal' } })).status, 200);
  // The root learns the login server from the heartbeat: the ParentGatewayEndpoint of this edge's children.
  const shown = await waitFor('the login server at the root', async () => {
    const cr = await showAtRoot(admin, 'edge-host');
    return (cr.loginServer as { host: string } | null)?.host === 'edge.factory.example:8443' ? cr : null;
  });
  assert.deepEqual(shown.loginServer, { host: 'edge.factory.example:8443', tls: { status: 'Disabled' } });
});
