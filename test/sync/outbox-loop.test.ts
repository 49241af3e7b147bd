import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { pino } from 'pino';
import { systemClock, type Clock } from '../../src/core/clock.js';
import type { Mode } from '../../src/client/gateway-protocol.js';
import { OutboxLoop } from '../../src/sync/outbox-loop.js';
import { SyncActivity } from '../../src/sync/sync-activity.js';
import { manualClock, until } from './unit-fixture.js';

/** The push-back loop of a session (docs/architecture.md, "Outbox"), on a stand-in pusher. */
describe('OutboxLoop', () => {
  function loop(clock: Clock, mode: Mode = 'ReadWrite', lines: string[] = []): { outbox: OutboxLoop; pending: { count: number }; drains: { count: number }; activity: SyncActivity } {
    const pending = { count: 0 };
    const drains = { count: 0 };
    const activity = new SyncActivity();
    const outbox = new OutboxLoop({
      pusher: {
        drain: async () => {
          drains.count += 1;
          const handled = pending.count;
          pending.count = 0;
          return handled;
        },
      },
      store: { outboxSize: async () => pending.count },
      policy: { currentMode: mode },
      activity,
      clock,
      logger: pino({}, { write: (line: string) => void lines.push((JSON.parse(line) as { msg: string }).msg) }),
    });
    return { outbox, pending, drains, activity };
  }

  test('a local write wakes it at once; without one it looks every 5 s', async () => {
    const clock = manualClock();
    const { outbox, pending, drains } = loop(clock);
    const stop = new AbortController();
    const running = outbox.run(stop.signal);
    await until('waiting', () => clock.sleeping === 1);
    pending.count = 2;
    outbox.wake();
    await until('the write drained', () => drains.count === 1);
    pending.count = 1;
    await until('waiting again', () => clock.sleeping === 1);
    clock.advance(4_999);
    for (let i = 0; i < 10; i++) await tick();
    assert.equal(drains.count, 1);
    clock.advance(1);
    await until('drained after 5 s', () => drains.count === 2);
    stop.abort();
    await running;
  });

  test('a drain counts as work in flight', async () => {
    const clock = manualClock();
    const { outbox, activity } = loop(clock);
    activity.enter('Connected');
    const draining = outbox.drain(new AbortController().signal);
    assert.equal(activity.inFlight('drain'), 1);
    await draining;
    assert.equal(activity.inFlight('drain'), 0);
  });

  test('a drain that pushed something says how many changes, in one line; an empty one says nothing', async () => {
    const lines: string[] = [];
    const { outbox, pending } = loop(manualClock(), 'ReadWrite', lines);
    pending.count = 3;
    assert.equal(await outbox.drain(new AbortController().signal), 3);
    assert.equal(await outbox.drain(new AbortController().signal), 0);
    pending.count = 1;
    await outbox.drain(new AbortController().signal);
    assert.deepEqual(lines, ['pushed 3 queued changes to the parent', 'pushed 1 queued change to the parent']);
  });

  test('on a ReadOnly node it only waits for the session to end', async () => {
    const clock = manualClock();
    const { outbox, pending, drains } = loop(clock, 'ReadOnly');
    const stop = new AbortController();
    const running = outbox.run(stop.signal);
    pending.count = 1;
    outbox.wake();
    clock.advance(60_000);
    for (let i = 0; i < 10; i++) await tick();
    assert.equal(drains.count, 0);
    stop.abort();
    await running;
  });

  test('wake-ups leave no timers behind (every committed write may wake it: hundreds in a reconcile)', async () => {
    const { outbox } = loop(systemClock);
    const stop = new AbortController();
    const running = outbox.run(stop.signal);
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await tick();
    const before = timers();
    for (let i = 0; i < 200; i++) {
      outbox.wake();
      await tick();
    }
    const grown = timers() - before;
    assert.ok(grown < 20, `${grown} more timers after 200 wake-ups`);
    stop.abort();
    await running;
  });
});
