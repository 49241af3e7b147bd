import type { OutboxFailure, ParkedItem, StatusDetail } from '../metadata/index.js';

/** Details of each kind sent in one heartbeat; past it one more detail says how many were left out. */
export const MAX_ITEM_DETAILS = 20;

/**
 * The status details of the items sync could not carry through (docs/architecture.md,
 * "Connected node and sync agent"), from the durable records, so they survive a restart and
 * clear when the records go:
 *
 * - `SyncItemFailed`: a manifest from the parent this node cannot complete, parked and retried;
 * - `OutboxItemFailed`: a local write this node cannot read back, parked and retried;
 * - `OutboxRejected`: a local write the parent refused for good (the newest ones kept).
 *
 * Each names its repository, digest and tag (when it has them) and carries the code of the
 * failure: the parent's answer or this registry's refusal.
 */
export function syncItemDetails(parked: readonly ParkedItem[], failures: readonly OutboxFailure[], instanceId: string): StatusDetail[] {
  const pulled = parked.map((item): StatusDetail => ({
    type: 'SyncItemFailed',
    code: clipCode(item.code),
    description: clip(`cannot complete ${reference(item.repository, item.tag, item.digest)} from the parent `
      + `(${item.attempts} attempt(s) since ${item.firstFailedAt.toISOString()}, next ${item.nextAttemptAt.toISOString()}): ${item.message}`),
    timestamp: item.firstFailedAt.toISOString(),
    correlationId: item.parentSeq === null ? instanceId : `parent-seq:${item.parentSeq}`,
    ...named(item.repository, item.digest, item.tag),
  }));
  const local = failures.filter((f) => f.state === 'parked').map((f): StatusDetail => ({
    type: 'OutboxItemFailed',
    code: clipCode(f.code),
    description: clip(`cannot push ${f.change.kind} ${reference(f.change.repository, f.change.tag, f.change.digest)}: it fails here `
      + `(${f.attempts} attempt(s), next ${f.nextAttemptAt?.toISOString() ?? 'never'}): ${f.message}`),
    timestamp: f.failedAt.toISOString(),
    correlationId: `local-seq:${f.change.seq}`,
    ...named(f.change.repository, f.change.digest, f.change.tag),
  }));
  const refused = failures.filter((f) => f.state === 'rejected').reverse().map((f): StatusDetail => ({
    type: 'OutboxRejected',
    code: clipCode(f.code),
    description: clip(`the parent refused ${f.change.kind} ${reference(f.change.repository, f.change.tag, f.change.digest)}: ${f.message}`),
    timestamp: f.failedAt.toISOString(),
    correlationId: `local-seq:${f.change.seq}`,
    ...named(f.change.repository, f.change.digest, f.change.tag),
  }));
  return [...capped(pulled), ...capped(local), ...capped(refused)];
}

function reference(repository: string, tag: string | null, digest: string | null): string {
  return `${repository}${tag !== null ? `:${tag}` : ''}${digest !== null ? `@${digest}` : ''}`;
}

function named(repository: string, digest: string | null, tag: string | null): Pick<StatusDetail, 'repository' | 'digest' | 'tag'> {
  return { repository, ...(digest !== null ? { digest } : {}), ...(tag !== null ? { tag } : {}) };
}

function capped(details: StatusDetail[]): StatusDetail[] {
  if (details.length <= MAX_ITEM_DETAILS) return details;
  const first = details[0]!;
  return [...details.slice(0, MAX_ITEM_DETAILS), {
    type: first.type, code: 'MORE', description: `${details.length - MAX_ITEM_DETAILS} more ${first.type} item(s) not listed`,
    timestamp: first.timestamp, correlationId: first.correlationId,
  }];
}

/** A code from the parent's answer is the parent's text: kept short. */
function clipCode(code: string): string {
  return code.slice(0, 100);
}

/** The gateway takes texts of at most 1024 characters. */
function clip(text: string): string {
  return text.length <= 1000 ? text : `${text.slice(0, 997)}...`;
}
