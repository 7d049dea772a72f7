import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isStrataError } from '../../src/lib/errors.js';
import { CrashedError, MemoryStorage, tearSizeBytes } from '../../src/storage/memory.js';
import type { StorageFile } from '../../src/storage/types.js';

function filled(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value);
}

async function readAll(file: StorageFile): Promise<Uint8Array> {
  const size = await file.sizeBytes();
  const buffer = new Uint8Array(size);
  assert.equal(await file.read(buffer, 0, size, 0), size);
  return buffer;
}

async function contentAfter(storage: MemoryStorage, name: string): Promise<Uint8Array | null> {
  if (!(await storage.exists(name))) return null;
  return readAll(await storage.open(name, { create: false }));
}

/** A file with durable content 'a' (8 KiB), then an unsynced write of 'b' over its second 4 KiB. */
async function oneSyncedOneNot(): Promise<MemoryStorage> {
  const storage = new MemoryStorage();
  const file = await storage.open('data', { create: true });
  await storage.syncDirectory();
  await file.write(filled(8192, 0x61), 0);
  await file.sync();
  await file.write(filled(4096, 0x62), 4096);
  return storage;
}

describe('MemoryStorage reads and writes', () => {
  it('reads see every resolved write, short at end of file', async () => {
    const storage = new MemoryStorage();
    const file = await storage.open('f', { create: true });
    await file.write(new Uint8Array([1, 2, 3]), 5000);
    assert.equal(await file.sizeBytes(), 5003);
    const buffer = filled(10, 0xee);
    assert.equal(await file.read(buffer, 2, 8, 4998), 5);
    assert.deepEqual([...buffer], [0xee, 0xee, 0, 0, 1, 2, 3, 0xee, 0xee, 0xee]);
    assert.equal(await file.read(buffer, 0, 4, 6000), 0);
  });

  it('a truncated tail reads as zeroes when the file grows again', async () => {
    const storage = new MemoryStorage();
    const file = await storage.open('f', { create: true });
    await file.write(filled(10000, 7), 0);
    await file.truncate(100);
    await file.truncate(9000);
    const content = await readAll(file);
    assert.deepEqual(content.subarray(0, 100), filled(100, 7));
    assert.deepEqual(content.subarray(100), new Uint8Array(8900));
  });

  it('keeps a copy of written data, so the caller may reuse its buffer', async () => {
    const storage = new MemoryStorage();
    const file = await storage.open('f', { create: true });
    const data = filled(16, 1);
    await file.write(data, 0);
    data.fill(2);
    const buffer = Buffer.alloc(16, 3);
    await file.write(buffer, 16);
    buffer.fill(4);
    const expected = filled(32, 1).fill(3, 16);
    assert.deepEqual(await readAll(file), expected);
    await file.sync();
    await storage.syncDirectory();
    assert.deepEqual(storage.crash('power-loss').contentOf('f'), expected, 'durable content');
  });

  it('lists, removes (idempotently) and refuses to open a missing file without create', async () => {
    const storage = new MemoryStorage();
    await storage.open('b', { create: true });
    await storage.open('a', { create: true });
    assert.deepEqual(await storage.list(), ['a', 'b']);
    await storage.remove('a');
    await storage.remove('a');
    assert.deepEqual(await storage.list(), ['b']);
    await assert.rejects(storage.open('a', { create: false }), (error) => isStrataError(error, 'IO_ERROR'));
  });
});

