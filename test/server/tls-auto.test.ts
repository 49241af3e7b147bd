import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { ManualClock } from '../../src/core/clock.js';
import { resolveNodeConfig, ConfigError } from '../../src/config/node-config.js';
import { buildApp } from '../../src/server/build-app.js';
import { OUTPOST_BIN, startTestNode, tempDir } from '../helpers/test-node.js';
import { httpsClient } from '../helpers/tls.js';
import { createConnectedRegistry, startEdge, tagDigest, waitFor } from '../helpers/hierarchy.js';
import { mgmt } from '../helpers/management-calls.js';
import { TestClient, TEST_ADMIN_PASSWORD } from '../helpers/oci-client.js';
import { execFile } from 'node:child_process';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The certificate a TLS handshake with `url` presents, verified against `ca` for `servername`. */
function presented(url: string, ca: string, servername: string): Promise<X509Certificate> {
  const { hostname: host, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port: Number(port), ca: [ca], servername }, () => {
      const raw = socket.getPeerX509Certificate();
      socket.end();
      if (!raw) reject(new Error('no peer certificate'));
      else resolve(raw);
    });
    socket.on('error', reject);
  });
}

/** --tls-auto (docs/deploy.md, "TLS"): HTTPS with one flag, the CA kept and reused, the serving certificate renewed when due. */
describe('--tls-auto', () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  test('the first start makes a CA and a serving certificate in <data>/certs (keys 0600) and serves HTTPS that the CA verifies for every name', async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const node = await startTestNode({ dataDir: dir.path, env: { OUTPOST_TLS_AUTO: 'true' } });
    try {
      assert.match(node.url, /^https:\/\//);
      const certs = join(dir.path, 'certs');
      for (const [file, mode] of [['ca.key', 0o600], ['tls.key', 0o600], ['ca.crt', 0o644], ['tls.crt', 0o644]] as const) {
        assert.equal((await stat(join(certs, file))).mode & 0o777, mode, file);
      }
      const ca = await readFile(join(certs, 'ca.crt'), 'utf8');
      const caCert = new X509Certificate(ca);
      assert.equal(caCert.ca, true);
      assert.equal(node.node.certificate?.prepared.caCreated, true);
      for (const name of ['localhost', hostname()]) {
        const seen = await presented(node.url, ca, name);
        assert.ok(seen.checkIssued(caCert), `issued by the CA (${name})`);
        assert.equal(seen.checkHost(name), name);
      }
      assert.equal((await presented(node.url, ca, '127.0.0.1')).checkIP('127.0.0.1'), '127.0.0.1');
      const health = await httpsClient(node.url, ca, null).request('GET', '/healthz');
      assert.equal(health.status, 200);
    } finally {
      await node.close();
    }
  });

  test('a restart reuses the CA and the certificate; a new login server gets a new certificate from the same CA; one near its end is renewed', async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const certs = join(dir.path, 'certs');
    const read = async (file: string): Promise<string> => readFile(join(certs, file), 'utf8');
    const start = async (env: Record<string, string> = {}, clock?: ManualClock): Promise<void> => {
      const node = await startTestNode({ dataDir: dir.path, env: { OUTPOST_TLS_AUTO: 'true', ...env }, ...(clock ? { app: { clock } } : {}) });
      await node.close();
    };
    await start();
    const [ca, first] = [await read('ca.crt'), await read('tls.crt')];

    await start();
    assert.equal(await read('ca.crt'), ca, 'the CA is kept');
    assert.equal(await read('tls.crt'), first, 'the serving certificate is kept');

    await start({ OUTPOST_LOGIN_SERVER: 'registry.factory1.example:8443' });
    const renamed = new X509Certificate(await read('tls.crt'));
    assert.notEqual(renamed.fingerprint256, new X509Certificate(first).fingerprint256);
    assert.equal(renamed.checkHost('registry.factory1.example'), 'registry.factory1.example');
    assert.equal(await read('ca.crt'), ca);
    assert.ok(renamed.checkIssued(new X509Certificate(ca)));

    // 20 days before its end (of 397): renewed at start, still by the same CA.
    const clock = new ManualClock(Date.parse(renamed.validTo) - 20 * DAY_MS);
    await start({ OUTPOST_LOGIN_SERVER: 'registry.factory1.example:8443' }, clock);
    const renewed = new X509Certificate(await read('tls.crt'));
    assert.ok(Date.parse(renewed.validTo) > Date.parse(renamed.validTo) + 300 * DAY_MS, `renewed: ${renewed.validTo}`);
    assert.equal(await read('ca.crt'), ca);
  });

  test('ACR_REGISTRY_CERTIFICATE_VOLUME holds the files instead of the data folder', async () => {
    const [dir, volume] = [await tempDir(), await tempDir('outpost-certs-')];
    cleanups.push(dir.cleanup, volume.cleanup);
    const node = await startTestNode({ dataDir: dir.path, env: { OUTPOST_TLS_AUTO: 'true', ACR_REGISTRY_CERTIFICATE_VOLUME: volume.path } });
    await node.close();
    await stat(join(volume.path, 'ca.crt'));
    await stat(join(volume.path, 'tls.key'));
    await assert.rejects(stat(join(dir.path, 'certs')), { code: 'ENOENT' });
  });

  test('a certificate folder without tls.crt and tls.key stops the start with one clear ConfigError; so does a CA key without its certificate', async () => {
    const [dir, volume] = [await tempDir(), await tempDir('outpost-certs-')];
    cleanups.push(dir.cleanup, volume.cleanup);
    const config = resolveNodeConfig({ host: '127.0.0.1', port: '0', dataDir: dir.path }, { OUTPOST_CERT_DIR: volume.path, OUTPOST_ADMIN_PASSWORD: 'x' });
    await assert.rejects(buildApp(config), (err: unknown) =>
      err instanceof ConfigError && /certificate folder .*: no certificate at .*tls\.crt \(put tls\.crt and tls\.key there, or start with --tls-auto/.test(err.message));
    const auto = resolveNodeConfig({ host: '127.0.0.1', port: '0', dataDir: dir.path, tlsAuto: true }, { OUTPOST_CERT_DIR: volume.path, OUTPOST_ADMIN_PASSWORD: 'x' });
    await writeFile(join(volume.path, 'ca.key'), 'not a key');
    await assert.rejects(buildApp(auto), (err: unknown) => err instanceof ConfigError && /has ca\.key but no ca\.crt/.test(err.message));
  });

  test('--tls-auto with --tls-cert is refused: one or the other', () => {
    assert.throws(() => resolveNodeConfig({ tlsAuto: true, tlsCert: 'a.crt', tlsKey: 'a.key' }, {}), /--tls-auto makes its own certificate/);
  });

  test('CA handoff: the root hands its CA to a top-level edge in its settings, and an edge started with them syncs over HTTPS with no other step', async () => {
    const dir = await tempDir();
    cleanups.push(dir.cleanup);
    const root = await startTestNode({ dataDir: dir.path, env: { OUTPOST_TLS_AUTO: 'true' } });
    cleanups.push(() => root.close());
    const ca = await readFile(join(dir.path, 'certs', 'ca.crt'), 'utf8');
    const admin = httpsClient(root.url, ca);
    const created = await createConnectedRegistry(admin, { name: 'tlsedge', mode: 'ReadOnly', repositories: ['app'] }, 'https');
    const settings = (await mgmt(admin, 'POST', '/connected-registries/tlsedge/settings', { parentProtocol: 'https' })).json as Record<string, string>;
    assert.equal(settings.OUTPOST_PARENT_CA_CERT, ca);
    const plain = (await mgmt(admin, 'POST', '/connected-registries/tlsedge/settings', { parentProtocol: 'http' })).json as Record<string, string>;
    assert.equal(plain.OUTPOST_PARENT_CA_CERT, undefined, 'no CA for an http parent');

    // The CLI writes the CA to a file for --parent-ca (and leaves it out of what it prints).
    const caOut = join(dir.path, 'parent-ca.crt');
    const printed = await new Promise<string>((resolve, reject) => execFile(process.execPath, [OUTPOST_BIN, 'connected-registry', 'get-settings', '-n', 'tlsedge',
      '--parent-protocol', 'https', '--ca-file-out', caOut], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: join(dir.path, 'certs', 'ca.crt'), OUTPOST_REGISTRY: root.url, OUTPOST_USERNAME: 'admin', OUTPOST_PASSWORD: TEST_ADMIN_PASSWORD, HOME: dir.path },
    }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))));
    assert.equal(await readFile(caOut, 'utf8'), ca);
    assert.equal((JSON.parse(printed) as Record<string, string>).OUTPOST_PARENT_CA_CERT, undefined);

    const pushed = await admin.pushImage('app', 'v1');
    const edge = await startEdge(created.connectionString, { env: { OUTPOST_PARENT_CA_CERT: settings.OUTPOST_PARENT_CA_CERT! } });
    cleanups.push(() => edge.close());
    const edgeClient = new TestClient(edge.url);
    assert.equal(await waitFor('app:v1 at the edge', () => tagDigest(edgeClient, 'app', 'v1')), pushed.digest);
  });
});
