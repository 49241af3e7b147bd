import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ManualClock } from '../../src/core/clock.js';
import { EventBus } from '../../src/core/events.js';
import { GarbageCollector } from '../../src/lifecycle/garbage-collector.js';
import { SqliteMetadataStore } from '../../src/metadata/index.js';
import { RegistryWriter } from '../../src/registry/registry-writer.js';
import { BlobGate, createStorageDriver, DriverBlobStore, DriverUploadStore, type StorageDriver } from '../../src/storage/index.js';
import { OCI_MANIFEST, sha256 } from '../helpers/oci-client.js';
import { tempDir } from '../helpers/test-node.js';

export const HOUR_MS = 60 * 60 * 1000;

/**
 * A node's storage parts, real ones (a SQLite file; the memory driver, which stamps files on the
 * node's clock so that moving the manual clock ages them — the filesystem driver reports real
 * ages on purpose) wired as the composition root wires them, with a collector: what the
 * garbage-collection tests run on.
 */
export interface GcStores {
  clock: ManualClock;
  dir: string;
  driver: StorageDriver;
  metadata: SqliteMetadataStore;
  blobs: DriverBlobStore;
  uploads: DriverUploadStore;
  gate: BlobGate;
  events: EventBus;
  writer: RegistryWriter;
  collector: GarbageCollector;
  /** What the collector logged. */
  lines: string[];
  close(): Promise<void>;
}

export async function gcStores(options: { graceMs?: number } = {}): Promise<GcStores> {
  const temp = await tempDir('outpost-gc-');
  const clock = new ManualClock(Date.UTC(2030, 0, 1));
  const driver = createStorageDriver('memory', { clock });
  const metadata = await SqliteMetadataStore.open(join(temp.path, 'metadata.db'), { clock: () => clock.now() });
  const blobs = new DriverBlobStore(driver, { clock });
  const uploads = new DriverUploadStore(driver, blobs, { clock });
  const gate = new BlobGate();
  const events = new EventBus();
  const writer = new RegistryWriter(metadata, events, { blobs, gate });
  const lines: string[] = [];
  const collector = new GarbageCollector({
    metadata, blobs, uploads, gate, clock, events, graceMs: options.graceMs ?? HOUR_MS,
    logger: { info: (_details, message) => lines.push(message) },
  });
  return {
    clock, dir: temp.path, driver, metadata, blobs, uploads, gate, events, writer, collector, lines,
    async close() {
      await metadata.close();
      await temp.cleanup();
    },
  };
}

export interface PushedImage {
  repository: string;
  manifest: string;
  manifestSize: number;
  /** Config then layers: digest → size. */
  blobs: Map<string, number>;
}

/** Stores bytes and links them to `repository` as the /v2 upload does (held across both). */
export async function uploadBlob(s: GcStores, repository: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  await s.gate.holding([digest], async () => {
    await s.blobs.put(data, digest, data.length);
    await s.writer.linkBlob('tester', repository, digest, data.length);
  });
  return digest;
}

/** Pushes an image (random config and `layers` random layers) as a client does, through the write pipeline. */
export async function pushImage(s: GcStores, repository: string, tag?: string, layers = 1, layerSize = 1000): Promise<PushedImage> {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', nonce: randomBytes(8).toString('hex') }));
  const blobs = new Map<string, number>([[await uploadBlob(s, repository, config), config.length]]);
  for (let i = 0; i < layers; i++) {
    const data = randomBytes(layerSize + i);
    blobs.set(await uploadBlob(s, repository, data), data.length);
  }
  const [configDigest, ...layerDigests] = [...blobs.keys()];
  const body = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: blobs.get(configDigest!) },
    layers: layerDigests.map((d) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d, size: blobs.get(d) })),
  }));
  const manifest = sha256(body);
  await s.gate.holding([manifest], async () => {
    await s.blobs.put(body, manifest, body.length);
    await s.writer.putManifest('tester', {
      repository, digest: manifest, mediaType: OCI_MANIFEST, size: body.length, artifactType: null, subject: null, annotations: null,
      blobs: [...blobs.keys()], manifests: [], ...(tag !== undefined ? { tag } : {}),
    });
  });
  return { repository, manifest, manifestSize: body.length, blobs };
}

/** An upload session with some bytes, left as a client that gave up leaves it. */
export async function abandonUpload(s: GcStores, repository: string, bytes: number): Promise<string> {
  const session = await s.uploads.create(repository, 'quitter');
  await s.uploads.append(session.id, Readable.from([randomBytes(bytes)]));
  return session.id;
}

/** Every blob stored: digest → size. */
export async function blobFiles(s: GcStores): Promise<Map<string, number>> {
  const files = new Map<string, number>();
  for await (const digest of s.blobs.list()) files.set(digest, (await s.blobs.info(digest))!.size);
  return files;
}
