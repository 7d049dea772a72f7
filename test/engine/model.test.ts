/**
 * Model-based property test: random sequences of every engine operation, run against the engine
 * over MemoryStorage and against the pure model (model.ts). After every step, every byte of
 * every view (live volumes and snapshots) must read as the model says, block status and diffs
 * must agree with the content, space accounting must be sane, and fsck must pass whenever the
 * sequence asks for it (a generated step, often while background jobs run) and at the end.
 * Pools are closed and reopened along the way, sometimes with background jobs still running.
 *
 * Scale with STRATA_MODEL_RUNS (default 200). A failure prints the seed and path; replay it
 * exactly with STRATA_MODEL_SEED=<seed> STRATA_MODEL_PATH=<path>.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import fc from 'fast-check';
import { createPool, openPool } from '../../src/engine/index.js';
import type { EngineApi, EngineJob, ViewRef } from '../../src/engine/types.js';
import { type ErrorCode, isStrataError } from '../../src/lib/errors.js';
import { limits } from '../../src/lib/limits.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { describeView, EngineModel } from './model.js';
import { bytesMismatch, errorText, extentsProblem, patternBytes, quiet, rangesProblem } from './support.js';

const sectorBytes = 4096;
const volumeSizeBytesMax = 512 * 1024;
const chunkSizesBytes = [4096, 16384, 65536] as const;

// ---- operations (plain data, so fast-check shrinks and prints them) ----

/** A byte range chosen relative to the volume's size when the step runs. */
interface Place {
  align: 'byte' | 'sector' | 'chunk';
  start: number;
  length: number;
}

type Op =
  | { kind: 'create'; sectors: number }
  | { kind: 'write'; volume: number; place: Place; pattern: number; fua: boolean }
  | { kind: 'trim'; volume: number; place: Place; fua: boolean }
  | { kind: 'zero'; volume: number; place: Place; noHole: boolean; fua: boolean }
  | { kind: 'flush' }
  | { kind: 'grow'; volume: number; sectors: number }
  | { kind: 'snapshot'; volume: number }
  | { kind: 'group'; volumes: number[] }
  | { kind: 'revert'; volume: number; snapshot: number }
  | { kind: 'clone'; snapshot: number; extraSectors: number | null }
  | { kind: 'deleteSnapshot'; snapshot: number; wait: boolean }
  | { kind: 'deleteVolume'; volume: number; wait: boolean }
  | { kind: 'flatten'; volume: number; wait: boolean }
  | { kind: 'read'; view: number; place: Place }
  | { kind: 'diff'; volume: number; from: number; to: number }
  | { kind: 'awaitJobs' }
  | { kind: 'fsck' }
  | { kind: 'reopen'; drain: boolean };

const pick = fc.nat({ max: 15 });
const placeArb: fc.Arbitrary<Place> = fc.record({
  align: fc.constantFrom<Place['align']>('byte', 'sector', 'chunk'),
  start: fc.nat({ max: 1 << 20 }),
  length: fc.oneof(fc.nat({ max: 16 }), fc.nat({ max: 1 << 20 })),
});

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('create' as const), sectors: fc.integer({ min: 1, max: 64 }) }) },
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('write' as const),
      volume: pick,
      place: placeArb,
      pattern: fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 6, arbitrary: fc.integer({ min: 1, max: 0x7fffffff }) }),
      fua: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('trim' as const), volume: pick, place: placeArb, fua: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('zero' as const), volume: pick, place: placeArb, noHole: fc.boolean(), fua: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flush' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('grow' as const), volume: pick, sectors: fc.integer({ min: 1, max: 32 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), volume: pick }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('group' as const), volumes: fc.array(pick, { minLength: 1, maxLength: 4 }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('revert' as const), volume: pick, snapshot: pick }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('clone' as const),
      snapshot: pick,
      extraSectors: fc.option(fc.integer({ min: 0, max: 16 }), { nil: null }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deleteSnapshot' as const), snapshot: pick, wait: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deleteVolume' as const), volume: pick, wait: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flatten' as const), volume: pick, wait: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('read' as const), view: pick, place: placeArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('diff' as const), volume: pick, from: pick, to: pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('awaitJobs' as const) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('fsck' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reopen' as const), drain: fc.boolean() }) },
);

