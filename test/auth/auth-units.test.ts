import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { buildActions, normalizeActions, patternMatches, Identity, authorize, hashPassword, verifyPassword, generatePassword, LoginThrottle } from '../../src/auth/index.js';
import { RegistryError } from '../../src/oci/index.js';
import { systemClock } from '../../src/core/clock.js';

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof RegistryError);
    assert.equal(err.code, 'REQUEST_INVALID');
    return err.message;
  }
  assert.fail('expected REQUEST_INVALID');
}

describe('scope-map actions', () => {
  test('the reference messages for missing and invalid actions', () => {
    assert.equal(message(() => buildActions('repositories', 'hello', [])), 'At least one action must be specified with "hello".');
    assert.equal(
      message(() => buildActions('repositories', 'hello', ['content/push'])),
      'Invalid action "content/push" provided. \nValid actions are {\'content/delete\', \'content/read\', \'content/write\', \'metadata/read\', \'metadata/write\'}.',
    );
    assert.equal(
      message(() => buildActions('gateway', 'edge01', ['config/delete'])),
      'Invalid action "config/delete" provided. \nValid actions are {\'config/read\', \'config/write\', \'message/read\', \'message/write\'}.',
    );
    assert.equal(message(() => normalizeActions(['repositories/hello'])), 'At least one action must be specified with "hello".');
    assert.match(message(() => normalizeActions(['repositories/hello/pull'])), /^Invalid action "pull" provided\. \nValid actions are/);
  });

  test('wildcards: * and one trailing /*; anything else refused', () => {
    assert.deepEqual(normalizeActions(['repositories/*/content/read', 'repositories/Team/*/Content/Read', 'repositories/team/*/content/read']),
      ['repositories/*/content/read', 'repositories/team/*/content/read']);
    for (const bad of ['a/*/b', 'a*', 'a/*/b/*', '*/a', '**']) {
      assert.throws(() => normalizeActions([`repositories/${bad}/content/read`]), (err: unknown) => err instanceof RegistryError && err.code === 'REQUEST_INVALID', bad);
    }
    assert.ok(patternMatches('*', 'x/y'));
    assert.ok(patternMatches('team/*', 'team/app'));
    assert.ok(patternMatches('team/*', 'team/a/b'));
    assert.ok(!patternMatches('team/*', 'team'));
    assert.ok(!patternMatches('team/*', 'teams/app'));
  });

  test('gateway actions', () => {
    assert.deepEqual(buildActions('gateway', 'Edge01', ['config/read', 'MESSAGE/write']), ['gateway/edge01/config/read', 'gateway/edge01/message/write']);
  });

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
