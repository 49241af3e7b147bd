import { RegistryError, isValidRepositoryName, isValidTag, patternMatches } from '../oci/index.js';

/**
 * The two filters of notifications (docs/observability.md, "Webhooks and notifications"): a
 * connected registry's `notificationsList` patterns, which select the events an edge records,
 * and a webhook's `scope`, which selects the events the root delivers to it. Both name
 * repositories as scope maps do: a name, `*`, or `prefix/*`.
 */

/** What a filter looks at in an event. */
export interface EventTarget {
  action: 'push' | 'delete';
  repository: string;
  tag: string | null;
  digest: string | null;
}

/** A parsed `name[:tag][@digest]:push|delete|*` pattern. */
export interface NotificationPattern {
  name: string;
  /** null: the pattern has no tag section (matches with or without a tag). */
  tag: string | null;
  /** null: no digest section. */
  digest: string | null;
  action: 'push' | 'delete' | '*';
}

/**
 * Parses a notificationsList pattern (validated where it was stored: the management API refuses
 * others); null for one that does not parse, which then selects nothing. The action is after the
 * last `:`; the digest, which has a `:` of its own, after the `@`.
 */
export function parseNotificationPattern(pattern: string): NotificationPattern | null {
  const colon = pattern.lastIndexOf(':');
  if (colon <= 0) return null;
  const action = pattern.slice(colon + 1);
  if (action !== 'push' && action !== 'delete' && action !== '*') return null;
  const artifact = pattern.slice(0, colon);
  const at = artifact.indexOf('@');
  const nameAndTag = at === -1 ? artifact : artifact.slice(0, at);
  const digest = at === -1 ? null : artifact.slice(at + 1);
  const parts = nameAndTag.split(':');
  if (parts.length > 2 || parts[0] === '' || digest === '') return null;
  return { name: parts[0]!.toLowerCase(), tag: parts[1] ?? null, digest, action };
}

/**
 * Does the pattern select the event? Every section it has must match: the name (`*`, `prefix/*`
 * or the repository), the action (`*` for both), and — only when the pattern has them — the tag
 * and the digest, each itself or `*`. A section the pattern has needs the event to have it too:
 * `*:*:*` selects events of a tag (pushes by tag, untags), `*@*:*` events of a manifest (a push,
 * a manifest delete), `*:*` every event.
 */
export function patternSelects(pattern: NotificationPattern, event: EventTarget): boolean {
  if (pattern.action !== '*' && pattern.action !== event.action) return false;
  if (!patternMatches(pattern.name, event.repository.toLowerCase())) return false;
  if (pattern.tag !== null && (event.tag === null || (pattern.tag !== '*' && pattern.tag !== event.tag))) return false;
  if (pattern.digest !== null && (event.digest === null || (pattern.digest !== '*' && pattern.digest !== event.digest))) return false;
  return true;
}

/** Does any of a notificationsList select the event? An empty list selects nothing. */
export function notificationsSelect(patterns: readonly string[], event: EventTarget): boolean {
  return patterns.some((p) => {
    const parsed = parseNotificationPattern(p);
    return parsed !== null && patternSelects(parsed, event);
  });
}

/** A webhook's scope: `repo[:tag]`, or every event. */
export type WebhookScope = { kind: 'all' } | { kind: 'repository'; name: string; tag: string };

/**
 * Parses and checks a webhook scope as the reference defines it: '' is every event; `foo:*`
 * every event of repository `foo`; `foo:bar` the events of tag `bar` only; `foo` is `foo:latest`.
 * The repository may be `*` or `prefix/*`. Throws RegistryError REQUEST_INVALID.
 */
export function parseWebhookScope(scope: string): WebhookScope {
  if (scope === '') return { kind: 'all' };
  const bad = (): RegistryError =>
    new RegistryError('REQUEST_INVALID', `Invalid scope '${scope.slice(0, 300)}': use repository[:tag], e.g. 'hello-world:*', 'samples/*:v1', or '' for every event.`);
  const parts = scope.split(':');
  if (parts.length > 2) throw bad();
  const name = parts[0]!.toLowerCase();
  const tag = parts[1] ?? 'latest';
  if (name !== '*') {
    const base = name.endsWith('/*') ? name.slice(0, -2) : name;
    if (!isValidRepositoryName(base)) throw bad();
  }
  if (tag !== '*' && !isValidTag(tag)) throw bad();
  return { kind: 'repository', name, tag };
}

/**
 * Does a webhook's scope take the event? `repo:*` takes every event of the repositories it
 * names, with or without a tag; `repo:tag` only events of that tag (so not a manifest delete,
 * which names no tag).
 */
export function scopeSelects(scope: WebhookScope, event: EventTarget): boolean {
  if (scope.kind === 'all') return true;
  if (!patternMatches(scope.name, event.repository.toLowerCase())) return false;
  return scope.tag === '*' || scope.tag === event.tag;
}
