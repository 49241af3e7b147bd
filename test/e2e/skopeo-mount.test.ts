import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestNode, tempDir, type TestNode } from '../helpers/test-node.js';
import { TestClient, ADMIN_HEADERS } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';
import { writeImageLayout } from '../helpers/oci-layout.js';

const run = promisify(execFile);

/**
 * skopeo signs in with a token through the Bearer flow (a JWT per scope set) and, copying an image
 * between two repositories of one registry, mounts the layers it saw in the source: the JWT it
 * asks for then grants pull on the source and push on the target, and the mount must succeed.
 */
describe('skopeo mounts layers across repositories with a token (Bearer JWT)', () => {
  let node: TestNode;
  let host: string;
  let work: { path: string; cleanup(): Promise<void> };

  /** skopeo with --debug, signed in as `token`; returns its combined output. */
  async function skopeo(...args: string[]): Promise<string> {
    try {
      const { stdout, stderr } = await run('skopeo', ['--debug', '--policy', join(work.path, 'policy.json'), ...args], {
        timeout: 60_000,
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
        env: { ...process.env, REGISTRY_AUTH_FILE: join(work.path, 'auth.json'), HOME: work.path },
      });
      return `${stdout}\n${stderr}`;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`skopeo ${args.join(' ')} failed: ${e.stderr?.slice(-2000) ?? e.message}`);
    }
  }

  before(async () => {
    node = await startTestNode();
    host = new URL(node.url).host;
    work = await tempDir('outpost-skopeo-mount-');
    await writeFile(join(work.path, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    const actions = ['content/read', 'content/write', 'metadata/read', 'metadata/write'];
    const created = await mgmt(new TestClient(node.url), 'POST', '/tokens', {
      name: 'tok-skopeo',
      actions: [...actions.map((a) => `repositories/team/app/${a}`), ...actions.map((a) => `repositories/team/new/${a}`)],
    });
    assert.equal(created.status, 201);
    const password = (created.json as { credentials: { passwords: Array<{ value: string }> } }).credentials.passwords[0]!.value;
    const auth = Buffer.from(`tok-skopeo:${password}`).toString('base64');
    await writeFile(join(work.path, 'auth.json'), JSON.stringify({ auths: { [host]: { auth } } }));
  });

  after(async () => {
    await node.close();
    await work.cleanup();
  });

  test('copy team/app → team/new: every layer is mounted, none uploaded again', async () => {
    const src = join(work.path, 'src');
    const image = await writeImageLayout(src, { tag: 'v1', layers: 2, layerSize: 64 * 1024 });
    await skopeo('copy', '--dest-tls-verify=false', `oci:${src}:v1`, `docker://${host}/team/app:v1`);

    const output = await skopeo('copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${host}/team/app:v1`, `docker://${host}/team/new:v1`);
    // skopeo asked for a JWT with both scopes, then mounted from team/app.
    assert.match(output, /scope=repository%3Ateam%2Fnew%3Apull%2Cpush&scope=repository%3Ateam%2Fapp%3Apull/);
    const mounted = output.split('\n').filter((line) => line.includes('mount OK')).length;
    assert.equal(mounted, 2, `both layers mounted:\n${output.split('\n').filter((l) => /mount/i.test(l)).join('\n')}`);

    const manifest = await fetch(new URL('/v2/team/new/manifests/v1', node.url), { headers: { ...ADMIN_HEADERS, Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(manifest.status, 200);
    const layers = (JSON.parse(await manifest.text()) as { layers: Array<{ digest: string }> }).layers.map((l) => l.digest);
    assert.deepEqual(layers, image.layerDigests);
  });
});
