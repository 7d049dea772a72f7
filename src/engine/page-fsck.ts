/**
 * The integrity check of the paged map's durable state (its newest root record): every page
 * reachable from a root is sound (checksum, its own page number, the kind its parent expects),
 * keys ascend within each page and stay within the bounds the parent gives, all leaves are at
 * one depth, no page is reachable twice, free pages are neither reachable nor listed twice,
 * every page below the high-water mark is reachable, free or part of the free list (nothing
 * leaks), and the generation index holds exactly the keys of the chunk tree.
 *
 * Run it on a map with no checkpoint in flight (pages released by a running one are in limbo).
 * Memory is bounded by the tree depth plus one bit per page: the two trees are compared through
 * a count and two order-independent sums of per-key CRCs, not by holding their keys.
 */
import { crc32 } from 'node:zlib';
import { isStrataError } from '../lib/errors.js';
import { pageCount, pageHeaderBytes, pageKind, pageKindOf, pageProblem, tombstoneSlot } from './layout.js';
import { firstDataPage } from './page-store.js';
import { generationKey, parseChunkKey, type PagedMap } from './paged-map.js';
import type { PageTree } from './page-tree.js';

export interface PagedMapReport {
  violations: string[];
  stats: { pages: number; reachable: number; free: number; entries: number; leafFillPercent: number };
}

interface KeySums {
  count: number;
  sum: number;
  xor: number;
}

interface Walk {
  violations: string[];
  reachable: Uint8Array;
  leafDepth: number;
  leaves: number;
  leafEntries: number;
}

export async function checkPagedMap(map: PagedMap): Promise<PagedMapReport> {
  const store = map.store;
  const record = store.durableRecord;
  const walk: Walk = { violations: [], reachable: new Uint8Array(record.highWater), leafDepth: -1, leaves: 0, leafEntries: 0 };
  const chunkSums: KeySums = { count: 0, sum: 0, xor: 0 };
  const generationSums: KeySums = { count: 0, sum: 0, xor: 0 };

  await walkTree(store.readUncached.bind(store), map.chunkTree, 'chunk tree', record.roots[0], walk, (key, value) => {
    const parts = parseChunkKey(key);
    const slot = value.readUIntBE(0, 6);
    if (slot !== tombstoneSlot && slot >= 2 ** 47) walk.violations.push(`chunk tree: (${parts.volumeId}, ${parts.chunk}, ${parts.generation}) names slot ${slot}`);
    add(chunkSums, generationKey(parts.volumeId, parts.generation, parts.chunk));
  });
  const chunkLeaves = { leaves: walk.leaves, entries: walk.leafEntries };
  walk.leafDepth = -1;
  await walkTree(store.readUncached.bind(store), map.generationTree, 'generation index', record.roots[1], walk, (key) => add(generationSums, key));
  if (chunkSums.count !== generationSums.count || chunkSums.sum !== generationSums.sum || chunkSums.xor !== generationSums.xor) {
    walk.violations.push(`generation index does not hold the chunk tree's keys (${generationSums.count} index entries, ${chunkSums.count} entries)`);
  }

  let free: number[] = [];
  let listPages: number[] = [];
  try {
    ({ free, listPages } = await store.readFreeList(record));
  } catch (error) {
    if (!isStrataError(error, 'CORRUPT_METADATA')) throw error;
    walk.violations.push(`free list: ${error.message}`);
  }
  const listed = new Uint8Array(record.highWater);
  for (const page of [...free, ...listPages]) {
    if (page < firstDataPage || page >= record.highWater) {
      walk.violations.push(`free list names page ${page} outside [${firstDataPage}, ${record.highWater})`);
      continue;
    }
    if (listed[page] === 1) walk.violations.push(`page ${page} is listed free twice`);
    if (walk.reachable[page] === 1) walk.violations.push(`page ${page} is free but reachable from a root`);
    listed[page] = 1;
  }
  let reachable = 0;
  for (let page = firstDataPage; page < record.highWater; page++) {
    if (walk.reachable[page] === 1) reachable++;
    else if (listed[page] === 0) walk.violations.push(`page ${page} is leaked: neither reachable nor free`);
  }
  const capacity = chunkLeaves.leaves * map.chunkTree.leafCapacity;
  return {
    violations: walk.violations,
    stats: {
      pages: record.highWater,
      reachable,
      free: free.length,
      entries: chunkSums.count,
      leafFillPercent: capacity === 0 ? 100 : Math.round((100 * chunkLeaves.entries) / capacity),
    },
  };
}

