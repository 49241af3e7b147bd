import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { createConnectedRegistry } from '../helpers/hierarchy.js';
import { mgmt } from '../helpers/management-calls.js';
import { mustMgmt, pushImage, pushIndex, startRoot, type Root } from '../sync/sync-fixture.js';

interface Entry {
  name: string;
  currentValue: number;
  limit: number | null;
  unit: string;
}

/**
 * The registry's usage figures and a repository's size (docs/operations.md, "Disk planning and
 * usage"), on a real root: every figure moves as content and resources are added, sizes are exact
 * to the byte, and a digest stored once counts once.
 */
describe('usage figures and repository size', () => {
  let root: Root;

  before(async () => {
    root = await startRoot();
  });

  after(async () => {
    await root?.node.close();
  });

  async function usage(): Promise<Map<string, Entry>> {
    const answer = (await mustMgmt(root.admin, 'GET', '/usage')) as { value: Entry[] };
    return new Map(answer.value.map((e) => [e.name, e]));
  }
  const current = async (name: string): Promise<number> => (await usage()).get(name)!.currentValue;
  const sizeOf = async (repository: string): Promise<number> =>
    ((await mustMgmt(root.admin, 'GET', `/repositories/${encodeURIComponent(repository)}`)) as { sizeBytes: number }).sizeBytes;

  test('an empty root: every figure, with the reference\'s limits and the disk as the limit of the size', async () => {
    const answer = (await mustMgmt(root.admin, 'GET', '/usage')) as { value: Entry[] };
    assert.deepEqual(answer.value.map((e) => e.name),
      ['Size', 'FilesystemUsed', 'Repositories', 'Manifests', 'Blobs', 'Tokens', 'ScopeMaps', 'ConnectedRegistries']);
    const figures = await usage();
    const disk = await statfs(root.node.dataDir, { bigint: true });
    const total = Number(disk.blocks * disk.bsize);
    assert.deepEqual(figures.get('Size'), { name: 'Size', currentValue: 0, limit: total, unit: 'Bytes' });
    const used = figures.get('FilesystemUsed')!;
    assert.equal(used.limit, total);
    assert.ok(used.currentValue > 0 && used.currentValue <= total);
    assert.deepEqual(figures.get('Repositories'), { name: 'Repositories', currentValue: 0, limit: null, unit: 'Count' });
    assert.deepEqual(figures.get('Manifests'), { name: 'Manifests', currentValue: 0, limit: null, unit: 'Count' });
    assert.deepEqual(figures.get('Blobs'), { name: 'Blobs', currentValue: 0, limit: null, unit: 'Count' });
    assert.deepEqual(figures.get('Tokens'), { name: 'Tokens', currentValue: 0, limit: 20_000, unit: 'Count' });
    assert.deepEqual(figures.get('ScopeMaps'), { name: 'ScopeMaps', currentValue: 0, limit: 20_000, unit: 'Count' }, 'the system scope maps do not count');
    assert.deepEqual(figures.get('ConnectedRegistries'), { name: 'ConnectedRegistries', currentValue: 0, limit: 50, unit: 'Count' });
  });

  test('a push moves the figures by exactly its bytes; the same content in a second repository is stored once', async () => {
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, note: 'usage' });
    const layers = [randomBytes(3000), randomBytes(5001)];
    const image = await pushImage(root.admin, 'team/app', 'v1', { layers, config });
    const bytes = Buffer.byteLength(config) + 3000 + 5001 + image.size;
    assert.equal(await sizeOf('team/app'), bytes, 'the repository size: config, layers and manifest');
    let figures = await usage();
    assert.equal(figures.get('Size')!.currentValue, bytes);
    assert.equal(figures.get('Repositories')!.currentValue, 1);
    assert.equal(figures.get('Manifests')!.currentValue, 1);
    assert.equal(figures.get('Blobs')!.currentValue, 3);

    // The same image (same config, layers, manifest) in another repository: two images, no new bytes.
    const copy = await pushImage(root.admin, 'team/copy', 'v1', { layers, config });
    assert.equal(copy.digest, image.digest);
    assert.equal(await sizeOf('team/copy'), bytes);
    figures = await usage();
    assert.equal(figures.get('Size')!.currentValue, bytes);
    assert.equal(figures.get('Repositories')!.currentValue, 2);
    assert.equal(figures.get('Manifests')!.currentValue, 2);
    assert.equal(figures.get('Blobs')!.currentValue, 3);

    // A second tag of the same manifest adds nothing; a new layer adds its bytes.
    assert.equal((await root.admin.putManifest('team/app', 'also-v1', image.body)).status, 201);
    assert.equal(await sizeOf('team/app'), bytes);
    const extra = randomBytes(777);
    const grown = await pushImage(root.admin, 'team/app', 'v2', { layers: [...layers, extra], config });
    assert.equal(await sizeOf('team/app'), bytes + 777 + grown.size, 'shared config and layers count once in a repository');
    assert.equal(await current('Size'), bytes + 777 + grown.size);
  });

  test('an index counts its own bytes and its platform manifests\' content', async () => {
    const index = await pushIndex(root.admin, 'multi', 'latest', [{ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'arm64' }]);
    let expected = Buffer.byteLength(index.body);
    for (const child of index.children) {
      expected += child.size;
      for (const blob of child.blobs) {
        const head = await root.admin.request('HEAD', `/v2/multi/blobs/${blob}`);
        expected += Number(head.headers.get('content-length'));
      }
    }
    assert.equal(await sizeOf('multi'), expected);
  });

  test('tokens, scope maps and connected registries are counted as they are created', async () => {
    const before = await usage();
    await mustMgmt(root.admin, 'POST', '/tokens', { name: 'usage-token', actions: ['repositories/team/app/content/read'] });
    await createConnectedRegistry(root.admin, { name: 'usage-edge', repositories: ['team/app'] });
    const after = await usage();
    assert.equal(after.get('Tokens')!.currentValue, before.get('Tokens')!.currentValue + 2, 'the token and the sync token');
    assert.equal(after.get('ScopeMaps')!.currentValue, before.get('ScopeMaps')!.currentValue + 2);
    assert.equal(after.get('ConnectedRegistries')!.currentValue, before.get('ConnectedRegistries')!.currentValue + 1);
  });

  test('repository show of a repository that does not exist is 404, and /usage takes no body', async () => {
    const missing = await mgmt(root.admin, 'GET', '/repositories/nothere');
    assert.equal(missing.status, 404);
    const post = await mgmt(root.admin, 'POST', '/usage', {});
    assert.equal(post.status, 404, 'only GET is served');
  });
});
