import type { MessagesResponse } from '../client/gateway-protocol.js';

/** A repository's changes from the parent known here and not applied yet. */
export interface PendingRepository {
  repository: string;
  /** How many. */
  changes: number;
  /** When the oldest of them was made at the parent (ms since the epoch, the parent's clock). */
  oldestAt: number;
}

/**
 * How far this node is behind its parent, as the pull loop learns it (docs/observability.md,
 * "Metrics"): the last page of messages it received (what it knows the parent has) and when its
 * cursor last reached the parent's head. The cursor itself is the store's, read by the caller, so
 * the changes of a page count as pending exactly until their commit (cursor included) is made.
 */
export class SyncProgress {
  private page: { messages: Array<{ seq: number; repository: string; at: number }>; head: number } | null = null;
  private caughtUp: number | null = null;

  /** A messages answer arrived. */
  noteAnswer(page: Pick<MessagesResponse, 'messages' | 'head'>): void {
    this.page = {
      head: page.head,
      messages: page.messages.map((m) => ({ seq: m.seq, repository: m.repository, at: Date.parse(m.at) })),
    };
  }

  /** The cursor reached the parent's head at `now` (an answer applied with nothing after it). */
  noteCaughtUp(now: number): void {
    this.caughtUp = now;
  }

  /** When this node last had everything of its parent's log (this node's clock); null before the first time. */
  get caughtUpAt(): number | null {
    return this.caughtUp;
  }

  /** The parent's head as of the last answer; null before the first. */
  get parentHead(): number | null {
    return this.page?.head ?? null;
  }

  /** Per repository, the changes of the last answer after `cursor` (not applied yet), largest first. */
  pending(cursor: number | null): PendingRepository[] {
    const byRepository = new Map<string, PendingRepository>();
    for (const m of this.page?.messages ?? []) {
      if (cursor !== null && m.seq <= cursor) continue;
      const known = byRepository.get(m.repository);
      const at = Number.isFinite(m.at) ? m.at : Number.POSITIVE_INFINITY;
      if (known) {
        known.changes += 1;
        known.oldestAt = Math.min(known.oldestAt, at);
      } else {
        byRepository.set(m.repository, { repository: m.repository, changes: 1, oldestAt: at });
      }
    }
    return [...byRepository.values()].sort((a, b) => b.changes - a.changes || a.repository.localeCompare(b.repository));
  }
}
