import { createHash, randomBytes } from 'node:crypto';

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** The admin password test nodes start with (OUTPOST_ADMIN_PASSWORD). */
export const TEST_ADMIN_PASSWORD = 'outpost-test-admin-password';

/** An HTTP Basic Authorization header value. */
export function basicAuth(username: string, password: string): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** `{Authorization: Basic admin:<test password>}`, for tests that fetch directly. */
export const ADMIN_HEADERS: Readonly<Record<string, string>> = { Authorization: basicAuth('admin', TEST_ADMIN_PASSWORD) };

/**
 * A tiny OCI registry client over fetch, for API tests: each call returns the raw Response.
 * It sends `authorization` (by default the test admin's Basic credentials; null for none) unless
 * the call gives its own Authorization header.
 */
export class TestClient {
  constructor(
    readonly base: string,
    readonly authorization: string | null = ADMIN_HEADERS.Authorization!,
  ) {}

  request(method: string, path: string, init: { body?: Uint8Array | string; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...(this.authorization !== null ? { Authorization: this.authorization } : {}), ...init.headers };
    return fetch(new URL(path, this.base), { method, headers, ...(init.body !== undefined ? { body: init.body } : {}) });
  }

  /** Monolithic upload of a blob; returns its digest. */
  async pushBlob(repo: string, data: Uint8Array | string): Promise<string> {
    const digest = sha256(data);
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      body: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    if (res.status !== 201) throw new Error(`blob push failed: ${res.status} ${await res.text()}`);
    return digest;
  }

  /** Pushes a config and `layers` random layers, then an image manifest; returns the manifest. */
  async pushImage(repo: string, tag: string, options: { layers?: number; extra?: Record<string, unknown> } = {}): Promise<{ digest: string; body: string; layers: string[] }> {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') });
    const configDigest = await this.pushBlob(repo, config);
    const layers: Array<{ mediaType: string; digest: string; size: number }> = [];
    for (let i = 0; i < (options.layers ?? 1); i++) {
      const data = randomBytes(1024 + i);
      layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await this.pushBlob(repo, data), size: data.length });
    }
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: Buffer.byteLength(config) },
      layers,
      ...options.extra,
    });
    const res = await this.putManifest(repo, tag, manifest);
    if (res.status !== 201) throw new Error(`manifest push failed: ${res.status} ${await res.text()}`);
    return { digest: sha256(manifest), body: manifest, layers: layers.map((l) => l.digest) };
  }

  putManifest(repo: string, reference: string, body: string, contentType = OCI_MANIFEST): Promise<Response> {
    return this.request('PUT', `/v2/${repo}/manifests/${reference}`, { body, headers: { 'Content-Type': contentType } });
  }
}

/** The first OCI error code of a response body. */
export async function errorCode(res: Response): Promise<string> {
  const body = (await res.json()) as { errors?: Array<{ code: string }> };
  return body.errors?.[0]?.code ?? '(no OCI error body)';
}
