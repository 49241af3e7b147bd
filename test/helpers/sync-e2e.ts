import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { OUTPOST_BIN, type NodeProcess } from './test-node.js';
import { sha256, TEST_ADMIN_PASSWORD, type TestClient } from './oci-client.js';

/**
 * Tools of the sync end-to-end tests (test/sync/*-e2e.test.ts): skopeo as the client, a check
 * that what a node serves is whole (every byte hashed against its digest), kill -9, and the real
 * `bin/outpost` run to its exit.
 */

export const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

export const ADMIN_CREDS = `admin:${TEST_ADMIN_PASSWORD}`;

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** skopeo with a permissive policy and an empty home, so no credentials or config of the machine leak in. */
export class Skopeo {
  private readonly policy: string;

  private constructor(private readonly home: string) {
    this.policy = join(home, 'policy.json');
  }

  static async create(home: string): Promise<Skopeo> {
    const skopeo = new Skopeo(home);
    await writeFile(skopeo.policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    return skopeo;
  }

  /** Runs `skopeo <command> …`; never throws for a non-zero exit (see `ok`). */
  run(command: string, ...args: string[]): Promise<RunResult> {
    return runProcess('skopeo', ['--policy', this.policy, command, ...args], {
      env: { ...process.env, HOME: this.home, REGISTRY_AUTH_FILE: join(this.home, 'auth.json') },
      timeoutMs: 60_000,
    });
  }

  /** Runs skopeo and throws with its stderr unless it exits 0; returns stdout. */
  async ok(command: string, ...args: string[]): Promise<string> {
    const result = await this.run(command, ...args);
    if (result.code !== 0) throw new Error(`skopeo ${command} ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
    return result.stdout;
  }
}

/** Runs a program to its end (killed after `timeoutMs`) and collects its output. */
export function runProcess(file: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `bin/outpost serve …` run until it exits by itself (SIGKILLed after `timeoutMs`: then `signal` says so). */
export function runServe(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<RunResult> {
  return runProcess(process.execPath, [OUTPOST_BIN, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    env: { ...process.env, OUTPOST_ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, ...env },
    timeoutMs,
  });
}

/** Kills the process with SIGKILL and waits until it is gone. */
export async function kill9(proc: NodeProcess): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGKILL');
  assert.equal(await proc.exited, null, 'the process died of the signal');
}

export function portOf(url: string): number {
  return Number(new URL(url).port);
}

/** A repository's tags at a node (empty when the repository is unknown there). */
export async function listTags(client: TestClient, repository: string): Promise<string[]> {
  const res = await client.request('GET', `/v2/${repository}/tags/list?n=10000`);
  if (res.status === 404) {
    await res.arrayBuffer();
    return [];
  }
  assert.equal(res.status, 200, `tags of ${repository}`);
  return ((await res.json()) as { tags: string[] | null }).tags ?? [];
}

interface ManifestDoc {
  manifests?: Array<{ digest: string }>;
  config?: { digest: string };
  layers?: Array<{ digest: string }>;
}

/**
 * Checks that `reference` of `repository` is served whole by the node: the manifest's bytes hash
 * to its digest (and to `expected`), every child manifest of an index likewise, and every blob
 * it names is served with bytes that hash to its digest. Returns the manifest's digest.
 */
export async function verifyImage(client: TestClient, repository: string, reference: string, expected?: string): Promise<string> {
  const res = await client.request('GET', `/v2/${repository}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });
  const body = Buffer.from(await res.arrayBuffer());
  assert.equal(res.status, 200, `${client.base} ${repository}:${reference} -> ${res.status} ${body.toString().slice(0, 200)}`);
  const digest = res.headers.get('docker-content-digest');
  assert.equal(sha256(body), digest, `${client.base} ${repository}:${reference}: the manifest's bytes hash to its digest`);
  if (expected !== undefined) assert.equal(digest, expected, `${client.base} ${repository}:${reference}`);
  const doc = JSON.parse(body.toString('utf8')) as ManifestDoc;
  for (const child of doc.manifests ?? []) await verifyImage(client, repository, child.digest, child.digest);
  for (const blob of [...(doc.config ? [doc.config.digest] : []), ...(doc.layers ?? []).map((l) => l.digest)]) {
    const got = await client.request('GET', `/v2/${repository}/blobs/${blob}`);
    const bytes = new Uint8Array(await got.arrayBuffer());
    assert.equal(got.status, 200, `${client.base} blob ${blob} of ${repository}:${reference}`);
    assert.equal(sha256(bytes), blob, `${client.base} blob ${blob} of ${repository}:${reference} is served whole`);
  }
  return digest!;
}

/** Hashes every file of a node's blob store on disk: each must hash to its name (nothing partial was ever published). */
export async function verifyBlobFiles(dataDir: string): Promise<number> {
  const root = join(dataDir, 'storage', 'blobs', 'sha256');
  let checked = 0;
  let prefixes: string[];
  try {
    prefixes = await readdir(root);
  } catch {
    return 0;
  }
  for (const prefix of prefixes) {
    for (const hex of await readdir(join(root, prefix))) {
      const hash = createHash('sha256');
      await pipeline(createReadStream(join(root, prefix, hex)), hash);
      assert.equal(hash.digest('hex'), hex, `blob file ${prefix}/${hex} of ${dataDir} hashes to its name`);
      checked += 1;
    }
  }
  return checked;
}
