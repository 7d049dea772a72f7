/**
 * The page store under the paged map: a file of fixed-size pages written only through the
 * storage seam, with a bounded LRU cache of clean pages.
 *
 * Shadow paging. Pages 0 and 1 hold root records (layout.ts `RootRecord`): the tree roots, the
 * free pages and the caller's bytes of one checkpoint; the valid record with the highest sequence
 * wins. Every other page carries its own number and a CRC-32, so a torn, stale or misdirected
 * page is detected when read. A page reachable from the durable record is never written:
 *   - `allocate` hands out only pages free in the durable record (or beyond its high-water mark);
 *   - `release` puts a page in limbo: it stays readable, and becomes reusable only once a record
 *     that no longer reaches it is durable (`commit`);
 *   - `commit` writes the free list, syncs the page file, and only then writes and syncs the
 *     record, in the slot of the older record.
 * So after a crash at any write the newest valid record names a complete, unchanged tree.
 */
import { assert } from '../lib/assert.js';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import type { Storage, StorageFile } from '../storage/types.js';
import {
  decodeRootRecord,
  encodeRootRecord,
  fileNames,
  pageCount,
  pageHeaderBytes,
  pageKind,
  pageKindOf,
  pageProblem,
  rootRecordMetaBytesMax,
  sealPage,
  type PageKind,
  type RootRecord,
} from './layout.js';

export interface PageStoreOptions {
  pageSizeBytes?: number;
  cacheBytes?: number;
  readOnly?: boolean;
}

/** Pages 0 and 1 are the root records. */
export const firstDataPage = 2;

export class PageStore {
  readonly pageSizeBytes: number;
  private record: RootRecord;
  private highWater: number;
  /** Free in the durable record and not handed out since. */
  private free: number[];
  /** Released since the last durable record: readable, not reusable until the next one is durable. */
  private limbo: number[] = [];
  /** The durable record's free-list pages: free once a newer record is durable. */
  private listPages: number[];
  private readonly cache = new Map<number, Buffer>();
  private readonly cacheBytesMax: number;
  private committing = false;
  reads = 0;
  writes = 0;

  private constructor(
    private readonly file: StorageFile,
    record: RootRecord,
    free: number[],
    listPages: number[],
    pageSizeBytes: number,
    cacheBytes: number,
  ) {
    this.pageSizeBytes = pageSizeBytes;
    this.record = record;
    this.highWater = record.highWater;
    this.free = free;
    this.listPages = listPages;
    this.cacheBytesMax = cacheBytes;
  }

  static async create(storage: Storage, options: PageStoreOptions & { trees: number }): Promise<PageStore> {
    const pageSizeBytes = checkPageSize(options.pageSizeBytes ?? limits.mapPageSizeBytesDefault);
    const file = await storage.open(fileNames.mapPages, { create: true });
    await file.truncate(0);
    const record: RootRecord = {
      sequence: 1,
      highWater: firstDataPage,
      freeListHead: 0,
      freeCount: 0,
      roots: new Array<number>(options.trees).fill(0),
      meta: Buffer.alloc(0),
    };
    await file.write(encodeRootRecord(record, pageSizeBytes), pageSizeBytes);
    await file.write(Buffer.alloc(pageSizeBytes), 0);
    await file.sync();
    await storage.syncDirectory();
    return new PageStore(file, record, [], [], pageSizeBytes, options.cacheBytes ?? limits.mapCacheBytesDefault);
  }

