#!/usr/bin/env node
// Entry point of `npm run bench`: starts the registries, generates the test data,
// runs every figure against every registry with the same tools, prints the table
// and writes results/latest.json. Registries are stopped at the end, even on error.
import process from 'node:process';
import console from 'node:console';
import { performance } from 'node:perf_hooks';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { makeImage } from './oci.mjs';
import { randomBlob, randomBlobFile } from './blobs.mjs';
import { FIGURES } from './figures.mjs';
import { launchers, outpostVersion, stopAll, killAllSync } from './registries.mjs';
import { killWrk, prepareWrk } from './wrk.mjs';
import { computeRatios, renderTable, writeJson } from './report.mjs';
import { MiB, log, round } from './util.mjs';

const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoRoot = path.resolve(benchDir, '..');
const env = (k, d) => process.env[k] ?? d;
/** The garbage-collection store is seeded in repositories of this many manifests. */
const PER_GC_REPOSITORY = 100;

const USAGE = `Usage: npm run bench -- [options]
  --only <list>        registries to run, comma separated (default: outpost,distribution)
  --figures <list>     figure groups (default: all): ${FIGURES.map((f) => f.id).join(',')}
  --duration <s>       wrk measuring time per req/s figure    [BENCH_DURATION, 10]
  --warmup <s>         wrk warm-up before measuring (0 = none) [BENCH_WARMUP, 2]
  --sizes <list>       large blob sizes in MiB                 [BENCH_SIZES, 64,256]
  --reps <n>           repetitions for large sizes <= 64 MiB   [BENCH_REPS, 5]
  --reps-large <n>     repetitions for larger sizes            [BENCH_REPS_LARGE, 3]
  --rss-clients <n>    concurrent downloads for the RSS figure [BENCH_RSS_CLIENTS, 16]
  --rss-size <MiB>     blob size for the RSS figure            [BENCH_RSS_SIZE, 256]
  --sync-pushes <n>    pushes timed root -> level 2            [BENCH_SYNC_PUSHES, 25]
  --sync-poll-ms <ms>  HEAD poll interval at the edges         [BENCH_SYNC_POLL_MS, 5]
  --sync-images <n>    images in the initial-sync set          [BENCH_SYNC_IMAGES, 50]
  --idle-polls <n>     simulated idle children long-polling    [BENCH_IDLE_POLLS, 500]
  --idle-hold <s>      how long they are held and measured     [BENCH_IDLE_HOLD, 25]
  --metrics-rounds <n> rounds of metrics-cost (without, twin, with metrics, order rotating) [BENCH_METRICS_ROUNDS, 15]
  --metrics-seconds <s> load per process per round in metrics-cost [BENCH_METRICS_SECONDS, 4]
  --gc-manifests <n>   manifests in the garbage-collection store (2 blobs each) [BENCH_GC_MANIFESTS, 50000]
  --outpost-bin <path> Outpost launcher to run               [OUTPOST_BIN, ../bin/outpost]
  --out <file>         JSON output (default: bench/results/latest.json)
  --quick              short smoke run: 3 s wrk, 1 s warm-up, 2/1 reps, 10 s idle hold
  --keep               keep the temp folder (registry data and logs)
  -h, --help`;

