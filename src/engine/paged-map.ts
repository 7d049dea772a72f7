/**
 * The map on disk: (volume, chunk, generation) → (slot, per-sector checksums) in a copy-on-write
 * B+tree of pages (page-tree.ts over page-store.ts), plus a second tree keyed (volume,
 * generation, chunk) that answers "entries of a volume in generations (low, high]" with a range
 * scan (diff, revert, snapshot delete).
 *
 * Changes since the last checkpoint live in memory as a sorted delta (puts and tombstones),
 * consulted before the trees. A checkpoint freezes the delta and starts a fresh one, so changes
 * and lookups go on while the frozen delta is merged into the trees (only the touched paths are
 * written), the page file synced and the new roots made durable; then the frozen delta is dropped.
 * Lookups see active delta, then frozen delta, then the trees of the durable roots, which stay
 * intact until the next checkpoint: pages the merge replaced are reused only after the record
 * that dropped them is durable *and* every lookup that began on the older roots has finished.
 *
 * Memory: the deltas (bounded by the checkpoint trigger) and the page cache (bounded in bytes).
 */
import sortedBtree from 'sorted-btree';
import { assert } from '../lib/assert.js';
import { limits } from '../lib/limits.js';
import type { Storage } from '../storage/types.js';
import { tombstoneSlot } from './layout.js';
import { PageStore, type PageStoreOptions } from './page-store.js';
import { PageTree, type ChangeBatch } from './page-tree.js';

const BTree = sortedBtree.default;
type BTreeOf<K, V> = sortedBtree.default<K, V>;

export interface MapEntry {
  generation: number;
  /** `tombstoneSlot` for a range that reads as zeroes. */
  slot: number;
  checksums: Uint32Array | null;
}

/** Keys are big-endian so that byte order is tuple order. */
export const mapKeyBytes = 4 + 6 + 4;

export function chunkKey(volumeId: number, chunk: number, generation: number): Buffer {
  const key = Buffer.allocUnsafe(mapKeyBytes);
  key.writeUInt32BE(volumeId, 0);
  key.writeUIntBE(chunk, 4, 6);
  key.writeUInt32BE(generation, 10);
  return key;
}

export function generationKey(volumeId: number, generation: number, chunk: number): Buffer {
  const key = Buffer.allocUnsafe(mapKeyBytes);
  key.writeUInt32BE(volumeId, 0);
  key.writeUInt32BE(generation, 4);
  key.writeUIntBE(chunk, 8, 6);
  return key;
}

export interface KeyParts {
  volumeId: number;
  chunk: number;
  generation: number;
}

export function parseChunkKey(key: Buffer): KeyParts {
  return { volumeId: key.readUInt32BE(0), chunk: key.readUIntBE(4, 6), generation: key.readUInt32BE(10) };
}

export function parseGenerationKey(key: Buffer): KeyParts {
  return { volumeId: key.readUInt32BE(0), generation: key.readUInt32BE(4), chunk: key.readUIntBE(8, 6) };
}

interface Delta {
  /** latin1 key → entry, or null for a removal. */
  chunks: BTreeOf<string, MapEntry | null>;
  generations: BTreeOf<string, boolean>;
}

function newDelta(): Delta {
  return { chunks: new BTree<string, MapEntry | null>(), generations: new BTree<string, boolean>() };
}

/** The durable roots lookups read, and how many lookups are reading them. */
interface Base {
  roots: number[];
  readers: number;
  drained: (() => void) | null;
}

export interface PagedMapOptions extends PageStoreOptions {
  sectorsPerChunk: number;
}

export class PagedMap {
  readonly chunkTree: PageTree;
  readonly generationTree: PageTree;
  private active: Delta = newDelta();
  private frozen: Delta | null = null;
  private base: Base;
  private retired: Base | null = null;
  private checkpointRunning: Promise<void> | null = null;

  private constructor(
    readonly store: PageStore,
    readonly sectorsPerChunk: number,
  ) {
    this.chunkTree = new PageTree(store, mapKeyBytes, 6 + 4 * sectorsPerChunk);
    this.generationTree = new PageTree(store, mapKeyBytes, 0);
    this.base = { roots: [...store.roots], readers: 0, drained: null };
  }

  static async create(storage: Storage, options: PagedMapOptions): Promise<PagedMap> {
    return new PagedMap(await PageStore.create(storage, { ...options, trees: 2 }), options.sectorsPerChunk);
  }

  static async open(storage: Storage, options: PagedMapOptions): Promise<PagedMap> {
    const store = await PageStore.open(storage, options);
    assert(store.roots.length === 2, 'map record without its two trees');
    return new PagedMap(store, options.sectorsPerChunk);
  }

  /** The caller's bytes of the durable checkpoint. */
  get meta(): Buffer {
    return this.store.meta;
  }

  /** Changes held in memory, frozen or not. */
  get deltaSize(): number {
    return this.active.chunks.size + (this.frozen?.chunks.size ?? 0);
  }

  get wantsCheckpoint(): boolean {
    return this.active.chunks.size >= limits.mapDeltaEntriesCheckpointAbove;
  }

