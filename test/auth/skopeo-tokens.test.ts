import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestNode, tempDir, type TestNode } from '../helpers/test-node.js';
import { TestClient, TEST_ADMIN_PASSWORD } from '../helpers/oci-client.js';
import { writeImageLayout } from '../helpers/oci-layout.js';

const run = promisify(execFile);

/** skopeo with credentials: a scoped token pulls and pushes where it may and is refused elsewhere (Docker token flow). */
describe('skopeo with token credentials', () => {
  let node: TestNode;
  let host: string;
  let work: { path: string; cleanup(): Promise<void> };
  let policy: string;
  let tokenCreds: string;

  async function skopeo(...args: string[]): Promise<{ ok: boolean; output: string }> {
    const [command, ...rest] = args as [string, ...string[]];
    try {
      const { stdout } = await run('skopeo', ['--policy', policy, command, ...rest], {
        timeout: 60_000,
        encoding: 'utf8',
        env: { ...process.env, REGISTRY_AUTH_FILE: join(work.path, 'auth.json'), HOME: work.path },
      });
      return { ok: true, output: stdout };
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      return { ok: false, output: e.stderr ?? e.message };
    }
  }

  before(async () => {
    node = await startTestNode();
    host = new URL(node.url).host;
    work = await tempDir('outpost-skopeo-tokens-');
    policy = join(work.path, 'policy.json');
    await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    await writeFile(join(work.path, 'auth.json'), JSON.stringify({ auths: {} }));
    const admin = new TestClient(node.url);
    await admin.pushImage('private/base', 'v1');
    const res = await admin.request('POST', '/mgmt/v1/tokens', {
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        name: 'ci-robot',
        actions: ['content/read', 'content/write', 'metadata/read', 'metadata/write'].map((a) => `repositories/scoped/*/${a}`),
      }),
    });
    assert.equal(res.status, 201);
    const body = (await res.json()) as { credentials: { passwords: Array<{ value: string }> } };
    tokenCreds = `ci-robot:${body.credentials.passwords[1]!.value}`;
  });

  after(async () => {
    await node.close();
    await work.cleanup();
  });

  test('push and pull where the scope map allows; denied elsewhere', async () => {
    const src = join(work.path, 'src');
    await writeImageLayout(src, { tag: 'v1', layers: 2, layerSize: 4096 });
    const pushed = await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', tokenCreds, `oci:${src}:v1`, `docker://${host}/scoped/app:v1`);
    assert.ok(pushed.ok, pushed.output);
    const pulled = await skopeo('copy', '--src-tls-verify=false', '--src-creds', tokenCreds, `docker://${host}/scoped/app:v1`, `oci:${join(work.path, 'out')}:v1`);
    assert.ok(pulled.ok, pulled.output);
    const tags = await skopeo('list-tags', '--tls-verify=false', '--creds', tokenCreds, `docker://${host}/scoped/app`);
    assert.ok(tags.ok, tags.output);
    assert.deepEqual((JSON.parse(tags.output) as { Tags: string[] }).Tags, ['v1']);

    const pushElsewhere = await skopeo('copy', '--dest-tls-verify=false', '--dest-creds', tokenCreds, `oci:${src}:v1`, `docker://${host}/other/app:v1`);
    assert.ok(!pushElsewhere.ok);
    assert.match(pushElsewhere.output, /denied|unauthorized|authentication required|403|forbidden/i);
    const pullElsewhere = await skopeo('inspect', '--tls-verify=false', '--creds', tokenCreds, `docker://${host}/private/base:v1`);
    assert.ok(!pullElsewhere.ok);
    assert.match(pullElsewhere.output, /denied|unauthorized|authentication required|403|forbidden/i);
    const wrong = await skopeo('inspect', '--tls-verify=false', '--creds', 'ci-robot:wrong', `docker://${host}/scoped/app:v1`);
    assert.ok(!wrong.ok);
    const asAdmin = await skopeo('inspect', '--tls-verify=false', '--creds', `admin:${TEST_ADMIN_PASSWORD}`, `docker://${host}/private/base:v1`);
    assert.ok(asAdmin.ok, asAdmin.output);
  });
});
