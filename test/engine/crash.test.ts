/**
 * Crash tests over MemoryStorage. A scripted workload (volumes, writes, flushes, FUA writes,
 * trims, write-zeroes, snapshots, a group snapshot, grow, revert, clone, snapshot and volume
 * deletion) runs against the engine while a tracker records, per 4 KiB sector of every volume,
 * each value it held and which of them is durable. The workload is then stopped:
 *   (a) at every sync (the sync does not happen), and the disk is cut by a power loss or by a
 *       random crash (seeded: pending writes kept, dropped or torn at 4 KiB);
 *   (b) at every write (the write does not happen), and the disk is cut by a process kill, a
 *       power loss or a random crash.
 * After each cut the pool is reopened and must pass fsck; every live volume sector must hold an
 * acceptable value (the durable one or one written after it); every snapshot whose creation
 * resolved must be exact; deletions whose job finished must stay done.
 *
 * The same checks run over a few seeded random workloads too.
 *
 * Every failure names what replays it: STRATA_CRASH_WORKLOAD=scripted:<chunk bytes> or
 * random:<seed> selects the workload, STRATA_CRASH_POINT=sync:<n> or write:<n> the point, and the
 * mode is printed. STRATA_CRASH_SEEDS=<k> checks k random crash images per point (default 3);
 * STRATA_CRASH_WORKLOADS=<k> runs k random workloads (default 4).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createPool, openPool } from '../../src/engine/index.js';
import type { EngineApi, EngineJob } from '../../src/engine/types.js';
import { type CrashMode, MemoryStorage, seededRandom } from '../../src/storage/memory.js';
import { errorText, patternBytes, quiet } from './support.js';

const sectorBytes = 4096;
const KiB = 1024;

// ---- what the workload did, and what must survive ----

interface SectorValue {
  /** Index of the workload step that produced it (printed when a check fails). */
  step: number;
  bytes: Uint8Array;
}

interface SectorHistory {
  values: SectorValue[];
  /** Index in `values` of the durable value; every later value is acceptable too. */
  durableFrom: number;
}

interface VolumeTrack {
  id: number;
  sizeBytes: number;
  /** The size before a grow that was interrupted (either size may survive), else null. */
  sizeBytesBefore: number | null;
  current: Uint8Array;
  sectors: SectorHistory[];
  state: 'live' | 'deleting' | 'deleted';
}

interface SnapshotTrack {
  id: number;
  volumeId: number;
  content: Uint8Array;
  state: 'available' | 'deleting' | 'deleted';
}

class Tracker {
  step = -1;
  stepLabel = 'createPool';
  poolCreated = false;
  readonly volumes = new Map<number, VolumeTrack>();
  readonly snapshots = new Map<number, SnapshotTrack>();
  /** Content of a volume whose create or clone was interrupted (it may or may not exist). */
  volumeInDoubt: Uint8Array | null = null;
  /** Per volume id: content of a snapshot whose creation was interrupted. */
  readonly snapshotsInDoubt = new Map<number, Uint8Array>();

  begin(label: string): void {
    this.step += 1;
    this.stepLabel = label;
  }

  addVolume(id: number, content: Uint8Array): VolumeTrack {
    const sectors: SectorHistory[] = [];
    for (let offset = 0; offset < content.byteLength; offset += sectorBytes) {
      sectors.push({ values: [{ step: this.step, bytes: content.slice(offset, offset + sectorBytes) }], durableFrom: 0 });
    }
    const volume: VolumeTrack = { id, sizeBytes: content.byteLength, sizeBytesBefore: null, current: content, sectors, state: 'live' };
    this.volumes.set(id, volume);
    return volume;
  }

  /** Records new content for [offset, offset + length) of a volume; `durable` when it cannot be lost. */
  changed(volume: VolumeTrack, offsetBytes: number, lengthBytes: number, durable: boolean): void {
    const first = Math.floor(offsetBytes / sectorBytes);
    const end = Math.ceil((offsetBytes + lengthBytes) / sectorBytes);
    for (let sector = first; sector < end; sector++) {
      const history = volume.sectors[sector];
      history.values.push({ step: this.step, bytes: volume.current.slice(sector * sectorBytes, (sector + 1) * sectorBytes) });
      if (durable) history.durableFrom = history.values.length - 1;
    }
  }

