/**
 * A copy-on-write B+tree over the page store, with fixed-size keys and values compared as bytes
 * (keys are big-endian tuples, so byte order is tuple order).
 *
 * Pages are never changed: `merge` applies a sorted batch of puts and removes by writing new
 * pages for the touched leaves and the paths above them, releasing the pages they replace (the
 * store keeps those readable until the new root is durable). Lookups and scans read the pages
 * as stored, searching their bytes in place: nothing is decoded.
 *
 * Leaf:     count × (key, value), keys ascending.
 * Internal: count × (key, child page u32); key i is a lower bound of child i's keys and every key
 *           of child i is below key i + 1 (key 0 is only a hint: the parent bounds it).
 * Removes leave leaves under-full rather than borrowing from neighbours; an emptied page is
 * dropped and a root with one child is collapsed (fsck reports the fill).
 */
import { assert } from '../lib/assert.js';
import { pageCount, pageHeaderBytes, pageKind, pageKindOf } from './layout.js';
import type { PageStore } from './page-store.js';

/** Sorted, distinct-key changes packed in three arrays (one allocation each, whatever the count). */
export interface ChangeBatch {
  count: number;
  /** count × keyBytes, ascending. */
  keys: Buffer;
  /** count × valueBytes (the value of a removal is ignored). */
  values: Buffer;
  /** 1: put the value; 0: remove the key. */
  present: Uint8Array;
}

/** How long a merge runs before it lets other work in (timers, sockets, writes). */
const sliceMs = 2;

interface Piece {
  firstKey: Buffer;
  page: number;
}

export class PageTree {
  readonly leafCapacity: number;
  readonly internalCapacity: number;
  private readonly leafStride: number;
  private readonly internalStride: number;

  constructor(
    private readonly store: PageStore,
    readonly keyBytes: number,
    readonly valueBytes: number,
  ) {
    this.leafStride = keyBytes + valueBytes;
    this.internalStride = keyBytes + 4;
    this.leafCapacity = Math.min(0xffff, Math.floor(store.bodyBytes / this.leafStride));
    this.internalCapacity = Math.min(0xffff, Math.floor(store.bodyBytes / this.internalStride));
    assert(this.leafCapacity >= 4 && this.internalCapacity >= 4, 'map page too small for its keys');
  }

  /** The value stored under exactly `key`. */
  async get(root: number, key: Buffer): Promise<Buffer | undefined> {
    const found = await this.floor(root, key);
    return found !== undefined && found.key.equals(key) ? found.value : undefined;
  }

  /** The entry with the greatest key ≤ `key`. */
  async floor(root: number, key: Buffer): Promise<{ key: Buffer; value: Buffer } | undefined> {
    if (root === 0) return undefined;
    return this.floorIn(root, key);
  }

