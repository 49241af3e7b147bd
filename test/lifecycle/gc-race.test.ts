import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.js';
import { isRegistryError } from '../../src/oci/errors.js';
import { SyncApplier } from '../../src/sync/sync-applier.js';
import type { GcReport } from '../../src/core/gc-report.js';
import { OCI_MANIFEST, TestClient, errorCode, sha256 } from '../helpers/oci-client.js';
import { startTestNode, type TestNode } from '../helpers/test-node.js';
import { gcStores, type GcStores } from './gc-fixture.js';

/**
 * The classic race of online garbage collection: a blob stored (or found stored: a dedup, a
 * mount, a HEAD) while a sweep runs, and a manifest that references it put at the same moment.
 * The sweep is forced (grace 0 on a frozen manual clock: everything unreferenced is old enough
 * to go), so only the gate and the re-check under it stand between the two. Whatever
 * interleaving happens, a committed manifest is whole: its bytes and every blob it names are
 * stored. A push may lose the race honestly (its link swept before the manifest came: the
 * manifest PUT is refused with MANIFEST_BLOB_UNKNOWN and the client pushes again); it never
 * succeeds over missing bytes.
 */

const ITERATIONS = 300;
/** Unreferenced files left for each sweep, so that it is busy deleting while the client pushes. */
const LEFTOVERS = 16;

type Scenario = 'monolithic' | 'chunked' | 'dedup' | 'mount' | 'head';
const SCENARIOS: readonly Scenario[] = ['monolithic', 'chunked', 'dedup', 'mount', 'head'];