const scenarioArb = fc.record({
  chunkSizeBytes: fc.constantFrom(...chunkSizesBytes),
  initialSectors: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 3 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 100, size: 'max' }),
});
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** Expected refusals seen across the run, by operation and code (printed as a diagnostic). */
const refusals = new Map<string, number>();
/** Operations that ran (were applicable), by kind: shows what the generated sequences cover. */
const executed = new Map<string, number>();

function count(kind: string): void {
  executed.set(kind, (executed.get(kind) ?? 0) + 1);
}

// ---- one sequence ----

class ModelRun {
  readonly model = new EngineModel();
  private pendingJobs: { label: string; done: Promise<void> }[] = [];

  constructor(
    private readonly storage: MemoryStorage,
    public engine: EngineApi,
    private readonly chunkSizeBytes: number,
  ) {}

  async apply(op: Op): Promise<void> {
    switch (op.kind) {
      case 'create':
        count('create');
        return this.createVolume(op.sectors * sectorBytes);
      case 'write':
      case 'trim':
      case 'zero':
        return this.modify(op);
      case 'flush':
        count('flush');
        return this.engine.flush();
      case 'grow':
        return this.grow(op.volume, op.sectors);
      case 'snapshot':
        return this.snapshot(op.volume);
      case 'group':
        return this.groupSnapshot(op.volumes);
      case 'revert':
        return this.revert(op.volume, op.snapshot);
      case 'clone':
        return this.clone(op.snapshot, op.extraSectors);
      case 'deleteSnapshot':
        return this.deleteSnapshot(op.snapshot, op.wait);
      case 'deleteVolume':
        return this.deleteVolume(op.volume, op.wait);
      case 'flatten':
        return this.flatten(op.volume, op.wait);
      case 'read':
        return this.readRange(op.view, op.place);
      case 'diff':
        return this.checkDiff(op.volume, op.from, op.to);
      case 'awaitJobs':
        return this.drainJobs();
      case 'fsck':
        count('fsck');
        return this.fsck();
      case 'reopen':
        return this.reopen(op.drain);
    }
  }

  async createVolume(sizeBytes: number): Promise<void> {
    const info = await this.engine.createVolume({ sizeBytes });
    assert.equal(info.sizeBytes, sizeBytes, 'createVolume: size');
    this.model.createVolume(info.id, sizeBytes);
  }

  private async modify(op: Extract<Op, { kind: 'write' | 'trim' | 'zero' }>): Promise<void> {
    const volumeId = this.pickVolume(op.volume);
    if (volumeId === null) return;
    const { offsetBytes, lengthBytes } = this.resolve(op.place, this.model.sizeOf({ volumeId }));
    count(op.kind);
    if (op.kind === 'write') {
      const data = patternBytes(lengthBytes, op.pattern);
      await this.engine.write(volumeId, offsetBytes, data, { fua: op.fua });
      this.model.write(volumeId, offsetBytes, data);
    } else if (op.kind === 'trim') {
      await this.engine.trim(volumeId, offsetBytes, lengthBytes, { fua: op.fua });
      this.model.zero(volumeId, offsetBytes, lengthBytes);
    } else {
      await this.engine.writeZeroes(volumeId, offsetBytes, lengthBytes, { fua: op.fua, noHole: op.noHole });
      this.model.zero(volumeId, offsetBytes, lengthBytes);
    }
  }

  private async grow(volumePick: number, sectors: number): Promise<void> {
    const volumeId = this.pickVolume(volumePick);
    if (volumeId === null) return;
    const sizeBytes = this.model.sizeOf({ volumeId }) + sectors * sectorBytes;
    if (sizeBytes > volumeSizeBytesMax) return;
    if (await this.refused('grow', ['BUSY'], () => this.engine.growVolume(volumeId, sizeBytes))) return;
    this.model.grow(volumeId, sizeBytes);
  }