  /** A flush resolved: every value written so far is durable. */
  flushed(): void {
    for (const volume of this.volumes.values()) {
      for (const history of volume.sectors) history.durableFrom = history.values.length - 1;
    }
  }

  grow(volume: VolumeTrack, sizeBytes: number): void {
    const grown = new Uint8Array(sizeBytes);
    grown.set(volume.current);
    volume.current = grown;
    for (let offset = volume.sizeBytes; offset < sizeBytes; offset += sectorBytes) {
      volume.sectors.push({ values: [{ step: this.step, bytes: new Uint8Array(sectorBytes) }], durableFrom: 0 });
    }
    volume.sizeBytes = sizeBytes;
  }
}

/** Thrown to end the workload at the first operation that failed because the storage died. */
class Stopped extends Error {
  constructor(readonly reason: unknown) {
    super(`stopped: ${errorText(reason)}`);
  }
}

// ---- the workload ----

/** A workload: engine calls made through a `Workload`, which records them in its tracker. */
type WorkloadScript = (w: Workload) => Promise<void>;

interface WorkloadSpec {
  /** How to select this workload alone (environment assignments). */
  select: string;
  chunkSizeBytes: number;
  script: WorkloadScript;
}

class Workload {
  readonly tracker = new Tracker();
  engine: EngineApi | null = null;

  constructor(
    private readonly storage: MemoryStorage,
    readonly chunkSizeBytes: number,
    private readonly script: WorkloadScript,
  ) {}

  /** Runs the whole script; returns normally if it completed, or after the storage died. */
  async run(): Promise<'completed' | 'stopped'> {
    try {
      const t = this.tracker;
      t.begin('createPool');
      this.engine = await this.guard(createPool(this.storage, { chunkSizeBytes: this.chunkSizeBytes }));
      t.poolCreated = true;
      await this.script(this);
      return 'completed';
    } catch (error) {
      if (error instanceof Stopped) return 'stopped';
      throw error;
    }
  }

  private get api(): EngineApi {
    assert.ok(this.engine !== null);
    return this.engine;
  }

