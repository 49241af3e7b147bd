import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Limiter } from '../../src/sync/limiter.js';

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
