import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestNode, tempDir, type TestNode } from '../helpers/test-node.js';
import { ADMIN_HEADERS, TestClient } from '../helpers/oci-client.js';
import { createConnectedRegistry, startEdge, waitFor } from '../helpers/hierarchy.js';
import { createTestCa, hasOpenssl } from '../helpers/tls.js';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOB_TEMP_DIR } from '../../src/storage/blob-store.js';
import { socketExchange, ociCode, type SocketStep } from './raw-socket.js';

/**
 * HTTP-level hardening (docs/security.md, "Limits"): RFC 9112's single Host, OCI error JSON for
 * what Node's parser refuses, and slow clients (headers that never finish, bodies that stall)
 * cut without cutting slow but live uploads. Scripted raw sockets send what no HTTP client would.
 */

const IDLE_MS = 400;
const ADMIN = ADMIN_HEADERS.Authorization!;

function request(lines: string[], body = ''): string {
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

function sha256(data: string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

let root: TestNode;

before(async () => {
  root = await startTestNode({ app: { bodyIdleTimeoutMs: IDLE_MS, headersTimeoutMs: IDLE_MS } });
});
after(async () => {
  await root.close();
});

describe('two Host headers (RFC 9112 §3.2)', () => {
  for (const path of ['/healthz', '/v2/', '/mgmt/v1/tokens', '/v2/repoa/tags/list']) {
    test(`${path} with two Host headers is 400 REQUEST_INVALID with OCI JSON`, async () => {
      const answer = await socketExchange(root.url, [request([`GET ${path} HTTP/1.1`, 'Host: a.example', 'Host: b.example', `Authorization: ${ADMIN}`])]);
      assert.equal(answer.status, 400, answer.raw);
      assert.equal(ociCode(answer), 'REQUEST_INVALID');
      assert.equal(answer.headers.connection, 'close');
    });
  }

  test('the same Host twice is refused too, and one Host is served', async () => {
    const twice = await socketExchange(root.url, [request(['GET /healthz HTTP/1.1', 'Host: a.example', 'host: a.example', 'Connection: close'])]);
    assert.equal(twice.status, 400);
    const once = await socketExchange(root.url, [request(['GET /healthz HTTP/1.1', 'Host: a.example', 'Connection: close'])]);
    assert.equal(once.status, 200, once.raw);
  });

  test('a connected node with a login server refuses two Host headers even when the first is its login server', async () => {
    const parent = await startTestNode();
    try {
      const cr = await createConnectedRegistry(new TestClient(parent.url), { name: 'hostedge', mode: 'ReadOnly', repositories: ['app'], logLevel: 'None' });
      const edge = await startEdge(cr.connectionString, { env: { ACR_REGISTRY_LOGIN_SERVER: 'edge.example:5000' } });
      try {
        const once = await socketExchange(edge.url, [request(['GET /v2/ HTTP/1.1', 'Host: edge.example:5000', `Authorization: ${ADMIN}`, 'Connection: close'])]);
        assert.equal(once.status, 200, once.raw);
        for (const hosts of [['edge.example:5000', 'evil.example'], ['evil.example', 'edge.example:5000']]) {
          const twice = await socketExchange(edge.url, [request(['GET /v2/ HTTP/1.1', ...hosts.map((h) => `Host: ${h}`), `Authorization: ${ADMIN}`, 'Connection: close'])]);
          assert.equal(twice.status, 400, twice.raw);
          assert.equal(ociCode(twice), 'REQUEST_INVALID');
        }
      } finally {
        await edge.close();
      }
    } finally {
      await parent.close();
    }
  });
});

describe('errors of the HTTP parser answer OCI error JSON and close the connection', () => {
  const cases: Array<{ what: string; steps: SocketStep[]; status: number; code: string }> = [
    { what: 'a Content-Length that is not a number', steps: [request(['POST /v2/repoa/blobs/uploads/ HTTP/1.1', 'Host: x', 'Content-Length: abc'])], status: 400, code: 'REQUEST_INVALID' },
    { what: 'two different Content-Length values', steps: [request(['POST /v2/repoa/blobs/uploads/ HTTP/1.1', 'Host: x', 'Content-Length: 3', 'Content-Length: 5'], 'abc')], status: 400, code: 'REQUEST_INVALID' },
    { what: 'Content-Length with Transfer-Encoding: chunked', steps: [request(['POST /v2/repoa/blobs/uploads/ HTTP/1.1', 'Host: x', 'Content-Length: 3', 'Transfer-Encoding: chunked'], '3\r\nabc\r\n0\r\n\r\n')], status: 400, code: 'REQUEST_INVALID' },
    { what: 'a malformed chunk size', steps: [request(['PATCH /v2/repoa/blobs/uploads/x HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked'], 'zz\r\nabc\r\n')], status: 400, code: 'REQUEST_INVALID' },
    { what: 'a header name with a space', steps: [request(['GET /v2/ HTTP/1.1', 'Host: x', 'Bad Header: y'])], status: 400, code: 'REQUEST_INVALID' },
    { what: 'a header line without a colon', steps: [request(['GET /v2/ HTTP/1.1', 'Host: x', 'no-colon-here'])], status: 400, code: 'REQUEST_INVALID' },
    { what: 'an unknown HTTP version', steps: [request(['GET /v2/ HTTP/9.9', 'Host: x'])], status: 400, code: 'REQUEST_INVALID' },
    { what: 'headers over 16 KiB', steps: [request(['GET /v2/ HTTP/1.1', 'Host: x', `X-Big: ${'a'.repeat(20_000)}`])], status: 431, code: 'HEADERS_TOO_LARGE' },
  ];
  for (const c of cases) {
    test(c.what, async () => {
      const answer = await socketExchange(root.url, c.steps);
      assert.equal(answer.status, c.status, answer.raw);
      assert.equal(ociCode(answer), c.code, answer.raw);
      assert.equal(answer.headers['content-type'], 'application/json');
      assert.equal(answer.headers.connection, 'close');
      assert.equal(Number(answer.headers['content-length']), Buffer.byteLength(answer.body));
      assert.ok(answer.closedByServer, 'the server closes the connection');
    });
  }

  test('the node still serves after each of them', async () => {
    const res = await fetch(`${root.url}/v2/`, { headers: ADMIN_HEADERS });
    assert.equal(res.status, 200);
  });
});

describe('slow clients', () => {
  test('headers that never finish get 408 REQUEST_TIMEOUT (OCI JSON) and the connection closed', async () => {
    const answer = await socketExchange(root.url, ['GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Slow: a', { pauseMs: 5000 }], 5000);
    assert.equal(answer.status, 408, answer.raw);
    assert.equal(ociCode(answer), 'REQUEST_TIMEOUT');
    assert.ok(answer.closedByServer);
    assert.ok(answer.elapsedMs < 3000, `closed after ${answer.elapsedMs} ms`);
  });

  test('a blob body that stalls is answered 408 REQUEST_TIMEOUT and closed after the idle time', async () => {
    const body = 'x'.repeat(100);
    const head = request(['POST /v2/repoa/blobs/uploads/?digest=' + sha256(body) + ' HTTP/1.1', 'Host: x', `Authorization: ${ADMIN}`, 'Content-Type: application/octet-stream', `Content-Length: ${body.length}`]);
    const answer = await socketExchange(root.url, [head + body.slice(0, 10), { pauseMs: 10_000 }], 10_000);
    assert.equal(answer.status, 408, answer.raw);
    assert.equal(ociCode(answer), 'REQUEST_TIMEOUT');
    assert.ok(answer.closedByServer, 'the server closes the connection');
    assert.ok(answer.elapsedMs >= IDLE_MS - 50 && answer.elapsedMs < IDLE_MS + 2500, `closed after ${answer.elapsedMs} ms`);
    // The handler that was reading the body gave up too: its temporary file is gone (not left open until GC).
    const temp = join(root.dataDir, 'storage', BLOB_TEMP_DIR);
    await waitFor('the temporary blob file to be removed', async () => (await readdir(temp).catch(() => [])).length === 0, 5000);
  });

  test('a chunked PATCH that stalls mid-chunk is cut the same way', async () => {
    const start = await fetch(`${root.url}/v2/repoa/blobs/uploads/`, { method: 'POST', headers: ADMIN_HEADERS });
    assert.equal(start.status, 202);
    const location = new URL(start.headers.get('location')!, root.url);
    const head = request([`PATCH ${location.pathname}${location.search} HTTP/1.1`, 'Host: x', `Authorization: ${ADMIN}`, 'Content-Type: application/octet-stream', 'Transfer-Encoding: chunked']);
    const answer = await socketExchange(root.url, [head + '40\r\nabc', { pauseMs: 10_000 }], 10_000);
    assert.equal(answer.status, 408, answer.raw);
    assert.ok(answer.closedByServer);
  });

  test('a management JSON body that stalls is cut too', async () => {
    const head = request(['POST /mgmt/v1/scope-maps HTTP/1.1', 'Host: x', `Authorization: ${ADMIN}`, 'Content-Type: application/json', 'Content-Length: 50']);
    const answer = await socketExchange(root.url, [head + '{"name":', { pauseMs: 10_000 }], 10_000);
    assert.equal(answer.status, 408, answer.raw);
    assert.equal(ociCode(answer), 'REQUEST_TIMEOUT');
  });

  test('a body that keeps trickling in is never cut, however long it takes in total', async () => {
    const body = 'slow but alive, one byte at a time';
    const steps: SocketStep[] = [request(['POST /v2/repoa/blobs/uploads/?digest=' + sha256(body) + ' HTTP/1.1', 'Host: x', `Authorization: ${ADMIN}`, 'Content-Type: application/octet-stream', `Content-Length: ${body.length}`, 'Connection: close'])];
    for (const byte of body) steps.push({ pauseMs: IDLE_MS / 4 }, byte);
    const answer = await socketExchange(root.url, steps, 20_000);
    assert.ok(answer.elapsedMs > IDLE_MS * 5, `the upload took ${answer.elapsedMs} ms`);
    assert.equal(answer.status, 201, answer.raw);
    const blob = await fetch(`${root.url}/v2/repoa/blobs/${sha256(body)}`, { headers: ADMIN_HEADERS });
    assert.equal(await blob.text(), body);
  });

  test('a chunked upload trickling chunk by chunk is never cut either', async () => {
    const start = await fetch(`${root.url}/v2/repoa/blobs/uploads/`, { method: 'POST', headers: ADMIN_HEADERS });
    const location = new URL(start.headers.get('location')!, root.url);
    const steps: SocketStep[] = [request([`PATCH ${location.pathname}${location.search} HTTP/1.1`, 'Host: x', `Authorization: ${ADMIN}`, 'Content-Type: application/octet-stream', 'Transfer-Encoding: chunked', 'Connection: close'])];
    for (let i = 0; i < 12; i++) steps.push({ pauseMs: IDLE_MS / 3 }, '1\r\n', { pauseMs: IDLE_MS / 3 }, 'z\r\n');
    steps.push('0\r\n\r\n');
    const answer = await socketExchange(root.url, steps, 20_000);
    assert.equal(answer.status, 202, answer.raw);
    assert.equal(answer.headers.range, '0-11');
  });

  test('over HTTPS: a stalled body is cut and a trickling one is not', async (t) => {
    if (!(await hasOpenssl())) return t.skip('no openssl');
    const dir = await tempDir();
    try {
      const ca = await createTestCa(dir.path);
      const node = await startTestNode({ tls: await ca.issue('node'), app: { bodyIdleTimeoutMs: IDLE_MS } });
      try {
        const body = 'trickled over TLS';
        const head = (extra: string[]): string => request(['POST /v2/repoa/blobs/uploads/?digest=' + sha256(body) + ' HTTP/1.1', 'Host: x', `Authorization: ${ADMIN}`, `Content-Length: ${body.length}`, ...extra]);
        const stalled = await socketExchange(node.url, [head([]) + 'tr', { pauseMs: 10_000 }], 10_000, { ca: ca.caPem });
        assert.equal(stalled.status, 408, stalled.raw);
        const steps: SocketStep[] = [head(['Connection: close'])];
        for (const byte of body) steps.push({ pauseMs: IDLE_MS / 4 }, byte);
        const trickled = await socketExchange(node.url, steps, 20_000, { ca: ca.caPem });
        assert.equal(trickled.status, 201, trickled.raw);
      } finally {
        await node.close();
      }
    } finally {
      await dir.cleanup();
    }
  });

  test('a keep-alive connection that answered a stalled body early is still closed when the body stalls', async () => {
    // Unauthenticated: answered 401 at once, while the (unread) body is still owed.
    const head = request(['PATCH /v2/repoa/blobs/uploads/00000000-0000-4000-8000-000000000000 HTTP/1.1', 'Host: x', 'Content-Length: 1000']);
    const answer = await socketExchange(root.url, [head + 'abc', { pauseMs: 10_000 }], 10_000);
    assert.equal(answer.status, 401, answer.raw);
    assert.ok(answer.closedByServer, 'the connection does not stay open for a body that never comes');
    assert.ok(answer.elapsedMs < IDLE_MS + 2500, `closed after ${answer.elapsedMs} ms`);
  });
});
