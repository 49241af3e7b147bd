// The garbage-collection figures (issue 11, "Storage lifecycle"): a real Outpost root on a large
// seeded store, collected while clients read from it, and a small push/delete/collect cycle whose
// bytes on disk are compared with the bytes still referenced. Run once, on processes of their own.
import { Buffer } from 'node:buffer';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { URL, pathToFileURL } from 'node:url';
import { Pool, request } from 'undici';
import { randomBlob } from './blobs.mjs';
import { dirUsage, imageOf, mgmt, pushImage } from './hierarchy.mjs';
import { OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256 } from './oci.mjs';
import { startOutpost } from './registries.mjs';
import { MiB, assertLoopback, log, round, sleep } from './util.mjs';

const PER_REPOSITORY = 100;
/** One manifest in ten is garbage (deleted, its bytes and its blobs' links left for the collector). */
const GARBAGE_EVERY = 10;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Seeds a data folder before the node starts, fast, straight through the files and SQL batches
 * (not through /v2, which would take an hour for this many objects): Outpost's own migrations
 * create the schema, then one transaction inserts the metadata, and the blob files are written
 * where the filesystem driver keeps them (content-addressed, so each digest is its bytes' hash).
 * `manifests` manifests in repositories of 100, each with its own config and one small layer;
 * one in ten is garbage: its manifest row is gone (as after a delete) but its bytes and its two
 * blob links are left, as a client's delete leaves them. Everything is two days old.
 */
async function seedStore(dataDir, repoRoot, manifests) {
  const t0 = performance.now();
  const dbPath = path.join(dataDir, 'metadata.db');
  fs.mkdirSync(dataDir, { recursive: true });
  const { SqliteMetadataStore } = await import(pathToFileURL(path.join(repoRoot, 'dist', 'src', 'metadata', 'index.js')).href);
  await (await SqliteMetadataStore.open(dbPath)).close();
  const Database = createRequire(path.join(repoRoot, 'package.json'))('better-sqlite3');
  const db = new Database(dbPath);
  db.pragma('journal_mode = WAL');
  const blobRoot = path.join(dataDir, 'storage', 'blobs', 'sha256');
  const folders = new Set();
  const counts = { manifestFiles: 0, blobFiles: 0, bytes: 0, garbageManifests: 0, garbageBlobs: 0, garbageBytes: 0, links: 0 };
  const kept = [];
  const write = (bytes) => {
    const digest = sha256(bytes);
    const hex = digest.slice('sha256:'.length);
    const folder = path.join(blobRoot, hex.slice(0, 2));
    if (!folders.has(folder)) {
      fs.mkdirSync(folder, { recursive: true });
      folders.add(folder);
    }
    fs.writeFileSync(path.join(folder, hex), bytes);
    counts.bytes += bytes.length;
    return digest;
  };
  const at = Date.now() - 2 * DAY_MS;
  const insertRepository = db.prepare('INSERT INTO repositories (name, created_at) VALUES (?, ?)');
  const insertLink = db.prepare('INSERT INTO repository_blobs (repository_id, digest, size, created_at, refreshed_at) VALUES (?, ?, ?, ?, ?)');
  const insertManifest = db.prepare(`INSERT INTO manifests (repository_id, digest, media_type, size, artifact_type, subject, annotations, created_at)
    VALUES (?, ?, ?, ?, NULL, NULL, NULL, ?)`);
  const insertReference = db.prepare('INSERT INTO manifest_blobs (repository_id, manifest_digest, blob_digest) VALUES (?, ?, ?)');
  const insertTag = db.prepare('INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    for (let r = 0; r * PER_REPOSITORY < manifests; r++) {
      const id = Number(insertRepository.run(`gcbench/app-${r}`, at).lastInsertRowid);
      for (let j = 0; j < PER_REPOSITORY && r * PER_REPOSITORY + j < manifests; j++) {
        const garbage = j % GARBAGE_EVERY === GARBAGE_EVERY - 1;
        const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { repository: r, image: j } } }));
        const layer = crypto.randomBytes(200);
        const configDigest = write(config);
        const layerDigest = write(layer);
        const body = Buffer.from(JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: { mediaType: OCI_CONFIG, digest: configDigest, size: config.length },
          layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: layer.length }],
        }));
        const manifest = write(body);
        counts.manifestFiles += 1;
        counts.blobFiles += 2;
        insertLink.run(id, configDigest, config.length, at, at);
        insertLink.run(id, layerDigest, layer.length, at, at);
        counts.links += 2;
        if (garbage) {
          counts.garbageManifests += 1;
          counts.garbageBlobs += 2;
          counts.garbageBytes += body.length + config.length + layer.length;
          continue;
        }
        kept.push({ repository: `gcbench/app-${r}`, digest: manifest });
        insertManifest.run(id, manifest, OCI_MANIFEST, body.length, at);
        insertReference.run(id, manifest, configDigest);
        insertReference.run(id, manifest, layerDigest);
        insertTag.run(id, `v${j}`, manifest, at);
      }
    }
  })();
  db.close();
  return { counts: { ...counts, seconds: round((performance.now() - t0) / 1000, 3) }, kept };
}

