import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Authenticator, JwtSigner, LoginThrottle, hashPassword, verifyPassword, type LoginThrottleOptions } from '../../src/auth/index.js';
import { SqliteMetadataStore } from '../../src/metadata/index.js';
import { RegistryError } from '../../src/oci/index.js';
import { tempDir } from '../helpers/test-node.js';
import { systemClock } from '../../src/core/clock.js';

/**
 * scrypt (16 MiB, tens of ms) runs once per credential at a time: concurrent requests with the
 * same password share one verification, a verified password is remembered for 5 minutes while the
 * stored hash is unchanged, and one used in its last minute is renewed by one background
 * verification, so the memory never lapses under load (docs/architecture.md, "Identity").
 * Time is a manual clock; scrypt calls are counted through the injected verifier.
 */
describe('password verification: one scrypt per credential at a time, renewed before it lapses', () => {
  const MINUTE = 60_000;
  let dir: { path: string; cleanup(): Promise<void> };
  let store: SqliteMetadataStore;
  let signer: JwtSigner;
  let now = Date.parse('2030-01-01T00:00:00Z');
  const password = 'the-right-password-for-tok-busy';

  before(async () => {
    dir = await tempDir();
    store = await SqliteMetadataStore.open(join(dir.path, 'metadata.db'));
    signer = await JwtSigner.open(dir.path, { clock: { now: () => now, sleep: systemClock.sleep } });
    await store.identity.createToken({
      name: 'tok-busy', status: 'enabled', scopeMap: '_repositories_pull',
      password1: { hash: await hashPassword(password), createdAt: new Date(now), expiry: null },
      password2: { hash: await hashPassword('the-other-password'), createdAt: new Date(now), expiry: null },
    });
  });
  after(async () => {
    await store.close();
    await dir.cleanup();
  });

  /** An Authenticator over the real store whose scrypt calls are counted (and can be held, and awaited). */
  function counted(throttle: LoginThrottleOptions = { slotsPerName: 1000 }): { auth: Authenticator; calls: () => number; hold(): () => void; finished(): Promise<void> } {
    let calls = 0;
    let gate: Promise<void> | null = null;
    const running: Array<Promise<unknown>> = [];
    const auth = new Authenticator({
      identities: store.identity, adminPassword: 'admin-password', anonymousPull: false, credentialKey: signer.credentialKey,
      throttle: new LoginThrottle({ clock: { now: () => now, sleep: async () => undefined }, ...throttle }),
      clock: { now: () => now, sleep: systemClock.sleep },
      verifyPassword: (candidate, hash) => {
        calls += 1;
        const held = gate;
        const verification = (async () => {
          if (held) await held;
          return verifyPassword(candidate, hash);
        })();
        running.push(verification);
        return verification;
      },
    });
    return {
      auth,
      calls: () => calls,
      async finished() {
        await Promise.all(running);
        // The Authenticator's own continuation (it remembers the answer) runs right after.
        await new Promise((resolve) => setImmediate(resolve));
      },
      hold() {
        let open!: () => void;
        gate = new Promise((resolve) => (open = resolve));
        return () => {
          gate = null;
          open();
        };
      },
    };
  }

  const burst = (auth: Authenticator, n: number, candidate = password): Promise<unknown[]> =>
    Promise.all(Array.from({ length: n }, () => auth.basic('tok-busy', candidate, '10.0.0.1').then((id) => id.name, (err: unknown) => err)));

  test('32 concurrent first requests with one password run scrypt once', async () => {
    const { auth, calls } = counted();
    assert.deepEqual(await burst(auth, 32), Array(32).fill('tok-busy'));
    assert.equal(calls(), 1);
    assert.deepEqual(await burst(auth, 32), Array(32).fill('tok-busy'));
    assert.equal(calls(), 1, 'remembered');
  });

  test("a cold burst of 300 requests with one token passes the throttle's default slots: scrypt once, no 429", async () => {
    const { auth, calls } = counted({});
    assert.deepEqual(await burst(auth, 300), Array(300).fill('tok-busy'));
    assert.equal(calls(), 1);
  });

  test('in the last minute of the memory, one background verification renews it while the remembered answer serves', async () => {
    const { auth, calls, hold, finished } = counted();
    await burst(auth, 1);
    assert.equal(calls(), 1);
    now += 3 * MINUTE;
    await burst(auth, 16);
    assert.equal(calls(), 1, 'not yet in the last minute');

    now += 90_000; // 4.5 minutes after the verification
    const release = hold();
    assert.deepEqual(await burst(auth, 32), Array(32).fill('tok-busy'), 'answered from memory while the renewal runs');
    assert.equal(calls(), 2, 'one renewal for the whole burst');
    release();
    await finished();
    now += 2 * MINUTE; // 6.5 minutes after the first verification, 2 after the renewal
    assert.deepEqual(await burst(auth, 32), Array(32).fill('tok-busy'));
    assert.equal(calls(), 2, 'the renewed memory still serves: no stampede when the first one would have lapsed');
  });

  test('a memory that lapsed unused is verified again once for a concurrent burst', async () => {
    const { auth, calls } = counted();
    await burst(auth, 1);
    now += 6 * MINUTE;
    assert.deepEqual(await burst(auth, 32), Array(32).fill('tok-busy'));
    assert.equal(calls(), 2);
  });

  test('a clock set back before a verification (tests move it both ways) verifies again rather than trusting the memory longer', async () => {
    const { auth, calls } = counted();
    await burst(auth, 1);
    const verifiedAt = now;
    now -= 2 * MINUTE;
    assert.deepEqual(await burst(auth, 8), Array(8).fill('tok-busy'));
    assert.equal(calls(), 2, 'verified once more, for the whole burst');
    now = verifiedAt;
  });

  test('concurrent requests with one wrong password share one verification per password slot', async () => {
    const { auth, calls } = counted();
    const answers = await burst(auth, 16, 'a-wrong-password');
    for (const answer of answers) assert.ok(answer instanceof RegistryError && answer.code === 'UNAUTHORIZED');
    assert.equal(calls(), 2, 'password1 and password2, each once');
  });

  test('a changed hash is never answered from memory', async () => {
    const { auth, calls } = counted();
    await burst(auth, 1);
    const record = (await store.identity.getToken('tok-busy'))!.password1!;
    await store.identity.setTokenPassword('tok-busy', 'password1', { ...record, hash: await hashPassword('rotated-password') });
    const [answer] = await burst(auth, 1);
    assert.ok(answer instanceof RegistryError && answer.code === 'UNAUTHORIZED');
    assert.equal(calls(), 3, 'checked against both live hashes');
    await store.identity.setTokenPassword('tok-busy', 'password1', record);
  });
});

