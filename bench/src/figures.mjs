// The figures. Each figure runs against one registry at a time and returns rows
// { id, label, unit, better, value, detail }; main.mjs puts the registries side by side.
import { performance } from 'node:perf_hooks';
import { setInterval, clearInterval } from 'node:timers';
import { request } from 'undici';
import { pushBlob, pushManifest, getAndCheck, OCI_MANIFEST } from './oci.mjs';
import { launchers } from './registries.mjs';
import { openBlob } from './blobs.mjs';
import { runWrk } from './wrk.mjs';
import { downloadBlob, newClient, uploadBlob } from './transfer.mjs';
import { startRssSampler, rssNow } from './rss.mjs';
import { MB, freePort, log, median, round, sleep } from './util.mjs';
import { SYNC_FIGURES } from './sync-figures.mjs';
import { WEBHOOK_FIGURES } from './webhook-figures.mjs';
import { processTree, treeCpuSeconds } from './proc.mjs';
import { GC_FIGURES } from './gc-figures.mjs';

const mbps = ({ bytes, ms }) => bytes / MB / (ms / 1000);

/** Push a large file-backed blob once per registry (several figures share them). */
async function ensureLargeBlob(reg, ctx, repo, blob) {
  const key = `${reg.name} ${repo} ${blob.digest}`;
  if (ctx.pushed.has(key)) return;
  const client = newClient(reg.url);
  try {
    await pushBlob(reg.url, repo, { digest: blob.digest, size: blob.size, body: openBlob(blob) }, client, reg.pushHeaders);
  } finally {
    await client.close();
  }
  ctx.pushed.add(key);
}

async function wrkFigure(reg, ctx, { url, connections, headers }) {
  const { seconds, warmup } = ctx.opts;
  if (warmup > 0) await runWrk({ url, connections, seconds: warmup, headers });
  const r = await runWrk({ url, connections, seconds, headers });
  if (r.errors > 0) log(`  warning: ${reg.name}: ${r.errors} errors ${JSON.stringify(r.errorDetail)}`);
  return r;
}

function wrkDetail(r) {
  const { rps, ...rest } = r;
  return { ...rest, rps: round(rps, 5), mbps: round(r.mbps, 4) };
}

/**
 * Pushes the bench image to `reg` as `<repo>:v1`, checks one GET (digest, size and, with
 * `mustAuthenticate`, that an anonymous GET is refused), then runs wrk with 64 connections
 * against the manifest with the credentials `reg` gives for pulling.
 */
async function manifestLoad(reg, ctx, repo, { mustAuthenticate = false } = {}) {
  const img = ctx.data.image;
  for (const b of img.blobs) await pushBlob(reg.url, repo, b, undefined, reg.pushHeaders);
  await pushManifest(reg.url, repo, 'v1', img.manifest, reg.pushHeaders);
  const url = `${reg.url}/v2/${repo}/manifests/v1`;
  const headers = { Accept: OCI_MANIFEST, ...(await reg.pullHeaders(repo)) };
  const check = await getAndCheck(url, { headers, size: img.manifest.length });
  const got = check.headers['docker-content-digest'];
  if (got && got !== img.manifestDigest) log(`  warning: ${reg.name}: Docker-Content-Digest ${got} != ${img.manifestDigest}`);
  if (mustAuthenticate) {
    const anonymous = await request(url, { headers: { Accept: OCI_MANIFEST } });
    await anonymous.body.dump();
    if (anonymous.statusCode !== 401) throw new Error(`${reg.name} served a secured manifest without credentials (${anonymous.statusCode})`);
  }
  return wrkFigure(reg, ctx, { url, connections: 64, headers });
}