  private async snapshot(volumePick: number): Promise<void> {
    const volumeId = this.pickVolume(volumePick);
    if (volumeId === null) return;
    let snapshotId = -1;
    const refused = await this.refused('snapshot', ['BUSY'], async () => {
      const info = await this.engine.createSnapshot(volumeId);
      assert.equal(info.volumeId, volumeId, 'createSnapshot: volumeId');
      assert.equal(info.sizeBytes, this.model.sizeOf({ volumeId }), 'createSnapshot: size');
      assert.equal(info.state, 'available', 'createSnapshot: state');
      snapshotId = info.id;
    });
    if (!refused) this.model.snapshot(snapshotId, volumeId);
  }

  private async groupSnapshot(volumePicks: number[]): Promise<void> {
    const volumeIds = [...new Set(volumePicks.map((p) => this.pickVolume(p)).filter((id) => id !== null))];
    if (volumeIds.length === 0) return;
    let snapshots: { id: number; volumeId: number }[] = [];
    const refused = await this.refused('group', ['BUSY'], async () => {
      const result = await this.engine.createGroupSnapshot(volumeIds);
      assert.ok(result.fenceHeldMs >= 0, 'createGroupSnapshot: fenceHeldMs');
      snapshots = result.snapshots;
    });
    if (refused) return;
    assert.deepEqual(snapshots.map((s) => s.volumeId).sort(), [...volumeIds].sort(), 'group snapshot members');
    for (const snapshot of snapshots) this.model.snapshot(snapshot.id, snapshot.volumeId);
  }

  private async revert(volumePick: number, snapshotPick: number): Promise<void> {
    const volumeId = this.pickVolume(volumePick);
    if (volumeId === null) return;
    const snapshots = this.model.snapshotIds(volumeId);
    if (snapshots.length === 0) return;
    const snapshotId = snapshots[snapshotPick % snapshots.length];
    const sizeBytes = this.model.sizeOf({ volumeId });
    const refused = await this.refused('revert', ['BUSY'], async () => {
      const info = await this.engine.revert(volumeId, snapshotId);
      assert.equal(info.sizeBytes, sizeBytes, 'revert keeps the volume size');
    });
    if (!refused) this.model.revert(volumeId, snapshotId);
  }

  private async clone(snapshotPick: number, extraSectors: number | null): Promise<void> {
    const snapshotId = this.pickSnapshot(snapshotPick);
    if (snapshotId === null) return;
    const snapshotSize = this.model.sizeOf({ snapshotId });
    const requested = extraSectors === null ? undefined : snapshotSize + extraSectors * sectorBytes;
    const origin = (await this.engine.volume(this.model.volumeOfSnapshot(snapshotId)));
    const allowed: ErrorCode[] = origin.cloneDepth + 1 > limits.cloneDepthMax ? ['BUSY', 'LIMIT_EXCEEDED'] : ['BUSY'];
    let volumeId = -1;
    let sizeBytes = -1;
    const refused = await this.refused('clone', allowed, async () => {
      const info = await this.engine.clone(snapshotId, requested === undefined ? undefined : { sizeBytes: requested });
      volumeId = info.id;
      sizeBytes = info.sizeBytes;
    });
    if (refused) return;
    assert.equal(this.model.clone(volumeId, snapshotId, requested), sizeBytes, 'clone: size');
  }

  private async deleteSnapshot(snapshotPick: number, wait: boolean): Promise<void> {
    const snapshotId = this.pickSnapshot(snapshotPick);
    if (snapshotId === null) return;
    let hasClone = false;
    for (const id of this.model.volumeIds()) if ((await this.engine.volume(id)).originSnapshotId === snapshotId) hasClone = true;
    const allowed: ErrorCode[] = hasClone ? ['BUSY', 'CONFLICT'] : ['BUSY'];
    const alone = wait && this.pendingJobs.length === 0 && this.engine.jobs().length === 0;
    const exclusiveBytes = (await this.engine.exclusiveBytes(snapshotId));
    // Pending chunks count as free here: overwrite log slots pass through pending between commits.
    const reusable = async () => {
      const info = await this.engine.info();
      return info.chunksFree + info.chunksPending;
    };
    const freeBefore = await reusable();
    await this.startJob('deleteSnapshot', allowed, wait, () => this.engine.deleteSnapshot(snapshotId), () =>
      this.model.deleteSnapshot(snapshotId),
    );
    if (!alone || this.model.hasSnapshot(snapshotId) || this.engine.jobs().length > 0) return;
    // What exclusiveBytes promised must come back to the pool once the deletion is durable.
    await this.engine.flush();
    const freedBytes = ((await reusable()) - freeBefore) * this.chunkSizeBytes;
    assert.ok(
      freedBytes >= exclusiveBytes,
      `deleting snapshot ${snapshotId} freed ${freedBytes} bytes, but exclusiveBytes said ${exclusiveBytes}`,
    );
  }

