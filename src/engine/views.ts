/**
 * Views: what a volume or snapshot reads, without changing anything. Lookup (V1), block status,
 * diff, exclusive and allocated bytes. Everything here is a read of the map and refcounts.
 *
 * How a view reads: chunk c of a view at generation g is the entry of the volume's map with the
 * greatest generation ≤ g (ChunkMap.visible); if there is none and the volume is a clone, the
 * same question is asked of its origin at the origin's generation, at most cloneDepthMax times.
 */
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import type { SlotAllocator } from './allocator.js';
import type { Entry } from './chunk-map.js';
import { tombstoneSlot } from './layout.js';
import type { PoolState, Snapshot, Volume } from './state.js';
import type { ByteRange, Extent, ViewRef } from './types.js';

export interface ResolvedView {
  volume: Volume;
  generation: number;
  sizeBytes: number;
  writable: boolean;
}

export function isData(entry: Entry | undefined): entry is Entry {
  return entry !== undefined && entry.slot !== tombstoneSlot;
}

export class Views {
  constructor(
    private readonly state: PoolState,
    private readonly allocator: SlotAllocator,
    readonly chunkSizeBytes: number,
  ) {}

  liveVolume(volumeId: number): Volume {
    const volume = this.state.volume(volumeId);
    if (volume.state !== 'available') throw new StrataError('NOT_FOUND', `volume ${volumeId} is being deleted`);
    return volume;
  }

  liveSnapshot(snapshotId: number): Snapshot {
    const snapshot = this.state.snapshot(snapshotId);
    if (snapshot.state !== 'available') throw new StrataError('NOT_FOUND', `snapshot ${snapshotId} is being deleted`);
    return snapshot;
  }

  resolve(view: ViewRef): ResolvedView {
    if ('volumeId' in view) {
      const volume = this.liveVolume(view.volumeId);
      return { volume, generation: volume.headGeneration, sizeBytes: volume.sizeBytes, writable: true };
    }
    const snapshot = this.liveSnapshot(view.snapshotId);
    return { volume: this.liveVolume(snapshot.volumeId), generation: snapshot.generation, sizeBytes: snapshot.sizeBytes, writable: false };
  }

  /** The entry a view sees for a chunk: one ordered lookup per clone level (V1). */
  lookup(volume: Volume, generation: number, chunk: number): Entry | undefined {
    let current = volume;
    let currentGeneration = generation;
    for (;;) {
      const entry = current.map.visible(chunk, currentGeneration);
      if (entry !== undefined) return entry;
      const origin = current.origin;
      if (origin === null || chunk * this.chunkSizeBytes >= origin.sizeBytes) return undefined;
      current = this.state.volume(origin.volumeId);
      currentGeneration = origin.generation;
    }
  }

  /** True if some view of `clone` would read `chunk` from its origin. */
  readsThrough(clone: Volume, chunk: number): boolean {
    const first = clone.map.entries(chunk)?.[0];
    const lowestView = clone.snapshotGenerations.length > 0 ? clone.snapshotGenerations[0] : clone.headGeneration;
    return first === undefined || first.generation > lowestView;
  }

  /** True if, without its head entry, the head would read data for this chunk. */
  inheritsData(volume: Volume, chunk: number): boolean {
    const older = volume.map.visible(chunk, volume.headGeneration - 1);
    if (older !== undefined) return older.slot !== tombstoneSlot;
    const origin = volume.origin;
    if (origin === null || chunk * this.chunkSizeBytes >= origin.sizeBytes) return false;
    return isData(this.lookup(this.state.volume(origin.volumeId), origin.generation, chunk));
  }

  /** Chunks in [start, end) that have an entry in the view's volume or any origin, ascending. */
  candidateChunks(view: ResolvedView, start: number, end: number): number[] {
    const low = Math.floor(start / this.chunkSizeBytes);
    const high = Math.ceil(end / this.chunkSizeBytes);
    let chunks = view.volume.map.chunksInRange(low, high);
    let limitChunk = high;
    for (let origin = view.volume.origin; origin !== null; origin = this.state.volume(origin.volumeId).origin) {
      limitChunk = Math.min(limitChunk, Math.ceil(origin.sizeBytes / this.chunkSizeBytes));
      const more = this.state.volume(origin.volumeId).map.chunksInRange(low, limitChunk);
      if (more.length > 0) chunks = [...new Set([...chunks, ...more])].sort((a, b) => a - b);
    }
    return chunks;
  }

  /** Calls `visit` for each chunk a byte range touches, with the part of it inside the range. */
  forEachChunk(offsetBytes: number, lengthBytes: number, visit: (chunk: number, inChunk: number, outOffset: number, length: number) => void): void {
    let position = offsetBytes;
    const end = offsetBytes + lengthBytes;
    while (position < end) {
      const chunk = Math.floor(position / this.chunkSizeBytes);
      const inChunk = position - chunk * this.chunkSizeBytes;
      const length = Math.min(this.chunkSizeBytes - inChunk, end - position);
      visit(chunk, inChunk, position - offsetBytes, length);
      position += length;
    }
  }

