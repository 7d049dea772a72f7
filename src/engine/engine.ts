/**
 * The copy-on-write engine: volumes, snapshots, clones and their I/O over a `Storage`.
 *
 * How a view reads: chunk c of a view at generation g is the entry of the volume's map with the
 * greatest generation ≤ g (ChunkMap.visible); if there is none and the volume is a clone, the
 * same question is asked of its origin at the origin's generation, at most cloneDepthMax times.
 * Invariant V1: for every live view, that rule yields exactly the view's content. Everything
 * that changes the map (write, trim, snapshot, revert, delete, flatten) preserves V1; see
 * ARCHITECTURE.md for the argument and for the durability invariants D1–D7.
 */
import { crc32 } from 'node:zlib';
import { assert } from '../lib/assert.js';
import { isStrataError, StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import type { Storage, StorageFile } from '../storage/types.js';
import { SlotAllocator } from './allocator.js';
import type { Entry } from './chunk-map.js';
import { checkPool } from './fsck.js';
import {
  decodeRecords,
  encodePut,
  encodeRemove,
  encodeStructural,
  fileNames,
  putRecordBytes,
  recordType,
  removeRecordBytes,
  tombstoneSlot,
  type StructuralChange,
} from './layout.js';
import { MetadataLog } from './metadata-log.js';
import { Gate, PoolState, type Snapshot, Volume } from './state.js';
import type {
  ByteRange,
  EngineApi,
  EngineJob,
  Extent,
  FsckReport,
  GroupSnapshotResult,
  JobProgress,
  PoolInfo,
  SnapshotInfo,
  ViewRef,
  VolumeInfo,
  WriteOptions,
  ZeroOptions,
} from './types.js';

const sectorBytes = limits.sectorSizeBytes;
const zeroSectorChecksum = crc32(Buffer.alloc(sectorBytes));

export interface EngineOptions {
  /** Clock for creation times (tests pass a fixed one). */
  nowMs?: () => number;
  /** Open without writing anything (fsck of a stopped pool). */
  readOnly?: boolean;
}

interface ResolvedView {
  volume: Volume;
  generation: number;
  sizeBytes: number;
  writable: boolean;
}

interface Batch {
  parts: Buffer[];
  bytes: number;
  parked: number[];
}

class Job implements EngineJob {
  private doneCount = 0;
  private totalCount = 0;
  done!: Promise<void>;
  constructor(
    readonly kind: EngineJob['kind'],
    readonly targetId: number,
  ) {}
  progress(): JobProgress {
    return { done: this.doneCount, total: this.totalCount };
  }
  addTotal(count: number): void {
    this.totalCount += count;
  }
  advance(count: number): void {
    this.doneCount += count;
  }
}

export class Engine implements EngineApi {
  readonly chunkSizeBytes: number;
  private readonly sectorsPerChunk: number;
  private readonly state: PoolState;
  private allocator: SlotAllocator;
  private readonly nowMs: () => number;
  private readonly readOnly: boolean;

  /** Commit epoch: entries allocated in the current epoch may be overwritten in place (D3). */
  private epoch = 1;
  private poolGate: Gate | null = null;
  private inflight = 0;
  private drained: Gate | null = null;
  /** volumeId → generation → chunks whose entry changed since the last capture. */
  private dirty = new Map<number, Map<number, Set<number>>>();
  private dirtyCount = 0;
  private structural: StructuralChange[] = [];
  private commitTail: Promise<void> = Promise.resolve();
  private commitQueued: Promise<void> | null = null;
  private checkpointWanted = false;
  private failure: StrataError | null = null;
  // Disk full (1/5): a commit whose journal write failed with NO_SPACE is held, not fatal.
  private noSpace: NoSpaceState = { held: null, heldParked: [], sinceMs: null };
  private closed = false;
  private stopping = false;
  private readonly running = new Set<Job>();

  private constructor(
    private readonly storage: Storage,
    private readonly log: MetadataLog,
    private readonly data: StorageFile,
    state: PoolState,
    options: EngineOptions,
  ) {
    this.chunkSizeBytes = log.chunkSizeBytes;
    this.sectorsPerChunk = this.chunkSizeBytes / sectorBytes;
    this.state = state;
    this.nowMs = options.nowMs ?? Date.now;
    this.readOnly = options.readOnly ?? false;
    this.allocator = SlotAllocator.fromReferences(this.allReferencedSlots());
  }

  // ---- opening and closing ------------------------------------------------------------

  static async create(storage: Storage, options: { chunkSizeBytes?: number } & EngineOptions = {}): Promise<Engine> {
    const chunkSizeBytes = options.chunkSizeBytes ?? limits.chunkSizeBytesDefault;
    if (
      !Number.isInteger(chunkSizeBytes) ||
      chunkSizeBytes < limits.chunkSizeBytesMin ||
      chunkSizeBytes > limits.chunkSizeBytesMax ||
      (chunkSizeBytes & (chunkSizeBytes - 1)) !== 0
    ) {
      throw new StrataError(
        'INVALID_ARGUMENT',
        `chunk size must be a power of two between ${limits.chunkSizeBytesMin} and ${limits.chunkSizeBytesMax} bytes`,
      );
    }
    await MetadataLog.create(storage, chunkSizeBytes, (options.nowMs ?? Date.now)());
    return Engine.open(storage, options);
  }

  static async open(storage: Storage, options: EngineOptions = {}): Promise<Engine> {
    const { log, loaded } = await MetadataLog.load(storage, { readOnly: options.readOnly ?? false });
    const sectorsPerChunk = loaded.superblock.chunkSizeBytes / sectorBytes;
    let state = new PoolState();
    if (loaded.checkpoint !== null) {
      const jsonBytes = loaded.checkpoint.readUInt32LE(0);
      state = PoolState.fromJson(loaded.checkpoint.toString('utf8', 4, 4 + jsonBytes));
      replayRecords(state, loaded.checkpoint.subarray(4 + jsonBytes), sectorsPerChunk);
    }
    for (const frame of loaded.frames) replayRecords(state, frame, sectorsPerChunk);
    const data = await storage.open(fileNames.data, { create: false });
    const engine = new Engine(storage, log, data, state, options);
    if (!engine.readOnly) engine.resumeJobs();
    return engine;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.stopping = true;
    await Promise.allSettled([...this.running].map((job) => job.done));
    if (!this.readOnly && this.failure === null) {
      this.checkpointWanted = true;
      // Disk full (2/5): closing on a full disk loses only what no flush acknowledged.
      await this.flush().catch((error: unknown) => {
        if (!isStrataError(error, 'NO_SPACE')) throw error;
      });
    }
    this.closed = true;
    await this.data.close();
    await this.log.close();
  }

  info(): PoolInfo {
    return {
      chunkSizeBytes: this.chunkSizeBytes,
      volumes: this.state.volumes.size,
      snapshots: this.state.snapshots.size,
      chunksAllocated: this.allocator.slotCount - this.allocator.freeCount - this.allocator.parkedCount,
      chunksFree: this.allocator.freeCount,
    };
  }

  /**
   * Disk full (3/5): why the pool cannot take writes now, if it cannot: a failure that needs a
   * restart, or commits held back for want of space (they resume when space is freed).
   */
  health(): { writable: boolean; reasons: string[] } {
    const reasons: string[] = [];
    if (this.failure !== null) reasons.push(`the pool stopped after a storage failure (${this.failure.code}); restart it once the storage is fixed`);
    if (this.noSpace.sinceMs !== null) reasons.push('no space for the pool metadata: flushes fail until space is freed');
    return { writable: reasons.length === 0, reasons };
  }

  // ---- volumes ----------------------------------------------------------------------------

  async createVolume(options: { sizeBytes: number }): Promise<VolumeInfo> {
    this.checkWritable();
    checkVolumeSize(options.sizeBytes);
    if (this.state.volumes.size >= limits.volumesMax) {
      throw new StrataError('LIMIT_EXCEEDED', `a pool holds at most ${limits.volumesMax} volumes`);
    }
    const volumeId = this.state.nextVolumeId;
    this.change({ op: 'volume-create', volumeId, sizeBytes: options.sizeBytes, createdAtMs: this.nowMs(), origin: null });
    await this.flush();
    return this.volume(volumeId);
  }

  async growVolume(volumeId: number, sizeBytes: number): Promise<VolumeInfo> {
    this.checkWritable();
    const volume = this.liveVolume(volumeId);
    checkVolumeSize(sizeBytes);
    if (sizeBytes < volume.sizeBytes) throw new StrataError('INVALID_ARGUMENT', 'a volume can grow but never shrink');
    if (sizeBytes > volume.sizeBytes) {
      this.change({ op: 'volume-grow', volumeId, sizeBytes });
      await this.flush();
    }
    return this.volume(volumeId);
  }

  volume(volumeId: number): VolumeInfo {
    const volume = this.state.volume(volumeId);
    return {
      id: volume.id,
      sizeBytes: volume.sizeBytes,
      state: volume.state,
      headParentSnapshotId: volume.headParentSnapshotId,
      originSnapshotId: volume.origin?.snapshotId ?? null,
      cloneDepth: this.state.cloneDepth(volume),
      createdAtMs: volume.createdAtMs,
    };
  }

  listVolumes(): VolumeInfo[] {
    return [...this.state.volumes.keys()].sort((a, b) => a - b).map((id) => this.volume(id));
  }

  deleteVolume(volumeId: number): EngineJob {
    this.checkWritable();
    const volume = this.liveVolume(volumeId);
    this.change({ op: 'volume-deleting', volumeId });
    return this.startJob('delete-volume', volume.id, (job) => this.runDeleteVolume(job, volume));
  }

  // ---- I/O --------------------------------------------------------------------------------

  async read(view: ViewRef, offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    this.checkUsable();
    const resolved = this.resolveView(view);
    checkRange(resolved.sizeBytes, offsetBytes, lengthBytes);
    const out = Buffer.alloc(lengthBytes);
    const reads: Promise<void>[] = [];
    this.forEachChunk(offsetBytes, lengthBytes, (chunk, inChunk, outOffset, length) => {
      const entry = this.lookup(resolved.volume, resolved.generation, chunk);
      if (entry !== undefined && entry.slot !== tombstoneSlot) {
        reads.push(this.readChunk(resolved, chunk, entry, inChunk, out.subarray(outOffset, outOffset + length)));
      }
    });
    await Promise.all(reads);
    return out;
  }

  async write(volumeId: number, offsetBytes: number, data: Uint8Array, options: WriteOptions = {}): Promise<void> {
    const volume = await this.enterWrite(volumeId, offsetBytes, data.length);
    try {
      const source = Buffer.from(data.buffer, data.byteOffset, data.length);
      const writes: Promise<void>[] = [];
      this.forEachChunk(offsetBytes, data.length, (chunk, inChunk, sourceOffset, length) => {
        writes.push(this.writeChunk(volume, chunk, inChunk, source.subarray(sourceOffset, sourceOffset + length)));
      });
      await Promise.all(writes);
    } finally {
      this.leaveWrite(volume);
    }
    if (options.fua) await this.flush();
  }

  async trim(volumeId: number, offsetBytes: number, lengthBytes: number, options: WriteOptions = {}): Promise<void> {
    await this.zeroRange(volumeId, offsetBytes, lengthBytes, false);
    if (options.fua) await this.flush();
  }

  async writeZeroes(volumeId: number, offsetBytes: number, lengthBytes: number, options: ZeroOptions = {}): Promise<void> {
    await this.zeroRange(volumeId, offsetBytes, lengthBytes, options.noHole ?? false);
    if (options.fua) await this.flush();
  }

  /** Makes every write that resolved before the call durable (D1): one commit, shared by concurrent callers. */
  flush(): Promise<void> {
    this.checkUsable();
    if (this.readOnly) return Promise.resolve();
    if (this.commitQueued !== null) return this.commitQueued;
    const commit = this.commitTail.then(() => {
      this.commitQueued = null;
      return this.commit();
    });
    this.commitQueued = commit;
    this.commitTail = commit.catch(() => undefined);
    return commit;
  }

  blockStatus(view: ViewRef, offsetBytes: number, lengthBytes: number): Extent[] {
    this.checkUsable();
    const resolved = this.resolveView(view);
    checkRange(resolved.sizeBytes, offsetBytes, lengthBytes, Infinity);
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
    for (const chunk of this.candidateChunks(resolved, offsetBytes, end)) {
      const chunkStart = Math.max(chunk * this.chunkSizeBytes, offsetBytes);
      const chunkEnd = Math.min((chunk + 1) * this.chunkSizeBytes, end);
      push(position, chunkStart - position, false);
      const entry = this.lookup(resolved.volume, resolved.generation, chunk);
      push(chunkStart, chunkEnd - chunkStart, entry !== undefined && entry.slot !== tombstoneSlot);
      position = chunkEnd;
    }
    push(position, end - position, false);
    return extents;
  }

  // ---- snapshots --------------------------------------------------------------------------

  async createSnapshot(volumeId: number): Promise<SnapshotInfo> {
    const result = await this.createGroupSnapshot([volumeId]);
    return result.snapshots[0];
  }

  /** Fences the members, waits out their in-flight writes, records every snapshot at once (G1). */
  async createGroupSnapshot(volumeIds: number[]): Promise<GroupSnapshotResult> {
    this.checkWritable();
    if (volumeIds.length === 0 || volumeIds.length > limits.groupVolumesMax) {
      throw new StrataError('LIMIT_EXCEEDED', `a group snapshot takes 1 to ${limits.groupVolumesMax} volumes`);
    }
    if (new Set(volumeIds).size !== volumeIds.length) throw new StrataError('INVALID_ARGUMENT', 'a volume is listed twice');
    const volumes = volumeIds.map((id) => this.liveVolume(id));
    for (const volume of volumes) {
      if (volume.snapshotGenerations.length >= limits.snapshotsPerVolumeMax) {
        throw new StrataError('LIMIT_EXCEEDED', `volume ${volume.id} already has ${limits.snapshotsPerVolumeMax} snapshots`);
      }
    }
    if (this.state.snapshots.size + volumes.length > limits.snapshotsMax) {
      throw new StrataError('LIMIT_EXCEEDED', `a pool holds at most ${limits.snapshotsMax} snapshots`);
    }
    const fenceStart = performance.now();
    const snapshotIds: number[] = [];
    await this.fence(volumes, () => {
      for (const volume of volumes) {
        const snapshotId = this.state.nextSnapshotId;
        this.change({ op: 'snapshot-create', snapshotId, volumeId: volume.id, createdAtMs: this.nowMs() });
        snapshotIds.push(snapshotId);
      }
    });
    const fenceHeldMs = performance.now() - fenceStart;
    await this.flush();
    return { snapshots: snapshotIds.map((id) => this.snapshot(id)), fenceHeldMs };
  }

  snapshot(snapshotId: number): SnapshotInfo {
    const snapshot = this.state.snapshot(snapshotId);
    return {
      id: snapshot.id,
      volumeId: snapshot.volumeId,
      sizeBytes: snapshot.sizeBytes,
      state: snapshot.state,
      parentSnapshotId: snapshot.parentSnapshotId,
      createdAtMs: snapshot.createdAtMs,
    };
  }

  listSnapshots(volumeId: number): SnapshotInfo[] {
    return this.state.snapshotsOf(volumeId).map((snapshot) => this.snapshot(snapshot.id));
  }

  deleteSnapshot(snapshotId: number): EngineJob {
    this.checkUsable();
    const snapshot = this.liveSnapshot(snapshotId);
    this.liveVolume(snapshot.volumeId);
    this.checkWritable();
    this.change({ op: 'snapshot-deleting', snapshotId });
    return this.startJob('delete-snapshot', snapshot.id, (job) => this.runDeleteSnapshot(job, snapshot));
  }

  exclusiveBytes(snapshotId: number): number {
    const snapshot = this.state.snapshot(snapshotId);
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

  allocatedBytes(volumeId: number): number {
    const volume = this.state.volume(volumeId);
    const slots = new Set<number>();
    for (const [, entry] of volume.map.all()) if (entry.slot !== tombstoneSlot) slots.add(entry.slot);
    return slots.size * this.chunkSizeBytes;
  }

  /**
   * Reverts in O(entries changed since the snapshot): entries only the old head could see are
   * dropped, and each chunk that changed after the snapshot gets an entry at the new head
   * generation holding the snapshot's value (sharing its slot). Snapshots taken after the
   * target keep their data: the volume continues on a new branch.
   */
  async revert(volumeId: number, snapshotId: number): Promise<VolumeInfo> {
    this.checkWritable();
    const volume = this.liveVolume(volumeId);
    const snapshot = this.liveSnapshot(snapshotId);
    if (snapshot.volumeId !== volume.id) {
      throw new StrataError('INVALID_ARGUMENT', `snapshot ${snapshotId} is not a snapshot of volume ${volumeId}`);
    }
    await this.fence([volume], () => {
      const oldHead = volume.headGeneration;
      const lastSnapshot = volume.greatestLiveBelow(oldHead);
      for (const [chunk, generation] of volume.map.entriesInGenerations(lastSnapshot, oldHead)) {
        this.removeEntry(volume, chunk, generation);
      }
      const changed = volume.map.chunksChangedIn(snapshot.generation, lastSnapshot);
      this.change({ op: 'revert', volumeId, snapshotId });
      for (const chunk of changed) {
        const target = this.lookup(volume, snapshot.generation, chunk);
        if (target === undefined || target.slot === tombstoneSlot) {
          this.putEntry(volume, chunk, { generation: volume.headGeneration, slot: tombstoneSlot, checksums: null, epoch: -1 });
        } else {
          this.allocator.reference(target.slot);
          this.putEntry(volume, chunk, { generation: volume.headGeneration, slot: target.slot, checksums: target.checksums, epoch: -1 });
        }
      }
    });
    await this.flush();
    return this.volume(volumeId);
  }

  async clone(snapshotId: number, options: { sizeBytes?: number } = {}): Promise<VolumeInfo> {
    this.checkWritable();
    const snapshot = this.liveSnapshot(snapshotId);
    const source = this.state.volume(snapshot.volumeId);
    const sizeBytes = Math.max(snapshot.sizeBytes, options.sizeBytes ?? 0);
    checkVolumeSize(sizeBytes);
    if (this.state.volumes.size >= limits.volumesMax) {
      throw new StrataError('LIMIT_EXCEEDED', `a pool holds at most ${limits.volumesMax} volumes`);
    }
    const depth = this.state.cloneDepth(source) + 1;
    if (depth > limits.cloneDepthMax) {
      throw new StrataError('LIMIT_EXCEEDED', `clone depth would exceed ${limits.cloneDepthMax}; flatten volume ${source.id} first`);
    }
    const volumeId = this.state.nextVolumeId;
    this.change({
      op: 'volume-create',
      volumeId,
      sizeBytes,
      createdAtMs: this.nowMs(),
      origin: { volumeId: source.id, snapshotId, generation: snapshot.generation, sizeBytes: snapshot.sizeBytes },
    });
    await this.flush();
    if (depth > limits.cloneDepthFlattenAbove) this.flatten(volumeId);
    return this.volume(volumeId);
  }

  flatten(volumeId: number): EngineJob {
    this.checkWritable();
    const volume = this.liveVolume(volumeId);
    const existing = [...this.running].find((job) => job.kind === 'flatten' && job.targetId === volumeId);
    if (existing !== undefined) return existing;
    return this.startJob('flatten', volume.id, (job) => this.runFlatten(job, volume));
  }

  diff(from: ViewRef | null, to: ViewRef): ByteRange[] {
    this.checkUsable();
    const target = this.resolveView(to);
    let chunks: Iterable<number>;
    if (from === null) {
      chunks = this.blockStatus(to, 0, target.sizeBytes)
        .filter((extent) => !extent.hole)
        .flatMap((extent) => {
          const first = Math.floor(extent.offsetBytes / this.chunkSizeBytes);
          const last = Math.ceil((extent.offsetBytes + extent.lengthBytes) / this.chunkSizeBytes);
          return Array.from({ length: last - first }, (_, i) => first + i);
        });
    } else {
      const base = this.resolveView(from);
      if (base.volume !== target.volume) {
        throw new StrataError('INVALID_ARGUMENT', 'a diff compares two views of the same volume');
      }
      const low = Math.min(base.generation, target.generation);
      const high = Math.max(base.generation, target.generation);
      chunks = [...target.volume.map.chunksChangedIn(low, high)].sort((a, b) => a - b);
    }
    const sizeBytes = target.sizeBytes;
    const ranges: ByteRange[] = [];
    for (const chunk of chunks) {
      const start = chunk * this.chunkSizeBytes;
      if (start >= sizeBytes) continue;
      const end = Math.min(start + this.chunkSizeBytes, sizeBytes);
      const last = ranges[ranges.length - 1];
      if (last !== undefined && last.offsetBytes + last.lengthBytes === start) last.lengthBytes += end - start;
      else ranges.push({ offsetBytes: start, lengthBytes: end - start });
    }
    return ranges;
  }

  jobs(): EngineJob[] {
    return [...this.running];
  }

  async fsck(): Promise<FsckReport> {
    return checkPool({
      state: this.state,
      allocator: this.allocator,
      data: this.data,
      chunkSizeBytes: this.chunkSizeBytes,
      sectorsPerChunk: this.sectorsPerChunk,
    });
  }

  // ---- views and lookups ------------------------------------------------------------------

  private resolveView(view: ViewRef): ResolvedView {
    if ('volumeId' in view) {
      const volume = this.liveVolume(view.volumeId);
      return { volume, generation: volume.headGeneration, sizeBytes: volume.sizeBytes, writable: true };
    }
    const snapshot = this.liveSnapshot(view.snapshotId);
    return { volume: this.liveVolume(snapshot.volumeId), generation: snapshot.generation, sizeBytes: snapshot.sizeBytes, writable: false };
  }

  /** The entry a view sees for a chunk: one ordered lookup per clone level (V1). */
  private lookup(volume: Volume, generation: number, chunk: number): Entry | undefined {
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
  private readsThrough(clone: Volume, chunk: number): boolean {
    const first = clone.map.entries(chunk)?.[0];
    const lowestView = clone.snapshotGenerations.length > 0 ? clone.snapshotGenerations[0] : clone.headGeneration;
    return first === undefined || first.generation > lowestView;
  }

  /** Chunks in [start, end) that have an entry in the view's volume or any origin, ascending. */
  private candidateChunks(view: ResolvedView, start: number, end: number): number[] {
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

  private forEachChunk(offsetBytes: number, lengthBytes: number, visit: (chunk: number, inChunk: number, outOffset: number, length: number) => void): void {
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

  /**
   * Reads part of one chunk and verifies the checksum of every sector it touches (C1). A
   * mismatch caused by a concurrent change (in-place write, slot reuse after delete) is retried
   * against the current entry; a mismatch that persists is CHECKSUM_MISMATCH, never data.
   */
  private async readChunk(view: ResolvedView, chunk: number, entry: Entry, inChunk: number, out: Buffer): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const firstSector = Math.floor(inChunk / sectorBytes);
      const endSector = Math.ceil((inChunk + out.length) / sectorBytes);
      const checksums = entry.checksums!;
      const expected = checksums.slice(firstSector, endSector);
      const aligned = inChunk % sectorBytes === 0 && out.length % sectorBytes === 0;
      const target = aligned ? out : Buffer.allocUnsafe((endSector - firstSector) * sectorBytes);
      await this.readFully(target, entry.slot * this.chunkSizeBytes + firstSector * sectorBytes);
      if (sectorsMatch(target, expected)) {
        if (!aligned) target.copy(out, 0, inChunk - firstSector * sectorBytes, inChunk - firstSector * sectorBytes + out.length);
        return;
      }
      const lock = view.volume.locks.get(chunk);
      if (lock !== undefined) await lock;
      const current = this.lookup(view.volume, view.generation, chunk);
      const changed = current !== entry || !sameChecksums(expected, checksums, firstSector);
      if (!changed && attempt >= 1) {
        throw new StrataError('CHECKSUM_MISMATCH', `checksum mismatch in volume ${view.volume.id} chunk ${chunk} (slot ${entry.slot})`, {
          volumeId: view.volume.id,
          chunk,
          slot: entry.slot,
        });
      }
      if (current === undefined || current.slot === tombstoneSlot) {
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

  // ---- writes -----------------------------------------------------------------------------

  private async enterWrite(volumeId: number, offsetBytes: number, lengthBytes: number): Promise<Volume> {
    this.checkWritable();
    let volume = this.liveVolume(volumeId);
    checkRange(volume.sizeBytes, offsetBytes, lengthBytes);
    while (this.poolGate !== null || volume.gate !== null) {
      await (this.poolGate ?? volume.gate)!.promise;
      this.checkUsable();
      volume = this.liveVolume(volumeId);
    }
    this.inflight++;
    volume.inflight++;
    return volume;
  }

  private leaveWrite(volume: Volume): void {
    this.inflight--;
    volume.inflight--;
    if (this.inflight === 0 && this.drained !== null) this.drained.open();
    if (volume.inflight === 0 && volume.drained !== null) volume.drained.open();
  }

  private async lockChunk(volume: Volume, chunk: number): Promise<() => void> {
    for (let held = volume.locks.get(chunk); held !== undefined; held = volume.locks.get(chunk)) await held;
    const gate = new Gate();
    volume.locks.set(chunk, gate.promise);
    return () => {
      volume.locks.delete(chunk);
      gate.open();
    };
  }

  /**
   * Writes part of one chunk. In place if the head owns the chunk and it was allocated in
   * this epoch (no committed entry can point at it, D3); otherwise into a fresh slot, copying
   * the untouched part of the chunk the head currently sees.
   */
  private async writeChunk(volume: Volume, chunk: number, inChunk: number, piece: Buffer): Promise<void> {
    const unlock = await this.lockChunk(volume, chunk);
    try {
      const head = volume.map.at(chunk, volume.headGeneration);
      if (head !== undefined && head.slot !== tombstoneSlot && head.epoch === this.epoch) {
        await this.writeInPlace(volume, chunk, head, inChunk, piece);
        return;
      }
      const visible = head ?? this.lookup(volume, volume.headGeneration, chunk);
      const whole = inChunk === 0 && piece.length === this.chunkSizeBytes;
      // Always a whole chunk: a slot may hold an older chunk's bytes, and one extent per chunk
      // keeps later in-place writes cheap (writing sparse pieces measured slower).
      const slot = this.allocator.allocate();
      let checksums: Uint32Array;
      try {
        let image: Buffer;
        if (whole) {
          image = piece;
          checksums = sectorChecksums(image, 0, this.sectorsPerChunk);
        } else {
          image = Buffer.alloc(this.chunkSizeBytes);
          checksums = new Uint32Array(this.sectorsPerChunk).fill(zeroSectorChecksum);
          if (visible !== undefined && visible.slot !== tombstoneSlot) {
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
      this.putEntry(volume, chunk, { generation: volume.headGeneration, slot, checksums, epoch: this.epoch });
    } finally {
      unlock();
    }
  }

  private async writeInPlace(volume: Volume, chunk: number, entry: Entry, inChunk: number, piece: Buffer): Promise<void> {
    const firstSector = Math.floor(inChunk / sectorBytes);
    const endSector = Math.ceil((inChunk + piece.length) / sectorBytes);
    let image = piece;
    if (inChunk % sectorBytes !== 0 || piece.length % sectorBytes !== 0) {
      image = Buffer.allocUnsafe((endSector - firstSector) * sectorBytes);
      const position = entry.slot * this.chunkSizeBytes + firstSector * sectorBytes;
      await this.readFully(image, position);
      if (!sectorsMatch(image, entry.checksums!.subarray(firstSector, endSector))) {
        throw new StrataError('CHECKSUM_MISMATCH', `checksum mismatch in volume ${volume.id} chunk ${chunk} (slot ${entry.slot})`);
      }
      piece.copy(image, inChunk - firstSector * sectorBytes);
    }
    try {
      await this.data.write(image, entry.slot * this.chunkSizeBytes + firstSector * sectorBytes);
    } catch (error) {
      throw ioError(error);
    }
    entry.checksums!.set(sectorChecksums(image, 0, endSector - firstSector), firstSector);
    this.markDirty(volume.id, chunk, entry.generation);
  }

  /** Reads a whole chunk for copy-on-write, verifying every sector. */
  private async readVerified(volume: Volume, chunk: number, entry: Entry, image: Buffer): Promise<void> {
    await this.readFully(image, entry.slot * this.chunkSizeBytes);
    if (!sectorsMatch(image, entry.checksums!)) {
      throw new StrataError('CHECKSUM_MISMATCH', `checksum mismatch in volume ${volume.id} chunk ${chunk} (slot ${entry.slot})`);
    }
  }

  /** Trim and write-zeroes: whole chunks become holes (metadata only); partial chunks are written. */
  private async zeroRange(volumeId: number, offsetBytes: number, lengthBytes: number, noHole: boolean): Promise<void> {
    const volume = await this.enterWrite(volumeId, offsetBytes, lengthBytes);
    try {
      const work: Promise<void>[] = [];
      this.forEachChunk(offsetBytes, lengthBytes, (chunk, inChunk, _offset, length) => {
        work.push(this.zeroChunk(volume, chunk, inChunk, length, noHole));
      });
      await Promise.all(work);
    } finally {
      this.leaveWrite(volume);
    }
  }

  private async zeroChunk(volume: Volume, chunk: number, inChunk: number, length: number, noHole: boolean): Promise<void> {
    const chunkEnd = Math.min(this.chunkSizeBytes, volume.sizeBytes - chunk * this.chunkSizeBytes);
    const wholeChunk = inChunk === 0 && length >= chunkEnd;
    if (noHole || !wholeChunk) {
      const visible = this.lookup(volume, volume.headGeneration, chunk);
      if (!noHole && (visible === undefined || visible.slot === tombstoneSlot)) return;
      await this.writeChunk(volume, chunk, inChunk, Buffer.alloc(length));
      return;
    }
    const unlock = await this.lockChunk(volume, chunk);
    try {
      const head = volume.map.at(chunk, volume.headGeneration);
      if (this.inheritsData(volume, chunk)) {
        if (head === undefined || head.slot !== tombstoneSlot) this.putEntry(volume, chunk, tombstone(volume.headGeneration));
      } else if (head !== undefined) {
        this.removeEntry(volume, chunk, volume.headGeneration);
      }
    } finally {
      unlock();
    }
  }

  /** True if, without its head entry, the head would read data for this chunk. */
  private inheritsData(volume: Volume, chunk: number): boolean {
    const older = volume.map.visible(chunk, volume.headGeneration - 1);
    if (older !== undefined) return older.slot !== tombstoneSlot;
    const origin = volume.origin;
    if (origin === null || chunk * this.chunkSizeBytes >= origin.sizeBytes) return false;
    const inherited = this.lookup(this.state.volume(origin.volumeId), origin.generation, chunk);
    return inherited !== undefined && inherited.slot !== tombstoneSlot;
  }

  // ---- map changes and commits ------------------------------------------------------------

  /** Puts an entry whose slot reference the caller already holds; drops the replaced one's. */
  private putEntry(volume: Volume, chunk: number, entry: Entry): void {
    const replaced = volume.map.put(chunk, entry);
    if (replaced !== undefined && replaced.slot !== tombstoneSlot) this.allocator.dereference(replaced.slot);
    this.markDirty(volume.id, chunk, entry.generation);
  }

  private removeEntry(volume: Volume, chunk: number, generation: number): void {
    const removed = volume.map.remove(chunk, generation);
    if (removed === undefined) return;
    if (removed.slot !== tombstoneSlot) this.allocator.dereference(removed.slot);
    this.markDirty(volume.id, chunk, generation);
  }

  private markDirty(volumeId: number, chunk: number, generation: number): void {
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

  private change(change: StructuralChange): void {
    this.state.apply(change);
    this.structural.push(change);
  }

  /**
   * One commit (D1–D3): hold new writes, wait for in-flight ones, capture every change since the
   * last commit and start a new epoch, let writes go on; then sync the data file, and only
   * then append and sync the journal frame (or write a checkpoint). Slots freed by the
   * captured changes become reusable after that (D5).
   */
  private async commit(): Promise<void> {
    this.checkUsable();
    const gate = new Gate();
    this.poolGate = gate;
    let batch: Batch | null;
    let image: { parts: Buffer[]; bytes: number } | null = null;
    try {
      await this.drainPool();
      batch = mergeBatches(this.noSpace.held, this.capture(), this.noSpace.heldParked); // Disk full (4/5)
      this.noSpace.held = null;
      if (this.checkpointWanted || this.log.wantsCheckpoint(limits.journalBytesCheckpointAbove)) image = this.checkpointImage();
      this.epoch++;
    } finally {
      this.poolGate = null;
      gate.open();
    }
    if (batch === null && image === null) {
      this.noSpace.sinceMs = null; // Disk full (4/5): nothing is waiting to be written
      return;
    }
    try {
      await this.data.sync();
      if (image !== null) {
        await this.log.checkpoint(image.parts, image.bytes);
        this.checkpointWanted = false;
      } else {
        await this.log.append(batch!.parts, batch!.bytes);
      }
    } catch (error) {
      // Disk full (4/5): the journal append and the checkpoint leave nothing half-done that the
      // next attempt does not overwrite (MetadataLog advances only after a durable write), so the
      // batch is kept and written first by the next commit; its freed slots stay parked (D5).
      if (isStrataError(error, 'NO_SPACE')) {
        this.noSpace.held = batch;
        this.noSpace.sinceMs ??= Date.now();
        throw error;
      }
      this.failure = ioError(error);
      throw this.failure;
    }
    this.noSpace.sinceMs = null;
    for (const parked of this.noSpace.heldParked.splice(0)) this.allocator.release(parked); // Disk full (4/5)
    if (batch !== null) this.allocator.release(batch.parked);
  }

  private async drainPool(): Promise<void> {
    while (this.inflight > 0) {
      this.drained = new Gate();
      await this.drained.promise;
      this.drained = null;
    }
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
    return { parts, bytes, parked: this.allocator.takeParked() };
  }

  /** The whole metadata, for a checkpoint: state JSON then one put record per entry. */
  private checkpointImage(): { parts: Buffer[]; bytes: number } {
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
    const parts = [head, json, records.subarray(0, offset)];
    return { parts, bytes: 4 + json.length + offset };
  }

  /** Holds new writes to `volumes`, waits for their in-flight writes, runs `body`, releases. */
  private async fence(volumes: Volume[], body: () => void): Promise<void> {
    const gates = volumes.map(() => new Gate());
    // Wait for any fence already held on these volumes, then hold our own.
    for (;;) {
      const held = volumes.find((volume) => volume.gate !== null);
      if (held === undefined) break;
      await held.gate!.promise;
    }
    volumes.forEach((volume, i) => (volume.gate = gates[i]));
    try {
      for (const volume of volumes) {
        while (volume.inflight > 0) {
          volume.drained = new Gate();
          await volume.drained.promise;
          volume.drained = null;
        }
      }
      this.checkUsable();
      for (const volume of volumes) {
        if (volume.state !== 'available' || this.state.volumes.get(volume.id) !== volume) {
          throw new StrataError('NOT_FOUND', `volume ${volume.id} was deleted`);
        }
      }
      body();
    } finally {
      volumes.forEach((volume, i) => {
        volume.gate = null;
        gates[i].open();
      });
    }
  }

  // ---- background jobs --------------------------------------------------------------------

  private startJob(kind: EngineJob['kind'], targetId: number, run: (job: Job) => Promise<void>): Job {
    const job = new Job(kind, targetId);
    this.running.add(job);
    job.done = (async () => {
      await Promise.resolve();
      try {
        await run(job);
      } finally {
        this.running.delete(job);
      }
    })();
    job.done.catch(() => undefined);
    return job;
  }

  private resumeJobs(): void {
    for (const volume of this.state.volumes.values()) {
      if (volume.state === 'deleting') this.startJob('delete-volume', volume.id, (job) => this.runDeleteVolume(job, volume));
    }
    for (const snapshot of this.state.snapshots.values()) {
      const volume = this.state.volumes.get(snapshot.volumeId);
      if (snapshot.state === 'deleting' && volume?.state === 'available') {
        this.startJob('delete-snapshot', snapshot.id, (job) => this.runDeleteSnapshot(job, snapshot));
      }
    }
    for (const volume of this.state.volumes.values()) {
      if (volume.state === 'available' && this.state.cloneDepth(volume) > limits.cloneDepthFlattenAbove) this.flatten(volume.id);
    }
  }

  /** Runs `step` over items in slices, yielding to foreground I/O between slices. */
  private async inSlices<T>(job: Job, items: T[], step: (item: T) => void): Promise<void> {
    for (let start = 0; start < items.length; start += limits.jobEntriesPerStep) {
      this.checkUsable();
      if (this.stopping) throw new StrataError('CLOSED', 'the engine is closing; the job resumes when the pool is opened again');
      const end = Math.min(items.length, start + limits.jobEntriesPerStep);
      for (let i = start; i < end; i++) step(items[i]);
      job.advance(end - start);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Deletes a snapshot in O(entries it may hold alone): those in (previous live view, its generation]. */
  private async runDeleteSnapshot(job: Job, snapshot: Snapshot): Promise<void> {
    const volume = this.state.volume(snapshot.volumeId);
    for (const clone of this.state.clonesOf(volume.id, snapshot.generation)) {
      if (clone.state === 'available') await this.flatten(clone.id).done;
    }
    volume.removeLiveGeneration(snapshot.generation);
    const below = volume.greatestLiveBelow(snapshot.generation);
    const candidates = volume.map.entriesInGenerations(below, snapshot.generation);
    job.addTotal(candidates.length);
    const stillHere = () => this.state.snapshots.get(snapshot.id) === snapshot;
    await this.inSlices(job, candidates, ([chunk, generation]) => {
      if (!stillHere()) return; // the whole volume was deleted meanwhile
      const entry = volume.map.at(chunk, generation);
      if (entry !== undefined && volume.isGarbage(chunk, entry)) this.removeEntry(volume, chunk, generation);
    });
    if (stillHere()) this.change({ op: 'snapshot-delete', snapshotId: snapshot.id });
    await this.flush();
  }

  private async runDeleteVolume(job: Job, volume: Volume): Promise<void> {
    for (const clone of this.state.clonesOf(volume.id)) {
      if (clone.state === 'available') {
        await this.flatten(clone.id).done;
      } else {
        // A clone being deleted still names this volume as its origin: let it go first.
        const deleting = [...this.running].find((other) => other.kind === 'delete-volume' && other.targetId === clone.id);
        await deleting?.done.catch(() => undefined);
      }
    }
    // A flatten of this volume stops at its next slice (the volume is deleting); let it.
    const flattening = [...this.running].find((other) => other.kind === 'flatten' && other.targetId === volume.id);
    await flattening?.done.catch(() => undefined);
    // Wait out writes that passed the gate before the volume was marked deleting.
    await this.fence([volume], () => undefined).catch(() => undefined);
    const entries = [...volume.map.all()].map(([chunk, entry]) => [chunk, entry.generation] as const);
    job.addTotal(entries.length);
    await this.inSlices(job, entries, ([chunk, generation]) => this.removeEntry(volume, chunk, generation));
    this.change({ op: 'volume-delete', volumeId: volume.id });
    await this.flush();
  }

  /** Gives a clone its own generation-0 entries for everything it reads through its origin. */
  private async runFlatten(job: Job, volume: Volume): Promise<void> {
    const origin = volume.origin;
    if (origin === null) return;
    const source = this.state.volume(origin.volumeId);
    const sourceView: ResolvedView = { volume: source, generation: origin.generation, sizeBytes: origin.sizeBytes, writable: false };
    const chunks = this.candidateChunks(sourceView, 0, origin.sizeBytes);
    job.addTotal(chunks.length);
    await this.inSlices(job, chunks, (chunk) => {
      if (volume.state !== 'available') return; // being deleted: nothing left to flatten for
      if (volume.map.at(chunk, 0) !== undefined || !this.readsThrough(volume, chunk)) return;
      const entry = this.lookup(source, origin.generation, chunk);
      if (entry === undefined || entry.slot === tombstoneSlot) return;
      this.allocator.reference(entry.slot);
      this.putEntry(volume, chunk, { generation: 0, slot: entry.slot, checksums: entry.checksums, epoch: -1 });
    });
    if (volume.state === 'available' && this.state.volumes.get(volume.id) === volume) {
      this.change({ op: 'flatten-done', volumeId: volume.id });
    }
    await this.flush();
  }

  // ---- checks -----------------------------------------------------------------------------

  private checkWritable(): void {
    this.checkUsable();
    if (this.readOnly) throw new StrataError('READ_ONLY', 'the pool is open read-only');
  }

  private checkUsable(): void {
    if (this.closed) throw new StrataError('CLOSED');
    if (this.failure !== null) throw this.failure;
  }

  private liveVolume(volumeId: number): Volume {
    const volume = this.state.volume(volumeId);
    if (volume.state !== 'available') throw new StrataError('NOT_FOUND', `volume ${volumeId} is being deleted`);
    return volume;
  }

  private liveSnapshot(snapshotId: number): Snapshot {
    const snapshot = this.state.snapshot(snapshotId);
    if (snapshot.state !== 'available') throw new StrataError('NOT_FOUND', `snapshot ${snapshotId} is being deleted`);
    return snapshot;
  }

  private *allReferencedSlots(): Generator<number> {
    for (const volume of this.state.volumes.values()) {
      for (const [, entry] of volume.map.all()) if (entry.slot !== tombstoneSlot) yield entry.slot;
    }
  }
}

// ---- helpers ------------------------------------------------------------------------------

/** Disk full (5/5): a commit held back by NO_SPACE, and since when commits have failed so. */
interface NoSpaceState {
  held: Batch | null;
  /** Parked slots of held batches merged into later ones: released with the commit that writes them (D5). */
  heldParked: number[][];
  sinceMs: number | null;
}

/**
 * One frame holding `first` then `second`: replayed, it is exactly the two frames in order (D7).
 * The allocator knows each batch's parked slots by the array it handed out, so `first`'s go to
 * `heldParked` instead of being copied.
 */
function mergeBatches(first: Batch | null, second: Batch | null, heldParked: number[][]): Batch | null {
  if (first === null) return second;
  if (second === null) return first;
  heldParked.push(first.parked);
  return { parts: [...first.parts, ...second.parts], bytes: first.bytes + second.bytes, parked: second.parked };
}

function replayRecords(state: PoolState, payload: Buffer, sectorsPerChunk: number): void {
  for (const record of decodeRecords(payload, sectorsPerChunk)) {
    if (record.type === recordType.structural) {
      state.apply(record.change);
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
}

function tombstone(generation: number): Entry {
  return { generation, slot: tombstoneSlot, checksums: null, epoch: -1 };
}

function checkVolumeSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < limits.volumeSizeBytesMin || sizeBytes % limits.volumeSizeBytesAlignment !== 0) {
    throw new StrataError('INVALID_ARGUMENT', `volume size must be a positive multiple of ${limits.volumeSizeBytesAlignment} bytes`);
  }
  if (sizeBytes > limits.volumeSizeBytesMax) {
    throw new StrataError('LIMIT_EXCEEDED', `volume size is limited to ${limits.volumeSizeBytesMax} bytes`);
  }
}

function checkRange(sizeBytes: number, offsetBytes: number, lengthBytes: number, lengthBytesMax: number = limits.requestSizeBytesMax): void {
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

function sectorChecksums(image: Buffer, firstSector: number, endSector: number): Uint32Array {
  const checksums = new Uint32Array(endSector - firstSector);
  for (let sector = firstSector; sector < endSector; sector++) {
    checksums[sector - firstSector] = crc32(image.subarray(sector * sectorBytes, (sector + 1) * sectorBytes));
  }
  return checksums;
}

function sectorsMatch(image: Buffer, expected: Uint32Array): boolean {
  for (let i = 0; i < expected.length; i++) {
    if (crc32(image.subarray(i * sectorBytes, (i + 1) * sectorBytes)) !== expected[i]) return false;
  }
  return true;
}

function sameChecksums(snapshot: Uint32Array, current: Uint32Array, firstSector: number): boolean {
  for (let i = 0; i < snapshot.length; i++) if (snapshot[i] !== current[firstSector + i]) return false;
  return true;
}

function ioError(error: unknown): StrataError {
  if (error instanceof StrataError) return error;
  return new StrataError('IO_ERROR', error instanceof Error ? error.message : String(error), { cause: error });
}
