/**
 * The copy-on-write engine: `Engine` implements `EngineApi` by composing the parts, each of which
 * owns its own state (ARCHITECTURE.md, "The engine's design"):
 *   views.ts         lookup (V1), block status, diff, exclusive and allocated bytes — reads only
 *   chunk-io.ts      reads that verify checksums; in-place, logged and copy-on-write writes
 *   overwrite-log.ts small overwrites of durable chunks until their commit is durable (D8)
 *   commit.ts        every map and refcount change, commits and checkpoints, replay (D1–D7)
 *   admission.ts     write admission, the pool hold of a commit, fences (G1), chunk locks
 *   jobs.ts          delete and flatten in slices, resumed on open
 * This file checks arguments and states, and orders the parts for each operation.
 */
import { isStrataError, StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import type { Storage, StorageFile } from '../storage/types.js';
import { Admission } from './admission.js';
import { SlotAllocator } from './allocator.js';
import { ChunkIo } from './chunk-io.js';
import { CommitPipeline, replayUnit } from './commit.js';
import { checkPool } from './fsck.js';
import { fileNames, tombstoneSlot, type OverwriteRecord } from './layout.js';
import { MetadataLog } from './metadata-log.js';
import { OverwriteLog } from './overwrite-log.js';
import { PoolState, type Volume } from './state.js';
import type {
  ByteRange,
  EngineApi,
  EngineJob,
  Extent,
  FsckReport,
  GroupSnapshotResult,
  PoolInfo,
  SnapshotInfo,
  ViewRef,
  VolumeInfo,
  WriteOptions,
  ZeroOptions,
} from './types.js';
import { checkRange, checkVolumeSize, isData, Views } from './views.js';
import { JobRunner } from './jobs.js';

export interface EngineOptions {
  /** Clock for creation times (tests pass a fixed one). */
  nowMs?: () => number;
  /** Open without writing anything (fsck of a stopped pool). */
  readOnly?: boolean;
}

export class Engine implements EngineApi {
  readonly chunkSizeBytes: number;
  readonly blockStatusIsCheap = true;
  private readonly sectorsPerChunk: number;
  private readonly nowMs: () => number;
  private readonly readOnly: boolean;
  private readonly allocator: SlotAllocator;
  private readonly overwrites: OverwriteLog;
  private readonly admission = new Admission();
  private readonly views: Views;
  private readonly pipeline: CommitPipeline;
  private readonly io: ChunkIo;
  private readonly jobRunner: JobRunner;
  private closed = false;

  private constructor(
    private readonly data: StorageFile,
    private readonly log: MetadataLog,
    private readonly state: PoolState,
    options: EngineOptions,
  ) {
    this.chunkSizeBytes = log.chunkSizeBytes;
    this.sectorsPerChunk = this.chunkSizeBytes / limits.sectorSizeBytes;
    this.nowMs = options.nowMs ?? Date.now;
    this.readOnly = options.readOnly ?? false;
    // D4: the allocator is rebuilt from the committed map; anything else is free.
    this.allocator = SlotAllocator.fromReferences(referencedSlots(state));
    this.overwrites = new OverwriteLog(data, () => this.allocator, this.chunkSizeBytes);
    this.views = new Views(state, this.allocator, this.chunkSizeBytes);
    this.pipeline = new CommitPipeline(state, this.allocator, log, data, this.overwrites, this.admission, this.sectorsPerChunk);
    this.io = new ChunkIo(data, this.views, this.pipeline, this.admission, this.allocator, this.overwrites);
    this.jobRunner = new JobRunner({
      state,
      views: this.views,
      pipeline: this.pipeline,
      admission: this.admission,
      allocator: this.allocator,
      checkUsable: () => this.checkUsable(),
    });
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
    const sectorsPerChunk = loaded.superblock.chunkSizeBytes / limits.sectorSizeBytes;
    let state = new PoolState();
    // D8: only the newest durable unit's overwrites may still be missing from their slots.
    let newestOverwrites: OverwriteRecord[] = [];
    if (loaded.checkpoint !== null) {
      const jsonBytes = loaded.checkpoint.readUInt32LE(0);
      state = PoolState.fromJson(loaded.checkpoint.toString('utf8', 4, 4 + jsonBytes));
      newestOverwrites = replayUnit(state, loaded.checkpoint.subarray(4 + jsonBytes), sectorsPerChunk);
    }
    for (const frame of loaded.frames) newestOverwrites = replayUnit(state, frame, sectorsPerChunk);
    const data = await storage.open(fileNames.data, { create: false });
    const engine = new Engine(data, log, state, options);
    await engine.overwrites.replay(newestOverwrites, !engine.readOnly);
    if (!engine.readOnly) engine.jobRunner.resume();
    return engine;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.jobRunner.stop();
    if (!this.readOnly && this.pipeline.failure === null) {
      this.pipeline.wantCheckpoint();
      // Closing on a full disk loses only what no flush acknowledged.
      await this.flush().catch((error: unknown) => {
        if (!isStrataError(error, 'NO_SPACE')) throw error;
      });
    }
    this.closed = true;
    await this.data.close();
    await this.log.close();
  }

  async info(): Promise<PoolInfo> {
    return {
      chunkSizeBytes: this.chunkSizeBytes,
      volumes: this.state.volumes.size,
      snapshots: this.state.snapshots.size,
      chunksAllocated: this.allocator.slotCount - this.allocator.freeCount - this.allocator.parkedCount,
      chunksFree: this.allocator.freeCount,
      chunksPending: this.allocator.parkedCount,
    };
  }

  health(): { writable: boolean; reasons: string[] } {
    const reasons: string[] = [];
    const failure = this.pipeline.failure;
    if (failure !== null) reasons.push(`the pool stopped after a storage failure (${failure.code}); restart it once the storage is fixed`);
    if (this.pipeline.noSpaceSinceMs !== null) reasons.push('no space for the pool metadata: flushes fail until space is freed');
    return { writable: reasons.length === 0, reasons };
  }

  // ---- volumes ----------------------------------------------------------------------------

  async createVolume(options: { sizeBytes: number }): Promise<VolumeInfo> {
    this.checkWritable();
    checkVolumeSize(options.sizeBytes);
    this.checkVolumeCount();
    const volumeId = this.state.nextVolumeId;
    this.pipeline.change({ op: 'volume-create', volumeId, sizeBytes: options.sizeBytes, createdAtMs: this.nowMs(), origin: null });
    await this.flush();
    return this.volumeInfo(volumeId);
  }

  async growVolume(volumeId: number, sizeBytes: number): Promise<VolumeInfo> {
    this.checkWritable();
    const volume = this.views.liveVolume(volumeId);
    checkVolumeSize(sizeBytes);
    if (sizeBytes < volume.sizeBytes) throw new StrataError('INVALID_ARGUMENT', 'a volume can grow but never shrink');
    if (sizeBytes > volume.sizeBytes) {
      this.pipeline.change({ op: 'volume-grow', volumeId, sizeBytes });
      await this.flush();
    }
    return this.volumeInfo(volumeId);
  }

  async volume(volumeId: number): Promise<VolumeInfo> {
    return this.volumeInfo(volumeId);
  }

  private volumeInfo(volumeId: number): VolumeInfo {
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

  async listVolumes(): Promise<VolumeInfo[]> {
    return [...this.state.volumes.keys()].sort((a, b) => a - b).map((id) => this.volumeInfo(id));
  }

  deleteVolume(volumeId: number): EngineJob {
    this.checkWritable();
    const volume = this.views.liveVolume(volumeId);
    this.pipeline.change({ op: 'volume-deleting', volumeId });
    return this.jobRunner.deleteVolume(volume);
  }

  // ---- I/O --------------------------------------------------------------------------------

  async read(view: ViewRef, offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    this.checkUsable();
    const resolved = this.views.resolve(view);
    checkRange(resolved.sizeBytes, offsetBytes, lengthBytes);
    return this.io.read(resolved, offsetBytes, lengthBytes);
  }

  async write(volumeId: number, offsetBytes: number, data: Uint8Array, options: WriteOptions = {}): Promise<void> {
    const volume = await this.admit(volumeId, offsetBytes, data.length);
    try {
      await this.io.write(volume, offsetBytes, Buffer.from(data.buffer, data.byteOffset, data.length));
    } finally {
      this.admission.leave(volume);
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
    return this.pipeline.flush();
  }

  async blockStatus(view: ViewRef, offsetBytes: number, lengthBytes: number): Promise<Extent[]> {
    this.checkUsable();
    const resolved = this.views.resolve(view);
    checkRange(resolved.sizeBytes, offsetBytes, lengthBytes, Infinity);
    return this.views.blockStatus(resolved, offsetBytes, lengthBytes);
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
    const volumes = volumeIds.map((id) => this.views.liveVolume(id));
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
        this.pipeline.change({ op: 'snapshot-create', snapshotId, volumeId: volume.id, createdAtMs: this.nowMs() });
        snapshotIds.push(snapshotId);
      }
    });
    const fenceHeldMs = performance.now() - fenceStart;
    await this.flush();
    return { snapshots: snapshotIds.map((id) => this.snapshotInfo(id)), fenceHeldMs };
  }

  async snapshot(snapshotId: number): Promise<SnapshotInfo> {
    return this.snapshotInfo(snapshotId);
  }

  private snapshotInfo(snapshotId: number): SnapshotInfo {
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

  async listSnapshots(volumeId: number): Promise<SnapshotInfo[]> {
    return this.state.snapshotsOf(volumeId).map((snapshot) => this.snapshotInfo(snapshot.id));
  }

  deleteSnapshot(snapshotId: number): EngineJob {
    this.checkUsable();
    const snapshot = this.views.liveSnapshot(snapshotId);
    this.views.liveVolume(snapshot.volumeId);
    this.checkWritable();
    this.pipeline.change({ op: 'snapshot-deleting', snapshotId });
    return this.jobRunner.deleteSnapshot(snapshot);
  }

  async exclusiveBytes(snapshotId: number): Promise<number> {
    return this.views.exclusiveBytes(this.state.snapshot(snapshotId));
  }

  async allocatedBytes(volumeId: number): Promise<number> {
    return this.views.allocatedBytes(this.state.volume(volumeId));
  }

  /**
   * Reverts in O(entries changed since the snapshot): entries only the old head could see are
   * dropped, and each chunk that changed after the snapshot gets an entry at the new head
   * generation holding the snapshot's value (sharing its slot). Snapshots taken after the
   * target keep their data: the volume continues on a new branch.
   */
  async revert(volumeId: number, snapshotId: number): Promise<VolumeInfo> {
    this.checkWritable();
    const volume = this.views.liveVolume(volumeId);
    const snapshot = this.views.liveSnapshot(snapshotId);
    if (snapshot.volumeId !== volume.id) {
      throw new StrataError('INVALID_ARGUMENT', `snapshot ${snapshotId} is not a snapshot of volume ${volumeId}`);
    }
    await this.fence([volume], () => {
      const oldHead = volume.headGeneration;
      const lastSnapshot = volume.greatestLiveBelow(oldHead);
      for (const [chunk, generation] of volume.map.entriesInGenerations(lastSnapshot, oldHead)) {
        this.pipeline.remove(volume, chunk, generation);
      }
      const changed = volume.map.chunksChangedIn(snapshot.generation, lastSnapshot);
      this.pipeline.change({ op: 'revert', volumeId, snapshotId });
      for (const chunk of changed) {
        const target = this.views.lookup(volume, snapshot.generation, chunk);
        if (!isData(target)) {
          this.pipeline.put(volume, chunk, { generation: volume.headGeneration, slot: tombstoneSlot, checksums: null, epoch: -1 });
        } else {
          this.allocator.reference(target.slot);
          this.pipeline.put(volume, chunk, { generation: volume.headGeneration, slot: target.slot, checksums: target.checksums, epoch: -1 });
        }
      }
    });
    await this.flush();
    return this.volumeInfo(volumeId);
  }

  async clone(snapshotId: number, options: { sizeBytes?: number } = {}): Promise<VolumeInfo> {
    this.checkWritable();
    const snapshot = this.views.liveSnapshot(snapshotId);
    const source = this.state.volume(snapshot.volumeId);
    const sizeBytes = Math.max(snapshot.sizeBytes, options.sizeBytes ?? 0);
    checkVolumeSize(sizeBytes);
    this.checkVolumeCount();
    const depth = this.state.cloneDepth(source) + 1;
    if (depth > limits.cloneDepthMax) {
      throw new StrataError('LIMIT_EXCEEDED', `clone depth would exceed ${limits.cloneDepthMax}; flatten volume ${source.id} first`);
    }
    const volumeId = this.state.nextVolumeId;
    this.pipeline.change({
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
    return this.jobRunner.flatten(this.views.liveVolume(volumeId));
  }

  async diff(from: ViewRef | null, to: ViewRef): Promise<ByteRange[]> {
    this.checkUsable();
    const target = this.views.resolve(to);
    return this.views.diff(from === null ? null : this.views.resolve(from), target);
  }

  jobs(): EngineJob[] {
    return this.jobRunner.list();
  }

  async fsck(): Promise<FsckReport> {
    return checkPool({
      state: this.state,
      allocator: this.allocator,
      data: this.data,
      overwrites: this.overwrites,
      chunkSizeBytes: this.chunkSizeBytes,
      sectorsPerChunk: this.sectorsPerChunk,
    });
  }

  // ---- admission and checks ---------------------------------------------------------------

  private async admit(volumeId: number, offsetBytes: number, lengthBytes: number): Promise<Volume> {
    this.checkWritable();
    checkRange(this.views.liveVolume(volumeId).sizeBytes, offsetBytes, lengthBytes);
    return this.admission.admit(() => {
      this.checkUsable();
      return this.views.liveVolume(volumeId);
    });
  }

  private async zeroRange(volumeId: number, offsetBytes: number, lengthBytes: number, noHole: boolean): Promise<void> {
    const volume = await this.admit(volumeId, offsetBytes, lengthBytes);
    try {
      await this.io.zeroRange(volume, offsetBytes, lengthBytes, noHole);
    } finally {
      this.admission.leave(volume);
    }
  }

  /** A fence over live volumes of this pool (G1): `body` runs with their writes drained. */
  private fence(volumes: Volume[], body: () => void): Promise<void> {
    const check = () => {
      this.checkUsable();
      for (const volume of volumes) {
        if (this.state.volumes.get(volume.id) !== volume) throw new StrataError('NOT_FOUND', `volume ${volume.id} was deleted`);
      }
    };
    return this.admission.fence(volumes, check, body);
  }

  private checkVolumeCount(): void {
    if (this.state.volumes.size >= limits.volumesMax) {
      throw new StrataError('LIMIT_EXCEEDED', `a pool holds at most ${limits.volumesMax} volumes`);
    }
  }

  private checkWritable(): void {
    this.checkUsable();
    if (this.readOnly) throw new StrataError('READ_ONLY', 'the pool is open read-only');
  }

  private checkUsable(): void {
    if (this.closed) throw new StrataError('CLOSED');
    if (this.pipeline.failure !== null) throw this.pipeline.failure;
  }
}

function* referencedSlots(state: PoolState): Generator<number> {
  for (const volume of state.volumes.values()) {
    for (const [, entry] of volume.map.all()) if (entry.slot !== tombstoneSlot) yield entry.slot;
  }
}