  static async open(storage: Storage, options: PageStoreOptions = {}): Promise<PageStore> {
    const pageSizeBytes = checkPageSize(options.pageSizeBytes ?? limits.mapPageSizeBytesDefault);
    const file = await storage.open(fileNames.mapPages, { create: false });
    const slots = Buffer.alloc(2 * pageSizeBytes);
    await file.read(slots, 0, slots.length, 0);
    let record: RootRecord | null = null;
    for (const slot of [slots.subarray(0, pageSizeBytes), slots.subarray(pageSizeBytes)]) {
      const candidate = decodeRootRecord(slot);
      if (candidate !== null && (record === null || candidate.sequence > record.sequence)) record = candidate;
    }
    if (record === null) throw new StrataError('CORRUPT_METADATA', 'the map has no valid root record');
    const store = new PageStore(file, record, [], [], pageSizeBytes, options.cacheBytes ?? limits.mapCacheBytesDefault);
    const { free, listPages } = await store.readFreeList(record);
    store.free = free;
    store.listPages = listPages;
    return store;
  }

  get roots(): readonly number[] {
    return this.record.roots;
  }

  get meta(): Buffer {
    return this.record.meta;
  }

  get durableRecord(): Readonly<RootRecord> {
    return this.record;
  }

  get pageCountTotal(): number {
    return this.highWater;
  }

  get freeCount(): number {
    return this.free.length;
  }

  get cachedBytes(): number {
    return this.cache.size * this.pageSizeBytes;
  }

  /** The body capacity of one page. */
  get bodyBytes(): number {
    return this.pageSizeBytes - pageHeaderBytes;
  }

  /** A page, verified (CORRUPT_METADATA if it is not the page it should be). */
  async read(pageNumber: number): Promise<Buffer> {
    const cached = this.cache.get(pageNumber);
    if (cached !== undefined) {
      this.cache.delete(pageNumber);
      this.cache.set(pageNumber, cached);
      return cached;
    }
    const page = await this.readUncached(pageNumber);
    const problem = pageProblem(page, pageNumber);
    if (problem !== null) throw new StrataError('CORRUPT_METADATA', `map ${problem}`);
    this.remember(pageNumber, page);
    return page;
  }

  /** A page as stored, unverified and uncached (fsck). */
  async readUncached(pageNumber: number): Promise<Buffer> {
    assert(Number.isInteger(pageNumber) && pageNumber >= firstDataPage, `read of map page ${pageNumber}`);
    const page = Buffer.alloc(this.pageSizeBytes);
    this.reads++;
    const got = await this.file.read(page, 0, page.length, pageNumber * this.pageSizeBytes);
    if (got < page.length) page.fill(0, got);
    return page;
  }

  /** A page number no durable record reaches. */
  allocate(): number {
    return this.free.length > 0 ? this.free.pop()! : this.highWater++;
  }

  /** A blank page buffer whose body the caller fills before `write`. */
  blank(): Buffer {
    return Buffer.alloc(this.pageSizeBytes);
  }

  /** Seals and writes a page allocated since the last commit (not durable until `commit`). */
  async write(pageNumber: number, page: Buffer, kind: PageKind, count: number): Promise<void> {
    assert(pageNumber >= firstDataPage && pageNumber < this.highWater, `write of unallocated map page ${pageNumber}`);
    sealPage(page, pageNumber, kind, count);
    this.writes++;
    await this.file.write(page, pageNumber * this.pageSizeBytes);
    this.remember(pageNumber, page);
  }

  /** The page is no longer reached by the tree being built; reusable after the next durable commit. */
  release(pageNumber: number): void {
    assert(pageNumber >= firstDataPage && pageNumber < this.highWater, `release of map page ${pageNumber}`);
    this.limbo.push(pageNumber);
  }

