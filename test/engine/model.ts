/**
 * A pure in-memory model of the engine's semantics: every view (live volume or snapshot) is a
 * byte array. The model is deliberately naive (copies everywhere) so that it is obviously right;
 * the engine must agree with it on every byte.
 *
 * Rules it encodes (src/engine/types.ts and the engine design):
 * - a new volume, and bytes added by growing one, read as zeroes; volumes never shrink;
 * - trim and write-zeroes make a range read as zeroes;
 * - a snapshot is a frozen copy of its volume's content and size at the instant it was taken;
 * - revert makes the volume's content the snapshot's, zero-extended to the volume's current size;
 * - a clone is a new volume with the snapshot's content, sized max(snapshot size, requested);
 * - deleting a volume deletes its snapshots; clones of it keep their content;
 * - a diff may report more than what changed, never less.
 */
import type { ByteRange, ViewRef } from '../../src/engine/types.js';

interface ModelVolume {
  readonly id: number;
  content: Uint8Array;
}

interface ModelSnapshot {
  readonly id: number;
  readonly volumeId: number;
  readonly content: Uint8Array;
}

export class EngineModel {
  private readonly volumes = new Map<number, ModelVolume>();
  private readonly snapshots = new Map<number, ModelSnapshot>();

  // ---- queries ----

  /** Live volume ids, oldest first. */
  volumeIds(): number[] {
    return [...this.volumes.keys()];
  }

  /** Live snapshot ids (of one volume, or of all), oldest first. */
  snapshotIds(volumeId?: number): number[] {
    const ids: number[] = [];
    for (const snapshot of this.snapshots.values()) {
      if (volumeId === undefined || snapshot.volumeId === volumeId) ids.push(snapshot.id);
    }
    return ids;
  }

  /** Every live view: volumes first, then snapshots, oldest first. */
  views(): ViewRef[] {
    return [
      ...this.volumeIds().map((volumeId) => ({ volumeId })),
      ...this.snapshotIds().map((snapshotId) => ({ snapshotId })),
    ];
  }

  hasVolume(volumeId: number): boolean {
    return this.volumes.has(volumeId);
  }

  hasSnapshot(snapshotId: number): boolean {
    return this.snapshots.has(snapshotId);
  }

  volumeOfSnapshot(snapshotId: number): number {
    return this.snapshotOf(snapshotId).volumeId;
  }

  sizeOf(view: ViewRef): number {
    return this.contentOf(view).byteLength;
  }

  /** The view's bytes. Read-only: callers must not change them. */
  contentOf(view: ViewRef): Uint8Array {
    return 'volumeId' in view ? this.volumeOf(view.volumeId).content : this.snapshotOf(view.snapshotId).content;
  }

  read(view: ViewRef, offsetBytes: number, lengthBytes: number): Uint8Array {
    const content = this.contentOf(view);
    checkRange(offsetBytes, lengthBytes, content.byteLength);
    return content.subarray(offsetBytes, offsetBytes + lengthBytes);
  }

  /** Offset of the first non-zero byte in the range, or -1 if it reads as zeroes. */
  firstNonZero(view: ViewRef, offsetBytes: number, lengthBytes: number): number {
    const content = this.contentOf(view);
    checkRange(offsetBytes, lengthBytes, content.byteLength);
    return firstNonZeroIn(content, offsetBytes, offsetBytes + lengthBytes);
  }

  /**
   * Checks a diff answer: every byte that differs between `from` (null: all zeroes) and `to`
   * must lie in one of `ranges`. Bytes of `to` past the end of `from` compare against zero.
   * Returns the offset of the first byte that differs but is not covered, or -1.
   */
  firstUncoveredDifference(from: ViewRef | null, to: ViewRef, ranges: readonly ByteRange[]): number {
    const target = this.contentOf(to);
    const base = from === null ? new Uint8Array(0) : this.contentOf(from);
    const sorted = ranges
      .map((range) => [Math.max(0, range.offsetBytes), Math.min(target.byteLength, range.offsetBytes + range.lengthBytes)])
      .filter(([start, end]) => start < end)
      .sort((a, b) => a[0] - b[0]);
    let position = 0;
    for (const [start, end] of sorted) {
      if (start > position) {
        const differs = firstDifferenceIn(base, target, position, start);
        if (differs >= 0) return differs;
      }
      position = Math.max(position, end);
    }
    return position < target.byteLength ? firstDifferenceIn(base, target, position, target.byteLength) : -1;
  }

  // ---- changes ----

  createVolume(volumeId: number, sizeBytes: number): void {
    if (this.volumes.has(volumeId)) throw new Error(`model: volume ${volumeId} exists`);
    this.volumes.set(volumeId, { id: volumeId, content: new Uint8Array(sizeBytes) });
  }

