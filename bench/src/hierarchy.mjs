// Connected-registry plumbing for the sync figures: a root and its edges as real
// `bin/outpost serve` processes, connected registries created over the root's management
// API, and the small OCI/gateway calls the figures poll with.
import { Buffer } from 'node:buffer';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, pushBlob, pushManifest, sha256 } from './oci.mjs';
import { startOutpost } from './registries.mjs';
import { assertLoopback, sleep } from './util.mjs';

export const MANIFEST_ACCEPT = [
  OCI_MANIFEST,
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export const basic = (user, password) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

/** A root node: authenticated (no anonymous pull), as a root facing the network would run. */
export function startRoot(ctx, dirName) {
  return startOutpost({ workDir: ctx.workDir, repoRoot: ctx.repoRoot, outpostBin: ctx.opts.outpostBin, authenticated: true, dirName, name: `outpost-${dirName}` });
}

/**
 * A connected node started with `connectionString`. Anonymous pull is on so that the bench can
 * poll its content without a client token (sync itself always uses the sync token).
 */
export function startEdge(ctx, dirName, connectionString) {
  return startOutpost({ workDir: ctx.workDir, repoRoot: ctx.repoRoot, outpostBin: ctx.opts.outpostBin, dirName, connectionString, name: `outpost-${dirName}` });
}

/** Calls the root's management API as admin; returns { status, json }. */
export async function mgmt(root, method, urlPath, body) {
  const url = `${root.url}/mgmt/v1${urlPath}`;
  assertLoopback(url);
  const res = await request(url, {
    method,
    headers: { ...root.pushHeaders, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, json: text === '' ? null : JSON.parse(text) };
}

/**
 * Creates a connected registry at the root (`body` as POST /mgmt/v1/connected-registries takes
 * it) and generates its sync token's password; returns its name, connection string and token.
 */
export async function createConnectedRegistry(root, body) {
  const created = await mgmt(root, 'POST', '/connected-registries', body);
  if (created.status !== 201) throw new Error(`create connected registry ${body.name}: ${created.status} ${JSON.stringify(created.json)}`);
  const settings = await mgmt(root, 'POST', `/connected-registries/${body.name}/settings`, { parentProtocol: 'http', generatePassword: 1 });
  if (settings.status !== 200) throw new Error(`settings of ${body.name}: ${settings.status} ${JSON.stringify(settings.json)}`);
  const s = settings.json;
  return { name: body.name, connectionString: s.ACR_REGISTRY_CONNECTION_STRING, tokenName: s.SYNC_TOKEN_USER, tokenPassword: s.SYNC_TOKEN_PASSWORD };
}

/** Polls `check` every `intervalMs` until it returns a truthy value; throws after `timeoutMs`. */
export async function waitFor(what, check, { timeoutMs = 30_000, intervalMs = 50 } = {}) {
  const deadline = performance.now() + timeoutMs;
  let lastError = null;
  while (performance.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError.message}` : ''}`);
}

/**
 * Waits until the root knows where the edge `name` listens (its first heartbeat reports its
 * login server): only then does a child's connection string name the right parent endpoint.
 */
export function waitLoginServer(root, name) {
  return waitFor(`${name} to report its login server to the root`, async () => {
    const a = await mgmt(root, 'GET', `/connected-registries/${name}`);
    return a.status === 200 && a.json.loginServer?.host ? a.json.loginServer.host : null;
  });
}

/** HEAD a manifest; its digest, or null on 404. `dispatcher`: an undici Client (keep-alive). */
export async function headManifest(base, repo, ref, { dispatcher, headers = {} } = {}) {
  const res = await request(`${base}/v2/${repo}/manifests/${ref}`, { method: 'HEAD', headers: { accept: MANIFEST_ACCEPT, ...headers }, dispatcher });
  await res.body.dump();
  if (res.statusCode === 404) return null;
  if (res.statusCode !== 200) throw new Error(`HEAD ${repo}:${ref} at ${base}: ${res.statusCode}`);
  return res.headers['docker-content-digest'] ?? null;
}

/** The tags of a repository (empty when it does not exist yet). */
export async function listTags(base, repo, { dispatcher, headers = {} } = {}) {
  const res = await request(`${base}/v2/${repo}/tags/list?n=10000`, { headers, dispatcher });
  if (res.statusCode === 404) {
    await res.body.dump();
    return [];
  }
  if (res.statusCode !== 200) {
    const text = await res.body.text();
    throw new Error(`GET ${repo} tags at ${base}: ${res.statusCode} ${text.slice(0, 200)}`);
  }
  return (await res.body.json()).tags ?? [];
}

/**
 * An OCI image over the given layer blobs ({digest, size, body}): a config blob naming them and
 * the manifest. Returns { layers, config, manifest, digest }.
 */
export function imageOf(layers, label) {
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: { Labels: { 'org.opencontainers.image.title': label } },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
  }));
  const configBlob = { digest: sha256(config), size: config.length, body: config };
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.size })),
  }));
  return { layers, config: configBlob, manifest, digest: sha256(manifest) };
}

/** Pushes an image's blobs (monolithic uploads) then its manifest under `tag`. */
export async function pushImage(reg, repo, tag, image) {
  for (const b of [...image.layers, image.config]) await pushBlob(reg.url, repo, b, undefined, reg.pushHeaders);
  await pushManifest(reg.url, repo, tag, image.manifest, reg.pushHeaders);
}

/** Count and bytes of the files under `dir` (recursively); { files: 0, bytes: 0 } if missing. */
export function dirUsage(dir, fileName = null) {
  let files = 0;
  let bytes = 0;
  const walk = (d) => {
    let entries;
    try {
      entries = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && (fileName === null || e.name === fileName)) {
        files += 1;
        bytes += fs.statSync(p).size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}

/** Nearest-rank percentile of a list of numbers (p in 0..100). */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
