/**
 * Storage engine benchmark: prints a table of figures beside the targets of
 * ../shared/design/engine.md, then one JSON line with every figure.
 *
 *   npm run bench:engine              full run (a few minutes)
 *   npm run bench:engine -- --quick   smaller volumes and fewer iterations
 *
 * Runs on real files (FileStorage in a temporary directory) with real fsyncs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPool, type Engine } from '../src/engine/index.js';
import { units } from '../src/lib/limits.js';
import { FileStorage } from '../src/storage/index.js';

const { KiB, MiB, GiB, TiB } = { ...units, GiB: 1024 * units.MiB };
const quick = process.argv.includes('--quick');
const scale = quick ? 0.25 : 1;

interface Row {
  name: string;
  value: number;
  unit: string;
  target: string;
  pass: boolean | null;
}
const rows: Row[] = [];

function record(name: string, value: number, unit: string, target = '', pass: boolean | null = null): void {
  rows.push({ name, value, unit, target, pass });
  console.error(`  ${name}: ${value.toFixed(3)} ${unit}`);
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A deterministic PRNG so runs are comparable. */
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

async function withPool<T>(body: (engine: Engine) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'strata-bench-'));
  const engine = await createPool(new FileStorage(dir));
  try {
    return await body(engine);
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Writes `totalBytes` in 1 MiB pieces at random 1 MiB-aligned places of the volume. */
async function fillSparse(engine: Engine, volumeId: number, sizeBytes: number, totalBytes: number, seed: number): Promise<void> {
  const next = random(seed);
  const piece = Buffer.alloc(MiB, 0xa5);
  const slots = Math.floor(sizeBytes / MiB);
  const chosen = new Set<number>();
  while (chosen.size < totalBytes / MiB) chosen.add(Math.floor(next() * slots));
  const queue = [...chosen];
  await runConcurrently(8, queue.length, (i) => engine.write(volumeId, queue[i] * MiB, piece));
  await engine.flush();
}

async function runConcurrently(depth: number, count: number, task: (i: number) => Promise<void>): Promise<void> {
  let nextIndex = 0;
  const worker = async () => {
    while (nextIndex < count) await task(nextIndex++);
  };
  await Promise.all(Array.from({ length: depth }, worker));
}

/** Random 4 KiB operations at queue depth 16 for `seconds`; returns operations per second and latencies. */
async function randomOps(seconds: number, op: (offset: number) => Promise<unknown>, sizeBytes: number, seed: number): Promise<{ opsPerSecond: number; latenciesMs: number[] }> {
  const next = random(seed);
  const sectors = sizeBytes / (4 * KiB);
  const latenciesMs: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let count = 0;
  const start = performance.now();
  const worker = async () => {
    while (performance.now() < deadline) {
      const offset = Math.floor(next() * sectors) * 4 * KiB;
      const t0 = performance.now();
      await op(offset);
      latenciesMs.push(performance.now() - t0);
      count++;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { opsPerSecond: count / ((performance.now() - start) / 1000), latenciesMs };
}

async function snapshotLatency(label: string, sizeBytes: number): Promise<void> {
  await withPool(async (engine) => {
    const volume = await engine.createVolume({ sizeBytes });
    await fillSparse(engine, volume.id, sizeBytes, 256 * MiB * scale, 1);
    const small = Buffer.alloc(4 * KiB, 1);
    const samples: number[] = [];
    const count = quick ? 50 : 200;
    for (let i = 0; i < count; i++) {
      await engine.write(volume.id, (i % 1024) * 4 * KiB, small);
      const t0 = performance.now();
      await engine.createSnapshot(volume.id);
      samples.push(performance.now() - t0);
    }
    const p99 = percentile(samples, 99);
    record(`snapshot create p50, ${label}`, percentile(samples, 50), 'ms');
    record(`snapshot create p99, ${label}`, p99, 'ms', '< 10 ms', p99 < 10);
  });
}

/**
 * Three volumes with the same data and the same later writes, taken to snapshot depth 0, 100
 * and 1,000; their random-read rates are measured in interleaved rounds (medians), so a busy
 * moment on the machine hits all three alike.
 */
async function readsAtDepth(): Promise<void> {
  await withPool(async (engine) => {
    const sizeBytes = 256 * MiB * scale;
    const depths = [0, 100, 1000];
    const small = Buffer.alloc(4 * KiB, 7);
    const volumes: number[] = [];
    for (const depth of depths) {
      const volume = await engine.createVolume({ sizeBytes });
      await fillSparse(engine, volume.id, sizeBytes, sizeBytes, 2);
      const next = random(3);
      for (let i = 0; i < 1000; i++) {
        for (let j = 0; j < 4; j++) await engine.write(volume.id, Math.floor(next() * (sizeBytes / (4 * KiB))) * 4 * KiB, small);
        if (i < depth) await engine.createSnapshot(volume.id);
      }
      volumes.push(volume.id);
    }
    await engine.flush();
    const rounds = quick ? 3 : 5;
    const rates: number[][] = depths.map(() => []);
    for (let round = 0; round < rounds; round++) {
      (globalThis as { gc?: () => void }).gc?.();
      for (let k = 0; k < depths.length; k++) {
        const i = (k + round) % depths.length; // rotate who goes first
        const read = (offset: number) => engine.read({ volumeId: volumes[i] }, offset, 4 * KiB);
        await randomOps(0.2, read, sizeBytes, 9); // warm-up
        rates[i].push((await randomOps(1, read, sizeBytes, 10 + round)).opsPerSecond);
      }
    }
    const medians = rates.map((samples) => percentile(samples, 50));
    depths.forEach((depth, i) => record(`4 KiB random read, snapshot depth ${depth}`, medians[i], 'ops/s'));
    record('read ratio depth 100 / depth 0', medians[1] / medians[0], 'x', '>= 0.95', medians[1] / medians[0] >= 0.95);
    record('read ratio depth 1000 / depth 0', medians[2] / medians[0], 'x', '>= 0.95', medians[2] / medians[0] >= 0.95);
  });
}

async function writes(): Promise<void> {
  await withPool(async (engine) => {
    const sizeBytes = 256 * MiB * scale;
    const volume = await engine.createVolume({ sizeBytes });
    await fillSparse(engine, volume.id, sizeBytes, sizeBytes, 4);
    const data = Buffer.alloc(4 * KiB, 3);
    const write = (offset: number) => engine.write(volume.id, offset, data);
    const seconds = quick ? 1 : 2;
    // Every chunk is durable after the fill: the first pass copies on write, later ones are in place.
    await randomOps(seconds, write, sizeBytes, 20);
    const steady = await randomOps(seconds, write, sizeBytes, 21);
    record('4 KiB random write, steady state', steady.opsPerSecond, 'ops/s');
    await engine.createSnapshot(volume.id);
    const after = await randomOps(seconds, write, sizeBytes, 22);
    record('4 KiB random write, right after a snapshot', after.opsPerSecond, 'ops/s');
  });
}

async function deleteUnderLoad(): Promise<void> {
  await withPool(async (engine) => {
    const held = 256 * MiB * scale;
    const volume = await engine.createVolume({ sizeBytes: 2 * held });
    await fillSparse(engine, volume.id, held, held, 5);
    const snapshot = await engine.createSnapshot(volume.id);
    await fillSparse(engine, volume.id, held, held, 5); // overwrite: the snapshot now holds `held` alone
    const exclusive = (await engine.exclusiveBytes(snapshot.id));
    const latencies: number[] = [];
    let stop = false;
    const next = random(6);
    const reader = (async () => {
      while (!stop) {
        const offset = Math.floor(next() * (held / (4 * KiB))) * 4 * KiB;
        const t0 = performance.now();
        await engine.read({ volumeId: volume.id }, offset, 4 * KiB);
        latencies.push(performance.now() - t0);
        // Requests reach a server as I/O events: let other event-loop work (the delete job) run.
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const t0 = performance.now();
    await engine.deleteSnapshot(snapshot.id).done;
    const deleteMs = performance.now() - t0;
    stop = true;
    await reader;
    const p99 = percentile(latencies, 99);
    record(`exclusive bytes of the snapshot`, exclusive / MiB, 'MiB');
    record(`delete of a snapshot holding ${held / MiB} MiB alone`, deleteMs, 'ms');
    record('foreground 4 KiB read p99 during the delete', p99, 'ms', '< 5 ms', p99 < 5);
  });
}

async function groupFence(): Promise<void> {
  await withPool(async (engine) => {
    const members = 32;
    const sizeBytes = 64 * MiB;
    const volumes = [];
    for (let i = 0; i < members; i++) volumes.push(await engine.createVolume({ sizeBytes }));
    const ids = volumes.map((volume) => volume.id);
    let stop = false;
    const next = random(7);
    const data = Buffer.alloc(4 * KiB, 9);
    let writesDone = 0;
    const writers = Array.from({ length: 16 }, async () => {
      while (!stop) {
        const id = ids[Math.floor(next() * ids.length)];
        await engine.write(id, Math.floor(next() * (sizeBytes / (4 * KiB))) * 4 * KiB, data);
        writesDone++;
        await new Promise((resolve) => setImmediate(resolve)); // as if each write arrived from a socket
      }
    });
    const fences: number[] = [];
    const totals: number[] = [];
    for (let i = 0; i < (quick ? 10 : 30); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const t0 = performance.now();
      const result = await engine.createGroupSnapshot(ids);
      totals.push(performance.now() - t0);
      fences.push(result.fenceHeldMs);
    }
    stop = true;
    await Promise.all(writers);
    record(`group snapshot of ${members} volumes under write load: fence p50`, percentile(fences, 50), 'ms');
    record(`group snapshot of ${members} volumes under write load: fence p99`, percentile(fences, 99), 'ms', '< 10 ms', percentile(fences, 99) < 10);
    record(`group snapshot of ${members} volumes: create p99 (incl. commit)`, percentile(totals, 99), 'ms');
    record('writes completed during the group snapshots', writesDone, 'writes');
  });
}

const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length);

async function main(): Promise<void> {
  console.error(`strata engine benchmark${quick ? ' (quick)' : ''}`);
  if (only === 'reads') {
    await readsAtDepth();
    return;
  }
  await snapshotLatency('1 GiB volume, 256 MiB written', 1 * GiB);
  await snapshotLatency('1 TiB sparse volume, 256 MiB written', 1 * TiB);
  await readsAtDepth();
  await writes();
  await deleteUnderLoad();
  await groupFence();

  const nameWidth = Math.max(...rows.map((row) => row.name.length));
  console.log(`${'figure'.padEnd(nameWidth)}  ${'value'.padStart(14)}  ${'target'.padEnd(10)}  met`);
  for (const row of rows) {
    const met = row.pass === null ? '' : row.pass ? 'yes' : 'NO';
    console.log(`${row.name.padEnd(nameWidth)}  ${`${row.value.toFixed(2)} ${row.unit}`.padStart(14)}  ${row.target.padEnd(10)}  ${met}`);
  }
  console.log(JSON.stringify({ bench: 'engine', quick, figures: rows }));
}

await main();
