// The sync figures (issue 5, "Speed"): real Outpost processes in a hierarchy on loopback.
// Each figure starts its own root (and edges), so they do not share state or the 50-registry
// limit, and stops them at the end. Unlike the figures in figures.mjs they run once, not once
// per registry: `runOnce(ctx)` returns rows whose `results` already name the registry columns
// (the initial-sync row puts `skopeo sync` into an empty distribution in the distribution column).
import process from 'node:process';
import { URL } from 'node:url';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Pool, request } from 'undici';
import { randomBlob } from './blobs.mjs';
import { ensureBinary } from './deps.mjs';
import {
  basic, createConnectedRegistry, dirUsage, headManifest, imageOf, listTags, percentile, pushImage, startEdge, startRoot,
  waitFor, waitLoginServer,
} from './hierarchy.mjs';
import { pushBlob, pushManifest } from './oci.mjs';
import { processTree, treeCpuSeconds, treeRssKiB, writtenBytes } from './proc.mjs';
import { startDistribution } from './registries.mjs';
import { startRssSampler } from './rss.mjs';
import { MB, MiB, log, round, sleep } from './util.mjs';

const ms = (v) => round(v, 4);
const kib2mb = (k) => round((k * 1024) / MB, 4);

/** Stops every process in `procs` (in reverse start order), whatever happened. */
async function stopAll(procs) {
  for (const p of [...procs].reverse()) await p.stop().catch(() => undefined);
}

// ---------------------------------------------------------------------------------------------
// 1. Propagation latency: root → level-1 edge (ReadWrite) → level-2 edge (ReadOnly).

