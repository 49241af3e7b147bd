// The webhook figure (issue 13): how long after a push its webhook delivery arrives, for a push
// at the root and for a push at a level-2 edge (the event travels up two hops, then the root
// delivers it). Real Outpost processes in a hierarchy on loopback; the receiver is an HTTP
// server in this process. Runs once, like the sync figures.
import { Buffer } from 'node:buffer';
import http from 'node:http';
import { clearTimeout, setTimeout } from 'node:timers';
import { performance } from 'node:perf_hooks';
import { randomBlob } from './blobs.mjs';
import { createConnectedRegistry, imageOf, mgmt, percentile, startEdge, startRoot, waitFor, waitLoginServer } from './hierarchy.mjs';
import { pushBlob, pushManifest } from './oci.mjs';
import { log, round, sleep } from './util.mjs';

const KiB = 1024;

const ms = (v) => round(v, 4);

/** A webhook receiver: answers 200 at once and remembers when each push (by `repository:tag`) arrived. */
async function startReceiver() {
  const arrivals = new Map();
  const waiters = new Map();
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      res.writeHead(200).end();
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const key = `${body.target?.repository}:${body.target?.tag}`;
        if (!arrivals.has(key)) arrivals.set(key, { at, count: 0, body });
        arrivals.get(key).count += 1;
        waiters.get(key)?.();
      } catch {
        // not an event: ignored
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/hook`,
    arrivals,
    /** Resolves with the arrival time of `key`'s event (rejects after `timeoutMs`). */
    arrival(key, timeoutMs = 30_000) {
      if (arrivals.has(key)) return Promise.resolve(arrivals.get(key).at);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no webhook for ${key} within ${timeoutMs} ms`)), timeoutMs);
        waiters.set(key, () => {
          clearTimeout(timer);
          waiters.delete(key);
          resolve(arrivals.get(key).at);
        });
      });
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/**
 * Pushes `pushes` images to `node` (blobs first, not timed; the clock starts at the manifest PUT)
 * and times each until the receiver has its webhook. Returns the latencies in ms.
 */
async function timePushes(node, repo, receiver, pushes, label) {
  const latencies = [];
  for (let i = 0; i < pushes; i++) {
    const tag = `${label}-${i}`;
    const image = imageOf([randomBlob(64 * KiB)], `hook-${label}-${i}`);
    for (const b of [...image.layers, image.config]) await pushBlob(node.url, repo, b, undefined, node.pushHeaders);
    const t0 = performance.now();
    await pushManifest(node.url, repo, tag, image.manifest, node.pushHeaders);
    const at = await receiver.arrival(`${repo}:${tag}`);
    latencies.push(at - t0);
    await sleep(100); // let every hop go back to waiting
  }
  return latencies;
}

async function webhookLatency(ctx) {
  const pushes = ctx.opts.syncPushes;
  const procs = [];
  const receiver = await startReceiver();
  try {
    const root = await startRoot(ctx, 'hook-root');
    procs.push(root);
    const created = await mgmt(root, 'POST', '/webhooks', { name: 'benchhook', serviceUri: receiver.url, actions: ['push'], scope: 'hook/*:*' });
    if (created.status !== 201) throw new Error(`create webhook: ${created.status} ${JSON.stringify(created.json)}`);
    const site = await createConnectedRegistry(root, { name: 'hook-site', mode: 'ReadWrite', repositories: ['hook/lab'] });
    const siteNode = await startEdge(ctx, 'hook-site', site.connectionString);
    procs.push(siteNode);
    await waitLoginServer(root, site.name);
    const lab = await createConnectedRegistry(root, { name: 'hook-lab', mode: 'ReadWrite', parent: site.name, repositories: ['hook/lab'], notifications: ['hook/*:push'] });
    const labNode = await startEdge(ctx, 'hook-lab', lab.connectionString);
    procs.push(labNode);
    log(`  root ${root.url}, level 1 ${siteNode.url}, level 2 ${labNode.url} (notificationsList hook/*:push); receiver ${receiver.url}`);

    // Warm-up (not timed): one push at each place, once the lab takes pushes (its first config).
    await timePushes(root, 'hook/root', receiver, 1, 'warm');
    await waitFor('the lab to take pushes', async () => {
      try {
        await timePushes(labNode, 'hook/lab', receiver, 1, `warm-${Date.now()}`);
        return true;
      } catch {
        return false;
      }
    }, { timeoutMs: 60_000, intervalMs: 500 });

    const rootLat = await timePushes(root, 'hook/root', receiver, pushes, 'root');
    const labLat = await timePushes(labNode, 'hook/lab', receiver, pushes, 'lab');
    const duplicates = [...receiver.arrivals.values()].filter((a) => a.count > 1).length;
    const stats = (v) => ({ p50: ms(percentile(v, 50)), p95: ms(percentile(v, 95)), min: ms(Math.min(...v)), max: ms(Math.max(...v)) });
    const detail = {
      pushes,
      hierarchy: 'root -> hook-site (ReadWrite) -> hook-lab (ReadWrite, notificationsList hook/*:push), continuous sync; webhook at the root, scope hook/*:*',
      image: 'config + one random 64 KiB layer',
      timedFrom: 'start of the manifest PUT, until the receiver has the webhook request',
      root: stats(rootLat),
      level2: stats(labLat),
      duplicates,
      runs: { root: rootLat.map(ms), level2: labLat.map(ms) },
    };
    const row = (id, label, value) => ({ id, label, unit: 'ms', better: 'lower', results: { outpost: { value: ms(value), detail } } });
    return [
      row('webhook-root-p50-ms', `push at root -> webhook received, p50 (${pushes} pushes)`, percentile(rootLat, 50)),
      row('webhook-root-p95-ms', '  same, p95', percentile(rootLat, 95)),
      row('webhook-l2-p50-ms', `push at level-2 edge -> webhook received at the root's receiver, p50`, percentile(labLat, 50)),
      row('webhook-l2-p95-ms', '  same, p95', percentile(labLat, 95)),
    ];
  } finally {
    for (const p of [...procs].reverse()) await p.stop().catch(() => undefined);
    await receiver.close();
  }
}

export const WEBHOOK_FIGURES = [
  { id: 'webhook-latency', title: 'Webhooks: push -> webhook delivered, at the root and at a level-2 edge', runOnce: webhookLatency },
];