  blockStatus(view: ResolvedView, offsetBytes: number, lengthBytes: number): Extent[] {
    const extents: Extent[] = [];
    const push = (offset: number, length: number, allocated: boolean) => {
      if (length <= 0) return;
      const last = extents[extents.length - 1];
      if (last !== undefined && last.hole === !allocated && last.offsetBytes + last.lengthBytes === offset) {
        last.lengthBytes += length;
      } else {
        extents.push({ offsetBytes: offset, lengthBytes: length, hole: !allocated, zero: !allocated });
      }
    };
    const end = offsetBytes + lengthBytes;
    let position = offsetBytes;
    for (const chunk of this.candidateChunks(view, offsetBytes, end)) {
      const chunkStart = Math.max(chunk * this.chunkSizeBytes, offsetBytes);
      const chunkEnd = Math.min((chunk + 1) * this.chunkSizeBytes, end);
      push(position, chunkStart - position, false);
      push(chunkStart, chunkEnd - chunkStart, isData(this.lookup(view.volume, view.generation, chunk)));
      position = chunkEnd;
    }
    push(position, end - position, false);
    return extents;
  }

  /** Byte ranges that may differ between `base` (null: an empty volume) and `target`. */
  diff(base: ResolvedView | null, target: ResolvedView): ByteRange[] {
    let chunks: Iterable<number>;
    if (base === null) {
      chunks = this.blockStatus(target, 0, target.sizeBytes)
        .filter((extent) => !extent.hole)
        .flatMap((extent) => {
          const first = Math.floor(extent.offsetBytes / this.chunkSizeBytes);
          const last = Math.ceil((extent.offsetBytes + extent.lengthBytes) / this.chunkSizeBytes);
          return Array.from({ length: last - first }, (_, i) => first + i);
        });
    } else {
      if (base.volume !== target.volume) throw new StrataError('INVALID_ARGUMENT', 'a diff compares two views of the same volume');
      const low = Math.min(base.generation, target.generation);
      const high = Math.max(base.generation, target.generation);
      chunks = [...target.volume.map.chunksChangedIn(low, high)].sort((a, b) => a - b);
    }
    const ranges: ByteRange[] = [];
    for (const chunk of chunks) {
      const start = chunk * this.chunkSizeBytes;
      if (start >= target.sizeBytes) continue;
      const end = Math.min(start + this.chunkSizeBytes, target.sizeBytes);
      const last = ranges[ranges.length - 1];
      if (last !== undefined && last.offsetBytes + last.lengthBytes === start) last.lengthBytes += end - start;
      else ranges.push({ offsetBytes: start, lengthBytes: end - start });
    }
    return ranges;
  }

  /** Bytes that deleting the snapshot would free: slots only its generation range holds. */
  exclusiveBytes(snapshot: Snapshot): number {
    const volume = this.state.volume(snapshot.volumeId);
    const below = volume.greatestLiveBelow(snapshot.generation);
    const above = volume.leastLiveAtOrAbove(snapshot.generation + 1);
    const clones = this.state.clonesOf(volume.id, snapshot.generation);
    let chunks = 0;
    for (const [chunk, generation] of volume.map.entriesInGenerations(below, snapshot.generation)) {
      const entry = volume.map.at(chunk, generation)!;
      if (entry.slot === tombstoneSlot || this.allocator.refcount(entry.slot) !== 1) continue;
      const next = volume.map.nextGenerationAbove(chunk, generation);
      if (next <= snapshot.generation || next > above) continue;
      if (clones.some((clone) => this.readsThrough(clone, chunk))) continue;
      chunks++;
    }
    return chunks * this.chunkSizeBytes;
  }

  /** Bytes of distinct slots the volume's map references. */
  allocatedBytes(volume: Volume): number {
    const slots = new Set<number>();
    for (const [, entry] of volume.map.all()) if (entry.slot !== tombstoneSlot) slots.add(entry.slot);
    return slots.size * this.chunkSizeBytes;
  }
}

export function checkVolumeSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < limits.volumeSizeBytesMin || sizeBytes % limits.volumeSizeBytesAlignment !== 0) {
    throw new StrataError('INVALID_ARGUMENT', `volume size must be a positive multiple of ${limits.volumeSizeBytesAlignment} bytes`);
  }
  if (sizeBytes > limits.volumeSizeBytesMax) {
    throw new StrataError('LIMIT_EXCEEDED', `volume size is limited to ${limits.volumeSizeBytesMax} bytes`);
  }
}

export function checkRange(sizeBytes: number, offsetBytes: number, lengthBytes: number, lengthBytesMax: number = limits.requestSizeBytesMax): void {
  if (!Number.isSafeInteger(offsetBytes) || !Number.isSafeInteger(lengthBytes) || offsetBytes < 0 || lengthBytes < 0) {
    throw new StrataError('INVALID_ARGUMENT', 'offset and length must be non-negative integers');
  }
  if (lengthBytes > lengthBytesMax) {
    throw new StrataError('LIMIT_EXCEEDED', `a request is limited to ${lengthBytesMax} bytes`);
  }
  if (offsetBytes + lengthBytes > sizeBytes) {
    throw new StrataError('OUT_OF_RANGE', `range ${offsetBytes}+${lengthBytes} lies beyond the end (${sizeBytes} bytes)`);
  }
}
