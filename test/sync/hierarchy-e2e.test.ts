import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnNode, tempDir, type NodeProcess } from '../helpers/test-node.js';
import { TestClient, sha256 } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';
import { createConnectedRegistry, spawnEdge, waitFor, tagDigest, showAtRoot, tokenClient, type CreatedRegistry } from '../helpers/hierarchy.js';
import { writeImageLayout } from '../helpers/oci-layout.js';
import type { ConfigDocument, MessagesResponse } from '../../src/client/gateway-protocol.js';
import { Skopeo, ADMIN_CREDS, listTags, portOf, verifyImage } from '../helpers/sync-e2e.js';

/**
 * Three levels of real `bin/outpost serve` processes on loopback, skopeo as the client:
 * root → site-main (ReadWrite) → line-one (ReadOnly). Content flows down and up, the line refuses
 * writes with the reference message, client tokens made at the root work at the line, status is
 * relayed up to the root, and a root outage loses nothing the site took meanwhile.
 */

const DENIED_LINE = 'denied: This operation is not allowed on this registry.';

interface CrShow {
  activation: { status: string };
  connectionState: string;
  version: string | null;
  loginServer: { host: string; tls: { status: string } } | null;
  lastActivityTime: string | null;
  statusDetails: unknown[];
  syncStatus: { repositories: Array<{ name: string; pendingChanges: number }>; outboxPending: number | null };
}