function options() {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', default: env('BENCH_ONLY', 'outpost,distribution') },
      figures: { type: 'string', default: env('BENCH_FIGURES', FIGURES.map((f) => f.id).join(',')) },
      duration: { type: 'string', default: env('BENCH_DURATION', '10') },
      warmup: { type: 'string', default: env('BENCH_WARMUP', '2') },
      sizes: { type: 'string', default: env('BENCH_SIZES', '64,256') },
      reps: { type: 'string', default: env('BENCH_REPS', '5') },
      'reps-large': { type: 'string', default: env('BENCH_REPS_LARGE', '3') },
      'rss-clients': { type: 'string', default: env('BENCH_RSS_CLIENTS', '16') },
      'rss-size': { type: 'string', default: env('BENCH_RSS_SIZE', '256') },
      'sync-pushes': { type: 'string', default: env('BENCH_SYNC_PUSHES', '25') },
      'sync-poll-ms': { type: 'string', default: env('BENCH_SYNC_POLL_MS', '5') },
      'sync-images': { type: 'string', default: env('BENCH_SYNC_IMAGES', '50') },
      'idle-polls': { type: 'string', default: env('BENCH_IDLE_POLLS', '500') },
      'idle-hold': { type: 'string', default: env('BENCH_IDLE_HOLD', '25') },
      'metrics-rounds': { type: 'string', default: env('BENCH_METRICS_ROUNDS', '15') },
      'metrics-seconds': { type: 'string', default: env('BENCH_METRICS_SECONDS', '4') },
      'gc-manifests': { type: 'string', default: env('BENCH_GC_MANIFESTS', '50000') },
      'outpost-bin': { type: 'string', default: env('OUTPOST_BIN', path.join(repoRoot, 'bin', 'outpost')) },
      out: { type: 'string', default: path.join(benchDir, 'results', 'latest.json') },
      quick: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const list = (s) => s.split(',').map((x) => x.trim()).filter(Boolean);
  const num = (s, name) => {
    const n = Number(s);
    if (!Number.isFinite(n) || n < 0) throw new Error(`bad --${name}: ${s}`);
    return n;
  };
  const targets = list(values.only);
  for (const t of targets) if (!launchers[t]) throw new Error(`unknown registry ${t} (outpost, distribution)`);
  const figures = list(values.figures);
  for (const f of figures) if (!FIGURES.some((x) => x.id === f)) throw new Error(`unknown figure ${f}`);
  const largeSizes = list(values.sizes).map((s) => num(s, 'sizes'));
  let reps = num(values.reps, 'reps');
  let repsLarge = num(values['reps-large'], 'reps-large');
  let seconds = num(values.duration, 'duration');
  let warmup = num(values.warmup, 'warmup');
  let idleHold = num(values['idle-hold'], 'idle-hold');
  if (values.quick) [seconds, warmup, reps, repsLarge, idleHold] = [3, 1, 2, 1, 10];
  return {
    targets: ['outpost', 'distribution'].filter((t) => targets.includes(t)),
    figures,
    seconds,
    warmup,
    largeSizes,
    reps: Object.fromEntries(largeSizes.map((s) => [s, s <= 64 ? reps : repsLarge])),
    rssClients: num(values['rss-clients'], 'rss-clients'),
    rssSize: num(values['rss-size'], 'rss-size'),
    syncPushes: Math.max(1, Math.round(num(values['sync-pushes'], 'sync-pushes'))),
    syncPollMs: num(values['sync-poll-ms'], 'sync-poll-ms'),
    syncImages: Math.max(1, Math.round(num(values['sync-images'], 'sync-images'))),
    idlePolls: Math.max(1, Math.round(num(values['idle-polls'], 'idle-polls'))),
    idleHold,
    metricsRounds: Math.max(1, Math.round(num(values['metrics-rounds'], 'metrics-rounds'))),
    metricsSeconds: Math.max(1, num(values['metrics-seconds'], 'metrics-seconds')),
    gcManifests: Math.max(PER_GC_REPOSITORY, Math.round(num(values['gc-manifests'], 'gc-manifests'))),
    out: path.resolve(values.out),
    outpostBin: path.resolve(values['outpost-bin']),
    keep: values.keep,
    quick: values.quick,
  };
}

