import { RegistryError } from '../oci/index.js';
import type { Change, MetadataStore } from '../metadata/index.js';
import type { Message, ResyncRequiredDetail } from '../client/gateway-protocol.js';
import { inScope } from './config-document.js';

/** Change-log rows read per page. A page of messages is at most this long. */
export const PAGE_ROWS = 500;
/**
 * Pages read in one call while every row is outside the child's scope: the cursor moves past
 * them without a round trip per page, but one call never scans the whole log.
 */
const MAX_SCAN_PAGES = 20;

export interface FeedPage {
  /** Changes in scope with `seq > after`, in order. */
  messages: Message[];
  /** The cursor to ask with next: past the rows read, in scope or not. */
  next: number;
  /** The newest sequence number of this node's log. */
  head: number;
}

/** The retention the child's cursor is checked against (first read of a request only). */
export interface Retention {
  /** The child's message TTL in milliseconds. */
  ttlMs: number;
  /** Now, by the gateway's clock. */
  now: number;
}

/**
 * Reads the child's messages after `after` from this node's change log. With `retention`, first
 * checks that nothing the child needs is gone: throws RESYNC_REQUIRED (410) when the cursor is
 * ahead of the log (the log is not the one the cursor came from), when rows after it were pruned,
 * or when the next change after it is older than the message TTL. The error's detail carries
 * `head`, where the child continues after reconciling in full.
 */
export async function readFeed(metadata: MetadataStore, scope: readonly string[], after: number, retention?: Retention): Promise<FeedPage> {
  const head = await metadata.lastChangeSeq();
  if (retention && after > head) throw resyncRequired('ahead', after, head, null);
  const messages: Message[] = [];
  let cursor = after;
  for (let page = 0; page < MAX_SCAN_PAGES; page++) {
    const rows = await metadata.changesSince(cursor, PAGE_ROWS);
    if (page === 0 && retention) {
      const first = rows[0];
      // Sequence numbers have no gaps except where rows were pruned.
      if (first === undefined ? head > after : first.seq > after + 1) throw resyncRequired('pruned', after, head, first?.seq ?? null);
      if (first !== undefined && first.at.getTime() < retention.now - retention.ttlMs) throw resyncRequired('expired', after, head, first.seq);
    }
    for (const row of rows) if (inScope(scope, row.repository)) messages.push(toMessage(row));
    const last = rows[rows.length - 1];
    if (last !== undefined) cursor = last.seq;
    if (messages.length > 0 || rows.length < PAGE_ROWS) break;
  }
  return { messages, next: cursor, head: Math.max(head, cursor) };
}

function toMessage(change: Change): Message {
  return {
    seq: change.seq,
    kind: change.kind,
    repository: change.repository,
    tag: change.tag,
    digest: change.digest,
    mediaType: change.mediaType,
    at: change.at.toISOString(),
  };
}

const REASONS: Record<ResyncRequiredDetail['reason'], string> = {
  ahead: 'the cursor is ahead of this parent\'s change log',
  pruned: 'changes after the cursor are no longer retained',
  expired: 'the next change after the cursor is older than the message TTL',
};

function resyncRequired(reason: ResyncRequiredDetail['reason'], after: number, head: number, oldest: number | null): RegistryError {
  const detail: ResyncRequiredDetail = { reason, after, head, oldest };
  return new RegistryError('RESYNC_REQUIRED', `Resync required: ${REASONS[reason]}; reconcile in full, then continue after ${head}.`, detail);
}