  private async deleteVolume(volumePick: number, wait: boolean): Promise<void> {
    const volumeId = this.pickVolume(volumePick);
    if (volumeId === null) return;
    await this.startJob('deleteVolume', ['BUSY'], wait, () => this.engine.deleteVolume(volumeId), () =>
      this.model.deleteVolume(volumeId),
    );
  }

  private async flatten(volumePick: number, wait: boolean): Promise<void> {
    const volumeId = this.pickVolume(volumePick);
    if (volumeId === null || (await this.engine.volume(volumeId)).originSnapshotId === null) return;
    await this.startJob('flatten', ['BUSY'], wait, () => this.engine.flatten(volumeId), () => undefined);
  }

  /** Starts a background job; the model changes at once, since the engine's views must too. */
  private async startJob(
    label: string,
    allowed: ErrorCode[],
    wait: boolean,
    start: () => EngineJob,
    applyToModel: () => void,
  ): Promise<void> {
    let job: EngineJob;
    try {
      job = start();
    } catch (error) {
      if (this.isAllowedRefusal(label, allowed, error)) return;
      throw error;
    }
    applyToModel();
    count(label);
    const done = quiet(job.done);
    if (wait) await done;
    else this.pendingJobs.push({ label: `${label} ${job.targetId}`, done });
  }

  private async readRange(viewPick: number, place: Place): Promise<void> {
    const views = this.model.views();
    const view = views[viewPick % views.length];
    if (view === undefined) return;
    const { offsetBytes, lengthBytes } = this.resolve(place, this.model.sizeOf(view));
    count('read');
    const actual = await this.engine.read(view, offsetBytes, lengthBytes);
    const problem = bytesMismatch(actual, this.model.read(view, offsetBytes, lengthBytes), offsetBytes);
    if (problem !== null) assert.fail(`read ${describeView(view)} [${offsetBytes}, +${lengthBytes}): ${problem}`);
  }

  private async checkDiff(volumePick: number, fromPick: number, toPick: number): Promise<void> {
    const volumeId = this.pickVolume(volumePick);
    if (volumeId === null) return;
    const snapshots = this.model.snapshotIds(volumeId).map((snapshotId): ViewRef => ({ snapshotId }));
    const fromChoices: (ViewRef | null)[] = [null, ...snapshots];
    const toChoices: ViewRef[] = [{ volumeId }, ...snapshots];
    count('diff');
    await this.checkOneDiff(fromChoices[fromPick % fromChoices.length], toChoices[toPick % toChoices.length]);
  }

  private async checkOneDiff(from: ViewRef | null, to: ViewRef): Promise<void> {
    const label = `diff ${describeView(from)} → ${describeView(to)}`;
    const ranges = (await this.engine.diff(from, to));
    const limit = Math.max(this.model.sizeOf(to), from === null ? 0 : this.model.sizeOf(from));
    const problem = rangesProblem(ranges, limit);
    if (problem !== null) assert.fail(`${label}: ${problem}`);
    const uncovered = this.model.firstUncoveredDifference(from, to, ranges);
    if (uncovered >= 0) assert.fail(`${label}: byte ${uncovered} differs but no range covers it`);
  }

  async drainJobs(): Promise<void> {
    for (let round = 0; this.pendingJobs.length > 0 || this.engine.jobs().length > 0; round++) {
      assert.ok(round < 100, `jobs() still lists ${this.engine.jobs().length} job(s) after their done resolved`);
      const pending = this.pendingJobs;
      this.pendingJobs = [];
      for (const job of pending) {
        try {
          await job.done;
        } catch (error) {
          throw new Error(`job ${job.label} failed: ${errorText(error)}`, { cause: error });
        }
      }
      for (const job of this.engine.jobs()) await job.done;
    }
  }

