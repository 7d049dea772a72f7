/**
 * A full disk under the engine: while metadata writes fail with NO_SPACE, flushes fail with
 * NO_SPACE, reads go on and the pool stays open; once space is back the next flush commits
 * what was held back, and that survives a power loss (the durable image passes fsck and holds
 * every write the successful flush covered).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPool, openPool } from '../../src/engine/index.js';
import { isStrataError, StrataError } from '../../src/lib/errors.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { Storage, StorageFile } from '../../src/storage/types.js';

/** A MemoryStorage whose writes to the files `full` selects fail with NO_SPACE while it does. */
class FillableStorage implements Storage {
  full: (name: string) => boolean = () => false;
  constructor(readonly inner: MemoryStorage) {}
  get location(): string {
    return this.inner.location;
  }
  async open(name: string, options: { create: boolean }): Promise<StorageFile> {
    const file = await this.inner.open(name, options);
    const storage = this;
    return {
      name: file.name,
      read: (buffer, bufferOffset, length, offset) => file.read(buffer, bufferOffset, length, offset),
      async write(data, offset) {
        if (storage.full(name)) throw new StrataError('NO_SPACE', 'no space left on the file system that holds the pool');
        return file.write(data, offset);
      },
      sync: () => file.sync(),
      sizeBytes: () => file.sizeBytes(),
      truncate: (sizeBytes) => file.truncate(sizeBytes),
      close: () => file.close(),
    };
  }
  exists(name: string) {
    return this.inner.exists(name);
  }
  list() {
    return this.inner.list();
  }
  remove(name: string) {
    return this.inner.remove(name);
  }
  syncDirectory() {
    return this.inner.syncDirectory();
  }
}

const isNoSpace = (error: unknown) => isStrataError(error, 'NO_SPACE');

describe('engine on a full disk', () => {
  it('a commit refused for want of space is held, not fatal: reads go on and the next flush after space is freed makes it durable', async () => {
    const storage = new FillableStorage(new MemoryStorage());
    const engine = await createPool(storage, { chunkSizeBytes: 16384 });
    const volume = await engine.createVolume({ sizeBytes: 1 << 20 });
    await engine.write(volume.id, 0, Buffer.alloc(16384, 0x11));
    await engine.flush();

    storage.full = (name) => name.startsWith('journal') || name.startsWith('checkpoint');
    await engine.write(volume.id, 16384, Buffer.alloc(16384, 0x22)); // data still has room
    await assert.rejects(engine.flush(), isNoSpace);
    assert.equal(engine.health().writable, false, 'health() does not report the held commit');
    assert.deepEqual(await engine.read({ volumeId: volume.id }, 0, 16384), Buffer.alloc(16384, 0x11), 'reads stopped');
    storage.full = () => true;
    await assert.rejects(engine.write(volume.id, 65536, Buffer.alloc(16384, 0x33)), isNoSpace);
    await assert.rejects(engine.flush(), isNoSpace);

    storage.full = () => false;
    await engine.write(volume.id, 32768, Buffer.alloc(16384, 0x44));
    await engine.flush();
    assert.deepEqual(engine.health(), { writable: true, reasons: [] });
    const snapshot = await engine.createSnapshot(volume.id);

    // Power loss now: only what the flush made durable survives.
    const image = storage.inner.crash('power-loss');
    const reopened = await openPool(image);
    try {
      const report = await reopened.fsck();
      assert.ok(report.ok, report.violations.join('\n'));
      const expected = Buffer.concat([Buffer.alloc(16384, 0x11), Buffer.alloc(16384, 0x22), Buffer.alloc(16384, 0x44), Buffer.alloc(16384)]);
      assert.deepEqual(await reopened.read({ volumeId: volume.id }, 0, 65536), expected);
      assert.deepEqual(await reopened.read({ snapshotId: snapshot.id }, 0, 65536), expected);
    } finally {
      await reopened.close();
      await engine.close().catch(() => undefined); // its storage died in the power loss
    }
  });

  it('closing while the disk is full closes the pool', async () => {
    const storage = new FillableStorage(new MemoryStorage());
    const engine = await createPool(storage, { chunkSizeBytes: 16384 });
    const volume = await engine.createVolume({ sizeBytes: 1 << 20 });
    await engine.write(volume.id, 0, Buffer.alloc(16384, 0x55));
    storage.full = () => true;
    await engine.close();
    storage.full = () => false;
    const reopened = await openPool(storage.inner.crash('process-kill'));
    const report = await reopened.fsck();
    assert.ok(report.ok, report.violations.join('\n'));
    await reopened.close();
  });
});