describe('JWT lifetimes follow the injected clock', () => {
  test('an access token expires when the clock passes its lifetime, cached or not', async () => {
    const dir = await tempDir();
    try {
      let now = Date.parse('2030-01-01T00:00:00Z');
      const signer = await JwtSigner.open(dir.path, { clock: { now: () => now, sleep: systemClock.sleep } });
      const { token } = await signer.sign({ sub: 'tok', kind: 'token', access: [], use: 'access', audience: 'outpost', ttlSeconds: 300, credential: 'fp' });
      assert.equal((await signer.verify(token))?.credential, 'fp');
      now += 299_000;
      assert.ok(await signer.verify(token), 'still valid (from the cache)');
      now += 2000;
      assert.equal(await signer.verify(token), null, 'expired');
      const fresh = await JwtSigner.open(dir.path, { clock: { now: () => now, sleep: systemClock.sleep } });
      assert.equal(await fresh.verify(token), null, 'expired for a signer that never cached it');
      // A clock set back before the token's issue: not yet valid, cached or not.
      now -= 301_000 + 60_000;
      assert.equal(await signer.verify(token), null, 'not yet valid (from the cache)');
      assert.equal(await fresh.verify(token), null, 'not yet valid for a signer that never cached it');
      now += 60_000;
      assert.equal((await signer.verify(token))?.credential, 'fp', 'valid again once the clock is back');
    } finally {
      await dir.cleanup();
    }
  });
});
