import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeToNotify, NotificationEvent, WebhookRecord } from '../../src/metadata/index.js';
import { notificationsSelect, parseNotificationPattern, parseWebhookScope, scopeSelects, type EventTarget } from '../../src/events/patterns.js';
import { notificationsOfWrite } from '../../src/events/write-notifications.js';
import { deliveriesFor, pingPayload, webhookPayload } from '../../src/events/webhook-payload.js';
import { maskHeaders, maskUri } from '../../src/events/secrets.js';
import { retryDelayMs } from '../../src/events/webhook-delivery.js';
import { RegistryError } from '../../src/oci/index.js';

/**
 * The pure rules of notifications (docs/observability.md, "Webhooks and notifications"): which
 * events a notificationsList pattern and a webhook scope select, what a write is notified as,
 * the payload, what is masked, the retry waits.
 */

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const pushTag: EventTarget = { action: 'push', repository: 'path/to/repo', tag: 'myTag', digest: D1 };
const pushDigest: EventTarget = { action: 'push', repository: 'path/to/repo', tag: null, digest: D1 };
const deleteManifest: EventTarget = { action: 'delete', repository: 'path/to/repo', tag: null, digest: D1 };
const untag: EventTarget = { action: 'delete', repository: 'path/to/repo', tag: 'myTag', digest: null };
const deleteRepository: EventTarget = { action: 'delete', repository: 'path/to/repo', tag: null, digest: null };
const other: EventTarget = { action: 'push', repository: 'hello-world', tag: '1.0', digest: D2 };
const ALL = { pushTag, pushDigest, deleteManifest, untag, deleteRepository, other };

/** The names of the events of ALL the pattern selects. */
function selected(pattern: string): string[] {
  return Object.entries(ALL).filter(([, e]) => notificationsSelect([pattern], e)).map(([name]) => name);
}

describe('notificationsList patterns (name[:tag][@digest]:push|delete|*)', () => {
  test("the reference's examples select what its text says", () => {
    assert.deepEqual(selected('*:*'), Object.keys(ALL), 'all actions on all tags and digests of all artifacts');
    assert.deepEqual(selected('*:*:*'), ['pushTag', 'untag', 'other'], 'all actions on all tags');
    assert.deepEqual(selected('*@*:*'), ['pushTag', 'pushDigest', 'deleteManifest', 'other'], 'all actions on all digests');
    assert.deepEqual(selected('path/to/repo:*'), ['pushTag', 'pushDigest', 'deleteManifest', 'untag', 'deleteRepository']);
    assert.deepEqual(selected('path/to/repo:myTag:*'), ['pushTag', 'untag']);
    assert.deepEqual(selected(`path/to/repo@${D1}:delete`), ['deleteManifest']);
    assert.deepEqual(selected('path/to/*:push'), ['pushTag', 'pushDigest']);
    assert.deepEqual(selected('hello-world:*:*'), ['other']);
    assert.deepEqual(selected('path/*:1.0:*'), []);
  });

  test('repository names compare lower-cased; a list selects what any of its patterns does; an empty list nothing', () => {
    assert.ok(notificationsSelect(['PATH/TO/REPO:push'], pushTag));
    assert.ok(notificationsSelect(['nothing:*', 'hello-world:push'], other));
    assert.ok(!notificationsSelect([], other));
  });

  test('a pattern that does not parse selects nothing', () => {
    for (const bad of ['', 'repo', 'repo:pull', ':push', 'a:b:c:push', 'repo@:push']) {
      assert.equal(parseNotificationPattern(bad), null, bad);
      assert.ok(!notificationsSelect([bad], pushTag), bad);
    }
    assert.deepEqual(parseNotificationPattern(`repo:v1@${D1}:*`), { name: 'repo', tag: 'v1', digest: D1, action: '*' });
  });
});

