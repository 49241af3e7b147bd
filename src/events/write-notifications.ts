import type { ChangeToNotify, NotificationRequest } from '../metadata/index.js';

/** A notification made from a write, before it has an id, a time and its manifest's size. */
export interface NotificationDraft {
  action: 'push' | 'delete';
  repository: string;
  tag: string | null;
  digest: string | null;
  mediaType: string | null;
  request: NotificationRequest | null;
}

/**
 * The notifications of ONE committed write, from the change-log rows it appended (in order):
 *
 * - a tag set is a push of that tag;
 * - a manifest stored without a tag set in the same write is a push by digest;
 * - a manifest delete is a delete by digest (its tags go with it: no event of their own);
 * - a tag delete (untag) is a delete of that tag — the reference's webhooks fire on manifest and
 *   repository deletes only; notificationsList patterns with a tag section need untags;
 * - a repository delete is one delete of the repository;
 * - blob deletes are not notified (nor are blob links, which the change log does not hold).
 */
export function notificationsOfWrite(changes: readonly ChangeToNotify[]): NotificationDraft[] {
  const drafts: NotificationDraft[] = [];
  const tagged = new Set<string>();
  for (const c of changes) if (c.kind === 'tag') tagged.add(`${c.repository}@${c.digest}`);
  for (const c of changes) {
    const base = { repository: c.repository, request: c.request };
    switch (c.kind) {
      case 'tag':
        drafts.push({ ...base, action: 'push', tag: c.tag, digest: c.digest, mediaType: c.mediaType });
        break;
      case 'manifest':
        if (!tagged.has(`${c.repository}@${c.digest}`)) drafts.push({ ...base, action: 'push', tag: null, digest: c.digest, mediaType: c.mediaType });
        break;
      case 'manifest-delete':
        drafts.push({ ...base, action: 'delete', tag: null, digest: c.digest, mediaType: null });
        break;
      case 'tag-delete':
        drafts.push({ ...base, action: 'delete', tag: c.tag, digest: null, mediaType: null });
        break;
      case 'repository-delete':
        drafts.push({ ...base, action: 'delete', tag: null, digest: null, mediaType: null });
        break;
      case 'blob-delete':
        break;
    }
  }
  return drafts;
}