/**
 * The cost of metrics on the manifest-GET rate (issue 13; goal within 5 %). Three fresh Outpost
 * processes, the same but for `--metrics-listen` on one: `plain`, its `twin` (an A/A control)
 * and `metered`. Each round loads each process in turn for `--metrics-seconds`, in an order that
 * rotates every round (so no process always goes first); while `metered` is loaded its /metrics
 * is scraped every 5 s, as Prometheus would (a little more often). A round gives two ratios to
 * `plain`: the metered one and the twin's — the twin's says how far two identical processes
 * differ on this machine at that moment (position, drift, noise). The rows are the medians over
 * the rounds, for request rate and for CPU time per request (what metrics cost the process
 * itself, which a loaded machine disturbs less than the rate), and the metered ratio over the
 * twin's: the cost with the machine's own difference taken out. Many short rounds beat a few
 * long ones on a shared machine: its load drifts between rounds, rarely within one.
 */
async function metricsCost(reg, ctx) {
  if (reg.name !== 'outpost') return [];
  const rounds = ctx.opts.metricsRounds;
  const seconds = ctx.opts.metricsSeconds;
  const metricsPort = await freePort();
  const start = (dirName, extraArgs = []) => launchers.outpost({ workDir: ctx.workDir, repoRoot: ctx.repoRoot, outpostBin: ctx.opts.outpostBin, dirName, extraArgs });
  const plain = await start('outpost-no-metrics');
  const twin = await start('outpost-no-metrics-twin');
  const metered = await start('outpost-metrics', ['--metrics-listen', `127.0.0.1:${metricsPort}`]);
  const all = [plain, twin, metered];
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  const scrapeOnce = async () => {
    const res = await request(metricsUrl);
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`metrics answered ${res.statusCode}`);
    return text;
  };
  try {
    const loads = new Map();
    for (const r of all) {
      const img = ctx.data.image;
      for (const b of img.blobs) await pushBlob(r.url, 'bench/metrics', b, undefined, r.pushHeaders);
      await pushManifest(r.url, 'bench/metrics', 'v1', img.manifest, r.pushHeaders);
      const url = `${r.url}/v2/bench/metrics/manifests/v1`;
      await getAndCheck(url, { headers: { Accept: OCI_MANIFEST }, size: img.manifest.length });
      loads.set(r, { url, connections: 64, headers: { Accept: OCI_MANIFEST } });
      // Warmed once, long enough for the JIT to settle: the rounds then compare steady processes.
      await runWrk({ ...loads.get(r), seconds: Math.max(3, ctx.opts.warmup * 2) });
    }
    const runs = [];
    for (let i = 0; i < rounds; i++) {
      const order = [...all.slice(i % 3), ...all.slice(0, i % 3)];
      const result = new Map();
      for (const r of order) {
        const timer = r === metered ? setInterval(() => void scrapeOnce().catch(() => undefined), 5000) : null;
        try {
          const cpuBefore = treeCpuSeconds(processTree(r.pid));
          const w = await runWrk({ ...loads.get(r), seconds });
          if (w.errors > 0) log(`  warning: ${r.name}: ${w.errors} errors ${JSON.stringify(w.errorDetail)}`);
          const cpuUs = ((treeCpuSeconds(processTree(r.pid)) - cpuBefore) * 1e6) / Math.max(1, w.requests);
          result.set(r, { rps: w.rps, cpuUs });
        } finally {
          if (timer) clearInterval(timer);
        }
      }
      const [a, a2, b] = all.map((r) => result.get(r));
      const run = { off: a.rps, twin: a2.rps, on: b.rps, ratio: b.rps / a.rps, twinRatio: a2.rps / a.rps, cpuRatio: b.cpuUs / a.cpuUs, twinCpuRatio: a2.cpuUs / a.cpuUs, cpuOff: a.cpuUs, cpuOn: b.cpuUs };
      log(`  round ${i + 1}/${rounds}: without ${round(a.rps, 0)} req/s (${round(a.cpuUs, 1)} µs CPU/req), twin ${round(a2.rps, 0)} (${round(a2.cpuUs, 1)}), with metrics ${round(b.rps, 0)} (${round(b.cpuUs, 1)}); ratio ${run.ratio.toFixed(3)} (twin ${run.twinRatio.toFixed(3)}), CPU ratio ${run.cpuRatio.toFixed(3)} (twin ${run.twinCpuRatio.toFixed(3)})`);
      runs.push(run);
    }
    // The listener counted what it served (a metrics build that counts nothing would be cheap too).
    const counted = /outpost_http_requests_total\{route="v2:manifest",method="GET",code="200"\} (\d+)/.exec(await scrapeOnce());
    if (!counted || Number(counted[1]) < 1000) throw new Error('the metrics listener did not count the manifest GETs');
    const med = (key) => median(runs.map((r) => r[key]));
    const detail = {
      seconds, counted: Number(counted[1]),
      rounds: runs.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round(v, 4)]))),
    };
    return [
      { id: 'metrics-off-manifest-get-rps', label: 'manifest GET, 64 conns, no metrics (median)', unit: 'req/s', better: 'higher', value: med('off'), detail },
      { id: 'metrics-on-manifest-get-rps', label: '  the same with --metrics-listen (median)', unit: 'req/s', better: 'higher', value: med('on'), detail },
      { id: 'metrics-cost-ratio', label: '  with / without metrics, median of rounds (goal >= 0.95)', unit: 'ratio', better: 'higher', value: med('ratio'), detail },
      { id: 'metrics-twin-ratio', label: '  twin / without (two identical processes: the noise floor)', unit: 'ratio', better: 'higher', value: med('twinRatio'), detail },
      { id: 'metrics-cpu-per-request-ratio', label: '  CPU per request, with / without, median of rounds', unit: 'ratio', better: 'lower', value: med('cpuRatio'), detail },
      { id: 'metrics-twin-cpu-ratio', label: '  CPU per request, twin / without', unit: 'ratio', better: 'lower', value: med('twinCpuRatio'), detail },
      { id: 'metrics-cost-vs-twin', label: '  with metrics / twin, request rate (the cost, noise floor out)', unit: 'ratio', better: 'higher', value: med('ratio') / med('twinRatio'), detail },
    ];
  } finally {
    for (const r of all) await r.stop();
  }
}

