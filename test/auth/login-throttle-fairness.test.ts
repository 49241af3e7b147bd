import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { LoginThrottle, ThrottledError } from '../../src/auth/index.js';
import { errorHeaders } from '../../src/registry/error-mapping.js';
import { systemClock } from '../../src/core/clock.js';
import { startTestNode } from '../helpers/test-node.js';
import { TestClient, basicAuth, TEST_ADMIN_PASSWORD } from '../helpers/oci-client.js';
import { mgmt } from '../helpers/management-calls.js';

/**
 * The login throttle slows the guesser, not the rightful user (docs/architecture.md,
 * "Identity"): correct credentials are checked at once and answered at full speed whatever failed
 * before; failures are answered late; and a name's slots bound how often its password can be
 * tried, also for a guesser who hangs up early or sends guesses in parallel.
 */

/** A sleep the test controls: records each delay and resolves it only when told. */
class HeldSleep {
  readonly delays: number[] = [];
  private readonly pending: Array<() => void> = [];

  readonly sleep = (ms: number): Promise<void> => {
    this.delays.push(ms);
    return new Promise((resolve) => this.pending.push(resolve));
  };

  get held(): number {
    return this.pending.length;
  }

  releaseAll(): void {
    for (const resolve of this.pending.splice(0)) resolve();
  }
}