  get roots(): readonly number[] {
    return this.base.roots;
  }

  // ---- changes ---------------------------------------------------------------------------

  put(volumeId: number, chunk: number, entry: MapEntry): void {
    assert(entry.slot === tombstoneSlot ? entry.checksums === null : entry.checksums?.length === this.sectorsPerChunk, 'map entry with the wrong checksums');
    this.active.chunks.set(chunkKey(volumeId, chunk, entry.generation).toString('latin1'), entry);
    this.active.generations.set(generationKey(volumeId, entry.generation, chunk).toString('latin1'), true);
  }

  remove(volumeId: number, chunk: number, generation: number): void {
    this.active.chunks.set(chunkKey(volumeId, chunk, generation).toString('latin1'), null);
    this.active.generations.set(generationKey(volumeId, generation, chunk).toString('latin1'), false);
  }

  // ---- lookups ---------------------------------------------------------------------------

  /** The entry a view at `generation` sees for `chunk` in this volume's map (greatest generation ≤ it). */
  async visible(volumeId: number, chunk: number, generation: number): Promise<MapEntry | undefined> {
    const base = this.enter();
    try {
      let bound = chunkKey(volumeId, chunk, generation);
      for (;;) {
        const found = await this.floorOf(base, bound);
        if (found === undefined) return undefined;
        const parts = parseChunkKey(found.key);
        if (parts.volumeId !== volumeId || parts.chunk !== chunk) return undefined;
        if (found.entry !== null) return found.entry;
        if (parts.generation === 0) return undefined;
        bound = chunkKey(volumeId, chunk, parts.generation - 1);
      }
    } finally {
      this.leave(base);
    }
  }

  /** The entry at exactly `generation`. */
  async at(volumeId: number, chunk: number, generation: number): Promise<MapEntry | undefined> {
    const entry = await this.visible(volumeId, chunk, generation);
    return entry?.generation === generation ? entry : undefined;
  }

  /** (chunk, generation) of every entry with generation in (low, high], by generation then chunk. */
  async entriesInGenerations(volumeId: number, low: number, high: number): Promise<Array<[chunk: number, generation: number]>> {
    if (high <= low) return [];
    const lowKey = generationKey(volumeId, low + 1, 0);
    const highKey = high + 1 > 0xffff_ffff ? generationKey(volumeId + 1, 0, 0) : generationKey(volumeId, high + 1, 0);
    const found = new Map<string, boolean>();
    const base = this.enter();
    try {
      await this.generationTree.scan(base.roots[1], lowKey, highKey, (key) => {
        found.set(key.toString('latin1'), true);
      });
    } finally {
      this.leave(base);
    }
    for (const delta of this.deltas()) {
      delta.generations.forRange(lowKey.toString('latin1'), highKey.toString('latin1'), false, (key, present) => {
        found.set(key, present);
      });
    }
    const keys = [...found].filter(([, present]) => present).map(([key]) => key).sort();
    return keys.map((key) => {
      const parts = parseGenerationKey(Buffer.from(key, 'latin1'));
      return [parts.chunk, parts.generation];
    });
  }

  /** Every chunk with an entry in generations (low, high]. */
  async chunksChangedIn(volumeId: number, low: number, high: number): Promise<Set<number>> {
    return new Set((await this.entriesInGenerations(volumeId, low, high)).map(([chunk]) => chunk));
  }

  /** Entries of a volume with chunk in [chunkLow, chunkHigh), ascending by (chunk, generation); at most `limit`. */
  async entries(volumeId: number, chunkLow = 0, chunkHigh = 2 ** 48 - 1, limit = Infinity): Promise<Array<[chunk: number, entry: MapEntry]>> {
    const lowKey = chunkKey(volumeId, chunkLow, 0);
    const highKey = chunkKey(volumeId, chunkHigh, 0);
    const found = new Map<string, MapEntry | null>();
    const base = this.enter();
    try {
      await this.chunkTree.scan(base.roots[0], lowKey, highKey, (key, value) => {
        found.set(key.toString('latin1'), this.decodeValue(key, value));
        return found.size < limit + this.deltaSize;
      });
    } finally {
      this.leave(base);
    }
    for (const delta of this.deltas()) {
      delta.chunks.forRange(lowKey.toString('latin1'), highKey.toString('latin1'), false, (key, entry) => {
        found.set(key, entry);
      });
    }
    const live = [...found].filter((pair): pair is [string, MapEntry] => pair[1] !== null);
    live.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return live.slice(0, limit).map(([key, entry]) => [parseChunkKey(Buffer.from(key, 'latin1')).chunk, entry]);
  }

  // ---- checkpoints -----------------------------------------------------------------------

  /**
   * Makes every change made before the call durable with `meta`, while changes and lookups go
   * on. Cost: the pages on the paths to the changed keys, never the whole map. When no
   * checkpoint is running the delta is frozen before this returns, so the checkpoint holds
   * exactly the changes made before the call; one called while another runs starts after it
   * and holds everything made until then.
   */
  checkpoint(meta: Buffer = this.store.meta): Promise<void> {
    const run = this.checkpointRunning === null ? this.runCheckpoint(meta) : this.checkpointRunning.catch(() => undefined).then(() => this.runCheckpoint(meta));
    const tracked: Promise<void> = run.finally(() => {
      if (this.checkpointRunning === tracked) this.checkpointRunning = null;
    });
    tracked.catch(() => undefined);
    this.checkpointRunning = tracked;
    return run;
  }