  /** Awaits an engine call; a rejection ends the workload if the storage died, else it is a failure. */
  private async guard<T>(promise: Promise<T>, onInterrupted?: () => void): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      if (!this.storage.dead) {
        throw new Error(`step ${this.tracker.step} (${this.tracker.stepLabel}) failed without a crash: ${errorText(error)}`, {
          cause: error,
        });
      }
      onInterrupted?.();
      throw new Stopped(error);
    }
  }

  async createVolume(sizeBytes: number): Promise<VolumeTrack> {
    const t = this.tracker;
    t.begin(`createVolume ${sizeBytes}`);
    const info = await this.guard(this.api.createVolume({ sizeBytes }), () => {
      t.volumeInDoubt = new Uint8Array(sizeBytes);
    });
    return t.addVolume(info.id, new Uint8Array(sizeBytes));
  }

  async write(volume: VolumeTrack, offsetBytes: number, lengthBytes: number, pattern: number, fua: boolean): Promise<void> {
    const t = this.tracker;
    t.begin(`write volume ${volume.id} [${offsetBytes}, +${lengthBytes})${fua ? ' fua' : ''}`);
    const data = patternBytes(lengthBytes, pattern);
    const apply = (durable: boolean) => {
      volume.current.set(data, offsetBytes);
      t.changed(volume, offsetBytes, lengthBytes, durable);
    };
    await this.guard(this.api.write(volume.id, offsetBytes, data, { fua }), () => apply(false));
    apply(fua);
  }

  async zero(volume: VolumeTrack, how: 'trim' | 'zero', offsetBytes: number, lengthBytes: number, fua: boolean): Promise<void> {
    const t = this.tracker;
    t.begin(`${how} volume ${volume.id} [${offsetBytes}, +${lengthBytes})${fua ? ' fua' : ''}`);
    const apply = (durable: boolean) => {
      volume.current.fill(0, offsetBytes, offsetBytes + lengthBytes);
      t.changed(volume, offsetBytes, lengthBytes, durable);
    };
    const call =
      how === 'trim'
        ? this.api.trim(volume.id, offsetBytes, lengthBytes, { fua })
        : this.api.writeZeroes(volume.id, offsetBytes, lengthBytes, { fua });
    await this.guard(call, () => apply(false));
    apply(fua);
  }

  async flush(): Promise<void> {
    this.tracker.begin('flush');
    await this.guard(this.api.flush());
    this.tracker.flushed();
  }

  async snapshot(volume: VolumeTrack): Promise<SnapshotTrack> {
    const t = this.tracker;
    t.begin(`snapshot volume ${volume.id}`);
    const content = volume.current.slice();
    const info = await this.guard(this.api.createSnapshot(volume.id), () => t.snapshotsInDoubt.set(volume.id, content));
    const snapshot: SnapshotTrack = { id: info.id, volumeId: volume.id, content, state: 'available' };
    t.snapshots.set(info.id, snapshot);
    return snapshot;
  }

  async groupSnapshot(volumes: VolumeTrack[]): Promise<SnapshotTrack[]> {
    const t = this.tracker;
    t.begin(`group snapshot of volumes ${volumes.map((v) => v.id).join(',')}`);
    const contents = new Map(volumes.map((v) => [v.id, v.current.slice()]));
    const result = await this.guard(this.api.createGroupSnapshot(volumes.map((v) => v.id)), () => {
      for (const [volumeId, content] of contents) t.snapshotsInDoubt.set(volumeId, content);
    });
    return volumes.map((volume) => {
      const info = result.snapshots.find((s) => s.volumeId === volume.id);
      assert.ok(info !== undefined, `group snapshot has no member for volume ${volume.id}`);
      const snapshot: SnapshotTrack = { id: info.id, volumeId: volume.id, content: contents.get(volume.id)!, state: 'available' };
      t.snapshots.set(info.id, snapshot);
      return snapshot;
    });
  }

  async grow(volume: VolumeTrack, sizeBytes: number): Promise<void> {
    const t = this.tracker;
    t.begin(`grow volume ${volume.id} to ${sizeBytes}`);
    const before = volume.sizeBytes;
    await this.guard(this.api.growVolume(volume.id, sizeBytes), () => {
      t.grow(volume, sizeBytes);
      volume.sizeBytesBefore = before;
    });
    t.grow(volume, sizeBytes);
  }

  async revert(volume: VolumeTrack, snapshot: SnapshotTrack): Promise<void> {
    const t = this.tracker;
    t.begin(`revert volume ${volume.id} to snapshot ${snapshot.id}`);
    const apply = (durable: boolean) => {
      volume.current.fill(0);
      volume.current.set(snapshot.content);
      t.changed(volume, 0, volume.sizeBytes, durable);
    };
    await this.guard(this.api.revert(volume.id, snapshot.id), () => apply(false));
    apply(true);
  }

  async clone(snapshot: SnapshotTrack, sizeBytes: number): Promise<VolumeTrack> {
    const t = this.tracker;
    t.begin(`clone snapshot ${snapshot.id} at ${sizeBytes}`);
    const content = new Uint8Array(sizeBytes);
    content.set(snapshot.content);
    const info = await this.guard(this.api.clone(snapshot.id, { sizeBytes }), () => {
      t.volumeInDoubt = content;
    });
    return t.addVolume(info.id, content);
  }

  async deleteSnapshot(snapshot: SnapshotTrack): Promise<void> {
    this.tracker.begin(`delete snapshot ${snapshot.id}`);
    await this.awaitJob(() => this.api.deleteSnapshot(snapshot.id), [snapshot], () => undefined);
  }

  async deleteVolume(volume: VolumeTrack): Promise<void> {
    this.tracker.begin(`delete volume ${volume.id}`);
    const snapshots = [...this.tracker.snapshots.values()].filter((s) => s.volumeId === volume.id && s.state !== 'deleted');
    volume.state = 'deleting';
    await this.awaitJob(() => this.api.deleteVolume(volume.id), snapshots, () => {
      volume.state = 'deleted';
    });
  }

  private async awaitJob(start: () => EngineJob, snapshots: SnapshotTrack[], onDone: () => void): Promise<void> {
    for (const snapshot of snapshots) snapshot.state = 'deleting';
    let job: EngineJob;
    try {
      job = start();
    } catch (error) {
      await this.guard(Promise.reject(error));
      throw error;
    }
    await this.guard(quiet(job.done));
    for (const snapshot of snapshots) snapshot.state = 'deleted';
    onDone();
  }
}

