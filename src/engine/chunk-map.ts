/**
 * The map of one volume tree: (chunk, generation) → slot and checksums, ordered by chunk, and
 * for each chunk the entries ordered by generation. A view at generation g reads chunk c from
 * the entry with the greatest generation ≤ g: one ordered lookup whatever the snapshot count.
 *
 * A second index, generation → chunks, makes "everything that changed between two
 * generations" a range scan (diff, revert, delete).
 */
import sortedBtree from 'sorted-btree';

// sorted-btree is CommonJS with `exports.default`: imported from ESM, the class is one level down.
const BTree = sortedBtree.default;
type BTreeOf<K, V> = sortedBtree.default<K, V>;

export interface Entry {
  generation: number;
  /** Slot in the data file, or `tombstoneSlot` for a range that reads as zeroes. */
  slot: number;
  /** One CRC-32 per 4 KiB sector of the chunk; null for a tombstone. */
  checksums: Uint32Array | null;
  /**
   * The commit epoch in which the slot was allocated for this entry, or -1 if the slot is
   * shared or already durable. Only an entry of the head generation written in the current
   * epoch may be overwritten in place.
   */
  epoch: number;
}

export class ChunkMap {
  private readonly byChunk: BTreeOf<number, Entry[]> = new BTree<number, Entry[]>();
  private readonly byGeneration: BTreeOf<number, Set<number>> = new BTree<number, Set<number>>();
  private entryCount = 0;

  get size(): number {
    return this.entryCount;
  }

  entries(chunk: number): Entry[] | undefined {
    return this.byChunk.get(chunk);
  }

  /** The entry a view at `generation` sees for `chunk`, if this tree has one. */
  visible(chunk: number, generation: number): Entry | undefined {
    const list = this.byChunk.get(chunk);
    if (list === undefined) return undefined;
    return greatestAtOrBelow(list, generation);
  }

  /** The entry at exactly `generation`, if any. */
  at(chunk: number, generation: number): Entry | undefined {
    const list = this.byChunk.get(chunk);
    if (list === undefined) return undefined;
    const entry = greatestAtOrBelow(list, generation);
    return entry !== undefined && entry.generation === generation ? entry : undefined;
  }

  /** Inserts or replaces the entry at (chunk, entry.generation); returns the replaced one. */
  put(chunk: number, entry: Entry): Entry | undefined {
    let list = this.byChunk.get(chunk);
    if (list === undefined) {
      list = [];
      this.byChunk.set(chunk, list);
    }
    const index = indexAtOrAbove(list, entry.generation);
    if (index < list.length && list[index].generation === entry.generation) {
      const replaced = list[index];
      list[index] = entry;
      return replaced;
    }
    list.splice(index, 0, entry);
    this.entryCount++;
    let chunks = this.byGeneration.get(entry.generation);
    if (chunks === undefined) {
      chunks = new Set();
      this.byGeneration.set(entry.generation, chunks);
    }
    chunks.add(chunk);
    return undefined;
  }

  remove(chunk: number, generation: number): Entry | undefined {
    const list = this.byChunk.get(chunk);
    if (list === undefined) return undefined;
    const index = indexAtOrAbove(list, generation);
    if (index >= list.length || list[index].generation !== generation) return undefined;
    const [removed] = list.splice(index, 1);
    if (list.length === 0) this.byChunk.delete(chunk);
    this.entryCount--;
    const chunks = this.byGeneration.get(generation)!;
    chunks.delete(chunk);
    if (chunks.size === 0) this.byGeneration.delete(generation);
    return removed;
  }

  /** The generation of the first entry of `chunk` above `generation`, or Infinity. */
  nextGenerationAbove(chunk: number, generation: number): number {
    const list = this.byChunk.get(chunk);
    if (list === undefined) return Infinity;
    const index = indexAtOrAbove(list, generation + 1);
    return index < list.length ? list[index].generation : Infinity;
  }

  /** Chunks that have any entry in [chunkLow, chunkHigh), ascending. */
  chunksInRange(chunkLow: number, chunkHigh: number): number[] {
    const chunks: number[] = [];
    if (chunkHigh <= chunkLow) return chunks;
    this.byChunk.forRange(chunkLow, chunkHigh, false, (chunk) => {
      chunks.push(chunk);
    });
    return chunks;
  }

  /** (chunk, generation) of every entry with generation in (low, high], by generation. */
  entriesInGenerations(low: number, high: number): Array<[chunk: number, generation: number]> {
    const found: Array<[number, number]> = [];
    if (high <= low) return found;
    this.byGeneration.forRange(low + 1, high, true, (generation, chunks) => {
      for (const chunk of chunks) found.push([chunk, generation]);
    });
    return found;
  }

  /** Every chunk with any entry in generations (low, high]. */
  chunksChangedIn(low: number, high: number): Set<number> {
    const chunks = new Set<number>();
    if (high <= low) return chunks;
    this.byGeneration.forRange(low + 1, high, true, (_generation, set) => {
      for (const chunk of set) chunks.add(chunk);
    });
    return chunks;
  }

  *all(): Generator<[chunk: number, entry: Entry]> {
    for (const [chunk, list] of this.byChunk.entries()) {
      for (const entry of list) yield [chunk, entry];
    }
  }

  /** For fsck: the generation index agrees with the chunk index. */
  indexViolations(): string[] {
    const violations: string[] = [];
    let indexed = 0;
    for (const [generation, chunks] of this.byGeneration.entries()) {
      for (const chunk of chunks) {
        indexed++;
        if (this.at(chunk, generation) === undefined) violations.push(`generation index lists (${chunk}, ${generation}) with no entry`);
      }
    }
    if (indexed !== this.entryCount) violations.push(`generation index has ${indexed} entries, map has ${this.entryCount}`);
    for (const [chunk, list] of this.byChunk.entries()) {
      for (let i = 1; i < list.length; i++) {
        if (list[i - 1].generation >= list[i].generation) violations.push(`chunk ${chunk}: generations not strictly ascending`);
      }
    }
    return violations;
  }
}

function indexAtOrAbove(list: Entry[], generation: number): number {
  let low = 0;
  let high = list.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (list[middle].generation < generation) low = middle + 1;
    else high = middle;
  }
  return low;
}

function greatestAtOrBelow(list: Entry[], generation: number): Entry | undefined {
  // Most lookups are for the newest entry (the live volume); check it first.
  const last = list[list.length - 1];
  if (last.generation <= generation) return last;
  const index = indexAtOrAbove(list, generation + 1);
  return index > 0 ? list[index - 1] : undefined;
}
