import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../src/core/clock.js';
import { JobRunner } from '../../src/core/jobs.js';

const quiet = { warn: () => undefined };

/** Resolves once `condition` holds, checking after each turn of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !condition(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(condition(), 'condition never held');
}

test('an interval job runs once per interval of the injected clock, not of real time', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1), 10_000);
  const runner = new JobRunner(clock, quiet);
  let runs = 0;
  runner.add({ name: 'prune', schedule: { everyMs: 60_000 }, run: async () => { runs += 1; } });
  runner.start();
  await until(() => clock.sleeping === 1);
  assert.equal(runs, 0, 'nothing runs before the first interval');
  clock.advance(60_000);
  await until(() => runs === 1 && clock.sleeping === 1);
  clock.advance(30_000);
  await until(() => clock.sleeping === 1);
  assert.equal(runs, 1, 'half an interval later it has not run again');
  clock.advance(30_000);
  await until(() => runs === 2);
  await runner.stop();
});

test('atStart runs a job at once, then every interval', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1), 10_000);
  const runner = new JobRunner(clock, quiet);
  let runs = 0;
  runner.add({ name: 'purge', schedule: { everyMs: 1000, atStart: true }, run: async () => { runs += 1; } });
  runner.start();
  await until(() => runs === 1);
  await runner.stop();
});

test('a cron job runs at each occurrence in UTC and a new schedule applies without a restart', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 30), 10_000);
  const runner = new JobRunner(clock, quiet);
  const at: number[] = [];
  runner.add({ name: 'gc', schedule: { cron: '0 3 * * *' }, run: async () => { at.push(clock.now()); } });
  runner.start();
  assert.equal(runner.status('gc').nextRunAt, Date.UTC(2026, 0, 1, 3, 0, 0));
  clock.set(Date.UTC(2026, 0, 1, 3, 0, 0));
  await until(() => at.length === 1);
  runner.reschedule('gc', { cron: '30 3 * * *' });
  assert.equal(runner.status('gc').nextRunAt, Date.UTC(2026, 0, 1, 3, 30, 0));
  clock.set(Date.UTC(2026, 0, 1, 3, 30, 0));
  await until(() => at.length === 2);
  assert.deepEqual(at, [Date.UTC(2026, 0, 1, 3, 0, 0), Date.UTC(2026, 0, 1, 3, 30, 0)]);
  runner.reschedule('gc', null);
  assert.equal(runner.status('gc').nextRunAt, null);
  await runner.stop();
});

test('a job never runs twice at once: runNow during a run joins it', async () => {
  const runner = new JobRunner(new ManualClock(), quiet);
  let release!: () => void;
  let started = 0;
  runner.add({ name: 'gc', schedule: null, run: () => { started += 1; return new Promise<number>((r) => { release = () => r(started); }); } });
  runner.start();
  const first = runner.runNow<number>('gc');
  const second = runner.runNow<number>('gc');
  assert.equal(runner.status('gc').running, true);
  release();
  assert.deepEqual(await Promise.all([first, second]), [1, 1]);
  assert.equal(started, 1);
  assert.equal(await (async () => { const third = runner.runNow<number>('gc'); release(); return third; })(), 2);
  await runner.stop();
});

test('a failing run is logged and kept in the status; the next run happens and clears it', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1), 10_000);
  const warnings: string[] = [];
  const runner = new JobRunner(clock, { warn: (_d, message) => warnings.push(message) });
  let fail = true;
  runner.add({ name: 'prune', schedule: { everyMs: 1000 }, run: async () => { if (fail) throw new Error('disk on fire'); } });
  runner.start();
  await until(() => clock.sleeping === 1);
  clock.advance(1000);
  await until(() => runner.status('prune').lastError === 'disk on fire');
  assert.equal(warnings.length, 1);
  fail = false;
  await until(() => clock.sleeping === 1);
  clock.advance(1000);
  await until(() => runner.status('prune').runs === 2);
  assert.equal(runner.status('prune').lastError, null);
  await runner.stop();
});

test('stop aborts a running job and waits for it to end', async () => {
  const runner = new JobRunner(new ManualClock(), quiet);
  let sawAbort = false;
  runner.add({
    name: 'long', schedule: null,
    run: (signal) => new Promise<void>((resolve) => signal.addEventListener('abort', () => { sawAbort = true; resolve(); }, { once: true })),
  });
  runner.start();
  const run = runner.runNow('long');
  await runner.stop();
  assert.equal(sawAbort, true);
  await run;
});