/** The scripted workload: every kind of operation, in an order that exercises their interplay. */
const scriptedWorkload: WorkloadScript = async (w) => {
  const a = await w.createVolume(64 * KiB);
  const b = await w.createVolume(48 * KiB);
  await w.write(a, 0, 16 * KiB, 1, false);
  await w.write(a, 5000, 3000, 2, false);
  await w.write(b, 4 * KiB, 8 * KiB, 3, false);
  await w.flush();
  await w.write(a, 8 * KiB, 12 * KiB, 4, true);
  const s1 = await w.snapshot(a);
  await w.write(a, 0, 8 * KiB, 5, false);
  await w.zero(a, 'trim', 16 * KiB, 16 * KiB, false);
  await w.write(b, 0, 48 * KiB, 6, false);
  const [, gb] = await w.groupSnapshot([a, b]);
  await w.write(a, 12 * KiB, 8 * KiB, 7, true);
  await w.zero(b, 'zero', 8 * KiB, 8 * KiB, false);
  await w.flush();
  await w.grow(a, 80 * KiB);
  await w.write(a, 60 * KiB, 20 * KiB, 8, false);
  const s2 = await w.snapshot(a);
  await w.revert(a, s1);
  await w.write(a, 30000, 10000, 9, false);
  const c = await w.clone(s2, 96 * KiB);
  await w.write(c, 0, 4 * KiB, 10, true);
  await w.write(c, 70 * KiB, 20 * KiB, 11, false);
  await w.deleteSnapshot(gb);
  await w.flush();
  await w.write(b, 20 * KiB, 4 * KiB, 12, false);
  await w.deleteSnapshot(s1);
  await w.write(a, 40 * KiB, 24 * KiB, 13, false);
  await w.deleteVolume(b);
  await w.zero(c, 'zero', 4 * KiB, 2 * KiB, true);
  await w.write(a, 1, 4 * KiB, 14, false);
  await w.flush();
};

/**
 * Small overwrites of durable chunks (the overwrite log, D8): the same sectors rewritten across
 * several commits, unaligned edges, a snapshot and a revert sharing a slot in between, and a
 * chunk freed while its overwrites were still pending.
 */
const overwriteWorkload: WorkloadScript = async (w) => {
  const a = await w.createVolume(128 * KiB);
  await w.write(a, 0, 128 * KiB, 1, false);
  await w.flush();
  await w.write(a, 4 * KiB, 4 * KiB, 2, false);
  await w.write(a, 70 * KiB, 5000, 3, false);
  await w.write(a, 4 * KiB, 4 * KiB, 4, false);
  await w.flush();
  await w.write(a, 4 * KiB, 2 * KiB, 5, true);
  await w.write(a, 100 * KiB, 4 * KiB, 6, false);
  const s1 = await w.snapshot(a);
  await w.write(a, 100 * KiB, 4 * KiB, 7, false);
  await w.write(a, 8 * KiB, 4 * KiB, 8, false);
  await w.flush();
  await w.revert(a, s1);
  await w.write(a, 100 * KiB, 1000, 9, false);
  await w.write(a, 12 * KiB, 4 * KiB, 10, false);
  await w.zero(a, 'trim', 0, 64 * KiB, false);
  await w.write(a, 64 * KiB, 64 * KiB, 11, false);
  await w.flush();
  await w.write(a, 80 * KiB, 8 * KiB, 12, false);
  await w.flush();
};

/** Operations in one random workload, after its first two volumes. */
const randomWorkloadSteps = 40;

