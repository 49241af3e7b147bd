import type { Clock } from '../core/clock.js';
import type { MetadataStore, RetentionPolicy, SettingsStore, WriteOutcome } from '../metadata/index.js';
import { expiredManifests } from './retention-policy.js';

/** The actor of retention's deletes (in their events; their change rows are `local`, so they flow to every edge). */
export const RETENTION_ACTOR = 'retention';
/** The background job that applies the policy (core/jobs.ts), hourly. */
export const RETENTION_JOB = 'retention';
export const RETENTION_EVERY_MS = 60 * 60 * 1000;
/** Manifests deleted per transaction: a repository with a long backlog does not hold the write lock for long. */
const BATCH = 200;
/** Decisions per batch while clients keep changing the repository; then it waits for the next run. */
const MAX_DECISIONS = 8;
const REPOSITORY_PAGE = 1000;

/**
 * The write pipeline's guarded delete (RegistryWriter.deleteManifestsIfUnchanged, given by the
 * composition root): a local write by `actor` that publishes its events, or null when the
 * repository changed since `basis`.
 */
export interface RetentionWriter {
  deleteManifestsIfUnchanged(actor: string, repository: string, digests: readonly string[], basis: number): Promise<WriteOutcome | null>;
}

export interface RetentionDeps {
  settings: SettingsStore;
  metadata: Pick<MetadataStore, 'listRepositories' | 'manifestGraph'>;
  /** The write pipeline: the deletes are local writes with their change rows and events. */
  writer: RetentionWriter;
  clock: Clock;
  logger: { info(details: object, message: string): void; warn(details: object, message: string): void };
  /** Called after an update that leaves the policy enabled: the node runs the job soon rather than at its next hour. */
  onEnabled?: () => void;
}

/** What one run did. */
export interface RetentionRun {
  /** False when the policy was disabled: nothing was looked at. */
  enabled: boolean;
  days: number;
  /** Manifests deleted, per repository (only those that lost any). */
  deleted: Record<string, number>;
  /** Repositories left for the next run because clients kept changing them while retention decided. */
  busy: string[];
  /** Repositories whose deletes failed (the message); the others were still done. */
  failed: Record<string, string>;
}

/**
 * Retention of untagged manifests (docs/operations.md, "Retention"), the node's side of
 * `az acr config retention`: the policy (SettingsStore) and the job that applies it. For each
 * repository it reads the manifest graph, lets the pure decision (retention-policy.ts) pick what
 * has expired, and deletes that through the write pipeline in one write that the store refuses if
 * the repository changed meanwhile (a tag set since the read may protect a manifest) — then
 * decides again. Runs on a node that is not a connected node: a connected node gets the deletes
 * of the node it syncs from through the change log.
 */
export class RetentionService {
  constructor(private readonly deps: RetentionDeps) {}

  policy(): Promise<RetentionPolicy> {
    return this.deps.settings.retentionPolicy();
  }

  /** Changes the policy (values validated by the caller: status, days 0–365). */
  async update(change: Partial<Pick<RetentionPolicy, 'status' | 'days'>>): Promise<RetentionPolicy> {
    const policy = await this.deps.settings.updateRetentionPolicy(change);
    if (policy.status === 'enabled') this.deps.onEnabled?.();
    return policy;
  }

  /** Applies the policy to every repository (the job's work); `signal` stops it between batches. */
  async run(signal: AbortSignal): Promise<RetentionRun> {
    const policy = await this.deps.settings.retentionPolicy();
    const result: RetentionRun = { enabled: policy.status === 'enabled', days: policy.days, deleted: {}, busy: [], failed: {} };
    if (!result.enabled) return result;
    let last: string | undefined;
    for (;;) {
      const page = await this.deps.metadata.listRepositories(last === undefined ? { limit: REPOSITORY_PAGE } : { last, limit: REPOSITORY_PAGE });
      for (const repository of page) {
        if (signal.aborted) return result;
        try {
          const outcome = await this.applyTo(repository, policy.days, signal);
          if (outcome === 'busy') result.busy.push(repository);
          else if (outcome > 0) result.deleted[repository] = outcome;
        } catch (err) {
          // One repository's failure (a failing disk, a refused delete) does not stop the others.
          result.failed[repository] = err instanceof Error ? err.message : String(err);
        }
      }
      if (page.length < REPOSITORY_PAGE) break;
      last = page[page.length - 1];
    }
    const total = Object.values(result.deleted).reduce((sum, n) => sum + n, 0);
    if (total > 0) this.deps.logger.info({ days: policy.days, deleted: result.deleted }, `retention deleted ${total} untagged manifest(s)`);
    if (result.busy.length > 0) this.deps.logger.warn({ repositories: result.busy }, 'retention skipped repositories that kept changing; the next run tries again');
    const failed = Object.keys(result.failed);
    if (failed.length > 0) this.deps.logger.warn({ failed: result.failed }, `retention failed in ${failed.length} repositories; the next run tries again`);
    return result;
  }

  /** Deletes the expired manifests of one repository, batch by batch; how many went, or 'busy'. */
  private async applyTo(repository: string, days: number, signal: AbortSignal): Promise<number | 'busy'> {
    let deleted = 0;
    let decisions = 0;
    while (!signal.aborted) {
      const graph = await this.deps.metadata.manifestGraph(repository);
      if (graph === null) return deleted;
      // The clock is read for each decision: a long run decides with the time it decides at.
      const batch = expiredManifests(graph, days, this.deps.clock.now()).slice(0, BATCH);
      if (batch.length === 0) return deleted;
      const outcome = await this.deps.writer.deleteManifestsIfUnchanged(RETENTION_ACTOR, repository, batch, graph.basis);
      if (outcome === null) {
        decisions += 1;
        if (decisions >= MAX_DECISIONS) return 'busy';
        continue;
      }
      const went = outcome.changes.filter((c) => c.kind === 'manifest-delete').length;
      // Nothing went although the decision named manifests that were there: stop rather than decide the same again.
      if (went === 0) return deleted;
      deleted += went;
    }
    return deleted;
  }
}
