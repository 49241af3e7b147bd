import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SyncSchedule, CONTINUOUS_SCHEDULE } from '../../src/sync/schedule.js';
import { ManualClock, systemClock } from '../../src/core/clock.js';

const HOUR_MS = 60 * 60 * 1000;
const at = (iso: string): number => Date.parse(iso);

describe('SyncSchedule', () => {
  test('`* * * * *` without a window is continuous: always open, never closing', () => {
    const schedule = new SyncSchedule(CONTINUOUS_SCHEDULE, null);
    assert.equal(schedule.continuous, true);
    assert.deepEqual(schedule.at(at('2030-01-01T00:00:00Z')), { open: true, closesAt: null });
    assert.deepEqual(schedule.at(at('2030-07-15T13:37:42.123Z')), { open: true, closesAt: null });
    // Extra spaces do not change that.
    assert.equal(new SyncSchedule(' *  * * *   * ', null).continuous, true);
  });

  test('`* * * * *` with a window is not continuous: a window opens each minute', () => {
    const schedule = new SyncSchedule(CONTINUOUS_SCHEDULE, 30_000);
    assert.equal(schedule.continuous, false);
    assert.deepEqual(schedule.at(at('2030-01-01T00:00:10Z')), { open: true, closesAt: at('2030-01-01T00:00:30Z') });
    assert.deepEqual(schedule.at(at('2030-01-01T00:00:45Z')), { open: false, opensAt: at('2030-01-01T00:01:00Z'), catchUp: false });
  });

  describe('`0 */6 * * *` with a one-hour window', () => {
    const schedule = new SyncSchedule('0 */6 * * *', HOUR_MS);

    test('open from each occurrence for the window\'s length', () => {
      assert.equal(schedule.continuous, false);
      assert.deepEqual(schedule.at(at('2030-01-01T06:00:00Z')), { open: true, closesAt: at('2030-01-01T07:00:00Z') });
      assert.deepEqual(schedule.at(at('2030-01-01T06:59:59.999Z')), { open: true, closesAt: at('2030-01-01T07:00:00Z') });
      assert.deepEqual(schedule.at(at('2030-01-01T00:30:00Z')), { open: true, closesAt: at('2030-01-01T01:00:00Z') });
    });

    test('closed at the window\'s end and until the next occurrence', () => {
      assert.deepEqual(schedule.at(at('2030-01-01T07:00:00Z')), { open: false, opensAt: at('2030-01-01T12:00:00Z'), catchUp: false });
      assert.deepEqual(schedule.at(at('2030-01-01T05:59:59Z')), { open: false, opensAt: at('2030-01-01T06:00:00Z'), catchUp: false });
      // Across midnight and the year's end.
      assert.deepEqual(schedule.at(at('2030-12-31T18:30:00Z')), { open: true, closesAt: at('2030-12-31T19:00:00Z') });
      assert.deepEqual(schedule.at(at('2030-12-31T21:00:00Z')), { open: false, opensAt: at('2031-01-01T00:00:00Z'), catchUp: false });
    });
  });

  test('cron times are UTC, whatever the process time zone', () => {
    const schedule = new SyncSchedule('30 2 * * *', 15 * 60_000);
    assert.deepEqual(schedule.at(at('2030-03-10T02:40:00Z')), { open: true, closesAt: at('2030-03-10T02:45:00Z') });
    assert.deepEqual(schedule.at(at('2030-03-10T02:40:00+01:00')), { open: false, opensAt: at('2030-03-10T02:30:00Z'), catchUp: false });
  });

  test('a window longer than the interval between occurrences: the latest occurrence decides when it closes', () => {
    const schedule = new SyncSchedule('0 * * * *', 90 * 60_000);
    assert.deepEqual(schedule.at(at('2030-01-01T10:10:00Z')), { open: true, closesAt: at('2030-01-01T11:30:00Z') });
  });

  test('a schedule without a window syncs once per occurrence until caught up', () => {
    const schedule = new SyncSchedule('0 0 * * *', null);
    assert.equal(schedule.continuous, false);
    assert.deepEqual(schedule.at(at('2030-01-01T00:00:00Z')), { open: false, opensAt: at('2030-01-02T00:00:00Z'), catchUp: true });
    assert.deepEqual(schedule.at(at('2030-01-01T12:00:00Z')), { open: false, opensAt: at('2030-01-02T00:00:00Z'), catchUp: true });
  });

  test('days of the week and month follow cron', () => {
    // 2030-01-05 is a Saturday: weekdays only at 08:00 → Monday 2030-01-07.
    const weekdays = new SyncSchedule('0 8 * * 1-5', HOUR_MS);
    assert.deepEqual(weekdays.at(at('2030-01-05T08:30:00Z')), { open: false, opensAt: at('2030-01-07T08:00:00Z'), catchUp: false });
    assert.deepEqual(weekdays.at(at('2030-01-07T08:30:00Z')), { open: true, closesAt: at('2030-01-07T09:00:00Z') });
    const monthly = new SyncSchedule('0 0 1 * *', 2 * HOUR_MS);
    assert.deepEqual(monthly.at(at('2030-02-14T00:00:00Z')), { open: false, opensAt: at('2030-03-01T00:00:00Z'), catchUp: false });
  });

  test('an invalid cron expression is refused', () => {
    assert.throws(() => new SyncSchedule('not a cron', HOUR_MS));
    assert.throws(() => new SyncSchedule('61 * * * *', HOUR_MS));
  });
});

