/**
 * The control plane: every core service over one metadata database and this instance's pool.
 * Edges (native API, dialects, CLI) hold a `ControlPlane` and call its services; nothing above
 * core touches the engine or the database.
 *
 * `start` reconciles the database with the pool (reconcile.ts says what counts as abandoned
 * when other live instances share the pool), in this order:
 * 1. engine volumes and snapshots that no row names (a crash between the engine call and the
 *    row update) are deleted;
 * 2. rows left `creating` that no pending job will finish become `error`;
 * 3. exports of recorded attachments are re-added (same URIs);
 * 4. jobs left queued or running are taken over and launched again (all of them when this
 *    process holds the pool alone, those whose lease expired otherwise); each runner is
 *    idempotent and moves its resources out of their transitional status whether it succeeds
 *    or fails.
 * Then, on timers: job leases are renewed and expired ones taken over; in a shared pool the
 * export table follows the attachment rows, and abandoned `creating` rows and policy runs are
 * marked as such.
 */
import { randomUUID } from 'node:crypto';
import type { EngineJob } from '../engine/index.js';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import { AttachmentService } from './attachments.js';
import type { Caller, CoreDeps } from './context.js';
import { GroupService } from './groups.js';
import { type IdentityOptions, IdentityService } from './identity.js';
import { type JobContext, JobService } from './jobs.js';
import { PolicyService } from './policies.js';
import { PolicyScheduler } from './policy-scheduler.js';
import { QuotaService } from './quotas.js';
import { SnapshotService } from './snapshots.js';
import { deleteOrphans, markAbandonedCreations } from './reconcile.js';
import { nowIso } from './store.js';
import { VolumeService } from './volumes.js';

export interface StartReport {
  orphanVolumesDeleted: number;
  orphanSnapshotsDeleted: number;
  stuckMarkedError: number;
  attachmentsRestored: number;
  jobsResumed: number;
}

/** The control plane's timers and ages (limits.ts; tests shorten them). */
export interface PlaneTiming {
  jobLeaseMs: number;
  jobLeaseRenewIntervalMs: number;
  creatingAbandonMs: number;
  sharedPoolSweepIntervalMs: number;
  attachmentSyncIntervalMs: number;
}

function planeTiming(overrides: Partial<PlaneTiming> = {}): PlaneTiming {
  const { jobLeaseMs, jobLeaseRenewIntervalMs, creatingAbandonMs, sharedPoolSweepIntervalMs, attachmentSyncIntervalMs } = limits.control;
  return { jobLeaseMs, jobLeaseRenewIntervalMs, creatingAbandonMs, sharedPoolSweepIntervalMs, attachmentSyncIntervalMs, ...overrides };
}

export class ControlPlane {
  readonly identity: IdentityService;
  readonly quotas: QuotaService;
  readonly jobs: JobService;
  readonly volumes: VolumeService;
  readonly snapshots: SnapshotService;
  readonly groups: GroupService;
  readonly attachments: AttachmentService;
  readonly policies: PolicyService;
  /** Not started by `start`: `strata serve` starts it; tests call its `tick` with their own clock. */
  readonly scheduler: PolicyScheduler;

  /** This instance, as job and policy-run leases name it: random per start of a process. */
  readonly instanceId = randomUUID();
  readonly timing: PlaneTiming;

  private readonly timers: NodeJS.Timeout[] = [];
  private readonly ticking = new Set<Promise<unknown>>();

  /** `options.identity`: see IdentityOptions (tests lower the scrypt cost there); `options.timing`: see PlaneTiming. */
  constructor(
    readonly deps: CoreDeps,
    options: { identity?: IdentityOptions; timing?: Partial<PlaneTiming> } = {},
  ) {
    this.timing = planeTiming(options.timing);
    this.identity = new IdentityService(deps, options.identity);
    this.quotas = new QuotaService(deps);
    this.jobs = new JobService(deps, this.instanceId, { leaseMs: this.timing.jobLeaseMs, renewIntervalMs: this.timing.jobLeaseRenewIntervalMs });
    this.volumes = new VolumeService(this);
    this.snapshots = new SnapshotService(this);
    this.groups = new GroupService(this);
    this.attachments = new AttachmentService(this);
    this.policies = new PolicyService(this);
    this.scheduler = new PolicyScheduler(this);
    const runner = (run: (c: JobContext) => Promise<void>, failed: (c: JobContext, e: unknown) => Promise<void>) => ({ run, failed });
    this.jobs.register('delete-volume', runner((c) => this.volumes.runDelete(c), (c) => this.volumes.deleteFailed(c)));
    this.jobs.register('flatten-volume', runner((c) => this.volumes.runFlatten(c), async () => undefined));
    this.jobs.register('delete-snapshot', runner((c) => this.snapshots.runDelete(c), (c) => this.snapshots.deleteFailed(c)));
    this.jobs.register('revert-snapshot', runner((c) => this.snapshots.runRevert(c), (c) => this.snapshots.revertFailed(c)));
    this.jobs.register('delete-group-snapshot', runner((c) => this.groups.runDeleteSnapshot(c), (c) => this.groups.deleteSnapshotFailed(c)));
    this.jobs.register('revert-group-snapshot', runner((c) => this.groups.runRevertSnapshot(c), (c) => this.groups.revertSnapshotFailed(c)));
    this.jobs.register('clone-group-snapshot', runner((c) => this.groups.runCloneSnapshot(c), (c) => this.groups.cloneSnapshotFailed(c)));
  }