describe('webhook scope (repository[:tag])', () => {
  test("the reference's meaning: '' everything, foo:* all of foo, foo:bar only that tag, foo is foo:latest", () => {
    const takes = (scope: string): string[] => Object.entries(ALL).filter(([, e]) => scopeSelects(parseWebhookScope(scope), e)).map(([n]) => n);
    assert.deepEqual(takes(''), Object.keys(ALL));
    assert.deepEqual(takes('path/to/repo:*'), ['pushTag', 'pushDigest', 'deleteManifest', 'untag', 'deleteRepository']);
    assert.deepEqual(takes('path/to/repo:myTag'), ['pushTag', 'untag']);
    assert.deepEqual(takes('hello-world'), [], 'hello-world is hello-world:latest');
    assert.deepEqual(takes('hello-world:1.0'), ['other']);
    assert.deepEqual(takes('path/*:*'), ['pushTag', 'pushDigest', 'deleteManifest', 'untag', 'deleteRepository']);
    assert.deepEqual(takes('*:1.0'), ['other']);
  });

  test('a scope that is not repository[:tag] is refused with REQUEST_INVALID', () => {
    for (const bad of ['a:b:c', 'UPPER:!', ':v1', 'repo:', 'bad name:*', 'a//b:*', '*/x:*']) {
      assert.throws(() => parseWebhookScope(bad), (err: unknown) => err instanceof RegistryError && err.code === 'REQUEST_INVALID', bad);
    }
  });
});

describe('what a write is notified as', () => {
  const request = { id: 'r-1', host: 'edge:5000', method: 'PUT', useragent: 'skopeo/1.13' };
  const at = new Date('2026-03-01T10:00:00Z');
  /** A change-log row of one write (write id 1). */
  const row = (seq: number, kind: ChangeToNotify['kind'], fields: Partial<ChangeToNotify> = {}): ChangeToNotify => ({
    seq, repository: 'app', kind, tag: null, digest: null, mediaType: null, at, actor: 'ci', request: null, writeId: 1, ...fields,
  });

  test('a push by tag (the manifest row and the tag row of one write) is ONE push, with the request', () => {
    const write = [row(1, 'manifest', { digest: D1, mediaType: 'm', request }), row(2, 'tag', { tag: 'v1', digest: D1, mediaType: 'm', request })];
    assert.deepEqual(notificationsOfWrite(write), [{ action: 'push', repository: 'app', tag: 'v1', digest: D1, mediaType: 'm', request }]);
  });

  test('a push by digest; a tag moved onto a stored manifest; deletes; blob deletes are not notified', () => {
    assert.deepEqual(notificationsOfWrite([row(1, 'manifest', { digest: D1, mediaType: 'm' })]),
      [{ action: 'push', repository: 'app', tag: null, digest: D1, mediaType: 'm', request: null }]);
    assert.deepEqual(notificationsOfWrite([row(1, 'tag', { tag: 'v2', digest: D1, mediaType: 'm' })]),
      [{ action: 'push', repository: 'app', tag: 'v2', digest: D1, mediaType: 'm', request: null }]);
    assert.deepEqual(notificationsOfWrite([row(1, 'manifest-delete', { digest: D1 })]),
      [{ action: 'delete', repository: 'app', tag: null, digest: D1, mediaType: null, request: null }]);
    assert.deepEqual(notificationsOfWrite([row(1, 'tag-delete', { tag: 'v1' })]),
      [{ action: 'delete', repository: 'app', tag: 'v1', digest: null, mediaType: null, request: null }]);
    assert.deepEqual(notificationsOfWrite([row(1, 'repository-delete')]),
      [{ action: 'delete', repository: 'app', tag: null, digest: null, mediaType: null, request: null }]);
    assert.deepEqual(notificationsOfWrite([row(1, 'blob-delete', { digest: D2 })]), []);
  });

  test('a multi-architecture push in one write: each child by digest, the index by its tag', () => {
    const write = [
      row(1, 'manifest', { digest: D2, mediaType: 'm' }),
      row(2, 'manifest', { digest: D1, mediaType: 'i' }),
      row(3, 'tag', { tag: 'latest', digest: D1, mediaType: 'i' }),
    ];
    assert.deepEqual(notificationsOfWrite(write).map((d) => `${d.action} ${d.tag ?? '-'} ${d.digest}`), [`push - ${D2}`, `push latest ${D1}`]);
  });
});

