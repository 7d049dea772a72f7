/**
 * Metadata at scale: prints RSS, start time, commit and checkpoint pauses (p50/p99/max) and
 * random 4 KiB rates, for
 *   1. the engine as it is (map in the heap, whole-map checkpoints), with 4 KiB chunks and
 *      STRATA_SCALE_ENGINE_GIB written (default 1): every figure through the engine API;
 *   2. the paged map (src/engine/paged-map.ts) on its own, at the entries of 1 GiB of 4 KiB
 *      chunks (262,144) and at STRATA_SCALE_ENTRIES (default 8,388,608: 32 GiB of 4 KiB chunks,
 *      the map of 512 GiB at 64 KiB chunks), with a 64 MiB page cache (STRATA_SCALE_CACHE_MIB).
 *      Slots are synthetic: this measures the map's own cost, which is what grows with the pool.
 * A "pause" is the event loop's longest stall (perf_hooks' delay histogram) while the work runs:
 * the time a write or flush arriving then would wait. Real files, real fsyncs, in $TMPDIR.
 *
 *   npm run bench:scale                       full sizes (several minutes)
 *   STRATA_SCALE_ENTRIES=1000000 npm run bench:scale
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createPool, openPool } from '../src/engine/index.js';
import { PagedMap } from '../src/engine/paged-map.js';
import { FileStorage } from '../src/storage/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const engineGiB = Number(process.env.STRATA_SCALE_ENGINE_GIB ?? 1);
const fullEntries = Number(process.env.STRATA_SCALE_ENTRIES ?? 8 * 1024 * 1024);
const cacheBytes = Number(process.env.STRATA_SCALE_CACHE_MIB ?? 64) * MiB;
const batchEntries = 65_536;

function yieldNow(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function rssMiB(): number {
  return process.memoryUsage().rss / MiB;
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function line(label: string, value: string): void {
  console.log(`  ${label.padEnd(58)} ${value}`);
}

function spread(samples: number[]): string {
  return `p50 ${percentile(samples, 50).toFixed(1)} ms, p99 ${percentile(samples, 99).toFixed(1)} ms, max ${samples.reduce((a, b) => Math.max(a, b), 0).toFixed(1)} ms (${samples.length})`;
}

/** Runs `work` while sampling the event loop; returns its result and the longest stalls. */
async function withStalls<T>(work: () => Promise<T>): Promise<{ result: T; maxMs: number; p99Ms: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const result = await work();
  histogram.disable();
  return { result, maxMs: histogram.max / 1e6, p99Ms: histogram.percentile(99) / 1e6 };
}