describe('MemoryStorage crash modes', () => {
  it("'power-loss' drops a write not covered by a sync and keeps a synced one", async () => {
    const after = (await oneSyncedOneNot()).crash('power-loss');
    assert.deepEqual(await contentAfter(after, 'data'), filled(8192, 0x61));
  });

  it("'power-loss' drops a file whose creation was not covered by syncDirectory, even if synced", async () => {
    const storage = new MemoryStorage();
    const file = await storage.open('new', { create: true });
    await file.write(filled(10, 1), 0);
    await file.sync();
    assert.equal(await storage.crash('power-loss').exists('new'), false);
  });

  it("'power-loss' brings back a file whose removal was not covered by syncDirectory", async () => {
    const storage = await oneSyncedOneNot();
    await storage.remove('data');
    assert.deepEqual(await contentAfter(storage.crash('power-loss'), 'data'), filled(8192, 0x61));
  });

  it("'power-loss' drops an unsynced truncate", async () => {
    const storage = await oneSyncedOneNot();
    const file = await storage.open('data', { create: false });
    await file.sync();
    await file.truncate(10);
    assert.equal((await contentAfter(storage.crash('power-loss'), 'data'))?.byteLength, 8192);
  });

  it("'process-kill' keeps every write and every creation, synced or not", async () => {
    const storage = await oneSyncedOneNot();
    const extra = await storage.open('extra', { create: true });
    await extra.write(filled(3, 9), 0);
    const after = storage.crash('process-kill');
    const expected = filled(8192, 0x61);
    expected.fill(0x62, 4096);
    assert.deepEqual(await contentAfter(after, 'data'), expected);
    assert.deepEqual(await contentAfter(after, 'extra'), filled(3, 9));
  });

  it("'random' tears a write at 4 KiB boundaries for some seed, and keeps each piece whole", async () => {
    const pieces = 8;
    const storage = new MemoryStorage();
    const file = await storage.open('data', { create: true });
    await storage.syncDirectory();
    await file.write(filled(pieces * tearSizeBytes, 0x61), 0);
    await file.sync();
    await file.write(filled(pieces * tearSizeBytes, 0x62), 0);
    let tornSeed: number | null = null;
    for (let seed = 0; seed < 50 && tornSeed === null; seed++) {
      const content = await contentAfter(storage.crash({ kind: 'random', seed }), 'data');
      assert.ok(content !== null, `seed ${seed}: a synced file must survive`);
      const kinds = new Set<number>();
      for (let piece = 0; piece < pieces; piece++) {
        const bytes = content.subarray(piece * tearSizeBytes, (piece + 1) * tearSizeBytes);
        const first = bytes[0];
        assert.ok(bytes.every((byte) => byte === first), `seed ${seed}: piece ${piece} is torn inside 4 KiB`);
        kinds.add(first);
      }
      if (kinds.size === 2) tornSeed = seed;
    }
    assert.ok(tornSeed !== null, 'no seed in 0..49 tore the write');
  });

  it("'random' is deterministic for a seed and never loses synced data", async () => {
    const storage = await oneSyncedOneNot();
    const seen = new Set<string>();
    for (let seed = 0; seed < 20; seed++) {
      const first = await contentAfter(storage.crash({ kind: 'random', seed }), 'data');
      const again = await contentAfter(storage.crash({ kind: 'random', seed }), 'data');
      assert.deepEqual(first, again, `seed ${seed}`);
      assert.ok(first !== null);
      assert.deepEqual(first.subarray(0, 4096), filled(4096, 0x61), `seed ${seed}: synced bytes lost`);
      seen.add(String(first[4096]));
    }
    assert.deepEqual([...seen].sort(), ['97', '98'], 'random mode should sometimes keep and sometimes drop the write');
  });

  it('the old storage and its open files are dead after a crash', async () => {
    const storage = await oneSyncedOneNot();
    const file = await storage.open('data', { create: false });
    storage.crash('power-loss');
    assert.equal(storage.dead, true);
    const isCrashed = (error: unknown) => error instanceof CrashedError && isStrataError(error, 'IO_ERROR');
    await assert.rejects(file.read(new Uint8Array(1), 0, 1, 0), isCrashed);
    await assert.rejects(file.write(new Uint8Array(1), 0), isCrashed);
    await assert.rejects(file.sync(), isCrashed);
    await assert.rejects(file.truncate(0), isCrashed);
    await assert.rejects(file.sizeBytes(), isCrashed);
    await assert.rejects(storage.open('data', { create: false }), isCrashed);
    await assert.rejects(storage.list(), isCrashed);
    await assert.rejects(storage.syncDirectory(), isCrashed);
  });

  it('the storage after a crash works normally and its content is durable', async () => {
    const after = (await oneSyncedOneNot()).crash('process-kill');
    const file = await after.open('data', { create: false });
    await file.write(filled(1, 0x63), 0);
    const again = after.crash('power-loss');
    const content = await contentAfter(again, 'data');
    assert.equal(content?.[0], 0x61, 'a write after the first crash was not synced');
    assert.equal(content?.[4096], 0x62, 'what survived the first crash is durable');
  });
});

