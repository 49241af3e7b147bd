import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { Agent, get, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { startTestNode, tempDir, type TestNode } from '../helpers/test-node.js';
import { createTestCa, hasOpenssl, type TestCa } from '../helpers/tls.js';
import { waitFor } from '../helpers/hierarchy.js';
import { reloadOnHangup } from '../../src/server/start-node.js';

interface Answer { status: number; fingerprint: string; localPort: number }

/** What each connection's handshake presented: a reused keep-alive socket no longer shows it. */
const presentedOn = new WeakMap<TLSSocket, string>();

/** GET /healthz through `agent`; which certificate the connection presented, and which local port it used. */
function healthz(url: string, ca: string, agent: Agent | false): Promise<Answer> {
  const { hostname, port } = new URL(url);
  const options: RequestOptions = { host: hostname, port: Number(port), path: '/healthz', ca: [ca], agent };
  return new Promise((resolve, reject) => {
    get(options, (res) => {
      // Read while the response holds the socket (a keep-alive agent takes it back at the end).
      const socket = res.socket as TLSSocket;
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? presentedOn.get(socket) ?? '';
      presentedOn.set(socket, fingerprint);
      const seen = { status: res.statusCode ?? 0, fingerprint, localPort: socket.localPort ?? 0 };
      res.resume();
      res.on('end', () => resolve(seen));
    }).on('error', reject);
  });
}

/** Replaces the folder's tls.crt and tls.key as a deployment tool does: each written aside, then renamed into place. */
async function install(dir: string, pair: { certFile: string; keyFile: string }): Promise<void> {
  await copyFile(pair.keyFile, join(dir, 'tls.key.new'));
  await copyFile(pair.certFile, join(dir, 'tls.crt.new'));
  await rename(join(dir, 'tls.key.new'), join(dir, 'tls.key'));
  await rename(join(dir, 'tls.crt.new'), join(dir, 'tls.crt'));
}

async function fingerprintOf(certFile: string): Promise<string> {
  return new X509Certificate(await readFile(certFile)).fingerprint256;
}

/**
 * A running node takes a new certificate without a restart (docs/deploy.md, "Certificate
 * rotation"): when the certificate folder changes, and on SIGHUP. New connections get the new
 * certificate; a connection opened before keeps working with the one it has.
 */
describe('certificate reload without restart', () => {
  let ca: TestCa;
  let work: { path: string; cleanup(): Promise<void> };
  let pairs: Array<{ certFile: string; keyFile: string }>;

  before(async () => {
    assert.ok(await hasOpenssl(), 'openssl is needed to make the test certificates');
    work = await tempDir('outpost-reload-');
    ca = await createTestCa(work.path);
    pairs = [await ca.issue('first'), await ca.issue('second'), await ca.issue('third')];
  });

  after(async () => {
    await work?.cleanup();
  });

  test('a changed certificate folder is served to new connections at once; an open connection keeps working; a broken file is refused', async () => {
    const certs = join(work.path, 'watched');
    await mkdir(certs);
    await install(certs, pairs[0]!);
    const node: TestNode = await startTestNode({ env: { OUTPOST_CERT_DIR: certs } });
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const [first, second] = [await fingerprintOf(pairs[0]!.certFile), await fingerprintOf(pairs[1]!.certFile)];
      const open = await healthz(node.url, ca.caPem, keepAlive);
      assert.deepEqual([open.status, open.fingerprint], [200, first]);

      await install(certs, pairs[1]!);
      await waitFor('a new connection presents the second certificate', async () => (await healthz(node.url, ca.caPem, false)).fingerprint === second);

      // The connection opened before still answers, on the same socket, with the first certificate.
      const again = await healthz(node.url, ca.caPem, keepAlive);
      assert.deepEqual([again.status, again.fingerprint, again.localPort], [200, first, open.localPort]);

      // Half-written or wrong files never replace a good certificate.
      await writeFile(join(certs, 'tls.crt'), 'not a certificate');
      await copyFile(pairs[2]!.keyFile, join(certs, 'tls.key'));
      const reloaded = await node.node.certificate!.served.reload('test: broken files');
      assert.equal(reloaded, false);
      assert.equal((await healthz(node.url, ca.caPem, false)).fingerprint, second);
    } finally {
      keepAlive.destroy();
      await node.close();
    }
  });

  test('SIGHUP reloads the files (with the folder not watched)', async () => {
    const certs = join(work.path, 'hangup');
    await mkdir(certs);
    await install(certs, pairs[0]!);
    const node = await startTestNode({ env: { OUTPOST_CERT_DIR: certs }, app: { watchCertificates: false } });
    const stopListening = reloadOnHangup(node.node);
    try {
      await install(certs, pairs[2]!);
      const third = await fingerprintOf(pairs[2]!.certFile);
      assert.notEqual((await healthz(node.url, ca.caPem, false)).fingerprint, third, 'not watched: still the first certificate');
      process.kill(process.pid, 'SIGHUP');
      await waitFor('a new connection presents the third certificate', async () => (await healthz(node.url, ca.caPem, false)).fingerprint === third);
    } finally {
      stopListening();
      await node.close();
    }
  });
});
