/**
 * Sub-chunk overwrites of durable chunks, without copying the chunk (invariant D8).
 *
 * A slot that a committed entry points at must not change before the commit that gives it new
 * checksums is durable (D3): a crash in between would leave sectors that fail the committed
 * checksums. So a small write to such a slot is kept here as whole 4 KiB sectors, and reads of
 * the slot see it through `patch`. A commit writes the epoch's sectors, packed, into fresh "log
 * slots" of the data file (synced with the data), names them in the journal frame, and once the
 * frame is durable copies each sector to its place in the target slot (`apply`). The log slots
 * are then released like any dropped slot: reusable only after the next commit is durable.
 *
 * D8 — the newest durable unit (journal frame, or checkpoint with no frame after it) is the only
 *      one whose overwrites may not be in place yet: a commit applies its own overwrites before
 *      it resolves, so the next commit's data sync makes them durable before its frame is
 *      written. Replay therefore copies the overwrites of the newest unit only; an older unit's
 *      log slots may already have been reused.
 *
 * Slots are released only after the applies of every earlier commit finished, so an apply never
 * lands in a reused slot; a record whose target slot was dropped meanwhile writes into a parked
 * slot, which is harmless.
 */
import { assert } from '../lib/assert.js';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import type { StorageFile } from '../storage/types.js';
import type { SlotAllocator } from './allocator.js';
import { crc32, type OverwriteRecord } from './layout.js';

const sectorBytes = limits.sectorSizeBytes;

interface Pending {
  slot: number;
  sector: number;
  data: Buffer;
  /** Taken by a commit: a later write to the sector makes a new record instead of changing this one. */
  captured: boolean;
}

/** One commit's overwrites: written to log slots, then applied in place. */
export interface OverwriteBatch {
  records: Pending[];
  logSlots: number[];
  /** The frame records naming where each sector was logged. */
  frameRecords: OverwriteRecord[];
}

export class OverwriteLog {
  /** target slot → sector → newest pending data. */
  private readonly pending = new Map<number, Map<number, Pending>>();
  private open: Pending[] = [];
  private pendingBytes = 0;
  /** Log slots allocated for batches not yet released. */
  private readonly ownedSlots = new Set<number>();

  constructor(
    private readonly data: StorageFile,
    private readonly allocator: () => SlotAllocator,
    private readonly chunkSizeBytes: number,
  ) {}

  /** Bytes of pending sectors (the newest content of each), what reads must patch in. */
  get bytes(): number {
    return this.pendingBytes;
  }

  /** Bytes captured by no commit yet. */
  get openBytes(): number {
    return this.open.length * sectorBytes;
  }

  /** Slots the log owns (for fsck's accounting). */
  get logSlots(): ReadonlySet<number> {
    return this.ownedSlots;
  }

  hasPending(slot: number): boolean {
    return this.pending.has(slot);
  }

  /** The pending content of one sector, if any. */
  sector(slot: number, sector: number): Buffer | undefined {
    return this.pending.get(slot)?.get(sector)?.data;
  }

  /** Records whole sectors `image` (starting at `firstSector`) as the new content of `slot`. */
  put(slot: number, firstSector: number, image: Buffer): void {
    assert(image.length % sectorBytes === 0, 'overwrites are whole sectors');
    let bySector = this.pending.get(slot);
    if (bySector === undefined) {
      bySector = new Map();
      this.pending.set(slot, bySector);
    }
    for (let i = 0; i < image.length / sectorBytes; i++) {
      const sector = firstSector + i;
      const source = image.subarray(i * sectorBytes, (i + 1) * sectorBytes);
      const existing = bySector.get(sector);
      if (existing !== undefined && !existing.captured) {
        source.copy(existing.data);
        continue;
      }
      const record: Pending = { slot, sector, data: Buffer.from(source), captured: false };
      bySector.set(sector, record);
      this.open.push(record);
      // Counted per sector in the map: a captured record replaced here is no longer counted
      // (its batch still holds it until applied, and `forget` then finds it replaced).
      if (existing === undefined) this.pendingBytes += sectorBytes;
    }
  }

