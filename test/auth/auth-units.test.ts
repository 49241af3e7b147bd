import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Identity, authorize, hashPassword, verifyPassword, generatePassword, LoginThrottle } from '../../src/auth/index.js';
import { systemClock } from '../../src/core/clock.js';

describe('authorization', () => {
  test('authorize is case-insensitive and additive', () => {
    const id = new Identity('token', 't', ['repositories/hello/content/read', 'repositories/team/*/content/write']);
    assert.ok(authorize(id, 'content/read', 'hello'));
    assert.ok(authorize(id, 'Content/Read', 'HELLO'));
    assert.ok(!authorize(id, 'content/write', 'hello'));
    assert.ok(authorize(id, 'content/write', 'team/new-repo'));
    assert.ok(authorize(Identity.admin(), 'content/delete', 'anything'));
  });
});

describe('passwords', () => {
  test('strong, salted, verifiable, constant-time compare', async () => {
    const password = generatePassword();
    assert.ok(password.length >= 32);
    assert.match(password, /^[A-Za-z0-9_-]+$/);
    const a = await hashPassword(password);
    const b = await hashPassword(password);
    assert.notEqual(a, b, 'a fresh salt each time');
    assert.ok(!a.includes(password));
    assert.ok(await verifyPassword(password, a));
    assert.ok(!(await verifyPassword(`${password}x`, a)));
    assert.ok(!(await verifyPassword(password, 'garbage')));
  });
});

describe('login throttle', () => {
  test('the delay grows with failures, is capped, and decays without a permanent lockout', () => {
    let now = 0;
    const throttle = new LoginThrottle({ baseMs: 100, maxMs: 1000, halfLifeMs: 10_000, clock: { now: () => now, sleep: systemClock.sleep } });
    assert.equal(throttle.delayMs(['name:t']), 0);
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      throttle.failed(['name:t', 'addr:1']);
      delays.push(throttle.delayMs(['name:t']));
    }
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);
    assert.equal(throttle.delayMs(['addr:1']), 1000, 'per address too');
    assert.equal(throttle.delayMs(['name:other']), 0, 'other names are not slowed');
    now += 10_000;
    assert.ok(throttle.delayMs(['name:t']) < 1000, 'decays');
    now += 100_000;
    assert.equal(throttle.delayMs(['name:t']), 0, 'gone after a while');
  });
});