async function propagation(ctx) {
  const { syncPushes: pushes, syncPollMs: pollMs } = ctx.opts;
  const repo = 'prop/app';
  const procs = [];
  try {
    const root = await startRoot(ctx, 'prop-root');
    procs.push(root);
    const site = await createConnectedRegistry(root, { name: 'bench-site', mode: 'ReadWrite', repositories: [repo] });
    const siteNode = await startEdge(ctx, 'prop-site', site.connectionString);
    procs.push(siteNode);
    await waitLoginServer(root, site.name);
    const line = await createConnectedRegistry(root, { name: 'bench-line', mode: 'ReadOnly', parent: site.name, repositories: [repo] });
    const lineNode = await startEdge(ctx, 'prop-line', line.connectionString);
    procs.push(lineNode);
    log(`  root ${root.url}, level 1 ${siteNode.url} (ReadWrite), level 2 ${lineNode.url} (ReadOnly)`);

    // A base layer every image shares (already at the edges after the first image), as when a
    // CI pipeline pushes new builds of one application.
    const base = randomBlob(2 * MiB);
    const first = imageOf([base, randomBlob(MiB)], 'prop-base');
    await pushImage(root, repo, 'base', first);
    const c1 = new Client(siteNode.url, { pipelining: 1 });
    const c2 = new Client(lineNode.url, { pipelining: 1 });
    try {
      await waitFor('the first image at level 2', async () => (await headManifest(lineNode.url, repo, 'base', { dispatcher: c2 })) === first.digest, { timeoutMs: 60_000 });
      const runs = [];
      for (let i = 0; i < pushes; i++) {
        const img = imageOf([base, randomBlob(MiB)], `prop-${i}`);
        const tag = `build-${i}`;
        // The new layer and config first (not timed): "pushed" is the manifest PUT, when the tag
        // appears at the root.
        for (const b of [...img.layers, img.config]) await pushBlob(root.url, repo, b, undefined, root.pushHeaders);
        const t0 = performance.now();
        await pushManifest(root.url, repo, tag, img.manifest, root.pushHeaders);
        const putMs = performance.now() - t0;
        let l1 = null;
        let l2 = null;
        while (l2 === null) {
          if (performance.now() - t0 > 30_000) throw new Error(`push ${i} not at level 2 after 30 s`);
          const [d1, d2] = await Promise.all([
            l1 === null ? headManifest(siteNode.url, repo, tag, { dispatcher: c1 }) : null,
            headManifest(lineNode.url, repo, tag, { dispatcher: c2 }),
          ]);
          const t = performance.now() - t0;
          if (l1 === null && d1 === img.digest) l1 = t;
          if (d2 === img.digest) l2 = t;
          else await sleep(pollMs);
        }
        runs.push({ putMs: ms(putMs), level1Ms: ms(l1 ?? l2), level2Ms: ms(l2) });
        await sleep(100); // let both edges go back to their long-poll
      }
      const l2s = runs.map((r) => r.level2Ms);
      const l1s = runs.map((r) => r.level1Ms);
      const detail = {
        pushes,
        pollMs,
        hierarchy: 'root -> bench-site (ReadWrite) -> bench-line (ReadOnly), continuous sync',
        image: 'config + shared 2 MiB base layer (already at the edges) + a new random 1 MiB layer',
        timedFrom: 'start of the manifest PUT at the root',
        level2: { p50: ms(percentile(l2s, 50)), p95: ms(percentile(l2s, 95)), max: ms(Math.max(...l2s)), min: ms(Math.min(...l2s)) },
        level1: { p50: ms(percentile(l1s, 50)), p95: ms(percentile(l1s, 95)), max: ms(Math.max(...l1s)) },
        runs,
      };
      const row = (id, label, value) => ({ id, label, unit: 'ms', better: 'lower', results: { outpost: { value: ms(value), detail } } });
      return [
        row('sync-propagation-l2-p50-ms', `push at root -> pullable at level 2, p50 (${pushes} pushes)`, percentile(l2s, 50)),
        row('sync-propagation-l2-p95-ms', '  same, p95', percentile(l2s, 95)),
        row('sync-propagation-l1-p50-ms', '  (pullable at level 1, p50)', percentile(l1s, 50)),
      ];
    } finally {
      await Promise.all([c1.close(), c2.close()]);
    }
  } finally {
    await stopAll(procs);
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Initial sync of an image set: root → a fresh edge, against `skopeo sync` of the same set
// from the root into an empty distribution registry.

const SET_REPOS = 5;

/**
 * `count` images spread over 5 repositories (`initsync/app-1` …), 3 layers each, sizes of real
 * application images: a 5 MiB base layer shared by every image (the OS base), a 2 MiB layer
 * shared by the images of one repository (the runtime), and an application layer of its own of
 * 0.5 to 3 MiB. Random bytes, so nothing compresses. Returns { images, repos, distinct (digest →
 * size of every distinct blob, config and manifest), bytes (their sum), layerBytes (all images' layers) }.
 */
function imageSet(count) {
  const base = randomBlob(5 * MiB);
  const runtimes = Array.from({ length: SET_REPOS }, () => randomBlob(2 * MiB));
  const images = [];
  for (let i = 0; i < count; i++) {
    const r = i % SET_REPOS;
    const appSize = Math.round((0.5 + 2.5 * (((i * 37) % 50) / 49)) * MiB);
    const image = imageOf([base, runtimes[r], randomBlob(appSize)], `initsync-${i}`);
    images.push({ repo: `initsync/app-${r + 1}`, tag: `v${Math.floor(i / SET_REPOS) + 1}.0`, image });
  }
  // What a fresh edge misses: every distinct blob, config and manifest of the set.
  const distinct = new Map();
  for (const { image } of images) {
    for (const b of [...image.layers, image.config]) distinct.set(b.digest, b.size);
    distinct.set(image.digest, image.manifest.length);
  }
  let bytes = 0;
  for (const size of distinct.values()) bytes += size;
  const layerBytes = images.reduce((sum, { image }) => sum + image.layers.reduce((s, l) => s + l.size, 0), 0);
  return { images, repos: [...new Set(images.map((x) => x.repo))], distinct, bytes, layerBytes };
}

/** Runs a command to its end; rejects with its output tail on a non-zero exit. */
function run(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(cmd)} exited ${code}: ${out.slice(-800)}`))));
  });
}

/** Polls the tag lists of `set` at `base` until every tag of the set is there. */
async function waitAllTags(base, set, headers = {}) {
  const want = new Map(set.repos.map((r) => [r, new Set(set.images.filter((x) => x.repo === r).map((x) => x.tag))]));
  const client = new Client(base, { pipelining: 1 });
  try {
    await waitFor(`all ${set.images.length} tags at ${base}`, async () => {
      for (const [repo, tags] of want) {
        const have = new Set(await listTags(base, repo, { dispatcher: client, headers }));
        for (const t of tags) if (!have.has(t)) return false;
      }
      return true;
    }, { timeoutMs: 300_000, intervalMs: 20 });
  } finally {
    await client.close();
  }
}

/** Every tag of the set resolves to the pushed digest at `base` (checked after the timing). */
async function checkDigests(base, set, headers = {}) {
  for (const { repo, tag, image } of set.images) {
    const d = await headManifest(base, repo, tag, { headers });
    if (d !== image.digest) throw new Error(`${base}: ${repo}:${tag} is ${d}, want ${image.digest}`);
  }
}

/** Blobs stored by a registry: Outpost <data>/storage/blobs, distribution <root>/docker/registry/v2/blobs/…/data. */
function storedBlobs(reg, kind) {
  return kind === 'outpost'
    ? dirUsage(path.join(reg.dataDir, 'storage', 'blobs'))
    : dirUsage(path.join(reg.dataDir, 'docker', 'registry', 'v2', 'blobs'), 'data');
}

async function initialSync(ctx) {
  const set = imageSet(ctx.opts.syncImages);
  const procs = [];
  try {
    const root = await startRoot(ctx, 'init-root');
    procs.push(root);
    const t0 = performance.now();
    const queue = [...set.images];
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let x = queue.shift(); x; x = queue.shift()) await pushImage(root, x.repo, x.tag, x.image);
    }));
    log(`  pushed ${set.images.length} images (${set.repos.length} repositories, ${round(set.bytes / MB, 4)} MB distinct) to the root in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const edgeCr = await createConnectedRegistry(root, { name: 'bench-edge', mode: 'ReadOnly', repositories: set.repos });

    // Outpost: from the edge's spawn until every tag is listed at the edge.
    const rootPids = processTree(root.pid);
    const w0 = rootPids.reduce((s, p) => s + writtenBytes(p), 0);
    const start = performance.now();
    const edge = await startEdge(ctx, 'init-edge', edgeCr.connectionString);
    procs.push(edge);
    const readyMs = performance.now() - start;
    await waitAllTags(edge.url, set);
    const outpostMs = performance.now() - start;
    const rootWrote = rootPids.reduce((s, p) => s + writtenBytes(p), 0) - w0;
    await checkDigests(edge.url, set);
    const edgeStored = storedBlobs(edge, 'outpost');
    await edge.stop();
    const outpost = {
      value: round(outpostMs / 1000, 4),
      detail: {
        readyMs: ms(readyMs),
        syncAfterReadyMs: ms(outpostMs - readyMs),
        edgeStoredBlobs: edgeStored.files,
        edgeStoredBytes: edgeStored.bytes,
        rootWroteBytes: rootWrote,
      },
    };
    log(`  outpost edge: all ${set.images.length} tags after ${outpost.value} s (ready after ${(readyMs / 1000).toFixed(2)} s)`);

    const results = { outpost };
    let skopeo = null;
    if (ctx.opts.targets.includes('distribution')) {
      const bin = ensureBinary('skopeo', 'skopeo');
      const version = (await run(bin, ['--version'])).trim();
      const dist = await startDistribution({ workDir: ctx.workDir, dirName: 'init-distribution' });
      procs.push(dist);
      const destHost = new URL(dist.url).host;
      const srcHost = new URL(root.url).host;
      const w1 = rootPids.reduce((s, p) => s + writtenBytes(p), 0);
      const t1 = performance.now();
      // One `skopeo sync` per repository (it syncs every tag of one repository from --src docker),
      // one after the other; --preserve-digests so that the copies are byte for byte the same.
      for (const repo of set.repos) {
        await run(bin, [
          'sync', '--src', 'docker', '--dest', 'docker', '--src-tls-verify=false', '--dest-tls-verify=false',
          '--src-creds', `admin:${root.adminPassword}`, '--preserve-digests',
          `${srcHost}/${repo}`, `${destHost}/${path.posix.dirname(repo)}`,
        ]);
      }
      const skopeoMs = performance.now() - t1;
      const rootWroteSkopeo = rootPids.reduce((s, p) => s + writtenBytes(p), 0) - w1;
      await checkDigests(dist.url, set);
      const distStored = storedBlobs(dist, 'distribution');
      await dist.stop();
      skopeo = { version, ms: skopeoMs };
      results.distribution = {
        value: round(skopeoMs / 1000, 4),
        detail: { tool: `${version}, ${set.repos.length} sequential 'skopeo sync --src docker --dest docker' runs into an empty distribution`, destStoredBlobs: distStored.files, destStoredBytes: distStored.bytes, rootWroteBytes: rootWroteSkopeo },
      };
      log(`  skopeo sync -> distribution: ${results.distribution.value} s`);
    }

    const setDetail = {
      images: set.images.length,
      repositories: set.repos.length,
      layersPerImage: 3,
      layers: '5 MiB base shared by all images, 2 MiB runtime shared per repository, own app layer 0.5-3 MiB',
      distinctBlobs: set.distinct.size,
      distinctBytes: set.bytes,
      layerBytesAllImages: set.layerBytes,
    };
    outpost.detail.set = setDetail;
    outpost.detail.movedEqualsMissing = edgeStored.bytes === set.bytes && edgeStored.files === set.distinct.size;
    const rows = [
      {
        id: 'sync-initial-s',
        label: `initial sync, ${set.images.length} images x 3 layers (d: skopeo sync)`,
        unit: 's',
        better: 'lower',
        results,
      },
      {
        id: 'sync-initial-stored-mb',
        label: `  blob bytes stored at the edge / dest (distinct in set: ${round(set.bytes / MB, 4)} MB)`,
        unit: 'MB',
        better: 'lower',
        results: {
          outpost: { value: round(edgeStored.bytes / MB, 5), detail: { files: edgeStored.files, distinctFiles: set.distinct.size } },
          ...(results.distribution ? { distribution: { value: round(results.distribution.detail.destStoredBytes / MB, 5), detail: { files: results.distribution.detail.destStoredBlobs } } } : {}),
        },
      },
      {
        id: 'sync-initial-root-sent-mb',
        label: '  bytes the root wrote while syncing (wchar)',
        unit: 'MB',
        better: 'lower',
        results: {
          outpost: { value: round(rootWrote / MB, 5) },
          ...(results.distribution ? { distribution: { value: round(results.distribution.detail.rootWroteBytes / MB, 5) } } : {}),
        },
      },
    ];
    if (skopeo) log(`  ratio Outpost/skopeo ${(outpostMs / skopeo.ms).toFixed(2)} (target <= 0.5)`);
    return rows;
  } finally {
    await stopAll(procs);
  }
}

