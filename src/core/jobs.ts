/**
 * Jobs: work that outlasts a request (deletes and space reclaim, reverts, flattening, group
 * operations). A job row is inserted in the same transaction as the status change that starts
 * the work, then launched; its runner is idempotent, and either finishes the work or moves its
 * resources out of their transitional status and fails.
 *
 * Leases (ARCHITECTURE.md, C9): a job row names the instance running it (`lease_owner`, random
 * per process start) and until when (`lease_expires_at`, database time). The instance renews
 * the leases of the jobs it runs every `renewIntervalMs`; every instance of the pool, at start
 * and on the same timer, takes over queued or running jobs of its pool whose lease expired, in
 * one conditional UPDATE, so of several instances that look at once exactly one gets each job.
 * A job therefore runs on at most one instance at a time, and a dead instance's jobs are taken
 * over within a lease and a renew interval. Every write of a run (start, progress, result,
 * and the failure cleanup) holds only while the lease is still ours: an instance that was
 * paused past its lease finds the job taken and leaves the new owner's result alone.
 */
import type { ExpressionBuilder } from 'kysely';
import { databaseTime, type Database, type DbTransaction, type JobRow } from '../db/index.js';
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

/** How long a lease lasts and how often it is renewed (limits.ts; tests shorten them). */
export interface LeaseTiming {
  leaseMs: number;
  renewIntervalMs: number;
}

const unfinished: Array<JobRow['status']> = ['queued', 'running'];
/** Rows per renewing UPDATE, to keep its IN list short. */
const renewBatch = 500;

export class JobService {
  private readonly runners = new Map<JobKind, JobRunner>();
  private readonly running = new Map<string, Promise<void>>();
  private stopping = false;
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<unknown> | null = null;

  constructor(
    private readonly deps: CoreDeps,
    /** This instance, as it appears in `lease_owner`. */
    readonly instanceId: string,
    readonly timing: LeaseTiming,
  ) {}

  register(kind: JobKind, runner: JobRunner): void {
    this.runners.set(kind, runner);
  }

  /** The end of a lease taken or renewed now, in database time. */
  private deadline() {
    return databaseTime(this.deps.dbKind, this.timing.leaseMs);
  }

  /** An update of a job that applies only while this instance holds its lease. */
  private owned(id: string) {
    return this.deps.db.updateTable('jobs').where('id', '=', id).where('lease_owner', '=', this.instanceId);
  }

