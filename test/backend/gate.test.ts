/**
 * The RBD backend's write fence (src/backends/rbd/gate.ts), without a cluster: a fence runs its
 * body with no write of this instance in flight and holds new writes back until it ends, also
 * when fences follow each other and writers waited on the previous one.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WriteGates } from '../../src/backends/rbd/gate.js';

/** A promise and the function that settles it. */
function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('RBD write gates', () => {
  it('a fence after one that held writers back waits for those writers to leave', async () => {
    const gates = new WriteGates();
    const first = latch();
    const firstFence = gates.fence([1], () => first.promise);
    await turn();
    let writerIn = false;
    const writer = gates.enter(1).then(() => {
      writerIn = true;
    });
    await turn();
    assert.equal(writerIn, false, 'a write entered while the fence was up');
    first.open();
    await firstFence;
    await writer;
    let secondBodyRan = false;
    const secondFence = gates.fence([1], async () => {
      secondBodyRan = true;
    });
    await turn();
    assert.equal(secondBodyRan, false, 'the second fence ran its body with a write in flight');
    gates.leave(1);
    await secondFence;
    assert.equal(secondBodyRan, true);
  });

  it('a fence that waited for another still holds back the writes that come during its body', async () => {
    const gates = new WriteGates();
    const first = latch();
    const second = latch();
    const firstFence = gates.fence([1], () => first.promise);
    await turn();
    let secondBodyStarted = false;
    const secondFence = gates.fence([1], async () => {
      secondBodyStarted = true;
      await second.promise;
    });
    first.open();
    await firstFence;
    while (!secondBodyStarted) await turn();
    let writerIn = false;
    const writer = gates.enter(1).then(() => {
      writerIn = true;
    });
    await turn();
    assert.equal(writerIn, false, 'a write entered during the second fence body');
    second.open();
    await secondFence;
    await writer;
    assert.equal(writerIn, true);
    gates.leave(1);
  });

  it('leaving more often than entering is a bug, not a silent negative count', () => {
    const gates = new WriteGates();
    assert.throws(() => gates.leave(7), /left more often than entered/);
  });
});
