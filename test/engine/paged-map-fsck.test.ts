/**
 * The paged map's fsck finds an injected fault in each structure it checks: a flipped byte in a
 * page, a page written at another page's place, keys out of order in a leaf, a separator that
 * no longer bounds its child, a free page still reachable, a leaked page, and a generation index
 * that lost an entry. Faults other than the flipped byte are written with valid checksums, as a
 * bug (not the disk) would write them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRootRecord, encodeRootRecord, fileNames, pageCount, pageHeaderBytes, pageKind, pageKindOf, sealPage } from '../../src/engine/layout.js';
import { checkPagedMap } from '../../src/engine/page-fsck.js';
import { PagedMap } from '../../src/engine/paged-map.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { entryFor, sectorsPerChunk } from './paged-map-model.js';

const pageSizeBytes = 512;
const options = { sectorsPerChunk, pageSizeBytes };

/** A checkpointed map of 400 entries (three levels at 512-byte pages), some pages freed. */
async function builtMap(): Promise<MemoryStorage> {
  const storage = new MemoryStorage();
  const map = await PagedMap.create(storage, options);
  for (let chunk = 0; chunk < 400; chunk++) map.put(1, chunk, entryFor(chunk + 1, 1));
  await map.checkpoint();
  for (let chunk = 0; chunk < 400; chunk += 3) map.put(1, chunk, entryFor(chunk + 1000, 1));
  await map.close();
  const check = await PagedMap.open(storage, options);
  assert.deepEqual((await checkPagedMap(check)).violations, [], 'the map before the fault');
  await check.close({ checkpoint: false });
  return storage;
}

async function readPage(storage: MemoryStorage, pageNumber: number): Promise<Buffer> {
  return Buffer.from(storage.contentOf(fileNames.mapPages).subarray(pageNumber * pageSizeBytes, (pageNumber + 1) * pageSizeBytes));
}

async function writePage(storage: MemoryStorage, pageNumber: number, page: Buffer): Promise<void> {
  const file = await storage.open(fileNames.mapPages, { create: false });
  await file.write(page, pageNumber * pageSizeBytes);
  await file.sync();
}

/** Changes a page's body and seals it again with a valid checksum. */
async function rewritePage(storage: MemoryStorage, pageNumber: number, change: (page: Buffer) => number): Promise<void> {
  const page = await readPage(storage, pageNumber);
  const count = change(page);
  await writePage(storage, pageNumber, sealPage(page, pageNumber, pageKindOf(page) as 1 | 2 | 3, count));
}

async function newestRecord(storage: MemoryStorage) {
  const records = [0, 1].map((slot) => readPage(storage, slot));
  const decoded = (await Promise.all(records)).map((page, slot) => ({ slot, record: decodeRootRecord(page) }));
  return decoded.filter((d) => d.record !== null).sort((a, b) => b.record!.sequence - a.record!.sequence)[0] as { slot: number; record: NonNullable<ReturnType<typeof decodeRootRecord>> };
}

/** The pages from a tree's root down its first children: [root, ..., leaf]. */
async function leftmostPath(storage: MemoryStorage, tree: 0 | 1): Promise<number[]> {
  const { record } = await newestRecord(storage);
  const keyBytes = 14;
  const path = [record.roots[tree]];
  for (;;) {
    const page = await readPage(storage, path[path.length - 1]);
    if (pageKindOf(page) === pageKind.leaf) return path;
    path.push(page.readUInt32LE(pageHeaderBytes + keyBytes));
  }
}

async function violations(storage: MemoryStorage): Promise<string[]> {
  const map = await PagedMap.open(storage, options);
  const report = await checkPagedMap(map);
  await map.close({ checkpoint: false });
  return report.violations;
}

function assertFinds(found: string[], pattern: RegExp): void {
  assert.ok(found.some((violation) => pattern.test(violation)), `no violation matches ${pattern}; fsck said: ${JSON.stringify(found)}`);
}

describe('paged map fsck', () => {
  it('finds a flipped byte in a page', async () => {
    const storage = await builtMap();
    const leaf = (await leftmostPath(storage, 0)).at(-1)!;
    storage.corrupt(fileNames.mapPages, leaf * pageSizeBytes + pageHeaderBytes + 3, 1);
    assertFinds(await violations(storage), new RegExp(`page ${leaf}: fails its checksum`));
  });

  it('finds a page written at another page\'s place', async () => {
    const storage = await builtMap();
    const path = await leftmostPath(storage, 0);
    const leaf = path[path.length - 1];
    const other = (await leftmostPath(storage, 1)).at(-1)!;
    await writePage(storage, leaf, await readPage(storage, other));
    assertFinds(await violations(storage), new RegExp(`page ${leaf}: carries page number ${other}`));
  });

  it('finds keys out of order in a leaf', async () => {
    const storage = await builtMap();
    const leaf = (await leftmostPath(storage, 0)).at(-1)!;
    const stride = 14 + 6 + 4 * sectorsPerChunk;
    await rewritePage(storage, leaf, (page) => {
      const first = Buffer.from(page.subarray(pageHeaderBytes, pageHeaderBytes + stride));
      page.copy(page, pageHeaderBytes, pageHeaderBytes + stride, pageHeaderBytes + 2 * stride);
      first.copy(page, pageHeaderBytes + stride);
      return pageCount(page);
    });
    assertFinds(await violations(storage), /keys not ascending/);
  });

  it('finds a separator that no longer bounds its child', async () => {
    const storage = await builtMap();
    const [root] = await leftmostPath(storage, 0);
    const stride = 14 + 4;
    await rewritePage(storage, root, (page) => {
      // The second separator becomes greater than the keys of the child it names.
      page.writeUInt32BE(0xffff_ffff, pageHeaderBytes + stride);
      return pageCount(page);
    });
    const found = await violations(storage);
    assertFinds(found, /outside the range its parent gives|keys not ascending/);
  });

  it('finds a free page that a tree still reaches, and the page it displaced as leaked', async () => {
    const storage = await builtMap();
    const { record } = await newestRecord(storage);
    assert.ok(record.freeListHead !== 0 && record.freeCount > 0, 'the map has free pages');
    const leaf = (await leftmostPath(storage, 0)).at(-1)!;
    let displaced = 0;
    await rewritePage(storage, record.freeListHead, (page) => {
      displaced = page.readUInt32LE(pageHeaderBytes + 4);
      page.writeUInt32LE(leaf, pageHeaderBytes + 4);
      return pageCount(page);
    });
    const found = await violations(storage);
    assertFinds(found, new RegExp(`page ${leaf} is free but reachable`));
    assertFinds(found, new RegExp(`page ${displaced} is leaked`));
  });

  it('finds a leaked page: below the high-water mark, neither reachable nor free', async () => {
    const storage = await builtMap();
    const { slot, record } = await newestRecord(storage);
    await writePage(storage, slot, encodeRootRecord({ ...record, highWater: record.highWater + 1 }, pageSizeBytes));
    assertFinds(await violations(storage), new RegExp(`page ${record.highWater} is leaked`));
  });

  it('finds a generation index that lost an entry', async () => {
    const storage = await builtMap();
    const leaf = (await leftmostPath(storage, 1)).at(-1)!;
    await rewritePage(storage, leaf, (page) => pageCount(page) - 1);
    assertFinds(await violations(storage), /generation index does not hold the chunk tree's keys/);
  });
});