  private async runCheckpoint(meta: Buffer): Promise<void> {
    const frozen = this.active;
    this.frozen = frozen;
    this.active = newDelta();
    // Pages the last checkpoint released may be handed out now: wait for lookups still on older roots.
    await this.drain(this.retired);
    this.retired = null;
    const chunkChanges = await this.pack(frozen.chunks, this.chunkTree.valueBytes, (entry, values, at) => {
      if (entry !== null) this.encodeValue(entry, values, at);
      return entry !== null;
    });
    const generationChanges = await this.pack(frozen.generations, 0, (present) => present);
    let roots: number[];
    try {
      roots = [
        await this.chunkTree.merge(this.base.roots[0], chunkChanges),
        await this.generationTree.merge(this.base.roots[1], generationChanges),
      ];
      await this.store.commit(roots, meta);
    } catch (error) {
      // The frozen changes go back under the newer ones, for whoever retries.
      for (const [key, entry] of frozen.chunks.entries()) if (!this.active.chunks.has(key)) this.active.chunks.set(key, entry);
      for (const [key, present] of frozen.generations.entries()) if (!this.active.generations.has(key)) this.active.generations.set(key, present);
      this.frozen = null;
      throw error;
    }
    this.retired = this.base;
    this.base = { roots, readers: 0, drained: null };
    this.frozen = null;
  }

  async close(options: { checkpoint: boolean } = { checkpoint: true }): Promise<void> {
    if (options.checkpoint) await this.checkpoint();
    else await this.checkpointRunning?.catch(() => undefined);
    await this.store.close();
  }

  // ---- internals -------------------------------------------------------------------------

  private *deltas(): Generator<Delta> {
    if (this.frozen !== null) yield this.frozen;
    yield this.active;
  }

  /** The greatest key ≤ `bound` over active delta, frozen delta and tree; the newest layer wins a tie. */
  private async floorOf(base: Base, bound: Buffer): Promise<{ key: Buffer; entry: MapEntry | null } | undefined> {
    const boundText = bound.toString('latin1');
    let bestText: string | undefined;
    let bestEntry: MapEntry | null = null;
    for (const delta of [this.active, this.frozen]) {
      const pair = delta?.chunks.getPairOrNextLower(boundText);
      if (pair !== undefined && (bestText === undefined || pair[0] > bestText)) {
        bestText = pair[0];
        bestEntry = pair[1];
      }
    }
    const fromTree = await this.chunkTree.floor(base.roots[0], bound);
    if (fromTree !== undefined) {
      const treeText = fromTree.key.toString('latin1');
      if (bestText === undefined || treeText > bestText) return { key: fromTree.key, entry: this.decodeValue(fromTree.key, fromTree.value) };
    }
    return bestText === undefined ? undefined : { key: Buffer.from(bestText, 'latin1'), entry: bestEntry };
  }

  private encodeValue(entry: MapEntry, values: Buffer, at: number): void {
    values.writeUIntBE(entry.slot, at, 6);
    if (entry.checksums !== null) for (let i = 0; i < entry.checksums.length; i++) values.writeUInt32LE(entry.checksums[i], at + 6 + 4 * i);
  }

  /** A delta packed for a merge, yielding to the event loop every few thousand entries. */
  private async pack<V>(delta: BTreeOf<string, V>, valueBytes: number, encode: (value: V, values: Buffer, at: number) => boolean): Promise<ChangeBatch> {
    const count = delta.size;
    const batch: ChangeBatch = { count, keys: Buffer.allocUnsafe(count * mapKeyBytes), values: Buffer.alloc(count * valueBytes), present: new Uint8Array(count) };
    let index = 0;
    for (const [key, value] of delta.entries()) {
      batch.keys.write(key, index * mapKeyBytes, mapKeyBytes, 'latin1');
      batch.present[index] = encode(value, batch.values, index * valueBytes) ? 1 : 0;
      if (++index % 4096 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return batch;
  }

  decodeValue(key: Buffer, value: Buffer): MapEntry {
    const slot = value.readUIntBE(0, 6);
    const generation = key.readUInt32BE(10);
    if (slot === tombstoneSlot) return { generation, slot, checksums: null };
    const checksums = new Uint32Array(this.sectorsPerChunk);
    for (let i = 0; i < checksums.length; i++) checksums[i] = value.readUInt32LE(6 + 4 * i);
    return { generation, slot, checksums };
  }

  private enter(): Base {
    const base = this.base;
    base.readers++;
    return base;
  }

  private leave(base: Base): void {
    if (--base.readers === 0 && base.drained !== null) base.drained();
  }

  private drain(base: Base | null): Promise<void> {
    if (base === null || base.readers === 0) return Promise.resolve();
    return new Promise((resolve) => {
      base.drained = resolve;
    });
  }
}
