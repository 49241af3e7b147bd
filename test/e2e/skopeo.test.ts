import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestNode, tempDir, REPO_ROOT, type TestNode } from '../helpers/test-node.js';
import { errorCode, sha256, ADMIN_HEADERS, TEST_ADMIN_PASSWORD } from '../helpers/oci-client.js';
import { writeImageLayout, writeIndexLayout, layoutBlobPath, OCI_INDEX, OCI_MANIFEST } from '../helpers/oci-layout.js';

const run = promisify(execFile);

/**
 * skopeo end to end against a real node: a real client that pushes with chunked uploads and
 * cross-checks digests, so this is where protocol mismatches show up.
 */
describe('skopeo against Outpost', () => {
  let node: TestNode;
  let host: string;
  let work: { path: string; cleanup(): Promise<void> };
  let policy: string;

  /** Runs skopeo with a permissive policy file and a bounded time; returns stdout. */
  async function skopeo(...args: string[]): Promise<string> {
    const [command, ...rest] = args as [string, ...string[]];
    try {
      const { stdout } = await run('skopeo', ['--policy', policy, command, ...rest], {
        timeout: 60_000,
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
        // No registry config or credentials of the machine leak into the test.
        env: { ...process.env, REGISTRY_AUTH_FILE: join(work.path, 'auth.json'), HOME: work.path },
      });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
    }
  }

  const get = (path: string, accept?: string): Promise<Response> =>
    fetch(new URL(path, node.url), { headers: { ...ADMIN_HEADERS, ...(accept ? { Accept: accept } : {}) } });

  before(async () => {
    node = await startTestNode();
    host = new URL(node.url).host;
    work = await tempDir('outpost-skopeo-');
    policy = join(work.path, 'policy.json');
    await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    // The admin's credentials, as `skopeo login` would store them.
    const auth = Buffer.from(`admin:${TEST_ADMIN_PASSWORD}`).toString('base64');
    await writeFile(join(work.path, 'auth.json'), JSON.stringify({ auths: { [host]: { auth } } }));
  });

  after(async () => {
    await node.close();
    await work.cleanup();
  });

  test('copy a layout in and back out with --preserve-digests keeps every byte', async () => {
    const src = join(work.path, 'src-image');
    const image = await writeImageLayout(src, { tag: 'v1', layers: 3, layerSize: 200 * 1024 });
    await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${host}/e2e/image:v1`);

    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host}/e2e/image:v1`);
    assert.equal(sha256(raw), image.digest, 'the manifest skopeo reads back is byte-identical to the pushed one');

    // Every blob is served under its digest, and its bytes hash to that digest.
    for (const digest of image.blobs.filter((d) => d !== image.digest)) {
      const res = await get(`/v2/e2e/image/blobs/${digest}`);
      assert.equal(res.status, 200, digest);
      assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), digest);
    }

    const dest = join(work.path, 'dest-image');
    await skopeo('copy', '--preserve-digests', '--src-tls-verify=false', `docker://${host}/e2e/image:v1`, `oci:${dest}:v1`);
    const index = JSON.parse(await readFile(join(dest, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; mediaType: string }> };
    assert.equal(index.manifests.length, 1);
    assert.equal(index.manifests[0]!.digest, image.digest);
    assert.equal(index.manifests[0]!.mediaType, OCI_MANIFEST);
    for (const digest of image.blobs) {
      const [a, b] = await Promise.all([readFile(layoutBlobPath(src, digest)), readFile(layoutBlobPath(dest, digest))]);
      assert.ok(a.equals(b), `blob ${digest} differs after the round trip`);
      assert.equal(sha256(b), digest);
    }
  });

  test('copy --all of a multi-platform index: index and every child retrievable by digest', async () => {
    const src = join(work.path, 'src-index');
    const written = await writeIndexLayout(src, {
      tag: 'multi',
      platforms: [
        { os: 'linux', architecture: 'amd64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ],
    });
    await skopeo('copy', '--all', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:multi`, `docker://${host}/e2e/multi:multi`);

    const byTag = await get('/v2/e2e/multi/manifests/multi', OCI_INDEX);
    assert.equal(byTag.status, 200);
    assert.equal(byTag.headers.get('docker-content-digest'), written.digest);
    assert.equal(byTag.headers.get('content-type'), OCI_INDEX);

    const byDigest = await get(`/v2/e2e/multi/manifests/${written.digest}`, OCI_INDEX);
    assert.equal(byDigest.status, 200);
    assert.equal(sha256(new Uint8Array(await byDigest.arrayBuffer())), written.digest);

    for (const child of written.children) {
      const res = await get(`/v2/e2e/multi/manifests/${child.digest}`, OCI_MANIFEST);
      assert.equal(res.status, 200, child.digest);
      assert.equal(res.headers.get('content-type'), OCI_MANIFEST);
      assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), child.digest);
      for (const blob of [child.configDigest, ...child.layerDigests]) {
        const head = await fetch(new URL(`/v2/e2e/multi/blobs/${blob}`, node.url), { method: 'HEAD', headers: ADMIN_HEADERS });
        assert.equal(head.status, 200, blob);
      }
    }

    // skopeo reads the index back unchanged, too.
    const raw = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host}/e2e/multi:multi`);
    assert.equal(sha256(raw), written.digest);
  });

  test('list-tags, nested repository names and delete', async () => {
    const src = join(work.path, 'src-tags');
    const tags = ['1.0', '1.1', 'latest'];
    const images = new Map<string, string>();
    for (const tag of tags) images.set(tag, (await writeImageLayout(src, { tag, layers: 1, layerSize: 4096 })).digest);
    for (const tag of tags) {
      await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${src}:${tag}`, `docker://${host}/a/b/c:${tag}`);
    }

    const listed = JSON.parse(await skopeo('list-tags', '--tls-verify=false', `docker://${host}/a/b/c`)) as { Repository: string; Tags: string[] };
    assert.deepEqual([...listed.Tags].sort(), [...tags].sort());
    assert.match(listed.Repository, /a\/b\/c$/);

    for (const [tag, digest] of images) {
      const res = await get(`/v2/a/b/c/manifests/${tag}`, OCI_MANIFEST);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('docker-content-digest'), digest);
      await res.arrayBuffer();
    }

    // skopeo delete resolves the tag and deletes the manifest by digest.
    await skopeo('delete', '--tls-verify=false', `docker://${host}/a/b/c:1.0`);
    const gone = await get(`/v2/a/b/c/manifests/${images.get('1.0')}`, OCI_MANIFEST);
    assert.equal(gone.status, 404);
    assert.equal(await errorCode(gone), 'MANIFEST_UNKNOWN');
    const goneTag = await get('/v2/a/b/c/manifests/1.0', OCI_MANIFEST);
    assert.equal(goneTag.status, 404);
    assert.equal(await errorCode(goneTag), 'MANIFEST_UNKNOWN');

    // The other tags are untouched.
    const still = await get('/v2/a/b/c/manifests/latest', OCI_MANIFEST);
    assert.equal(still.status, 200);
    assert.equal(still.headers.get('docker-content-digest'), images.get('latest'));
    await still.arrayBuffer();
    const after = JSON.parse(await skopeo('list-tags', '--tls-verify=false', `docker://${host}/a/b/c`)) as { Tags: string[] };
    assert.deepEqual([...after.Tags].sort(), ['1.1', 'latest']);
  });

  test('the committed examples/hello layout copies in as the README says', async () => {
    const layout = join(REPO_ROOT, 'examples', 'hello');
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as {
      manifests: Array<{ digest: string; annotations?: Record<string, string> }>;
    };
    const entry = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'latest');
    assert.ok(entry, 'examples/hello has a latest tag');
    await skopeo('copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${host}/hello:latest`);
    const res = await get('/v2/hello/manifests/latest', OCI_MANIFEST);
    assert.equal(res.status, 200);
    assert.equal(sha256(new Uint8Array(await res.arrayBuffer())), entry.digest);
  });
});
