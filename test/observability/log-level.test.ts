import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestNode, tempDir, type NodeProcess, type TestNode } from '../helpers/test-node.js';
import { TestClient } from '../helpers/oci-client.js';
import { createConnectedRegistry, spawnEdge, waitFor } from '../helpers/hierarchy.js';
import { mgmt } from '../helpers/management-calls.js';

// The log level set at the root reaches a running edge without a restart (docs/observability.md,
// "Log level"), Debug included: fastify's per-request lines start, and stop again with the next
// level. A real `outpost serve` process, its standard output read line by line.

describe('the log level from the root applies at a running edge', () => {
  let root: TestNode;
  let atRoot: TestClient;
  let edge: NodeProcess;
  let data: { path: string; cleanup(): Promise<void> };
  const lines: Array<Record<string, unknown>> = [];

  before(async () => {
    root = await startTestNode();
    atRoot = new TestClient(root.url);
    const cr = await createConnectedRegistry(atRoot, { name: 'levels', mode: 'ReadOnly', repositories: ['app'], logLevel: 'Information' });
    data = await tempDir();
    edge = await spawnEdge(data.path, cr.connectionString, [], { OUTPOST_ADMIN_PASSWORD: 'edge-admin-unused' });
    let partial = '';
    edge.child.stdout!.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString();
      const parts = text.split('\n');
      partial = parts.pop()!;
      for (const part of parts) {
        try {
          lines.push(JSON.parse(part) as Record<string, unknown>);
        } catch {
          // not a log line
        }
      }
    });
    await waitFor('the edge synced', async () => (await fetch(`${edge.url}/v2/`)).status === 401);
  });

  after(async () => {
    await edge?.stop();
    await root?.close();
    await data?.cleanup();
  });

  const requestLines = (): number => lines.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed').length;

  async function setLevel(level: string): Promise<void> {
    const applied = lines.filter((l) => l.msg === 'applied config from the parent').length;
    const answer = await mgmt(atRoot, 'PATCH', '/connected-registries/levels', { logLevel: level });
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    // The config is applied (and logged at Information, which both levels show) within a poll.
    await waitFor(`the edge applied ${level}`, async () => lines.filter((l) => l.msg === 'applied config from the parent').length > applied, 30_000);
  }

  test('Information writes no request lines; Debug from the root starts them; Information stops them again', async () => {
    await fetch(`${edge.url}/healthz`);
    await fetch(`${edge.url}/v2/`);
    await waitFor('the edge answers', async () => (await fetch(`${edge.url}/healthz`)).status === 200);
    assert.equal(requestLines(), 0, 'no request lines at Information');

    await setLevel('Debug');
    await fetch(`${edge.url}/v2/`);
    await waitFor('request lines at Debug', async () => requestLines() >= 2);
    const atDebug = lines.filter((l) => l.msg === 'incoming request');
    assert.ok(atDebug.some((l) => (l.req as { url?: string } | undefined)?.url === '/v2/'), 'the request to /v2/ is logged');

    await setLevel('Information');
    const before = requestLines();
    await fetch(`${edge.url}/v2/`);
    await fetch(`${edge.url}/healthz`);
    // A request line would be written before its answer; one more round trip lets the pipe catch up.
    await waitFor('the edge answers', async () => (await fetch(`${edge.url}/healthz`)).status === 200);
    assert.equal(requestLines(), before, 'no request lines after Information came back');
  });
});
