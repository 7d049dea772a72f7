/**
 * The RBD backend's read-only queries over extents: block status, diff and space accounting,
 * all from rbd_diff_iterate2, which reads the object map (fast-diff) to skip objects that did
 * not change and lists the changed extents of the others.
 *
 * Accounting is RBD's: a snapshot's exclusive bytes are the bytes written between the snapshot
 * before it and this one that are changed again before the next one (or the head), i.e. the
 * data only this snapshot still holds; a volume's allocated bytes are the data written in each
 * interval between its snapshots and the head, summed (what `rbd du` counts).
 */
import type { ByteRange, Extent, ViewRef } from '../../engine/types.js';
import { checkRange } from '../../engine/views.js';
import { limits } from '../../lib/limits.js';
import { blockStatusOf, mergeRanges, overlapBytes, totalBytes, type DiffExtent } from './extents.js';
import type { RbdImage } from './image.js';
import { splitSnapshotId } from './naming.js';
import type { BackendContext, RbdSnapshots, SnapshotEntry } from './snapshots.js';

const blockBytes = limits.rbd.diffBlockSizeBytes;

export class RbdSpace {
  constructor(
    private readonly context: BackendContext,
    private readonly snapshots: RbdSnapshots,
  ) {}

  async blockStatus(image: RbdImage, offsetBytes: number, lengthBytes: number): Promise<Extent[]> {
    checkRange(await image.sizeBytes(), offsetBytes, lengthBytes, Infinity);
    if (lengthBytes === 0) return [];
    return blockStatusOf(await image.diff(null, offsetBytes, lengthBytes, true), offsetBytes, lengthBytes);
  }

  /** Ranges that may differ between `from` (null: empty) and `to`; views on different images differ wherever `to` has data. */
  async diff(from: ViewRef | null, to: ViewRef, toImage: RbdImage): Promise<ByteRange[]> {
    const sizeBytes = await toImage.sizeBytes();
    const fromPoint = from === null ? null : await this.point(from);
    const toPoint = await this.point(to);
    if (fromPoint === null || fromPoint.volumeId !== toPoint.volumeId) {
      return mergeRanges(dataOnly(await toImage.diff(null, 0, sizeBytes, true)), blockBytes, sizeBytes);
    }
    if (fromPoint.order === toPoint.order) return [];
    const [older, newer] = fromPoint.order < toPoint.order ? [fromPoint, toPoint] : [toPoint, fromPoint];
    const newerImage = newer.entry === null ? await this.context.head(newer.volumeId) : await this.snapshots.view(newer.entry.snapshotId);
    const extents = await newerImage.diff(older.entry?.name ?? null, 0, await newerImage.sizeBytes(), true);
    return mergeRanges(extents, blockBytes, Math.max(sizeBytes, await newerImage.sizeBytes()));
  }

  async exclusiveBytes(snapshotId: number): Promise<number> {
    const entry = await this.snapshots.entry(snapshotId);
    const entries = await this.snapshots.entries(entry.volumeId);
    const index = entries.findIndex((other) => other.id === entry.id);
    const previous = entries[index - 1];
    const next = entries[index + 1];
    const here = await this.snapshots.view(snapshotId);
    const written = mergeRanges(dataOnly(await here.diff(previous?.name ?? null, 0, entry.sizeBytes, false)), blockBytes, entry.sizeBytes);
    const after = next === undefined ? await this.context.head(entry.volumeId) : await this.snapshots.view(next.snapshotId);
    const afterSize = await after.sizeBytes();
    const changed = mergeRanges(await after.diff(entry.name, 0, afterSize, false), blockBytes, afterSize);
    return overlapBytes(written, changed);
  }

  async allocatedBytes(volumeId: number): Promise<number> {
    let total = 0;
    let previous: string | null = null;
    for (const entry of await this.snapshots.entries(volumeId)) {
      const view = await this.snapshots.view(entry.snapshotId);
      total += totalBytes(mergeRanges(dataOnly(await view.diff(previous, 0, entry.sizeBytes, false)), blockBytes, entry.sizeBytes));
      previous = entry.name;
    }
    const head = await this.context.head(volumeId);
    const size = await head.sizeBytes();
    return total + totalBytes(mergeRanges(dataOnly(await head.diff(previous, 0, size, false)), blockBytes, size));
  }

  /** Where a view sits in its volume's history: a snapshot (RBD ids grow with time) or the head (after all of them). */
  private async point(view: ViewRef): Promise<{ volumeId: number; order: number; entry: SnapshotEntry | null }> {
    if ('volumeId' in view) {
      await this.context.head(view.volumeId);
      return { volumeId: view.volumeId, order: Infinity, entry: null };
    }
    const entry = await this.snapshots.entry(view.snapshotId);
    return { volumeId: splitSnapshotId(view.snapshotId).volumeId, order: entry.id, entry };
  }
}

function dataOnly(extents: DiffExtent[]): DiffExtent[] {
  return extents.filter((extent) => extent.exists);
}
