/**
 * Chunk I/O: reads that verify every sector they touch, and the three ways a write lands —
 * in place (a slot allocated in this epoch, D3), through the overwrite log (a small write to a
 * durable chunk only the head sees, D8), or into a fresh slot (copy-on-write) — plus trim and
 * write-zeroes. Owns no state of its own beyond the data file it is given.
 */
import { assert } from '../lib/assert.js';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import type { StorageFile } from '../storage/types.js';
import type { Admission } from './admission.js';
import type { SlotAllocator } from './allocator.js';
import type { Entry } from './chunk-map.js';
import { sameChecksums, sectorChecksums, sectorsMatch, zeroSectorChecksum } from './checksums.js';
import { ioError, type CommitPipeline } from './commit.js';
import { tombstoneSlot } from './layout.js';
import type { OverwriteLog } from './overwrite-log.js';
import type { Volume } from './state.js';
import { isData, type ResolvedView, type Views } from './views.js';

const sectorBytes = limits.sectorSizeBytes;

export class ChunkIo {
  private readonly chunkSizeBytes: number;
  private readonly sectorsPerChunk: number;

  constructor(
    private readonly data: StorageFile,
    private readonly views: Views,
    private readonly pipeline: CommitPipeline,
    private readonly admission: Admission,
    private readonly allocator: SlotAllocator,
    private readonly overwrites: OverwriteLog,
  ) {
    this.chunkSizeBytes = views.chunkSizeBytes;
    this.sectorsPerChunk = this.chunkSizeBytes / sectorBytes;
  }

  async read(view: ResolvedView, offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    const out = Buffer.alloc(lengthBytes);
    const reads: Promise<void>[] = [];
    this.views.forEachChunk(offsetBytes, lengthBytes, (chunk, inChunk, outOffset, length) => {
      const entry = this.views.lookup(view.volume, view.generation, chunk);
      if (isData(entry)) reads.push(this.readChunk(view, chunk, entry, inChunk, out.subarray(outOffset, outOffset + length)));
    });
    await Promise.all(reads);
    return out;
  }

  /** Writes `source` at `offsetBytes` of an admitted volume. */
  async write(volume: Volume, offsetBytes: number, source: Buffer): Promise<void> {
    const writes: Promise<void>[] = [];
    this.views.forEachChunk(offsetBytes, source.length, (chunk, inChunk, sourceOffset, length) => {
      writes.push(this.writeChunk(volume, chunk, inChunk, source.subarray(sourceOffset, sourceOffset + length)));
    });
    await Promise.all(writes);
  }

  /** Trim and write-zeroes of an admitted volume: whole chunks become holes (metadata only); partial chunks are written. */
  async zeroRange(volume: Volume, offsetBytes: number, lengthBytes: number, noHole: boolean): Promise<void> {
    const work: Promise<void>[] = [];
    this.views.forEachChunk(offsetBytes, lengthBytes, (chunk, inChunk, _offset, length) => {
      work.push(this.zeroChunk(volume, chunk, inChunk, length, noHole));
    });
    await Promise.all(work);
  }

