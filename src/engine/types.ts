/**
 * Public types of the storage engine. The engine is a library: no networking, no
 * configuration; all I/O goes through a `Storage` (src/storage/types.ts).
 */

export type VolumeId = number;
export type SnapshotId = number;

/** What a read, block-status or diff looks at: the live volume or one of its snapshots. */
export type ViewRef = { volumeId: VolumeId } | { snapshotId: SnapshotId };

export type VolumeState = 'available' | 'deleting';
export type SnapshotState = 'available' | 'deleting';

export interface VolumeInfo {
  id: VolumeId;
  sizeBytes: number;
  state: VolumeState;
  /** The snapshot this volume's current content descends from (null before the first snapshot, or after a revert to none). */
  headParentSnapshotId: SnapshotId | null;
  /** For a clone: the snapshot it was cloned from, while it still reads through it (null once flattened). */
  originSnapshotId: SnapshotId | null;
  /** Number of clone parents a read may fall through (0 for a flat volume). */
  cloneDepth: number;
  createdAtMs: number;
}

export interface SnapshotInfo {
  id: SnapshotId;
  volumeId: VolumeId;
  sizeBytes: number;
  state: SnapshotState;
  /** Parent in the volume's snapshot tree: the snapshot the volume's data descended from when this one was taken. */
  parentSnapshotId: SnapshotId | null;
  createdAtMs: number;
}

/** A run of bytes with one allocation state, as NBD base:allocation reports it. */
export interface Extent {
  offsetBytes: number;
  lengthBytes: number;
  /** No storage is allocated for this range. */
  hole: boolean;
  /** The range reads as zeroes. */
  zero: boolean;
}

export interface ByteRange {
  offsetBytes: number;
  lengthBytes: number;
}

export interface WriteOptions {
  /** Force unit access: the write is durable when the promise resolves. */
  fua?: boolean;
}

export interface ZeroOptions extends WriteOptions {
  /** Keep storage allocated (write real zeroes) instead of punching a hole. */
  noHole?: boolean;
}

export interface JobProgress {
  done: number;
  total: number;
}

/** Background work (delete, flatten). `done` resolves when the work is durable. */
export interface EngineJob {
  readonly kind: 'delete-snapshot' | 'delete-volume' | 'flatten';
  readonly targetId: number;
  progress(): JobProgress;
  readonly done: Promise<void>;
}

export interface GroupSnapshotResult {
  snapshots: SnapshotInfo[];
  /** How long new writes to the members were held back, in milliseconds. */
  fenceHeldMs: number;
}

export interface FsckReport {
  ok: boolean;
  violations: string[];
  stats: {
    volumes: number;
    snapshots: number;
    entries: number;
    chunksReferenced: number;
    chunksFree: number;
    bytesVerified: number;
  };
}

export interface PoolInfo {
  chunkSizeBytes: number;
  volumes: number;
  snapshots: number;
  chunksAllocated: number;
  chunksFree: number;
  /** Unreferenced chunks that become free once the next commit is durable (D5; overwrite log slots, D8). */
  chunksPending: number;
}

/**
 * The engine's public surface. `Engine` (src/engine/engine.ts) implements it; open one with
 * `createPool(storage, options)` or `openPool(storage)` from src/engine/index.ts.
 *
 * Durability (NBD semantics): `write`, `trim` and `writeZeroes` are durable once a later
 * `flush` resolves, or on return when `fua` is set. Structural operations (create, grow,
 * snapshot, group snapshot, revert, clone) are durable when their promise resolves. Offsets
 * and lengths are in bytes; any alignment is accepted (partial chunks are read-modify-write).
 * Failures are `StrataError`s (src/lib/errors.ts).
 *
 * Every query is asynchronous, even where the embedded engine answers from memory: a backend
 * may have to read its metadata from disk or ask a cluster (issue: Ceph RBD), and callers must
 * not depend on an answer arriving in the same tick.
 */
export interface EngineApi {
  readonly chunkSizeBytes: number;
  /**
   * Whether `blockStatus` is answered without I/O (from memory), so that a reader may ask it
   * before every READ to send holes instead of zeroes. False where it costs a round trip.
   */
  readonly blockStatusIsCheap: boolean;
  info(): Promise<PoolInfo>;
  /** Why the pool cannot take writes now, if it cannot (a failure, or commits held back by a full disk). */
  health(): { writable: boolean; reasons: string[] };

  createVolume(options: { sizeBytes: number }): Promise<VolumeInfo>;
  /** Grows a volume (never shrinks). */
  growVolume(volumeId: VolumeId, sizeBytes: number): Promise<VolumeInfo>;
  /** Deletes a volume and all its snapshots in the background; clones of it are flattened first. */
  deleteVolume(volumeId: VolumeId): EngineJob;
  volume(volumeId: VolumeId): Promise<VolumeInfo>;
  listVolumes(): Promise<VolumeInfo[]>;

  read(view: ViewRef, offsetBytes: number, lengthBytes: number): Promise<Buffer>;
  write(volumeId: VolumeId, offsetBytes: number, data: Uint8Array, options?: WriteOptions): Promise<void>;
  /** Discards a range; it reads as zeroes afterwards. */
  trim(volumeId: VolumeId, offsetBytes: number, lengthBytes: number, options?: WriteOptions): Promise<void>;
  writeZeroes(volumeId: VolumeId, offsetBytes: number, lengthBytes: number, options?: ZeroOptions): Promise<void>;
  /** Makes every write that resolved before this call durable. */
  flush(): Promise<void>;
  /** Allocation map of a range of a view, as contiguous extents covering exactly the range. */
  blockStatus(view: ViewRef, offsetBytes: number, lengthBytes: number): Promise<Extent[]>;

  createSnapshot(volumeId: VolumeId): Promise<SnapshotInfo>;
  /** One snapshot per volume, all at one instant behind a write fence. */
  createGroupSnapshot(volumeIds: VolumeId[]): Promise<GroupSnapshotResult>;
  /** Deletes a snapshot in the background, freeing the data only it held. */
  deleteSnapshot(snapshotId: SnapshotId): EngineJob;
  snapshot(snapshotId: SnapshotId): Promise<SnapshotInfo>;
  listSnapshots(volumeId: VolumeId): Promise<SnapshotInfo[]>;
  /** Bytes that deleting this snapshot would free. */
  exclusiveBytes(snapshotId: SnapshotId): Promise<number>;
  /** Bytes of pool storage referenced by the volume and its snapshots. */
  allocatedBytes(volumeId: VolumeId): Promise<number>;

  /** Makes the volume's content equal to the snapshot's; content written since stays in any snapshot that holds it. */
  revert(volumeId: VolumeId, snapshotId: SnapshotId): Promise<VolumeInfo>;
  /** A new writable volume whose content starts as the snapshot's. */
  clone(snapshotId: SnapshotId, options?: { sizeBytes?: number }): Promise<VolumeInfo>;
  /** Copies a clone's inherited map entries so it no longer reads through its origin. */
  flatten(volumeId: VolumeId): EngineJob;

  /** Byte ranges whose content may differ between `from` (null: an empty volume) and `to`. */
  diff(from: ViewRef | null, to: ViewRef): Promise<ByteRange[]>;

  /** Background jobs still running, including those resumed after reopening. */
  jobs(): EngineJob[];
  /** Checks every invariant of the in-memory state and the stored data. */
  fsck(): Promise<FsckReport>;
  /** Flushes, checkpoints and releases the storage. */
  close(): Promise<void>;
}
