import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * OCI image layouts on disk, built by hand for end-to-end tests (no Docker here): the input of
 * `skopeo copy oci:<dir>:<tag> …`. Layers are real gzip'd tar archives with one file of random
 * bytes, configs are valid image configs whose diff_ids match the layers.
 */

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface WrittenImage {
  /** Digest of the image manifest. */
  digest: string;
  size: number;
  mediaType: string;
  configDigest: string;
  layerDigests: string[];
  /** Every blob of the image (config, layers and the manifest itself). */
  blobs: string[];
}

export interface WrittenIndex {
  /** Digest of the image index. */
  digest: string;
  size: number;
  children: WrittenImage[];
  /** Every blob: the index, each child's manifest, config and layers. */
  blobs: string[];
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Where a blob of a layout lives. */
export function layoutBlobPath(dir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return join(dir, 'blobs', algorithm, hex);
}

/** One ustar header field: `value` padded with NULs to `length` bytes. */
function field(header: Buffer, offset: number, length: number, value: string): void {
  header.write(value.slice(0, length), offset, length, 'ascii');
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

/**
 * A POSIX ustar archive holding regular files, as `tar` writes it: a 512-byte header per file,
 * the content padded to 512 bytes, and two zero blocks at the end. mtime 0, so it is deterministic.
 */
export function tarArchive(files: Array<{ name: string; content: Uint8Array }>): Buffer {
  const parts: Buffer[] = [];
  for (const file of files) {
    const header = Buffer.alloc(512);
    field(header, 0, 100, file.name);
    field(header, 100, 8, octal(0o644, 8));
    field(header, 108, 8, octal(0, 8));
    field(header, 116, 8, octal(0, 8));
    field(header, 124, 12, octal(file.content.length, 12));
    field(header, 136, 12, octal(0, 12));
    field(header, 148, 8, '        ');
    field(header, 156, 1, '0');
    field(header, 257, 6, 'ustar\0');
    field(header, 263, 2, '00');
    field(header, 265, 32, 'root');
    field(header, 297, 32, 'root');
    let sum = 0;
    for (const byte of header) sum += byte;
    field(header, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
    parts.push(header, Buffer.from(file.content));
    const pad = (512 - (file.content.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** gzip with a fixed header (mtime 0, OS "unix"), so the same input always gives the same digest. */
export function gzipDeterministic(data: Uint8Array): Buffer {
  const out = gzipSync(data, { level: 6 });
  out.writeUInt32LE(0, 4);
  out[9] = 3;
  return out;
}

async function writeBlob(dir: string, data: Uint8Array | string): Promise<Descriptor & { data: Buffer }> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
  const digest = sha256(bytes);
  const path = layoutBlobPath(dir, digest);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(path, bytes);
  return { mediaType: '', digest, size: bytes.length, data: bytes };
}

/** Adds (or replaces, by tag) an entry of the layout's index.json; creates the layout files when missing. */
async function addToLayoutIndex(dir: string, descriptor: Descriptor, tag: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  let index: { schemaVersion: number; mediaType?: string; manifests: Descriptor[] };
  try {
    index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as typeof index;
  } catch {
    index = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  }
  index.manifests = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag);
  index.manifests.push({ ...descriptor, annotations: { ...descriptor.annotations, [REF_NAME]: tag } });
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

/** Writes config, layers and manifest blobs of one image; does not touch index.json. */
async function writeImageBlobs(dir: string, options: { layers: number; layerSize: number; platform: Platform }): Promise<WrittenImage> {
  const layers: Descriptor[] = [];
  const diffIds: string[] = [];
  for (let i = 0; i < options.layers; i++) {
    const tar = tarArchive([{ name: `layer-${i}.bin`, content: randomBytes(options.layerSize) }]);
    diffIds.push(sha256(tar));
    const blob = await writeBlob(dir, gzipDeterministic(tar));
    layers.push({ mediaType: OCI_LAYER_GZIP, digest: blob.digest, size: blob.size });
  }
  const config = JSON.stringify({
    created: '2024-01-01T00:00:00Z',
    architecture: options.platform.architecture,
    os: options.platform.os,
    ...(options.platform.variant ? { variant: options.platform.variant } : {}),
    config: { Cmd: ['/bin/true'], Env: ['PATH=/usr/bin:/bin'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map((_, i) => ({ created: '2024-01-01T00:00:00Z', created_by: `test layer ${i}` })),
  });
  const configBlob = await writeBlob(dir, config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: configBlob.digest, size: configBlob.size },
    layers,
  });
  const manifestBlob = await writeBlob(dir, manifest);
  return {
    digest: manifestBlob.digest,
    size: manifestBlob.size,
    mediaType: OCI_MANIFEST,
    configDigest: configBlob.digest,
    layerDigests: layers.map((l) => l.digest),
    blobs: [configBlob.digest, ...layers.map((l) => l.digest), manifestBlob.digest],
  };
}

/**
 * Writes a single-platform image into the OCI layout at `dir` (created if needed) under `tag`,
 * with `layers` gzip'd tar layers each holding a file of `layerSize` random bytes. Adding several
 * tags to one layout is fine. Returns the manifest's digest and the image's blobs.
 */
export async function writeImageLayout(
  dir: string,
  options: { tag: string; layers: number; layerSize: number; platform?: Platform },
): Promise<WrittenImage> {
  const image = await writeImageBlobs(dir, { ...options, platform: options.platform ?? { os: 'linux', architecture: 'amd64' } });
  await addToLayoutIndex(dir, { mediaType: image.mediaType, digest: image.digest, size: image.size }, options.tag);
  return image;
}

/**
 * Writes a multi-platform image (an OCI image index whose children are image manifests, one per
 * platform) into the layout at `dir` under `tag`. Returns the index digest and each child.
 */
export async function writeIndexLayout(
  dir: string,
  options: { tag: string; platforms: Platform[]; layers?: number; layerSize?: number },
): Promise<WrittenIndex> {
  const children: WrittenImage[] = [];
  const descriptors: Descriptor[] = [];
  for (const platform of options.platforms) {
    const child = await writeImageBlobs(dir, { layers: options.layers ?? 1, layerSize: options.layerSize ?? 2048, platform });
    children.push(child);
    descriptors.push({ mediaType: child.mediaType, digest: child.digest, size: child.size, platform });
  }
  const index = JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: descriptors });
  const blob = await writeBlob(dir, index);
  await addToLayoutIndex(dir, { mediaType: OCI_INDEX, digest: blob.digest, size: blob.size }, options.tag);
  return { digest: blob.digest, size: blob.size, children, blobs: [blob.digest, ...children.flatMap((c) => c.blobs)] };
}
