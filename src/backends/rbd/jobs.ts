/**
 * Background work of the RBD backend (delete-volume, delete-snapshot, flatten) as EngineJobs.
 * The work itself is librbd's; this keeps the progress it reports and one job per target, so
 * a second request for the same work joins the running one. Nothing here needs to survive a
 * restart: the state a job leaves in RADOS (the image's deleting mark, a half-flattened clone)
 * is what the next request for it continues from.
 */
import type { EngineJob, JobProgress } from '../../engine/types.js';

type Kind = EngineJob['kind'];

export class RbdJob implements EngineJob {
  private current: JobProgress = { done: 0, total: 1 };
  readonly done: Promise<void>;

  constructor(
    readonly kind: Kind,
    readonly targetId: number,
    work: (job: RbdJob) => Promise<void>,
  ) {
    // Started on the next tick so the caller holds the job before it can fail.
    this.done = Promise.resolve().then(() => work(this));
    this.done.catch(() => undefined);
  }

  progress(): JobProgress {
    return { ...this.current };
  }

  report(done: number, total: number): void {
    if (total > 0) this.current = { done: Math.min(done, total), total };
  }
}

export class RbdJobs {
  private readonly running = new Map<string, RbdJob>();

  /** The running job of this kind on this target, or a new one running `work`. */
  start(kind: Kind, targetId: number, work: (job: RbdJob) => Promise<void>): RbdJob {
    const key = `${kind}:${targetId}`;
    const existing = this.running.get(key);
    if (existing !== undefined) return existing;
    const job = new RbdJob(kind, targetId, work);
    this.running.set(key, job);
    void job.done.then(
      () => this.running.delete(key),
      () => this.running.delete(key),
    );
    return job;
  }

  list(): EngineJob[] {
    return [...this.running.values()];
  }

  isRunning(kind: Kind, targetId: number): boolean {
    return this.running.has(`${kind}:${targetId}`);
  }

  /** Waits for every running job (librbd calls cannot be interrupted midway). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.running.values()].map((job) => job.done));
  }
}
