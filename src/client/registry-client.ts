import type { Readable } from 'node:stream';
import { MANIFEST_TYPES } from '../oci/media-types.js';
import { errorOf, header, RemoteError, type HttpTransport } from './http-transport.js';

const ACCEPT_MANIFESTS = [...MANIFEST_TYPES, 'application/vnd.oci.artifact.manifest.v1+json'].join(', ');
const PAGE = 1000;

export interface FetchedManifest {
  body: Buffer;
  mediaType: string;
  /** Docker-Content-Digest as the parent answered it. */
  digest: string | null;
}

export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
}

/**
 * A parent's /v2 as the pull side of sync reads it (the zot model's `Remote`): manifests, blobs,
 * tags, catalog and referrers. Every call throws RemoteError for the parent's error answers and
 * a failing link; aborting its `signal` ends it (it rejects with the abort reason, not a RemoteError).
 */
export interface RemoteSource {
  /** GET a manifest by tag or digest. Throws RemoteError (MANIFEST_UNKNOWN when absent). */
  getManifest(repository: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest>;
  /** The digest a tag or digest resolves to, or null when the parent does not have it. */
  headManifest(repository: string, reference: string, signal?: AbortSignal): Promise<string | null>;
  hasBlob(repository: string, digest: string, signal?: AbortSignal): Promise<boolean>;
  /** Opens a blob download; the caller must consume or destroy the stream. */
  getBlob(repository: string, digest: string, signal?: AbortSignal): Promise<{ stream: Readable; size: number | null }>;
  /** Every tag of a repository; [] when the repository does not exist. */
  listTags(repository: string, signal?: AbortSignal): Promise<string[]>;
  /** Every repository the credentials may see. */
  catalog(signal?: AbortSignal): Promise<string[]>;
  /** Manifests whose subject is `digest`. */
  referrers(repository: string, digest: string, signal?: AbortSignal): Promise<ReferrerDescriptor[]>;
}

/** A parent's /v2 as the push-back side of sync writes to it (the zot model's `Destination`, seen from the edge). */
export interface RemoteDestination {
  hasBlob(repository: string, digest: string, signal?: AbortSignal): Promise<boolean>;
  /** Makes the blob present at the parent (a mount when it has it anywhere, else an upload streamed from `open()`). */
  pushBlob(repository: string, digest: string, size: number, open: () => Promise<Readable>, signal?: AbortSignal): Promise<void>;
  /** PUT a manifest under a tag or digest; returns the digest the parent computed. */
  putManifest(repository: string, reference: string, body: Buffer, mediaType: string, signal?: AbortSignal): Promise<string | null>;
  /** DELETE a tag or a manifest; false when the parent did not have it. */
  deleteManifest(repository: string, reference: string, signal?: AbortSignal): Promise<boolean>;
  /** DELETE a blob's link; false when the parent did not have it; other refusals (405, 403) throw. */
  deleteBlob(repository: string, digest: string, signal?: AbortSignal): Promise<boolean>;
}

/** Both sides: what the sync agent needs of its parent's /v2. */
export type RemoteRegistry = RemoteSource & RemoteDestination;

/**
 * The OCI Distribution API of a parent over HTTP, as a sync agent uses it: manifests, blobs
 * (streamed both ways), tags, catalog and referrers. Names and references go into URLs as they
 * are: the registry grammar leaves nothing to escape. Every call takes an optional `signal`:
 * aborting it ends the request (it rejects with the abort reason, not a RemoteError).
 */
export class RegistryClient implements RemoteRegistry {
  constructor(private readonly http: HttpTransport) {}

  /** GET a manifest by tag or digest. Throws RemoteError (MANIFEST_UNKNOWN when absent). */
  async getManifest(repository: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const res = await this.http.send('GET', `/v2/${repository}/manifests/${reference}`, { headers: { accept: ACCEPT_MANIFESTS }, signal });
    if (res.statusCode !== 200) throw await errorOf(res, `GET manifest ${repository}:${reference}`);
    const body = Buffer.from(await res.body.arrayBuffer());
    return { body, mediaType: header(res.headers, 'content-type') ?? '', digest: header(res.headers, 'docker-content-digest') ?? null };
  }

  /** The digest a tag or digest resolves to, or null when the parent does not have it. */
  async headManifest(repository: string, reference: string, signal?: AbortSignal): Promise<string | null> {
    const res = await this.http.send('HEAD', `/v2/${repository}/manifests/${reference}`, { headers: { accept: ACCEPT_MANIFESTS }, signal });
    await res.body.dump();
    if (res.statusCode === 404) return null;
    if (res.statusCode !== 200) throw new RemoteError(res.statusCode === 401 ? 'UNAUTHORIZED' : 'BAD_RESPONSE', res.statusCode, `HEAD manifest ${repository}:${reference}: HTTP ${res.statusCode}`);
    return header(res.headers, 'docker-content-digest') ?? null;
  }

  async hasBlob(repository: string, digest: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.http.send('HEAD', `/v2/${repository}/blobs/${digest}`, { signal });
    await res.body.dump();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw new RemoteError(res.statusCode === 401 ? 'UNAUTHORIZED' : 'BAD_RESPONSE', res.statusCode, `HEAD blob ${repository}@${digest}: HTTP ${res.statusCode}`);
  }

