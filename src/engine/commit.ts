/**
 * The commit pipeline and replay: every map and refcount change goes through `put` / `remove` /
 * `change` here, is remembered as dirty, and becomes durable at the next commit (D1–D3, D5, D8).
 * Replay (`replayUnit`) applies a loaded checkpoint or frame with the same `PoolState.apply`.
 */
import { assert } from '../lib/assert.js';
import { isStrataError, StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import type { StorageFile } from '../storage/types.js';
import type { Admission } from './admission.js';
import type { SlotAllocator } from './allocator.js';
import type { Entry } from './chunk-map.js';
import {
  decodeRecords,
  encodeOverwrite,
  encodePut,
  encodeRemove,
  encodeStructural,
  overwriteRecordBytes,
  putRecordBytes,
  recordType,
  tombstoneSlot,
  type OverwriteRecord,
  type StructuralChange,
} from './layout.js';
import type { MetadataLog } from './metadata-log.js';
import type { OverwriteBatch, OverwriteLog } from './overwrite-log.js';
import type { PoolState, Volume } from './state.js';

interface Batch {
  parts: Buffer[];
  bytes: number;
  parked: number[];
  overwrites: ReturnType<OverwriteLog['capture']>;
}

interface Image {
  parts: Buffer[];
  bytes: number;
}

export class CommitPipeline {
  /** Commit epoch: entries allocated in the current epoch may be overwritten in place (D3). */
  private currentEpoch = 1;
  /** volumeId → generation → chunks whose entry changed since the last capture. */
  private dirty = new Map<number, Map<number, Set<number>>>();
  private dirtyCount = 0;
  private structural: StructuralChange[] = [];
  private commitTail: Promise<void> = Promise.resolve();
  private commitQueued: Promise<void> | null = null;
  private checkpointWanted = false;
  private failed: StrataError | null = null;
  /** A commit whose write failed with NO_SPACE is held, not fatal: the next commit writes it first. */
  private readonly noSpace: NoSpaceState = { held: null, heldParked: [], sinceMs: null };

  constructor(
    private readonly state: PoolState,
    private readonly allocator: SlotAllocator,
    private readonly log: MetadataLog,
    private readonly data: StorageFile,
    private readonly overwrites: OverwriteLog,
    private readonly admission: Admission,
    private readonly sectorsPerChunk: number,
  ) {}

  get epoch(): number {
    return this.currentEpoch;
  }

  /** The I/O error that stopped the pool, if any: every later call fails with it. */
  get failure(): StrataError | null {
    return this.failed;
  }

  /** Records a failure that leaves the pool unusable. */
  fail(error: unknown): StrataError {
    this.failed ??= ioError(error);
    return this.failed;
  }

  /** Since when commits have been held back for want of space (null: they are not). */
  get noSpaceSinceMs(): number | null {
    return this.noSpace.sinceMs;
  }

  wantCheckpoint(): void {
    this.checkpointWanted = true;
  }

  // ---- the only ways the map and refcounts change ------------------------------------------

  /** Puts an entry whose slot reference the caller already holds; drops the replaced one's. */
  put(volume: Volume, chunk: number, entry: Entry): void {
    assert(entry.slot === tombstoneSlot || this.allocator.refcount(entry.slot) > 0, `entry put on unreferenced slot ${entry.slot}`);
    const replaced = volume.map.put(chunk, entry);
    if (replaced !== undefined && replaced.slot !== tombstoneSlot) this.allocator.dereference(replaced.slot);
    this.markDirty(volume.id, chunk, entry.generation);
  }

  remove(volume: Volume, chunk: number, generation: number): void {
    const removed = volume.map.remove(chunk, generation);
    if (removed === undefined) return;
    if (removed.slot !== tombstoneSlot) this.allocator.dereference(removed.slot);
    this.markDirty(volume.id, chunk, generation);
  }

  /** An entry changed in place (its checksums): it goes into the next frame. */
  markDirty(volumeId: number, chunk: number, generation: number): void {
    let byGeneration = this.dirty.get(volumeId);
    if (byGeneration === undefined) {
      byGeneration = new Map();
      this.dirty.set(volumeId, byGeneration);
    }
    let chunks = byGeneration.get(generation);
    if (chunks === undefined) {
      chunks = new Set();
      byGeneration.set(generation, chunks);
    }
    if (chunks.has(chunk)) return;
    chunks.add(chunk);
    if (++this.dirtyCount === limits.dirtyEntriesCommitAbove) this.flush().catch(() => undefined);
  }

  change(change: StructuralChange): void {
    this.state.apply(change);
    this.structural.push(change);
  }

  // ---- commits -----------------------------------------------------------------------------

  /** Makes every change made before the call durable (D1): one commit, shared by concurrent callers. */
  flush(): Promise<void> {
    if (this.commitQueued !== null) return this.commitQueued;
    const commit = this.commitTail.then(() => {
      this.commitQueued = null;
      return this.commit();
    });
    this.commitQueued = commit;
    this.commitTail = commit.catch(() => undefined);
    return commit;
  }

  /**
   * One commit (D1–D3, D8): hold new writes, wait for in-flight ones, capture every change since
   * the last commit and start a new epoch, let writes go on; then write the captured overwrites
   * to log slots, sync the data file, and only then append and sync the journal frame (or write
   * a checkpoint); then apply the overwrites in place, and release the slots freed by the
   * captured changes (D5).
   */
  private async commit(): Promise<void> {
    if (this.failed !== null) throw this.failed;
    const { batch, image } = await this.admission.holdPool(() => {
      const captured = mergeBatches(this.noSpace.held, this.capture(), this.noSpace.heldParked);
      this.noSpace.held = null;
      const wanted = this.checkpointWanted || this.log.wantsCheckpoint(limits.journalBytesCheckpointAbove);
      this.currentEpoch++;
      return { batch: captured, image: wanted ? this.checkpointImage() : null };
    });
    const unit: Image | null = image ?? batch;
    if (unit === null) {
      this.noSpace.sinceMs = null; // nothing is waiting to be written
      return;
    }
    let overwrites: OverwriteBatch | null = null;
    try {
      let { parts, bytes } = unit;
      if (batch !== null && batch.overwrites.length > 0) {
        overwrites = await this.overwrites.write(batch.overwrites);
        const records = encodeOverwrites(overwrites.frameRecords);
        // A copy: a batch held back by NO_SPACE is retried with fresh log slots.
        parts = [...parts, records];
        bytes += records.length;
      }
      await this.data.sync();
      if (image !== null) {
        await this.log.checkpoint(parts, bytes);
        this.checkpointWanted = false;
      } else {
        await this.log.append(parts, bytes);
      }
      // D8: in place before this commit resolves, so the next commit's data sync covers them;
      // and before the parked slots are released, so no apply lands in a reused slot.
      if (overwrites !== null) await this.overwrites.apply(overwrites);
    } catch (error) {
      if (overwrites !== null) this.overwrites.abandon(overwrites);
      // Disk full: the journal append and the checkpoint leave nothing half-done that the next
      // attempt does not overwrite (MetadataLog advances only after a durable write), so the
      // batch is kept and written first by the next commit; its freed slots stay parked (D5).
      if (isStrataError(error, 'NO_SPACE')) {
        this.noSpace.held = batch;
        this.noSpace.sinceMs ??= Date.now();
        throw error;
      }
      throw this.fail(error);
    }
    this.noSpace.sinceMs = null;
    for (const parked of this.noSpace.heldParked.splice(0)) this.allocator.release(parked);
    if (batch !== null) this.allocator.release(batch.parked);
  }

  private capture(): Batch | null {
    if (this.structural.length === 0 && this.dirtyCount === 0) return null;
    const parts: Buffer[] = this.structural.map(encodeStructural);
    let bytes = parts.reduce((sum, part) => sum + part.length, 0);
    const records = Buffer.allocUnsafe(this.dirtyCount * putRecordBytes(this.sectorsPerChunk, false));
    let offset = 0;
    for (const [volumeId, byGeneration] of this.dirty) {
      const volume = this.state.volumes.get(volumeId);
      if (volume === undefined) continue;
      for (const [generation, chunks] of byGeneration) {
        for (const chunk of chunks) {
          const entry = volume.map.at(chunk, generation);
          offset =
            entry === undefined
              ? encodeRemove(records, offset, volumeId, chunk, generation)
              : encodePut(records, offset, volumeId, chunk, generation, entry.slot, entry.checksums);
        }
      }
    }
    parts.push(records.subarray(0, offset));
    bytes += offset;
    this.structural = [];
    this.dirty = new Map();
    this.dirtyCount = 0;
    return { parts, bytes, parked: this.allocator.takeParked(), overwrites: this.overwrites.capture() };
  }

  /** The whole metadata, for a checkpoint: state JSON then one put record per entry. */
  private checkpointImage(): Image {
    const json = Buffer.from(this.state.toJson(), 'utf8');
    const head = Buffer.alloc(4);
    head.writeUInt32LE(json.length, 0);
    let entries = 0;
    for (const volume of this.state.volumes.values()) entries += volume.map.size;
    const records = Buffer.allocUnsafe(entries * putRecordBytes(this.sectorsPerChunk, false));
    let offset = 0;
    for (const volume of this.state.volumes.values()) {
      for (const [chunk, entry] of volume.map.all()) {
        offset = encodePut(records, offset, volume.id, chunk, entry.generation, entry.slot, entry.checksums);
      }
    }
    return { parts: [head, json, records.subarray(0, offset)], bytes: 4 + json.length + offset };
  }
}

/** A commit held back by NO_SPACE, and since when commits have failed so. */
interface NoSpaceState {
  held: Batch | null;
  /** Parked slots of held batches merged into later ones: released with the commit that writes them (D5). */
  heldParked: number[][];
  sinceMs: number | null;
}

/**
 * One frame holding `first` then `second`: replayed, it is exactly the two frames in order (D7);
 * overwrites keep their order, so a sector written in both ends with `second`'s. The allocator
 * knows each batch's parked slots by the array it handed out, so `first`'s go to `heldParked`.
 */
function mergeBatches(first: Batch | null, second: Batch | null, heldParked: number[][]): Batch | null {
  if (first === null) return second;
  if (second === null) return first;
  heldParked.push(first.parked);
  return {
    parts: [...first.parts, ...second.parts],
    bytes: first.bytes + second.bytes,
    parked: second.parked,
    overwrites: [...first.overwrites, ...second.overwrites],
  };
}

function encodeOverwrites(frameRecords: OverwriteRecord[]): Buffer {
  const records = Buffer.allocUnsafe(frameRecords.length * overwriteRecordBytes);
  let offset = 0;
  for (const record of frameRecords) offset = encodeOverwrite(records, offset, record);
  return records;
}

/** Applies one unit's map records to `state` (D7); returns the unit's overwrite records (D8). */
export function replayUnit(state: PoolState, payload: Buffer, sectorsPerChunk: number): OverwriteRecord[] {
  const overwrites: OverwriteRecord[] = [];
  for (const record of decodeRecords(payload, sectorsPerChunk)) {
    if (record.type === recordType.structural) {
      state.apply(record.change);
      continue;
    }
    if (record.type === recordType.overwrite) {
      overwrites.push(record);
      continue;
    }
    const volume = state.volumes.get(record.volumeId);
    if (volume === undefined) continue;
    if (record.type === recordType.put) {
      volume.map.put(record.chunk, { generation: record.generation, slot: record.slot, checksums: record.checksums, epoch: -1 });
    } else {
      volume.map.remove(record.chunk, record.generation);
    }
  }
  return overwrites;
}

export function ioError(error: unknown): StrataError {
  if (error instanceof StrataError) return error;
  return new StrataError('IO_ERROR', error instanceof Error ? error.message : String(error), { cause: error });
}
