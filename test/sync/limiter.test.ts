import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Limiter, runAll } from '../../src/sync/limiter.js';

// The bounded parallelism of transfers and reconciles (sync/limiter.ts).

test('Limiter: a caller arriving while a freed slot passes to a waiter does not run beside it', async () => {
  const limiter = new Limiter(1);
  let running = 0;
  let most = 0;
  const task = async (): Promise<void> => {
    running += 1;
    most = Math.max(most, running);
    await new Promise<void>((resolve) => setImmediate(resolve));
    running -= 1;
  };
  let release!: () => void;
  const first = limiter.run(() => new Promise<void>((resolve) => {
    release = resolve;
  }));
  const waiter = limiter.run(task);
  // The first task ends; before the waiter's turn comes, another caller (a microtask queued
  // ahead of it) asks for a slot.
  release();
  let late: Promise<void> | null = null;
  queueMicrotask(() => {
    late = limiter.run(task);
  });
  await first;
  await waiter;
  await late;
  assert.equal(most, 1);
});

test('runAll: on the first failure no task starts, and the call ends only once the running ones have settled', async () => {
  const settled: string[] = [];
  let started = 0;
  const failing = runAll(['slow', 'fails', 'never'], 2, undefined, async (item, signal) => {
    started += 1;
    if (item === 'fails') throw new Error('the link went down');
    // The slow one stops when the call's signal aborts, as a request does.
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    settled.push(item);
  });
  await assert.rejects(failing, /the link went down/);
  assert.deepEqual(settled, ['slow'], 'the call returned before a task it started had settled');
  assert.equal(started, 2, 'a task started after the failure');
});
