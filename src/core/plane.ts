/**
 * The control plane: every core service over one metadata database and this instance's pool.
 * Edges (native API, dialects, CLI) hold a `ControlPlane` and call its services; nothing above
 * core touches the engine or the database.
 *
 * `start` reconciles the database with the pool after a restart, in this order:
 * 1. engine volumes and snapshots that no row names (a crash between the engine call and the
 *    row update) are deleted;
 * 2. rows left `creating` that no pending job will finish become `error`;
 * 3. exports of recorded attachments are re-added (same URIs);
 * 4. jobs left queued or running are launched again; each runner is idempotent and moves its
 *    resources out of their transitional status whether it succeeds or fails.
 */
import type { EngineJob } from '../engine/index.js';
import { isStrataError, StrataError } from '../lib/errors.js';
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
import { nowIso, transition, transitionAll } from './store.js';
import { VolumeService } from './volumes.js';

export interface StartReport {
  orphanVolumesDeleted: number;
  orphanSnapshotsDeleted: number;
  stuckMarkedError: number;
  attachmentsRestored: number;
  jobsResumed: number;
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

  private tokenPurge: NodeJS.Timeout | null = null;

  /** `options.identity`: see IdentityOptions (tests lower the scrypt cost there). */
  constructor(
    readonly deps: CoreDeps,
    options: { identity?: IdentityOptions } = {},
  ) {
    this.identity = new IdentityService(deps, options.identity);
    this.quotas = new QuotaService(deps);
    this.jobs = new JobService(deps);
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
      await db.insertInto('pools').values({ id: poolId, api_url: '', nbd_url: this.deps.nbdBaseUri(), chunk_size_bytes: engine.chunkSizeBytes, created_at: now, seen_at: now }).execute();
    }
    const report: StartReport = { orphanVolumesDeleted: 0, orphanSnapshotsDeleted: 0, stuckMarkedError: 0, attachmentsRestored: 0, jobsResumed: 0 };

    const volumeRows = await db.selectFrom('volumes').select(['id', 'engine_id']).where('pool_id', '=', poolId).execute();
    const snapshotRows = await db.selectFrom('snapshots').select(['id', 'engine_id']).where('pool_id', '=', poolId).execute();
    const knownVolumes = new Set(volumeRows.filter((r) => r.engine_id !== null).map((r) => Number(r.engine_id)));
    const knownSnapshots = new Set(snapshotRows.filter((r) => r.engine_id !== null).map((r) => Number(r.engine_id)));
    const ignore = (error: unknown) => {
      if (!isStrataError(error)) throw error;
    };
    for (const volume of await engine.listVolumes()) {
      if (!knownVolumes.has(volume.id)) {
        if (volume.state !== 'deleting') await engine.deleteVolume(volume.id).done.catch(ignore);
        report.orphanVolumesDeleted++;
        continue;
      }
      for (const snapshot of await engine.listSnapshots(volume.id)) {
        if (knownSnapshots.has(snapshot.id) || snapshot.state === 'deleting') continue;
        await engine.deleteSnapshot(snapshot.id).done.catch(ignore);
        report.orphanSnapshotsDeleted++;
      }
    }

    const activeJobs = await db.selectFrom('jobs').select(['kind', 'target_id']).where('pool_id', '=', poolId).where('status', 'in', ['queued', 'running']).execute();
    const cloningGroups = new Set(activeJobs.filter((j) => j.kind === 'clone-group-snapshot').map((j) => j.target_id));
    const stuckVolumes = await db.selectFrom('volumes').select(['id', 'group_id']).where('pool_id', '=', poolId).where('status', '=', 'creating').execute();
    for (const volume of stuckVolumes) {
      if (volume.group_id !== null && cloningGroups.has(volume.group_id)) continue;
      await transition(db, 'volumes', volume.id, 'recoverCreating');
      report.stuckMarkedError++;
    }
    const stuckGroupSnapshots = await db
      .selectFrom('group_snapshots')
      .select('id')
      .where('status', '=', 'creating')
      .where((eb) => eb.exists(eb.selectFrom('snapshots').select('snapshots.id').whereRef('snapshots.group_snapshot_id', '=', 'group_snapshots.id').where('snapshots.pool_id', '=', poolId)))
      .execute();
    for (const row of stuckGroupSnapshots) await transition(db, 'group_snapshots', row.id, 'recoverCreating');
    report.stuckMarkedError += stuckGroupSnapshots.length;
    report.stuckMarkedError += await transitionAll(db, 'snapshots', 'pool_id', poolId, 'recoverCreating');

    report.attachmentsRestored = await this.attachments.restore();
    report.jobsResumed = await this.jobs.recover();
    this.startTokenPurge();
    return report;
  }

  /** Deletes expired tokens every `tokenPurgeIntervalMs`, a bounded batch at a time (issuing a token sweeps too). */
  private startTokenPurge(): void {
    if (this.tokenPurge !== null) return;
    this.tokenPurge = setInterval(() => {
      this.identity.purgeExpiredTokens().catch((error: unknown) => this.deps.log.warn({ err: error }, 'purging expired tokens failed'));
    }, limits.control.tokenPurgeIntervalMs);
    this.tokenPurge.unref();
  }

  /** Records where this instance answers, for operators and other instances sharing the database. */
  async advertise(apiUrl: string): Promise<void> {
    await this.deps.db.updateTable('pools').set({ api_url: apiUrl, nbd_url: this.deps.nbdBaseUri(), seen_at: nowIso() }).where('id', '=', this.deps.poolId).execute();
  }

  /**
   * Stops launching jobs and policy runs and purging tokens; running jobs end when the engine
   * closes and resume on the next start. Resolves when no policy tick is running.
   */
  stop(): Promise<void> {
    if (this.tokenPurge !== null) clearInterval(this.tokenPurge);
    this.tokenPurge = null;
    this.jobs.stop();
    return this.scheduler.stop();
  }
}