function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function engineAtScale(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-scale-'));
  try {
    const sizeBytes = engineGiB * GiB;
    console.log(`engine (map in the heap), 4 KiB chunks, ${engineGiB} GiB written = ${(sizeBytes / (4 * KiB)).toLocaleString('en')} map entries`);
    let engine = await createPool(new FileStorage(dir), { chunkSizeBytes: 4 * KiB });
    const volume = await engine.createVolume({ sizeBytes });
    const piece = Buffer.alloc(MiB, 0x5a);
    const commitMs: number[] = [];
    const fill = await withStalls(async () => {
      for (let offset = 0; offset < sizeBytes; offset += 8 * MiB) {
        await Promise.all(Array.from({ length: 8 }, (_, i) => engine.write(volume.id, offset + i * MiB, piece)));
        const t0 = performance.now();
        await engine.flush();
        commitMs.push(performance.now() - t0);
      }
    });
    line('flush after each 8 MiB while filling', spread(commitMs));
    line('longest event-loop stall while filling (checkpoints inside)', `${fill.maxMs.toFixed(1)} ms (p99 ${fill.p99Ms.toFixed(1)} ms)`);
    const sectors = sizeBytes / (4 * KiB);
    const next = random(1);
    const small = Buffer.alloc(4 * KiB, 0x33);
    const writes = await withStalls(async () => {
      const t0 = performance.now();
      let count = 0;
      while (performance.now() - t0 < 10_000) {
        await Promise.all(Array.from({ length: 16 }, () => engine.write(volume.id, Math.floor(next() * sectors) * 4 * KiB, small)));
        count += 16;
        if (count % 256 === 0) await engine.flush();
      }
      return count / ((performance.now() - t0) / 1000);
    });
    line('random 4 KiB writes, QD 16, flush every 256', `${Math.round(writes.result).toLocaleString('en')} /s, longest stall ${writes.maxMs.toFixed(1)} ms`);
    const t0 = performance.now();
    await engine.close();
    line('close (a checkpoint of the whole map)', `${(performance.now() - t0).toFixed(0)} ms`);
    global.gc?.();
    const rssBefore = rssMiB();
    const t1 = performance.now();
    engine = await openPool(new FileStorage(dir));
    line('start (open: checkpoint + journal replay, allocator rebuilt)', `${(performance.now() - t1).toFixed(0)} ms`);
    global.gc?.();
    line('RSS after start', `${rssMiB().toFixed(0)} MiB (${(rssMiB() - rssBefore).toFixed(0)} MiB more than before it)`);
    const reads = await withStalls(async () => {
      const start = performance.now();
      let count = 0;
      while (performance.now() - start < 10_000) {
        await Promise.all(Array.from({ length: 16 }, () => engine.read({ volumeId: volume.id }, Math.floor(next() * sectors) * 4 * KiB, 4 * KiB)));
        count += 16;
      }
      return count / ((performance.now() - start) / 1000);
    });
    line('random 4 KiB reads, QD 16', `${Math.round(reads.result).toLocaleString('en')} /s`);
    await engine.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function entryFor(slot: number): { generation: number; slot: number; checksums: Uint32Array } {
  return { generation: 1, slot, checksums: Uint32Array.of(slot * 2654435761) };
}

async function pagedMapAtScale(entries: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-scale-map-'));
  try {
    console.log(`paged map, 4 KiB chunks: ${entries.toLocaleString('en')} entries, page cache ${cacheBytes / MiB} MiB, checkpoint every ${batchEntries.toLocaleString('en')} changes`);
    const options = { sectorsPerChunk: 1, cacheBytes };
    let map = await PagedMap.create(new FileStorage(dir), options);
    const checkpointMs: number[] = [];
    const fill = await withStalls(async () => {
      for (let chunk = 0; chunk < entries; ) {
        const end = Math.min(entries, chunk + batchEntries);
        // As writes would: a few at a time, other work in between.
        for (; chunk < end; chunk++) {
          map.put(1, chunk, entryFor(chunk));
          if (chunk % 1024 === 0) await yieldNow();
        }
        const t0 = performance.now();
        await map.checkpoint();
        checkpointMs.push(performance.now() - t0);
      }
    });
    line('checkpoint of 65,536 new entries (sequential fill)', spread(checkpointMs));
    line('longest event-loop stall while filling', `${fill.maxMs.toFixed(1)} ms (p99 ${fill.p99Ms.toFixed(1)} ms)`);
    global.gc?.();
    line('RSS after filling', `${rssMiB().toFixed(0)} MiB; page file ${((map.store.pageCountTotal * map.store.pageSizeBytes) / MiB).toFixed(0)} MiB`);

    const next = random(7);
    const updateMs: number[] = [];
    const lookupsDuring: number[] = [];
    const updates = await withStalls(async () => {
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < batchEntries; i++) {
          map.put(1, Math.floor(next() * entries), entryFor(i + round));
          if (i % 1024 === 0) await yieldNow();
        }
        const t0 = performance.now();
        const checkpoint = map.checkpoint();
        // Lookups and changes go on while the checkpoint is written.
        let done = false;
        void checkpoint.finally(() => (done = true));
        let lookups = 0;
        while (!done) {
          const t1 = performance.now();
          await map.visible(1, Math.floor(next() * entries), 1);
          lookupsDuring.push(performance.now() - t1);
          // Requests arrive from sockets: other work (the checkpoint's slices) runs between them.
          if (++lookups % 16 === 0) await yieldNow();
        }
        await checkpoint;
        updateMs.push(performance.now() - t0);
      }
    });
    line('checkpoint of 65,536 random overwrites, lookups running', spread(updateMs));
    line('lookup latency while those checkpoints run', spread(lookupsDuring));
    line('longest event-loop stall during them', `${updates.maxMs.toFixed(1)} ms (p99 ${updates.p99Ms.toFixed(1)} ms)`);

    const putRate = await withStalls(async () => {
      const t0 = performance.now();
      let count = 0;
      while (performance.now() - t0 < 5_000) {
        for (let i = 0; i < 1024; i++) map.put(1, Math.floor(next() * entries), entryFor(i));
        count += 1024;
        await yieldNow();
        if (count % batchEntries === 0) await map.checkpoint();
      }
      await map.checkpoint();
      return count / ((performance.now() - t0) / 1000);
    });
    line('random puts, checkpoints included', `${Math.round(putRate.result).toLocaleString('en')} /s, longest stall ${putRate.maxMs.toFixed(1)} ms`);
    await map.close();

    global.gc?.();
    const rssBefore = rssMiB();
    const t0 = performance.now();
    map = await PagedMap.open(new FileStorage(dir), options);
    line('start (open: root record and free list)', `${(performance.now() - t0).toFixed(1)} ms`);
    const lookupStart = performance.now();
    let lookups = 0;
    while (performance.now() - lookupStart < 5_000) {
      await map.visible(1, Math.floor(next() * entries), 1);
      if (++lookups % 16 === 0) await yieldNow();
    }
    line('random lookups after start (cache filling)', `${Math.round(lookups / 5).toLocaleString('en')} /s`);
    global.gc?.();
    line('RSS after start and 5 s of lookups', `${rssMiB().toFixed(0)} MiB (${(rssMiB() - rssBefore).toFixed(0)} MiB more than before opening)`);
    await map.close({ checkpoint: false });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const part = process.env.STRATA_SCALE_PART ?? 'all';
  if (part === 'all' || part === 'map') {
    await pagedMapAtScale(256 * 1024);
    if (fullEntries > 256 * 1024) await pagedMapAtScale(fullEntries);
  }
  if (part === 'all' || part === 'engine') await engineAtScale();
}

await main();
