import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnNode, tempDir, type NodeProcess } from '../helpers/test-node.js';
import { TestClient } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';
import { createConnectedRegistry, spawnEdge, waitFor, tagDigest, showAtRoot, tokenClient, type CreatedRegistry } from '../helpers/hierarchy.js';
import { kill9, runServe, verifyImage, type RunResult } from '../helpers/sync-e2e.js';

/**
 * How a connected node refuses to start, with the real program: one clear line on stderr and an
 * exit code ≠ 0, at once (no crash loop, no stack trace); and one instance at a time per
 * connected registry until `deactivate` at the root frees it.
 */

const ALREADY_ACTIVATED_MESSAGE = 'Failed to activate the connected registry as it is already activated by another instance. Only one instance is supported at any time.';

interface CrShow {
  activation: { status: string };
  connectionState: string;
}

/** The process ended by itself, unsuccessfully, with exactly one line on stderr (returned) and no stack trace. */
function oneErrorLine(result: RunResult): string {
  assert.equal(result.signal, null, `the process ended by itself (not killed after the timeout): ${result.stderr}`);
  assert.notEqual(result.code, 0);
  assert.ok(result.stderr.endsWith('\n'), `stderr ends its line: ${JSON.stringify(result.stderr)}`);
  const lines = result.stderr.slice(0, -1).split('\n');
  assert.equal(lines.length, 1, `exactly one line on stderr: ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /^\s+at |Error:|node:internal/m, 'no stack trace');
  assert.match(lines[0]!, /^outpost: /);
  return lines[0]!;
}

describe('start-up refusals of a connected node (real processes)', () => {
  const dirs: Array<{ path: string; cleanup(): Promise<void> }> = [];
  let root: NodeProcess;
  let rootAdmin: TestClient;
  let cr: CreatedRegistry;
  let first: NodeProcess | undefined;
  let second: NodeProcess | undefined;

  async function newDir(): Promise<string> {
    const dir = await tempDir('outpost-startup-e2e-');
    dirs.push(dir);
    return dir.path;
  }

  before(async () => {
    root = await spawnNode(await newDir());
    rootAdmin = new TestClient(root.url);
    cr = await createConnectedRegistry(rootAdmin, { name: 'edge-solo', repositories: ['app'] });
    await rootAdmin.pushImage('app', 'v1');
  });

  after(async () => {
    for (const proc of [first, second, root]) if (proc) await kill9(proc);
    for (const dir of dirs) await dir.cleanup();
  });

  test('a malformed connection string (flag or environment) is one clear line and exit ≠ 0', async () => {
    const [garbage, missing, protocol] = await Promise.all([
      runServe(['--data-dir', await newDir(), '--connection-string', 'this is not a connection string']),
      runServe(['--data-dir', await newDir()], { ACR_REGISTRY_CONNECTION_STRING: 'ConnectedRegistryName=edge-solo;SyncTokenName=edge-solo' }),
      runServe(['--data-dir', await newDir(), '--connection-string', cr.connectionString.replace('ParentEndpointProtocol=http', 'ParentEndpointProtocol=gopher')]),
    ]);
    assert.match(oneErrorLine(garbage), /^outpost: malformed connection string: .*Key=Value/);
    assert.equal(oneErrorLine(missing), 'outpost: malformed connection string: missing SyncTokenPassword, ParentGatewayEndpoint, ParentEndpointProtocol');
    assert.match(oneErrorLine(protocol), /^outpost: malformed connection string: ParentEndpointProtocol must be http or https/);
    // The password never shows, even in a refusal.
    assert.ok(!protocol.stderr.includes(cr.tokenPassword));
  });

  test('a wrong sync token password is one clear line and exit ≠ 0; the registry stays inactive', async () => {
    const wrong = cr.connectionString.replace(/SyncTokenPassword=[^;]*/, 'SyncTokenPassword=not-the-password');
    const result = await runServe(['--data-dir', await newDir(), '--connection-string', wrong]);
    const line = oneErrorLine(result);
    assert.match(line, /refused the sync token of 'edge-solo'/);
    assert.match(line, /SyncTokenPassword/);
    assert.ok(!line.includes('not-the-password'), 'the password is not echoed');
    assert.equal(((await showAtRoot(rootAdmin, 'edge-solo')) as unknown as CrShow).activation.status, 'Inactive');
  });

  test('a second live instance is refused with ALREADY_ACTIVATED; deactivate at the root lets a new instance start', async () => {
    const firstDir = await newDir();
    first = await spawnEdge(firstDir, cr.connectionString);
    const firstAdmin = new TestClient(first.url);
    await waitFor('the first instance to sync', async () => (await tagDigest(firstAdmin, 'app', 'v1')) !== null);
    assert.equal(((await showAtRoot(rootAdmin, 'edge-solo')) as unknown as CrShow).activation.status, 'Active');

    // The same registry from another data folder (another instance id) while the first runs.
    const secondDir = await newDir();
    const refused = await runServe(['--data-dir', secondDir, '--connection-string', cr.connectionString]);
    const line = oneErrorLine(refused);
    assert.ok(line.includes(ALREADY_ACTIVATED_MESSAGE), line);
    // What the gateway answered, as the refused instance saw it.
    const activate = await tokenClient(root.url, cr.tokenName, cr.tokenPassword).request('POST', '/gateway/v1/edge-solo/activate', {
      body: JSON.stringify({ instanceId: 'another-instance', version: '0.0.0' }), headers: { 'Content-Type': 'application/json' },
    });
    assert.equal(activate.status, 409);
    const error = ((await activate.json()) as { errors: Array<{ code: string; message: string }> }).errors[0]!;
    assert.deepEqual({ code: error.code, message: error.message }, { code: 'ALREADY_ACTIVATED', message: ALREADY_ACTIVATED_MESSAGE });
    // The first instance is untouched by the attempts.
    assert.equal((await firstAdmin.request('GET', '/v2/')).status, 200);

    // Its machine dies; the root still counts it as the active instance until an operator deactivates it.
    await kill9(first);
    oneErrorLine(await runServe(['--data-dir', secondDir, '--connection-string', cr.connectionString]));
    const deactivated = await mgmt(rootAdmin, 'POST', '/connected-registries/edge-solo/deactivate');
    assert.equal(deactivated.status, 200, JSON.stringify(deactivated.json));

    // The new instance starts (its parent address given by ACR_PARENT_GATEWAY_ENDPOINT this time) and syncs.
    const elsewhere = cr.connectionString.replace(/ParentGatewayEndpoint=[^;]*/, 'ParentGatewayEndpoint=parent.invalid:1');
    second = await spawnEdge(secondDir, elsewhere, [], { ACR_PARENT_GATEWAY_ENDPOINT: new URL(root.url).host });
    const secondAdmin = new TestClient(second.url);
    const pushed = await rootAdmin.pushImage('app', 'v2');
    await waitFor('the new instance to sync', async () => (await tagDigest(secondAdmin, 'app', 'v2')) === pushed.digest);
    await verifyImage(secondAdmin, 'app', 'v2', pushed.digest);
    const shown = (await showAtRoot(rootAdmin, 'edge-solo')) as unknown as CrShow;
    assert.equal(shown.activation.status, 'Active');

    // Now the old instance, back from the dead, is the one refused.
    const old = await runServe(['--data-dir', firstDir, '--connection-string', cr.connectionString]);
    assert.ok(oneErrorLine(old).includes(ALREADY_ACTIVATED_MESSAGE));
  });
});
