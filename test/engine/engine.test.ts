import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPool, openPool } from '../../src/engine/index.js';
import { MemoryStorage } from '../../src/storage/index.js';

const KiB = 1024;

function pattern(length: number, seed: number): Buffer {
  const buffer = Buffer.alloc(length);
  for (let i = 0; i < length; i++) buffer[i] = (i * 31 + seed * 7 + 1) & 0xff;
  return buffer;
}

test('a snapshot keeps its data while the volume is overwritten, trimmed and reverted', async () => {
  const storage = new MemoryStorage();
  const engine = await createPool(storage, { chunkSizeBytes: 16 * KiB });
  const volume = await engine.createVolume({ sizeBytes: 256 * KiB });
  const first = pattern(40 * KiB, 1);
  await engine.write(volume.id, 5 * KiB, first);
  const snapshot = await engine.createSnapshot(volume.id);
  await engine.write(volume.id, 8 * KiB, pattern(10 * KiB, 2));
  await engine.trim(volume.id, 32 * KiB, 16 * KiB);
  assert.deepEqual(await engine.read({ snapshotId: snapshot.id }, 5 * KiB, 40 * KiB), first);
  const live = await engine.read({ volumeId: volume.id }, 0, 256 * KiB);
  assert.deepEqual(live.subarray(8 * KiB, 18 * KiB), pattern(10 * KiB, 2));
  assert.ok(live.subarray(32 * KiB, 48 * KiB).every((byte) => byte === 0));
  const diff = engine.diff({ snapshotId: snapshot.id }, { volumeId: volume.id });
  // The write touched chunks 0 and 1, the trim chunk 2.
  assert.deepEqual(diff, [{ offsetBytes: 0, lengthBytes: 48 * KiB }]);
  await engine.revert(volume.id, snapshot.id);
  assert.deepEqual(await engine.read({ volumeId: volume.id }, 5 * KiB, 40 * KiB), first);
  assert.deepEqual((await engine.fsck()).violations, []);
  await engine.close();

  const reopened = await openPool(storage);
  assert.deepEqual(await reopened.read({ volumeId: volume.id }, 5 * KiB, 40 * KiB), first);
  assert.deepEqual((await reopened.fsck()).violations, []);
  await reopened.close();
});

test('clones, deletes and flatten keep every view intact and free exclusive space', async () => {
  const storage = new MemoryStorage();
  const engine = await createPool(storage, { chunkSizeBytes: 4 * KiB });
  const volume = await engine.createVolume({ sizeBytes: 64 * KiB });
  await engine.write(volume.id, 0, pattern(64 * KiB, 3));
  const base = await engine.createSnapshot(volume.id);
  const clone = await engine.clone(base.id, { sizeBytes: 128 * KiB });
  await engine.write(clone.id, 4 * KiB, pattern(4 * KiB, 4));
  await engine.write(volume.id, 0, pattern(8 * KiB, 5));
  const later = await engine.createSnapshot(volume.id);
  await engine.write(volume.id, 0, pattern(8 * KiB, 6));
  assert.equal(engine.exclusiveBytes(later.id), 8 * KiB);
  const before = engine.info().chunksAllocated;
  await engine.deleteSnapshot(later.id).done;
  await engine.flush();
  assert.equal(engine.info().chunksAllocated, before - 2);
  await engine.deleteSnapshot(base.id).done;
  const expected = Buffer.concat([pattern(64 * KiB, 3), Buffer.alloc(64 * KiB)]);
  pattern(4 * KiB, 4).copy(expected, 4 * KiB);
  assert.deepEqual(await engine.read({ volumeId: clone.id }, 0, 128 * KiB), expected);
  assert.equal(engine.volume(clone.id).originSnapshotId, null);
  await engine.deleteVolume(volume.id).done;
  assert.deepEqual(await engine.read({ volumeId: clone.id }, 0, 128 * KiB), expected);
  assert.deepEqual((await engine.fsck()).violations, []);
  await engine.close();
});
