import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlobGate } from '../../src/storage/blob-gate.js';

const A = 'sha256:' + 'a'.repeat(64);
const B = 'sha256:' + 'b'.repeat(64);

describe('BlobGate', () => {
  it('the sweep cannot claim a digest a write holds, and claims it once the write releases it', async () => {
    const gate = new BlobGate();
    const release = await gate.hold([A]);
    assert.equal(gate.isHeld(A), true);
    const first = gate.claim([A, B]);
    assert.deepEqual(first.digests, [B], 'the held digest is left for the next run');
    first.release();
    release();
    assert.equal(gate.isHeld(A), false);
    const second = gate.claim([A]);
    assert.deepEqual(second.digests, [A]);
    second.release();
  });

  it('a write that wants a claimed digest waits until the claim ends, then holds it', async () => {
    const gate = new BlobGate();
    const claim = gate.claim([A]);
    let held = false;
    const holding = gate.hold([A, B]).then((release) => {
      held = true;
      return release;
    });
    // Let every pending callback run: the hold must still be waiting on the claim.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(held, false, 'no hold while the sweep has the digest');
    assert.equal(gate.isHeld(B), false, 'nothing of the write is held while it waits');
    claim.release();
    const release = await holding;
    assert.equal(gate.isHeld(A), true);
    assert.deepEqual(gate.claim([A]).digests, [], 'and the sweep cannot take it back meanwhile');
    release();
  });

  it('holds count: a digest held twice stays held until both release; a release twice counts once', async () => {
    const gate = new BlobGate();
    const one = await gate.hold([A]);
    const two = await gate.hold([A]);
    one();
    one();
    assert.equal(gate.isHeld(A), true);
    two();
    assert.equal(gate.isHeld(A), false);
  });

  it('two sweeps never claim the same digest', () => {
    const gate = new BlobGate();
    const first = gate.claim([A]);
    assert.deepEqual(gate.claim([A, B]).digests, [B]);
    first.release();
  });

  it('holding() releases when the work fails', async () => {
    const gate = new BlobGate();
    await assert.rejects(gate.holding([A], async () => {
      assert.equal(gate.isHeld(A), true);
      throw new Error('the commit failed');
    }), /the commit failed/);
    assert.equal(gate.isHeld(A), false);
  });
});
