import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChangeKind, SyncFacts, UnsettledWrite } from '../../src/metadata/index.js';
import { planParentChange } from '../../src/sync/apply-policy.js';
import { digestOf, manifestInput } from '../metadata/store-suite.js';

/** The sync policy alone: facts in, plain operations out. No store, no database. */

let seq = 0;
/** An unsettled local write of `app`; `pushOrder` set: pushed, awaiting its echo. */
function write(kind: ChangeKind, fields: { tag?: string; digest?: string }, pushOrder: number | null = null): UnsettledWrite {
  seq += 1;
  return {
    change: { seq, repository: 'app', kind, tag: fields.tag ?? null, digest: fields.digest ?? null, mediaType: null, at: new Date(0) },
    pushOrder,
  };
}

function facts(unsettled: UnsettledWrite[], manifestPresent: boolean | null = null): SyncFacts {
  return { repository: 'app', unsettled, manifestPresent, basis: 0 };
}

const A = digestOf('a');
const B = digestOf('b');
const image = (label: string, tag?: string) => ({ ...manifestInput('app', label), ...(tag !== undefined ? { tag } : {}) });

describe('sync policy: with nothing unsettled, a parent change applies as it is', () => {
  it('every kind becomes its plain operation (and the parked-item bookkeeping of a message)', () => {
    assert.deepEqual(planParentChange({ kind: 'manifest', input: image('a', 'v1') }, facts([], false), true), [
      { op: 'drop-parked-tag', tag: 'v1', exceptDigest: A },
      { op: 'put-manifest', input: image('a', 'v1') },
      { op: 'forget-parked', digest: A },
    ]);
    assert.deepEqual(planParentChange({ kind: 'tag-delete', repository: 'app', tag: 'v1' }, facts([]), true), [
      { op: 'drop-parked-tag', tag: 'v1', exceptDigest: null },
      { op: 'delete-tag', tag: 'v1' },
    ]);
    assert.deepEqual(planParentChange({ kind: 'manifest-delete', repository: 'app', digest: A }, facts([]), true), [
      { op: 'forget-parked', digest: A },
      { op: 'delete-manifest', digest: A },
    ]);
    assert.deepEqual(planParentChange({ kind: 'repository-delete', repository: 'app' }, facts([]), true), [
      { op: 'forget-parked', digest: null },
      { op: 'delete-repository' },
    ]);
    assert.deepEqual(planParentChange({ kind: 'blob-delete', repository: 'app', digest: A }, facts([]), true), [
      { op: 'unlink-blob', digest: A },
    ]);
  });

  it('without a cursor (a reconcile, a retry) nothing is settled and no parked tag is dropped', () => {
    const pushed = write('tag', { tag: 'v1', digest: A }, 3);
    assert.deepEqual(planParentChange({ kind: 'manifest', input: image('a', 'v1') }, facts([pushed], true), false), [
      { op: 'put-manifest', input: image('a') },
      { op: 'forget-parked', digest: A },
    ]);
    assert.deepEqual(planParentChange({ kind: 'tag-delete', repository: 'app', tag: 'x' }, facts([]), false), [{ op: 'delete-tag', tag: 'x' }]);
  });
});

describe('sync policy: a parent change never overrides what an unsettled local write touches', () => {
  for (const [state, pushOrder] of [['waiting in the outbox or parked', null], ['pushed, awaiting its echo', 9]] as const) {
    it(`a tag a local write sets or deletes keeps its place (${state})`, () => {
      const moved = write('tag', { tag: 'v1', digest: B }, pushOrder);
      const untagged = write('tag-delete', { tag: 'v1' }, pushOrder);
      for (const local of [moved, untagged]) {
        const ops = planParentChange({ kind: 'manifest', input: image('a', 'v1') }, facts([local], false), true);
        assert.deepEqual(ops.find((op) => op.op === 'put-manifest'), { op: 'put-manifest', input: image('a') }, 'the manifest is stored, untagged');
      }
      // (A parent tag delete of a tag this node deleted and pushed is that push's echo: see below.)
      for (const local of pushOrder === null ? [moved, untagged] : [moved]) {
        assert.deepEqual(planParentChange({ kind: 'tag-delete', repository: 'app', tag: 'v1' }, facts([local]), true),
          [{ op: 'drop-parked-tag', tag: 'v1', exceptDigest: null }]);
      }
    });
  }

  it('a manifest a local write stores, tags or deletes is not deleted', () => {
    for (const local of [write('manifest', { digest: A }), write('tag', { tag: 't', digest: A }), write('manifest-delete', { digest: A })]) {
      assert.deepEqual(planParentChange({ kind: 'manifest-delete', repository: 'app', digest: A }, facts([local]), true), [{ op: 'forget-parked', digest: A }]);
    }
    // A blob delete names a blob, not a manifest: no protection from it.
    const blob = write('blob-delete', { digest: A });
    assert.deepEqual(planParentChange({ kind: 'manifest-delete', repository: 'app', digest: A }, facts([blob]), true).at(-1), { op: 'delete-manifest', digest: A });
  });

  it('a manifest deleted here is not brought back, nor tagged, while it is absent; its new blob links still are', () => {
    const deleted = write('manifest-delete', { digest: A });
    const input = { ...image('a', 'v1'), blobLinks: { [digestOf('layer')]: 5 } };
    assert.deepEqual(planParentChange({ kind: 'manifest', input }, facts([deleted], false), true), [
      { op: 'drop-parked-tag', tag: 'v1', exceptDigest: A },
      { op: 'link-blobs', links: { [digestOf('layer')]: 5 } },
      { op: 'forget-parked', digest: A },
    ]);
    assert.deepEqual(planParentChange({ kind: 'manifest', input: image('a') }, facts([deleted], false), false), [{ op: 'forget-parked', digest: A }]);
    // Put back here since (a later local write): the parent's put is the idempotent store it always was.
    assert.equal(planParentChange({ kind: 'manifest', input: image('a') }, facts([deleted], true), false)[0]!.op, 'put-manifest');
  });

  it('a blob a local write unlinked is not linked again (the manifest then fails its check and is parked)', () => {
    const unlinked = write('blob-delete', { digest: digestOf('layer') });
    const input = { ...image('a'), blobs: [digestOf('layer'), digestOf('other')], blobLinks: { [digestOf('layer')]: 5, [digestOf('other')]: 6 } };
    const [put] = planParentChange({ kind: 'manifest', input }, facts([unlinked], false), true);
    assert.deepEqual(put, { op: 'put-manifest', input: { ...input, blobLinks: { [digestOf('other')]: 6 } } });
  });

  it('a repository delete keeps the tags and manifests unsettled writes name (the store keeps what those manifests list)', () => {
    const writes = [
      write('tag', { tag: 'keep', digest: A }), write('tag-delete', { tag: 'gone' }), write('manifest', { digest: B }),
      write('manifest', { digest: A }), write('blob-delete', { digest: digestOf('blob') }),
    ];
    assert.deepEqual(planParentChange({ kind: 'repository-delete', repository: 'app' }, facts(writes), true), [
      { op: 'forget-parked', digest: null },
      { op: 'delete-repository-except', tags: ['keep', 'gone'], manifests: [A, B, digestOf('blob')] },
    ]);
  });

  it('a blob delete unlinks whatever is unsettled: the store keeps a blob a manifest references', () => {
    assert.deepEqual(planParentChange({ kind: 'blob-delete', repository: 'app', digest: A }, facts([write('manifest', { digest: A })]), true),
      [{ op: 'unlink-blob', digest: A }]);
  });
});

