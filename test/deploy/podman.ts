/**
 * What the container tests need on a machine that reaches no image registry: podman with Debian's
 * runc (crun is refused setrlimit here), a base image made offline with mmdebstrap plus this
 * machine's Node.js, the Outpost image built from the worktree, and small process helpers.
 * Everything is self-contained (no test/helpers import) and runs as root, as CI does.
 */
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, mkdir, readFile, rm, writeFile, copyFile, stat, symlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const OUTPOST_BIN = join(REPO_ROOT, 'bin', 'outpost');
/** The tag the tests build the image under (one per machine; the build cache makes rebuilds cheap). */
export const TEST_IMAGE = 'localhost/outpost:deploy-test';

/** podman's global flags and `run` flags that work on these machines (see the Dockerfile's docs). */
export const PODMAN_GLOBAL = ['--runtime', 'runc'];
export const RUN_LIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

export interface RunResult { stdout: string; stderr: string }

/** Runs a command; rejects with its stderr on a non-zero exit or when it outlives `timeoutMs`. */
export function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, {
      env: options.env ?? process.env,
      cwd: options.cwd ?? REPO_ROOT,
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
      encoding: 'utf8',
    }, (err, stdout, stderr) => {
      if (err) {
        const tail = `${stderr}`.trim().split('\n').slice(-25).join('\n');
        reject(new Error(`${command} ${args.join(' ')} failed (${err.message.split('\n')[0]}):\n${tail}`));
      } else {
        resolve({ stdout, stderr });
      }
    });
  });
}

export const podman = (args: string[], timeoutMs = 120_000): Promise<RunResult> => run('podman', [...PODMAN_GLOBAL, ...args], { timeoutMs });

/** The tools the container tests use; `scripts/test.sh` installs them (Debian packages). */
export function missingTools(tools: string[]): string[] {
  return tools.filter((tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0);
}

export async function tempDir(prefix: string): Promise<{ path: string; cleanup(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/** A TCP port that was free a moment ago on 127.0.0.1 (the containers bind it on the host). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Resolves when `GET <url>/healthz` answers 200. */
export function waitHealthy(url: string, timeoutMs = 60_000): Promise<true> {
  return waitFor(`${url}/healthz`, async () => ((await fetch(`${url}/healthz`)).status === 200 ? true : undefined), timeoutMs);
}

/** Resolves when `repo:tag` is listed at `url` for these credentials. */
export function waitForTag(url: string, repo: string, tag: string, auth: string, timeoutMs = 60_000): Promise<true> {
  return waitFor(`${repo}:${tag} at ${url}`, async () => {
    const res = await fetch(`${url}/v2/${repo}/tags/list`, { headers: { Authorization: auth } });
    if (res.status !== 200) return undefined;
    const body = await res.json() as { tags?: string[] };
    return body.tags?.includes(tag) ? true : undefined;
  }, timeoutMs);
}

/** `bin/outpost` as the admin of the root at `registry`, with its own HOME (no stored login leaks in or out). */
export async function outpost(registry: string, adminPassword: string, home: string, ...args: Array<string | Record<string, string>>): Promise<string> {
  // A trailing object is more environment (NODE_EXTRA_CA_CERTS for an HTTPS root, say).
  const extra = args.filter((a): a is Record<string, string> => typeof a !== 'string');
  const env = { ...process.env, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), OUTPOST_REGISTRY: registry, OUTPOST_USERNAME: 'admin', OUTPOST_PASSWORD: adminPassword, ...Object.assign({}, ...extra) };
  args = args.filter((a) => typeof a === 'string');
  return (await run(process.execPath, [OUTPOST_BIN, ...(args as string[])], { env, timeoutMs: 60_000 })).stdout.trim();
}

/** skopeo with an accept-anything policy and no credentials of the machine. */
export async function skopeo(work: string, ...args: string[]): Promise<string> {
  const policy = join(work, 'policy.json');
  await writeFile(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const [command, ...rest] = args as [string, ...string[]];
  const env = { ...process.env, HOME: work, REGISTRY_AUTH_FILE: join(work, 'auth.json') };
  return (await run('skopeo', ['--policy', policy, command, ...rest], { env, timeoutMs: 120_000 })).stdout;
}

// ---------------------------------------------------------------------------------------------
// Offline base images

const SUITES = [
  'deb http://deb.debian.org/debian bookworm main',
  'deb http://deb.debian.org/debian bookworm-updates main',
  'deb http://deb.debian.org/debian-security bookworm-security main',
];
const NO_DOCS = ['path-exclude=/usr/share/doc/*', 'path-exclude=/usr/share/man/*', 'path-exclude=/usr/share/locale/*', 'path-exclude=/usr/share/info/*'];
/** The runtime base: glibc, libstdc++ and this machine's `node`, no shell, no package manager. */
const RUNTIME_PACKAGES = ['base-files', 'libc6', 'libgcc-s1', 'libstdc++6'];
/**
 * The build base: the runtime base's packages plus a shell and coreutils (unpacked only, like the
 * runtime base: seconds, where a debootstrap-like install takes minutes), this machine's node and
 * npm, and a local prebuild of better-sqlite3 — this checkout's compiled addon (same Debian
 * release, same Node.js), in the tarball form prebuild-install reads — so the Dockerfile takes its
 * prebuilt path, as it does online, instead of compiling SQLite (minutes on two cores).
 */
const BUILD_PACKAGES = [...RUNTIME_PACKAGES, 'dash', 'coreutils'];
const PREBUILDS = '/opt/prebuilds';
const IMAGE_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Bump when the recipe below changes in a way the key does not see. */
const RECIPE_VERSION = 3;

interface NodeRuntime { node: string; npmDir: string; npmVersion: string; addon: string; prebuildName: string }

async function localNode(): Promise<NodeRuntime> {
  const node = process.execPath;
  const npmDir = join((await run('npm', ['root', '-g'])).stdout.trim(), 'npm');
  const npmVersion = (await run('npm', ['--version'])).stdout.trim();
  const sqlite = join(REPO_ROOT, 'node_modules', 'better-sqlite3');
  const addon = join(sqlite, 'build', 'Release', 'better_sqlite3.node');
  await stat(addon).catch(() => { throw new Error(`no compiled better-sqlite3 addon at ${addon} (npm ci builds it)`); });
  const { version } = JSON.parse(await readFile(join(sqlite, 'package.json'), 'utf8')) as { version: string };
  // prebuild-install's file name: {name}-v{version}-{runtime}-v{abi}-{platform}-{arch}.tar.gz (glibc).
  const prebuildName = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  return { node, npmDir, npmVersion, addon, prebuildName };
}

function fileHash(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (chunk) => hash.update(chunk)).on('error', reject).on('end', () => resolve(hash.digest('hex')));
  });
}

