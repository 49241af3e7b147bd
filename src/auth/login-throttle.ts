export interface LoginThrottleOptions {
  /** Delay after the first failure. */
  baseMs?: number;
  /** The delay never grows past this: slow, never locked out. */
  maxMs?: number;
  /** The failure score halves every `halfLifeMs` without new failures. */
  halfLifeMs?: number;
  now?: () => number;
}

interface Entry {
  score: number;
  at: number;
}

const MAX_ENTRIES = 10_000;

/**
 * Slows down repeated failed logins per token name and per client address (in memory): each
 * failure adds one to a score that decays with a half-life; the delay doubles with the score up to
 * a cap. Nothing is ever locked permanently.
 */
export class LoginThrottle {
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly halfLifeMs: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();

  constructor(options: LoginThrottleOptions = {}) {
    this.baseMs = options.baseMs ?? 250;
    this.maxMs = options.maxMs ?? 4000;
    this.halfLifeMs = options.halfLifeMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  private score(key: string, now: number): number {
    const entry = this.entries.get(key);
    if (!entry) return 0;
    return entry.score * 0.5 ** ((now - entry.at) / this.halfLifeMs);
  }

  /** How long to wait before checking a login for these keys (the largest of their delays). */
  delayMs(keys: readonly string[]): number {
    const now = this.now();
    const score = Math.max(0, ...keys.map((k) => this.score(k, now)));
    if (score < 0.5) return 0;
    return Math.round(Math.min(this.maxMs, this.baseMs * 2 ** (score - 1)));
  }

  failed(keys: readonly string[]): void {
    const now = this.now();
    for (const key of keys) {
      const score = this.score(key, now) + 1;
      this.entries.delete(key);
      this.entries.set(key, { score, at: now });
    }
    // Oldest entries go first (Map keeps insertion order, and a failure re-inserts its keys).
    while (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
  }

  succeeded(key: string): void {
    this.entries.delete(key);
  }
}