describe('the webhook payload and who gets it', () => {
  const event: NotificationEvent = {
    id: 'cb8c3971-9adc-488b-0000-43cbb4974ff5', timestamp: new Date('2026-03-01T10:00:00.123Z'), action: 'push', repository: 'hello-world',
    tag: 'v1', digest: D1, mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 524,
    request: { id: 'r-1', host: 'edge.example:8080', method: 'PUT', useragent: 'docker/27' }, connectedRegistry: 'edge-one',
  };

  test("shaped like the reference's push payload, with the connected registry's name", () => {
    assert.deepEqual(JSON.parse(webhookPayload(event)), {
      id: event.id, timestamp: '2026-03-01T10:00:00.123Z', action: 'push',
      target: { mediaType: event.mediaType, size: 524, digest: D1, length: 524, repository: 'hello-world', tag: 'v1' },
      request: { id: 'r-1', host: 'edge.example:8080', method: 'PUT', useragent: 'docker/27' },
      connectedregistry: { name: 'edge-one' },
    });
    const rootDelete = { ...event, action: 'delete' as const, tag: null, mediaType: null, size: null, request: null, connectedRegistry: null };
    assert.deepEqual(JSON.parse(webhookPayload(rootDelete)), { id: event.id, timestamp: '2026-03-01T10:00:00.123Z', action: 'delete', target: { digest: D1, repository: 'hello-world' } });
    assert.deepEqual(JSON.parse(pingPayload('p-1', new Date(0))), { id: 'p-1', timestamp: '1970-01-01T00:00:00.000Z', action: 'ping' });
  });

  test('deliveries: enabled webhooks whose actions include the event and whose scope takes it', () => {
    const hook = (name: string, extra: Partial<WebhookRecord>): WebhookRecord => ({
      name, serviceUri: 'http://x/', actions: ['push', 'delete'], scope: '', status: 'enabled', customHeaders: {}, createdAt: new Date(0), updatedAt: new Date(0), ...extra,
    });
    const webhooks = [
      hook('all', {}), hook('deletesonly', { actions: ['delete'] }), hook('off', { status: 'disabled' }),
      hook('hello', { scope: 'hello-world:*' }), hook('other', { scope: 'other:*' }), hook('v1only', { scope: 'hello-world:v1' }),
    ];
    const out = deliveriesFor(event, webhooks);
    assert.deepEqual(out.map((d) => d.webhook), ['all', 'hello', 'v1only']);
    assert.ok(out.every((d) => d.payload === webhookPayload(event)));
  });
});

describe('secrets and retries', () => {
  test('secret-looking header values and URI credentials are masked; the rest is shown', () => {
    assert.deepEqual(maskHeaders({ Authorization: 'Basic x', 'X-Api-Key': 'k', 'X-Auth-Token': 't', Cookie: 'c', 'X-Env': 'prod', 'Content-Type': 'application/json' }),
      { Authorization: '***', 'X-Api-Key': '***', 'X-Auth-Token': '***', Cookie: '***', 'X-Env': 'prod', 'Content-Type': 'application/json' });
    assert.equal(maskUri('https://u:p@hooks.example:8443/in?code=abc&sig=def&team=a'), 'https://u:***@hooks.example:8443/in?code=***&sig=***&team=a');
    assert.equal(maskUri('http://hooks.example/in'), 'http://hooks.example/in');
    assert.equal(maskUri('not a uri'), '***');
  });

  test('retries wait 5 s doubling, at most 15 minutes', () => {
    assert.deepEqual([1, 2, 3, 4, 8, 9, 19].map(retryDelayMs), [5_000, 10_000, 20_000, 40_000, 640_000, 900_000, 900_000]);
  });
});