describe('ManualClock', () => {
  test('now() is what the test sets; advance() moves it', () => {
    const clock = new ManualClock(1_000);
    assert.equal(clock.now(), 1_000);
    clock.advance(500);
    assert.equal(clock.now(), 1_500);
    clock.set(10);
    assert.equal(clock.now(), 10);
  });

  test('a sleep ends when the clock passes its deadline, not before', async () => {
    const clock = new ManualClock(0, 60_000);
    let done = false;
    const sleeping = clock.sleep(10_000).then(() => (done = true));
    clock.advance(9_999);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(done, false);
    clock.advance(1);
    await sleeping;
    assert.equal(done, true);
  });

  test('set() wakes every sleeper whose deadline passed, and only those', async () => {
    const clock = new ManualClock(0, 60_000);
    const woken: number[] = [];
    const short = clock.sleep(100).then(() => woken.push(100));
    const long = clock.sleep(HOUR_MS).then(() => woken.push(HOUR_MS));
    clock.set(5_000);
    await short;
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(woken, [100]);
    clock.set(HOUR_MS);
    await long;
    assert.deepEqual(woken, [100, HOUR_MS]);
  });

  test('a sleep also ends after a little real time, so a waiting loop looks around now and then', async () => {
    const clock = new ManualClock(0, 20);
    const started = Date.now();
    await clock.sleep(HOUR_MS);
    assert.ok(Date.now() - started < 1_000);
    assert.equal(clock.now(), 0, 'without moving the clock');
  });

  test('a sleep ends at once when its signal aborts, or is already aborted, or is not positive', async () => {
    const clock = new ManualClock(0, 60_000);
    const controller = new AbortController();
    const sleeping = clock.sleep(HOUR_MS, controller.signal);
    controller.abort();
    await sleeping;
    await clock.sleep(HOUR_MS, AbortSignal.abort());
    await clock.sleep(0);
    await clock.sleep(-5);
  });
});

describe('systemClock', () => {
  test('now() is the wall clock', () => {
    const before = Date.now();
    const now = systemClock.now();
    assert.ok(now >= before && now <= Date.now());
  });

  test('sleep() waits real time and ends early when aborted', async () => {
    let started = Date.now();
    await systemClock.sleep(30);
    assert.ok(Date.now() - started >= 25);
    const controller = new AbortController();
    started = Date.now();
    const sleeping = systemClock.sleep(60_000, controller.signal);
    setTimeout(() => controller.abort(), 10);
    await sleeping;
    assert.ok(Date.now() - started < 1_000);
    await systemClock.sleep(60_000, AbortSignal.abort());
  });
});