/** Lets every settled promise callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('LoginThrottle.attempt', () => {
  test('a correct check after many failures of its name and address is answered without any delay', async () => {
    let now = 0;
    const held = new HeldSleep();
    const throttle = new LoginThrottle({ baseMs: 250, maxMs: 4000, clock: { now: () => now, sleep: held.sleep }, slotsPerName: 100 });
    const failures = Array.from({ length: 40 }, () => throttle.attempt('admin', '10.0.0.1', async () => null));
    await settle();
    assert.ok(held.delays.length >= 39, 'failures wait out their delay');
    assert.equal(Math.max(...held.delays), 4000, 'capped');
    now += 1000;
    const before = held.delays.length;
    assert.equal(await throttle.attempt('admin', '10.0.0.1', async () => 'ok'), 'ok');
    assert.equal(held.delays.length, before, 'the correct check never slept');
    held.releaseAll();
    assert.deepEqual(await Promise.all(failures), Array(40).fill(null));
  });

  test('a failure is answered after the delay; the delay grows with failures of the name or the address', async () => {
    const held = new HeldSleep();
    const throttle = new LoginThrottle({ baseMs: 100, maxMs: 1000, clock: { now: () => 0, sleep: held.sleep } });
    assert.equal(await throttle.attempt('tok-a', '10.0.0.1', async () => null), null, 'the first failure is answered at once');
    const second = throttle.attempt('tok-b', '10.0.0.1', async () => null);
    await settle();
    assert.deepEqual(held.delays, [100], 'same address, another name: slowed by the address');
    let answered = false;
    void second.then(() => (answered = true));
    await settle();
    assert.equal(answered, false, 'not answered before the delay is over');
    held.releaseAll();
    assert.equal(await second, null);
  });

  test("a name's slots bound parallel guesses; more wait in order, past the queue 429; other names from the same address are not held", async () => {
    const held = new HeldSleep();
    const throttle = new LoginThrottle({ baseMs: 1000, maxMs: 1000, clock: { now: () => 0, sleep: held.sleep }, slotsPerName: 2, maxWaitingPerName: 3 });
    // A guesser at one failure already: every further failure is held for 1 s.
    await throttle.attempt('admin', '10.0.0.9', async () => null);
    let checks = 0;
    const guess = (): Promise<string | null> => throttle.attempt('admin', '10.0.0.9', async () => {
      checks += 1;
      return null;
    });
    const guesses = [guess(), guess(), guess(), guess(), guess()];
    await settle();
    assert.equal(checks, 2, 'only as many checks as the name has slots');
    assert.deepEqual(throttle.load('admin'), { busy: 2, waiting: 3 });
    await assert.rejects(guess(), (err: unknown) => err instanceof ThrottledError && err.code === 'TOOMANYREQUESTS' && err.retryAfterSeconds === 1 && errorHeaders(err)['Retry-After'] === '1');

    // Behind the same NAT address, another name signs in at once.
    assert.equal(await throttle.attempt('tok-ci', '10.0.0.9', async () => 'tok-ci'), 'tok-ci');

    // When the held failures end, the waiting guesses are checked, two at a time.
    held.releaseAll();
    await settle();
    assert.equal(checks, 4);
    held.releaseAll();
    await settle();
    assert.equal(checks, 5);
    held.releaseAll();
    assert.deepEqual(await Promise.all(guesses), [null, null, null, null, null]);
    assert.deepEqual(throttle.load('admin'), { busy: 0, waiting: 0 });
  });

  test('a correct check waiting behind held guesses is answered as soon as a slot frees, and frees it at once', async () => {
    const held = new HeldSleep();
    const throttle = new LoginThrottle({ baseMs: 1000, maxMs: 1000, clock: { now: () => 0, sleep: held.sleep }, slotsPerName: 1 });
    await throttle.attempt('admin', 'guesser', async () => null);
    const guess = throttle.attempt('admin', 'guesser', async () => null);
    const rightful = throttle.attempt('admin', 'office', async () => 'admin');
    const another = throttle.attempt('admin', 'office', async () => 'admin');
    await settle();
    assert.equal(held.held, 1);
    held.releaseAll();
    assert.deepEqual(await Promise.all([guess, rightful, another]), [null, 'admin', 'admin']);
    assert.equal(held.delays.length, 1, 'neither correct check slept');
  });

  test('a check that throws frees its slot and records no failure', async () => {
    const held = new HeldSleep();
    const throttle = new LoginThrottle({ clock: { now: () => 0, sleep: held.sleep }, slotsPerName: 1 });
    await assert.rejects(throttle.attempt('tok', 'addr', async () => {
      throw new Error('store down');
    }), /store down/);
    assert.deepEqual(throttle.load('tok'), { busy: 0, waiting: 0 });
    assert.equal(throttle.delayMs(['name:tok', 'addr:addr']), 0);
  });
});

describe('over HTTP: failed logins from an address do not slow correct ones', () => {
  test('after many failed admin logins, correct admin and token requests from the same address are answered without delay', { timeout: 20_000 }, async () => {
    const held = new HeldSleep();
    // Failure delays of a minute, held by the test: any delay on a correct request would hang it.
    const node = await startTestNode({ app: { loginThrottle: { baseMs: 60_000, maxMs: 60_000, clock: { now: systemClock.now, sleep: held.sleep }, slotsPerName: 64 } } });
    try {
      const admin = new TestClient(node.url);
      const created = await mgmt(admin, 'POST', '/tokens', { name: 'tok-neighbour', actions: ['repositories/app/content/read', 'repositories/app/metadata/read'] });
      const password = (created.json as { credentials: { passwords: Array<{ value: string }> } }).credentials.passwords[0]!.value;
      await admin.pushImage('app', 'v1');

      const wrong = new TestClient(node.url, basicAuth('admin', 'a-wrong-guess'));
      assert.equal((await wrong.request('GET', '/v2/')).status, 401, 'the first failure is answered at once');
      const rightful = new TestClient(node.url, basicAuth('admin', TEST_ADMIN_PASSWORD));
      assert.equal((await rightful.request('GET', '/v2/app/tags/list')).status, 200, 'right after a failure, the correct password is not delayed');
      const guesses = Array.from({ length: 40 }, () => wrong.request('GET', '/v2/'));
      await new Promise<void>((resolve) => {
        const poll = (): void => (held.held >= 40 ? resolve() : void setTimeout(poll, 10));
        poll();
      });
      const sleptBefore = held.delays.length;

      const correct = await Promise.all(Array.from({ length: 20 }, () => rightful.request('GET', '/v2/app/tags/list')));
      assert.deepEqual(correct.map((r) => r.status), Array(20).fill(200), 'correct admin Basic answered while 40 failures are held');
      const neighbour = await new TestClient(node.url, basicAuth('tok-neighbour', password)).request('GET', '/v2/app/manifests/v1');
      assert.equal(neighbour.status, 200, 'another name behind the same address too');
      assert.equal((await mgmt(admin, 'GET', '/tokens')).status, 200, 'and the management API');
      assert.equal(held.delays.length, sleptBefore, 'no correct request slept');

      held.releaseAll();
      for (const res of await Promise.all(guesses)) assert.equal(res.status, 401);
    } finally {
      held.releaseAll();
      await node.close();
    }
  });
});
