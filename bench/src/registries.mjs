// Launchers for the registries under test. Each one runs on its own free loopback
// port with a fresh temp data folder, and is always stopped at the end (see stopAll).
import process from 'node:process';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { Buffer } from 'node:buffer';
import path from 'node:path';
import { request } from 'undici';
import { ensureBinary } from './deps.mjs';
import { freePort, log, sleep } from './util.mjs';

/** Every process we started, so they can be killed on any kind of exit. */
const live = new Set();

class RegistryProcess {
  constructor({ name, label, child, url, dataDir, logFile, version, pushHeaders = {}, pullHeaders = async () => ({}) }) {
    // pushHeaders: credentials for writes (Outpost always requires them).
    // pullHeaders(repo): what a client sends to pull from `repo` ({} where pulls are anonymous).
    Object.assign(this, { name, label, child, url, dataDir, logFile, version, pushHeaders, pullHeaders });
    this.pid = child.pid;
    this.exited = false;
    this.exitInfo = null;
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        this.exitInfo = { code, signal };
        live.delete(this);
        resolve();
      });
    });
    live.add(this);
  }

  logTail(lines = 20) {
    try {
      return fs.readFileSync(this.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** Signal the process group we created (the registry and any children it forked). */
  signal(sig) {
    try {
      process.kill(-this.pid, sig);
    } catch {
      try {
        process.kill(this.pid, sig);
      } catch {
        /* already gone */
      }
    }
  }

  async stop() {
    if (this.exited) return;
    this.signal('SIGTERM');
    const timer = sleep(5000).then(() => 'timeout');
    if ((await Promise.race([this.exitPromise, timer])) === 'timeout') {
      log(`${this.name} did not stop on SIGTERM; sending SIGKILL`);
      this.signal('SIGKILL');
      await this.exitPromise;
    }
  }
}

/** Poll GET /v2/ until it answers 200 (or the process dies, or we time out). */
async function waitReady(reg, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let lastErr = 'no answer';
  while (Date.now() < deadline) {
    if (reg.exited) {
      throw new Error(
        `${reg.name} exited during startup (${JSON.stringify(reg.exitInfo)}); log tail:\n${reg.logTail()}`,
      );
    }
    try {
      const res = await request(`${reg.url}/v2/`, { headers: reg.pushHeaders, headersTimeout: 2000, bodyTimeout: 2000 });
      await res.body.dump();
      if (res.statusCode === 200) return;
      lastErr = `GET /v2/ -> ${res.statusCode}`;
    } catch (err) {
      lastErr = err.code ?? err.message;
    }
    await sleep(100);
  }
  await reg.stop();
  throw new Error(`${reg.name} not ready after ${timeoutMs} ms (${lastErr}); log tail:\n${reg.logTail()}`);
}

function spawnLogged(cmd, args, logFile, extraEnv = {}) {
  const fd = fs.openSync(logFile, 'a');
  try {
    return spawn(cmd, args, {
      stdio: ['ignore', fd, fd],
      detached: true, // own process group, so stop() reaches forked children too
      env: { ...process.env, ...extraEnv },
    });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * CNCF distribution (Debian package docker-registry), filesystem storage; no auth, or with
 * `authenticated` htpasswd Basic auth (bcrypt, as its docs set it up) for every request.
 */
export async function startDistribution({ workDir, authenticated = false, dirName }) {
  const bin = ensureBinary('docker-registry', 'docker-registry');
  const port = await freePort();
  const dir = path.join(workDir, dirName ?? (authenticated ? 'distribution-auth' : 'distribution'));
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const configFile = path.join(dir, 'config.yml');
  fs.writeFileSync(
    configFile,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${dataDir}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(authenticated ? ['auth:', '  htpasswd:', '    realm: bench', `    path: ${path.join(dir, 'htpasswd')}`] : []),
      '',
    ].join('\n'),
  );
  let basic = {};
  if (authenticated) {
    const htpasswd = ensureBinary('htpasswd', 'apache2-utils');
    const password = crypto.randomBytes(18).toString('base64url');
    const line = spawnSync(htpasswd, ['-Bbn', 'bench', password], { encoding: 'utf8' });
    if (line.status !== 0) throw new Error(`htpasswd failed: ${line.stderr}`);
    fs.writeFileSync(path.join(dir, 'htpasswd'), line.stdout.trim() + '\n');
    basic = { authorization: `Basic ${Buffer.from(`bench:${password}`).toString('base64')}` };
  }
  const logFile = path.join(dir, 'registry.log');
  const child = spawnLogged(bin, ['serve', configFile], logFile);
  const version = spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout?.trim();
  const reg = new RegistryProcess({
    name: 'distribution',
    label: 'distribution',
    child,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    logFile,
    version,
    pushHeaders: basic,
    pullHeaders: async () => basic,
  });
  await waitReady(reg);
  return reg;
}

/** The commit Outpost's dist/ was built from, as far as git knows (dist/ is built from the working tree). */
export function outpostVersion(repoRoot) {
  const rev = spawnSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  if (rev.status !== 0) return 'working tree';
  const dirty = spawnSync('git', ['-C', repoRoot, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).stdout?.trim();
  return `git ${rev.stdout.trim()}${dirty ? ' + uncommitted src/ changes' : ''}`;
}

/**
 * Outpost from this checkout: node <repo>/bin/outpost serve ...
 * - `authenticated`: no anonymous pull (otherwise pulls are anonymous, as on distribution);
 * - `dirName`: its folder under workDir (several nodes in one run: a hierarchy);
 * - `connectionString`: start it as a connected node (an edge) of that parent;
 * - `name`: the name it gets in logs and errors (default `outpost`);
 * - `extraArgs`: more `serve` flags (e.g. `--metrics-listen`).
 */
export async function startOutpost({ workDir, repoRoot, outpostBin, authenticated = false, dirName, connectionString, name = 'outpost', extraArgs = [], env: extraEnv = {} }) {
  const bin = outpostBin ?? path.join(repoRoot, 'bin', 'outpost');
  if (!fs.existsSync(bin)) {
    throw new Error(`${bin} not found (build Outpost first, or run with --only distribution)`);
  }
  const port = await freePort();
  const dir = path.join(workDir, dirName ?? (authenticated ? 'outpost-auth' : 'outpost'));
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(dir, 'outpost.log');
  // Unless `authenticated`, pulls are anonymous on both registries (distribution has no auth
  // then), so those figures compare serving, not authentication; pushes carry admin credentials.
  const args = ['serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, '--log-level', 'Error'];
  if (!authenticated) args.push('--anonymous-pull');
  if (connectionString) args.push('--connection-string', connectionString);
  args.push(...extraArgs);
  const adminPassword = crypto.randomBytes(18).toString('base64url');
  const env = { ...extraEnv, OUTPOST_ADMIN_PASSWORD: adminPassword };
  const admin = { authorization: `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}` };
  // Run a node script under this same node; anything else (a shell wrapper) directly.
  const firstLine = fs.readFileSync(bin, 'utf8').split('\n', 1)[0];
  const isShell = firstLine.startsWith('#!') && !/\bnode\b/.test(firstLine);
  const child = isShell
    ? spawnLogged(bin, args, logFile, env)
    : spawnLogged(process.execPath, [bin, ...args], logFile, env);
  const reg = new RegistryProcess({
    name,
    label: 'Outpost',
    child,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    logFile,
    version: outpostVersion(repoRoot),
    pushHeaders: admin,
    // The Docker token flow: trade Basic credentials for a Bearer JWT scoped to the repository.
    pullHeaders: async (repo) => {
      if (!authenticated) return {};
      const url = `http://127.0.0.1:${port}/oauth2/token?service=127.0.0.1:${port}&scope=repository:${repo}:pull`;
      const res = await request(url, { headers: admin });
      const body = await res.body.json();
      if (res.statusCode !== 200 || !body.token) throw new Error(`token endpoint answered ${res.statusCode}`);
      return { authorization: `Bearer ${body.token}` };
    },
  });
  reg.adminPassword = adminPassword; // for tools given credentials on the command line (skopeo)
  await waitReady(reg);
  return reg;
}

export const launchers = { outpost: startOutpost, distribution: startDistribution };

export async function stopAll() {
  await Promise.all([...live].map((r) => r.stop()));
}

/** Last-resort cleanup: synchronous kill of whatever is still running. */
export function killAllSync() {
  for (const r of live) r.signal('SIGKILL');
}
