/**
 * The integrity check: every invariant of a pool's metadata and stored data. Used by
 * `strata fsck`, by `Engine.fsck()` and by the tests after every step.
 */
import { crc32 } from 'node:zlib';
import { limits } from '../lib/limits.js';
import type { StorageFile } from '../storage/types.js';
import type { SlotAllocator } from './allocator.js';
import type { OverwriteLog } from './overwrite-log.js';
import { tombstoneSlot } from './layout.js';
import type { PoolState, Volume } from './state.js';
import type { FsckReport } from './types.js';

export interface FsckInput {
  state: PoolState;
  allocator: SlotAllocator;
  data: StorageFile;
  /** Overwrites not yet in place: their sectors are checked as they will be, their log slots are owned. */
  overwrites: OverwriteLog;
  chunkSizeBytes: number;
  sectorsPerChunk: number;
}

export async function checkPool(input: FsckInput): Promise<FsckReport> {
  const { state, allocator } = input;
  const violations: string[] = [];
  const references = new Map<number, number>();
  const checksumsBySlot = new Map<number, Uint32Array>();
  let entries = 0;

  for (const volume of state.volumes.values()) {
    violations.push(...checkVolume(state, volume));
    for (const violation of volume.map.indexViolations()) violations.push(`volume ${volume.id}: ${violation}`);
    for (const [chunk, entry] of volume.map.all()) {
      entries++;
      const where = `volume ${volume.id} chunk ${chunk} generation ${entry.generation}`;
      if (chunk * input.chunkSizeBytes >= volume.sizeBytes) violations.push(`${where}: entry beyond the volume size`);
      if (entry.generation < 0 || entry.generation > volume.headGeneration) violations.push(`${where}: generation outside [0, head]`);
      if (entry.slot === tombstoneSlot) {
        if (entry.checksums !== null) violations.push(`${where}: tombstone with checksums`);
        continue;
      }
      if (entry.checksums === null || entry.checksums.length !== input.sectorsPerChunk) {
        violations.push(`${where}: data entry without one checksum per sector`);
        continue;
      }
      references.set(entry.slot, (references.get(entry.slot) ?? 0) + 1);
      const shared = checksumsBySlot.get(entry.slot);
      if (shared === undefined) checksumsBySlot.set(entry.slot, entry.checksums);
      else if (!equalChecksums(shared, entry.checksums)) violations.push(`${where}: slot ${entry.slot} is owned by entries that disagree on its content`);
    }
  }
  for (const slot of input.overwrites.logSlots) {
    if (references.has(slot)) violations.push(`slot ${slot} is an overwrite log slot and also referenced by the map`);
    references.set(slot, (references.get(slot) ?? 0) + 1);
  }
  violations.push(...allocator.accountingViolations(references));

  let bytesVerified = 0;
  const image = Buffer.alloc(input.chunkSizeBytes);
  const slots = [...checksumsBySlot.keys()].sort((a, b) => a - b);
  for (const slot of slots) {
    const got = await input.data.read(image, 0, image.length, slot * input.chunkSizeBytes);
    if (got < image.length) image.fill(0, got);
    input.overwrites.patch(slot, 0, image);
    const expected = checksumsBySlot.get(slot)!;
    for (let sector = 0; sector < input.sectorsPerChunk; sector++) {
      const actual = crc32(image.subarray(sector * limits.sectorSizeBytes, (sector + 1) * limits.sectorSizeBytes));
      if (actual !== expected[sector]) violations.push(`slot ${slot} sector ${sector}: checksum mismatch`);
    }
    bytesVerified += image.length;
  }

  return {
    ok: violations.length === 0,
    violations,
    stats: {
      volumes: state.volumes.size,
      snapshots: state.snapshots.size,
      entries,
      chunksReferenced: references.size,
      chunksFree: allocator.freeCount,
      bytesVerified,
    },
  };
}

function checkVolume(state: PoolState, volume: Volume): string[] {
  const violations: string[] = [];
  const name = `volume ${volume.id}`;
  if (volume.sizeBytes <= 0 || volume.sizeBytes % limits.volumeSizeBytesAlignment !== 0 || volume.sizeBytes > limits.volumeSizeBytesMax) {
    violations.push(`${name}: size ${volume.sizeBytes} is not a valid volume size`);
  }
  const generations = volume.snapshotGenerations;
  for (let i = 0; i < generations.length; i++) {
    if (i > 0 && generations[i - 1] >= generations[i]) violations.push(`${name}: snapshot generations not ascending`);
    if (generations[i] >= volume.headGeneration) violations.push(`${name}: snapshot generation ${generations[i]} not below the head ${volume.headGeneration}`);
  }
  const live = new Set(generations);
  const snapshots = [...state.snapshots.values()].filter((snapshot) => snapshot.volumeId === volume.id);
  for (const snapshot of snapshots) {
    const where = `snapshot ${snapshot.id}`;
    if (snapshot.state === 'available' && !live.has(snapshot.generation)) violations.push(`${where}: available but not a live view`);
    if (snapshot.sizeBytes > volume.sizeBytes) violations.push(`${where}: larger than its volume`);
    if (snapshot.parentSnapshotId !== null) {
      const parent = state.snapshots.get(snapshot.parentSnapshotId);
      if (parent === undefined || parent.volumeId !== volume.id) violations.push(`${where}: parent ${snapshot.parentSnapshotId} is not a snapshot of the same volume`);
      else if (parent.generation >= snapshot.generation) violations.push(`${where}: parent is not older`);
    }
  }
  const byGeneration = new Set(snapshots.map((snapshot) => snapshot.generation));
  for (const generation of generations) {
    if (!byGeneration.has(generation)) violations.push(`${name}: live generation ${generation} has no snapshot`);
  }
  if (volume.origin !== null && volume.state === 'available') {
    const origin = state.snapshots.get(volume.origin.snapshotId);
    const source = state.volumes.get(volume.origin.volumeId);
    if (origin === undefined || source === undefined || origin.volumeId !== source.id || origin.generation !== volume.origin.generation) {
      violations.push(`${name}: origin snapshot ${volume.origin.snapshotId} is missing or moved`);
    } else if (!source.snapshotGenerations.includes(origin.generation)) {
      violations.push(`${name}: origin snapshot ${origin.id} is no longer a live view`);
    } else if (state.cloneDepth(volume) > limits.cloneDepthMax) {
      violations.push(`${name}: clone depth above ${limits.cloneDepthMax}`);
    }
  }
  return violations;
}

function equalChecksums(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
