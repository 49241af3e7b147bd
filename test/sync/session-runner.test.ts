import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { SYNC_STATE_KEYS } from '../../src/metadata/index.js';
import { setImmediate as tick } from 'node:timers/promises';
import type { ManualClock } from '../../src/core/clock.js';
import { FIRST_RETRY_MS, MAX_RETRY_MS, RetryBackoff } from '../../src/sync/retry-backoff.js';
import type { SyncAgent } from '../../src/sync/sync-agent.js';
import { FakeParent, parentError, type FakeParentOptions } from './fake-parent.js';
import { localNode, manualClock, syncAgent, until, type LocalNode } from './unit-fixture.js';

const HOUR_MS = 60 * 60 * 1000;
/** 2030-01-01T06:00Z: a window of `0 *\/6 * * *` opens there. */
const BOUNDARY = Date.UTC(2030, 0, 1, 6, 0, 0);

/**
 * The session lifecycle (SessionRunner) on a fake parent and the manual clock
 * (docs/architecture.md, "Start" and "Sessions and windows"): the backoff while the parent is
 * unreachable and the log line when it is back, and sessions only inside the sync windows.
 */
describe('SessionRunner', () => {
  let clock: ManualClock;
  let parent: FakeParent;
  let local: LocalNode;
  let agent: SyncAgent;

  afterEach(async () => {
    parent?.releaseAll();
    await agent?.stop();
    await local?.close();
  });

  async function start(options: Omit<FakeParentOptions, 'clock'>, at: number, random?: () => number): Promise<void> {
    clock = manualClock(at);
    parent = new FakeParent({ clock, ...options });
    local = await localNode(parent);
    agent = syncAgent(parent, local, clock, random ? { random } : {});
    await agent.start();
  }

  const activations = (): number => parent.callsOf((method, path) => method === 'POST' && path === '/gateway/activate').length;
  const polls = (): string[] => parent.callsOf((_method, path) => path.startsWith('/gateway/messages')).map((c) => c.path);
  const contacts = (): number => parent.calls.length;
  const state = (): string => agent.currentState;
  const tagHere = (tag: string): Promise<string | null> => local.store.resolveTag('app', tag);
  /** Moves the clock and waits until the agent sleeps on it again (it has done what the new time asks). */
  async function advance(ms: number): Promise<void> {
    clock.advance(ms);
    await until('the agent waiting on its clock', () => clock.sleeping > 0);
  }

  describe('backoff', () => {
    test('RetryBackoff: from 0.5 s doubling to 5 s, each wait between half and all of it; an attempt that held long starts over', () => {
      const low = new RetryBackoff(() => 0);
      assert.deepEqual([0, 0, 0, 0, 0, 0].map(() => low.next(0)), [250, 500, 1_000, 2_000, 2_500, 2_500]);
      const high = new RetryBackoff(() => 0.999_999);
      const waits = [0, 0, 0, 0, 0].map(() => high.next(0));
      assert.ok(waits.every((w, i) => w <= Math.min(FIRST_RETRY_MS * 2 ** i, MAX_RETRY_MS)));
      assert.ok(high.next(60_000) <= FIRST_RETRY_MS, 'a session that held a minute starts the waits over');
      high.reset();
      assert.ok(high.next(0) <= FIRST_RETRY_MS);
    });

    test('retries at most 5 s apart while the parent is down, and logs the reconnection with the outage\'s length', async () => {
      await start({}, Date.UTC(2030, 0, 1), Math.random);
      await until('the first sync', async () => (await local.store.getCursor()) !== null);
      const down = parent.rule(() => true, { fail: () => parentError(0, 'CONNECTION_FAILED') });
      const outageStart = clock.now();
      const attempts: number[] = [];
      let seen = activations();
      // 60 s of the agent's time in 100 ms steps: every retry is noted at the time it was made.
      while (clock.now() - outageStart < 60_000) {
        await advance(100);
        for (const now = activations(); seen < now; seen++) attempts.push(clock.now() - outageStart);
      }
      assert.ok(attempts.length >= 60_000 / MAX_RETRY_MS, `${attempts.length} attempts in 60 s`);
      assert.ok(attempts.length <= 60, `${attempts.length} attempts in 60 s: the waits do not grow`);
      const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
      assert.ok(Math.max(...gaps) <= MAX_RETRY_MS + 100, `a wait of ${Math.max(...gaps)} ms between retries`);
      assert.ok(gaps.slice(-5).every((gap) => gap >= 1_000), `the waits at the end: ${gaps.slice(-5).join(', ')} ms`);
      assert.equal(agent.currentState, 'Offline');
      // The lines a person reads: connected once at first, then why sync stopped and when it tries again.
      assert.equal(local.lines.filter((l) => /^connected to the parent /.test(l.msg)).length, 1);
      assert.ok(local.lines.some((l) => l.level === 40 && /^sync with the parent interrupted: .+; retrying in \d+(\.\d)? s$/.test(l.msg)),
        local.lines.map((l) => l.msg).filter((m) => /interrupted/.test(m)).slice(0, 2).join(' | '));

      down.release();
      const back = clock.now();
      const reconnected = (): LocalNode['lines'][number] | undefined => local.lines.find((l) => /^reconnected to the parent after/.test(l.msg));
      while (!reconnected()) await advance(100);
      assert.ok(clock.now() - back <= MAX_RETRY_MS + 100, `noticed ${clock.now() - back} ms after the parent was back`);
      const line = reconnected()!;
      assert.equal(line.level, 30, 'logged at info');
      // The outage as the agent saw it: from its first failure (before its first retry) to now.
      const longest = (clock.now() - outageStart) / 1000;
      const shortest = (clock.now() - outageStart - attempts[0]!) / 1000;
      const outageSeconds = line.outageSeconds as number;
      assert.ok(outageSeconds >= shortest - 0.1 && outageSeconds <= longest + 0.1, `an outage of ${outageSeconds} s, not within ${shortest}..${longest} s`);
      await until('syncing again', () => agent.currentState === 'Online');
    });

    test('an outage after a healthy stretch starts the waits over: the first retry within 0.5 s', async () => {
      await start({}, Date.UTC(2030, 0, 1));
      await until('the first sync', async () => (await local.store.getCursor()) !== null);
      // A long outage first: the waits reach their ceiling.
      let down = parent.rule(() => true, { fail: () => parentError(0, 'CONNECTION_FAILED') });
      for (let i = 0; i < 300; i++) await advance(100);
      down.release();
      while (state() !== 'Online') await advance(100);
      // A healthy stretch of 10 s (its heartbeats), then the link goes again.
      for (let i = 0; i < 10; i++) await advance(1_000);
      down = parent.rule(() => true, { fail: () => parentError(0, 'CONNECTION_FAILED') });
      while (state() !== 'Offline') await advance(100);
      const failedAt = clock.now();
      const before = activations();
      while (activations() === before) await advance(50);
      assert.ok(clock.now() - failedAt <= FIRST_RETRY_MS + 50, `the first retry ${clock.now() - failedAt} ms after the failure`);
      down.release();
    });
  });

  describe('windows', () => {
    test('outside its window it does not contact the parent; inside it syncs; past its end it stops until the next occurrence', async () => {
      await start({ schedule: '0 */6 * * *', syncWindow: 'PT1H' }, BOUNDARY - 10 * 60_000);
      await until('waiting for the window', () => agent.currentState === 'OutsideWindow' && clock.sleeping > 0);
      // It activated and fetched its config at start; nothing else until the window opens.
      const atStart = contacts();
      const v1 = parent.pushImage('app', 'v1');
      await advance(5 * 60_000);
      assert.equal(contacts(), atStart);
      assert.equal(await tagHere('v1'), null);

      clock.set(BOUNDARY + 1_000);
      await until('app:v1 in the window', async () => (await tagHere('v1')) === v1.digest);
      const v2 = parent.pushImage('app', 'v2');
      await until('app:v2 pushed during the window', async () => (await tagHere('v2')) === v2.digest);
      assert.notEqual(agent.currentState, 'OutsideWindow');

      clock.set(BOUNDARY + HOUR_MS + 1_000);
      await until('the window closed', () => agent.currentState === 'OutsideWindow' && clock.sleeping > 0);
      const atEnd = contacts();
      const v3 = parent.pushImage('app', 'v3');
      await advance(30 * 60_000);
      assert.equal(contacts(), atEnd, 'no heartbeat, no poll between windows');
      assert.equal(await tagHere('v3'), null);

      clock.set(BOUNDARY + 6 * HOUR_MS + 1_000);
      await until('app:v3 in the next window', async () => (await tagHere('v3')) === v3.digest);
    });

    test('the last second of a window is one long-poll, not a busy loop', async () => {
      await start({ schedule: '0 */6 * * *', syncWindow: 'PT1H' }, BOUNDARY + HOUR_MS - 500);
      await until('the first sync', async () => (await local.store.getCursor()) !== null);
      await until('polling', () => polls().length > 0);
      for (let i = 0; i < 50; i++) await tick();
      assert.deepEqual(polls(), [`/gateway/messages?after=${parent.headSeq}&wait=1`]);
      clock.advance(1_000);
      await until('the window closed', () => agent.currentState === 'OutsideWindow');
      assert.equal(polls().length, 1);
    });

    test('a schedule without a window syncs once per occurrence, until caught up', async () => {
      await start({ schedule: '0 */6 * * *' }, BOUNDARY - 10 * 60_000);
      const v1 = parent.pushImage('app', 'v1');
      await until('waiting for the occurrence', () => agent.currentState === 'OutsideWindow' && clock.sleeping > 0);
      assert.equal(await tagHere('v1'), null);

      clock.set(BOUNDARY + 1_000);
      await until('app:v1 at the occurrence', async () => (await tagHere('v1')) === v1.digest);
      await until('caught up: waiting again', () => agent.currentState === 'OutsideWindow' && clock.sleeping > 0);
      assert.ok(polls().every((path) => path.endsWith('&wait=0')), 'syncing once never holds a long-poll');
      const atEnd = contacts();
      const v2 = parent.pushImage('app', 'v2');
      await advance(30 * 60_000);
      assert.equal(contacts(), atEnd);
      assert.equal(await tagHere('v2'), null, 'a push after the catch-up waits for the next occurrence');

      clock.set(BOUNDARY + 6 * HOUR_MS + 1_000);
      await until('app:v2 at the next occurrence', async () => (await tagHere('v2')) === v2.digest);
    });

    test('a schedule change takes effect without a restart: continuous → windowed → continuous', async () => {
      await start({}, BOUNDARY - 2 * HOUR_MS);
      const v1 = parent.pushImage('app', 'v1');
      await until('continuous sync', async () => (await tagHere('v1')) === v1.digest);

      // Now only from each 6-hour boundary for an hour: the agent, two hours before one, stops.
      parent.setConfig((doc) => {
        doc.self.sync.schedule = '0 */6 * * *';
        doc.self.sync.syncWindow = 'PT1H';
      });
      await until('the agent stops outside the new window', () => {
        if (state() !== 'OutsideWindow') clock.advance(1_000); // a config a heartbeat brought waits for the long-poll in flight
        return state() === 'OutsideWindow' && clock.sleeping > 0;
      });
      const v2 = parent.pushImage('app', 'v2');
      await advance(10 * 60_000);
      assert.equal(await tagHere('v2'), null);

      // In the window it syncs, and learns that it is continuous again: it keeps syncing after the window's end.
      clock.set(BOUNDARY + 1_000);
      await until('app:v2 in the window', async () => (await tagHere('v2')) === v2.digest);
      parent.setConfig((doc) => {
        doc.self.sync.schedule = '* * * * *';
        doc.self.sync.syncWindow = null;
      });
      await until('the continuous schedule applied', async () => (await local.store.getState(SYNC_STATE_KEYS.config))?.includes('"syncWindow":null') === true);
      clock.set(BOUNDARY + 2 * HOUR_MS);
      const v3 = parent.pushImage('app', 'v3');
      await until('app:v3 after the old window\'s end', async () => (await tagHere('v3')) === v3.digest);
      assert.notEqual(agent.currentState, 'OutsideWindow');
    });
  });
});