/** A workload of random operations drawn from `seed` (the same seed makes the same calls). */
function randomWorkload(seed: number): WorkloadScript {
  return async (w) => {
    const random = seededRandom(seed);
    const below = (n: number) => random() % n;
    const t = w.tracker;
    const range = (volume: VolumeTrack) => {
      const unit = [1, sectorBytes, w.chunkSizeBytes][below(3)];
      const units = Math.max(1, Math.floor(volume.sizeBytes / unit));
      const start = below(units);
      const length = 1 + below(Math.max(1, Math.min(units - start, Math.ceil((32 * KiB) / unit))));
      const offsetBytes = Math.min(start * unit, volume.sizeBytes - 1);
      return { offsetBytes, lengthBytes: Math.min(length * unit, volume.sizeBytes - offsetBytes) };
    };
    for (let i = 0; i < 2; i++) await w.createVolume((4 + below(21)) * sectorBytes);
    for (let step = 0; step < randomWorkloadSteps; step++) {
      const volumes = [...t.volumes.values()].filter((v) => v.state === 'live');
      const snapshots = [...t.snapshots.values()].filter((s) => s.state === 'available');
      const volume = volumes[below(volumes.length)];
      const own = snapshots.filter((s) => s.volumeId === volume.id);
      const roll = below(100);
      if (roll < 40) {
        const { offsetBytes, lengthBytes } = range(volume);
        await w.write(volume, offsetBytes, lengthBytes, below(8) === 0 ? 0 : 1 + below(0x7fffffff), below(4) === 0);
      } else if (roll < 48) {
        const { offsetBytes, lengthBytes } = range(volume);
        await w.zero(volume, below(2) === 0 ? 'trim' : 'zero', offsetBytes, lengthBytes, below(4) === 0);
      } else if (roll < 58) {
        await w.flush();
      } else if (roll < 68) {
        await w.snapshot(volume);
      } else if (roll < 72) {
        await w.groupSnapshot(volumes.filter((v) => v === volume || below(2) === 0));
      } else if (roll < 76) {
        if (volume.sizeBytes < 128 * KiB) await w.grow(volume, volume.sizeBytes + (1 + below(4)) * sectorBytes);
      } else if (roll < 82) {
        if (own.length > 0) await w.revert(volume, own[below(own.length)]);
      } else if (roll < 87) {
        const origin = snapshots.length > 0 ? snapshots[below(snapshots.length)] : undefined;
        if (origin !== undefined && volumes.length < 5) await w.clone(origin, origin.content.byteLength + below(3) * sectorBytes);
      } else if (roll < 95) {
        if (snapshots.length > 0) await w.deleteSnapshot(snapshots[below(snapshots.length)]);
      } else if (volumes.length > 1) {
        await w.deleteVolume(volume);
      }
    }
    await w.flush();
  };
}

// ---- checking a pool after a crash ----

/** Reopens the crashed disk and returns every violation found (empty when all is well). */
async function verifyRecovered(disk: MemoryStorage, tracker: Tracker): Promise<string[]> {
  let engine: EngineApi;
  try {
    engine = await openPool(disk);
  } catch (error) {
    return tracker.poolCreated ? [`openPool failed: ${errorText(error)}`] : [];
  }
  const problems: string[] = [];
  try {
    const first = await engine.fsck();
    if (!first.ok) problems.push(`fsck after reopen: ${first.violations.slice(0, 5).join('; ')}`);
    for (let round = 0; engine.jobs().length > 0; round++) {
      if (round >= 100) {
        problems.push('jobs() still lists jobs after they finished');
        break;
      }
      for (const job of engine.jobs()) await job.done;
    }
    const second = await engine.fsck();
    if (!second.ok) problems.push(`fsck after resumed jobs: ${second.violations.slice(0, 5).join('; ')}`);
    await checkVolumes(engine, tracker, problems);
    await checkSnapshots(engine, tracker, problems);
    if (problems.length === 0) await checkStillWritable(engine, problems);
  } catch (error) {
    problems.push(`recovered pool failed: ${errorText(error)}`);
  } finally {
    await engine.close().catch(() => undefined);
  }
  return problems;
}