  /**
   * Inserts a queued job leased to this instance; call inside the transaction that starts the
   * work, then `launch` after it commits.
   */
  async insert(tx: DbTransaction, spec: { projectId: string; kind: JobKind; targetType: string; targetId: string; params?: Record<string, unknown> }): Promise<JobRow> {
    return tx
      .insertInto('jobs')
      .values({
        id: newId(),
        project_id: spec.projectId,
        pool_id: this.deps.poolId,
        kind: spec.kind,
        status: 'queued',
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
        lease_owner: this.instanceId,
        lease_expires_at: this.deadline(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** Starts a committed job in the background. */
  launch(job: JobRow): void {
    if (this.stopping || this.running.has(job.id)) return;
    const runner = this.runners.get(job.kind as JobKind);
    if (runner === undefined) throw new Error(`no runner for job kind ${job.kind}`);
    // execute() records every runner failure itself; what reaches here is the database failing
    // to record it, which must not become an unhandled rejection. The row stays queued or
    // running, its lease expires, and an instance of the pool takes it over.
    const promise = this.execute(job, runner)
      .catch((error: unknown) => this.deps.log.error({ err: error, job: job.id }, 'job could not be recorded'))
      .finally(() => this.running.delete(job.id));
    this.running.set(job.id, promise);
  }

  private async execute(job: JobRow, runner: JobRunner): Promise<void> {
    const { db, metrics, log } = this.deps;
    const started = performance.now();
    const begun = await this.owned(job.id)
      .set({ status: 'running', started_at: job.started_at ?? nowIso(), lease_expires_at: this.deadline() })
      .where('status', 'in', unfinished)
      .executeTakeFirst();
    if (Number(begun.numUpdatedRows) === 0) {
      log.info({ job: job.id, kind: job.kind }, 'job not started: another instance holds it, or it has finished');
      return;
    }
    let lastWriteMs = 0;
    let pending: Promise<unknown> = Promise.resolve();
    const context: JobContext = {
      job,
      params: JSON.parse(job.params) as Record<string, unknown>,
      progress: (done, total) => {
        const now = performance.now();
        if (now - lastWriteMs < limits.control.jobProgressIntervalMs) return;
        lastWriteMs = now;
        pending = this.owned(job.id).set({ progress_done: done, progress_total: total }).execute().catch(() => undefined);
      },
    };
    try {
      await runner.run(context);
      await pending;
      const finished = await this.owned(job.id)
        .set({ status: 'succeeded', finished_at: nowIso(), progress_done: 1, progress_total: 1 })
        .where('status', '=', 'running')
        .executeTakeFirst();
      if (Number(finished.numUpdatedRows) === 0) return this.lost(job, 'succeeded');
      metrics.jobDuration.observe({ kind: job.kind, status: 'succeeded' }, (performance.now() - started) / 1000);
    } catch (error) {
      if (this.stopping && isStrataError(error, 'CLOSED')) return this.release(job.id);
      log.warn({ err: error, job: job.id, kind: job.kind }, 'job failed');
      // The cleanup moves the job's resources to a final status: only while the job is ours.
      if (!(await this.holds(job.id))) return this.lost(job, 'failed');
      try {
        await runner.failed(context, error);
      } catch (cleanupError) {
        log.error({ err: cleanupError, job: job.id }, 'job cleanup failed');
      }
      const code = isStrataError(error) ? error.code : 'INTERNAL';
      const message = error instanceof Error ? error.message : String(error);
      await this.owned(job.id)
        .set({ status: 'failed', finished_at: nowIso(), error_code: code, error_message: message })
        .where('status', '=', 'running')
        .execute()
        .catch(() => undefined);
      metrics.jobDuration.observe({ kind: job.kind, status: 'failed' }, (performance.now() - started) / 1000);
    }
  }

  /** Renews a running job's lease; false when it is no longer ours. */
  private async holds(id: string): Promise<boolean> {
    const renewed = await this.owned(id).set({ lease_expires_at: this.deadline() }).where('status', '=', 'running').executeTakeFirst();
    return Number(renewed.numUpdatedRows) === 1;
  }

  private lost(job: JobRow, outcome: string): void {
    this.deps.log.warn({ job: job.id, kind: job.kind, outcome }, 'job lease lost while it ran: another instance took the job over, so this outcome is not recorded');
  }

  /** Gives up the lease of a job interrupted by this instance stopping, so another may take it at once. */
  private async release(id: string): Promise<void> {
    await this.owned(id).set({ lease_owner: null, lease_expires_at: null }).where('status', 'in', unfinished).execute().catch(() => undefined);
  }

  /**
   * Takes over the pool's queued and running jobs whose lease expired (with `anyOwner`, every
   * such job another instance holds: for a pool this process holds alone, at start) and
   * launches them. Returns how many; at most `jobTakeoverBatchMax` per call.
   */
  async takeOver(options: { anyOwner?: boolean } = {}): Promise<number> {
    if (this.stopping) return 0;
    const { db, dbKind, poolId } = this.deps;
    const now = databaseTime(dbKind);
    const free = (eb: ExpressionBuilder<Database, 'jobs'>) =>
      options.anyOwner === true
        ? eb.or([eb('lease_owner', 'is', null), eb('lease_owner', '<>', this.instanceId)])
        : eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]);
    const candidates = db.selectFrom('jobs').select('id').where('pool_id', '=', poolId).where('status', 'in', unfinished).where(free).orderBy('seq').limit(limits.control.jobTakeoverBatchMax);
    // The conditions are repeated on the row itself: PostgreSQL re-checks them on a row another
    // instance updated first, so only one of instances racing for a job gets it.
    const rows = await db
      .updateTable('jobs')
      .set({ lease_owner: this.instanceId, lease_expires_at: this.deadline() })
      .where('id', 'in', candidates)
      .where('pool_id', '=', poolId)
      .where('status', 'in', unfinished)
      .where(free)
      .returningAll()
      .execute();
    rows.sort((a, b) => Number(a.seq) - Number(b.seq));
    for (const row of rows) {
      this.deps.log.info({ job: row.id, kind: row.kind }, 'job taken over');
      this.launch(row);
    }
    return rows.length;
  }

  /** Takes over (see takeOver) until no more jobs are left to take; returns how many. */
  async recover(options: { anyOwner?: boolean } = {}): Promise<number> {
    let total = 0;
    for (;;) {
      const taken = await this.takeOver(options);
      total += taken;
      if (taken < limits.control.jobTakeoverBatchMax) return total;
    }
  }

  /** Extends the leases of the jobs this instance is running. */
  async renew(): Promise<void> {
    const ids = [...this.running.keys()];
    for (let i = 0; i < ids.length; i += renewBatch) {
      await this.deps.db
        .updateTable('jobs')
        .set({ lease_expires_at: this.deadline() })
        .where('id', 'in', ids.slice(i, i + renewBatch))
        .where('lease_owner', '=', this.instanceId)
        .where('status', 'in', unfinished)
        .execute();
    }
  }

  /** Every `renewIntervalMs`: renew this instance's leases, then take over expired ones. */
  startLeasing(): void {
    if (this.timer !== null || this.stopping) return;
    this.timer = setInterval(() => {
      if (this.sweeping !== null) return;
      this.sweeping = this.renew()
        .then(() => this.takeOver())
        .catch((error: unknown) => this.deps.log.warn({ err: error }, 'renewing or taking over job leases failed'))
        .finally(() => (this.sweeping = null));
    }, this.timing.renewIntervalMs);
    this.timer.unref();
  }

  /** Resolves when no job is running (tests, benchmarks). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  /**
   * Stops launching and renewing; jobs interrupted by the engine closing give up their lease,
   * and the others' leases expire, so an instance of the pool (or this one's next start) takes
   * them over. Resolves when a renewal under way has ended.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.sweeping;
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
