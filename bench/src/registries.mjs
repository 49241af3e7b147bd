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
  constructor({ name, label, child, url, dataDir, logFile, version, pushHeaders = {} }) {
    // pushHeaders: credentials for writes (Outpost requires them; distribution runs without auth).
    Object.assign(this, { name, label, child, url, dataDir, logFile, version, pushHeaders });
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

/** CNCF distribution (Debian package docker-registry), filesystem storage, no auth. */
export async function startDistribution({ workDir }) {
  const bin = ensureBinary('docker-registry', 'docker-registry');
  const port = await freePort();
  const dir = path.join(workDir, 'distribution');
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
      '',
    ].join('\n'),
  );
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
  });
  await waitReady(reg);
  return reg;
}

/** Outpost from this checkout: node <repo>/bin/outpost serve ... */
export async function startOutpost({ workDir, repoRoot, outpostBin }) {
  const bin = outpostBin ?? path.join(repoRoot, 'bin', 'outpost');
  if (!fs.existsSync(bin)) {
    throw new Error(`${bin} not found (build Outpost first, or run with --only distribution)`);
  }
  const port = await freePort();
  const dir = path.join(workDir, 'outpost');
  const dataDir = path.join(dir, 'data');
  fs.mkdirSync(dataDir, { recursive: true });
  const logFile = path.join(dir, 'outpost.log');
  // Pulls are anonymous on both registries (distribution has no auth configured here), so the
  // read figures compare serving, not authentication; pushes to Outpost carry admin credentials.
  const args = ['serve', '--host', '127.0.0.1', '--port', String(port), '--data-dir', dataDir, '--anonymous-pull', '--log-level', 'Error'];
  const adminPassword = crypto.randomBytes(18).toString('base64url');
  const env = { OUTPOST_ADMIN_PASSWORD: adminPassword };
  // Run a node script under this same node; anything else (a shell wrapper) directly.
  const firstLine = fs.readFileSync(bin, 'utf8').split('\n', 1)[0];
  const isShell = firstLine.startsWith('#!') && !/\bnode\b/.test(firstLine);
  const child = isShell
    ? spawnLogged(bin, args, logFile, env)
    : spawnLogged(process.execPath, [bin, ...args], logFile, env);
  const rev = spawnSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  const reg = new RegistryProcess({
    name: 'outpost',
    label: 'Outpost',
    child,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    logFile,
    version: rev.status === 0 ? `git ${rev.stdout.trim()}` : 'working tree',
    pushHeaders: { authorization: `Basic ${Buffer.from(`admin:${adminPassword}`).toString('base64')}` },
  });
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
