import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { resolveNodeConfig } from '../../src/config/node-config.js';
import { startNode, type RunningNode } from '../../src/server/start-node.js';
import type { AppOptions } from '../../src/server/build-app.js';
import { TEST_ADMIN_PASSWORD } from './oci-client.js';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const OUTPOST_BIN = join(REPO_ROOT, 'bin', 'outpost');

export async function tempDir(prefix = 'outpost-test-'): Promise<{ path: string; cleanup(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

export interface TestNode {
  url: string;
  dataDir: string;
  node: RunningNode;
  close(): Promise<void>;
}

export interface TestNodeOptions {
  dataDir?: string;
  /** The admin password (OUTPOST_ADMIN_PASSWORD); TEST_ADMIN_PASSWORD by default, null for the generated file. */
  adminPassword?: string | null;
  anonymousPull?: boolean;
  /** Lower limits, throttle timings, token lifetimes, clocks. */
  app?: AppOptions;
  /** Start as a connected registry with this connection string. */
  connectionString?: string;
  /** More environment for resolveNodeConfig (OUTPOST_PARENT_CA, ACR_REGISTRY_LOGIN_SERVER, …). */
  env?: Record<string, string>;
  /** Serve HTTPS with this certificate and key (PEM files). */
  tls?: { certFile: string; keyFile: string };
  /** The listen address (127.0.0.1 by default). */
  host?: string;
}

/**
 * A real node in this process, listening on 127.0.0.1 on a free port, with a fresh data folder.
 * Its admin password is TEST_ADMIN_PASSWORD unless told otherwise (TestClient sends it by default).
 */
export async function startTestNode(options: TestNodeOptions = {}): Promise<TestNode> {
  const dir = options.dataDir ? null : await tempDir();
  const dataDir = options.dataDir ?? dir!.path;
  const adminPassword = options.adminPassword === undefined ? TEST_ADMIN_PASSWORD : options.adminPassword;
  const env = {
    ...(adminPassword !== null ? { OUTPOST_ADMIN_PASSWORD: adminPassword } : {}),
    ...(options.anonymousPull ? { OUTPOST_ANONYMOUS_PULL: 'true' } : {}),
    ...(options.connectionString !== undefined ? { OUTPOST_CONNECTION_STRING: options.connectionString } : {}),
    ...options.env,
  };
  const flags = { host: options.host ?? '127.0.0.1', port: '0', dataDir, logLevel: 'Error', ...(options.tls ? { tlsCert: options.tls.certFile, tlsKey: options.tls.keyFile } : {}) };
  const node = await startNode(resolveNodeConfig(flags, env), options.app ?? {});
  return {
    url: node.url,
    dataDir,
    node,
    async close() {
      await node.close();
      await dir?.cleanup();
    },
  };
}

export interface NodeProcess {
  url: string;
  child: ChildProcess;
  /** Waits for the process to exit and returns its exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs the real `bin/outpost serve` as a child process on a free port and waits for its ready
 * line. Its admin password is TEST_ADMIN_PASSWORD unless `env` sets OUTPOST_ADMIN_PASSWORD.
 */
export async function spawnNode(dataDir: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<NodeProcess> {
  const child = spawn(process.execPath, [OUTPOST_BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, ...extraArgs], {
    env: { ...process.env, OUTPOST_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const timer = setTimeout(() => reject(new Error(`node did not start in time: ${stderr}`)), 20_000);
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { url?: string };
        if (entry.url) {
          clearTimeout(timer);
          resolve(entry.url);
        }
      } catch {
        // not a log line
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${code} before it was ready: ${stderr}`));
    });
  });
  return {
    url,
    child,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