  async fsck(): Promise<void> {
    const report = await this.engine.fsck();
    assert.ok(report.ok, `fsck: ${report.violations.slice(0, 10).join('; ')}`);
  }

  private async reopen(drain: boolean): Promise<void> {
    if (drain) await this.drainJobs();
    count(this.pendingJobs.length > 0 || this.engine.jobs().length > 0 ? 'reopen with jobs' : 'reopen');
    await this.engine.close();
    for (const job of this.pendingJobs) {
      try {
        await job.done;
      } catch (error) {
        if (!isStrataError(error, 'CLOSED')) {
          throw new Error(`job ${job.label} failed at close: ${errorText(error)}`, { cause: error });
        }
      }
    }
    this.pendingJobs = [];
    this.engine = await openPool(this.storage);
    assert.equal(this.engine.chunkSizeBytes, this.chunkSizeBytes, 'reopened pool: chunk size');
  }

  /** Compares every view with the model: bytes, size, state, block status, diff from empty, space. */
  async checkAllViews(): Promise<void> {
    for (const view of this.model.views()) {
      const label = describeView(view);
      const sizeBytes = this.model.sizeOf(view);
      const info = 'volumeId' in view ? (await this.engine.volume(view.volumeId)) : (await this.engine.snapshot(view.snapshotId));
      assert.equal(info.sizeBytes, sizeBytes, `${label}: size`);
      assert.equal(info.state, 'available', `${label}: state`);
      const actual = await this.engine.read(view, 0, sizeBytes);
      const mismatch = bytesMismatch(actual, this.model.contentOf(view));
      if (mismatch !== null) assert.fail(`${label}: ${mismatch}`);
      const extents = (await this.engine.blockStatus(view, 0, sizeBytes));
      const extentProblem = extentsProblem(extents, 0, sizeBytes, (o, l) => this.model.firstNonZero(view, o, l));
      if (extentProblem !== null) assert.fail(`${label}: block status: ${extentProblem}`);
      await this.checkOneDiff(null, view);
      await this.checkSpace(view);
    }
    await this.checkListings();
  }

  private async checkSpace(view: ViewRef): Promise<void> {
    const chunk = this.chunkSizeBytes;
    const sane = (bytes: number) => Number.isSafeInteger(bytes) && bytes >= 0 && bytes % chunk === 0;
    if ('volumeId' in view) {
      const allocated = (await this.engine.allocatedBytes(view.volumeId));
      assert.ok(sane(allocated), `volume ${view.volumeId}: allocatedBytes ${allocated}`);
      return;
    }
    const exclusive = (await this.engine.exclusiveBytes(view.snapshotId));
    assert.ok(sane(exclusive), `snapshot ${view.snapshotId}: exclusiveBytes ${exclusive}`);
    const allocated = (await this.engine.allocatedBytes(this.model.volumeOfSnapshot(view.snapshotId)));
    assert.ok(exclusive <= allocated, `snapshot ${view.snapshotId}: exclusiveBytes ${exclusive} > its volume's allocatedBytes ${allocated}`);
  }

  private async checkListings(): Promise<void> {
    const listed = (await this.engine.listVolumes()).filter((v) => v.state === 'available').map((v) => v.id);
    assert.deepEqual(listed.sort(byNumber), this.model.volumeIds().sort(byNumber), 'listVolumes (available)');
    for (const volumeId of this.model.volumeIds()) {
      const snapshots = (await this.engine.listSnapshots(volumeId)).filter((s) => s.state === 'available').map((s) => s.id);
      assert.deepEqual(snapshots.sort(byNumber), this.model.snapshotIds(volumeId).sort(byNumber), `listSnapshots(${volumeId})`);
    }
    assert.equal((await this.engine.info()).chunkSizeBytes, this.chunkSizeBytes, 'info().chunkSizeBytes');
  }