  private async floorIn(pageNumber: number, key: Buffer): Promise<{ key: Buffer; value: Buffer } | undefined> {
    const page = await this.store.read(pageNumber);
    const count = pageCount(page);
    if (pageKindOf(page) === pageKind.leaf) {
      const index = this.lastAtOrBelow(page, count, this.leafStride, key);
      if (index < 0) return undefined;
      const at = pageHeaderBytes + index * this.leafStride;
      return { key: page.subarray(at, at + this.keyBytes), value: page.subarray(at + this.keyBytes, at + this.leafStride) };
    }
    // Key 0 is only a hint, so start at child 0 when every key is above `key`.
    for (let index = Math.max(0, this.lastAtOrBelow(page, count, this.internalStride, key)); index >= 0; index--) {
      const found = await this.floorIn(this.child(page, index), key);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Every entry with low ≤ key < high, ascending; `visit` returning false stops the scan. */
  async scan(root: number, low: Buffer, high: Buffer, visit: (key: Buffer, value: Buffer) => boolean | void): Promise<void> {
    if (root === 0 || low.compare(high) >= 0) return;
    await this.scanIn(root, low, high, visit);
  }

  private async scanIn(pageNumber: number, low: Buffer, high: Buffer, visit: (key: Buffer, value: Buffer) => boolean | void): Promise<boolean> {
    const page = await this.store.read(pageNumber);
    const count = pageCount(page);
    if (pageKindOf(page) === pageKind.leaf) {
      for (let index = Math.max(0, this.firstAtOrAbove(page, count, this.leafStride, low)); index < count; index++) {
        const at = pageHeaderBytes + index * this.leafStride;
        if (high.compare(page, at, at + this.keyBytes) <= 0) return false;
        if (visit(page.subarray(at, at + this.keyBytes), page.subarray(at + this.keyBytes, at + this.leafStride)) === false) return false;
      }
      return true;
    }
    for (let index = Math.max(0, this.lastAtOrBelow(page, count, this.internalStride, low)); index < count; index++) {
      const at = pageHeaderBytes + index * this.internalStride;
      if (index > 0 && high.compare(page, at, at + this.keyBytes) <= 0) return false;
      if (!(await this.scanIn(this.child(page, index), low, high, visit))) return false;
    }
    return true;
  }

  /**
   * Applies a sorted, distinct-key batch by copy-on-write; returns the new root (0: empty).
   * Only the pages on the paths to touched leaves are written; the pages they replace are
   * released. Yields to the event loop every `sliceMs`, so lookups and writes go on meanwhile.
   */
  async merge(root: number, batch: ChangeBatch): Promise<number> {
    const { keys, count } = batch;
    const k = this.keyBytes;
    for (let i = 1; i < count; i++) assert(keys.compare(keys, i * k, i * k + k, (i - 1) * k, i * k) < 0, 'map changes not sorted');
    if (count === 0) return root;
    this.sliceStart = performance.now();
    let pieces = root === 0 ? await this.mergeLeaf(null, batch, 0, count) : await this.mergeInto(root, batch, 0, count);
    while (pieces.length > 1) pieces = await this.writeInternals(pieces);
    if (pieces.length === 0) return 0;
    let newRoot = pieces[0].page;
    // Collapse a root left with one child.
    for (;;) {
      const page = await this.store.read(newRoot);
      if (pageKindOf(page) !== pageKind.internal || pageCount(page) !== 1) return newRoot;
      this.store.release(newRoot);
      newRoot = this.child(page, 0);
    }
  }

  private sliceStart = 0;

  private async pace(): Promise<void> {
    if (performance.now() - this.sliceStart < sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.sliceStart = performance.now();
  }

  private async mergeInto(pageNumber: number, batch: ChangeBatch, low: number, high: number): Promise<Piece[]> {
    const page = await this.store.read(pageNumber);
    const count = pageCount(page);
    this.store.release(pageNumber);
    if (pageKindOf(page) === pageKind.leaf) return this.mergeLeaf(page, batch, low, high);
    const k = this.keyBytes;
    const out: Piece[] = [];
    let next = low;
    for (let index = 0; index < count; index++) {
      let end = high;
      if (index + 1 < count) {
        const at = pageHeaderBytes + (index + 1) * this.internalStride;
        end = next;
        while (end < high && batch.keys.compare(page, at, at + k, end * k, end * k + k) < 0) end++;
      }
      const at = pageHeaderBytes + index * this.internalStride;
      if (end > next) out.push(...(await this.mergeInto(this.child(page, index), batch, next, end)));
      else out.push({ firstKey: page.subarray(at, at + k), page: this.child(page, index) });
      next = end;
    }
    return this.writeInternals(out);
  }

  /** A leaf (or none) merged with batch[low, high): counted first, then copied straight into new pages. */
  private async mergeLeaf(page: Buffer | null, batch: ChangeBatch, low: number, high: number): Promise<Piece[]> {
    const runs = split(this.walkLeafMerge(page, batch, low, high, null), this.leafCapacity);
    const pages = runs.map(() => this.store.blank());
    const k = this.keyBytes;
    const stride = this.leafStride;
    let run = 0;
    let inRun = 0;
    const room = () => {
      while (inRun >= runs[run][1] - runs[run][0]) {
        run++;
        inRun = 0;
      }
      return runs[run][1] - runs[run][0] - inRun;
    };
    this.walkLeafMerge(page, batch, low, high, {
      // Untouched entries: one copy per stretch (leaf and new page have the same layout).
      entries: (first, count) => {
        while (count > 0) {
          const take = Math.min(room(), count);
          page!.copy(pages[run], pageHeaderBytes + inRun * stride, pageHeaderBytes + first * stride, pageHeaderBytes + (first + take) * stride);
          inRun += take;
          first += take;
          count -= take;
        }
      },
      change: (index) => {
        room();
        const at = pageHeaderBytes + inRun * stride;
        batch.keys.copy(pages[run], at, index * k, index * k + k);
        batch.values.copy(pages[run], at + k, index * this.valueBytes, (index + 1) * this.valueBytes);
        inRun++;
      },
    });
    const pieces: Piece[] = [];
    for (let i = 0; i < pages.length; i++) {
      const pageNumber = this.store.allocate();
      await this.store.write(pageNumber, pages[i], pageKind.leaf, runs[i][1] - runs[i][0]);
      pieces.push({ firstKey: pages[i].subarray(pageHeaderBytes, pageHeaderBytes + k), page: pageNumber });
      await this.pace();
    }
    return pieces;
  }

  /**
   * Walks a leaf's entries merged with batch[low, high) in key order — stretches of untouched
   * entries found by binary search, changes one by one — and returns how many entries remain.
   */
  private walkLeafMerge(
    page: Buffer | null,
    batch: ChangeBatch,
    low: number,
    high: number,
    emit: { entries: (first: number, count: number) => void; change: (index: number) => void } | null,
  ): number {
    const k = this.keyBytes;
    const count = page === null ? 0 : pageCount(page);
    let emitted = 0;
    let index = 0;
    for (let next = low; next < high; next++) {
      const keyAt = next * k;
      let stop = index;
      if (page !== null) {
        let top = count;
        while (stop < top) {
          const middle = (stop + top) >>> 1;
          const at = pageHeaderBytes + middle * this.leafStride;
          if (batch.keys.compare(page, at, at + k, keyAt, keyAt + k) > 0) stop = middle + 1;
          else top = middle;
        }
      }
      if (stop > index) {
        emit?.entries(index, stop - index);
        emitted += stop - index;
        index = stop;
      }
      if (index < count) {
        const at = pageHeaderBytes + index * this.leafStride;
        if (batch.keys.compare(page!, at, at + k, keyAt, keyAt + k) === 0) index++;
      }
      if (batch.present[next] === 1) {
        emit?.change(next);
        emitted++;
      }
    }
    if (index < count) {
      emit?.entries(index, count - index);
      emitted += count - index;
    }
    return emitted;
  }

  private async writeInternals(children: Piece[]): Promise<Piece[]> {
    const pieces: Piece[] = [];
    for (const [start, end] of split(children.length, this.internalCapacity)) {
      const page = this.store.blank();
      for (let i = start; i < end; i++) {
        const at = pageHeaderBytes + (i - start) * this.internalStride;
        children[i].firstKey.copy(page, at);
        page.writeUInt32LE(children[i].page, at + this.keyBytes);
      }
      const pageNumber = this.store.allocate();
      await this.store.write(pageNumber, page, pageKind.internal, end - start);
      pieces.push({ firstKey: page.subarray(pageHeaderBytes, pageHeaderBytes + this.keyBytes), page: pageNumber });
      await this.pace();
    }
    return pieces;
  }

  child(page: Buffer, index: number): number {
    return page.readUInt32LE(pageHeaderBytes + index * this.internalStride + this.keyBytes);
  }

  /** Index of the last key ≤ `key` (−1 if none). */
  private lastAtOrBelow(page: Buffer, count: number, stride: number, key: Buffer): number {
    let low = 0;
    let high = count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const at = pageHeaderBytes + middle * stride;
      if (key.compare(page, at, at + this.keyBytes) >= 0) low = middle + 1;
      else high = middle;
    }
    return low - 1;
  }

  /** Index of the first key ≥ `key` (count if none). */
  private firstAtOrAbove(page: Buffer, count: number, stride: number, key: Buffer): number {
    let low = 0;
    let high = count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const at = pageHeaderBytes + middle * stride;
      if (key.compare(page, at, at + this.keyBytes) > 0) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/**
 * Cuts `count` items into runs of at most `capacity`: full runs, with the last two evened out
 * when the last would be under half full (an ascending fill leaves pages full, not half full).
 */
function split(count: number, capacity: number): Array<[number, number]> {
  const runs: Array<[number, number]> = [];
  for (let start = 0; start < count; start += capacity) runs.push([start, Math.min(count, start + capacity)]);
  const last = runs.length - 1;
  if (last >= 1 && runs[last][1] - runs[last][0] < capacity / 2) {
    const start = runs[last - 1][0];
    const middle = start + Math.ceil((count - start) / 2);
    runs[last - 1] = [start, middle];
    runs[last] = [middle, count];
  }
  return runs;
}