async function imageExists(ref: string): Promise<boolean> {
  try {
    await podman(['image', 'exists', ref]);
    return true;
  } catch {
    return false;
  }
}

export interface BaseImages { base: string; build: string; built: boolean }

/**
 * The two base images, made offline from Debian's packages (mmdebstrap) and this machine's Node.js,
 * and imported into podman under a tag derived from everything they are made of; an existing tag is
 * reused, so a machine builds them once.
 */
export async function ensureBaseImages(log: (line: string) => void): Promise<BaseImages> {
  const local = await localNode();
  const key = createHash('sha256').update(JSON.stringify({
    RECIPE_VERSION, SUITES, NO_DOCS, RUNTIME_PACKAGES, BUILD_PACKAGES, PREBUILDS, IMAGE_PATH,
    node: await fileHash(local.node), npm: local.npmVersion, arch: process.arch, addon: await fileHash(local.addon), prebuild: local.prebuildName,
  })).digest('hex').slice(0, 16);
  const base = `localhost/outpost-test-base:${key}`;
  const build = `localhost/outpost-test-build:${key}`;
  if (await imageExists(base) && await imageExists(build)) return { base, build, built: false };

  const work = await tempDir('outpost-base-');
  try {
    const dpkg = NO_DOCS.map((opt) => `--dpkgopt=${opt}`);
    // Runtime base: the packages are only unpacked (no maintainer scripts: nothing to run them with).
    const runtimeTar = join(work.path, 'runtime.tar');
    let started = Date.now();
    await run('mmdebstrap', ['--variant=extract', `--include=${RUNTIME_PACKAGES.join(',')}`, ...dpkg, 'bookworm', runtimeTar, ...SUITES], { timeoutMs: 600_000 });
    // Then node and a passwd file (uid 10001, the image's user, gets a name) are appended to the tar.
    const stage = join(work.path, 'stage');
    await mkdir(join(stage, 'usr/local/bin'), { recursive: true });
    await mkdir(join(stage, 'etc'), { recursive: true });
    await copyFile(local.node, join(stage, 'usr/local/bin/node'));
    await writeFile(join(stage, 'etc/passwd'), 'root:x:0:0:root:/root:/usr/sbin/nologin\noutpost:x:10001:10001:outpost:/var/acr/data:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
    await writeFile(join(stage, 'etc/group'), 'root:x:0:\noutpost:x:10001:\nnogroup:x:65534:\n');
    await run('tar', ['-rf', runtimeTar, '-C', stage, '--owner=0', '--group=0', './usr/local/bin/node', './etc/passwd', './etc/group']);
    await podman(['import', '--change', `ENV ${IMAGE_PATH}`, runtimeTar, base], 300_000);
    log(`made the runtime base ${base} in ${((Date.now() - started) / 1000).toFixed(0)} s`);

    // Build base: the same packages plus a shell, the same node plus npm, and the addon as a local prebuild.
    started = Date.now();
    const buildTar = join(work.path, 'build.tar');
    const prebuild = join(work.path, local.prebuildName);
    const addonStage = join(work.path, 'addon');
    await mkdir(join(addonStage, 'build', 'Release'), { recursive: true });
    await copyFile(local.addon, join(addonStage, 'build', 'Release', 'better_sqlite3.node'));
    await run('tar', ['-czf', prebuild, '-C', addonStage, '--owner=0', '--group=0', 'build']);
    // mmdebstrap runs no hooks for the extract variant: node, npm and the rest are appended to its tar.
    await run('mmdebstrap', ['--variant=extract', `--include=${BUILD_PACKAGES.join(',')}`, ...dpkg, 'bookworm', buildTar, ...SUITES], { timeoutMs: 1_200_000 });
    const buildStage = join(work.path, 'build-stage');
    await mkdir(join(buildStage, 'usr/local/bin'), { recursive: true });
    await mkdir(join(buildStage, 'usr/local/lib/node_modules'), { recursive: true });
    await mkdir(join(buildStage, PREBUILDS.slice(1)), { recursive: true });
    await mkdir(join(buildStage, 'etc'), { recursive: true });
    await copyFile(local.node, join(buildStage, 'usr/local/bin/node'));
    await run('cp', ['-a', local.npmDir, join(buildStage, 'usr/local/lib/node_modules/npm')]);
    await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(buildStage, 'usr/local/bin/npm'));
    await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(buildStage, 'usr/local/bin/npx'));
    await copyFile(prebuild, join(buildStage, PREBUILDS.slice(1), local.prebuildName));
    await copyFile(join(stage, 'etc/passwd'), join(buildStage, 'etc/passwd'));
    await copyFile(join(stage, 'etc/group'), join(buildStage, 'etc/group'));
    await run('tar', ['-rf', buildTar, '-C', buildStage, '--owner=0', '--group=0', './usr/local', `.${PREBUILDS}`, './etc/passwd', './etc/group']);
    await podman(['import', '--change', `ENV ${IMAGE_PATH}`, '--change', 'ENV HOME=/root', '--change', `ENV npm_config_better_sqlite3_local_prebuilds=${PREBUILDS}`, buildTar, build], 300_000);
    log(`made the build base ${build} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return { base, build, built: true };
  } finally {
    await work.cleanup();
  }
}

/** Builds the Outpost image from the worktree with `scripts/build-image.sh` (what `npm run image` runs). */
export async function buildOutpostImage(images: BaseImages, tag = TEST_IMAGE): Promise<void> {
  const previous = await podman(['image', 'inspect', '--format', '{{.Id}}', tag]).then((r) => r.stdout.trim(), () => null);
  // The build's npm ci reads this machine's npm cache (CI's `npm ci` has just filled it with the
  // same lock file's packages): no package is downloaded twice.
  const npmCache = (await run('npm', ['config', 'get', 'cache'])).stdout.trim();
  await run('bash', [join(REPO_ROOT, 'scripts', 'build-image.sh'),
    ...PODMAN_GLOBAL, ...RUN_LIMITS, '--network', 'host', '--volume', `${npmCache}:/root/.npm`,
    '--build-arg', `BASE_IMAGE=${images.base}`, '--build-arg', `BUILD_IMAGE=${images.build}`,
  ], { env: { ...process.env, OUTPOST_CONTAINER_ENGINE: 'podman', OUTPOST_IMAGE: tag }, timeoutMs: 1_500_000 });
  // The image the tag named before (an older build) goes, so that repeated runs do not pile up images.
  const current = await podman(['image', 'inspect', '--format', '{{.Id}}', tag]).then((r) => r.stdout.trim(), () => null);
  if (previous && previous !== current) await podman(['rmi', previous]).catch(() => undefined);
}