  private pickVolume(index: number): number | null {
    const ids = this.model.volumeIds();
    return ids.length === 0 ? null : ids[index % ids.length];
  }

  private pickSnapshot(index: number): number | null {
    const ids = this.model.snapshotIds();
    return ids.length === 0 ? null : ids[index % ids.length];
  }

  /** Turns a generated place into a range of a view of `sizeBytes` (a multiple of 4 KiB). */
  private resolve(place: Place, sizeBytes: number): { offsetBytes: number; lengthBytes: number } {
    let unit = place.align === 'byte' ? 1 : place.align === 'sector' ? sectorBytes : this.chunkSizeBytes;
    if (unit > sizeBytes) unit = sectorBytes;
    const units = Math.floor(sizeBytes / unit);
    const start = place.start % units;
    const length = 1 + (place.length % (units - start));
    return { offsetBytes: start * unit, lengthBytes: length * unit };
  }

  /** Runs a structural operation that the engine may refuse with one of `allowed` while jobs run. */
  private async refused(label: string, allowed: ErrorCode[], action: () => Promise<unknown>): Promise<boolean> {
    try {
      await action();
      count(label);
      return false;
    } catch (error) {
      if (this.isAllowedRefusal(label, allowed, error)) return true;
      throw error;
    }
  }

  private isAllowedRefusal(label: string, allowed: ErrorCode[], error: unknown): boolean {
    if (!allowed.some((code) => isStrataError(error, code))) return false;
    const code = (error as { code: ErrorCode }).code;
    if (code === 'BUSY' && this.pendingJobs.length === 0 && this.engine.jobs().length === 0) return false;
    const key = `${label}:${code}`;
    refusals.set(key, (refusals.get(key) ?? 0) + 1);
    return true;
  }
}

const byNumber = (a: number, b: number) => a - b;

async function runScenario(scenario: Scenario): Promise<void> {
  const storage = new MemoryStorage();
  const engine = await createPool(storage, { chunkSizeBytes: scenario.chunkSizeBytes });
  const run = new ModelRun(storage, engine, scenario.chunkSizeBytes);
  let step = -1;
  try {
    for (const sectors of scenario.initialSectors) await run.createVolume(sectors * sectorBytes);
    for (step = 0; step < scenario.ops.length; step++) {
      await run.apply(scenario.ops[step]);
      await run.checkAllViews();
    }
    step = scenario.ops.length;
    await run.drainJobs();
    await run.checkAllViews();
    await run.fsck();
  } catch (error) {
    const where = step < 0 ? 'setup' : step < scenario.ops.length ? `step ${step} ${JSON.stringify(scenario.ops[step])}` : 'end';
    throw new Error(`${where}: ${errorText(error)}`, { cause: error });
  } finally {
    await run.engine.close().catch(() => undefined);
  }
}

function envInteger(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  assert.ok(Number.isSafeInteger(value), `${name} must be an integer`);
  return value;
}

it('the engine agrees with the model on every view after every step of random sequences', async (t) => {
  const seed = envInteger('STRATA_MODEL_SEED');
  const path = process.env.STRATA_MODEL_PATH || undefined;
  const numRuns = envInteger('STRATA_MODEL_RUNS') ?? 200;
  const property = fc.asyncProperty(scenarioArb, runScenario);
  const details = await fc.check(property, { numRuns, seed, path, endOnFailure: path !== undefined });
  const show = (counts: Map<string, number>) => [...counts].map(([key, n]) => `${key}=${n}`).join(' ') || 'none';
  t.diagnostic(`runs=${details.numRuns} seed=${details.seed}`);
  t.diagnostic(`operations run: ${show(executed)}`);
  t.diagnostic(`refusals: ${show(refusals)}`);
  if (details.failed) {
    const report = fc.defaultReportMessage(details) ?? 'property failed';
    const cause = 'errorInstance' in details ? `\nerror: ${errorText(details.errorInstance)}` : '';
    const replay =
      `replay: STRATA_MODEL_SEED=${details.seed} STRATA_MODEL_PATH=${details.counterexamplePath ?? ''} ` +
      'node --test dist/test/engine/model.test.js';
    assert.fail(`${report}${cause}\n${replay}`);
  }
});