  /** Copies pending sectors of `slot` in [firstSector, firstSector + target sectors) over `target`. */
  patch(slot: number, firstSector: number, target: Buffer): void {
    const bySector = this.pending.get(slot);
    if (bySector === undefined) return;
    const count = target.length / sectorBytes;
    for (const [sector, record] of bySector) {
      if (sector >= firstSector && sector < firstSector + count) record.data.copy(target, (sector - firstSector) * sectorBytes);
    }
  }

  /** Takes the open epoch's records (called while the commit holds the pool gate). */
  capture(): Pending[] {
    const records = this.open;
    this.open = [];
    for (const record of records) record.captured = true;
    return records;
  }

  /** Writes captured records, packed, into fresh log slots of the data file (synced with it by the commit). */
  async write(records: Pending[]): Promise<OverwriteBatch> {
    const perSlot = this.chunkSizeBytes / sectorBytes;
    const logSlots: number[] = [];
    const frameRecords: OverwriteRecord[] = [];
    const writes: Promise<void>[] = [];
    for (let first = 0; first < records.length; first += perSlot) {
      const group = records.slice(first, first + perSlot);
      const logSlot = this.allocator().allocate();
      this.ownedSlots.add(logSlot);
      logSlots.push(logSlot);
      const image = Buffer.allocUnsafe(group.length * sectorBytes);
      group.forEach((record, i) => {
        record.data.copy(image, i * sectorBytes);
        frameRecords.push({ targetSlot: record.slot, targetSector: record.sector, logSlot, logSector: i, checksum: crc32(record.data) });
      });
      writes.push(this.data.write(image, logSlot * this.chunkSizeBytes));
    }
    const batch = { records, logSlots, frameRecords };
    try {
      await Promise.all(writes);
    } catch (error) {
      this.abandon(batch);
      throw error;
    }
    return batch;
  }

  /** After the batch's frame is durable: copies each sector into place, then lets go of it. */
  async apply(batch: OverwriteBatch): Promise<void> {
    await Promise.all(batch.records.map((record) => this.data.write(record.data, record.slot * this.chunkSizeBytes + record.sector * sectorBytes)));
    for (const record of batch.records) this.forget(record);
    const allocator = this.allocator();
    for (const slot of batch.logSlots) {
      this.ownedSlots.delete(slot);
      allocator.dereference(slot);
    }
  }

  /**
   * A batch whose commit failed before its frame was durable: its records stay pending (a
   * commit held back by NO_SPACE logs them again), its log slots are dropped like any slot.
   */
  abandon(batch: OverwriteBatch): void {
    const allocator = this.allocator();
    for (const slot of batch.logSlots) {
      this.ownedSlots.delete(slot);
      allocator.dereference(slot);
    }
  }

  private forget(record: Pending): void {
    const bySector = this.pending.get(record.slot);
    if (bySector?.get(record.sector) !== record) return;
    bySector.delete(record.sector);
    if (bySector.size === 0) this.pending.delete(record.slot);
    this.pendingBytes -= sectorBytes;
  }

  /**
   * Replay (D8): copies the newest durable unit's overwrites from their log slots into place,
   * verifying each sector against the checksum the frame recorded. In a read-only open the
   * sectors are kept pending instead, so reads and fsck see them without writing.
   */
  async replay(records: OverwriteRecord[], writable: boolean): Promise<void> {
    for (const record of records) {
      const data = Buffer.alloc(sectorBytes);
      const got = await this.data.read(data, 0, sectorBytes, record.logSlot * this.chunkSizeBytes + record.logSector * sectorBytes);
      if (got < sectorBytes || crc32(data) !== record.checksum) {
        // The frame is durable only after the log slots were synced: a mismatch is damage.
        throw new StrataError('CORRUPT_METADATA', `overwrite log slot ${record.logSlot} sector ${record.logSector} fails its checksum`);
      }
      if (writable) {
        await this.data.write(data, record.targetSlot * this.chunkSizeBytes + record.targetSector * sectorBytes);
      } else {
        this.put(record.targetSlot, record.targetSector, data);
      }
    }
    if (!writable) this.capture();
    if (writable && records.length > 0) await this.data.sync();
  }
}