async function checkVolumes(engine: EngineApi, tracker: Tracker, problems: string[]): Promise<void> {
  const listed = new Map((await engine.listVolumes()).map((info) => [info.id, info]));
  for (const volume of tracker.volumes.values()) {
    const info = listed.get(volume.id);
    listed.delete(volume.id);
    if (volume.state === 'deleted') {
      if (info !== undefined) problems.push(`volume ${volume.id} is back after its delete job finished`);
      continue;
    }
    if (info === undefined || info.state !== 'available') {
      if (volume.state === 'live') problems.push(`volume ${volume.id} is ${info === undefined ? 'missing' : info.state}`);
      continue;
    }
    if (info.sizeBytes !== volume.sizeBytes && info.sizeBytes !== volume.sizeBytesBefore) {
      problems.push(`volume ${volume.id} has size ${info.sizeBytes}, expected ${volume.sizeBytes}`);
      continue;
    }
    const content = await engine.read({ volumeId: volume.id }, 0, info.sizeBytes);
    for (let sector = 0; sector * sectorBytes < info.sizeBytes; sector++) {
      const problem = sectorProblem(volume.sectors[sector], content.subarray(sector * sectorBytes, (sector + 1) * sectorBytes));
      if (problem !== null) problems.push(`volume ${volume.id} sector ${sector} (byte ${sector * sectorBytes}): ${problem}`);
    }
  }
  let inDoubt = tracker.volumeInDoubt;
  for (const info of listed.values()) {
    const expected = inDoubt;
    if (expected === null) {
      problems.push(`unexpected volume ${info.id} (${info.state})`);
      continue;
    }
    inDoubt = null;
    if (info.state !== 'available') continue;
    const content = await engine.read({ volumeId: info.id }, 0, info.sizeBytes);
    if (!sameBytes(content, expected)) problems.push(`volume ${info.id} from an interrupted create/clone has wrong content`);
  }
}

async function checkSnapshots(engine: EngineApi, tracker: Tracker, problems: string[]): Promise<void> {
  const listed = new Map<number, { volumeId: number; sizeBytes: number; state: string }>();
  for (const volume of (await engine.listVolumes())) {
    if (volume.state !== 'available') continue;
    for (const info of (await engine.listSnapshots(volume.id))) listed.set(info.id, info);
  }
  const reads: Promise<void>[] = [];
  for (const snapshot of tracker.snapshots.values()) {
    const info = listed.get(snapshot.id);
    listed.delete(snapshot.id);
    if (snapshot.state === 'deleted') {
      if (info !== undefined) problems.push(`snapshot ${snapshot.id} is back after its delete job finished`);
      continue;
    }
    if (info === undefined || info.state !== 'available') {
      if (snapshot.state === 'available') problems.push(`snapshot ${snapshot.id} is ${info === undefined ? 'missing' : info.state}`);
      continue;
    }
    reads.push(expectSnapshot(engine, snapshot.id, info.sizeBytes, snapshot.content, problems));
  }
  const inDoubt = new Map(tracker.snapshotsInDoubt);
  for (const [id, info] of listed) {
    const expected = inDoubt.get(info.volumeId);
    if (expected === undefined) {
      problems.push(`unexpected snapshot ${id} of volume ${info.volumeId} (${info.state})`);
      continue;
    }
    inDoubt.delete(info.volumeId);
    if (info.state === 'available') reads.push(expectSnapshot(engine, id, info.sizeBytes, expected, problems));
  }
  await Promise.all(reads);
}

async function expectSnapshot(engine: EngineApi, id: number, sizeBytes: number, expected: Uint8Array, problems: string[]): Promise<void> {
  if (sizeBytes !== expected.byteLength) {
    problems.push(`snapshot ${id} has size ${sizeBytes}, expected ${expected.byteLength}`);
    return;
  }
  const content = await engine.read({ snapshotId: id }, 0, sizeBytes);
  for (let offset = 0; offset < sizeBytes; offset += sectorBytes) {
    if (!sameBytes(content.subarray(offset, offset + sectorBytes), expected.subarray(offset, offset + sectorBytes))) {
      problems.push(`snapshot ${id} differs at sector ${offset / sectorBytes} (byte ${offset})`);
      return;
    }
  }
}