  /** Opens a blob download; the caller must consume or destroy the stream. */
  async getBlob(repository: string, digest: string, signal?: AbortSignal): Promise<{ stream: Readable; size: number | null }> {
    const res = await this.http.send('GET', `/v2/${repository}/blobs/${digest}`, { timeoutMs: 60_000, signal });
    if (res.statusCode !== 200) throw await errorOf(res, `GET blob ${repository}@${digest}`);
    const length = header(res.headers, 'content-length');
    return { stream: res.body, size: length === undefined ? null : Number(length) };
  }

  /**
   * Uploads a blob unless the parent can mount it: a cross-repository mount first (no bytes move
   * when the parent has it anywhere), else one monolithic POST+PUT streamed from `open()`.
   */
  async pushBlob(repository: string, digest: string, size: number, open: () => Promise<Readable>, signal?: AbortSignal): Promise<void> {
    const start = await this.http.send('POST', `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(digest)}`, { signal });
    if (start.statusCode === 201) {
      await start.body.dump();
      return;
    }
    if (start.statusCode !== 202) throw await errorOf(start, `start upload ${repository}@${digest}`);
    await start.body.dump();
    const location = header(start.headers, 'location');
    if (!location) throw new RemoteError('BAD_RESPONSE', 202, `start upload ${repository}: no Location`);
    const url = new URL(location, `${this.http.baseUrl}/`);
    url.searchParams.set('digest', digest);
    const res = await this.http.send('PUT', `${url.pathname}${url.search}`, {
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: await open(),
      timeoutMs: 120_000,
      signal,
    });
    if (res.statusCode !== 201) throw await errorOf(res, `upload ${repository}@${digest}`);
    await res.body.dump();
  }

  /** PUT a manifest under a tag or digest; returns the digest the parent computed. */
  async putManifest(repository: string, reference: string, body: Buffer, mediaType: string, signal?: AbortSignal): Promise<string | null> {
    const res = await this.http.send('PUT', `/v2/${repository}/manifests/${reference}`, { headers: { 'content-type': mediaType }, body, signal });
    if (res.statusCode !== 201) throw await errorOf(res, `PUT manifest ${repository}:${reference}`);
    await res.body.dump();
    return header(res.headers, 'docker-content-digest') ?? null;
  }

  /** DELETE a tag or a manifest; false when the parent did not have it. */
  async deleteManifest(repository: string, reference: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.http.send('DELETE', `/v2/${repository}/manifests/${reference}`, { signal });
    if (res.statusCode === 404) {
      await res.body.dump();
      return false;
    }
    if (res.statusCode !== 202) throw await errorOf(res, `DELETE manifest ${repository}:${reference}`);
    await res.body.dump();
    return true;
  }

  /**
   * DELETE a blob's link in a repository; false when the parent did not have it (404). Any other
   * refusal (405 while a manifest there still references it, 403) throws a RemoteError.
   */
  async deleteBlob(repository: string, digest: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.http.send('DELETE', `/v2/${repository}/blobs/${digest}`, { signal });
    if (res.statusCode === 404) {
      await res.body.dump();
      return false;
    }
    if (res.statusCode !== 202) throw await errorOf(res, `DELETE blob ${repository}@${digest}`);
    await res.body.dump();
    return true;
  }

  /** Every tag of a repository (all pages); [] when the repository does not exist. */
  async listTags(repository: string, signal?: AbortSignal): Promise<string[]> {
    const tags: string[] = [];
    let last = '';
    for (;;) {
      const res = await this.http.send('GET', `/v2/${repository}/tags/list?n=${PAGE}${last ? `&last=${encodeURIComponent(last)}` : ''}`, { signal });
      if (res.statusCode === 404) {
        await res.body.dump();
        return tags;
      }
      if (res.statusCode !== 200) throw await errorOf(res, `GET tags ${repository}`);
      const page = ((await res.body.json()) as { tags?: string[] | null }).tags ?? [];
      tags.push(...page);
      if (page.length < PAGE) return tags;
      last = page[page.length - 1]!;
    }
  }

  /** Every repository the credentials may see (all pages). */
  async catalog(signal?: AbortSignal): Promise<string[]> {
    const names: string[] = [];
    let last = '';
    for (;;) {
      const res = await this.http.send('GET', `/v2/_catalog?n=${PAGE}${last ? `&last=${encodeURIComponent(last)}` : ''}`, { signal });
      if (res.statusCode !== 200) throw await errorOf(res, 'GET catalog');
      const page = ((await res.body.json()) as { repositories?: string[] | null }).repositories ?? [];
      names.push(...page);
      if (page.length < PAGE) return names;
      last = page[page.length - 1]!;
    }
  }

  /** Manifests whose subject is `digest`. */
  async referrers(repository: string, digest: string, signal?: AbortSignal): Promise<ReferrerDescriptor[]> {
    const res = await this.http.send('GET', `/v2/${repository}/referrers/${digest}`, { signal });
    if (res.statusCode === 404) {
      await res.body.dump();
      return [];
    }
    if (res.statusCode !== 200) throw await errorOf(res, `GET referrers ${repository}@${digest}`);
    return ((await res.body.json()) as { manifests?: ReferrerDescriptor[] }).manifests ?? [];
  }
}
