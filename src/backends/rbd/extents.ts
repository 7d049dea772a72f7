/**
 * Extent arithmetic for the RBD backend: librbd's diff-iterate answers become Strata's block
 * status (holes between allocated extents), diffs rounded out to the diff block and merged, and
 * the overlap of two diffs (exclusive bytes).
 */
import type { ByteRange, Extent } from '../../engine/types.js';

export interface DiffExtent {
  offsetBytes: number;
  lengthBytes: number;
  exists: boolean;
}

/** Contiguous extents covering exactly [offset, offset + length): allocated ones from `allocated`, holes between. */
export function blockStatusOf(allocated: DiffExtent[], offsetBytes: number, lengthBytes: number): Extent[] {
  const end = offsetBytes + lengthBytes;
  const extents: Extent[] = [];
  let at = offsetBytes;
  const push = (to: number, hole: boolean) => {
    if (to <= at) return;
    const last = extents[extents.length - 1];
    if (last !== undefined && last.hole === hole) last.lengthBytes += to - at;
    else extents.push({ offsetBytes: at, lengthBytes: to - at, hole, zero: hole });
    at = to;
  };
  for (const extent of allocated) {
    if (!extent.exists) continue;
    const from = Math.max(extent.offsetBytes, offsetBytes);
    const to = Math.min(extent.offsetBytes + extent.lengthBytes, end);
    if (to <= from) continue;
    push(from, true);
    push(to, false);
  }
  push(end, true);
  return extents;
}

/** Ranges rounded out to `blockBytes`, sorted and merged, clamped to `sizeBytes`. */
export function mergeRanges(ranges: { offsetBytes: number; lengthBytes: number }[], blockBytes: number, sizeBytes: number): ByteRange[] {
  const rounded = ranges
    .filter((range) => range.lengthBytes > 0)
    .map((range) => {
      const start = Math.floor(range.offsetBytes / blockBytes) * blockBytes;
      const end = Math.min(Math.ceil((range.offsetBytes + range.lengthBytes) / blockBytes) * blockBytes, sizeBytes);
      return { start, end };
    })
    .sort((a, b) => a.start - b.start);
  const merged: ByteRange[] = [];
  for (const { start, end } of rounded) {
    const last = merged[merged.length - 1];
    if (last !== undefined && start <= last.offsetBytes + last.lengthBytes) {
      last.lengthBytes = Math.max(last.lengthBytes, end - last.offsetBytes);
    } else if (end > start) {
      merged.push({ offsetBytes: start, lengthBytes: end - start });
    }
  }
  return merged;
}

/** Total bytes of the ranges. */
export function totalBytes(ranges: ByteRange[]): number {
  return ranges.reduce((sum, range) => sum + range.lengthBytes, 0);
}

/** Bytes covered by both `a` and `b` (each sorted and merged). */
export function overlapBytes(a: ByteRange[], b: ByteRange[]): number {
  let total = 0;
  let j = 0;
  for (const range of a) {
    const end = range.offsetBytes + range.lengthBytes;
    while (j < b.length && b[j].offsetBytes + b[j].lengthBytes <= range.offsetBytes) j++;
    for (let k = j; k < b.length && b[k].offsetBytes < end; k++) {
      total += Math.min(end, b[k].offsetBytes + b[k].lengthBytes) - Math.max(range.offsetBytes, b[k].offsetBytes);
    }
  }
  return total;
}