function add(sums: KeySums, key: Buffer): void {
  const a = crc32(key);
  sums.count++;
  sums.sum = (sums.sum + a) >>> 0;
  sums.xor = (sums.xor ^ crc32(key, 0x9e37_79b9)) >>> 0;
}

/** Checks one tree depth-first; keys of page p must lie in [low, high) (null: unbounded). */
async function walkTree(
  read: (page: number) => Promise<Buffer>,
  tree: PageTree,
  name: string,
  root: number,
  walk: Walk,
  visit: (key: Buffer, value: Buffer) => void,
): Promise<void> {
  walk.leaves = 0;
  walk.leafEntries = 0;
  if (root === 0) return;
  const stack: Array<{ page: number; low: Buffer | null; high: Buffer | null; depth: number }> = [{ page: root, low: null, high: null, depth: 0 }];
  while (stack.length > 0) {
    const { page: pageNumber, low, high, depth } = stack.pop()!;
    const where = `${name} page ${pageNumber}`;
    if (pageNumber < firstDataPage || pageNumber >= walk.reachable.length) {
      walk.violations.push(`${where}: outside the page file`);
      continue;
    }
    if (walk.reachable[pageNumber] === 1) {
      walk.violations.push(`${where}: reachable twice`);
      continue;
    }
    walk.reachable[pageNumber] = 1;
    const page = await read(pageNumber);
    const problem = pageProblem(page, pageNumber);
    if (problem !== null) {
      walk.violations.push(`${name}: ${problem}`);
      continue;
    }
    const kind = pageKindOf(page);
    const count = pageCount(page);
    const stride = kind === pageKind.leaf ? tree.keyBytes + tree.valueBytes : tree.keyBytes + 4;
    const capacity = kind === pageKind.leaf ? tree.leafCapacity : tree.internalCapacity;
    if ((kind !== pageKind.leaf && kind !== pageKind.internal) || count === 0 || count > capacity) {
      walk.violations.push(`${where}: kind ${kind} with ${count} entries is not a tree page`);
      continue;
    }
    const keyAt = (index: number) => page.subarray(pageHeaderBytes + index * stride, pageHeaderBytes + index * stride + tree.keyBytes);
    for (let index = 0; index < count; index++) {
      const key = keyAt(index);
      if (index > 0 && keyAt(index - 1).compare(key) >= 0) walk.violations.push(`${where}: keys not ascending at entry ${index}`);
      const bounded = kind === pageKind.leaf || index > 0;
      if (bounded && ((low !== null && key.compare(low) < 0) || (high !== null && key.compare(high) >= 0))) {
        walk.violations.push(`${where}: key ${index} outside the range its parent gives`);
      }
    }
    if (kind === pageKind.leaf) {
      if (walk.leafDepth >= 0 && walk.leafDepth !== depth) walk.violations.push(`${where}: leaf at depth ${depth}, others at ${walk.leafDepth}`);
      walk.leafDepth = depth;
      walk.leaves++;
      walk.leafEntries += count;
      for (let index = 0; index < count; index++) {
        const at = pageHeaderBytes + index * stride;
        visit(keyAt(index), page.subarray(at + tree.keyBytes, at + stride));
      }
      continue;
    }
    for (let index = count - 1; index >= 0; index--) {
      stack.push({
        page: tree.child(page, index),
        low: index === 0 ? low : keyAt(index),
        high: index + 1 < count ? keyAt(index + 1) : high,
        depth: depth + 1,
      });
    }
  }
}
