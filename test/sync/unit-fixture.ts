import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { pino, type Logger } from 'pino';
import { SqliteMetadataStore, type PutManifestInput } from '../../src/metadata/index.js';
import { EventBus } from '../../src/core/events.js';
import { RegistryWriter } from '../../src/registry/registry-writer.js';
import { DriverBlobStore, MemoryDriver, type BlobStore } from '../../src/storage/index.js';
import { ManualClock, type Clock } from '../../src/core/clock.js';
import { ContentPuller } from '../../src/sync/content-puller.js';
import { EdgePolicy } from '../../src/sync/edge-policy.js';
import { OutboxPusher } from '../../src/sync/outbox-pusher.js';
import { PullSync } from '../../src/sync/pull-sync.js';
import { SyncApplier } from '../../src/sync/sync-applier.js';
import { SyncAgent, type SyncAgentDeps } from '../../src/sync/sync-agent.js';
import { OCI_MANIFEST, sha256 } from '../helpers/oci-client.js';
import type { FakeImage, FakeParent } from './fake-parent.js';

/**
 * Shared parts of the sync unit tests: the edge's real local stores (SQLite in memory or in a
 * file, blobs in memory), a logger whose lines the test reads, the sync parts wired to a
 * FakeParent, and `until`, which waits for a condition instead of a fixed time.
 */

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}

/** A logger at `level` that keeps every line (pino writes synchronously to its stream). */
export function capturingLogger(level = 'debug'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

/** The stores of an edge, as the sync agent has them. */
export interface LocalNode {
  store: SqliteMetadataStore;
  blobs: BlobStore;
  /** The node's bus and its write pipeline (clients' writes, and the parent's changes through `applier`). */
  events: EventBus;
  writer: RegistryWriter;
  applier: SyncApplier;
  policy: EdgePolicy;
  logger: Logger;
  lines: LogLine[];
  close(): Promise<void>;
}

/** An edge's stores (SQLite `:memory:` unless `file`), its policy from the parent's current config. */
export async function localNode(parent: FakeParent, options: { file?: string; blobs?: BlobStore } = {}): Promise<LocalNode> {
  const store = await SqliteMetadataStore.open(options.file ?? ':memory:');
  const policy = new EdgePolicy();
  policy.update(parent.configDocument);
  const { logger, lines } = capturingLogger();
  const events = new EventBus();
  const writer = new RegistryWriter(store, events);
  return {
    store, blobs: options.blobs ?? new DriverBlobStore(new MemoryDriver()), events, writer, applier: new SyncApplier(writer), policy, logger, lines,
    close: () => store.close(),
  };
}

/** The pull half wired to the fake parent, as SyncAgent wires it. */
export function pullParts(parent: FakeParent, local: LocalNode, clock: Clock, parallelBlobs = 8): { puller: ContentPuller; pull: PullSync } {
  const puller = new ContentPuller(parent, local.blobs, local.store, local.applier, parallelBlobs);
  const pull = new PullSync(parent, puller, local.store, local.store, local.applier, local.policy, local.logger, () => clock.now());
  return { puller, pull };
}

/** The push half wired to the fake parent, as SyncAgent wires it. */
export function outboxPusher(parent: FakeParent, local: LocalNode, clock: Clock): OutboxPusher {
  return new OutboxPusher(parent, local.blobs, local.store, local.store, local.logger, () => clock.now());
}

/** A whole agent on the fake parent, quick to notice changes (1 s polls and heartbeats). */
export function syncAgent(parent: FakeParent, local: LocalNode, clock: Clock, options: Partial<SyncAgentDeps> = {}): SyncAgent {
  return new SyncAgent({
    selfName: parent.configDocument.self.name,
    parent,
    metadata: local.store,
    writer: local.writer,
    identities: local.store.identity,
    connectedRegistries: local.store.connectedRegistries,
    blobs: local.blobs,
    policy: local.policy,
    logger: local.logger,
    version: 'test',
    loginServer: () => ({ host: 'edge.test:5000' }),
    clock,
    pollSeconds: 1,
    heartbeatSeconds: 1,
    random: () => 0.5,
    ...options,
  });
}

/** Commits what the puller prepared, as a change from the parent (the step PullSync takes after ContentPuller.prepare). */
export async function commitPulled(local: LocalNode, input: PutManifestInput): Promise<void> {
  await local.applier.applyManifest(input);
}

/** Drops a tag at the edge as a change from the parent would, behind the agent's back (drift only a full reconcile heals). */
export async function driftTagDelete(local: LocalNode, repository: string, tag: string): Promise<void> {
  await local.applier.applyTagDelete(repository, tag);
}

/** The identity of the edge's client in the unit tests' local writes. */
export const CLIENT = 'edge-client';

/** A client's push at the edge (a local write, in the outbox on a ReadWrite node): blobs, then the manifest under `tag`. */
export async function pushLocal(local: LocalNode, repository: string, tag: string | null, layers: Buffer[] = [randomBytes(128)]): Promise<FakeImage> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, nonce: randomBytes(8).toString('hex') }));
  const blobs: Array<{ digest: string; size: number }> = [];
  for (const bytes of [config, ...layers]) {
    const digest = sha256(bytes);
    await local.blobs.put(bytes, digest, bytes.length);
    await local.writer.linkBlob(CLIENT, repository, digest, bytes.length);
    blobs.push({ digest, size: bytes.length });
  }
  const body = JSON.stringify({
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...blobs[0]! },
    layers: blobs.slice(1).map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...b })),
  });
  const digest = sha256(body);
  await local.blobs.put(Buffer.from(body), digest, Buffer.byteLength(body));
  await local.writer.putManifest(CLIENT, {
    repository, digest, mediaType: OCI_MANIFEST, size: Buffer.byteLength(body), artifactType: null, subject: null, annotations: null,
    blobs: blobs.map((b) => b.digest), manifests: [], ...(tag !== null ? { tag } : {}),
  });
  return { digest, body, size: Buffer.byteLength(body), blobs: blobs.map((b) => b.digest) };
}

/** A manual clock on a round time whose sleeps end only when the test moves it (or after an hour of real time). */
export function manualClock(start = Date.UTC(2030, 0, 1, 0, 0, 0)): ManualClock {
  return new ManualClock(start, 60 * 60_000);
}

/**
 * Resolves with `check`'s first truthy value; checks after every turn of the event loop's timers
 * (a couple of milliseconds), for at most `timeoutMs` of real time. An awaited condition, not a
 * fixed wait: it returns as soon as the condition holds.
 */
export async function until<T>(what: string, check: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs = 5_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await delay(2);
  }
}

/** Resolves with `promise`, or fails the test when it has not settled within `ms` of real time (a bound on an awaited event, not a wait). */
export async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
