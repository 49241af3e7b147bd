import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventBus, type DomainEvent } from '../../src/core/events.js';

const pushed: DomainEvent = { type: 'manifest-pushed', repository: 'hello', digest: 'sha256:aa', mediaType: 'x', size: 1, origin: 'local', actor: 'admin', seq: 1 };

test('listeners get the events of the types they subscribed to, and every event with *', () => {
  const bus = new EventBus();
  const typed: string[] = [];
  const all: string[] = [];
  bus.subscribe(['tag-set', 'manifest-pushed'], (e) => typed.push(e.type));
  bus.subscribe('*', (e) => all.push(e.type));
  bus.publish(pushed);
  bus.publish({ type: 'credential-changed', token: 't1' });
  assert.deepEqual(typed, ['manifest-pushed']);
  assert.deepEqual(all, ['manifest-pushed', 'credential-changed']);
});

test('a failing listener is reported and neither the publisher nor other listeners see it', () => {
  const errors: unknown[] = [];
  const bus = new EventBus((err) => errors.push(err));
  let later = 0;
  bus.subscribe(['manifest-pushed'], () => { throw new Error('boom'); });
  bus.subscribe(['manifest-pushed'], () => { later += 1; });
  assert.doesNotThrow(() => bus.publish(pushed));
  assert.equal(later, 1);
  assert.equal(errors.length, 1);
});

test('unsubscribe stops delivery and the listener count follows', () => {
  const bus = new EventBus();
  let seen = 0;
  const off = bus.subscribe(['connected-registry-config-changed'], () => { seen += 1; });
  assert.equal(bus.listenerCount('connected-registry-config-changed'), 1);
  bus.publish({ type: 'connected-registry-config-changed', name: null });
  off();
  bus.publish({ type: 'connected-registry-config-changed', name: null });
  assert.equal(seen, 1);
  assert.equal(bus.listenerCount('connected-registry-config-changed'), 0);
});
