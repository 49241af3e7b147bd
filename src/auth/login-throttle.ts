import { RegistryError } from '../oci/index.js';
import { systemClock, type Clock } from '../core/clock.js';

export interface LoginThrottleOptions {
  /** How long a failure is answered late once its name or address has failed before (doubling from there). */
  baseMs?: number;
  /** The delay never grows past this: slow, never locked out. */
  maxMs?: number;
  /** The failure score halves every `halfLifeMs` without new failures. */
  halfLifeMs?: number;
  /** Checks of one name that may run, or have failed and wait out their delay, at the same time. */
  slotsPerName?: number;
  /** Attempts of one name that may wait for a slot; more are refused with 429 TOOMANYREQUESTS. */
  maxWaitingPerName?: number;
  /** The node's clock: scores decay on its time and failures wait out their delay with its `sleep` (the system clock by default; tests pass one they control). */
  clock?: Clock;
}

interface Score {
  score: number;
  at: number;
}

interface Gate {
  /** Checks of this name running plus failures waiting out their delay. */
  busy: number;
  /** Attempts waiting for a slot, in order. */
  queue: Array<() => void>;
}

const MAX_ENTRIES = 10_000;

/** TOOMANYREQUESTS from the throttle, with when to try again (the HTTP edge sends it as `Retry-After`). */
export class ThrottledError extends RegistryError {
  constructor(message: string, readonly retryAfterSeconds: number) {
    super('TOOMANYREQUESTS', message, null);
    this.name = 'ThrottledError';
  }
}

/**
 * Slows down password guessing per token name and per client address (in memory), without
 * slowing the rightful user: a login is checked at once and a correct one answered at full
 * speed; a failure adds one to the scores of its name and its address (decaying with a
 * half-life) and is answered only after a delay that doubles with the larger score, up to a cap.
 * Nothing is ever locked permanently.
 *
 * Answering correct logins fast makes "no answer yet" mean "wrong", so delaying failure answers
 * alone would not slow a guesser who hangs up early and sends the next guess. What bounds the
 * guessing is the slots of a name: a check holds one while it runs, and a failed one keeps it for
 * its delay whether or not its client is still there. A name has `slotsPerName` slots, so its
 * password is tried at most that many times per delay; more attempts wait for a slot in order (a
 * correct one then answers at once), and past `maxWaitingPerName` waiting they get 429. Addresses
 * only add to the delay of failures and hold no slots: one client behind a NAT cannot hold the
 * sign-ins of everyone else there, and what can be guessed is a name's password (the admin's;
 * token passwords are 256 random bits), which the name's slots bound from every address at once.
 */
export class LoginThrottle {
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly halfLifeMs: number;
  private readonly slotsPerName: number;
  private readonly maxWaitingPerName: number;
  private readonly clock: Clock;
  private readonly scores = new Map<string, Score>();
  private readonly gates = new Map<string, Gate>();

  constructor(options: LoginThrottleOptions = {}) {
    this.baseMs = options.baseMs ?? 250;
    this.maxMs = options.maxMs ?? 4000;
    this.halfLifeMs = options.halfLifeMs ?? 30_000;
    this.slotsPerName = options.slotsPerName ?? 4;
    this.maxWaitingPerName = options.maxWaitingPerName ?? 1000;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Runs one login check of `name` from `address`. A non-null result is returned as soon as the
   * check ends; null (a failure) is recorded and returned after the delay. Throws TOOMANYREQUESTS
   * when too many attempts of the name already wait for a slot; whatever `check` throws is passed
   * on (and is no failure).
   */
  async attempt<T>(name: string, address: string, check: () => Promise<T | null>): Promise<T | null> {
    const gateKey = `name:${name.toLowerCase()}`;
    const keys = [gateKey, `addr:${address}`];
    await this.acquire(gateKey);
    try {
      const result = await check();
      if (result !== null) return result;
      const delay = this.delayMs(keys);
      this.failed(keys);
      // The slot stays held for the whole delay: a guesser gains nothing by hanging up early.
      if (delay > 0) await this.clock.sleep(delay);
      return null;
    } finally {
      this.release(gateKey);
    }
  }

  private score(key: string, now: number): number {
    const entry = this.scores.get(key);
    if (!entry) return 0;
    // Never grows when the clock is set back (tests move it both ways).
    return entry.score * 0.5 ** (Math.max(0, now - entry.at) / this.halfLifeMs);
  }

  /** How long the next failure of these keys is held (the largest of their delays). */
  delayMs(keys: readonly string[]): number {
    const now = this.clock.now();
    const score = Math.max(0, ...keys.map((k) => this.score(k, now)));
    if (score < 0.5) return 0;
    return Math.round(Math.min(this.maxMs, this.baseMs * 2 ** (score - 1)));
  }

  /** Records one failure of these keys. */
  failed(keys: readonly string[]): void {
    const now = this.clock.now();
    for (const key of keys) {
      const score = this.score(key, now) + 1;
      this.scores.delete(key);
      this.scores.set(key, { score, at: now });
    }
    // Oldest entries go first (Map keeps insertion order, and a failure re-inserts its keys).
    while (this.scores.size > MAX_ENTRIES) this.scores.delete(this.scores.keys().next().value!);
  }

  /** Checks of a name running or waiting out a failure's delay, and attempts waiting for a slot. */
  load(name: string): { busy: number; waiting: number } {
    const gate = this.gates.get(`name:${name.toLowerCase()}`);
    return { busy: gate?.busy ?? 0, waiting: gate?.queue.length ?? 0 };
  }

  private acquire(key: string): Promise<void> {
    let gate = this.gates.get(key);
    if (!gate) {
      gate = { busy: 0, queue: [] };
      this.gates.set(key, gate);
    }
    if (gate.busy < this.slotsPerName) {
      gate.busy += 1;
      return Promise.resolve();
    }
    if (gate.queue.length >= this.maxWaitingPerName) {
      return Promise.reject(new ThrottledError('too many sign-in attempts for this name: try again later', Math.max(1, Math.ceil(this.maxMs / 1000))));
    }
    const waiting = gate;
    // The slot passes straight from the releasing attempt to this one (busy stays counted).
    return new Promise((resolve) => waiting.queue.push(resolve));
  }

  private release(key: string): void {
    const gate = this.gates.get(key);
    if (!gate) return;
    const next = gate.queue.shift();
    if (next) {
      next();
      return;
    }
    gate.busy -= 1;
    if (gate.busy === 0) this.gates.delete(key);
  }
}