describe('root → site (ReadWrite) → line (ReadOnly), real processes and skopeo', () => {
  const dirs: Array<{ path: string; cleanup(): Promise<void> }> = [];
  let work: string;
  let skopeo: Skopeo;
  let root: NodeProcess;
  let site: NodeProcess;
  let line: NodeProcess;
  let rootAdmin: TestClient;
  let siteAdmin: TestClient;
  let lineAdmin: TestClient;
  let siteCr: CreatedRegistry;
  let lineCr: CreatedRegistry;
  let rootDataDir: string;
  /** `repository:tag` → digest of what the tests pushed and checked so far. */
  const pushed = new Map<string, string>();

  const hostOf = (proc: NodeProcess): string => new URL(proc.url).host;

  async function newDir(prefix: string): Promise<string> {
    const dir = await tempDir(prefix);
    dirs.push(dir);
    return dir.path;
  }

  /** A one-image OCI layout to push from; returns its path and manifest digest. */
  async function layout(tag: string, layers = 2, layerSize = 64 * 1024): Promise<{ dir: string; digest: string }> {
    const dir = join(work, `layout-${tag}`);
    const image = await writeImageLayout(dir, { tag, layers, layerSize });
    return { dir, digest: image.digest };
  }

  async function createToken(name: string, actions: string[]): Promise<string> {
    const answer = await mgmt(rootAdmin, 'POST', '/tokens', { name, actions });
    assert.equal(answer.status, 201, JSON.stringify(answer.json));
    return (answer.json as { credentials: { passwords: Array<{ name: string; value: string }> } }).credentials.passwords[0]!.value;
  }

  /** skopeo copy of a layout into `node` as `repo:tag` with `creds`. */
  function pushWithSkopeo(from: { dir: string }, tag: string, node: NodeProcess, repo: string, creds = ADMIN_CREDS) {
    return skopeo.run('copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', creds, `oci:${from.dir}:${tag}`, `docker://${hostOf(node)}/${repo}:${tag}`);
  }

  /** skopeo copy of `repo:tag` out of `node` into a fresh layout; returns the manifest digest skopeo saw. */
  async function pullWithSkopeo(node: NodeProcess, repo: string, tag: string, creds = ADMIN_CREDS): Promise<string> {
    const dest = await newDir('outpost-pull-');
    await skopeo.ok('copy', '--preserve-digests', '--src-tls-verify=false', '--src-creds', creds, `docker://${hostOf(node)}/${repo}:${tag}`, `oci:${dest}:${tag}`);
    const raw = await skopeo.ok('inspect', '--raw', `oci:${dest}:${tag}`);
    return sha256(raw);
  }

  /** The root's change log after `after`, read through the gateway as the site does (its sync token). */
  async function rootMessages(after: number): Promise<MessagesResponse> {
    const client = tokenClient(root.url, siteCr.tokenName, siteCr.tokenPassword);
    const res = await client.request('GET', `/gateway/v1/site-main/messages?after=${after}&wait=0`);
    assert.equal(res.status, 200);
    return (await res.json()) as MessagesResponse;
  }

  before(async () => {
    work = await newDir('outpost-hier-e2e-');
    skopeo = await Skopeo.create(work);
    rootDataDir = await newDir('outpost-hier-root-');
    root = await spawnNode(rootDataDir);
    rootAdmin = new TestClient(root.url);

    siteCr = await createConnectedRegistry(rootAdmin, { name: 'site-main', mode: 'ReadWrite', repositories: ['app', 'svc/*'] });
    site = await spawnEdge(await newDir('outpost-hier-site-'), siteCr.connectionString);
    siteAdmin = new TestClient(site.url);
    // The line's parent endpoint is the site's login server, known once the site has reported.
    await waitFor('the site to report its login server', async () => ((await showAtRoot(rootAdmin, 'site-main')) as unknown as CrShow).loginServer);
    lineCr = await createConnectedRegistry(rootAdmin, { name: 'line-one', parent: 'site-main', repositories: ['app', 'svc/*'] });
    assert.ok(lineCr.connectionString.includes(`ParentGatewayEndpoint=${hostOf(site)};`), `the line's parent is the site: ${lineCr.connectionString.replace(/SyncTokenPassword=[^;]*/, 'SyncTokenPassword=…')}`);
    line = await spawnEdge(await newDir('outpost-hier-line-'), lineCr.connectionString);
    lineAdmin = new TestClient(line.url);
  });

  after(async () => {
    for (const proc of [line, site, root]) await proc?.stop();
    for (const dir of dirs) await dir.cleanup();
  });

  test('a skopeo push at the root is pullable at the line, byte for byte', async () => {
    const image = await layout('v1');
    const pushedAt = Date.now();
    const result = await pushWithSkopeo(image, 'v1', root, 'app');
    assert.equal(result.code, 0, result.stderr);
    await waitFor('app:v1 at the line', async () => (await tagDigest(lineAdmin, 'app', 'v1')) === image.digest);
    const latency = Date.now() - pushedAt;
    // Continuous sync wakes on the push at each level: nothing waits for a poll interval.
    assert.ok(latency < 5_000, `root → line took ${latency} ms`);
    assert.equal(await pullWithSkopeo(line, 'app', 'v1'), image.digest);
    await verifyImage(lineAdmin, 'app', 'v1', image.digest);
    await verifyImage(siteAdmin, 'app', 'v1', image.digest);
    pushed.set('app:v1', image.digest);
  });

  test('a skopeo push at the site reaches the root and the line', async () => {
    const image = await layout('from-site');
    const result = await pushWithSkopeo(image, 'from-site', site, 'svc/api');
    assert.equal(result.code, 0, result.stderr);
    await waitFor('svc/api:from-site at the root', async () => (await tagDigest(rootAdmin, 'svc/api', 'from-site')) === image.digest);
    await waitFor('svc/api:from-site at the line', async () => (await tagDigest(lineAdmin, 'svc/api', 'from-site')) === image.digest);
    await verifyImage(rootAdmin, 'svc/api', 'from-site', image.digest);
    await verifyImage(lineAdmin, 'svc/api', 'from-site', image.digest);
    assert.equal(await pullWithSkopeo(line, 'svc/api', 'from-site'), image.digest);
    pushed.set('svc/api:from-site', image.digest);
  });

  test('the site refuses a push outside its sync scope with the reference message', async () => {
    const image = await layout('elsewhere', 1, 1024);
    const result = await pushWithSkopeo(image, 'elsewhere', site, 'not-synced');
    assert.notEqual(result.code, 0);
    assert.ok(result.stderr.includes(DENIED_LINE), `skopeo says: ${result.stderr}`);
    assert.equal(await tagDigest(rootAdmin, 'not-synced', 'elsewhere'), null);
  });

  test('a push at the ReadOnly line is denied with exactly the reference message in skopeo\'s output, a delete too', async () => {
    const image = await layout('at-line', 1, 1024);
    const result = await pushWithSkopeo(image, 'at-line', line, 'app');
    assert.notEqual(result.code, 0, 'skopeo push at the line');
    assert.ok(result.stderr.includes(DENIED_LINE), `skopeo says: ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /unauthorized|authentication required/i);
    assert.equal(await tagDigest(lineAdmin, 'app', 'at-line'), null);
    assert.equal(await tagDigest(siteAdmin, 'app', 'at-line'), null);
    assert.equal(await tagDigest(rootAdmin, 'app', 'at-line'), null);
    const del = await skopeo.run('delete', '--tls-verify=false', '--creds', ADMIN_CREDS, `docker://${hostOf(line)}/app:v1`);
    assert.notEqual(del.code, 0);
    assert.ok(del.stderr.includes('This operation is not allowed on this registry.'), `skopeo delete says: ${del.stderr}`);
    assert.equal(await tagDigest(lineAdmin, 'app', 'v1'), pushed.get('app:v1'));
  });

  test('root outage: 10 pushes at the site, pulls keep working at site and line; the root back: all 10 there, none lost or duplicated', async () => {
    const rootPort = portOf(root.url);
    const before = new Set(await listTags(rootAdmin, 'app'));
    const headBefore = (await rootMessages(0)).head;
    assert.equal(await root.stop('SIGKILL'), null, 'the root died');
    assert.equal((await fetch(`${root.url}/v2/`).catch(() => null)), null, 'the root is down');

    const layouts = await Promise.all(Array.from({ length: 10 }, (_, i) => layout(`outage-${i}`, 1, 16 * 1024)));
    for (let i = 0; i < 10; i++) {
      const result = await pushWithSkopeo(layouts[i]!, `outage-${i}`, site, 'app');
      assert.equal(result.code, 0, `push ${i} at the site during the outage: ${result.stderr}`);
    }
    // Everything older still pulls at both levels, and the new pushes flow down to the line meanwhile.
    assert.equal(await pullWithSkopeo(site, 'app', 'v1'), pushed.get('app:v1'));
    assert.equal(await pullWithSkopeo(line, 'svc/api', 'from-site'), pushed.get('svc/api:from-site'));
    for (let i = 0; i < 10; i++) {
      await waitFor(`app:outage-${i} at the line during the outage`, async () => (await tagDigest(lineAdmin, 'app', `outage-${i}`)) === layouts[i]!.digest);
    }
    await verifyImage(lineAdmin, 'app', 'outage-9', layouts[9]!.digest);

    // The root back, same data and port.
    root = await spawnNode(rootDataDir, ['--port', String(rootPort)]);
    assert.equal(portOf(root.url), rootPort);
    rootAdmin = new TestClient(root.url);
    const expected = new Set([...before, ...layouts.map((_, i) => `outage-${i}`)]);
    const tags = await waitFor('all 10 at the root', async () => {
      const now = await listTags(rootAdmin, 'app');
      return now.length >= expected.size ? now : null;
    }, 40_000);
    assert.deepEqual([...tags].sort(), [...expected].sort(), 'the root has exactly the tags pushed, none missing, none extra');
    assert.equal(new Set(tags).size, tags.length, 'no tag listed twice');
    for (let i = 0; i < 10; i++) await verifyImage(rootAdmin, 'app', `outage-${i}`, layouts[i]!.digest);
    // None duplicated: the root's change log moved each of the 10 tags exactly once.
    const changes = (await rootMessages(headBefore)).messages.filter((m) => m.repository === 'app');
    for (let i = 0; i < 10; i++) {
      const moves = changes.filter((m) => m.kind === 'tag' && m.tag === `outage-${i}`);
      assert.equal(moves.length, 1, `app:outage-${i} changed ${moves.length} times at the root: ${JSON.stringify(moves)}`);
      assert.equal(moves[0]!.digest, layouts[i]!.digest);
    }
    // The root sees the site Online again, with nothing refused from its outbox.
    const siteShown = await waitFor('the site Online again at the root', async () => {
      const cr = (await showAtRoot(rootAdmin, 'site-main')) as unknown as CrShow;
      return cr.connectionState === 'Online' ? cr : null;
    }, 30_000);
    assert.deepEqual(siteShown.statusDetails, []);
    // …and, once a heartbeat follows the drain, nothing left waiting in its outbox.
    await waitFor('the site\'s outbox reported empty at the root', async () =>
      ((await showAtRoot(rootAdmin, 'site-main')) as unknown as CrShow).syncStatus.outboxPending === 0, 30_000);
    // Still all in place at the line, unchanged.
    for (let i = 0; i < 10; i++) assert.equal(await tagDigest(lineAdmin, 'app', `outage-${i}`), layouts[i]!.digest);
  });

  // Last, because the refusals here slow every later sign-in from this address at the line (LoginThrottle, by design).
  test('a client token created at the root works at the line (pull; a push is still denied); other tokens are refused there', async () => {
    const linePassword = await createToken('line-client', ['repositories/app/content/read', 'repositories/app/content/write', 'repositories/app/metadata/read']);
    const sitePassword = await createToken('site-client', ['repositories/app/content/read', 'repositories/app/metadata/read']);
    const lineReader = tokenClient(line.url, 'line-client', linePassword);
    const manifestAccept = { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } };
    assert.equal((await lineReader.request('GET', '/v2/app/manifests/v1', manifestAccept)).status, 401, 'not a client token of the line yet');

    for (const [name, token] of [['site-main', 'site-client'], ['line-one', 'line-client']] as const) {
      const patched = await mgmt(rootAdmin, 'PATCH', `/connected-registries/${name}`, { addClientTokens: [token] });
      assert.equal(patched.status, 200, JSON.stringify(patched.json));
    }
    // The config reaches the line through the site, without a restart: first the site serves it
    // (asked as the line asks, with its sync token, so no failed sign-in slows the line down).
    const atSite = tokenClient(site.url, lineCr.tokenName, lineCr.tokenPassword);
    await waitFor('the site to serve the line its new client token', async () => {
      const res = await atSite.request('GET', '/gateway/v1/line-one/config');
      return res.status === 200 && ((await res.json()) as ConfigDocument).self.clientTokenIds.some((id) => id.endsWith('line-client'));
    });
    await waitFor('line-client usable at the line', async () => {
      await sleep(200);
      return (await lineReader.request('GET', '/v2/app/manifests/v1', manifestAccept)).status === 200;
    });
    assert.equal(await pullWithSkopeo(line, 'app', 'v1', `line-client:${linePassword}`), pushed.get('app:v1'));
    // Its write permission does not make the line writable.
    const image = await layout('by-client', 1, 1024);
    const push = await pushWithSkopeo(image, 'by-client', line, 'app', `line-client:${linePassword}`);
    assert.notEqual(push.code, 0);
    assert.ok(push.stderr.includes(DENIED_LINE), `skopeo says: ${push.stderr}`);

    // site-client is a valid token, synced to the site and usable there, but not a client token of the line.
    assert.equal(await pullWithSkopeo(site, 'app', 'v1', `site-client:${sitePassword}`), pushed.get('app:v1'));
    assert.equal((await tokenClient(line.url, 'site-client', sitePassword).request('GET', '/v2/app/manifests/v1', manifestAccept)).status, 401);
    const refused = await skopeo.run('inspect', '--raw', '--tls-verify=false', '--creds', `site-client:${sitePassword}`, `docker://${hostOf(line)}/app:v1`);
    assert.notEqual(refused.code, 0, 'skopeo at the line with a token that is not its client token');
    assert.match(refused.stderr, /401|unauthorized|authentication required/i);
    assert.equal((await tokenClient(line.url, 'line-client', 'not-the-password').request('GET', '/v2/app/manifests/v1', manifestAccept)).status, 401);
  });

  // Late in the suite: a node's first heartbeat, sent while it reconciles, says Syncing; its next one comes 10 s later.
  test('show at the root reports site and line Active and Online (the line relayed through the site)', async () => {
    for (const [name, proc] of [['site-main', site], ['line-one', line]] as const) {
      const shown = await waitFor(`${name} Active/Online at the root`, async () => {
        const cr = (await showAtRoot(rootAdmin, name)) as unknown as CrShow;
        // The lag is computed at each heartbeat from what the parent holds: wait until it covers both repositories.
        return cr.activation.status === 'Active' && cr.connectionState === 'Online' && cr.loginServer !== null
          && cr.syncStatus.repositories.length === 2 ? cr : null;
      }, 30_000);
      assert.equal(shown.loginServer!.host, hostOf(proc), `${name}'s login server`);
      assert.equal(shown.loginServer!.tls.status, 'Disabled');
      assert.match(shown.version ?? '', /^\d+\.\d+\.\d+/, `${name}'s version`);
      assert.deepEqual(shown.syncStatus.repositories, [{ name: 'app', pendingChanges: 0 }, { name: 'svc/api', pendingChanges: 0 }], `${name}'s lag per repository`);
      assert.ok(shown.lastActivityTime !== null && Date.now() - Date.parse(shown.lastActivityTime) < 60_000, `${name}'s last activity ${shown.lastActivityTime}`);
    }
  });
});


