import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnNode, tempDir, type NodeProcess } from '../helpers/test-node.js';
import type { TestClient } from '../helpers/oci-client.js';
import { createConnectedRegistry, spawnEdge, waitFor, tagDigest, showAtRoot, type CreatedRegistry } from '../helpers/hierarchy.js';
import { writeImageLayout } from '../helpers/oci-layout.js';
import { createTestCa, hasOpenssl, httpsClient, type TestCa } from '../helpers/tls.js';
import { Skopeo, ADMIN_CREDS, runServe, verifyImage } from '../helpers/sync-e2e.js';

/**
 * A whole hierarchy over HTTPS with a private test CA: root and site serve HTTPS with certificates
 * the CA signed, the connection strings say ParentEndpointProtocol=https, the site trusts the CA
 * through --parent-ca and the line through OUTPOST_PARENT_CA. Without the CA the site refuses to
 * run against an untrusted parent, with one clear line. skopeo verifies every certificate too.
 */

interface CrShow {
  activation: { status: string };
  loginServer: { host: string; tls: { status: string } } | null;
}

describe('HTTPS hierarchy with a test CA (real processes, skopeo)', { skip: !(await hasOpenssl()) && 'openssl is not installed' }, () => {
  const dirs: Array<{ path: string; cleanup(): Promise<void> }> = [];
  let ca: TestCa;
  let skopeo: Skopeo;
  let work: string;
  let root: NodeProcess;
  let site: NodeProcess | undefined;
  let line: NodeProcess | undefined;
  let rootAdmin: TestClient;
  let siteCr: CreatedRegistry;
  let siteTls: { certFile: string; keyFile: string };
  let lineTls: { certFile: string; keyFile: string };

  const hostOf = (url: string): string => new URL(url).host;

  async function newDir(prefix: string): Promise<string> {
    const dir = await tempDir(prefix);
    dirs.push(dir);
    return dir.path;
  }

  before(async () => {
    work = await newDir('outpost-https-e2e-');
    ca = await createTestCa(work);
    skopeo = await Skopeo.create(work);
    const rootTls = await ca.issue('root');
    siteTls = await ca.issue('site');
    lineTls = await ca.issue('line');
    root = await spawnNode(await newDir('outpost-https-root-'), ['--tls-cert', rootTls.certFile, '--tls-key', rootTls.keyFile]);
    assert.match(root.url, /^https:\/\//);
    rootAdmin = httpsClient(root.url, ca.caPem);
    siteCr = await createConnectedRegistry(rootAdmin, { name: 'site-tls', mode: 'ReadWrite', repositories: ['app'] }, 'https');
    assert.ok(siteCr.connectionString.includes('ParentEndpointProtocol=https'), 'the connection string says https');
    assert.ok(siteCr.connectionString.includes(`ParentGatewayEndpoint=${hostOf(root.url)};`));
  });

  after(async () => {
    for (const proc of [line, site, root]) await proc?.stop();
    for (const dir of dirs) await dir.cleanup();
  });

  test('without the CA the site does not run against the untrusted parent: one clear error line, exit ≠ 0', async () => {
    const result = await runServe(['--data-dir', await newDir('outpost-https-noca-'), '--connection-string', siteCr.connectionString], {}, 15_000);
    assert.equal(result.signal, null, `the process ended by itself: ${result.stderr}`);
    assert.notEqual(result.code, 0);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line on stderr: ${result.stderr}`);
    assert.match(lines[0]!, /^outpost: .*certificate/i, 'it names the certificate problem');
    assert.match(lines[0]!, /--parent-ca/, 'and how to fix it');
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
    const shown = (await showAtRoot(rootAdmin, 'site-tls')) as unknown as CrShow;
    assert.equal(shown.activation.status, 'Inactive', 'the untrusted parent never saw an activation');
  });

  test('with --parent-ca the site syncs over HTTPS; the line trusts the site through OUTPOST_PARENT_CA; skopeo pushes and pulls across', async () => {
    site = await spawnEdge(await newDir('outpost-https-site-'), siteCr.connectionString, ['--tls-cert', siteTls.certFile, '--tls-key', siteTls.keyFile, '--parent-ca', ca.caFile]);
    assert.match(site.url, /^https:\/\//);
    const reported = await waitFor('the site Active with its HTTPS login server', async () => {
      const cr = (await showAtRoot(rootAdmin, 'site-tls')) as unknown as CrShow;
      return cr.activation.status === 'Active' && cr.loginServer ? cr : null;
    });
    assert.deepEqual(reported.loginServer, { host: hostOf(site.url), tls: { status: 'Enabled' } });

    const lineCr = await createConnectedRegistry(rootAdmin, { name: 'line-tls', parent: 'site-tls', repositories: ['app'] }, 'https');
    assert.ok(lineCr.connectionString.includes(`ParentGatewayEndpoint=${hostOf(site.url)};`));
    assert.ok(lineCr.connectionString.includes('ParentEndpointProtocol=https'));
    line = await spawnEdge(await newDir('outpost-https-line-'), lineCr.connectionString, ['--tls-cert', lineTls.certFile, '--tls-key', lineTls.keyFile], { OUTPOST_PARENT_CA: ca.caFile });
    const siteAdmin = httpsClient(site.url, ca.caPem);
    const lineAdmin = httpsClient(line.url, ca.caPem);

    // skopeo checks each node's certificate against the CA (no --tls-verify=false anywhere).
    const fromRoot = join(work, 'layout-root');
    const rootImage = await writeImageLayout(fromRoot, { tag: 'v1', layers: 2, layerSize: 128 * 1024 });
    await skopeo.ok('copy', '--preserve-digests', '--dest-cert-dir', ca.certDir, '--dest-creds', ADMIN_CREDS, `oci:${fromRoot}:v1`, `docker://${hostOf(root.url)}/app:v1`);
    await waitFor('app:v1 at the line over two HTTPS links', async () => (await tagDigest(lineAdmin, 'app', 'v1')) === rootImage.digest);
    await verifyImage(lineAdmin, 'app', 'v1', rootImage.digest);
    const out = join(work, 'pulled');
    await skopeo.ok('copy', '--src-cert-dir', ca.certDir, '--src-creds', ADMIN_CREDS, `docker://${hostOf(line.url)}/app:v1`, `oci:${out}:v1`);
    const raw = await skopeo.ok('inspect', '--raw', `oci:${out}:v1`);
    assert.equal(JSON.parse(raw).layers.length, 2);

    const fromSite = join(work, 'layout-site');
    const siteImage = await writeImageLayout(fromSite, { tag: 'site', layers: 1, layerSize: 64 * 1024 });
    await skopeo.ok('copy', '--preserve-digests', '--dest-cert-dir', ca.certDir, '--dest-creds', ADMIN_CREDS, `oci:${fromSite}:site`, `docker://${hostOf(site.url)}/app:site`);
    await waitFor('app:site pushed up to the root over HTTPS', async () => (await tagDigest(rootAdmin, 'app', 'site')) === siteImage.digest);
    await waitFor('app:site at the line', async () => (await tagDigest(lineAdmin, 'app', 'site')) === siteImage.digest);
    await verifyImage(rootAdmin, 'app', 'site', siteImage.digest);
    await verifyImage(siteAdmin, 'app', 'v1', rootImage.digest);

    // And skopeo without the CA refuses the site's certificate: it really is a private CA.
    const untrusted = await skopeo.run('inspect', '--raw', '--creds', ADMIN_CREDS, `docker://${hostOf(site.url)}/app:v1`);
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /certificate/i);
  });
});