  /**
   * The id of a resource by its per-table number (for platforms with numeric ids, e.g. XSKY);
   * NOT_FOUND for another project's.
   */
  async idOfSeq(caller: Caller, table: 'volumes' | 'snapshots' | 'groups' | 'group_snapshots', seq: number): Promise<string> {
    const row = await this.deps.db
      .selectFrom(table as 'volumes')
      .select('id')
      .where('seq', '=', seq)
      .where('project_id', '=', caller.projectId)
      .executeTakeFirst();
    if (row === undefined) throw new StrataError('NOT_FOUND', `${table.replace(/_/g, ' ').replace(/s$/, '')} ${seq} does not exist`);
    return row.id;
  }

  /** The unit of copy-on-write: diffs and allocation are reported in multiples of it. */
  get blockSizeBytes(): number {
    return this.deps.engine.chunkSizeBytes;
  }

  /** Waits for an engine job, reporting its progress into the control-plane job. */
  async follow(engineJob: EngineJob, context: JobContext): Promise<void> {
    const timer = setInterval(() => {
      const { done, total } = engineJob.progress();
      context.progress(done, total);
    }, 100);
    try {
      await engineJob.done;
    } finally {
      clearInterval(timer);
    }
  }

  /** Registers this instance's pool and reconciles the database with it (see the file comment). */
  async start(): Promise<StartReport> {
    const { db, engine, poolId } = this.deps;
    const now = nowIso();
    const existing = await db.selectFrom('pools').select('id').where('id', '=', poolId).executeTakeFirst();
    if (existing === undefined) {
      // A pool this database has never seen must be empty: reconciling would delete every volume.
      const volumes = (await engine.listVolumes()).length;
      if (volumes > 0) {
        throw new StrataError('CONFLICT', `the pool holds ${volumes} volumes but this metadata database has no record of it; start with the database it was used with`);
      }
      await db
        .insertInto('pools')
        .values({ id: poolId, api_url: '', nbd_url: this.deps.nbdBaseUri(), chunk_size_bytes: engine.chunkSizeBytes, created_at: now, seen_at: now })
        .onConflict((oc) => oc.column('id').doNothing()) // instances of a shared pool starting at once
        .execute();
    }
    const exclusive = this.deps.poolAccess === 'exclusive';
    const abandonMs = exclusive ? 0 : this.timing.creatingAbandonMs;
    const orphans = await deleteOrphans(this.deps, abandonMs);
    const report: StartReport = { ...orphans, stuckMarkedError: 0, attachmentsRestored: 0, jobsResumed: 0 };
    report.stuckMarkedError = await markAbandonedCreations(this.deps, abandonMs);
    report.attachmentsRestored = await this.attachments.restore();
    report.jobsResumed = await this.jobs.recover({ anyOwner: exclusive });
    this.jobs.startLeasing();
    if (!exclusive) {
      this.repeat(this.timing.attachmentSyncIntervalMs, 'syncing attachment exports', () => this.attachments.sync());
      this.repeat(this.timing.sharedPoolSweepIntervalMs, 'marking abandoned creations and policy runs', () => this.sweepSharedPool());
    }
    this.repeat(limits.control.tokenPurgeIntervalMs, 'purging expired tokens', () => this.identity.purgeExpiredTokens());
    return report;
  }

  /** In a shared pool: what a dead instance left `creating`, and its unfinished policy runs, end as failed. */
  async sweepSharedPool(): Promise<void> {
    await markAbandonedCreations(this.deps, this.timing.creatingAbandonMs);
    await this.scheduler.failAbandonedRuns();
  }

  /** Runs `work` every `ms`, never two at once; failures are logged (token purge: a bounded batch per sweep). */
  private repeat(ms: number, what: string, work: () => Promise<unknown>): void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      const tick = work()
        .catch((error: unknown) => this.deps.log.warn({ err: error }, `${what} failed`))
        .finally(() => {
          running = false;
          this.ticking.delete(tick);
        });
      this.ticking.add(tick);
    }, ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** Records where this instance answers, for operators and other instances sharing the database. */
  async advertise(apiUrl: string): Promise<void> {
    await this.deps.db.updateTable('pools').set({ api_url: apiUrl, nbd_url: this.deps.nbdBaseUri(), seen_at: nowIso() }).where('id', '=', this.deps.poolId).execute();
  }

  /**
   * Stops launching jobs and policy runs, renewing leases and the periodic work; running jobs
   * end when the engine closes and are taken over after (on the next start, or by another
   * instance of a shared pool). Resolves when no timer's work and no policy tick is running.
   */
  async stop(): Promise<void> {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
    await Promise.all([...this.ticking, this.jobs.stop(), this.scheduler.stop()]);
  }
}
