#!/usr/bin/env node
// Writes examples/hello/: a tiny OCI image layout (one layer holding hello.txt) for the README
// quickstart:  skopeo copy oci:examples/hello:latest docker://localhost:8080/hello:latest
// Plain Node, no dependencies, deterministic: running it again gives byte-identical files.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { gzipSync } from 'node:zlib';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'hello');
const CREATED = '2024-01-01T00:00:00Z';

const sha256 = (data) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** One regular file in a POSIX ustar archive (header, content padded to 512, two zero blocks). */
function tar(name, content) {
  const header = Buffer.alloc(512);
  const put = (offset, length, value) => header.write(value, offset, length, 'ascii');
  const octal = (value, width) => value.toString(8).padStart(width - 1, '0') + '\0';
  put(0, 100, name);
  put(100, 8, octal(0o644, 8));
  put(108, 8, octal(0, 8));
  put(116, 8, octal(0, 8));
  put(124, 12, octal(content.length, 12));
  put(136, 12, octal(Date.parse(CREATED) / 1000, 12));
  put(148, 8, '        ');
  put(156, 1, '0');
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  put(265, 32, 'root');
  put(297, 32, 'root');
  let sum = 0;
  for (const byte of header) sum += byte;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

/** gzip with a fixed header (mtime 0, OS unix) so the digest does not depend on when or where it ran. */
function gzip(data) {
  const gz = gzipSync(data, { level: 9 });
  gz.writeUInt32LE(0, 4);
  gz[9] = 3;
  return gz;
}

async function blob(data) {
  const bytes = Buffer.from(data);
  const digest = sha256(bytes);
  await writeFile(join(out, 'blobs', 'sha256', digest.slice('sha256:'.length)), bytes);
  return { digest, size: bytes.length };
}

await rm(out, { recursive: true, force: true });
await mkdir(join(out, 'blobs', 'sha256'), { recursive: true });

const layerTar = tar('hello.txt', Buffer.from('Hello from Outpost!\n'));
const layer = await blob(gzip(layerTar));
const config = await blob(
  JSON.stringify({
    created: CREATED,
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['cat', '/hello.txt'] },
    rootfs: { type: 'layers', diff_ids: [sha256(layerTar)] },
    history: [{ created: CREATED, created_by: 'scripts/make-example-image.mjs' }],
  }),
);
const manifest = await blob(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    annotations: { 'org.opencontainers.image.title': 'hello', 'org.opencontainers.image.created': CREATED },
  }),
);
await writeFile(join(out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
await writeFile(
  join(out, 'index.json'),
  JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifest,
        annotations: { 'org.opencontainers.image.ref.name': 'latest' },
      },
    ],
  }),
);
process.stdout.write(`wrote ${out} (manifest ${manifest.digest})\n`);