  write(volumeId: number, offsetBytes: number, data: Uint8Array): void {
    const volume = this.volumeOf(volumeId);
    checkRange(offsetBytes, data.byteLength, volume.content.byteLength);
    volume.content.set(data, offsetBytes);
  }

  /** Trim and write-zeroes: the range reads as zeroes afterwards. */
  zero(volumeId: number, offsetBytes: number, lengthBytes: number): void {
    const volume = this.volumeOf(volumeId);
    checkRange(offsetBytes, lengthBytes, volume.content.byteLength);
    volume.content.fill(0, offsetBytes, offsetBytes + lengthBytes);
  }

  grow(volumeId: number, sizeBytes: number): void {
    const volume = this.volumeOf(volumeId);
    if (sizeBytes < volume.content.byteLength) throw new Error(`model: volume ${volumeId} cannot shrink`);
    volume.content = zeroExtended(volume.content, sizeBytes);
  }

  snapshot(snapshotId: number, volumeId: number): void {
    if (this.snapshots.has(snapshotId)) throw new Error(`model: snapshot ${snapshotId} exists`);
    const volume = this.volumeOf(volumeId);
    this.snapshots.set(snapshotId, { id: snapshotId, volumeId, content: volume.content.slice() });
  }

  revert(volumeId: number, snapshotId: number): void {
    const volume = this.volumeOf(volumeId);
    const snapshot = this.snapshotOf(snapshotId);
    if (snapshot.volumeId !== volumeId) throw new Error(`model: snapshot ${snapshotId} is not of volume ${volumeId}`);
    volume.content = zeroExtended(snapshot.content, volume.content.byteLength);
  }

  /** Creates the clone; returns its size. */
  clone(volumeId: number, snapshotId: number, requestedSizeBytes?: number): number {
    const snapshot = this.snapshotOf(snapshotId);
    const sizeBytes = Math.max(snapshot.content.byteLength, requestedSizeBytes ?? 0);
    this.createVolume(volumeId, sizeBytes);
    this.volumeOf(volumeId).content = zeroExtended(snapshot.content, sizeBytes);
    return sizeBytes;
  }

  deleteSnapshot(snapshotId: number): void {
    this.snapshotOf(snapshotId);
    this.snapshots.delete(snapshotId);
  }

  /** Deletes the volume and its snapshots; clones of it keep their content. */
  deleteVolume(volumeId: number): void {
    this.volumeOf(volumeId);
    for (const snapshotId of this.snapshotIds(volumeId)) this.snapshots.delete(snapshotId);
    this.volumes.delete(volumeId);
  }

  private volumeOf(volumeId: number): ModelVolume {
    const volume = this.volumes.get(volumeId);
    if (volume === undefined) throw new Error(`model: no volume ${volumeId}`);
    return volume;
  }

  private snapshotOf(snapshotId: number): ModelSnapshot {
    const snapshot = this.snapshots.get(snapshotId);
    if (snapshot === undefined) throw new Error(`model: no snapshot ${snapshotId}`);
    return snapshot;
  }
}

export function describeView(view: ViewRef | null): string {
  if (view === null) return 'empty';
  return 'volumeId' in view ? `volume ${view.volumeId}` : `snapshot ${view.snapshotId}`;
}

function zeroExtended(content: Uint8Array, sizeBytes: number): Uint8Array {
  const copy = new Uint8Array(sizeBytes);
  copy.set(content.subarray(0, Math.min(content.byteLength, sizeBytes)));
  return copy;
}

const zeroes = new Uint8Array(64 * 1024);

/** First offset in [start, end) where `bytes` is not zero, or -1. */
function firstNonZeroIn(bytes: Uint8Array, start: number, end: number): number {
  for (let position = start; position < end; position += zeroes.byteLength) {
    const stop = Math.min(end, position + zeroes.byteLength);
    if (Buffer.compare(bytes.subarray(position, stop), zeroes.subarray(0, stop - position)) === 0) continue;
    for (let i = position; i < stop; i++) if (bytes[i] !== 0) return i;
  }
  return -1;
}

/** First offset in [start, end) where `target` differs from `base` zero-extended, or -1. */
function firstDifferenceIn(base: Uint8Array, target: Uint8Array, start: number, end: number): number {
  const baseEnd = Math.min(end, base.byteLength);
  if (start < baseEnd && Buffer.compare(base.subarray(start, baseEnd), target.subarray(start, baseEnd)) !== 0) {
    for (let i = start; i < baseEnd; i++) if (base[i] !== target[i]) return i;
  }
  return firstNonZeroIn(target, Math.max(start, base.byteLength), end);
}

function checkRange(offsetBytes: number, lengthBytes: number, sizeBytes: number): void {
  if (offsetBytes < 0 || lengthBytes < 0 || offsetBytes + lengthBytes > sizeBytes) {
    throw new Error(`model: range [${offsetBytes}, +${lengthBytes}) outside size ${sizeBytes}`);
  }
}
