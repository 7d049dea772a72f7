/**
 * The overwrite log's own bookkeeping (D8): what reads see while a sector is pending, captured,
 * rewritten before its apply, and applied; and that the bytes it counts come back to zero, so a
 * busy sector never pushes small writes onto the copy-on-write path for good.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SlotAllocator } from '../../src/engine/allocator.js';
import { createPool, openPool } from '../../src/engine/index.js';
import { isStrataError } from '../../src/lib/errors.js';
import { OverwriteLog } from '../../src/engine/overwrite-log.js';
import { MemoryStorage } from '../../src/storage/memory.js';

const chunkBytes = 16 * 1024;
const sector = (fill: number) => Buffer.alloc(4096, fill);

async function setup() {
  const storage = new MemoryStorage();
  const data = await storage.open('data', { create: true });
  await data.write(Buffer.alloc(chunkBytes, 0x11), 0); // slot 0, referenced by an entry
  const allocator = SlotAllocator.fromReferences([0]);
  return { data, allocator, log: new OverwriteLog(data, () => allocator, chunkBytes) };
}

async function slotSector(data: Awaited<ReturnType<typeof setup>>['data'], index: number): Promise<number> {
  const out = Buffer.alloc(4096);
  await data.read(out, 0, 4096, index * 4096);
  return out[0];
}

describe('the overwrite log', () => {
  it('patches reads while pending, applies in place after its commit, and counts back to zero when a sector is rewritten mid-commit', async () => {
    const { data, allocator, log } = await setup();
    log.put(0, 1, sector(0xaa));
    const seen = Buffer.alloc(chunkBytes, 0x11);
    log.patch(0, 0, seen);
    assert.equal(seen[4096], 0xaa, 'a read sees the pending sector');
    assert.equal(await slotSector(data, 1), 0x11, 'the slot is untouched before the commit');

    const first = await log.write(log.capture());
    log.put(0, 1, sector(0xbb)); // rewritten while the first commit is in flight
    assert.equal(log.bytes, 4096, 'one pending sector, whatever the records behind it');
    await log.apply(first);
    assert.equal(await slotSector(data, 1), 0xaa);
    assert.equal(log.sector(0, 1)?.[0], 0xbb, 'the newer content stays pending after the older apply');

    const second = await log.write(log.capture());
    await log.apply(second);
    assert.equal(await slotSector(data, 1), 0xbb);
    assert.equal(log.bytes, 0, 'nothing pending once every record is applied');
    assert.equal(log.hasPending(0), false);
    assert.equal(log.logSlots.size, 0, 'log slots are given back');
    assert.equal(allocator.parkedCount, 2, 'both log slots wait for the next commit (D5)');
  });

  it('gives back the log slots of a batch whose commit failed, and keeps its sectors pending', async () => {
    const { allocator, log } = await setup();
    log.put(0, 2, sector(0xcc));
    const batch = await log.write(log.capture());
    log.abandon(batch);
    assert.equal(log.logSlots.size, 0);
    assert.equal(allocator.parkedCount, 1);
    assert.equal(log.sector(0, 2)?.[0], 0xcc, 'still what reads see');
  });

  it('after a crash replays the newest frame\'s overwrites, and a damaged logged sector is CORRUPT_METADATA at open, never data', async () => {
    const storage = new MemoryStorage();
    const engine = await createPool(storage, { chunkSizeBytes: 64 * 1024 });
    const { id } = await engine.createVolume({ sizeBytes: 1024 * 1024 });
    await engine.write(id, 0, Buffer.alloc(64 * 1024, 0x11));
    await engine.flush();
    await engine.write(id, 8192, sector(0x5a)); // a small overwrite of a durable chunk: logged
    await engine.flush(); // slot 0 is the chunk, slot 1 the log slot of this frame
    const intact = await openPool(storage.crash('power-loss'));
    assert.equal((await intact.read({ volumeId: id }, 8192, 4096))[0], 0x5a, 'the durable overwrite survives');
    assert.equal((await intact.fsck()).ok, true);

    const damaged = storage.crash('power-loss');
    damaged.corrupt('data', 64 * 1024, 1);
    await assert.rejects(openPool(damaged), (error) => isStrataError(error, 'CORRUPT_METADATA'));
  });
});