/** Lets `turns` rounds of the event loop pass, so the sweep and the client start at varied points of each other. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('garbage collection racing pushes (grace 0, forced)', () => {
  let node: TestNode;
  let client: TestClient;

  before(async () => {
    node = await startTestNode({ app: { clock: new ManualClock(Date.UTC(2030, 0, 1)) }, env: { OUTPOST_GC_GRACE: 'PT0S' } });
    client = new TestClient(node.url);
  });
  after(async () => {
    await node.close();
  });

  async function upload(repo: string, data: Buffer): Promise<number> {
    const res = await client.request('POST', `/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { body: data, headers: { 'Content-Type': 'application/octet-stream' } });
    await res.arrayBuffer();
    return res.status;
  }

  async function chunked(repo: string, data: Buffer): Promise<number> {
    const start = await client.request('POST', `/v2/${repo}/blobs/uploads/`);
    await start.arrayBuffer();
    if (start.status !== 202) return start.status;
    const location = start.headers.get('location')!;
    const half = Math.floor(data.length / 2);
    const patch = await client.request('PATCH', location, { body: data.subarray(0, half), headers: { 'Content-Type': 'application/octet-stream' } });
    await patch.arrayBuffer();
    // The session itself is garbage once untouched for the grace period (0 here): the sweep may take it between two calls.
    if (patch.status !== 202) return patch.status;
    const separator = location.includes('?') ? '&' : '?';
    const put = await client.request('PUT', `${location}${separator}digest=${sha256(data)}`, { body: data.subarray(half), headers: { 'Content-Type': 'application/octet-stream' } });
    await put.arrayBuffer();
    return put.status;
  }

  /** The client side of one iteration: the blobs (a config and a layer) reach `race` by the scenario's path, then the manifest is put. */
  async function push(scenario: Scenario, tag: string, config: Buffer, layer: Buffer): Promise<{ status: number; code: string | null; manifest: string }> {
    // A blob upload never fails because a sweep runs: the bytes it stores (or finds stored) are
    // held until its link commits. (An upload session may be swept between its calls — it is
    // garbage after the grace period, 0 here — and the client uploads again.)
    const uploaded = async (blob: Buffer): Promise<void> => assert.equal(await upload('race', blob), 201, `${scenario} ${tag}: the upload of ${sha256(blob)}`);
    switch (scenario) {
      case 'monolithic':
      case 'dedup':
        // dedup: the bytes are already stored (prepared before the sweep started), the upload finds them.
        await uploaded(config);
        await uploaded(layer);
        break;
      case 'chunked':
        if ((await chunked('race', config)) !== 201) await uploaded(config);
        if ((await chunked('race', layer)) !== 201) await uploaded(layer);
        break;
      case 'mount':
        for (const blob of [config, layer]) {
          const res = await client.request('POST', `/v2/race/blobs/uploads/?mount=${sha256(blob)}&from=source`);
          await res.arrayBuffer();
          // The source's link may have been swept already: then it is an ordinary upload.
          if (res.status !== 201) await uploaded(blob);
        }
        break;
      case 'head':
        for (const blob of [config, layer]) {
          const res = await client.request('HEAD', `/v2/race/blobs/${sha256(blob)}`);
          if (res.status !== 200) await uploaded(blob);
        }
        break;
    }
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
    });
    const res = await client.putManifest('race', tag, body);
    const code = res.status === 201 ? null : await errorCode(res);
    if (res.status === 201) await res.arrayBuffer();
    return { status: res.status, code, manifest: sha256(body) };
  }

  /** What must hold before a scenario: bytes already stored (dedup), linked in another repository (mount) or in `race` (head). */
  async function prepare(scenario: Scenario, config: Buffer, layer: Buffer): Promise<void> {
    for (const blob of [config, layer]) {
      if (scenario === 'dedup') {
        assert.equal(await upload('scratch', blob), 201);
        const res = await client.request('DELETE', `/v2/scratch/blobs/${sha256(blob)}`);
        assert.equal(res.status, 202, 'unlinked: its bytes are garbage now');
      } else if (scenario === 'mount') {
        assert.equal(await upload('source', blob), 201);
      } else if (scenario === 'head') {
        assert.equal(await upload('race', blob), 201);
      }
    }
  }

  /** Bytes stored and never linked (what a crash between a store and its commit leaves), written where the node keeps blobs. */
  async function leftovers(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const data = randomBytes(64);
      const hex = sha256(data).slice('sha256:'.length);
      const folder = join(node.dataDir, 'storage', 'blobs', 'sha256', hex.slice(0, 2));
      await mkdir(folder, { recursive: true });
      await writeFile(join(folder, hex), data);
    }
  }

  /** The image is served whole: the manifest, and every blob with bytes that hash to its digest. */
  async function whole(tag: string, manifest: string, blobs: Buffer[]): Promise<void> {
    const res = await client.request('GET', `/v2/race/manifests/${tag}`, { headers: { Accept: OCI_MANIFEST } });
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(res.status, 200, `race:${tag}`);
    assert.equal(sha256(body), manifest);
    for (const blob of blobs) {
      const got = await client.request('GET', `/v2/race/blobs/${sha256(blob)}`);
      const bytes = Buffer.from(await got.arrayBuffer());
      assert.equal(got.status, 200, `race:${tag} blob ${sha256(blob)} is served`);
      assert.equal(sha256(bytes), sha256(blob));
    }
  }

  // A long test on a busy machine (300 pushes and sweeps): more time than the suite's default.
  it(`${ITERATIONS} pushes by every path against a sweep each: no committed manifest ever loses a blob`, { timeout: 300_000 }, async (t) => {
    const committed: Array<{ tag: string; manifest: string; blobs: Buffer[] }> = [];
    const outcomes = new Map<string, number>();
    let freedBlobs = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const scenario = SCENARIOS[i % SCENARIOS.length]!;
      const tag = `t${i}`;
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', i, nonce: randomBytes(4).toString('hex') }));
      const layer = randomBytes(512 + (i % 7));
      await prepare(scenario, config, layer);
      await leftovers(LEFTOVERS);
      const [pushed, report] = await Promise.all([
        (async () => {
          await turns(i % 3);
          return push(scenario, tag, config, layer);
        })(),
        (async () => {
          await turns(Math.floor(i / 3) % 4);
          return node.node.jobs.runNow<GcReport>('gc');
        })(),
      ]);
      freedBlobs += report.blobs.count;
      const outcome = `${scenario} ${pushed.status === 201 ? 'committed' : pushed.code}`;
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      if (pushed.status === 201) {
        await whole(tag, pushed.manifest, [config, layer]);
        committed.push({ tag, manifest: pushed.manifest, blobs: [config, layer] });
      } else {
        assert.equal(pushed.code, 'MANIFEST_BLOB_UNKNOWN', `${scenario} ${tag} (${pushed.status}): only an honest refusal — the link was swept before the manifest came`);
      }
    }
    // Every committed image survived every later sweep too.
    const last = await node.node.jobs.runNow<GcReport>('gc');
    for (const image of committed) await whole(image.tag, image.manifest, image.blobs);
    for (const scenario of SCENARIOS) {
      assert.ok((outcomes.get(`${scenario} committed`) ?? 0) > 0, `some ${scenario} pushes committed: ${JSON.stringify([...outcomes])}`);
    }
    assert.ok(freedBlobs + last.blobs.count > 0, 'the sweeps did delete bytes meanwhile (the race was real)');
    t.diagnostic(`outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}; blob files the sweeps deleted: ${freedBlobs + last.blobs.count}`);
  });
});

