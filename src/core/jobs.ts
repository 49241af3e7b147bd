import { Cron } from 'croner';
import type { Clock } from './clock.js';

/** When a job runs by itself: every `everyMs` (the first run after one interval, or at once with `atStart`), or at each occurrence of a 5-field cron in UTC; null: only when asked (`runNow`). */
export type JobSchedule = { everyMs: number; atStart?: boolean } | { cron: string } | null;

export interface JobDefinition<R = unknown> {
  /** A stable name, for logs and `runNow`. */
  name: string;
  schedule: JobSchedule;
  /** The work; `signal` aborts when the runner stops. Its result is what `runNow` resolves with. */
  run(signal: AbortSignal): Promise<R>;
}

export interface JobStatus {
  name: string;
  running: boolean;
  runs: number;
  lastStartedAt: number | null;
  lastFinishedAt: number | null;
  /** The message of the last run's failure; null when it succeeded. */
  lastError: string | null;
  /** When it runs next by itself; null when only on demand. */
  nextRunAt: number | null;
}

/** Where the runner reports failed runs (a pino logger fits). */
export interface JobLogger {
  warn(details: object, message: string): void;
}

interface Job {
  definition: JobDefinition;
  cron: Cron | null;
  /** Ends the loop's current sleep, so a new schedule is read at once. */
  wake: AbortController;
  running: Promise<unknown> | null;
  status: JobStatus;
  /** The time the next scheduled run is measured from. */
  since: number;
}

/**
 * Runs a node's background work (change-log prune, upload purge, garbage collection, …) as named
 * jobs on one injected clock. A job never runs twice at once: a run asked for while one is in
 * flight gets that run's result. Failures are logged and kept in the job's status; the job runs
 * again at its next time. `stop()` aborts the running jobs and waits for them.
 */
export class JobRunner {
  private readonly jobs = new Map<string, Job>();
  private readonly stopping = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private started = false;

  constructor(private readonly clock: Clock, private readonly logger: JobLogger) {}

  add(definition: JobDefinition): void {
    if (this.jobs.has(definition.name)) throw new Error(`job ${definition.name} is already registered`);
    const job: Job = {
      definition, cron: cronOf(definition.schedule), wake: new AbortController(), running: null, since: this.clock.now(),
      status: { name: definition.name, running: false, runs: 0, lastStartedAt: null, lastFinishedAt: null, lastError: null, nextRunAt: null },
    };
    this.jobs.set(definition.name, job);
    job.status.nextRunAt = this.nextRunAt(job);
    if (this.started) this.loops.push(this.loop(job));
  }

  /** Changes when a job runs by itself; takes effect at once (a waiting job reads the new schedule). */
  reschedule(name: string, schedule: JobSchedule): void {
    const job = this.must(name);
    const before = JSON.stringify(job.definition.schedule);
    if (before === JSON.stringify(schedule)) return;
    job.definition = { ...job.definition, schedule };
    job.cron = cronOf(schedule);
    job.since = this.clock.now();
    job.status.nextRunAt = this.nextRunAt(job);
    job.wake.abort();
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const job of this.jobs.values()) this.loops.push(this.loop(job));
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    for (const job of this.jobs.values()) job.wake.abort();
    await Promise.allSettled([...this.loops, ...[...this.jobs.values()].map((j) => j.running)]);
  }

  /** Runs a job now (or joins the run in flight) and resolves with its result; rejects with its failure. */
  runNow<R = unknown>(name: string): Promise<R> {
    return this.execute(this.must(name)) as Promise<R>;
  }

  status(name: string): JobStatus {
    return { ...this.must(name).status };
  }

  list(): JobStatus[] {
    return [...this.jobs.values()].map((j) => ({ ...j.status }));
  }

  private must(name: string): Job {
    const job = this.jobs.get(name);
    if (!job) throw new Error(`no job named ${name}`);
    return job;
  }

  private nextRunAt(job: Job): number | null {
    const schedule = job.definition.schedule;
    if (schedule === null) return null;
    if ('everyMs' in schedule) {
      const from = job.status.lastStartedAt ?? job.since;
      return job.status.runs === 0 && schedule.atStart ? job.since : from + schedule.everyMs;
    }
    return job.cron?.nextRun(new Date(Math.max(job.since, job.status.lastStartedAt ?? 0)))?.getTime() ?? null;
  }

  private async loop(job: Job): Promise<void> {
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      const next = this.nextRunAt(job);
      job.status.nextRunAt = next;
      const wait = next === null ? 60 * 60 * 1000 : next - this.clock.now();
      if (wait > 0) {
        if (job.wake.signal.aborted) job.wake = new AbortController();
        // Bounded, and re-read after every wake: a manual clock's sleeps may end early, and a new schedule ends them.
        await this.clock.sleep(Math.min(wait, 60_000), AbortSignal.any([stop, job.wake.signal]));
        continue;
      }
      await this.execute(job).catch(() => undefined);
    }
  }

  private execute(job: Job): Promise<unknown> {
    if (job.running) return job.running;
    const status = job.status;
    status.running = true;
    status.lastStartedAt = this.clock.now();
    const run = (async () => {
      try {
        const result = await job.definition.run(this.stopping.signal);
        status.lastError = null;
        return result;
      } catch (err) {
        status.lastError = err instanceof Error ? err.message : String(err);
        if (!this.stopping.signal.aborted) this.logger.warn({ job: job.definition.name, err: status.lastError }, 'background job failed');
        throw err;
      } finally {
        status.runs += 1;
        status.running = false;
        status.lastFinishedAt = this.clock.now();
        job.running = null;
        status.nextRunAt = this.nextRunAt(job);
      }
    })();
    job.running = run;
    return run;
  }
}

function cronOf(schedule: JobSchedule): Cron | null {
  return schedule !== null && 'cron' in schedule ? new Cron(schedule.cron, { timezone: 'UTC', paused: true }) : null;
}
