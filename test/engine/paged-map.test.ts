/**
 * The paged map against a model (a plain JS map of its entries): random puts, removes,
 * lookups at random generations, generation-range scans, checkpoints (some left running while
 * more changes and lookups happen) and reopenings after a checkpoint. Small pages (512 bytes)
 * make trees several levels deep with a few hundred entries. After every checkpoint the map's
 * fsck must pass. Also: pages freed by checkpoints are reused (the page file stops growing under
 * churn), and the map refuses a damaged root record.
 *
 * Scale with STRATA_PAGED_MAP_RUNS (default 40). A failure prints the seed and path; replay it
 * with STRATA_PAGED_MAP_SEED=<seed> STRATA_PAGED_MAP_PATH=<path>.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { checkPagedMap } from '../../src/engine/page-fsck.js';
import { PagedMap, type MapEntry } from '../../src/engine/paged-map.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { assertSameContent, entryFor, MapModel, sectorsPerChunk } from './paged-map-model.js';

const pageSizeBytes = 512;

type Op =
  | { kind: 'put'; volume: number; chunk: number; generation: number; seed: number }
  | { kind: 'remove'; pick: number }
  | { kind: 'burst'; volume: number; first: number; count: number; generation: number; seed: number }
  | { kind: 'visible'; volume: number; chunk: number; generation: number }
  | { kind: 'scan'; volume: number; low: number; high: number }
  | { kind: 'checkpoint'; background: boolean }
  | { kind: 'reopen' };

const volumes = [1, 2, 3];
const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('put' as const), volume: fc.constantFrom(...volumes), chunk: fc.nat(20), generation: fc.nat(4), seed: fc.integer({ min: 1, max: 1 << 30 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('burst' as const), volume: fc.constantFrom(...volumes), first: fc.nat(400), count: fc.integer({ min: 1, max: 300 }), generation: fc.nat(6), seed: fc.integer({ min: 1, max: 1 << 30 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('visible' as const), volume: fc.constantFrom(...volumes), chunk: fc.nat(20), generation: fc.nat(5) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('scan' as const), volume: fc.constantFrom(...volumes), low: fc.integer({ min: -1, max: 6 }), high: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('checkpoint' as const), background: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const) }) },
);

async function runOps(ops: Op[]): Promise<void> {
  const storage = new MemoryStorage();
  const options = { sectorsPerChunk, pageSizeBytes, cacheBytes: 64 * 1024 };
  let map = await PagedMap.create(storage, options);
  const model = new MapModel();
  let running: Promise<void> | null = null;
  const settle = async () => {
    if (running !== null) await running;
    running = null;
  };
  for (const [index, op] of ops.entries()) {
    const label = `step ${index} ${JSON.stringify(op)}`;
    switch (op.kind) {
      case 'put': {
        const entry = entryFor(op.seed, op.generation);
        map.put(op.volume, op.chunk, entry);
        model.put(op.volume, op.chunk, entry);
        break;
      }
      case 'remove': {
        const keys = [...model.entries.values()];
        if (keys.length === 0) break;
        const victim = keys[op.pick % keys.length];
        map.remove(victim.volumeId, victim.chunk, victim.generation);
        model.remove(victim.volumeId, victim.chunk, victim.generation);
        break;
      }
      case 'burst':
        for (let i = 0; i < op.count; i++) {
          const entry = entryFor(op.seed + i, op.generation);
          map.put(op.volume, op.first + i, entry);
          model.put(op.volume, op.first + i, entry);
        }
        break;
      case 'visible': {
        const got = await map.visible(op.volume, op.chunk, op.generation);
        assert.deepEqual(got, model.visible(op.volume, op.chunk, op.generation) && stripModel(model.visible(op.volume, op.chunk, op.generation)!), label);
        break;
      }
      case 'scan':
        assert.deepEqual(await map.entriesInGenerations(op.volume, op.low, op.high), model.inGenerations(op.volume, op.low, op.high), label);
        break;
      case 'checkpoint':
        await settle();
        running = map.checkpoint();
        if (!op.background) {
          await settle();
          const report = await checkPagedMap(map);
          assert.deepEqual(report.violations, [], `${label}: fsck`);
        }
        break;
      case 'reopen':
        await settle();
        await map.close();
        map = await PagedMap.open(storage, options);
        break;
    }
  }
  await settle();
  await assertSameContent(map, model, volumes, 'end');
  // Before any further checkpoint: a delta over a checkpointed tree.
  await map.checkpoint();
  await assertSameContent(map, model, volumes, 'after the last checkpoint');
  assert.deepEqual((await checkPagedMap(map)).violations, [], 'fsck at the end');
  await map.close();
  map = await PagedMap.open(storage, options);
  await assertSameContent(map, model, volumes, 'reopened');
  await map.close();
}

function stripModel(entry: MapEntry): MapEntry {
  return { generation: entry.generation, slot: entry.slot, checksums: entry.checksums };
}

describe('paged map', () => {
  it('agrees with the model through puts, removes, checkpoints (some in the background) and reopenings', async () => {
    const runs = Number(process.env.STRATA_PAGED_MAP_RUNS ?? 40);
    const seed = process.env.STRATA_PAGED_MAP_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.STRATA_PAGED_MAP_SEED);
    console.log(`paged map model: ${runs} runs, seed ${seed}`);
    await fc.assert(fc.asyncProperty(fc.array(opArbitrary, { minLength: 1, maxLength: 80, size: 'max' }), runOps), {
      numRuns: runs,
      seed,
      path: process.env.STRATA_PAGED_MAP_PATH,
      endOnFailure: true,
    });
  });

  it('reuses the pages checkpoints free: rewriting the same keys keeps the page file bounded', async () => {
    const storage = new MemoryStorage();
    const map = await PagedMap.create(storage, { sectorsPerChunk, pageSizeBytes });
    const pagesAfter: number[] = [];
    for (let round = 0; round < 30; round++) {
      for (let chunk = 0; chunk < 400; chunk++) map.put(1, chunk, entryFor(round * 1000 + chunk + 1, 1));
      await map.checkpoint();
      pagesAfter.push(map.store.pageCountTotal);
    }
    const report = await checkPagedMap(map);
    assert.deepEqual(report.violations, []);
    assert.ok(pagesAfter[29] <= 3 * pagesAfter[0], `page file grew from ${pagesAfter[0]} to ${pagesAfter[29]} pages: ${pagesAfter.join(' ')}`);
    assert.ok(report.stats.free > 0, 'no page was ever freed');
    await map.close();
  });

  it('refuses a map whose both root records are damaged with CORRUPT_METADATA', async () => {
    const storage = new MemoryStorage();
    const map = await PagedMap.create(storage, { sectorsPerChunk, pageSizeBytes });
    map.put(1, 1, entryFor(5, 1));
    await map.close();
    storage.corrupt('map-pages', 100, 1);
    storage.corrupt('map-pages', pageSizeBytes + 100, 1);
    await assert.rejects(PagedMap.open(storage, { sectorsPerChunk, pageSizeBytes }), (error: Error & { code?: string }) => error.code === 'CORRUPT_METADATA');
  });
});
