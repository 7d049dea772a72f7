/**
 * The group-snapshot fence across instances on RBD: two backends in one process are two Ceph
 * clients, as two `strata serve` would be. Instance X writes an increasing sequence number to
 * volume a, then (once that write is acknowledged) to volume b, over and over; instance Y takes
 * group snapshots of [a, b] meanwhile. Every group snapshot must hold a state that existed: b's
 * number equal to a's or one behind, never ahead, and none of X's writes may fail while Y holds
 * the locks. Prints the fence times measured.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { RbdBackend } from '../../src/backends/rbd/backend.js';
import { cephConf, cephSkipReason, freshNamespace, testPool } from './ceph.js';

const blockBytes = 4096;

function block(sequence: number): Buffer {
  const data = Buffer.alloc(blockBytes);
  for (let offset = 0; offset < blockBytes; offset += 4) data.writeUInt32LE(sequence, offset);
  return data;
}

function sequenceOf(data: Buffer, what: string): number {
  const sequence = data.readUInt32LE(0);
  for (let offset = 0; offset < blockBytes; offset += 4) assert.equal(data.readUInt32LE(offset), sequence, `${what}: a torn block at byte ${offset}`);
  return sequence;
}

let x: RbdBackend;
let y: RbdBackend;

before(async () => {
  if (cephSkipReason() !== undefined) return;
  const namespace = freshNamespace('fence');
  x = await RbdBackend.open({ confPath: cephConf()!, pool: testPool, namespace });
  y = await RbdBackend.open({ confPath: cephConf()!, pool: testPool, namespace });
});

after(async () => {
  await x?.close();
  await y?.close();
});

test('a group snapshot taken at one instance holds a state that existed while another instance writes', { skip: cephSkipReason() }, async () => {
  const a = (await y.createVolume({ sizeBytes: 8 * 1024 * 1024 })).id;
  const b = (await y.createVolume({ sizeBytes: 8 * 1024 * 1024 })).id;
  let stop = false;
  let written = 0;
  const writer = (async () => {
    for (let sequence = 1; !stop; sequence++) {
      await x.write(a, 0, block(sequence));
      await x.write(b, 0, block(sequence));
      written = sequence;
    }
  })();
  const fenceTimes: number[] = [];
  try {
    for (let round = 0; round < 5; round++) {
      const startAt = written;
      while (written < startAt + 3) await new Promise((resolve) => setTimeout(resolve, 5));
      const group = await y.createGroupSnapshot([a, b]);
      fenceTimes.push(group.fenceHeldMs);
      const [snapA, snapB] = group.snapshots;
      const inA = sequenceOf(await y.read({ snapshotId: snapA.id }, 0, blockBytes), `round ${round}, volume a`);
      const inB = sequenceOf(await y.read({ snapshotId: snapB.id }, 0, blockBytes), `round ${round}, volume b`);
      assert.ok(inB === inA || inB === inA - 1, `round ${round}: the group snapshot holds a=${inA} b=${inB}, a state that never existed`);
      assert.ok(inA > 0, `round ${round}: the snapshot missed the writes acknowledged before it`);
    }
  } finally {
    stop = true;
    await writer;
  }
  assert.ok(written > 15, `the writer at the other instance made progress through the fences (${written} rounds)`);
  const sorted = [...fenceTimes].sort((p, q) => p - q);
  console.log(`group snapshot fence across instances, 2 members, 5 rounds: min ${sorted[0].toFixed(1)} ms, median ${sorted[2].toFixed(1)} ms, max ${sorted[4].toFixed(1)} ms (${written} ordered write pairs)`);
  await y.deleteVolume(a).done;
  await y.deleteVolume(b).done;
});
