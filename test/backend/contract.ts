/**
 * The contract of a storage backend (`EngineApi`, src/engine/types.ts): one set of cases that
 * every implementation passes (local.test.ts runs them on the embedded engine, rbd.test.ts on
 * Ceph RBD). They state only what core and the NBD path rely on, never a backend's internals:
 * sizes and granularity of diffs and allocation differ between backends, so those are checked
 * as "covers what was written, leaves out what was not".
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ByteRange, EngineApi, Extent, ViewRef } from '../../src/engine/types.js';
import { isStrataError, type ErrorCode } from '../../src/lib/errors.js';
import { limits } from '../../src/lib/limits.js';
import { bytesMismatch, patternBytes } from '../engine/support.js';

const MiB = 1024 * 1024;
const volumeBytes = 8 * MiB;

export interface BackendUnderTest {
  backend: EngineApi;
  close(): Promise<void>;
}

async function expectCode(promise: Promise<unknown> | (() => unknown), code: ErrorCode, what: string): Promise<void> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    assert.ok(isStrataError(error, code), `${what}: expected ${code}, got ${String(error)}`);
    return;
  }
  assert.fail(`${what}: expected ${code}, but it succeeded`);
}

async function expectBytes(backend: EngineApi, view: ViewRef, offsetBytes: number, expected: Uint8Array, what: string): Promise<void> {
  const actual = await backend.read(view, offsetBytes, expected.length);
  const mismatch = bytesMismatch(actual, expected, offsetBytes);
  assert.equal(mismatch, null, `${what} (read ${JSON.stringify(view)} at ${offsetBytes}+${expected.length}): ${mismatch}`);
}

function covers(ranges: ByteRange[], offsetBytes: number, lengthBytes: number): boolean {
  let at = offsetBytes;
  for (const range of [...ranges].sort((a, b) => a.offsetBytes - b.offsetBytes)) {
    if (range.offsetBytes <= at && range.offsetBytes + range.lengthBytes > at) at = range.offsetBytes + range.lengthBytes;
  }
  return at >= offsetBytes + lengthBytes;
}

function touches(ranges: ByteRange[], offsetBytes: number, lengthBytes: number): boolean {
  return ranges.some((range) => range.offsetBytes < offsetBytes + lengthBytes && range.offsetBytes + range.lengthBytes > offsetBytes);
}

function checkCoverage(extents: Extent[], offsetBytes: number, lengthBytes: number): void {
  let at = offsetBytes;
  for (const extent of extents) {
    assert.equal(extent.offsetBytes, at, `block status is not contiguous: ${JSON.stringify(extents)}`);
    assert.ok(extent.lengthBytes > 0, `empty extent in ${JSON.stringify(extents)}`);
    at += extent.lengthBytes;
  }
  assert.equal(at, offsetBytes + lengthBytes, `block status does not cover ${offsetBytes}+${lengthBytes}: ${JSON.stringify(extents)}`);
}

/** Registers the contract's cases for the backend that `open` gives (one backend for the suite). */
export function backendContract(name: string, open: () => Promise<BackendUnderTest>, options: { skip?: string } = {}): void {
  describe(`backend contract: ${name}`, { skip: options.skip }, () => {
    let subject: BackendUnderTest;
    let backend: EngineApi;
    before(async () => {
      subject = await open();
      backend = subject.backend;
    });
    after(async () => {
      await subject?.close();
    });

    const createVolume = async (sizeBytes = volumeBytes) => (await backend.createVolume({ sizeBytes })).id;

    test('volumes: create, look up, list, grow; shrinking and bad sizes refused', async () => {
      const id = await createVolume();
      const info = await backend.volume(id);
      assert.equal(info.sizeBytes, volumeBytes);
      assert.equal(info.state, 'available');
      assert.equal(info.originSnapshotId, null);
      assert.equal(info.cloneDepth, 0);
      assert.ok((await backend.listVolumes()).some((volume) => volume.id === id), 'the new volume is listed');
      assert.equal((await backend.growVolume(id, 2 * volumeBytes)).sizeBytes, 2 * volumeBytes);
      await expectBytes(backend, { volumeId: id }, 2 * volumeBytes - 4096, new Uint8Array(4096), 'the grown part reads as zeroes');
      await expectCode(backend.growVolume(id, volumeBytes), 'INVALID_ARGUMENT', 'shrink');
      await expectCode(backend.createVolume({ sizeBytes: 1000 }), 'INVALID_ARGUMENT', 'unaligned size');
      await expectCode(backend.createVolume({ sizeBytes: limits.volumeSizeBytesMax + 4096 }), 'LIMIT_EXCEEDED', 'size over the limit');
      await backend.deleteVolume(id).done;
    });

    test('I/O: unaligned writes read back after flush and FUA; trim and write-zeroes read as zeroes', async () => {
      const id = await createVolume();
      const first = patternBytes(10_000, 1);
      const second = patternBytes(70_000, 2);
      await backend.write(id, 1234, first);
      await backend.write(id, 5 * MiB - 3000, second, { fua: true });
      await backend.flush();
      await expectBytes(backend, { volumeId: id }, 1234, first, 'first write');
      await expectBytes(backend, { volumeId: id }, 5 * MiB - 3000, second, 'second write (FUA)');
      await backend.trim(id, 4096, 4096);
      await backend.writeZeroes(id, 8192, 1000, { noHole: true });
      await backend.flush();
      const expected = Buffer.from(first);
      expected.fill(0, 4096 - 1234, 8192 + 1000 - 1234);
      await expectBytes(backend, { volumeId: id }, 1234, expected, 'after trim and write-zeroes');
      await expectCode(backend.read({ volumeId: id }, volumeBytes - 10, 20), 'OUT_OF_RANGE', 'read past the end');
      await expectCode(backend.write(id, volumeBytes, new Uint8Array(1)), 'OUT_OF_RANGE', 'write past the end');
      await expectCode(backend.read({ volumeId: id }, 0, limits.requestSizeBytesMax + 1), 'LIMIT_EXCEEDED', 'oversized read');
      await backend.deleteVolume(id).done;
    });

    test('snapshots freeze data; the snapshot tree follows the head', async () => {
      const id = await createVolume();
      const old = patternBytes(64 * 1024, 3);
      await backend.write(id, 0, old);
      const first = await backend.createSnapshot(id);
      assert.equal(first.volumeId, id);
      assert.equal(first.sizeBytes, volumeBytes);
      assert.equal(first.parentSnapshotId, null);
      const fresh = patternBytes(64 * 1024, 4);
      await backend.write(id, 0, fresh);
      const second = await backend.createSnapshot(id);
      assert.equal(second.parentSnapshotId, first.id, 'the second snapshot descends from the first');
      assert.equal((await backend.volume(id)).headParentSnapshotId, second.id);
      await expectBytes(backend, { snapshotId: first.id }, 0, old, 'first snapshot');
      await expectBytes(backend, { snapshotId: second.id }, 0, fresh, 'second snapshot');
      assert.deepEqual((await backend.listSnapshots(id)).map((s) => s.id), [first.id, second.id]);
      assert.equal((await backend.snapshot(first.id)).volumeId, id);
      await backend.deleteVolume(id).done;
    });

    test('group snapshots hold every member at one instant', async () => {
      const a = await createVolume();
      const b = await createVolume();
      await backend.write(a, 0, patternBytes(8192, 5));
      await backend.write(b, 4096, patternBytes(8192, 6));
      const group = await backend.createGroupSnapshot([a, b]);
      assert.ok(group.fenceHeldMs >= 0);
      assert.deepEqual(group.snapshots.map((s) => s.volumeId), [a, b]);
      await backend.write(a, 0, patternBytes(8192, 7));
      await backend.write(b, 4096, patternBytes(8192, 8));
      await expectBytes(backend, { snapshotId: group.snapshots[0].id }, 0, patternBytes(8192, 5), 'member a');
      await expectBytes(backend, { snapshotId: group.snapshots[1].id }, 4096, patternBytes(8192, 6), 'member b');
      await expectCode(backend.createGroupSnapshot([a, a]), 'INVALID_ARGUMENT', 'a volume listed twice');
      await expectCode(backend.createGroupSnapshot([]), 'LIMIT_EXCEEDED', 'no volume');
      await backend.deleteVolume(a).done;
      await backend.deleteVolume(b).done;
    });

    test('revert to an older snapshot keeps the later ones', async () => {
      const id = await createVolume();
      await backend.write(id, 4096, patternBytes(4096, 9));
      const first = await backend.createSnapshot(id);
      await backend.write(id, 4096, patternBytes(4096, 10));
      const second = await backend.createSnapshot(id);
      await backend.write(id, 4096, patternBytes(4096, 11));
      const reverted = await backend.revert(id, first.id);
      assert.equal(reverted.headParentSnapshotId, first.id);
      await expectBytes(backend, { volumeId: id }, 4096, patternBytes(4096, 9), 'head after revert');
      await expectBytes(backend, { snapshotId: second.id }, 4096, patternBytes(4096, 10), 'the later snapshot');
      assert.deepEqual((await backend.listSnapshots(id)).map((s) => s.id), [first.id, second.id]);
      await backend.write(id, 0, patternBytes(4096, 12));
      await expectBytes(backend, { snapshotId: first.id }, 0, new Uint8Array(4096), 'the target snapshot after a write to the head');
      await backend.growVolume(id, 2 * volumeBytes);
      await backend.write(id, volumeBytes, patternBytes(4096, 13));
      const regrown = await backend.revert(id, second.id);
      assert.equal(regrown.sizeBytes, 2 * volumeBytes, 'a revert keeps the size the volume grew to');
      await expectBytes(backend, { volumeId: id }, volumeBytes, new Uint8Array(4096), 'beyond the snapshot’s size after a revert');
      await expectBytes(backend, { volumeId: id }, 4096, patternBytes(4096, 10), 'head after the second revert');
      const other = await createVolume();
      await expectCode(backend.revert(other, first.id), 'INVALID_ARGUMENT', 'revert to another volume’s snapshot');
      await backend.deleteVolume(other).done;
      await backend.deleteVolume(id).done;
    });

    test('clone reads through its origin until flattened, and bounds its depth', async () => {
      const id = await createVolume();
      await backend.write(id, 0, patternBytes(16384, 13));
      const snapshot = await backend.createSnapshot(id);
      const clone = await backend.clone(snapshot.id, { sizeBytes: 2 * volumeBytes });
      assert.equal(clone.originSnapshotId, snapshot.id);
      assert.equal(clone.cloneDepth, 1);
      assert.equal(clone.sizeBytes, 2 * volumeBytes);
      await expectBytes(backend, { volumeId: clone.id }, 0, patternBytes(16384, 13), 'clone before any write');
      await backend.write(clone.id, 0, patternBytes(4096, 14));
      await expectBytes(backend, { volumeId: id }, 0, patternBytes(16384, 13), 'origin after a write to the clone');
      const job = backend.flatten(clone.id);
      assert.equal(job.kind, 'flatten');
      await job.done;
      const flat = await backend.volume(clone.id);
      assert.equal(flat.originSnapshotId, null);
      assert.equal(flat.cloneDepth, 0);
      const expected = Buffer.from(patternBytes(16384, 13));
      Buffer.from(patternBytes(4096, 14)).copy(expected, 0);
      await expectBytes(backend, { volumeId: clone.id }, 0, expected, 'clone after flatten');
      await expectCode(backend.clone(snapshot.id + 1_000_000), 'NOT_FOUND', 'clone of a missing snapshot');
      await backend.deleteVolume(clone.id).done;
      await backend.deleteVolume(id).done;
    });

    test('deleting a volume leaves its clones whole', async () => {
      const id = await createVolume();
      await backend.write(id, 0, patternBytes(8192, 20));
      const snapshot = await backend.createSnapshot(id);
      const clone = await backend.clone(snapshot.id);
      await backend.deleteVolume(id).done;
      await expectCode(backend.volume(id), 'NOT_FOUND', 'deleted origin');
      const info = await backend.volume(clone.id);
      assert.equal(info.originSnapshotId, null, 'the clone no longer reads through the deleted volume');
      await expectBytes(backend, { volumeId: clone.id }, 0, patternBytes(8192, 20), 'clone after its origin was deleted');
      await backend.deleteVolume(clone.id).done;
    });

    test('diff and block status cover what was written and leave out what was not', async () => {
      const id = await createVolume();
      await backend.write(id, 0, patternBytes(4096, 15));
      const snapshot = await backend.createSnapshot(id);
      await backend.write(id, 6 * MiB, patternBytes(4096, 16));
      const sinceEmpty = await backend.diff(null, { volumeId: id });
      assert.ok(covers(sinceEmpty, 0, 4096) && covers(sinceEmpty, 6 * MiB, 4096), `diff from empty: ${JSON.stringify(sinceEmpty)}`);
      assert.ok(!touches(sinceEmpty, 2 * MiB, 1 * MiB), `diff from empty covers untouched bytes: ${JSON.stringify(sinceEmpty)}`);
      const sinceSnapshot = await backend.diff({ snapshotId: snapshot.id }, { volumeId: id });
      assert.ok(covers(sinceSnapshot, 6 * MiB, 4096), `diff since the snapshot: ${JSON.stringify(sinceSnapshot)}`);
      assert.ok(!touches(sinceSnapshot, 0, 4096), `diff since the snapshot includes unchanged bytes: ${JSON.stringify(sinceSnapshot)}`);
      const status = await backend.blockStatus({ volumeId: id }, 0, volumeBytes);
      checkCoverage(status, 0, volumeBytes);
      const at = (offset: number) => status.find((e) => e.offsetBytes <= offset && e.offsetBytes + e.lengthBytes > offset);
      assert.equal(at(100)?.hole, false, `written bytes reported as a hole: ${JSON.stringify(status)}`);
      assert.equal(at(3 * MiB)?.hole, true, `untouched bytes reported as data: ${JSON.stringify(status)}`);
      assert.equal(at(3 * MiB)?.zero, true);
      checkCoverage(await backend.blockStatus({ snapshotId: snapshot.id }, 1000, 9000), 1000, 9000);
      await backend.deleteVolume(id).done;
    });

    test('exclusive and allocated bytes follow what only a snapshot holds', async () => {
      const id = await createVolume();
      await backend.write(id, 0, patternBytes(65536, 17));
      const first = await backend.createSnapshot(id);
      await backend.write(id, 0, patternBytes(65536, 18));
      const second = await backend.createSnapshot(id);
      assert.ok((await backend.exclusiveBytes(first.id)) > 0, 'the overwritten data is held by the first snapshot alone');
      assert.equal(await backend.exclusiveBytes(second.id), 0, 'the second snapshot shares all its data with the head');
      assert.ok((await backend.allocatedBytes(id)) >= 2 * 65536, 'both versions are allocated');
      await backend.deleteVolume(id).done;
    });

    test('delete: snapshots and volumes go as jobs that report progress', async () => {
      const id = await createVolume();
      await backend.write(id, 0, patternBytes(4096, 19));
      const first = await backend.createSnapshot(id);
      const second = await backend.createSnapshot(id);
      const snapshotJob = backend.deleteSnapshot(first.id);
      assert.equal(snapshotJob.kind, 'delete-snapshot');
      await snapshotJob.done;
      await expectCode(backend.snapshot(first.id), 'NOT_FOUND', 'deleted snapshot');
      assert.equal((await backend.snapshot(second.id)).parentSnapshotId, null, 'the tree is mended around the deleted snapshot');
      const volumeJob = backend.deleteVolume(id);
      assert.equal(volumeJob.kind, 'delete-volume');
      await volumeJob.done;
      const progress = volumeJob.progress();
      assert.equal(progress.done, progress.total);
      await expectCode(backend.volume(id), 'NOT_FOUND', 'deleted volume');
      await expectCode(backend.snapshot(second.id), 'NOT_FOUND', 'snapshot of a deleted volume');
      assert.ok(!(await backend.listVolumes()).some((volume) => volume.id === id), 'the deleted volume is not listed');
    });

    test('errors: unknown ids are NOT_FOUND everywhere', async () => {
      await expectCode(backend.volume(987_654), 'NOT_FOUND', 'volume');
      await expectCode(backend.snapshot(987_654), 'NOT_FOUND', 'snapshot');
      await expectCode(backend.read({ volumeId: 987_654 }, 0, 1), 'NOT_FOUND', 'read');
      await expectCode(backend.write(987_654, 0, new Uint8Array(1)), 'NOT_FOUND', 'write');
      await expectCode(backend.createSnapshot(987_654), 'NOT_FOUND', 'snapshot of a missing volume');
      await expectCode(backend.listSnapshots(987_654), 'NOT_FOUND', 'snapshots of a missing volume');
      await expectCode(async () => backend.deleteVolume(987_654).done, 'NOT_FOUND', 'delete of a missing volume');
    });
  });
}