/**
 * `connections` requests of `url` in flight at all times (each body read to its end), until
 * stopped; keeps the time each one completed, so a rate can be read over any window afterwards.
 */
function startLoad(url, { connections, headers = {} }) {
  assertLoopback(url);
  const pool = new Pool(new URL(url).origin, { connections, pipelining: 1 });
  const done = [];
  let errors = 0;
  let running = true;
  const loop = async () => {
    while (running) {
      try {
        const res = await request(url, { headers, dispatcher: pool });
        await res.body.dump({ limit: Infinity });
        if (res.statusCode === 200) done.push(performance.now());
        else errors += 1;
      } catch {
        errors += 1;
        if (running) await sleep(10);
      }
    }
  };
  const loops = Array.from({ length: connections }, loop);
  return {
    /** Completed requests per second in [from, to] (performance.now() times). */
    rate(from, to) {
      let n = 0;
      for (const t of done) if (t >= from && t <= to) n += 1;
      return n / ((to - from) / 1000);
    },
    get errors() {
      return errors;
    },
    async stop() {
      running = false;
      await Promise.all(loops);
      await pool.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 1. A large store: time to mark and to sweep, and the read rates while it sweeps.

/** Rounds of "delete some images, then collect" while the read load runs; each gives a ratio. */
const RATE_ROUNDS = 3;
const DELETES_PER_ROUND = 1000;

/** Deletes images through the management API, a few at once (not timed). */
async function deleteImages(root, images) {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < images.length; i = next++) {
      const { repository, digest } = images[i];
      const answer = await mgmt(root, 'DELETE', `/repositories/${repository}/manifests/${digest}`);
      if (answer.status !== 204) throw new Error(`delete ${repository}@${digest}: ${answer.status}`);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

async function collect(root) {
  const answer = await mgmt(root, 'POST', '/gc', {});
  if (answer.status !== 200) throw new Error(`POST /mgmt/v1/gc answered ${answer.status} ${JSON.stringify(answer.json)}`);
  return answer.json;
}

async function largeStore(ctx) {
  const manifests = ctx.opts.gcManifests;
  const dirName = 'gc-store';
  const dataDir = path.join(ctx.workDir, dirName, 'data');
  log(`  seeding ${manifests} manifests and ${2 * manifests} blobs (1 in ${GARBAGE_EVERY} garbage)`);
  const { counts: seed, kept } = await seedStore(dataDir, ctx.repoRoot, manifests);
  log(`  seeded in ${seed.seconds} s`);
  // Grace 0: the seeded store is two days old anyway, and the loads below only read.
  const root = await startOutpost({ workDir: ctx.workDir, repoRoot: ctx.repoRoot, outpostBin: ctx.opts.outpostBin, dirName, name: 'outpost-gc', env: { OUTPOST_GC_GRACE: 'PT0S' } });
  try {
    // The read load's targets: an image whose layer is the 1 MiB blob (referenced, so it stays).
    const blob = randomBlob(MiB);
    const image = imageOf([blob], 'gc-load');
    await pushImage(root, 'gcbench/load', 'v1', image);

    // The time to mark and to sweep: the seeded store, nothing else running.
    const report = await collect(root);
    const expected = { links: seed.garbageBlobs, blobs: seed.garbageBlobs, manifests: seed.garbageManifests };
    const got = { links: report.links.count, blobs: report.blobs.count, manifests: report.manifests.count };
    if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error(`the collection freed ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
    const left = dirUsage(path.join(dataDir, 'storage', 'blobs'));
    log(`  collected in ${round(report.timings.totalMs / 1000, 3)} s; now the read rates while it sweeps (${RATE_ROUNDS} rounds)`);

    // The read rates while a sweep runs, against the rates just before and just after it (their
    // mean): other work on the machine drifts, so each round compares neighbouring windows, and
    // the figure is the median round.
    const manifestLoad = startLoad(`${root.url}/v2/gcbench/load/manifests/v1`, { connections: 64, headers: { accept: OCI_MANIFEST } });
    const blobLoad = startLoad(`${root.url}/v2/gcbench/load/blobs/${blob.digest}`, { connections: 16 });
    const rounds = [];
    try {
      const quiet = Math.max(3, ctx.opts.seconds) * 1000;
      await sleep(Math.max(1, ctx.opts.warmup) * 1000);
      for (let r = 0; r < RATE_ROUNDS; r++) {
        await deleteImages(root, kept.splice(0, Math.min(DELETES_PER_ROUND, kept.length)));
        const b0 = performance.now();
        await sleep(quiet);
        const b1 = performance.now();
        const swept = await collect(root);
        const g1 = performance.now();
        await sleep(quiet);
        const a1 = performance.now();
        const rates = (load) => {
          const before = load.rate(b0, b1);
          const after = load.rate(g1, a1);
          const during = load.rate(b1, g1);
          return { before: round(before, 5), during: round(during, 5), after: round(after, 5), ratio: round(during / ((before + after) / 2), 4) };
        };
        rounds.push({ sweepMs: round(g1 - b1, 4), freed: { links: swept.links.count, blobs: swept.blobs.count, manifests: swept.manifests.count }, timings: swept.timings, manifestGet: rates(manifestLoad), blobGet1MiB: rates(blobLoad) });
        log(`  round ${r + 1}: sweep ${round((g1 - b1) / 1000, 3)} s, manifest GET x${rounds.at(-1).manifestGet.ratio}, blob GET x${rounds.at(-1).blobGet1MiB.ratio}`);
      }
    } finally {
      await Promise.all([manifestLoad.stop(), blobLoad.stop()]);
    }
    const medianOf = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const detail = {
      seeded: { ...seed, how: 'files and SQL batches before the node started (not through /v2); 2 days old; grace PT0S' },
      report,
      filesLeft: left.files,
      rates: {
        how: `${RATE_ROUNDS} rounds while 64 connections GET a manifest and 16 connections GET a 1 MiB blob without pause: delete ${DELETES_PER_ROUND} images through the management API, read for ${Math.max(3, ctx.opts.seconds)} s, collect, read for as long again; a round's ratio is the rate during the collection over the mean of the rates before and after it`,
        rounds,
        errors: { manifestGet: manifestLoad.errors, blobGet1MiB: blobLoad.errors },
      },
    };
    const t = report.timings;
    const out = (value) => ({ outpost: { value, detail } });
    const label = `GC of ${manifests} manifests / ${2 * manifests} blobs (10 % garbage)`;
    return [
      { id: 'gc-mark-ms', label: `${label}: mark`, unit: 'ms', better: 'lower', results: out(t.markMs) },
      { id: 'gc-sweep-ms', label: '  sweep (links, bytes, uploads)', unit: 'ms', better: 'lower', results: out(t.linksMs + t.sweepMs + t.uploadsMs) },
      { id: 'gc-total-ms', label: '  whole run', unit: 'ms', better: 'lower', results: out(t.totalMs) },
      { id: 'gc-manifest-get-ratio', label: `  manifest GET rate during a sweep / without (64 conns, median of ${RATE_ROUNDS})`, unit: 'x', better: 'higher', results: out(medianOf(rounds.map((r) => r.manifestGet.ratio))) },
      { id: 'gc-blob-get-ratio', label: `  1 MiB blob GET rate during a sweep / without (16 conns, median of ${RATE_ROUNDS})`, unit: 'x', better: 'higher', results: out(medianOf(rounds.map((r) => r.blobGet1MiB.ratio))) },
    ];
  } finally {
    await root.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. A full cycle: push, delete half, collect; bytes on disk against the bytes still referenced.

async function cycle(ctx) {
  const dirName = 'gc-cycle';
  const root = await startOutpost({ workDir: ctx.workDir, repoRoot: ctx.repoRoot, outpostBin: ctx.opts.outpostBin, dirName, name: 'outpost-gc-cycle', env: { OUTPOST_GC_GRACE: 'PT0S' } });
  try {
    const images = 40;
    const base = randomBlob(512 * 1024);
    const pushed = [];
    for (let i = 0; i < images; i++) {
      const image = imageOf([base, randomBlob(64 * 1024 + i)], `cycle-${i}`);
      const repo = `cycle/app-${i % 4}`;
      await pushImage(root, repo, `v${i}`, image);
      pushed.push({ repo, image });
    }
    // An upload a client gave up on half-way.
    const start = await request(`${root.url}/v2/cycle/app-0/blobs/uploads/`, { method: 'POST', headers: { 'content-length': '0', ...root.pushHeaders } });
    await start.body.dump();
    const patch = await request(new URL(start.headers.location, root.url), {
      method: 'PATCH', headers: { 'content-type': 'application/octet-stream', ...root.pushHeaders }, body: crypto.randomBytes(100 * 1024),
    });
    await patch.body.dump();
    // Half the images go: every other one, by digest (their tags go with them).
    const kept = [];
    for (const [i, p] of pushed.entries()) {
      if (i % 2 === 1) {
        const deleted = await mgmt(root, 'DELETE', `/repositories/${p.repo}/manifests/${p.image.digest}`);
        if (deleted.status !== 204) throw new Error(`delete ${p.repo}@${p.image.digest}: ${deleted.status}`);
      } else kept.push(p);
    }
    const before = dirUsage(path.join(root.dataDir, 'storage'));
    const answer = await mgmt(root, 'POST', '/gc', {});
    if (answer.status !== 200) throw new Error(`POST /mgmt/v1/gc answered ${answer.status}`);
    const after = dirUsage(path.join(root.dataDir, 'storage'));
    // What the kept images need, from what the bench pushed (not from Outpost's metadata): each
    // distinct digest once (the base layer is shared), manifests included.
    const referenced = new Map();
    for (const { image } of kept) {
      referenced.set(image.digest, image.manifest.length);
      referenced.set(image.config.digest, image.config.size);
      for (const layer of image.layers) referenced.set(layer.digest, layer.size);
    }
    let referencedBytes = 0;
    for (const size of referenced.values()) referencedBytes += size;
    const detail = {
      images, deleted: images - kept.length, abandonedUploadBytes: 100 * 1024,
      onDiskBefore: before, onDiskAfter: after, referenced: { digests: referenced.size, bytes: referencedBytes }, report: answer.json,
    };
    return [
      { id: 'gc-cycle-on-disk-mb', label: `push ${images} images, delete half, collect: bytes on disk`, unit: 'MB', better: 'lower', results: { outpost: { value: round(after.bytes / 1e6, 6), detail } } },
      { id: 'gc-cycle-excess-bytes', label: '  bytes on disk minus bytes referenced', unit: 'B', better: 'lower', results: { outpost: { value: after.bytes - referencedBytes, detail } } },
    ];
  } finally {
    await root.stop();
  }
}

async function gcFigures(ctx) {
  return [...(await largeStore(ctx)), ...(await cycle(ctx))];
}

export const GC_FIGURES = [
  { id: 'gc', title: 'Garbage collection: a large store collected under read load; bytes after push, delete half, collect', runOnce: gcFigures },
];
