// The slice of the OCI distribution API the bench needs: blob upload (POST + PUT),
// manifest push, and helpers to build test content.
import { Buffer } from 'node:buffer';
import { URL } from 'node:url';
import crypto from 'node:crypto';
import { request } from 'undici';
import { assertLoopback } from './util.mjs';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar';

export const sha256 = (buf) => `sha256:${crypto.createHash('sha256').update(buf).digest('hex')}`;

async function expectStatus(res, want, what) {
  if (res.statusCode !== want) {
    const text = (await res.body.text()).slice(0, 300);
    throw new Error(`${what}: expected ${want}, got ${res.statusCode}: ${text}`);
  }
  await res.body.dump();
}

/**
 * Push a blob the monolithic way: POST to open an upload session, then one PUT
 * with ?digest= carrying the whole body. `body` is a Buffer or a Readable stream.
 */
export async function pushBlob(base, repo, { digest, size, body }, dispatcher, authHeaders = {}) {
  assertLoopback(base);
  const start = await request(`${base}/v2/${repo}/blobs/uploads/`, {
    method: 'POST',
    headers: { 'content-length': '0', ...authHeaders },
    dispatcher,
  });
  await expectStatus(start, 202, `POST /v2/${repo}/blobs/uploads/`);
  const location = start.headers.location;
  if (!location) throw new Error('upload POST answered 202 without a Location header');
  const url = new URL(location, base);
  assertLoopback(url.href);
  url.searchParams.append('digest', digest);
  const put = await request(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size), ...authHeaders },
    body,
    dispatcher,
  });
  await expectStatus(put, 201, `PUT upload ${digest}`);
}

export async function pushManifest(base, repo, tag, manifestBytes, authHeaders = {}) {
  assertLoopback(base);
  const res = await request(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'content-type': OCI_MANIFEST, ...authHeaders },
    body: manifestBytes,
  });
  await expectStatus(res, 201, `PUT /v2/${repo}/manifests/${tag}`);
}

/** GET a URL, check status and size, discard the body. */
export async function getAndCheck(url, { headers = {}, size } = {}) {
  assertLoopback(url);
  const res = await request(url, { headers });
  let n = 0;
  for await (const chunk of res.body) n += chunk.length;
  if (res.statusCode !== 200) throw new Error(`GET ${url}: status ${res.statusCode}`);
  if (size !== undefined && n !== size) throw new Error(`GET ${url}: got ${n} bytes, want ${size}`);
  return { headers: res.headers, bytes: n };
}

/** A tiny image: random 4 KiB layer, a config blob and an OCI image manifest. */
export function makeImage() {
  const layer = crypto.randomBytes(4096);
  const layerDigest = sha256(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: [layerDigest] },
      config: {},
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
      annotations: { 'org.opencontainers.image.title': 'outpost-bench' },
    }),
  );
  return {
    blobs: [
      { digest: sha256(config), size: config.length, body: config },
      { digest: layerDigest, size: layer.length, body: layer },
    ],
    manifest,
    manifestDigest: sha256(manifest),
  };
}