describe('MemoryStorage fault injection', () => {
  async function workload(storage: MemoryStorage): Promise<void> {
    const file = await storage.open('log', { create: true });
    for (let i = 0; i < 5; i++) await file.write(filled(1, i + 1), i);
    await file.truncate(3);
  }

  it('failAtWrite(n) stops at the n-th write: it does not happen, and the storage is dead', async () => {
    const counting = new MemoryStorage();
    await workload(counting);
    assert.equal(counting.writeCount, 6);
    for (let n = 1; n <= 6; n++) {
      const storage = new MemoryStorage();
      storage.failAtWrite(n);
      await assert.rejects(workload(storage), CrashedError, `n=${n}`);
      assert.equal(storage.dead, true);
      const content = await contentAfter(storage.crash('process-kill'), 'log');
      const expected = [1, 2, 3, 4, 5].slice(0, Math.min(n - 1, 5));
      assert.deepEqual([...(content ?? [])], expected, `n=${n}`);
    }
  });

  it('failAtSync(n) stops before the n-th sync takes effect', async () => {
    const storage = new MemoryStorage();
    const file = await storage.open('f', { create: true });
    await storage.syncDirectory();
    await file.write(filled(4, 1), 0);
    storage.failAtSync(1);
    await assert.rejects(file.sync(), CrashedError);
    assert.deepEqual(await contentAfter(storage.crash('power-loss'), 'f'), new Uint8Array(0));
    assert.deepEqual(await contentAfter(storage.crash('process-kill'), 'f'), filled(4, 1));
  });

  it('failSyncOnce makes the next sync fail with IO_ERROR without making anything durable', async () => {
    const storage = new MemoryStorage();
    const file = await storage.open('f', { create: true });
    await storage.syncDirectory();
    await file.write(filled(4, 1), 0);
    storage.failSyncOnce();
    await assert.rejects(file.sync(), (error) => isStrataError(error, 'IO_ERROR') && !(error instanceof CrashedError));
    assert.equal(storage.dead, false);
    assert.equal((await contentAfter(storage.crash('power-loss'), 'f'))?.byteLength, 0);
  });

  it('failWriteOnce and failReadOnce reject one call each and change nothing', async () => {
    const storage = new MemoryStorage();
    const file = await storage.open('f', { create: true });
    storage.failWriteOnce();
    await assert.rejects(file.write(filled(4, 1), 0), (error) => isStrataError(error, 'IO_ERROR'));
    assert.equal(await file.sizeBytes(), 0);
    await file.write(filled(4, 2), 0);
    storage.failReadOnce();
    await assert.rejects(file.read(new Uint8Array(4), 0, 4, 0), (error) => isStrataError(error, 'IO_ERROR'));
    assert.deepEqual(await readAll(file), filled(4, 2));
  });

  it('corrupt flips the stored bits of a range, durable and current', async () => {
    const storage = await oneSyncedOneNot();
    storage.corrupt('data', 10, 2);
    const file = await storage.open('data', { create: false });
    const bytes = new Uint8Array(3);
    await file.read(bytes, 0, 3, 9);
    assert.deepEqual([...bytes], [0x61, 0x61 ^ 0xff, 0x61 ^ 0xff]);
    assert.equal((await contentAfter(storage.crash('power-loss'), 'data'))?.[11], 0x61 ^ 0xff);
  });
});
