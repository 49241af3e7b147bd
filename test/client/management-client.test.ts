import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { ManagementClient } from '../../src/client/management-client.js';

/**
 * The client's HTTP side against a small real server that answers like the contract says
 * (docs/management-api.md); the CLI end-to-end tests run it against a real root.
 */
describe('ManagementClient', () => {
  let server: Server;
  let base: string;
  const seen: Array<{ method: string; url: string; authorization?: string; body: string }> = [];

  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}), body });
        if (req.url === '/mgmt/v1/tokens/nope1') {
          res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'NOT_FOUND', message: "Token 'nope1' not found.", detail: null }] }));
        } else if (req.url === '/mgmt/v1/scope-maps') {
          res.writeHead(502).end('<html>bad gateway</html>');
        } else if (req.method === 'DELETE') {
          res.writeHead(204).end();
        } else {
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(['ok']));
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  });

  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  test('Basic credentials, JSON bodies, URL-encoded names', async () => {
    const client = new ManagementClient({ registry: base, username: 'admin', password: 'pw' });
    assert.equal(client.registry, base.slice(0, -1));
    assert.deepEqual(await client.listRepositories(), ['ok']);
    await client.untag('team/app', 'v1');
    await client.updateScopeMap('maps1', { addActions: ['repositories/a/content/read'] });
    assert.equal(seen[0]!.authorization, `Basic ${Buffer.from('admin:pw').toString('base64')}`);
    assert.equal(seen[1]!.url, '/mgmt/v1/repositories/team%2Fapp/tags/v1');
    assert.deepEqual([seen[2]!.method, JSON.parse(seen[2]!.body)], ['PATCH', { addActions: ['repositories/a/content/read'] }]);
  });

  test('OCI error JSON becomes a ManagementError with its code, status and message', async () => {
    const client = new ManagementClient({ registry: base });
    await assert.rejects(client.showToken('nope1'), { name: 'ManagementError', code: 'NOT_FOUND', status: 404, message: "Token 'nope1' not found." });
    await assert.rejects(client.listScopeMaps(), { code: 'BAD_RESPONSE', status: 502, message: /answered 502/ });
  });

  test('nothing listening: CONNECTION_FAILED naming the registry', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(new ManagementClient({ registry: url }).listTokens(), { code: 'CONNECTION_FAILED', status: 0, message: `cannot reach the registry at ${url}: connection refused` });
  });
});
