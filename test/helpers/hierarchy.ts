import { setTimeout as sleep } from 'node:timers/promises';
import { startTestNode, spawnNode, tempDir, type NodeProcess, type TestNode, type TestNodeOptions } from './test-node.js';
import { TestClient, basicAuth } from './oci-client.js';
import { mgmt } from './management-calls.js';

/** What a test needs of a connected registry created at the root. */
export interface CreatedRegistry {
  name: string;
  connectionString: string;
  /** The sync token's name and password (for calling the parent's gateway as this registry). */
  tokenName: string;
  tokenPassword: string;
}

/**
 * Creates a connected registry at the root over the management API (`body` as POST
 * /mgmt/v1/connected-registries takes it) and generates its connection string. The parent's
 * endpoint in the string is the root's for a top-level registry, the parent edge's reported
 * login server for a child (so the parent edge must have reported once: see waitFor).
 */
export async function createConnectedRegistry(root: TestClient, body: Record<string, unknown>, protocol: 'http' | 'https' = 'http'): Promise<CreatedRegistry> {
  const created = await mgmt(root, 'POST', '/connected-registries', body);
  if (created.status !== 201) throw new Error(`create ${String(body.name)} failed: ${created.status} ${JSON.stringify(created.json)}`);
  const settings = await mgmt(root, 'POST', `/connected-registries/${String(body.name)}/settings`, { parentProtocol: protocol, generatePassword: 1 });
  if (settings.status !== 200) throw new Error(`settings of ${String(body.name)} failed: ${settings.status} ${JSON.stringify(settings.json)}`);
  const s = settings.json as Record<string, string>;
  return { name: String(body.name), connectionString: s.ACR_REGISTRY_CONNECTION_STRING!, tokenName: s.SYNC_TOKEN_USER!, tokenPassword: s.SYNC_TOKEN_PASSWORD! };
}

/** A connected node in this process (TestNodeOptions.app carries clocks, poll and heartbeat knobs). */
export async function startEdge(connectionString: string, options: TestNodeOptions & { env?: Record<string, string> } = {}): Promise<TestNode> {
  return startTestNode({ ...options, connectionString });
}

/** A connected node as a real `bin/outpost serve --connection-string` process. */
export async function spawnEdge(dataDir: string, connectionString: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<NodeProcess> {
  return spawnNode(dataDir, ['--connection-string', connectionString, ...extraArgs], env);
}

/** Polls `check` every 50 ms until it returns a truthy value or `timeoutMs` passes (then throws with `what`). */
export async function waitFor<T>(what: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

/** The digest a tag resolves to at a node (null when absent). */
export async function tagDigest(client: TestClient, repository: string, tag: string): Promise<string | null> {
  const res = await client.request('HEAD', `/v2/${repository}/manifests/${tag}`, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json' },
  });
  if (res.status === 404) return null;
  if (res.status !== 200) throw new Error(`HEAD ${repository}:${tag} answered ${res.status}`);
  return res.headers.get('docker-content-digest');
}

/** A connected registry as the root shows it. */
export async function showAtRoot(root: TestClient, name: string): Promise<Record<string, unknown>> {
  const answer = await mgmt(root, 'GET', `/connected-registries/${name}`);
  if (answer.status !== 200) throw new Error(`show ${name}: ${answer.status}`);
  return answer.json as Record<string, unknown>;
}

/** A client of a node signing in with a token's name and password. */
export function tokenClient(url: string, name: string, password: string): TestClient {
  return new TestClient(url, basicAuth(name, password));
}

export { tempDir };
