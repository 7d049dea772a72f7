import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createPool, openPool } from '../../src/engine/index.js';
import { isStrataError } from '../../src/lib/errors.js';
import { limits } from '../../src/lib/limits.js';
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
  const diff = (await engine.diff({ snapshotId: snapshot.id }, { volumeId: volume.id }));
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
  assert.equal((await engine.exclusiveBytes(later.id)), 8 * KiB);
  const before = (await engine.info()).chunksAllocated;
  await engine.deleteSnapshot(later.id).done;
  await engine.flush();
  assert.equal((await engine.info()).chunksAllocated, before - 2);
  await engine.deleteSnapshot(base.id).done;
  const expected = Buffer.concat([pattern(64 * KiB, 3), Buffer.alloc(64 * KiB)]);
  pattern(4 * KiB, 4).copy(expected, 4 * KiB);
  assert.deepEqual(await engine.read({ volumeId: clone.id }, 0, 128 * KiB), expected);
  assert.equal((await engine.volume(clone.id)).originSnapshotId, null);
  await engine.deleteVolume(volume.id).done;
  assert.deepEqual(await engine.read({ volumeId: clone.id }, 0, 128 * KiB), expected);
  assert.deepEqual((await engine.fsck()).violations, []);
  await engine.close();
});

test('a corrupted chunk is a CHECKSUM_MISMATCH error on read and a violation in fsck, never data', async () => {
  const storage = new MemoryStorage();
  const engine = await createPool(storage, { chunkSizeBytes: 16 * KiB });
  const volume = await engine.createVolume({ sizeBytes: 64 * KiB });
  await engine.write(volume.id, 0, pattern(32 * KiB, 7));
  await engine.flush();
  storage.corrupt('data', 5000, 3); // inside sector 1 of the first slot
  await assert.rejects(engine.read({ volumeId: volume.id }, 4096, 4096), (error: unknown) => isStrataError(error, 'CHECKSUM_MISMATCH'));
  // Sectors with intact checksums still read.
  assert.deepEqual(await engine.read({ volumeId: volume.id }, 8192, 8192), pattern(32 * KiB, 7).subarray(8192, 16384));
  const report = await engine.fsck();
  assert.equal(report.ok, false);
  assert.match(report.violations.join('\n'), /sector 1: checksum mismatch/);
  await engine.close();
});

test('limits are refused with LIMIT_EXCEEDED or INVALID_ARGUMENT, and nothing is created', async () => {
  const engine = await createPool(new MemoryStorage(), { chunkSizeBytes: 64 * KiB });
  await assert.rejects(engine.createVolume({ sizeBytes: limits.volumeSizeBytesMax + 4096 }), (e: unknown) => isStrataError(e, 'LIMIT_EXCEEDED'));
  await assert.rejects(engine.createVolume({ sizeBytes: 4097 }), (e: unknown) => isStrataError(e, 'INVALID_ARGUMENT'));
  await assert.rejects(createPool(new MemoryStorage(), { chunkSizeBytes: 3 * KiB }), (e: unknown) => isStrataError(e, 'INVALID_ARGUMENT'));
  const big = await engine.createVolume({ sizeBytes: limits.volumeSizeBytesMax });
  await engine.write(big.id, limits.volumeSizeBytesMax - 4096, pattern(4096, 1));
  await assert.rejects(engine.read({ volumeId: big.id }, 0, limits.requestSizeBytesMax + 1), (e: unknown) => isStrataError(e, 'LIMIT_EXCEEDED'));
  await assert.rejects(engine.write(big.id, limits.volumeSizeBytesMax - 4096, pattern(8192, 1)), (e: unknown) => isStrataError(e, 'OUT_OF_RANGE'));
  await assert.rejects(engine.growVolume(big.id, limits.volumeSizeBytesMax - 4096), (e: unknown) => isStrataError(e, 'INVALID_ARGUMENT'));
  assert.equal((await engine.listVolumes()).length, 1);
  await engine.close();
});

test('a volume takes at least 10,000 snapshots, reads the oldest at full depth, and refuses one past the limit', async () => {
  const engine = await createPool(new MemoryStorage(), { chunkSizeBytes: 4 * KiB });
  const volume = await engine.createVolume({ sizeBytes: 64 * KiB });
  await engine.write(volume.id, 0, pattern(4096, 1));
  const first = await engine.createSnapshot(volume.id);
  for (let i = 1; i < limits.snapshotsPerVolumeMax; i++) {
    if (i % 1000 === 0) await engine.write(volume.id, 0, pattern(4096, i));
    await engine.createSnapshot(volume.id);
  }
  assert.ok(limits.snapshotsPerVolumeMax >= 10_000);
  assert.equal((await engine.listSnapshots(volume.id)).length, limits.snapshotsPerVolumeMax);
  await assert.rejects(engine.createSnapshot(volume.id), (e: unknown) => isStrataError(e, 'LIMIT_EXCEEDED'));
  assert.deepEqual(await engine.read({ snapshotId: first.id }, 0, 4096), pattern(4096, 1));
  await engine.close();
});

test('deleting a clone while it is being flattened leaks nothing', async () => {
  const engine = await createPool(new MemoryStorage(), { chunkSizeBytes: 4 * KiB });
  const volume = await engine.createVolume({ sizeBytes: 8 * 1024 * KiB });
  await engine.write(volume.id, 0, pattern(8 * 1024 * KiB, 9)); // 2,048 chunks: several flatten slices
  const snapshot = await engine.createSnapshot(volume.id);
  const clone = await engine.clone(snapshot.id);
  const flatten = engine.flatten(clone.id);
  await new Promise((resolve) => setImmediate(resolve)); // let it do a slice or two
  const deletion = engine.deleteVolume(clone.id);
  await Promise.allSettled([flatten.done, deletion.done]);
  await deletion.done;
  await engine.flush();
  const report = await engine.fsck();
  assert.deepEqual(report.violations, []);
  assert.equal((await engine.listVolumes()).length, 1);
  await engine.close();
});