describe('garbage collection racing the sync agent\'s commits (grace 0, forced)', () => {
  let s: GcStores;

  before(async () => {
    s = await gcStores({ graceMs: 0 });
  });
  after(async () => {
    await s.close();
  });

  it(`${ITERATIONS} pulled manifests committed against a sweep each: committed means stored; a swept blob is fetched again`, async (t) => {
    const applier = new SyncApplier(s.writer);
    let refetched = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const layer = randomBytes(256 + (i % 5));
      const body = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(layer), size: layer.length },
        layers: [],
      }));
      const manifest = sha256(body);
      // As ContentPuller does: the bytes are stored first, the commit links them with the manifest.
      const fetch = async (): Promise<void> => {
        await s.blobs.put(layer, sha256(layer), layer.length);
        await s.blobs.put(body, manifest, body.length);
      };
      await fetch();
      const input = {
        repository: 'pulled', digest: manifest, mediaType: OCI_MANIFEST, size: body.length, artifactType: null, subject: null, annotations: null,
        blobs: [sha256(layer)], manifests: [], tag: `t${i}`, blobLinks: { [sha256(layer)]: layer.length },
      };
      const sweep = (async () => {
        await turns(i % 3);
        return s.collector.run();
      })();
      for (let attempt = 1; ; attempt++) {
        try {
          await turns(Math.floor(i / 3) % 3);
          await applier.applyManifest(input, i + 1);
          break;
        } catch (err) {
          // The pull side's answer to a swept blob: fetch it again and commit again.
          assert.ok(isRegistryError(err) && err.code === 'BLOB_UNKNOWN', String(err));
          assert.ok(attempt < 10, 'a commit gets through once its bytes are stored again');
          refetched += 1;
          await sweep;
          await fetch();
        }
      }
      await sweep;
      assert.ok(await s.blobs.stat(manifest), `t${i}: the committed manifest's bytes are stored`);
      assert.ok(await s.blobs.stat(sha256(layer)), `t${i}: its blob's bytes are stored`);
      assert.equal(await s.metadata.resolveTag('pulled', `t${i}`), manifest);
    }
    await s.collector.run();
    assert.equal(await s.metadata.getCursor(), ITERATIONS);
    for (let i = 0; i < ITERATIONS; i++) {
      const digest = await s.metadata.resolveTag('pulled', `t${i}`);
      assert.ok(digest !== null && (await s.blobs.stat(digest)), `t${i} is still whole after the last sweep`);
    }
    assert.ok(refetched > 0, `some commits found their bytes swept and fetched them again (${refetched})`);
    t.diagnostic(`commits that found their bytes swept and fetched them again: ${refetched} of ${ITERATIONS}`);
  });
});