  /**
   * Makes `roots` and `meta` the durable state: writes the free list, syncs the page file, then
   * writes and syncs the record over the older slot. Pages released before the call become
   * reusable once it resolves.
   */
  async commit(roots: number[], meta: Buffer): Promise<void> {
    assert(!this.committing, 'two map commits at once');
    if (meta.length > rootRecordMetaBytesMax(this.pageSizeBytes)) {
      throw new StrataError('LIMIT_EXCEEDED', `map checkpoint metadata of ${meta.length} bytes does not fit a page`);
    }
    this.committing = true;
    try {
      const freed = [...this.limbo, ...this.listPages];
      this.limbo = [];
      const { head, listPages, listed } = await this.writeFreeList(freed);
      await this.file.sync();
      const record: RootRecord = {
        sequence: this.record.sequence + 1,
        highWater: this.highWater,
        freeListHead: head,
        freeCount: listed,
        roots: [...roots],
        meta: Buffer.from(meta),
      };
      await this.file.write(encodeRootRecord(record, this.pageSizeBytes), (record.sequence % 2) * this.pageSizeBytes);
      await this.file.sync();
      this.record = record;
      this.listPages = listPages;
      for (const page of freed) this.free.push(page);
    } finally {
      this.committing = false;
    }
  }

  async close(): Promise<void> {
    this.cache.clear();
    await this.file.close();
  }

  /**
   * Writes every page the new record calls free (free now, plus `freed`) as a chain of
   * free-list pages taken from the free pages themselves or the high-water mark.
   */
  private async writeFreeList(freed: number[]): Promise<{ head: number; listPages: number[]; listed: number }> {
    const perPage = Math.floor((this.bodyBytes - 4) / 4);
    const listPages: number[] = [];
    while (listPages.length * perPage < this.free.length + freed.length) listPages.push(this.allocate());
    const listed = [...this.free, ...freed];
    let next = 0;
    for (let index = listPages.length - 1; index >= 0; index--) {
      const page = this.blank();
      const part = listed.slice(index * perPage, (index + 1) * perPage);
      page.writeUInt32LE(next, pageHeaderBytes);
      for (let i = 0; i < part.length; i++) page.writeUInt32LE(part[i], pageHeaderBytes + 4 + 4 * i);
      await this.write(listPages[index], page, pageKind.freeList, part.length);
      next = listPages[index];
    }
    return { head: next, listPages, listed: listed.length };
  }

  /** The free pages and free-list pages a record names, every list page verified. */
  async readFreeList(record: RootRecord): Promise<{ free: number[]; listPages: number[] }> {
    const free: number[] = [];
    const listPages: number[] = [];
    for (let pageNumber = record.freeListHead; pageNumber !== 0; ) {
      if (pageNumber < firstDataPage || pageNumber >= record.highWater || listPages.length > record.highWater) {
        throw new StrataError('CORRUPT_METADATA', `map free list names page ${pageNumber}`);
      }
      const page = await this.read(pageNumber);
      if (pageKindOf(page) !== pageKind.freeList) throw new StrataError('CORRUPT_METADATA', `map page ${pageNumber} is not a free-list page`);
      listPages.push(pageNumber);
      const count = pageCount(page);
      for (let i = 0; i < count; i++) free.push(page.readUInt32LE(pageHeaderBytes + 4 + 4 * i));
      pageNumber = page.readUInt32LE(pageHeaderBytes);
    }
    if (free.length !== record.freeCount) throw new StrataError('CORRUPT_METADATA', 'map free list does not match its count');
    return { free, listPages };
  }

  private remember(pageNumber: number, page: Buffer): void {
    this.cache.delete(pageNumber);
    this.cache.set(pageNumber, page);
    while (this.cache.size * this.pageSizeBytes > this.cacheBytesMax) {
      this.cache.delete(this.cache.keys().next().value!);
    }
  }
}

function checkPageSize(pageSizeBytes: number): number {
  if (
    !Number.isInteger(pageSizeBytes) ||
    pageSizeBytes < limits.mapPageSizeBytesMin ||
    pageSizeBytes > limits.mapPageSizeBytesMax ||
    (pageSizeBytes & (pageSizeBytes - 1)) !== 0
  ) {
    throw new StrataError('INVALID_ARGUMENT', `map page size must be a power of two between ${limits.mapPageSizeBytesMin} and ${limits.mapPageSizeBytesMax} bytes`);
  }
  return pageSizeBytes;
}
