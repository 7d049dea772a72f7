/**
 * Background jobs: deleting a snapshot, deleting a volume, flattening a clone. Each runs in
 * slices of `jobEntriesPerStep` map entries, yielding to foreground I/O between slices, and ends
 * with a commit. Jobs of a pool that was closed mid-way are resumed on the next open.
 */
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import type { Admission } from './admission.js';
import type { SlotAllocator } from './allocator.js';
import type { CommitPipeline } from './commit.js';
import type { PoolState, Snapshot, Volume } from './state.js';
import type { EngineJob, JobProgress } from './types.js';
import { isData, type ResolvedView, type Views } from './views.js';

class Job implements EngineJob {
  private doneCount = 0;
  private totalCount = 0;
  done!: Promise<void>;
  constructor(
    readonly kind: EngineJob['kind'],
    readonly targetId: number,
  ) {}
  progress(): JobProgress {
    return { done: this.doneCount, total: this.totalCount };
  }
  addTotal(count: number): void {
    this.totalCount += count;
  }
  advance(count: number): void {
    this.doneCount += count;
  }
}

export interface JobDeps {
  state: PoolState;
  views: Views;
  pipeline: CommitPipeline;
  admission: Admission;
  allocator: SlotAllocator;
  /** Throws if the engine is closed or failed. */
  checkUsable: () => void;
}

export class JobRunner {
  private readonly running = new Set<Job>();
  private stopping = false;

  constructor(private readonly deps: JobDeps) {}

  list(): EngineJob[] {
    return [...this.running];
  }

  /** Stops starting slices; resolves when every running job has ended. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled([...this.running].map((job) => job.done));
  }

  deleteSnapshot(snapshot: Snapshot): EngineJob {
    return this.start('delete-snapshot', snapshot.id, (job) => this.runDeleteSnapshot(job, snapshot));
  }

  deleteVolume(volume: Volume): EngineJob {
    return this.start('delete-volume', volume.id, (job) => this.runDeleteVolume(job, volume));
  }

  /** One flatten per volume at a time: a second request joins the running one. */
  flatten(volume: Volume): EngineJob {
    const existing = this.find('flatten', volume.id);
    if (existing !== undefined) return existing;
    return this.start('flatten', volume.id, (job) => this.runFlatten(job, volume));
  }

  /** After opening: finishes deletions cut short, flattens clones deeper than the bound. */
  resume(): void {
    const { state } = this.deps;
    for (const volume of state.volumes.values()) {
      if (volume.state === 'deleting') this.deleteVolume(volume);
    }
    for (const snapshot of state.snapshots.values()) {
      const volume = state.volumes.get(snapshot.volumeId);
      if (snapshot.state === 'deleting' && volume?.state === 'available') this.deleteSnapshot(snapshot);
    }
    for (const volume of state.volumes.values()) {
      if (volume.state === 'available' && state.cloneDepth(volume) > limits.cloneDepthFlattenAbove) this.flatten(volume);
    }
  }

  private find(kind: EngineJob['kind'], targetId: number): Job | undefined {
    return [...this.running].find((job) => job.kind === kind && job.targetId === targetId);
  }

  private start(kind: EngineJob['kind'], targetId: number, run: (job: Job) => Promise<void>): Job {
    const job = new Job(kind, targetId);
    this.running.add(job);
    job.done = (async () => {
      await Promise.resolve();
      try {
        await run(job);
      } finally {
        this.running.delete(job);
      }
    })();
    job.done.catch(() => undefined);
    return job;
  }

  /** Runs `step` over items in slices, yielding to foreground I/O between slices. */
  private async inSlices<T>(job: Job, items: T[], step: (item: T) => void): Promise<void> {
    for (let start = 0; start < items.length; start += limits.jobEntriesPerStep) {
      this.deps.checkUsable();
      if (this.stopping) throw new StrataError('CLOSED', 'the engine is closing; the job resumes when the pool is opened again');
      const end = Math.min(items.length, start + limits.jobEntriesPerStep);
      for (let i = start; i < end; i++) step(items[i]);
      job.advance(end - start);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Deletes a snapshot in O(entries it may hold alone): those in (previous live view, its generation]. */
  private async runDeleteSnapshot(job: Job, snapshot: Snapshot): Promise<void> {
    const { state, pipeline } = this.deps;
    const volume = state.volume(snapshot.volumeId);
    for (const clone of state.clonesOf(volume.id, snapshot.generation)) {
      if (clone.state === 'available') await this.flatten(clone).done;
    }
    volume.removeLiveGeneration(snapshot.generation);
    const below = volume.greatestLiveBelow(snapshot.generation);
    const candidates = volume.map.entriesInGenerations(below, snapshot.generation);
    job.addTotal(candidates.length);
    const stillHere = () => state.snapshots.get(snapshot.id) === snapshot;
    await this.inSlices(job, candidates, ([chunk, generation]) => {
      if (!stillHere()) return; // the whole volume was deleted meanwhile
      const entry = volume.map.at(chunk, generation);
      if (entry !== undefined && volume.isGarbage(chunk, entry)) pipeline.remove(volume, chunk, generation);
    });
    if (stillHere()) pipeline.change({ op: 'snapshot-delete', snapshotId: snapshot.id });
    await pipeline.flush();
  }

  private async runDeleteVolume(job: Job, volume: Volume): Promise<void> {
    const { state, pipeline, admission } = this.deps;
    for (const clone of state.clonesOf(volume.id)) {
      if (clone.state === 'available') {
        await this.flatten(clone).done;
      } else {
        // A clone being deleted still names this volume as its origin: let it go first.
        await this.find('delete-volume', clone.id)?.done.catch(() => undefined);
      }
    }
    // A flatten of this volume stops at its next slice (the volume is deleting); let it.
    await this.find('flatten', volume.id)?.done.catch(() => undefined);
    // Wait out writes that passed the gate before the volume was marked deleting.
    await admission.fence([volume], () => undefined, () => undefined).catch(() => undefined);
    const entries = [...volume.map.all()].map(([chunk, entry]) => [chunk, entry.generation] as const);
    job.addTotal(entries.length);
    await this.inSlices(job, entries, ([chunk, generation]) => pipeline.remove(volume, chunk, generation));
    pipeline.change({ op: 'volume-delete', volumeId: volume.id });
    await pipeline.flush();
  }

  /** Gives a clone its own generation-0 entries for everything it reads through its origin. */
  private async runFlatten(job: Job, volume: Volume): Promise<void> {
    const { state, views, pipeline, allocator } = this.deps;
    const origin = volume.origin;
    if (origin === null) return;
    const source = state.volume(origin.volumeId);
    const sourceView: ResolvedView = { volume: source, generation: origin.generation, sizeBytes: origin.sizeBytes, writable: false };
    const chunks = views.candidateChunks(sourceView, 0, origin.sizeBytes);
    job.addTotal(chunks.length);
    await this.inSlices(job, chunks, (chunk) => {
      if (volume.state !== 'available') return; // being deleted: nothing left to flatten for
      if (volume.map.at(chunk, 0) !== undefined || !views.readsThrough(volume, chunk)) return;
      const entry = views.lookup(source, origin.generation, chunk);
      if (!isData(entry)) return;
      allocator.reference(entry.slot);
      pipeline.put(volume, chunk, { generation: 0, slot: entry.slot, checksums: entry.checksums, epoch: -1 });
    });
    if (volume.state === 'available' && state.volumes.get(volume.id) === volume) {
      pipeline.change({ op: 'flatten-done', volumeId: volume.id });
    }
    await pipeline.flush();
  }
}
