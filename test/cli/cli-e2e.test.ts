import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { spawnNode, tempDir, OUTPOST_BIN, type NodeProcess } from '../helpers/test-node.js';
import { TestClient } from '../helpers/oci-client.js';
import { cliConfigPath } from '../../src/config/cli-config.js';

const ADMIN_PASSWORD = 'cli-test-admin-password-1';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The registry client of the tests, as admin with Basic credentials on /v2. */
class AdminClient extends TestClient {
  override request(method: string, path: string, init: { body?: Uint8Array | string; headers?: Record<string, string> } = {}): Promise<Response> {
    const authorization = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
    return super.request(method, path, { ...init, headers: { ...init.headers, Authorization: authorization } });
  }
}

/**
 * The real `bin/outpost` against a real root node (`bin/outpost serve` as a child process):
 * every command group, every output format, errors as one line on stderr.
 */
describe('outpost CLI against a real root', () => {
  let node: NodeProcess;
  let data: { path: string; cleanup(): Promise<void> };
  let home: { path: string; cleanup(): Promise<void> };

  /** Env of a user with nothing configured but this test's config folder. */
  function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('OUTPOST_')) env[key] = value;
    return { ...env, HOME: home.path, XDG_CONFIG_HOME: home.path, ...extra };
  }

  function outpostWith(env: Record<string, string>, ...args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(process.execPath, [OUTPOST_BIN, ...args], { env: cleanEnv(env), encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  /** As admin, registry and credentials from the environment. */
  function outpost(...args: string[]): Promise<Run> {
    return outpostWith({ OUTPOST_REGISTRY: node.url, OUTPOST_USERNAME: 'admin', OUTPOST_PASSWORD: ADMIN_PASSWORD }, ...args);
  }

  async function ok(...args: string[]): Promise<string> {
    const run = await outpost(...args);
    assert.equal(run.code, 0, `outpost ${args.join(' ')} failed: ${run.stderr}`);
    assert.equal(run.stderr, '');
    return run.stdout;
  }

  async function okJson<T>(...args: string[]): Promise<T> {
    return JSON.parse(await ok(...args)) as T;
  }

  /** A failure is one `outpost: …` line on stderr, nothing on stdout, and the exit code. */
  function assertOneLineError(run: Run, code: number, message: RegExp): void {
    assert.equal(run.code, code, `exit code; stderr: ${run.stderr}`);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /^outpost: [^\n]+\n$/, `one line: ${JSON.stringify(run.stderr)}`);
    assert.match(run.stderr, message);
  }

  before(async () => {
    data = await tempDir();
    home = await tempDir('outpost-cli-home-');
    node = await spawnNode(data.path, [], { OUTPOST_ADMIN_PASSWORD: ADMIN_PASSWORD });
    const client = new AdminClient(node.url);
    await client.pushImage('hello', 'v1');
    await client.pushImage('hello', 'v2');
    await client.pushImage('team/app', 'latest');
  });

  after(async () => {
    await node?.stop();
    await data?.cleanup();
    await home?.cleanup();
  });

  test('--help on every command', async () => {
    const commands = [
      [], ['login'], ['logout'],
      ['token'], ['token', 'create'], ['token', 'list'], ['token', 'show'], ['token', 'update'], ['token', 'delete'],
      ['token', 'credential'], ['token', 'credential', 'generate'], ['token', 'credential', 'delete'],
      ['scope-map'], ['scope-map', 'create'], ['scope-map', 'list'], ['scope-map', 'show'], ['scope-map', 'update'], ['scope-map', 'delete'],
      ['repository'], ['repository', 'list'], ['repository', 'show'], ['repository', 'show-tags'], ['repository', 'delete'], ['repository', 'untag'],
    ];
    for (const command of commands) {
      const run = await outpost(...command, '--help');
      assert.equal(run.code, 0, command.join(' '));
      assert.match(run.stdout, /^Usage: outpost/, command.join(' '));
    }
    assert.match(await ok('scope-map', 'update', '--help'), /--add-repository/);
    assert.doesNotMatch(await ok('scope-map', 'update', '--help'), /--add </);
  });

  test('scope-map create with repeated --repository groups, show, list, update, delete', async () => {
    const created = await okJson<{ name: string; description: string; actions: string[]; type: string; id: string }>(
      'scope-map', 'create', '-n', 'hello-world-scopemap', '--description', 'line 1',
      '--repository', 'hello', 'content/read', 'metadata/read', '--repository', 'Other', 'Content/Write',
      '--gateway', 'edge01', 'config/read',
    );
    assert.equal(created.name, 'hello-world-scopemap');
    assert.equal(created.description, 'line 1');
    assert.equal(created.type, 'UserDefined');
    assert.equal(created.id, 'scopeMaps/hello-world-scopemap');
    assert.deepEqual([...created.actions].sort(), [
      'gateway/edge01/config/read',
      'repositories/hello/content/read',
      'repositories/hello/metadata/read',
      'repositories/other/content/write',
    ]);

    const shown = await okJson<{ name: string }>('scope-map', 'show', '-n', 'hello-world-scopemap');
    assert.equal(shown.name, 'hello-world-scopemap');

    const names = await okJson<string[]>('scope-map', 'list', '--query', '[].name');
    for (const name of ['_repositories_admin', '_repositories_pull', '_repositories_push', 'hello-world-scopemap']) assert.ok(names.includes(name), name);
    const table = await ok('scope-map', 'list', '-o', 'table');
    assert.match(table, /^NAME\s+TYPE\s+CREATION DATE\s+DESCRIPTION\n-+/);
    assert.match(table, /\nhello-world-scopemap\s+UserDefined\s+\S+\s+line 1\n/);
    assert.equal(await ok('scope-map', 'list', '--query', "[?type=='UserDefined'].name", '-o', 'tsv'), 'hello-world-scopemap\n');

    const updated = await okJson<{ actions: string[]; description: string }>(
      'scope-map', 'update', '-n', 'hello-world-scopemap', '--description', 'line 1 and 2',
      '--add-repository', 'team/*', 'content/read', '--remove-repository', 'other', 'content/write',
      '--remove-gateway', 'edge01', 'config/read', '--add', 'hello', 'content/write',
    );
    assert.equal(updated.description, 'line 1 and 2');
    assert.deepEqual([...updated.actions].sort(), [
      'repositories/hello/content/read',
      'repositories/hello/content/write',
      'repositories/hello/metadata/read',
      'repositories/team/*/content/read',
    ]);
    const yaml = parseYaml(await ok('scope-map', 'show', '-n', 'hello-world-scopemap', '-o', 'yaml')) as { actions: string[] };
    assert.equal(yaml.actions.length, 4);

    await ok('scope-map', 'create', '-n', 'throwaway-map', '--repository', 'x', 'content/read');
    assert.equal(await ok('scope-map', 'delete', '-n', 'throwaway-map', '--yes'), '');
    assertOneLineError(await outpost('scope-map', 'show', '-n', 'throwaway-map'), 1, /^outpost: Scope map 'throwaway-map' not found\.$/m);
  });

  test('scope-map errors: client-side validation, conflict, system maps', async () => {
    assertOneLineError(await outpost('scope-map', 'create', '-n', 'bad-map1', '--repository', 'hello'), 2, /At least one action must be specified with "hello"\./);
    assertOneLineError(await outpost('scope-map', 'create', '-n', 'bad-map1', '--repository', 'hello', 'content/push'), 2, /Invalid action "content\/push" provided\./);
    assertOneLineError(await outpost('scope-map', 'create', '--repository', 'hello', 'content/read'), 1, /required option '-n, --name <name>' not specified/);
    assertOneLineError(await outpost('scope-map', 'create', '-n', 'bad-map1', '--repository', 'a/*/b', 'content/read'), 1, /^outpost: .+/);
    await ok('scope-map', 'create', '-n', 'dup-map1', '--repository', 'x', 'content/read');
    const dup = await outpost('scope-map', 'create', '-n', 'dup-map1', '--repository', 'x', 'content/read');
    assertOneLineError(dup, 1, /^outpost: .+/);
    assertOneLineError(await outpost('scope-map', 'delete', '-n', '_repositories_pull', '--yes'), 1, /^outpost: .+/);
    assertOneLineError(await outpost('scope-map', 'delete', '-n', 'dup-map1'), 2, /no tty available\. Use --yes\./);
  });

  test('token create prints the passwords once; they work on /v2; list, show and update do not show them', async () => {
    await ok('scope-map', 'create', '-n', 'pull-hello', '--repository', 'hello', 'content/read', 'metadata/read');
    const created = await okJson<{ name: string; status: string; scopeMapId: string; id: string; credentials: { passwords: Array<{ name: string; value?: string; expiry: string | null }> } }>(
      'token', 'create', '-n', 't-line1', '--scope-map', 'pull-hello',
    );
    assert.equal(created.name, 't-line1');
    assert.equal(created.status, 'enabled');
    assert.equal(created.scopeMapId, 'scopeMaps/pull-hello');
    assert.equal(created.id, 'tokens/t-line1');
    assert.deepEqual(created.credentials.passwords.map((p) => p.name).sort(), ['password1', 'password2']);
    const password1 = created.credentials.passwords.find((p) => p.name === 'password1')!.value!;
    assert.ok(password1.length >= 20);

    const basic = `Basic ${Buffer.from(`t-line1:${password1}`).toString('base64')}`;
    const allowed = await fetch(`${node.url}/v2/hello/tags/list`, { headers: { authorization: basic } });
    assert.equal(allowed.status, 200);
    assert.deepEqual(((await allowed.json()) as { tags: string[] }).tags.sort(), ['v1', 'v2']);

    const shown = await ok('token', 'show', '-n', 't-line1');
    assert.doesNotMatch(shown, /"value"/);
    assert.doesNotMatch(await ok('token', 'list'), /"value"/);
    assert.match(await ok('token', 'list', '-o', 'table'), /^NAME\s+STATUS\s+SCOPE MAP\s+PASSWORD1 EXPIRY\s+PASSWORD2 EXPIRY\s+CREATION DATE\n-+.*\nt-line1\s+enabled\s+pull-hello\s/s);
    assert.match(await ok('token', 'list', '-o', 'tsv'), /^t-line1\tenabled\tscopeMaps\/pull-hello\t/m);

    const disabled = await okJson<{ status: string; scopeMapId: string }>('token', 'update', '-n', 't-line1', '--status', 'disabled');
    assert.equal(disabled.status, 'disabled');
    assert.equal(disabled.scopeMapId, 'scopeMaps/pull-hello');
    const denied = await fetch(`${node.url}/v2/hello/tags/list`, { headers: { authorization: basic } });
    assert.equal(denied.status, 401);
    await ok('token', 'update', '-n', 't-line1', '--status', 'enabled');
  });

  test('token create with --repository makes <token>-scope-map; --no-passwords; expiry; table of new passwords', async () => {
    const created = await okJson<{ scopeMapId: string; credentials: { passwords: Array<{ name: string; value?: string; expiry: string | null }> } }>(
      'token', 'create', '-n', 't-line2', '--repository', 'team/app', 'content/read', 'metadata/read', '--expiration-in-days', '30',
    );
    assert.equal(created.scopeMapId, 'scopeMaps/t-line2-scope-map');
    for (const p of created.credentials.passwords) {
      assert.ok(p.value);
      const days = (Date.parse(p.expiry!) - Date.now()) / 86_400_000;
      assert.ok(days > 29.9 && days < 30.1, `expiry ${p.expiry}`);
    }
    const map = await okJson<{ actions: string[] }>('scope-map', 'show', '-n', 't-line2-scope-map');
    assert.deepEqual([...map.actions].sort(), ['repositories/team/app/content/read', 'repositories/team/app/metadata/read']);

    const bare = await okJson<{ status: string; credentials: { passwords: Array<{ value?: string }> } }>(
      'token', 'create', '-n', 't-line3', '--scope-map', '_repositories_pull', '--no-passwords', '--status', 'disabled',
    );
    assert.equal(bare.status, 'disabled');
    assert.ok(bare.credentials.passwords.every((p) => p.value === undefined));

    const table = await ok('token', 'create', '-n', 't-line4', '--scope-map', '_repositories_pull', '--expiration', '2099-01-02T03:04:05Z', '-o', 'table');
    assert.match(table, /^PASSWORD\s+VALUE\s+EXPIRY\n-+\s+-+\s+-+\npassword1\s+\S+\s+2099-01-02T03:04:05/);
    assert.equal(await ok('token', 'create', '-n', 't-line5', '--scope-map', '_repositories_pull', '--query', 'length(credentials.passwords[?value])', '-o', 'tsv'), '2\n');
  });

  test('token credential generate and delete; token delete', async () => {
    await ok('token', 'create', '-n', 't-cred1', '--scope-map', '_repositories_pull', '--no-passwords');
    const generated = await okJson<{ credentials: { passwords: Array<{ name: string; value?: string; expiry: string | null }> } }>(
      'token', 'credential', 'generate', '-n', 't-cred1', '--password2', '--expiration', '2099-12-31T23:59:59Z',
    );
    const p2 = generated.credentials.passwords.find((p) => p.name === 'password2')!;
    assert.ok(p2.value);
    assert.match(p2.expiry!, /^2099-12-31T23:59:59/);
    assert.equal(generated.credentials.passwords.find((p) => p.name === 'password1')?.value, undefined);

    const both = await okJson<{ credentials: { passwords: Array<{ name: string; value?: string }> } }>('token', 'credential', 'generate', '-n', 't-cred1');
    assert.deepEqual(both.credentials.passwords.filter((p) => p.value).map((p) => p.name).sort(), ['password1', 'password2']);
    const newP2 = both.credentials.passwords.find((p) => p.name === 'password2')!.value!;
    assert.notEqual(newP2, p2.value);

    const afterDelete = await okJson<{ credentials: { passwords: Array<{ name: string }> } }>('token', 'credential', 'delete', '-n', 't-cred1', '--password1');
    assert.deepEqual(afterDelete.credentials.passwords.map((p) => p.name), ['password2']);
    assertOneLineError(await outpost('token', 'credential', 'delete', '-n', 't-cred1'), 2, /nothing to delete/);

    assert.equal(await ok('token', 'delete', '-n', 't-cred1', '-y'), '');
    assertOneLineError(await outpost('token', 'show', '-n', 't-cred1'), 1, /^outpost: Token 't-cred1' not found\.$/m);
    assertOneLineError(await outpost('token', 'create', '-n', 't-bad', '--scope-map', 'nope-map1'), 1, /^outpost: .+/);
    assertOneLineError(await outpost('token', 'create', '-n', 't-bad1'), 2, /--scope-map/);
    assertOneLineError(await outpost('token', 'create', '-n', 't-bad1', '--scope-map', 'x', '--status', 'paused'), 1, /Allowed choices are enabled, disabled/);
    assertOneLineError(await outpost('token', 'create', '-n', 't-bad1', '--scope-map', 'x', '--expiration', 'tomorrow'), 2, /YYYY-MM-DDTHH:MM:SSZ/);
  });

  test('repository list, show, show-tags, untag, delete', async () => {
    const repos = await okJson<string[]>('repository', 'list');
    assert.ok(repos.includes('hello') && repos.includes('team/app'), JSON.stringify(repos));
    assert.match(await ok('repository', 'list', '-o', 'table'), /^RESULT\n-+\n/);
    const info = await okJson<{ name: string; tagCount: number }>('repository', 'show', '-n', 'hello');
    assert.equal(info.name, 'hello');
    assert.equal(info.tagCount, 2);
    assert.deepEqual((await okJson<string[]>('repository', 'show-tags', '-n', 'hello')).sort(), ['v1', 'v2']);
    const detail = await okJson<Array<{ name: string; digest: string }>>('repository', 'show-tags', '-n', 'hello', '--detail');
    assert.match(detail[0]!.digest, /^sha256:/);
    assert.match(await ok('repository', 'show-tags', '-n', 'hello', '--detail', '-o', 'table'), /^NAME\s+DIGEST\s+LAST UPDATE TIME\n/);

    assert.equal(await ok('repository', 'untag', '--image', 'hello:v1'), '');
    assert.deepEqual(await okJson<string[]>('repository', 'show-tags', '-n', 'hello'), ['v2']);
    assert.equal(await ok('repository', 'delete', '--image', 'hello:v2', '--yes'), '');
    assert.deepEqual(await okJson<string[]>('repository', 'show-tags', '-n', 'hello'), []);

    assertOneLineError(await outpost('repository', 'delete', '-n', 'team/app'), 2, /Use --yes/);
    const deleted = await okJson<{ manifestsDeleted: string[]; tagsDeleted: string[] }>('repository', 'delete', '-n', 'team/app', '--yes');
    assert.equal(deleted.manifestsDeleted.length, 1);
    assert.deepEqual(deleted.tagsDeleted, ['latest']);
    assertOneLineError(await outpost('repository', 'show', '-n', 'team/app'), 1, /^outpost: Repository 'team\/app' not found\.$/m);
    assertOneLineError(await outpost('repository', 'untag', '--image', 'hello'), 2, /REPO:TAG/);
  });

  test('login remembers the registry (file mode 0600), logout forgets it; bad credentials are one line', async () => {
    const noEnv = {};
    assertOneLineError(await outpostWith(noEnv, 'token', 'list'), 1, /no registry given/);
    assertOneLineError(await outpostWith(noEnv, 'login', node.url, '-u', 'admin', '-p', 'wrong-password'), 1, /^outpost: .+/);
    const login = await outpostWith(noEnv, 'login', node.url, '-u', 'admin', '-p', ADMIN_PASSWORD);
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /^Login Succeeded/);
    const file = cliConfigPath({ XDG_CONFIG_HOME: home.path });
    assert.equal((await stat(file)).mode & 0o777, 0o600);

    const list = await outpostWith(noEnv, 'scope-map', 'list', '--query', 'length(@)');
    assert.equal(list.code, 0, list.stderr);
    assert.ok(Number(list.stdout) >= 3);
    // -r names the same registry; its stored login is used.
    assert.equal((await outpostWith(noEnv, 'repository', 'list', '-r', node.url)).code, 0);
    // Env credentials win over the stored ones.
    assertOneLineError(await outpostWith({ OUTPOST_USERNAME: 'admin', OUTPOST_PASSWORD: 'wrong-password' }, 'token', 'list'), 1, /^outpost: .+/);

    const logout = await outpostWith(noEnv, 'logout');
    assert.equal(logout.code, 0, logout.stderr);
    assertOneLineError(await outpostWith(noEnv, 'token', 'list'), 1, /no registry given/);
    assertOneLineError(await outpostWith(noEnv, 'token', 'list', '-r', node.url), 1, /^outpost: .+/);
    assertOneLineError(await outpostWith(noEnv, 'logout'), 2, /not logged in/);
  });

  test('-o none prints nothing and the exit code tells; a failure still prints its one line', async () => {
    assert.equal(await ok('scope-map', 'create', '-n', 'quiet-map', '--repository', 'quiet', 'content/read', '-o', 'none'), '');
    assert.equal(await ok('scope-map', 'show', '-n', 'quiet-map', '-o', 'none', '--query', 'actions'), '');
    assert.deepEqual((await okJson<{ actions: string[] }>('scope-map', 'show', '-n', 'quiet-map')).actions, ['repositories/quiet/content/read']);
    assertOneLineError(await outpost('scope-map', 'show', '-n', 'no-such-map', '-o', 'none'), 1, /not found/);
    await ok('scope-map', 'delete', '-n', 'quiet-map', '--yes', '-o', 'none');
  });

  test('--version and `version` print the one version of package.json; /healthz reports it too', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    const flag = await outpostWith({}, '--version');
    assert.deepEqual([flag.code, flag.stdout], [0, `${version}\n`]);
    const command = await outpostWith({}, 'version');
    assert.deepEqual([command.code, command.stdout], [0, `outpost ${version}\n`]);
    assert.deepEqual(JSON.parse((await outpostWith({}, 'version', '-o', 'json')).stdout), { version });
    const health = await fetch(`${node.url}/healthz`);
    assert.deepEqual(await health.json(), { status: 'ok', version });
  });

  test('serve refuses an empty ACR_REGISTRY_CONNECTION_STRING with one line instead of starting a root', async () => {
    const run = await outpostWith({ ACR_REGISTRY_CONNECTION_STRING: '' }, 'serve', '--port', '0', '--data-dir', `${home.path}/never`);
    assertOneLineError(run, 1, /^outpost: ACR_REGISTRY_CONNECTION_STRING is set but empty/);
  });

  test('a registry that does not answer is one line naming its URL', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const url = `http://127.0.0.1:${port}`;
    assertOneLineError(await outpost('token', 'list', '-r', url), 1, new RegExp(`^outpost: cannot reach the registry at ${url}: connection refused$`, 'm'));
    assertOneLineError(await outpost('token', 'list', '-o', 'xml'), 2, /invalid choice: 'xml'/);
    assertOneLineError(await outpost('token', 'list', '--query', '[?'), 2, /invalid JMESPath query/);
    assertOneLineError(await outpost('tokn', 'list'), 1, /unknown command 'tokn' \(Did you mean token\?\)/);
    assertOneLineError(await outpost('token', 'list', '--bogus'), 1, /unknown option '--bogus'/);
  });
});