function generateData(opts, workDir) {
  const t0 = performance.now();
  const dir = path.join(workDir, 'blobs');
  fs.mkdirSync(dir, { recursive: true });
  const want = (id) => opts.figures.includes(id);
  const data = { small: randomBlob(MiB), image: makeImage(), getBlobs: {}, pushBlobs: {} };
  for (const s of opts.largeSizes) {
    if (want('blob-get-mbps') || (want('rss') && s === opts.rssSize)) {
      data.getBlobs[s] = randomBlobFile(path.join(dir, `get-${s}m.bin`), s * MiB);
    }
    if (want('push-mbps')) {
      data.pushBlobs[s] = Array.from({ length: opts.reps[s] }, (_, i) =>
        randomBlobFile(path.join(dir, `push-${s}m-${i}.bin`), s * MiB),
      );
    }
  }
  if (want('rss')) {
    data.rssBlob =
      data.getBlobs[opts.rssSize] ?? randomBlobFile(path.join(dir, `rss-${opts.rssSize}m.bin`), opts.rssSize * MiB);
  }
  log(`generated test data in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return data;
}

async function main() {
  const opts = options();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'outpost-bench-'));
  const started = new Date();
  const loadStart = os.loadavg().map((v) => round(v, 3));
  log(`work dir ${workDir}`);

  // Stop the registries on any exit path: normal, error, Ctrl-C, SIGTERM.
  const removeWorkDir = () => {
    if (opts.keep) log(`kept ${workDir}`);
    else fs.rmSync(workDir, { recursive: true, force: true });
  };
  process.on('exit', () => {
    killWrk();
    killAllSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      interrupted = true;
      log(`${sig}: stopping registries`);
      killWrk();
      stopAll()
        .then(removeWorkDir)
        .finally(() => process.exit(130));
    });
  }

  let interrupted = false;
  const regs = [];
  const rows = new Map();
  const errors = [];
  try {
    const figures = FIGURES.filter((f) => opts.figures.includes(f.id));
    // The per-registry figures share one instance of each registry; the sync figures start their own.
    const perRegistry = figures.some((f) => !f.runOnce);
    if (perRegistry) prepareWrk(workDir);
    for (const name of perRegistry ? opts.targets : []) {
      log(`starting ${name}`);
      try {
        const reg = await launchers[name]({ workDir, repoRoot, outpostBin: opts.outpostBin });
        log(`  ${name} pid ${reg.pid} at ${reg.url} (${reg.version ?? '?'})`);
        regs.push(reg);
      } catch (err) {
        errors.push({ target: name, figure: 'startup', error: err.message });
        log(`  ${name} failed to start: ${err.message}`);
      }
    }
    if (perRegistry && regs.length === 0) throw new Error('no registry could be started');

    const ctx = { opts, data: generateData(opts, workDir), pushed: new Set(), workDir, repoRoot };
    for (const [i, fig] of figures.entries()) {
      log(`figure: ${fig.title}`);
      if (fig.runOnce) {
        // Once per run, on processes of its own; its rows carry their own per-registry results.
        if (interrupted) return;
        if (!opts.targets.includes('outpost')) {
          log('  skipped (needs outpost)');
          continue;
        }
        const t0 = performance.now();
        try {
          for (const row of await fig.runOnce(ctx)) {
            rows.set(row.id, row);
            for (const [name, r] of Object.entries(row.results)) {
              log(`  ${name.padEnd(12)} ${row.label.trim()}: ${round(r.value, 4)} ${row.unit}`);
            }
          }
        } catch (err) {
          if (interrupted) return;
          errors.push({ target: 'outpost', figure: fig.id, error: err.message });
          log(`  ${fig.id} FAILED: ${err.stack ?? err.message}`);
        }
        log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
        continue;
      }
      // Alternate which registry goes first, so neither always gets the fresher machine.
      for (const reg of i % 2 ? [...regs].reverse() : regs) {
        if (interrupted) return;
        const t0 = performance.now();
        try {
          for (const row of await fig.run(reg, ctx)) {
            if (!rows.has(row.id)) rows.set(row.id, { ...row, results: {}, value: undefined, detail: undefined });
            rows.get(row.id).results[reg.name] = { value: round(row.value, 5), detail: row.detail };
            log(`  ${reg.name.padEnd(12)} ${row.label}: ${round(row.value, 4)} ${row.unit}`);
          }
        } catch (err) {
          if (interrupted) return;
          errors.push({ target: reg.name, figure: fig.id, error: err.message });
          log(`  ${reg.name}: ${fig.id} FAILED: ${err.message}`);
          if (reg.exited) log(`  ${reg.name} exited; log tail:\n${reg.logTail()}`);
        }
        log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
      }
    }
  } finally {
    await stopAll();
    removeWorkDir();
  }

  const table = [...rows.values()].map(({ value: _v, detail: _d, ...r }) => r);
  computeRatios(table);
  const shown = opts.targets.map((name) => ({ name, label: name === 'outpost' ? 'Outpost' : 'distribution' }));
  console.log('');
  console.log(renderTable(table, shown));
  const rss = table.find((r) => r.id === 'rss-peak-mb')?.results.outpost?.value;
  if (rss !== undefined) console.log(`\nOutpost peak RSS target < 200 MB: ${rss < 200 ? 'PASS' : 'FAIL'} (${rss} MB)`);
  for (const e of errors) console.log(`ERROR ${e.target} ${e.figure}: ${e.error.split('\n')[0]}`);

  writeJson(opts.out, {
    tool: 'outpost-bench',
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memGiB: round(os.totalmem() / 2 ** 30, 3),
      kernel: os.release(),
      // Other work on the machine skews every figure: the 1/5/15-minute load at start and end.
      loadavgStart: loadStart,
      loadavgEnd: os.loadavg().map((v) => round(v, 3)),
      node: process.version,
    },
    options: { ...opts, out: undefined },
    registries: Object.fromEntries(
      opts.targets.map((n) => [n, { version: regs.find((r) => r.name === n)?.version ?? (n === 'outpost' ? outpostVersion(repoRoot) : null) }]),
    ),
    figures: table,
    errors,
  });
  log(`wrote ${path.relative(process.cwd(), opts.out) || opts.out}`);
  process.exitCode = errors.length ? 1 : 0;
}

main().catch(async (err) => {
  log(`fatal: ${err.stack ?? err.message}`);
  await stopAll();
  process.exit(1);
});
