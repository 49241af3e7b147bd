import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { sha256, type TestClient } from './oci-client.js';
import { MANIFEST_ACCEPT } from './sync-e2e.js';

/**
 * Tools of the backup and restore tests: what a backup's metadata snapshot holds, read straight
 * from its SQLite file (independently of the code under test), and a check that a node serves
 * exactly that, byte for byte.
 */

/** What a node holds (or a snapshot held): repositories, tags, manifests and blob links. */
export interface HeldContent {
  repositories: string[];
  /** repository → tag → manifest digest. */
  tags: Map<string, Map<string, string>>;
  /** `repository@digest` of every manifest, tagged or not. */
  manifests: string[];
  /** `repository@digest` of every blob link. */
  blobLinks: string[];
}

/** Reads what the metadata database at `path` holds (read-only: nothing of it changes). */
export function contentOfDatabase(path: string): HeldContent {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const repositories = db.prepare<[], string>('SELECT name FROM repositories ORDER BY name').pluck().all();
    const tags = new Map<string, Map<string, string>>();
    for (const row of db.prepare<[], { repository: string; tag: string; digest: string }>(
      'SELECT r.name AS repository, t.name AS tag, t.digest FROM tags t JOIN repositories r ON r.id = t.repository_id ORDER BY r.name, t.name').all()) {
      if (!tags.has(row.repository)) tags.set(row.repository, new Map());
      tags.get(row.repository)!.set(row.tag, row.digest);
    }
    const pairs = (table: string): string[] => db.prepare<[], string>(
      `SELECT r.name || '@' || x.digest FROM ${table} x JOIN repositories r ON r.id = x.repository_id ORDER BY 1`).pluck().all();
    return { repositories, tags, manifests: pairs('manifests'), blobLinks: pairs('repository_blobs') };
  } finally {
    db.close();
  }
}

/** What the backup in `folder` holds (its metadata snapshot). */
export function contentOfBackup(folder: string): HeldContent {
  return contentOfDatabase(join(folder, 'metadata.db'));
}

/**
 * Asserts that the node behind `client` serves exactly `expected`: the catalog, every tag list
 * and the digest each tag resolves to, every manifest by digest and every linked blob, each with
 * bytes that hash to its digest. Returns the number of blob bytes checked.
 */
export async function assertServesExactly(client: TestClient, expected: HeldContent): Promise<number> {
  const catalog = await client.request('GET', '/v2/_catalog?n=100000');
  assert.equal(catalog.status, 200);
  assert.deepEqual(((await catalog.json()) as { repositories: string[] }).repositories, expected.repositories, 'the catalog');
  for (const repository of expected.repositories) {
    const res = await client.request('GET', `/v2/${repository}/tags/list?n=100000`);
    assert.equal(res.status, 200, `tags of ${repository}`);
    const tags = ((await res.json()) as { tags: string[] | null }).tags ?? [];
    const want = expected.tags.get(repository) ?? new Map<string, string>();
    assert.deepEqual(tags, [...want.keys()], `the tags of ${repository}`);
    for (const [tag, digest] of want) {
      const head = await client.request('HEAD', `/v2/${repository}/manifests/${tag}`, { headers: { Accept: MANIFEST_ACCEPT } });
      assert.equal(head.status, 200, `${repository}:${tag}`);
      assert.equal(head.headers.get('docker-content-digest'), digest, `${repository}:${tag} resolves to the snapshot's digest`);
    }
  }
  for (const entry of expected.manifests) {
    const [repository, digest] = entry.split('@') as [string, string];
    const res = await client.request('GET', `/v2/${repository}/manifests/${digest}`, { headers: { Accept: MANIFEST_ACCEPT } });
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(res.status, 200, `manifest ${entry}`);
    assert.equal(sha256(body), digest, `manifest ${entry} is served whole`);
  }
  let bytes = 0;
  for (const entry of expected.blobLinks) {
    const [repository, digest] = entry.split('@') as [string, string];
    const res = await client.request('GET', `/v2/${repository}/blobs/${digest}`);
    const body = new Uint8Array(await res.arrayBuffer());
    assert.equal(res.status, 200, `blob ${entry}`);
    assert.equal(sha256(body), digest, `blob ${entry} is served whole`);
    bytes += body.length;
  }
  return bytes;
}

/** Leftovers of a staged backup or restore beside `target` or inside it (there must be none after a failure). */
export async function partialLeftovers(target: string): Promise<string[]> {
  const partial = /(backup|restore)-partial-/;
  const beside = (await readdir(dirname(target))).filter((name) => name.startsWith(`.${basename(target)}.`) && partial.test(name));
  const inside = await readdir(target).then((names) => names.filter((name) => partial.test(name)), () => []);
  return [...beside, ...inside];
}
