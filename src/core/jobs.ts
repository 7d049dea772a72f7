/**
 * Jobs: work that outlasts a request (deletes and space reclaim, reverts, flattening, group
 * operations). A job row is inserted in the same transaction as the status change that starts
 * the work, then launched; its runner is idempotent, so a restart simply launches every job
 * of this instance's pool that was queued or running (recover), and each runner either
 * finishes the work or moves its resources out of their transitional status and fails.
 */
import type { DbTransaction, JobRow } from '../db/index.js';
import { isStrataError, StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import type { Caller, CoreDeps } from './context.js';
import { fetchPage, type ListOptions, type Page } from './paging.js';
import { newId, notFound, nowIso } from './store.js';

export type JobKind =
  | 'delete-volume'
  | 'delete-snapshot'
  | 'revert-snapshot'
  | 'flatten-volume'
  | 'delete-group-snapshot'
  | 'revert-group-snapshot'
  | 'clone-group-snapshot';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface Job {
  id: string;
  projectId: string;
  kind: JobKind;
  status: JobStatus;
  targetType: string;
  targetId: string;
  progress: { done: number; total: number };
  error: { code: string; message: string } | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface JobContext {
  job: JobRow;
  params: Record<string, unknown>;
  /** Records progress; written to the database at most every jobProgressIntervalMs. */
  progress(done: number, total: number): void;
}

export interface JobRunner {
  run(context: JobContext): Promise<void>;
  /** Moves the job's resources out of their transitional status after `run` failed. */
  failed(context: JobContext, error: unknown): Promise<void>;
}

export type JobSort = 'created_at';

export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    projectId: row.project_id,
    kind: row.kind as JobKind,
    status: row.status,
    targetType: row.target_type,
    targetId: row.target_id,
    progress: { done: Number(row.progress_done), total: Number(row.progress_total) },
    error: row.error_code === null ? null : { code: row.error_code, message: row.error_message ?? '' },
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

export class JobService {
  private readonly runners = new Map<JobKind, JobRunner>();
  private readonly running = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(private readonly deps: CoreDeps) {}

  register(kind: JobKind, runner: JobRunner): void {
    this.runners.set(kind, runner);
  }

  /** Inserts a queued job; call inside the transaction that starts the work, then `launch` after it commits. */
  async insert(tx: DbTransaction, spec: { projectId: string; kind: JobKind; targetType: string; targetId: string; params?: Record<string, unknown> }): Promise<JobRow> {
    const row = {
      id: newId(),
      project_id: spec.projectId,
      pool_id: this.deps.poolId,
      kind: spec.kind,
      status: 'queued' as const,
      target_type: spec.targetType,
      target_id: spec.targetId,
      params: JSON.stringify(spec.params ?? {}),
      progress_done: 0,
      progress_total: 0,
      error_code: null,
      error_message: null,
      created_at: nowIso(),
      started_at: null,
      finished_at: null,
    };
    await tx.insertInto('jobs').values(row).execute();
    return { ...row, seq: 0 };
  }

  /** Starts a committed job in the background. */
  launch(job: JobRow): void {
    if (this.stopping || this.running.has(job.id)) return;
    const runner = this.runners.get(job.kind as JobKind);
    if (runner === undefined) throw new Error(`no runner for job kind ${job.kind}`);
    // execute() records every runner failure itself; what reaches here is the database failing
    // to record it, which must not become an unhandled rejection. The row stays queued or
    // running, so the next start resumes the job.
    const promise = this.execute(job, runner)
      .catch((error: unknown) => this.deps.log.error({ err: error, job: job.id }, 'job could not be recorded'))
      .finally(() => this.running.delete(job.id));
    this.running.set(job.id, promise);
  }

  private async execute(job: JobRow, runner: JobRunner): Promise<void> {
    const { db, metrics, log } = this.deps;
    const started = performance.now();
    let lastWriteMs = 0;
    let pending: Promise<unknown> = Promise.resolve();
    const context: JobContext = {
      job,
      params: JSON.parse(job.params) as Record<string, unknown>,
      progress: (done, total) => {
        const now = performance.now();
        if (now - lastWriteMs < limits.control.jobProgressIntervalMs) return;
        lastWriteMs = now;
        pending = db.updateTable('jobs').set({ progress_done: done, progress_total: total }).where('id', '=', job.id).execute().catch(() => undefined);
      },
    };
    await db.updateTable('jobs').set({ status: 'running', started_at: job.started_at ?? nowIso() }).where('id', '=', job.id).execute();
    try {
      await runner.run(context);
      await pending;
      await db.updateTable('jobs').set({ status: 'succeeded', finished_at: nowIso(), progress_done: 1, progress_total: 1 }).where('id', '=', job.id).execute();
      metrics.jobDuration.observe({ kind: job.kind, status: 'succeeded' }, (performance.now() - started) / 1000);
    } catch (error) {
      if (this.stopping && isStrataError(error, 'CLOSED')) return; // resumed by recover() on the next start
      log.warn({ err: error, job: job.id, kind: job.kind }, 'job failed');
      try {
        await runner.failed(context, error);
      } catch (cleanupError) {
        log.error({ err: cleanupError, job: job.id }, 'job cleanup failed');
      }
      const code = isStrataError(error) ? error.code : 'INTERNAL';
      const message = error instanceof Error ? error.message : String(error);
      await db
        .updateTable('jobs')
        .set({ status: 'failed', finished_at: nowIso(), error_code: code, error_message: message })
        .where('id', '=', job.id)
        .execute()
        .catch(() => undefined);
      metrics.jobDuration.observe({ kind: job.kind, status: 'failed' }, (performance.now() - started) / 1000);
    }
  }

  /** Launches every job of this pool that a previous run left queued or running. */
  async recover(): Promise<number> {
    const rows = await this.deps.db.selectFrom('jobs').selectAll().where('pool_id', '=', this.deps.poolId).where('status', 'in', ['queued', 'running']).orderBy('seq').execute();
    for (const row of rows) this.launch(row);
    return rows.length;
  }

  /** Resolves when no job is running (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  /** Stops launching jobs; jobs interrupted by the engine closing stay running for `recover`. */
  stop(): void {
    this.stopping = true;
  }

  async get(caller: Caller, id: string): Promise<Job> {
    const row = await this.deps.db.selectFrom('jobs').selectAll().where('id', '=', id).where('project_id', '=', caller.projectId).executeTakeFirst();
    if (row === undefined) throw notFound('job', id);
    return toJob(row);
  }

  async list(caller: Caller, options: ListOptions<JobSort> & { status?: JobStatus; kind?: string; targetId?: string }): Promise<Page<Job>> {
    let query = this.deps.db.selectFrom('jobs').selectAll().where('project_id', '=', caller.projectId);
    if (options.status !== undefined) query = query.where('status', '=', options.status);
    if (options.kind !== undefined) query = query.where('kind', '=', options.kind);
    if (options.targetId !== undefined) query = query.where('target_id', '=', options.targetId);
    const { rows, nextPageToken, total } = await fetchPage(query, 'jobs', options.sort ?? 'created_at', options);
    return { items: rows.map(toJob), nextPageToken, total };
  }
}

export function jobError(error: unknown): StrataError {
  return isStrataError(error) ? error : new StrataError('INTERNAL', error instanceof Error ? error.message : String(error));
}
