import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { createConnectedRegistry, waitFor } from '../helpers/hierarchy.js';
import { SqliteMetadataStore } from '../../src/metadata/index.js';
import { DriverBlobStore, MemoryDriver } from '../../src/storage/index.js';
import { ManualClock } from '../../src/core/clock.js';
import { EdgePolicy } from '../../src/sync/edge-policy.js';
import { SyncAgent } from '../../src/sync/sync-agent.js';
import { syncWrites } from '../metadata/sync-store-suite.js';
import { GateProxy, startRoot, type Root } from './sync-fixture.js';

/** The backoff's ceiling: after an outage the agent notices the parent is back within this much time. */
const MAX_WAIT_MS = 5_000;

/**
 * An outage costs no more than it lasts (docs/architecture.md, "Start"): while the parent is
 * unreachable the agent retries with a wait that doubles from 0.5 s but never exceeds 5 s (with
 * jitter, so a fleet of edges does not return in step), and it logs at info when the link is
 * back and how long it was gone. Time is the agent's manual clock: nothing here waits 5 s.
 */
describe('reconnecting after an outage of the parent', () => {
  const clock = new ManualClock(Date.now());
  const lines: Array<{ level: number; msg: string; outageSeconds?: number }> = [];
  let root: Root;
  let gate: GateProxy;
  let store: SqliteMetadataStore;
  let agent: SyncAgent;

  before(async () => {
    root = await startRoot();
    gate = await GateProxy.start(root.node.url);
    const cr = await createConnectedRegistry(root.admin, { name: 'edgebackoff', mode: 'ReadOnly', repositories: ['app'], logLevel: 'None' });
    store = await SqliteMetadataStore.open(':memory:');
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
        done();
      },
    });
    agent = new SyncAgent({
      parent: { name: 'edgebackoff', tokenName: cr.tokenName, tokenPassword: cr.tokenPassword, parentEndpoint: gate.endpoint, parentProtocol: 'http', caFile: null },
      metadata: store,
      writer: syncWrites(store).writer,
      identities: store.identity,
      connectedRegistries: store.connectedRegistries,
      blobs: new DriverBlobStore(new MemoryDriver()),
      policy: new EdgePolicy(),
      logger: pino({ level: 'info' }, sink),
      version: 'test',
      loginServer: () => null,
      clock,
      pollSeconds: 1,
      heartbeatSeconds: 1,
    });
    await agent.start();
    await waitFor('the first sync', async () => (await store.getCursor()) !== null);
  });

  after(async () => {
    await agent?.stop();
    await store?.close();
    await gate?.close();
    await root?.node.close();
  });

  test('retries at most 5 s apart while the parent is down, and logs the reconnection with the outage\'s length', async () => {
    const attempts: number[] = [];
    const activations = (): number => gate.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/activate')).length;
    const down = gate.rule(() => true, 'fail');
    const outageStart = clock.now();
    let seen = activations();
    // 60 s of the agent's time in 100 ms steps: every retry is noted at the time it was made.
    while (clock.now() - outageStart < 60_000) {
      clock.advance(100);
      await sleep(5);
      const now = activations();
      for (; seen < now; seen++) attempts.push(clock.now() - outageStart);
    }
    assert.ok(attempts.length >= 60_000 / MAX_WAIT_MS, `${attempts.length} attempts in 60 s`);
    assert.ok(attempts.length <= 60, `${attempts.length} attempts in 60 s: the waits do not grow`);
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    assert.ok(Math.max(...gaps) <= MAX_WAIT_MS + 200, `a wait of ${Math.max(...gaps)} ms between retries`);
    assert.ok(gaps.slice(-5).every((gap) => gap >= 1_000), `the waits at the end: ${gaps.slice(-5).join(', ')} ms`);

    down.release();
    const back = clock.now();
    await waitFor('reconnected', async () => {
      clock.advance(100);
      return lines.find((l) => /reconnected to the parent after/.test(l.msg));
    });
    assert.ok(clock.now() - back <= MAX_WAIT_MS + 500, `noticed ${clock.now() - back} ms after the parent was back`);
    const line = lines.find((l) => /reconnected to the parent after/.test(l.msg))!;
    assert.equal(line.level, 30, 'logged at info');
    // The outage as the agent saw it: from its first failure (before its first retry) to now.
    const longest = (clock.now() - outageStart) / 1000;
    const shortest = (clock.now() - outageStart - attempts[0]!) / 1000;
    assert.ok(line.outageSeconds !== undefined && line.outageSeconds >= shortest - 1 && line.outageSeconds <= longest + 1,
      `an outage of ${line.outageSeconds} s, not within ${shortest}..${longest} s`);
  });
});
