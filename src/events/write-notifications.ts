import type { RepositoryEvent, WriteRequest } from '../core/events.js';

/** A notification made from a write, before it has an id, a time and (for a retag) its size. */
export interface NotificationDraft {
  action: 'push' | 'delete';
  repository: string;
  tag: string | null;
  digest: string | null;
  mediaType: string | null;
  /** null: unknown from the write's events (a tag moved onto a manifest stored earlier): read it from the store. */
  size: number | null;
  request: WriteRequest | null;
}

/**
 * The notifications of ONE committed write, from the repository events it published (in order):
 *
 * - a tag set is a push of that tag (with the manifest's size when the write stored it);
 * - a manifest stored without a tag set in the same write is a push by digest;
 * - a manifest delete is a delete by digest (its tags go with it: no event of their own);
 * - a tag delete (untag) is a delete of that tag — the reference's webhooks fire on manifest and
 *   repository deletes only; notificationsList patterns with a tag section need untags;
 * - a repository delete is one delete of the repository;
 * - blob links and unlinks are not notified.
 */
export function notificationsOfWrite(events: readonly RepositoryEvent[]): NotificationDraft[] {
  const drafts: NotificationDraft[] = [];
  const sizes = new Map<string, number>();
  const tagged = new Set<string>();
  for (const e of events) {
    if (e.type === 'manifest-pushed') sizes.set(`${e.repository}@${e.digest}`, e.size);
    if (e.type === 'tag-set') tagged.add(`${e.repository}@${e.digest}`);
  }
  const request = (e: RepositoryEvent): WriteRequest | null => e.request ?? null;
  for (const e of events) {
    switch (e.type) {
      case 'tag-set':
        drafts.push({
          action: 'push', repository: e.repository, tag: e.tag, digest: e.digest, mediaType: e.mediaType,
          size: sizes.get(`${e.repository}@${e.digest}`) ?? null, request: request(e),
        });
        break;
      case 'manifest-pushed':
        if (!tagged.has(`${e.repository}@${e.digest}`)) {
          drafts.push({ action: 'push', repository: e.repository, tag: null, digest: e.digest, mediaType: e.mediaType, size: e.size, request: request(e) });
        }
        break;
      case 'manifest-deleted':
        drafts.push({ action: 'delete', repository: e.repository, tag: null, digest: e.digest, mediaType: null, size: null, request: request(e) });
        break;
      case 'tag-deleted':
        drafts.push({ action: 'delete', repository: e.repository, tag: e.tag, digest: null, mediaType: null, size: null, request: request(e) });
        break;
      case 'repository-deleted':
        drafts.push({ action: 'delete', repository: e.repository, tag: null, digest: null, mediaType: null, size: null, request: request(e) });
        break;
      case 'blob-linked':
      case 'blob-deleted':
        break;
    }
  }
  return drafts;
}
