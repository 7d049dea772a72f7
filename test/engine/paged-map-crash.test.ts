/**
 * Crash tests of the paged map over MemoryStorage. A seeded workload makes rounds of puts and
 * removes, each ended by a checkpoint (every other one left running while more changes are
 * made), so that pages are freed and reused across several checkpoints. The workload is stopped
 *   (a) at every write (the write does not happen), then the disk is cut by a process kill, a
 *       power loss or a random crash (pending writes kept, dropped or torn at 4 KiB);
 *   (b) at every sync (the sync does not happen), then cut by a power loss or a random crash.
 * Reopened, the map must hold exactly the content of one checkpoint (its meta names the round):
 * no older than the last checkpoint that resolved, no newer than the one being written; fsck
 * must pass; and a further round with a checkpoint on the recovered map must work and pass fsck.
 *
 * A failure names the point: STRATA_MAP_CRASH_POINT=write:<n> or sync:<n> replays it alone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkPagedMap } from '../../src/engine/page-fsck.js';
import { PagedMap } from '../../src/engine/paged-map.js';
import { type CrashMode, MemoryStorage, seededRandom } from '../../src/storage/memory.js';
import { assertSameContent, entryFor, MapModel } from './paged-map-model.js';

const options = { sectorsPerChunk: 2, pageSizeBytes: 512, cacheBytes: 8 * 1024 };
const rounds = 5;
const volumes = [1, 2];

interface Progress {
  /** Model content after each round's freeze, by round (round 0: the empty map). */
  checkpoints: MapModel[];
  /** The last round whose checkpoint resolved. */
  resolved: number;
  /** The round whose checkpoint was called last. */
  started: number;
  /** Whether `PagedMap.create` resolved (before, a crash may leave no map at all). */
  created: boolean;
}

function roundMeta(round: number): Buffer {
  return Buffer.from(`round ${round}`);
}

function changeSome(map: PagedMap, model: MapModel, random: () => number, count: number): void {
  for (let i = 0; i < count; i++) {
    const existing = [...model.entries.values()];
    if (existing.length > 0 && random() % 4 === 0) {
      const victim = existing[random() % existing.length];
      map.remove(victim.volumeId, victim.chunk, victim.generation);
      model.remove(victim.volumeId, victim.chunk, victim.generation);
      continue;
    }
    const volumeId = volumes[random() % volumes.length];
    const chunk = random() % 150;
    const entry = entryFor((random() % 100_000) + 1, random() % 3);
    map.put(volumeId, chunk, entry);
    model.put(volumeId, chunk, entry);
  }
}

async function workload(storage: MemoryStorage, progress: Progress): Promise<void> {
  const random = seededRandom(20261203);
  const map = await PagedMap.create(storage, options);
  progress.created = true;
  const model = new MapModel();
  progress.checkpoints.push(model.clone());
  for (let round = 1; round <= rounds; round++) {
    changeSome(map, model, random, 60);
    progress.checkpoints.push(model.clone());
    progress.started = round;
    const checkpoint = map.checkpoint(roundMeta(round));
    // Every other round: more changes (the next round's) land while the checkpoint is written.
    if (round % 2 === 1) changeSome(map, model, random, 20);
    await checkpoint;
    progress.resolved = round;
  }
  await map.close({ checkpoint: false });
}

async function verifyRecovered(image: MemoryStorage, progress: Progress, where: string): Promise<void> {
  if (!progress.created) {
    // Creation is not atomic on its own (a pool's superblock makes it so): no map, or an empty one.
    const map = await PagedMap.open(image, options).catch(() => null);
    if (map !== null) {
      assert.equal((await map.entries(1)).length + (await map.entries(2)).length, 0, `${where}: entries in a map never checkpointed`);
      await map.close({ checkpoint: false });
    }
    return;
  }
  const map = await PagedMap.open(image, options).catch((error: Error) => assert.fail(`${where}: open failed: ${error.message}`));
  const text = map.meta.toString();
  const round = text === '' ? 0 : Number(/^round (\d+)$/.exec(text)?.[1] ?? NaN);
  assert.ok(round >= progress.resolved && round <= progress.started, `${where}: recovered round ${text || 0}, expected ${progress.resolved}..${progress.started}`);
  const model = progress.checkpoints[round].clone();
  await assertSameContent(map, model, volumes, `${where}: round ${round}`);
  assert.deepEqual((await checkPagedMap(map)).violations, [], `${where}: fsck`);
  // The recovered free list is usable: one more round reuses its pages.
  changeSome(map, model, seededRandom(round + 1), 40);
  await map.checkpoint(roundMeta(99));
  await assertSameContent(map, model, volumes, `${where}: a round after recovery`);
  assert.deepEqual((await checkPagedMap(map)).violations, [], `${where}: fsck after a round on the recovered map`);
  await map.close();
}

async function runTo(stop: (storage: MemoryStorage) => void): Promise<{ storage: MemoryStorage; progress: Progress }> {
  const storage = new MemoryStorage();
  const progress: Progress = { checkpoints: [], resolved: 0, started: 0, created: false };
  stop(storage);
  await workload(storage, progress).then(
    () => assert.fail('the workload ended before its stop point'),
    (error: Error) => {
      if (!storage.dead) throw error;
    },
  );
  return { storage, progress };
}

function points(kind: 'write' | 'sync', total: number): number[] {
  const only = process.env.STRATA_MAP_CRASH_POINT;
  if (only !== undefined) return only.startsWith(`${kind}:`) ? [Number(only.slice(kind.length + 1))] : [];
  return Array.from({ length: total }, (_, i) => i + 1);
}

describe('paged map crash safety', async () => {
  const clean = new MemoryStorage();
  const cleanProgress: Progress = { checkpoints: [], resolved: 0, started: 0, created: false };
  await workload(clean, cleanProgress);
  const totalWrites = clean.writeCount;
  const totalSyncs = clean.syncCount;

  it(`the workload checkpoints ${rounds} times and reuses pages`, async () => {
    const map = await PagedMap.open(clean, options);
    const report = await checkPagedMap(map);
    assert.deepEqual(report.violations, []);
    assert.equal(map.meta.toString(), `round ${rounds}`);
    assert.ok(report.stats.free > 0 || report.stats.pages < 40, 'no page was freed');
    await assertSameContent(map, cleanProgress.checkpoints[rounds], volumes, 'clean run');
    await map.close({ checkpoint: false });
    console.log(`paged map crash workload: ${totalWrites} writes, ${totalSyncs} syncs, ${report.stats.pages} pages, ${report.stats.free} free`);
  });

  it('recovers a checkpoint exactly when stopped at any write', async () => {
    const modes: CrashMode[] = ['process-kill', 'power-loss', { kind: 'random', seed: 1 }, { kind: 'random', seed: 2 }];
    for (const n of points('write', totalWrites)) {
      const { storage, progress } = await runTo((s) => s.failAtWrite(n));
      for (const mode of modes) await verifyRecovered(storage.crash(mode), progress, `STRATA_MAP_CRASH_POINT=write:${n} mode ${JSON.stringify(mode)}`);
    }
  });

  it('recovers a checkpoint exactly when stopped at any sync', async () => {
    const modes: CrashMode[] = ['power-loss', { kind: 'random', seed: 3 }, { kind: 'random', seed: 4 }];
    for (const n of points('sync', totalSyncs)) {
      const { storage, progress } = await runTo((s) => s.failAtSync(n));
      for (const mode of modes) await verifyRecovered(storage.crash(mode), progress, `STRATA_MAP_CRASH_POINT=sync:${n} mode ${JSON.stringify(mode)}`);
    }
  });
});