// ---------------------------------------------------------------------------------------------
// 3. A root serving many idle children that long-poll at once.

/** The most connected registries a root takes (docs/management-api.md). */
const MAX_CONNECTED_REGISTRIES = 50;
/** The wait each simulated child asks for (a real edge asks for 25 s; the gateway grants up to 60). */
const IDLE_WAIT_S = 55;

async function idlePolls(ctx) {
  const polls = ctx.opts.idlePolls;
  const holdS = Math.min(ctx.opts.idleHold, IDLE_WAIT_S - 15);
  const registries = Math.min(MAX_CONNECTED_REGISTRIES, polls);
  const repo = 'idle/app';
  const procs = [];
  let pool = null;
  try {
    const root = await startRoot(ctx, 'idle-root');
    procs.push(root);
    await pushImage(root, repo, 'v0', imageOf([randomBlob(64 * 1024)], 'idle-v0'));
    const rssFreshKiB = treeRssKiB(processTree(root.pid));

    // The children: connected registries with their sync tokens, activated as a real edge does
    // (which is also when the root checks each token's password with scrypt, once).
    const t0 = performance.now();
    // Four at a time: creating one generates a password (scrypt) and activating checks it.
    const children = new Array(registries);
    let nextChild = 0;
    await Promise.all(Array.from({ length: 4 }, async () => {
      for (let i = nextChild++; i < registries; i = nextChild++) {
        const cr = await createConnectedRegistry(root, { name: `idle-child-${String(i + 1).padStart(2, '0')}`, mode: 'ReadOnly', repositories: [repo] });
        const auth = basic(cr.tokenName, cr.tokenPassword);
        const instanceId = crypto.randomUUID();
        const act = await request(`${root.url}/gateway/v1/${cr.name}/activate`, {
          method: 'POST',
          headers: { ...auth, 'content-type': 'application/json' },
          body: JSON.stringify({ instanceId, version: 'bench-simulated-child' }),
        });
        if (act.statusCode !== 200) throw new Error(`activate ${cr.name}: ${act.statusCode} ${await act.body.text()}`);
        await act.body.dump();
        children[i] = { name: cr.name, auth, instanceId };
      }
    }));
    // Where each child starts waiting: the head of the root's log, with its current config ETag.
    for (const c of children) {
      const first = await request(`${root.url}/gateway/v1/${c.name}/messages?after=0&wait=0`, { headers: c.auth });
      if (first.statusCode !== 200) throw new Error(`messages of ${c.name}: ${first.statusCode} ${await first.body.text()}`);
      const page = await first.body.json();
      Object.assign(c, { cursor: page.next, config: page.config });
    }
    log(`  ${registries} connected registries created and activated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const pids = processTree(root.pid);
    const cpu = () => treeCpuSeconds(pids);
    await sleep(1000);
    const idle0 = cpu();
    await sleep(3000);
    const idleCpuS = cpu() - idle0;
    const rssBeforeKiB = treeRssKiB(pids);

    // Open the polls: child k of registry r = k % registries, each on its own connection.
    pool = new Pool(root.url, { connections: polls, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000, keepAliveTimeout: 120_000 });
    const answers = new Array(polls).fill(null);
    const cpuOpen0 = cpu();
    const inflight = Array.from({ length: polls }, (_, k) => {
      const c = children[k % registries];
      return pool.request({
        method: 'GET',
        path: `/gateway/v1/${c.name}/messages?after=${c.cursor}&wait=${IDLE_WAIT_S}&config=${encodeURIComponent(c.config)}`,
        headers: c.auth,
      }).then(async (res) => {
        const body = await res.body.text();
        answers[k] = { at: performance.now(), status: res.statusCode, messages: res.statusCode === 200 ? JSON.parse(body).messages.length : 0, error: res.statusCode === 200 ? null : body.slice(0, 200) };
      }, (err) => {
        answers[k] = { at: performance.now(), status: 0, messages: 0, error: err.message };
      });
    });
    // Let every request reach the root and settle into its wait.
    await sleep(3000);
    const cpuOpenS = cpu() - cpuOpen0;
    const early = answers.filter(Boolean);
    if (early.length > 0) throw new Error(`${early.length} of ${polls} long-polls answered before any change (first: ${early[0].status} ${early[0].error ?? ''})`);

    // The hold: CPU time and RSS of the root while all of them wait.
    const sampler = await startRssSampler(root.pid, 200);
    const hold0 = cpu();
    const holdStart = performance.now();
    await sleep(holdS * 1000);
    const holdCpuS = cpu() - hold0;
    const holdWall = (performance.now() - holdStart) / 1000;
    const rss = await sampler.stop();
    const stillHeld = answers.filter((a) => a === null).length;
    if (stillHeld !== polls) throw new Error(`${polls - stillHeld} of ${polls} long-polls answered during the hold`);

    // A push at the root wakes them: blobs first (not timed), then the manifest PUT.
    const img = imageOf([randomBlob(64 * 1024)], 'idle-v1');
    for (const b of [...img.layers, img.config]) await pushBlob(root.url, repo, b, undefined, root.pushHeaders);
    const wake0 = cpu();
    const pushedAt = performance.now();
    await pushManifest(root.url, repo, 'v1', img.manifest, root.pushHeaders);
    const putMs = performance.now() - pushedAt;
    await Promise.race([Promise.all(inflight), sleep(15_000)]);
    const wakeCpuS = cpu() - wake0;
    const rssAfterKiB = treeRssKiB(pids);

    // What the same children would also cost when real: a heartbeat each (PUT status, every
    // 10 s per edge). One round of `polls` heartbeats, 10 at a time, timed by the root's CPU.
    const hb0 = cpu();
    const hbQueue = Array.from({ length: polls }, (_, k) => children[k % registries]);
    await Promise.all(Array.from({ length: 10 }, async () => {
      for (let c = hbQueue.shift(); c; c = hbQueue.shift()) {
        const res = await request(`${root.url}/gateway/v1/${c.name}/status`, {
          method: 'PUT',
          headers: { ...c.auth, 'content-type': 'application/json' },
          body: JSON.stringify({
            instanceId: c.instanceId, connectionState: 'Online', statusDetails: [], lastSyncTime: new Date().toISOString(),
            version: 'bench-simulated-child', loginServer: null, cursor: c.cursor, outbox: 0, descendants: [],
          }),
        });
        const text = await res.body.text();
        if (res.statusCode !== 200) throw new Error(`heartbeat of ${c.name}: ${res.statusCode} ${text.slice(0, 200)}`);
      }
    }));
    const heartbeatCpuMs = ((cpu() - hb0) / polls) * 1000;
    const pollCpuMs = (cpuOpenS / polls) * 1000;
    // A real idle edge re-polls when its 25 s wait ends and heartbeats every 10 s.
    const steadyPct = ((polls / 25) * pollCpuMs + (polls / 10) * heartbeatCpuMs) / 10;
    const got = answers.filter(Boolean);
    const ok = got.filter((a) => a.status === 200 && a.messages > 0);
    const lat = ok.map((a) => a.at - pushedAt);
    const within1s = lat.filter((v) => v <= 1000).length;
    const failures = got.filter((a) => !(a.status === 200 && a.messages > 0));
    const detail = {
      polls,
      registries,
      pollsPerRegistry: round(polls / registries, 3),
      wait: IDLE_WAIT_S,
      holdSeconds: round(holdWall, 4),
      how: `${registries} connected registries created at the root and activated; ${polls} GET /gateway/v1/<cr>/messages?after=<head>&wait=${IDLE_WAIT_S}&config=<etag>, each on its own connection, child k on registry k mod ${registries} with its sync token (Basic)`,
      cpu: {
        idleNoPollsPct: round((idleCpuS / 3) * 100, 3),
        openingSeconds: round(cpuOpenS, 4),
        holdSeconds: round(holdCpuS, 4),
        holdPctOfOneCore: round((holdCpuS / holdWall) * 100, 3),
        wakeSeconds: round(wakeCpuS, 4),
        perPollOpenMs: round(pollCpuMs, 3),
        perHeartbeatMs: round(heartbeatCpuMs, 3),
        steadyStateEstimatePct: round(steadyPct, 3),
        steadyStateEstimate: `${polls} real idle edges: a re-poll each per 25 s (perPollOpenMs) + a heartbeat each per 10 s (perHeartbeatMs), % of one core`,
      },
      rssMB: { freshRoot: kib2mb(rssFreshKiB), beforePolls: kib2mb(rssBeforeKiB), holdFirst: kib2mb(rss.firstKiB), holdPeak: kib2mb(rss.peakKiB), afterWake: kib2mb(rssAfterKiB), samples: rss.samples },
      wake: {
        putMs: ms(putMs),
        answered: got.length,
        withMessages: ok.length,
        within1s,
        minMs: ms(Math.min(...lat)),
        p50Ms: ms(percentile(lat, 50)),
        p95Ms: ms(percentile(lat, 95)),
        maxMs: ms(Math.max(...lat)),
        failures: failures.slice(0, 5),
      },
    };
    if (ok.length < polls) log(`  warning: only ${ok.length} of ${polls} long-polls answered with the change (${failures.length} failures)`);
    const out = (value) => ({ outpost: { value, detail } });
    return [
      { id: 'sync-idle-cpu-pct', label: `root CPU, ${polls} idle long-polls held ${Math.round(holdWall)} s`, unit: '% core', better: 'lower', results: out(round((holdCpuS / holdWall) * 100, 3)) },
      { id: 'sync-idle-rss-before-mb', label: '  root RSS before the polls', unit: 'MB', better: 'lower', results: out(kib2mb(rssBeforeKiB)) },
      { id: 'sync-idle-rss-peak-mb', label: '  root RSS while they are held (peak)', unit: 'MB', better: 'lower', results: out(kib2mb(rss.peakKiB)) },
      { id: 'sync-idle-wake-1s', label: `  polls answered within 1 s of a push (of ${polls})`, unit: 'polls', better: 'higher', results: out(within1s) },
      { id: 'sync-idle-wake-p95-ms', label: '  push -> poll answered, p95', unit: 'ms', better: 'lower', results: out(ms(percentile(lat, 95))) },
      { id: 'sync-idle-steady-pct', label: `  (estimate: ${polls} real idle edges, re-poll 25 s + heartbeat 10 s)`, unit: '% core', better: 'lower', results: out(round(steadyPct, 3)) },
    ];
  } finally {
    await pool?.destroy().catch(() => undefined);
    await stopAll(procs);
  }
}

export const SYNC_FIGURES = [
  { id: 'sync-propagation', title: 'Sync: propagation latency root -> level 1 -> level 2 (continuous sync)', runOnce: propagation },
  { id: 'sync-idle-polls', title: 'Sync: a root holding many idle children\'s long-polls (CPU, RSS, wake-up)', runOnce: idlePolls },
  { id: 'sync-initial', title: 'Sync: initial sync of an image set root -> fresh edge, vs skopeo sync into an empty distribution', runOnce: initialSync },
];
