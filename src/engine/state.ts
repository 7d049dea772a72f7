/**
 * The in-memory metadata of a pool (volumes, snapshots, their maps) and the one function that
 * applies structural changes to it, used both when a change is made and when the journal is
 * replayed, so that replay cannot drift from what was done.
 */
import { assert } from '../lib/assert.js';
import { StrataError } from '../lib/errors.js';
import { ChunkMap, type Entry } from './chunk-map.js';
import type { Origin, StructuralChange } from './layout.js';
import type { SnapshotState, VolumeState } from './types.js';

export class Gate {
  readonly promise: Promise<void>;
  open!: () => void;
  constructor() {
    this.promise = new Promise((resolve) => {
      this.open = resolve;
    });
  }
}

/** Index of the first element ≥ `value` in an ascending array (its length if none). */
function firstIndexAtOrAbove(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

export class Volume {
  state: VolumeState = 'available';
  /** The generation new writes go to; always greater than every snapshot generation. */
  headGeneration = 1;
  headParentSnapshotId: number | null = null;
  /** Generations of the live snapshot views, ascending. */
  readonly snapshotGenerations: number[] = [];
  readonly map = new ChunkMap();
  /** Chunk → the write holding it, so writes to one chunk run one at a time. */
  readonly locks = new Map<number, Promise<void>>();
  /** Set while a fence holds new writes back. */
  gate: Gate | null = null;
  inflight = 0;
  drained: Gate | null = null;
  flattenRunning = false;

  constructor(
    readonly id: number,
    public sizeBytes: number,
    readonly createdAtMs: number,
    public origin: Origin | null,
  ) {}

  /** The least live view generation ≥ `generation` (the head if no snapshot is). */
  leastLiveAtOrAbove(generation: number): number {
    const index = firstIndexAtOrAbove(this.snapshotGenerations, generation);
    return index < this.snapshotGenerations.length ? this.snapshotGenerations[index] : this.headGeneration;
  }

  /** The greatest live snapshot generation < `generation`, or -1. */
  greatestLiveBelow(generation: number): number {
    const index = firstIndexAtOrAbove(this.snapshotGenerations, generation);
    return index > 0 ? this.snapshotGenerations[index - 1] : -1;
  }

  removeLiveGeneration(generation: number): void {
    const index = this.snapshotGenerations.indexOf(generation);
    if (index >= 0) this.snapshotGenerations.splice(index, 1);
  }

  /**
   * An entry no live view of this volume can see is garbage. (A clone reads through a snapshot
   * generation, which stays live until the clone is flattened, so clones need no check here.)
   */
  isGarbage(chunk: number, entry: Entry): boolean {
    return this.leastLiveAtOrAbove(entry.generation) >= this.map.nextGenerationAbove(chunk, entry.generation);
  }
}

export interface Snapshot {
  id: number;
  volumeId: number;
  generation: number;
  sizeBytes: number;
  state: SnapshotState;
  parentSnapshotId: number | null;
  createdAtMs: number;
}

export class PoolState {
  readonly volumes = new Map<number, Volume>();
  readonly snapshots = new Map<number, Snapshot>();
  nextVolumeId = 1;
  nextSnapshotId = 1;

  volume(volumeId: number): Volume {
    const volume = this.volumes.get(volumeId);
    if (volume === undefined) throw new StrataError('NOT_FOUND', `volume ${volumeId} does not exist`);
    return volume;
  }

  snapshot(snapshotId: number): Snapshot {
    const snapshot = this.snapshots.get(snapshotId);
    if (snapshot === undefined) throw new StrataError('NOT_FOUND', `snapshot ${snapshotId} does not exist`);
    return snapshot;
  }

  snapshotsOf(volumeId: number): Snapshot[] {
    const volume = this.volume(volumeId);
    const found: Snapshot[] = [];
    for (const snapshot of this.snapshots.values()) if (snapshot.volumeId === volume.id) found.push(snapshot);
    return found.sort((a, b) => a.generation - b.generation);
  }

  /** Volumes that read through `volumeId` (optionally: through one generation of it). */
  clonesOf(volumeId: number, generation?: number): Volume[] {
    const found: Volume[] = [];
    for (const volume of this.volumes.values()) {
      const origin = volume.origin;
      if (origin !== null && origin.volumeId === volumeId && (generation === undefined || origin.generation === generation)) {
        found.push(volume);
      }
    }
    return found;
  }

  cloneDepth(volume: Volume): number {
    let depth = 0;
    for (let origin = volume.origin; origin !== null; origin = this.volume(origin.volumeId).origin) depth++;
    return depth;
  }

  apply(change: StructuralChange): void {
    switch (change.op) {
      case 'volume-create': {
        assert(!this.volumes.has(change.volumeId), `volume ${change.volumeId} created twice`);
        this.volumes.set(change.volumeId, new Volume(change.volumeId, change.sizeBytes, change.createdAtMs, change.origin));
        this.nextVolumeId = Math.max(this.nextVolumeId, change.volumeId + 1);
        return;
      }
      case 'volume-grow':
        this.volume(change.volumeId).sizeBytes = change.sizeBytes;
        return;
      case 'volume-deleting':
        this.volume(change.volumeId).state = 'deleting';
        return;
      case 'volume-delete': {
        this.volumes.delete(change.volumeId);
        for (const snapshot of [...this.snapshots.values()]) {
          if (snapshot.volumeId === change.volumeId) this.snapshots.delete(snapshot.id);
        }
        return;
      }
      case 'snapshot-create': {
        const volume = this.volume(change.volumeId);
        const generation = volume.headGeneration;
        this.snapshots.set(change.snapshotId, {
          id: change.snapshotId,
          volumeId: volume.id,
          generation,
          sizeBytes: volume.sizeBytes,
          state: 'available',
          parentSnapshotId: volume.headParentSnapshotId,
          createdAtMs: change.createdAtMs,
        });
        volume.snapshotGenerations.push(generation);
        volume.headGeneration = generation + 1;
        volume.headParentSnapshotId = change.snapshotId;
        this.nextSnapshotId = Math.max(this.nextSnapshotId, change.snapshotId + 1);
        return;
      }
      case 'snapshot-deleting':
        this.snapshot(change.snapshotId).state = 'deleting';
        return;
      case 'snapshot-delete': {
        const snapshot = this.snapshot(change.snapshotId);
        const volume = this.volume(snapshot.volumeId);
        volume.removeLiveGeneration(snapshot.generation);
        this.snapshots.delete(snapshot.id);
        for (const other of this.snapshots.values()) {
          if (other.parentSnapshotId === snapshot.id) other.parentSnapshotId = snapshot.parentSnapshotId;
        }
        if (volume.headParentSnapshotId === snapshot.id) volume.headParentSnapshotId = snapshot.parentSnapshotId;
        return;
      }
      case 'revert': {
        const volume = this.volume(change.volumeId);
        volume.headGeneration += 1;
        volume.headParentSnapshotId = change.snapshotId;
        return;
      }
      case 'flatten-done':
        this.volume(change.volumeId).origin = null;
        return;
    }
  }

  /** The checkpoint image of everything but the maps. */
  toJson(): string {
    return JSON.stringify({
      nextVolumeId: this.nextVolumeId,
      nextSnapshotId: this.nextSnapshotId,
      volumes: [...this.volumes.values()].map((volume) => ({
        id: volume.id,
        sizeBytes: volume.sizeBytes,
        createdAtMs: volume.createdAtMs,
        origin: volume.origin,
        state: volume.state,
        headGeneration: volume.headGeneration,
        headParentSnapshotId: volume.headParentSnapshotId,
        snapshotGenerations: volume.snapshotGenerations,
      })),
      snapshots: [...this.snapshots.values()],
    });
  }

  static fromJson(json: string): PoolState {
    const parsed = JSON.parse(json) as {
      nextVolumeId: number;
      nextSnapshotId: number;
      volumes: Array<{
        id: number;
        sizeBytes: number;
        createdAtMs: number;
        origin: Origin | null;
        state: VolumeState;
        headGeneration: number;
        headParentSnapshotId: number | null;
        snapshotGenerations: number[];
      }>;
      snapshots: Snapshot[];
    };
    const state = new PoolState();
    state.nextVolumeId = parsed.nextVolumeId;
    state.nextSnapshotId = parsed.nextSnapshotId;
    for (const saved of parsed.volumes) {
      const volume = new Volume(saved.id, saved.sizeBytes, saved.createdAtMs, saved.origin);
      volume.state = saved.state;
      volume.headGeneration = saved.headGeneration;
      volume.headParentSnapshotId = saved.headParentSnapshotId;
      volume.snapshotGenerations.push(...saved.snapshotGenerations);
      state.volumes.set(volume.id, volume);
    }
    for (const snapshot of parsed.snapshots) state.snapshots.set(snapshot.id, snapshot);
    return state;
  }
}
