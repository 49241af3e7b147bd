import { Cron } from 'croner';

export const CONTINUOUS_SCHEDULE = '* * * * *';

/** Where a moment falls in a sync schedule. */
export type WindowState =
  /** Sync now; stop at `closesAt` (null: never, continuous). */
  | { open: true; closesAt: number | null }
  /** Wait: the next occurrence starts at `opensAt`; with `catchUp` (no window) it syncs once until caught up. */
  | { open: false; opensAt: number; catchUp: boolean };

/**
 * A connected registry's sync schedule (docs/architecture.md, "Sessions and windows"): a
 * 5-field cron in UTC and an optional window. `* * * * *` without a window is continuous. With a
 * window, each occurrence syncs for the window's length. A schedule without a window syncs once
 * per occurrence, until caught up (the reference leaves this case open; it is documented).
 */
export class SyncSchedule {
  private readonly cron: Cron | null;

  constructor(readonly schedule: string, private readonly windowMs: number | null) {
    const normalized = schedule.trim().split(/\s+/).join(' ');
    this.cron = normalized === CONTINUOUS_SCHEDULE && windowMs === null ? null : new Cron(normalized, { timezone: 'UTC', paused: true });
  }

  get continuous(): boolean {
    return this.cron === null;
  }

  at(now: number): WindowState {
    if (this.cron === null) return { open: true, closesAt: null };
    if (this.windowMs !== null) {
      // The latest occurrence that started within the last window, if any, is still open.
      let closesAt: number | null = null;
      let occurrence = this.cron.nextRun(new Date(now - this.windowMs));
      while (occurrence && occurrence.getTime() <= now) {
        closesAt = occurrence.getTime() + this.windowMs;
        occurrence = this.cron.nextRun(occurrence);
      }
      if (closesAt !== null && closesAt > now) return { open: true, closesAt };
    }
    const next = this.cron.nextRun(new Date(now));
    return { open: false, opensAt: next ? next.getTime() : now + 24 * 60 * 60 * 1000, catchUp: this.windowMs === null };
  }
}
