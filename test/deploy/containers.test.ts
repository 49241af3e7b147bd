import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  REPO_ROOT, TEST_IMAGE, PODMAN_GLOBAL, RUN_LIMITS, basic, buildOutpostImage, ensureBaseImages, freePort, missingTools,
  outpost, podman, run, skopeo, tempDir, waitFor, waitForTag, waitHealthy, type BaseImages,
} from './podman.js';

/**
 * The image built and run for real with podman, on a machine that reaches no image registry: the
 * base images are made offline (mmdebstrap + this machine's Node.js), the image is built with
 * `scripts/build-image.sh` (what `npm run image` runs), then a root and an edge run as containers,
 * and deploy/compose.yaml runs a root, a ReadWrite edge and a ReadOnly edge with podman-compose.
 * Containers run with Debian's runc, explicit limits (crun is refused setrlimit here) and, outside
 * compose, the host's network.
 */
const TOOLS = ['podman', 'runc', 'mmdebstrap', 'skopeo', 'podman-compose'];
const HELLO = join(REPO_ROOT, 'examples', 'hello');
const ADMIN_PASSWORD = 'deploy-test-admin-password';
const SUITE = `outpost-deploy-${process.pid}`;
const MINUTE = 60_000;

describe('container image (podman, offline base image)', { timeout: 60 * MINUTE }, () => {
  let work: { path: string; cleanup(): Promise<void> };
  let images: BaseImages | null = null;
  let imageBuilt = false;
  const containers: string[] = [];
  const volumes: string[] = [];
  const composeProjects: string[] = [];

  /** The manifest digest of examples/hello:latest (what every pull must give back). */
  async function helloDigest(): Promise<string> {
    const index = JSON.parse(await readFile(join(HELLO, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    return index.manifests[0]!.digest;
  }

  /** Pulls `ref` into a fresh OCI layout and returns the digest of what was pulled. */
  async function pull(ref: string, creds: string, name: string): Promise<string> {
    const dest = join(work.path, name);
    await skopeo(work.path, 'copy', '--src-tls-verify=false', '--src-creds', creds, `docker://${ref}`, `oci:${dest}:latest`);
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    return index.manifests[0]!.digest;
  }

  function requireImage(): void {
    if (!imageBuilt) throw new Error('the image was not built (see the first test)');
  }

  before(async () => {
    const missing = missingTools(TOOLS);
    if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: scripts/test.sh installs them (apt-get install podman runc mmdebstrap skopeo podman-compose)`);
    work = await tempDir('outpost-deploy-');
  });

  after(async () => {
    for (const project of composeProjects) {
      const ids = (await podman(['ps', '-aq', '--filter', `label=io.podman.compose.project=${project}`]).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
      if (ids.length > 0) await podman(['rm', '-f', '-t', '2', ...ids]).catch(() => undefined);
      const vols = (await podman(['volume', 'ls', '-q', '--filter', `label=io.podman.compose.project=${project}`]).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
      if (vols.length > 0) await podman(['volume', 'rm', '-f', ...vols]).catch(() => undefined);
      await podman(['network', 'rm', '-f', `${project}_default`]).catch(() => undefined);
    }
    if (containers.length > 0) await podman(['rm', '-f', '-t', '2', ...containers]).catch(() => undefined);
    if (volumes.length > 0) await podman(['volume', 'rm', '-f', ...volumes]).catch(() => undefined);
    await work?.cleanup();
  });

  test('builds offline: multi-stage, production dependencies only, < 150 MB, non-root, ports, volume and health check', { timeout: 45 * MINUTE }, async (t) => {
    let started = Date.now();
    images = await ensureBaseImages((line) => t.diagnostic(line));
    t.diagnostic(`base images ${images.built ? 'made' : 'reused'} in ${((Date.now() - started) / 1000).toFixed(0)} s: ${images.base}, ${images.build}`);
    started = Date.now();
    await buildOutpostImage(images);
    imageBuilt = true;
    t.diagnostic(`image built in ${((Date.now() - started) / 1000).toFixed(0)} s`);

    // podman shows the image's health check beside Config (an OCI config has none), not in it.
    const [inspected] = JSON.parse((await podman(['image', 'inspect', TEST_IMAGE])).stdout) as Array<{
      Size: number;
      Healthcheck?: { Test?: string[] };
      Config: { User?: string; ExposedPorts?: Record<string, unknown>; Volumes?: Record<string, unknown>; Env?: string[]; Entrypoint?: string[]; Cmd?: string[] };
    }>;
    const config = inspected!.Config;
    const megabytes = inspected!.Size / 1e6;
    t.diagnostic(`image size ${megabytes.toFixed(1)} MB (uncompressed, as podman images shows it)`);
    assert.ok(megabytes < 150, `the image is ${megabytes.toFixed(1)} MB, the goal is < 150 MB`);
    assert.equal(config.User, '10001:10001');
    assert.deepEqual(Object.keys(config.ExposedPorts ?? {}), ['8080/tcp']);
    assert.deepEqual(Object.keys(config.Volumes ?? {}), ['/var/acr/data']);
    assert.ok(config.Env?.includes('ACR_REGISTRY_DATA_VOLUME=/var/acr/data'), JSON.stringify(config.Env));
    assert.deepEqual(config.Entrypoint, ['node', '/app/bin/outpost']);
    assert.deepEqual(config.Cmd, ['serve']);
    assert.deepEqual(inspected!.Healthcheck?.Test, ['CMD', 'node', '/app/deploy/healthcheck.mjs']);

    // Inside: production dependencies only, the addon loads, the folders belong to the user.
    const probe = `
      const fs = require('node:fs');
      const has = (p) => fs.existsSync(p);
      const db = new (require('/app/node_modules/better-sqlite3'))(':memory:');
      console.log(JSON.stringify({
        uid: process.getuid(),
        sqlite: db.prepare('select sqlite_version() as v').get().v,
        dev: ['typescript', 'eslint', '@types/node', 'typescript-eslint'].filter((m) => has('/app/node_modules/' + m)),
        prod: ['fastify', 'better-sqlite3', 'pino', 'undici'].filter((m) => has('/app/node_modules/' + m)),
        sqliteSources: has('/app/node_modules/better-sqlite3/deps'),
        tests: has('/app/dist/test'),
        data: fs.statSync('/var/acr/data').uid,
        certs: fs.statSync('/var/acr/certs').uid,
        shell: has('/bin/sh'),
      }));`;
    const inside = JSON.parse((await podman(['run', '--rm', ...RUN_LIMITS, '--network', 'none', '--entrypoint', 'node', TEST_IMAGE, '-e', probe])).stdout) as Record<string, unknown>;
    assert.equal(inside.uid, 10001);
    assert.deepEqual(inside.dev, [], 'no development dependency in the image');
    assert.deepEqual(inside.prod, ['fastify', 'better-sqlite3', 'pino', 'undici']);
    assert.equal(inside.sqliteSources, false);
    assert.equal(inside.tests, false);
    assert.equal(inside.data, 10001);
    assert.equal(inside.certs, 10001);
    t.diagnostic(`in the image: SQLite ${String(inside.sqlite)}, shell in the base: ${String(inside.shell)}`);
  });

  test('a root container with --tls-auto and an edge container configured by its settings alone (ACR_REGISTRY_CONNECTION_STRING, OUTPOST_PARENT_CA_CERT) and a volume: push at the root, pull at the edge over HTTPS', { timeout: 10 * MINUTE }, async (t) => {
    requireImage();
    const started = Date.now();
    const [rootPort, edgePort] = [await freePort(), await freePort()];
    const root = `${SUITE}-root`;
    const edge = `${SUITE}-edge`;
    containers.push(root, edge);
    volumes.push(`${root}-data`, `${edge}-data`);
    const rootUrl = `https://127.0.0.1:${rootPort}`;
    const edgeUrl = `http://127.0.0.1:${edgePort}`;
    const net = [...RUN_LIMITS, '--network', 'host'];

    // The root, HTTPS with one flag. On the host's network each node needs its own port: OUTPOST_PORT (8080 otherwise).
    await podman(['run', '-d', '--name', root, ...net, '-v', `${root}-data:/var/acr/data`,
      '-e', `OUTPOST_PORT=${rootPort}`, '-e', `OUTPOST_ADMIN_PASSWORD=${ADMIN_PASSWORD}`, TEST_IMAGE, 'serve', '--tls-auto']);
    // Its CA, made in the data volume, is what this machine's clients trust (NODE_EXTRA_CA_CERTS for bin/outpost and fetch).
    const ca = join(work.path, 'root-ca.crt');
    await waitFor('the root made its CA', async () => (await podman(['cp', `${root}:/var/acr/data/certs/ca.crt`, ca]).then(() => true, () => undefined)));
    await waitFor(`${rootUrl}/healthz`, async () => (await run(process.execPath, ['-e', `fetch('${rootUrl}/healthz').then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))`],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: ca } }).then(() => true, () => undefined)));
    // The image's HEALTHCHECK, run by hand (podman schedules it with systemd timers, absent here): it finds HTTPS by itself.
    await podman(['healthcheck', 'run', root]);

    // At the root, with the project's CLI: a client token, the connected registry, its settings.
    const home = join(work.path, 'home-container');
    const cli = (...args: string[]): Promise<string> => outpost(rootUrl, ADMIN_PASSWORD, home, ...args, { NODE_EXTRA_CA_CERTS: ca });
    const clientPassword = await cli('token', 'create', '-n', 'edge-pull', '--repository', 'hello', 'content/read', 'metadata/read',
      '--query', "credentials.passwords[?name=='password1'].value", '-o', 'tsv');
    await cli('connected-registry', 'create', '-n', 'edge01', '--repository', 'hello', '--client-tokens', 'edge-pull');
    const settings = JSON.parse(await cli('connected-registry', 'get-settings', '-n', 'edge01', '--parent-protocol', 'https',
      '--generate-password', '1', '--yes')) as Record<string, string>;
    const connectionString = settings.ACR_REGISTRY_CONNECTION_STRING!;
    assert.match(connectionString, new RegExp(`^ConnectedRegistryName=edge01;.*ParentGatewayEndpoint=127\\.0\\.0\\.1:${rootPort};ParentEndpointProtocol=https$`));
    assert.equal(settings.OUTPOST_PARENT_CA_CERT, await readFile(ca, 'utf8'), 'the settings carry the root\'s CA');

    await skopeo(work.path, 'copy', '--dest-cert-dir', work.path, '--dest-creds', `admin:${ADMIN_PASSWORD}`, `oci:${HELLO}:latest`, `docker://127.0.0.1:${rootPort}/hello:latest`);

    // The edge: the settings and a volume, nothing else (but the port, see above).
    await podman(['run', '-d', '--name', edge, ...net, '-v', `${edge}-data:/var/acr/data`, '-e', `OUTPOST_PORT=${edgePort}`,
      '-e', `ACR_REGISTRY_CONNECTION_STRING=${connectionString}`, '-e', `OUTPOST_PARENT_CA_CERT=${settings.OUTPOST_PARENT_CA_CERT}`, TEST_IMAGE]);
    await waitHealthy(edgeUrl);
    await waitForTag(edgeUrl, 'hello', 'latest', basic('edge-pull', clientPassword));
    assert.equal(await pull(`127.0.0.1:${edgePort}/hello:latest`, `edge-pull:${clientPassword}`, 'pulled-at-edge'), await helloDigest());

    const shown = JSON.parse(await cli('connected-registry', 'show', '-n', 'edge01')) as { activation?: { status?: string }; version?: string; loginServer?: { host?: string } };
    assert.equal(shown.activation?.status, 'Active');
    assert.doesNotMatch(shown.loginServer?.host ?? '', /^0\.0\.0\.0/, 'the edge reports its host name, not the wildcard');
    const logs = (await podman(['logs', edge])).stdout;
    assert.match(logs, /connected registry started/);
    assert.match(logs, /"dataDir":"\/var\/acr\/data"/);

    // SIGTERM reaches node as PID 1: a clean stop, exit code 0.
    await podman(['stop', '-t', '20', edge, root]);
    for (const name of [edge, root]) {
      assert.equal((await podman(['inspect', '--format', '{{.State.ExitCode}}', name])).stdout.trim(), '0', `${name} stopped cleanly`);
    }
    t.diagnostic(`root and edge containers: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  test('deploy/compose.yaml with podman-compose, in the order docs/deploy.md gives: a pull through the ReadOnly edge, a push through the ReadWrite edge that reaches both', { timeout: 10 * MINUTE }, async (t) => {
    requireImage();
    const started = Date.now();
    const project = `${SUITE.replace(/-/g, '')}c`;
    composeProjects.push(project);
    const dir = join(work.path, 'compose');
    await mkdir(dir, { recursive: true });
    await copyFile(join(REPO_ROOT, 'deploy', 'compose.yaml'), join(dir, 'compose.yaml'));
    // runc and the limits for every podman call podman-compose makes.
    const conf = join(dir, 'containers.conf');
    await writeFile(conf, `[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nruntime = "${PODMAN_GLOBAL[1]}"\n`);
    const compose = (...args: string[]): Promise<unknown> =>
      run('podman-compose', ['-p', project, ...args], { cwd: dir, env: { ...process.env, CONTAINERS_CONF: conf }, timeoutMs: 5 * MINUTE });

    const [rootPort, rwPort, roPort] = [await freePort(), await freePort(), await freePort()];
    // 1. .env with the admin password (and here: the image, loopback only, free ports).
    const env = join(dir, '.env');
    await writeFile(env, [`OUTPOST_IMAGE=${TEST_IMAGE}`, `OUTPOST_ADMIN_PASSWORD=${ADMIN_PASSWORD}`, 'OUTPOST_BIND=127.0.0.1',
      `ROOT_PORT=${rootPort}`, `EDGE_RW_PORT=${rwPort}`, `EDGE_RO_PORT=${roPort}`, ''].join('\n'));
    // 2. the root alone.
    await compose('up', '-d', 'root');
    const rootUrl = `http://127.0.0.1:${rootPort}`;
    await waitHealthy(rootUrl);

    // 3. at the root: tokens, the two connected registries, their connection strings into .env.
    const home = join(work.path, 'home-compose');
    const cli = (...args: string[]): Promise<string> => outpost(rootUrl, ADMIN_PASSWORD, home, ...args);
    const passwordOf = ['--query', "credentials.passwords[?name=='password1'].value", '-o', 'tsv'];
    const pullPassword = await cli('token', 'create', '-n', 'site-pull', '--repository', 'hello', 'content/read', 'metadata/read', ...passwordOf);
    const pushPassword = await cli('token', 'create', '-n', 'site-push', '--repository', 'hello', 'content/read', 'content/write', 'metadata/read', 'metadata/write', ...passwordOf);
    await cli('connected-registry', 'create', '-n', 'edgerw', '-m', 'ReadWrite', '--repository', 'hello', '--client-tokens', 'site-pull', 'site-push');
    await cli('connected-registry', 'create', '-n', 'edgero', '-p', 'edgerw', '-m', 'ReadOnly', '--repository', 'hello', '--client-tokens', 'site-pull');
    for (const [name, variable] of [['edgerw', 'EDGE_RW_CONNECTION_STRING'], ['edgero', 'EDGE_RO_CONNECTION_STRING']] as const) {
      const cs = await cli('connected-registry', 'get-settings', '-n', name, '--parent-protocol', 'http', '--generate-password', '1', '--yes',
        '--query', 'ACR_REGISTRY_CONNECTION_STRING', '-o', 'tsv');
      await appendFile(env, `${variable}='${cs}'\n`);
    }
    await skopeo(work.path, 'copy', '--dest-tls-verify=false', '--dest-creds', `admin:${ADMIN_PASSWORD}`, `oci:${HELLO}:latest`, `docker://127.0.0.1:${rootPort}/hello:latest`);

    // 4. everything: the two edges start (edge-ro restarts until edge-rw has its config).
    await compose('up', '-d');
    const rwUrl = `http://127.0.0.1:${rwPort}`;
    const roUrl = `http://127.0.0.1:${roPort}`;
    await waitHealthy(rwUrl);
    await waitHealthy(roUrl, 2 * MINUTE);
    await waitForTag(roUrl, 'hello', 'latest', basic('site-pull', pullPassword), 2 * MINUTE);
    assert.equal(await pull(`127.0.0.1:${roPort}/hello:latest`, `site-pull:${pullPassword}`, 'pulled-at-ro'), await helloDigest());

    // A push at the ReadWrite edge goes up to the root and down to the ReadOnly edge.
    await skopeo(work.path, 'copy', '--dest-tls-verify=false', '--dest-creds', `site-push:${pushPassword}`, `oci:${HELLO}:latest`, `docker://127.0.0.1:${rwPort}/hello:from-edge`);
    await waitForTag(rootUrl, 'hello', 'from-edge', basic('admin', ADMIN_PASSWORD));
    await waitForTag(roUrl, 'hello', 'from-edge', basic('site-pull', pullPassword));
    await compose('down');
    t.diagnostic(`compose: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });
});