  /**
   * Reads part of one chunk and verifies the checksum of every sector it touches. A mismatch
   * caused by a concurrent change (in-place write, overwrite applied, slot reuse after delete)
   * is retried against the current entry; a mismatch that persists is CHECKSUM_MISMATCH, never data.
   */
  private async readChunk(view: ResolvedView, chunk: number, entry: Entry, inChunk: number, out: Buffer): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const firstSector = Math.floor(inChunk / sectorBytes);
      const endSector = Math.ceil((inChunk + out.length) / sectorBytes);
      const expected = entry.checksums!.slice(firstSector, endSector);
      const aligned = inChunk % sectorBytes === 0 && out.length % sectorBytes === 0;
      const target = aligned ? out : Buffer.allocUnsafe((endSector - firstSector) * sectorBytes);
      await this.readFully(target, entry.slot * this.chunkSizeBytes + firstSector * sectorBytes);
      this.overwrites.patch(entry.slot, firstSector, target);
      if (sectorsMatch(target, expected)) {
        if (!aligned) target.copy(out, 0, inChunk - firstSector * sectorBytes, inChunk - firstSector * sectorBytes + out.length);
        return;
      }
      const lock = view.volume.locks.get(chunk);
      if (lock !== undefined) await lock;
      const current = this.views.lookup(view.volume, view.generation, chunk);
      const changed = current !== entry || current.checksums === null || !sameChecksums(expected, current.checksums, firstSector);
      if (!changed && attempt >= 1) {
        throw new StrataError('CHECKSUM_MISMATCH', `checksum mismatch in volume ${view.volume.id} chunk ${chunk} (slot ${entry.slot})`, {
          volumeId: view.volume.id,
          chunk,
          slot: entry.slot,
        });
      }
      if (!isData(current)) {
        out.fill(0);
        return;
      }
      entry = current;
    }
  }

  private async readFully(target: Buffer, position: number): Promise<void> {
    const got = await this.data.read(target, 0, target.length, position);
    if (got < target.length) target.fill(0, got);
  }

  /**
   * Writes part of one chunk: in place if the head owns the chunk and it was allocated in this
   * epoch (no committed entry can point at it, D3); through the overwrite log if it is a small
   * write to a durable chunk only the head sees (D8); otherwise into a fresh slot, copying the
   * untouched part of the chunk the head currently sees.
   */
  private async writeChunk(volume: Volume, chunk: number, inChunk: number, piece: Buffer): Promise<void> {
    const unlock = await this.admission.lockChunk(volume, chunk);
    try {
      const head = volume.map.at(chunk, volume.headGeneration);
      if (isData(head) && head.epoch === this.pipeline.epoch) return await this.writeInPlace(volume, chunk, head, inChunk, piece);
      if (isData(head) && this.mayLogOverwrite(head, piece.length)) return await this.logOverwrite(volume, chunk, head, inChunk, piece);
      await this.copyOnWrite(volume, chunk, head ?? this.views.lookup(volume, volume.headGeneration, chunk), inChunk, piece);
    } finally {
      unlock();
    }
  }

  private async copyOnWrite(volume: Volume, chunk: number, visible: Entry | undefined, inChunk: number, piece: Buffer): Promise<void> {
    const whole = inChunk === 0 && piece.length === this.chunkSizeBytes;
    // Always a whole chunk: a slot may hold an older chunk's bytes, and one extent per chunk
    // keeps later in-place writes cheap (writing sparse pieces measured slower).
    const slot = this.allocator.allocate();
    assert(!this.overwrites.hasPending(slot), `slot ${slot} reused while overwrites of it are pending`);
    let checksums: Uint32Array;
    try {
      let image: Buffer;
      if (whole) {
        image = piece;
        checksums = sectorChecksums(image, 0, this.sectorsPerChunk);
      } else {
        image = Buffer.alloc(this.chunkSizeBytes);
        checksums = new Uint32Array(this.sectorsPerChunk).fill(zeroSectorChecksum);
        if (isData(visible)) {
          await this.readVerified(volume, chunk, visible, image);
          checksums.set(visible.checksums!);
        }
        piece.copy(image, inChunk);
        const firstSector = Math.floor(inChunk / sectorBytes);
        const endSector = Math.ceil((inChunk + piece.length) / sectorBytes);
        checksums.set(sectorChecksums(image, firstSector, endSector), firstSector);
      }
      await this.data.write(image, slot * this.chunkSizeBytes);
    } catch (error) {
      // Unreferenced again: parked, and free after the next commit.
      this.allocator.dereference(slot);
      throw ioError(error);
    }
    this.pipeline.put(volume, chunk, { generation: volume.headGeneration, slot, checksums, epoch: this.pipeline.epoch });
  }

  private async writeInPlace(volume: Volume, chunk: number, entry: Entry, inChunk: number, piece: Buffer): Promise<void> {
    assert(!this.overwrites.hasPending(entry.slot), `in-place write to slot ${entry.slot} with pending overwrites`);
    const firstSector = Math.floor(inChunk / sectorBytes);
    const endSector = Math.ceil((inChunk + piece.length) / sectorBytes);
    const image = await this.wholeSectors(volume, chunk, entry, inChunk, piece);
    try {
      await this.data.write(image, entry.slot * this.chunkSizeBytes + firstSector * sectorBytes);
    } catch (error) {
      throw ioError(error);
    }
    entry.checksums!.set(sectorChecksums(image, 0, endSector - firstSector), firstSector);
    this.pipeline.markDirty(volume.id, chunk, entry.generation);
  }

  /**
   * A small write to a durable chunk that only the head sees goes through the overwrite log
   * (D8) instead of copying the chunk; a shared slot (revert, flatten) is never changed in place.
   */
  private mayLogOverwrite(head: Entry, lengthBytes: number): boolean {
    return (
      lengthBytes <= this.chunkSizeBytes * limits.overwriteChunkFractionMax &&
      this.allocator.refcount(head.slot) === 1 &&
      this.overwrites.bytes < limits.overwriteBytesMax
    );
  }

  private async logOverwrite(volume: Volume, chunk: number, entry: Entry, inChunk: number, piece: Buffer): Promise<void> {
    assert(this.allocator.refcount(entry.slot) === 1, `overwrite of shared slot ${entry.slot}`);
    const firstSector = Math.floor(inChunk / sectorBytes);
    const endSector = Math.ceil((inChunk + piece.length) / sectorBytes);
    const image = await this.wholeSectors(volume, chunk, entry, inChunk, piece);
    this.overwrites.put(entry.slot, firstSector, image);
    // A fresh array: an entry may share its checksums object with one that no longer shares its slot.
    const checksums = Uint32Array.from(entry.checksums!);
    checksums.set(sectorChecksums(image, 0, endSector - firstSector), firstSector);
    entry.checksums = checksums;
    this.pipeline.markDirty(volume.id, chunk, entry.generation);
    if (this.overwrites.openBytes >= limits.overwriteBytesCommitAbove) this.pipeline.flush().catch(() => undefined);
  }

  /** `piece` widened to whole sectors: the edges of an unaligned write are read (and verified) first. */
  private async wholeSectors(volume: Volume, chunk: number, entry: Entry, inChunk: number, piece: Buffer): Promise<Buffer> {
    if (inChunk % sectorBytes === 0 && piece.length % sectorBytes === 0) return piece;
    const firstSector = Math.floor(inChunk / sectorBytes);
    const endSector = Math.ceil((inChunk + piece.length) / sectorBytes);
    const image = Buffer.allocUnsafe((endSector - firstSector) * sectorBytes);
    await this.readFully(image, entry.slot * this.chunkSizeBytes + firstSector * sectorBytes);
    this.overwrites.patch(entry.slot, firstSector, image);
    if (!sectorsMatch(image, entry.checksums!.subarray(firstSector, endSector))) {
      throw new StrataError('CHECKSUM_MISMATCH', `checksum mismatch in volume ${volume.id} chunk ${chunk} (slot ${entry.slot})`);
    }
    piece.copy(image, inChunk - firstSector * sectorBytes);
    return image;
  }

  /** Reads a whole chunk for copy-on-write, verifying every sector. */
  private async readVerified(volume: Volume, chunk: number, entry: Entry, image: Buffer): Promise<void> {
    await this.readFully(image, entry.slot * this.chunkSizeBytes);
    this.overwrites.patch(entry.slot, 0, image);
    if (!sectorsMatch(image, entry.checksums!)) {
      throw new StrataError('CHECKSUM_MISMATCH', `checksum mismatch in volume ${volume.id} chunk ${chunk} (slot ${entry.slot})`);
    }
  }

  private async zeroChunk(volume: Volume, chunk: number, inChunk: number, length: number, noHole: boolean): Promise<void> {
    const chunkEnd = Math.min(this.chunkSizeBytes, volume.sizeBytes - chunk * this.chunkSizeBytes);
    const wholeChunk = inChunk === 0 && length >= chunkEnd;
    if (noHole || !wholeChunk) {
      if (!noHole && !isData(this.views.lookup(volume, volume.headGeneration, chunk))) return;
      await this.writeChunk(volume, chunk, inChunk, Buffer.alloc(length));
      return;
    }
    const unlock = await this.admission.lockChunk(volume, chunk);
    try {
      const head = volume.map.at(chunk, volume.headGeneration);
      if (this.views.inheritsData(volume, chunk)) {
        if (head === undefined || head.slot !== tombstoneSlot) this.pipeline.put(volume, chunk, tombstone(volume.headGeneration));
      } else if (head !== undefined) {
        this.pipeline.remove(volume, chunk, volume.headGeneration);
      }
    } finally {
      unlock();
    }
  }
}

export function tombstone(generation: number): Entry {
  return { generation, slot: tombstoneSlot, checksums: null, epoch: -1 };
}