describe('sync policy: echoes', () => {
  it('a message settles the oldest push it echoes and every push before it; then the parent\'s order wins', () => {
    const older = write('manifest', { digest: B }, 1);
    const ours = write('tag', { tag: 'v1', digest: A }, 2);
    const again = write('tag', { tag: 'v1', digest: A }, 4);
    const waiting = write('tag', { tag: 'v1', digest: B });
    // The echo of push 2 (the oldest of the two identical ones): pushes 1 and 2 settle; 4 and the waiting one still protect v1.
    let ops = planParentChange({ kind: 'manifest', input: image('a', 'v1') }, facts([older, ours, again, waiting], true), true);
    assert.deepEqual(ops.slice(0, 2), [{ op: 'settle-echoes', throughPushOrder: 2 }, { op: 'drop-parked-tag', tag: 'v1', exceptDigest: A }]);
    assert.deepEqual(ops[2], { op: 'put-manifest', input: image('a') });
    // The only unsettled write was the echoed one: the tag moves (to where it already is here).
    ops = planParentChange({ kind: 'manifest', input: image('a', 'v1') }, facts([ours], true), true);
    assert.deepEqual(ops[2], { op: 'put-manifest', input: image('a', 'v1') });
  });

  it('an echo matches kind, tag and digest exactly', () => {
    const tagPush = write('tag', { tag: 'v1', digest: A }, 5);
    const cases: Array<[string, Parameters<typeof planParentChange>[0], number | null]> = [
      ['the manifest message of a tag push', { kind: 'manifest', input: image('a') }, null],
      ['the same tag on another manifest', { kind: 'manifest', input: image('b', 'v1') }, null],
      ['the tag message', { kind: 'manifest', input: image('a', 'v1') }, 5],
      ['a tag delete', { kind: 'tag-delete', repository: 'app', tag: 'v1' }, null],
    ];
    for (const [what, change, settled] of cases) {
      const ops = planParentChange(change, facts([tagPush], true), true);
      assert.deepEqual(ops.filter((op) => op.op === 'settle-echoes'), settled === null ? [] : [{ op: 'settle-echoes', throughPushOrder: settled }], what);
    }
    const deletes: Array<[Parameters<typeof planParentChange>[0], UnsettledWrite]> = [
      [{ kind: 'tag-delete', repository: 'app', tag: 'x' }, write('tag-delete', { tag: 'x' }, 6)],
      [{ kind: 'manifest-delete', repository: 'app', digest: A }, write('manifest-delete', { digest: A }, 7)],
      [{ kind: 'blob-delete', repository: 'app', digest: A }, write('blob-delete', { digest: A }, 8)],
    ];
    for (const [change, pushed] of deletes) {
      assert.deepEqual(planParentChange(change, facts([pushed]), true)[0], { op: 'settle-echoes', throughPushOrder: pushed.pushOrder }, change.kind);
    }
  });

  it('a push still waiting in the outbox is never settled by a message that looks like its echo', () => {
    const waiting = write('tag-delete', { tag: 'x' });
    assert.deepEqual(planParentChange({ kind: 'tag-delete', repository: 'app', tag: 'x' }, facts([waiting]), true),
      [{ op: 'drop-parked-tag', tag: 'x', exceptDigest: null }]);
  });

  it('a repository delete is never an echo (only the root deletes repositories)', () => {
    const pushed = write('manifest', { digest: A }, 1);
    const ops = planParentChange({ kind: 'repository-delete', repository: 'app' }, facts([pushed]), true);
    assert.deepEqual(ops, [{ op: 'forget-parked', digest: null }, { op: 'delete-repository-except', tags: [], manifests: [A] }]);
  });
});
