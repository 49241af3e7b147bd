import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DAY_MS, RETENTION_GRACE_MS, expiredManifests, untaggedSince } from '../../src/lifecycle/retention-policy.js';
import type { ManifestNode } from '../../src/metadata/index.js';

const NOW = Date.UTC(2026, 0, 31, 12);

/** A manifest named `digest`, pushed `ageDays` ago, untagged unless said; overrides what a case cares about. */
function node(digest: string, ageDays: number, extra: Partial<ManifestNode> = {}): ManifestNode {
  return { digest, tagged: false, subject: null, children: [], createdAt: new Date(NOW - ageDays * DAY_MS), untaggedAt: null, ...extra };
}

const decide = (manifests: ManifestNode[], days: number, now = NOW): string[] => expiredManifests({ manifests }, days, now);

describe('retention decision (untagged manifests)', () => {
  it('deletes untagged manifests older than the policy and keeps tagged and younger ones', () => {
    const manifests = [node('old', 10), node('young', 3), node('tagged-old', 100, { tagged: true })];
    assert.deepEqual(decide(manifests, 7), ['old']);
    assert.deepEqual(decide(manifests, 30), []);
    assert.deepEqual(decide(manifests, 2), ['old', 'young']);
  });

  it('counts the age from when the last tag left a manifest, not from its push', () => {
    const movedYesterday = node('moved', 400, { untaggedAt: new Date(NOW - DAY_MS) });
    const movedLongAgo = node('gone', 400, { untaggedAt: new Date(NOW - 8 * DAY_MS) });
    assert.equal(untaggedSince(movedYesterday), NOW - DAY_MS);
    assert.deepEqual(decide([movedYesterday, movedLongAgo], 7), ['gone']);
  });

  it('days 0 deletes every untagged manifest, but never within the grace period of its push or untagging', () => {
    const justPushed = node('just-pushed', 0, { createdAt: new Date(NOW - 60_000) });
    const justUntagged = node('just-untagged', 50, { untaggedAt: new Date(NOW - RETENTION_GRACE_MS + 1) });
    const pastGrace = node('past-grace', 0, { createdAt: new Date(NOW - RETENTION_GRACE_MS - 1) });
    assert.deepEqual(decide([justPushed, justUntagged, pastGrace], 0), ['past-grace']);
    assert.deepEqual(decide([justPushed, justUntagged, pastGrace], 0, NOW + RETENTION_GRACE_MS), ['just-pushed', 'just-untagged', 'past-grace']);
  });

  it('keeps the untagged platform manifests of a kept index, and deletes an expired index first, then what only it listed', () => {
    const manifests = [
      node('index-tagged', 90, { tagged: true, children: ['amd64', 'arm64'] }),
      node('amd64', 90), node('arm64', 90),
      node('index-old', 90, { children: ['x-amd64', 'shared'] }),
      node('x-amd64', 90), node('shared', 90),
      node('index-young', 1, { children: ['shared', 'y-arm64'] }),
      node('y-arm64', 90),
    ];
    const order = decide(manifests, 7);
    assert.deepEqual(order, ['index-old', 'x-amd64'], 'shared is listed by a young index too');
  });

  it('orders nested indexes parents first, whatever the digests sort to', () => {
    const manifests = [
      node('a-leaf', 30), node('b-middle', 30, { children: ['a-leaf'] }), node('c-top', 30, { children: ['b-middle', 'a-leaf'] }),
    ];
    assert.deepEqual(decide(manifests, 7), ['c-top', 'b-middle', 'a-leaf']);
  });

  it('keeps referrers of a kept manifest, and referrers of those referrers; a referrer goes with its subject', () => {
    const manifests = [
      node('image', 60, { tagged: true }),
      node('signature', 60, { subject: 'image' }),
      node('signature-of-signature', 60, { subject: 'signature' }),
      node('old-image', 60),
      node('old-signature', 60, { subject: 'old-image' }),
      node('old-sbom-signature', 60, { subject: 'old-signature' }),
      node('orphan', 60, { subject: 'missing' }),
    ];
    assert.deepEqual(decide(manifests, 7).sort(), ['old-image', 'old-sbom-signature', 'old-signature', 'orphan']);
  });

  it('keeps the referrers of a platform manifest of a tagged index, through the index', () => {
    const manifests = [
      node('index', 30, { tagged: true, children: ['platform'] }),
      node('platform', 30),
      node('platform-signature', 30, { subject: 'platform' }),
    ];
    assert.deepEqual(decide(manifests, 7), []);
  });

  it('a young referrer keeps itself but not its old subject', () => {
    const manifests = [node('subject', 30), node('fresh-signature', 1, { subject: 'subject' })];
    assert.deepEqual(decide(manifests, 7), ['subject']);
  });

  it('a tagged manifest inside an expired index stays; the index goes', () => {
    const manifests = [node('index', 30, { children: ['tagged-child'] }), node('tagged-child', 30, { tagged: true })];
    assert.deepEqual(decide(manifests, 7), ['index']);
  });
});