/** The recovered pool must also accept new work: one write, a flush and a clean fsck. */
async function checkStillWritable(engine: EngineApi, problems: string[]): Promise<void> {
  const volume = (await engine.listVolumes()).find((info) => info.state === 'available');
  if (volume === undefined) return;
  const data = patternBytes(sectorBytes, 99);
  await engine.write(volume.id, 0, data);
  await engine.flush();
  const back = await engine.read({ volumeId: volume.id }, 0, sectorBytes);
  if (!sameBytes(back, data)) problems.push(`a write after recovery reads back wrong`);
  const report = await engine.fsck();
  if (!report.ok) problems.push(`fsck after a write following recovery: ${report.violations.slice(0, 5).join('; ')}`);
}

function sectorProblem(history: SectorHistory, actual: Uint8Array): string | null {
  let match = history.values.length - 1;
  while (match >= 0 && !sameBytes(history.values[match].bytes, actual)) match--;
  if (match >= history.durableFrom) return null;
  const durable = history.values[history.durableFrom];
  const acceptable = history.values.slice(history.durableFrom).map((v) => v.step).join(',');
  if (match >= 0) {
    return `holds the value of step ${history.values[match].step}, older than the durable value of step ${durable.step} (acceptable: steps ${acceptable})`;
  }
  return `holds a value never written, e.g. a torn or misplaced sector (acceptable: steps ${acceptable})`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

// ---- driving the crash points ----

type PointKind = 'sync' | 'write';

/** Random crash images per point (STRATA_CRASH_SEEDS, default 3); seeds are n * 1000 + 1, + 2, … */
const randomSeedsPerPoint = Number(process.env.STRATA_CRASH_SEEDS || 3);
const maxReported = 40;

function modesFor(kind: PointKind, n: number): CrashMode[] {
  const randoms = Array.from({ length: randomSeedsPerPoint }, (_, i): CrashMode => ({ kind: 'random', seed: n * 1000 + i + 1 }));
  return kind === 'sync' ? ['power-loss', ...randoms] : ['process-kill', 'power-loss', ...randoms];
}

function describeMode(mode: CrashMode): string {
  return typeof mode === 'string' ? mode : `random seed ${mode.seed}`;
}

/** Runs the workload stopped at one point and checks every crash image of that instant. */
async function crashAt(spec: WorkloadSpec, kind: PointKind, n: number): Promise<string[]> {
  const storage = new MemoryStorage();
  if (kind === 'sync') storage.failAtSync(n);
  else storage.failAtWrite(n);
  const workload = new Workload(storage, spec.chunkSizeBytes, spec.script);
  const point = `${spec.select} STRATA_CRASH_POINT=${kind}:${n}`;
  let outcome: 'completed' | 'stopped';
  try {
    outcome = await workload.run();
  } catch (error) {
    return [`${point}: workload: ${errorText(error)}`];
  } finally {
    await workload.engine?.close().catch(() => undefined);
  }
  const t = workload.tracker;
  const at = `stopped in step ${t.step} (${t.stepLabel})`;
  if (outcome === 'completed') return [`${point}: the workload completed before ${kind} ${n}; it is not deterministic`];
  const problems: string[] = [];
  for (const mode of modesFor(kind, n)) {
    const found = await verifyRecovered(storage.crash(mode), t);
    for (const problem of found) problems.push(`${point} mode=${describeMode(mode)}, ${at}: ${problem}`);
  }
  return problems;
}

/** Runs the workload on a storage that never fails: counts its syncs and writes, and checks it. */
async function countPoints(spec: WorkloadSpec): Promise<{ syncs: number; writes: number }> {
  const storage = new MemoryStorage();
  const workload = new Workload(storage, spec.chunkSizeBytes, spec.script);
  const outcome = await workload.run();
  assert.equal(outcome, 'completed', `${spec.select}: the workload must complete without a crash`);
  const counts = { syncs: storage.syncCount, writes: storage.writeCount };
  await workload.engine?.close();
  const problems = await verifyRecovered(storage.crash('power-loss'), workload.tracker);
  if (problems.length > 0) {
    const shown = problems.slice(0, maxReported).join('\n');
    assert.fail(`${spec.select}: the completed workload, closed and then cut by a power loss, must verify:\n${shown}`);
  }
  return counts;
}

function pointFromEnv(): { kind: PointKind; n: number } | null {
  const text = process.env.STRATA_CRASH_POINT;
  if (text === undefined || text === '') return null;
  const match = /^(sync|write):(\d+)$/.exec(text);
  assert.ok(match !== null, 'STRATA_CRASH_POINT must be sync:<n> or write:<n>');
  return { kind: match[1] as PointKind, n: Number(match[2]) };
}

/** Checks every crash point of one kind; a failure lists every problem with what replays it. */
async function runPoints(spec: WorkloadSpec, kinds: PointKind[], report: (message: string) => void): Promise<void> {
  const only = pointFromEnv();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const counts = await countPoints(spec);
    const problems: string[] = [];
    for (const kind of kinds) {
      if (only !== null && only.kind !== kind) continue;
      const total = kind === 'sync' ? counts.syncs : counts.writes;
      const points = only !== null ? [only.n] : Array.from({ length: total }, (_, i) => i + 1);
      report(`${spec.select}: ${total} ${kind} points, ${points.length} tested`);
      for (const n of points) {
        const before = unhandled.length;
        problems.push(...(await crashAt(spec, kind, n)));
        for (const reason of unhandled.slice(before)) {
          problems.push(`${spec.select} STRATA_CRASH_POINT=${kind}:${n}: unhandled rejection: ${errorText(reason)}`);
        }
      }
    }
    if (problems.length > 0) {
      const shown = problems.slice(0, maxReported).join('\n');
      assert.fail(`${problems.length} crash problem(s)${problems.length > maxReported ? ` (first ${maxReported})` : ''}:\n${shown}`);
    }
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
}

// ---- which workloads run ----

const chunkSizesBytes = [16 * KiB, 4 * KiB, 64 * KiB];
/** Random workloads checked (STRATA_CRASH_WORKLOADS, default 4); workload k uses seed k. */
const randomWorkloads = Number(process.env.STRATA_CRASH_WORKLOADS || 4);

function scriptedSpec(chunkSizeBytes: number): WorkloadSpec {
  return { select: `STRATA_CRASH_WORKLOAD=scripted:${chunkSizeBytes}`, chunkSizeBytes, script: scriptedWorkload };
}

function overwriteSpec(chunkSizeBytes: number): WorkloadSpec {
  return { select: `STRATA_CRASH_WORKLOAD=overwrites:${chunkSizeBytes}`, chunkSizeBytes, script: overwriteWorkload };
}

function randomSpec(seed: number): WorkloadSpec {
  const chunkSizeBytes = chunkSizesBytes[seed % chunkSizesBytes.length];
  return { select: `STRATA_CRASH_WORKLOAD=random:${seed}`, chunkSizeBytes, script: randomWorkload(seed) };
}

/** STRATA_CRASH_WORKLOAD=scripted:<chunk bytes> or random:<seed> runs that workload alone. */
function specsFromEnv(): WorkloadSpec[] | null {
  const text = process.env.STRATA_CRASH_WORKLOAD;
  if (text === undefined || text === '') return null;
  const match = /^(scripted|overwrites|random):(\d+)$/.exec(text);
  assert.ok(match !== null, 'STRATA_CRASH_WORKLOAD must be scripted:<chunk bytes>, overwrites:<chunk bytes> or random:<seed>');
  const make = { scripted: scriptedSpec, overwrites: overwriteSpec, random: randomSpec }[match[1] as 'scripted' | 'overwrites' | 'random'];
  return [make(Number(match[2]))];
}

const specs = specsFromEnv() ?? [
  ...chunkSizesBytes.map(scriptedSpec),
  overwriteSpec(64 * KiB),
  overwriteSpec(16 * KiB),
  ...Array.from({ length: randomWorkloads }, (_, i) => randomSpec(i + 1)),
];

describe('after a crash, the pool reopens clean and keeps every durable write and every snapshot', () => {
  for (const spec of specs) {
    it(`power loss or random crash at every sync (${spec.select})`, async (t) => {
      await runPoints(spec, ['sync'], (message) => t.diagnostic(message));
    });

    it(`process kill, power loss or random crash at every write (${spec.select})`, async (t) => {
      await runPoints(spec, ['write'], (message) => t.diagnostic(message));
    });
  }
});