export const FIGURES = [
  {
    id: 'blob-get-rps',
    title: '1 MiB blob GETs/s, 16 connections (wrk)',
    async run(reg, ctx) {
      const repo = 'bench/small';
      const blob = ctx.data.small;
      await pushBlob(reg.url, repo, blob, undefined, reg.pushHeaders);
      const url = `${reg.url}/v2/${repo}/blobs/${blob.digest}`;
      await getAndCheck(url, { size: blob.size });
      const r = await wrkFigure(reg, ctx, { url, connections: 16 });
      return [
        {
          id: 'blob-get-1m-rps',
          label: '1 MiB blob GET, 16 conns',
          unit: 'req/s',
          better: 'higher',
          value: r.rps,
          detail: wrkDetail(r),
        },
      ];
    },
  },
  {
    id: 'manifest-get-rps',
    title: 'Manifest GETs/s by tag, 64 connections (wrk)',
    async run(reg, ctx) {
      const r = await manifestLoad(reg, ctx, 'bench/image');
      return [{ id: 'manifest-get-rps', label: 'manifest GET (tag), 64 conns', unit: 'req/s', better: 'higher', value: r.rps, detail: wrkDetail(r) }];
    },
  },
  {
    id: 'auth-manifest-get-rps',
    title: 'Authenticated manifest GETs/s, 64 connections (wrk): Outpost Bearer JWT vs distribution htpasswd Basic',
    async run(reg, ctx) {
      // A second instance of the same registry with authentication on, started for this figure.
      const secured = await launchers[reg.name]({ workDir: ctx.workDir, repoRoot: ctx.repoRoot, outpostBin: ctx.opts.outpostBin, authenticated: true });
      try {
        const r = await manifestLoad(secured, ctx, 'bench/secured', { mustAuthenticate: true });
        const auth = reg.name === 'outpost' ? 'Bearer JWT' : 'htpasswd Basic (bcrypt)';
        return [{ id: 'auth-manifest-get-rps', label: 'authenticated manifest GET, 64 conns', unit: 'req/s', better: 'higher', value: r.rps, detail: { ...wrkDetail(r), auth } }];
      } finally {
        await secured.stop();
      }
    },
  },
  {
    id: 'blob-get-mbps',
    title: 'Large blob GET throughput, single stream',
    async run(reg, ctx) {
      const rows = [];
      const repo = 'bench/large';
      for (const sizeMiB of ctx.opts.largeSizes) {
        const blob = ctx.data.getBlobs[sizeMiB];
        const reps = ctx.opts.reps[sizeMiB] ?? ctx.opts.reps.default;
        await ensureLargeBlob(reg, ctx, repo, blob);
        const client = newClient(reg.url);
        const runs = [];
        try {
          await downloadBlob(client, repo, blob); // warm-up, not counted
          for (let i = 0; i < reps; i++) runs.push(mbps(await downloadBlob(client, repo, blob)));
        } finally {
          await client.close();
        }
        rows.push({
          id: `blob-get-${sizeMiB}m-mbps`,
          label: `${sizeMiB} MiB blob GET, 1 stream`,
          unit: 'MB/s',
          better: 'higher',
          value: median(runs),
          detail: { reps, runs: runs.map((v) => round(v, 4)), best: round(Math.max(...runs), 4) },
        });
      }
      return rows;
    },
  },
  {
    id: 'push-mbps',
    title: 'Large blob monolithic push throughput (POST + single PUT ?digest=)',
    async run(reg, ctx) {
      const rows = [];
      const repo = 'bench/push';
      for (const sizeMiB of ctx.opts.largeSizes) {
        const runs = [];
        for (const blob of ctx.data.pushBlobs[sizeMiB]) {
          runs.push(mbps(await uploadBlob(reg.url, repo, blob, reg.pushHeaders)));
        }
        rows.push({
          id: `push-${sizeMiB}m-mbps`,
          label: `${sizeMiB} MiB monolithic push`,
          unit: 'MB/s',
          better: 'higher',
          value: median(runs),
          detail: { reps: runs.length, runs: runs.map((v) => round(v, 4)), best: round(Math.max(...runs), 4) },
        });
      }
      return rows;
    },
  },
  {
    id: 'rss',
    title: 'Peak RSS while N clients download one large blob at once',
    async run(reg, ctx) {
      const { rssClients, rssSize } = ctx.opts;
      const repo = 'bench/large';
      const blob = ctx.data.rssBlob;
      await ensureLargeBlob(reg, ctx, repo, blob);
      const baselineKiB = rssNow(reg.pid);
      const sampler = await startRssSampler(reg.pid, 100);
      await sleep(300);
      const clients = Array.from({ length: rssClients }, () => newClient(reg.url));
      const t0 = performance.now();
      try {
        await Promise.all(clients.map((c) => downloadBlob(c, repo, blob)));
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
      const ms = performance.now() - t0;
      await sleep(300);
      const s = await sampler.stop();
      const kib2mb = (k) => (k * 1024) / MB;
      return [
        {
          id: 'rss-peak-mb',
          label: `peak RSS, ${rssClients}x${rssSize} MiB GET`,
          unit: 'MB',
          better: 'lower',
          value: kib2mb(s.peakKiB),
          detail: {
            baselineMB: round(kib2mb(baselineKiB), 4),
            peakMB: round(kib2mb(s.peakKiB), 4),
            afterMB: round(kib2mb(s.lastKiB), 4),
            samples: s.samples,
            pids: s.pids,
          },
        },
        {
          id: 'rss-aggregate-mbps',
          label: `  (aggregate MB/s of those GETs)`,
          unit: 'MB/s',
          better: 'higher',
          value: mbps({ bytes: blob.size * rssClients, ms }),
          detail: { seconds: round(ms / 1000, 4) },
        },
      ];
    },
  },
  // Run once (not once per registry), each with its own Outpost hierarchy: see sync-figures.mjs
  // and webhook-figures.mjs.
  {
    id: 'metrics-cost',
    title: 'Cost of Prometheus metrics on manifest GETs/s (Outpost with and without --metrics-listen, interleaved)',
    run: metricsCost,
  },
  ...SYNC_FIGURES,
  ...WEBHOOK_FIGURES,
  ...GC_FIGURES,
];
