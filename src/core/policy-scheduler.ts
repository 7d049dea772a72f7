/**
 * Runs snapshot policies. Every tick (`policyTickMs`), for each policy, the latest due time at
 * or before now is compared with the last one this pool ran; a newer one is claimed and run.
 *
 * - Exactly once: a run is claimed by inserting its row; `(policy_id, pool_id, due_at)` is
 *   unique, so of the instances (or ticks) that reach one due time, one insert wins and the
 *   others do nothing. Each instance runs the policy for the volumes and groups of its own
 *   pool (the only ones it can snapshot).
 * - After downtime, one catch-up: only the latest due time is run; the run counts the ones
 *   missed. Due times at or before the policy's creation (or its last change of schedule)
 *   never run.
 * - A run takes one snapshot per volume (one group snapshot per group), skipping volumes in
 *   `error` or `deleting` and saying so, then prunes by the retention rules: only the policy's
 *   own snapshots, never one a clone was made from (it is kept back, and the run says why).
 *   Refusals (quota, state) are failures of the run, counted in /metrics.
 *
 * - A run is leased like a job (C9) to the instance making it, which renews the lease while
 *   it runs. A run is not resumed: a run whose instance died (its lease expired; at start of a
 *   pool held alone, any unfinished one) is marked failed, and the next due time runs as usual.
 *
 * `tick(now)` takes the clock as an argument, so tests drive due times without waiting.
 */
import { databaseTime, type PolicyRow, type VolumeRow } from '../db/index.js';
import { isStrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import type { Caller } from './context.js';
import type { ControlPlane } from './plane.js';
import { type PolicyRun, type PolicyRunEntry, type PolicyRunResult, emptyRunResult, toPolicyRun } from './records.js';
import { type Dated, retained, type RetentionRules } from './retention.js';
import { compactTime, compileSchedule, latestDue, missedBetween } from './schedule.js';
import { newId, nowIso } from './store.js';

/** The statuses in which a policy skips a volume instead of trying (and failing) to snapshot it. */
const skippedStatuses = new Set(['error', 'deleting']);

interface Targets {
  volumes: VolumeRow[];
  groups: Array<{ id: string; members: VolumeRow[] }>;
}

export class PolicyScheduler {
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<unknown> | null = null;

  constructor(private readonly plane: ControlPlane) {}

  private get deps() {
    return this.plane.deps;
  }

  /** Marks runs a previous process left unfinished, then ticks every policyTickMs. */
  async start(): Promise<void> {
    await this.failAbandonedRuns({ anyOwner: this.deps.poolAccess === 'exclusive' });
    this.timer = setInterval(() => {
      if (this.ticking !== null) return; // a slow tick is never overlapped by the next
      this.ticking = this.tick(new Date())
        .catch((error: unknown) => this.deps.log.error({ err: error }, 'policy tick failed'))
        .finally(() => (this.ticking = null));
    }, limits.control.policyTickMs);
    this.timer.unref();
  }

  /**
   * Marks failed this pool's runs whose instance stopped: those whose lease expired, or with
   * `anyOwner` every unfinished run another instance holds (a pool this process holds alone).
   */
  async failAbandonedRuns(options: { anyOwner?: boolean } = {}): Promise<number> {
    const { db, dbKind, poolId } = this.deps;
    const result: PolicyRunResult = { ...emptyRunResult(), failures: [{ targetType: 'volume', targetId: '', code: 'INTERNAL', message: 'the service stopped during this run' }] };
    const failed = await db
      .updateTable('policy_runs')
      .set({ status: 'failed', result: JSON.stringify(result), finished_at: nowIso() })
      .where('pool_id', '=', poolId)
      .where('status', '=', 'running')
      .where((eb) =>
        options.anyOwner === true
          ? eb.or([eb('lease_owner', 'is', null), eb('lease_owner', '<>', this.plane.instanceId)])
          : eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', databaseTime(dbKind))]),
      )
      .executeTakeFirst();
    return Number(failed.numUpdatedRows);
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    await this.ticking;
  }

  /** Runs every policy due at `now` that this pool has not run yet; returns the runs made. */
  async tick(now: Date): Promise<PolicyRun[]> {
    const policies = await this.deps.db.selectFrom('policies').selectAll().orderBy('seq').execute();
    const runs: PolicyRun[] = [];
    for (const policy of policies) {
      try {
        const run = await this.runIfDue(policy, now);
        if (run !== null) runs.push(run);
      } catch (error) {
        this.deps.log.error({ err: error, policy: policy.id }, 'policy run failed');
        this.deps.metrics.policyFailures.inc({ code: isStrataError(error) ? error.code : 'INTERNAL' });
      }
    }
    return runs;
  }

  private async runIfDue(policy: PolicyRow, now: Date): Promise<PolicyRun | null> {
    const schedule = compileSchedule(policy.cron, policy.timezone);
    const due = latestDue(schedule, now);
    if (due === null) return null;
    const last = await this.deps.db
      .selectFrom('policy_runs')
      .select((eb) => eb.fn.max('due_at').as('due_at'))
      .where('policy_id', '=', policy.id)
      .where('pool_id', '=', this.deps.poolId)
      .executeTakeFirst();
    const from = [policy.schedule_from, last?.due_at ?? ''].reduce((a, b) => (a > b ? a : b));
    const dueAt = due.toISOString();
    if (dueAt <= from) return null;
    const targets = await this.targetsOf(policy);
    if (targets.volumes.length === 0 && targets.groups.length === 0) return null;
    const id = newId();
    const claimed = await this.deps.db
      .insertInto('policy_runs')
      .values({
        id,
        policy_id: policy.id,
        project_id: policy.project_id,
        pool_id: this.deps.poolId,
        due_at: dueAt,
        status: 'running',
        result: '{}',
        started_at: nowIso(),
        finished_at: null,
        lease_owner: this.plane.instanceId,
        lease_expires_at: this.leaseDeadline(),
      })
      .onConflict((oc) => oc.columns(['policy_id', 'pool_id', 'due_at']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (claimed === undefined) return null; // another instance or tick has it
    const result = emptyRunResult();
    result.missedDueTimes = missedBetween(schedule, new Date(from), due);
    const owned = () => this.deps.db.updateTable('policy_runs').where('id', '=', id).where('lease_owner', '=', this.plane.instanceId).where('status', '=', 'running');
    const renewal = setInterval(() => {
      owned().set({ lease_expires_at: this.leaseDeadline() }).execute().catch((error: unknown) => this.deps.log.warn({ err: error, run: id }, 'renewing a policy run lease failed'));
    }, this.plane.timing.jobLeaseRenewIntervalMs);
    try {
      await this.execute(policy, dueAt, targets, result);
    } finally {
      clearInterval(renewal);
    }
    const status = result.failures.length === 0 ? 'succeeded' : 'failed';
    await owned().set({ status, result: JSON.stringify(result), finished_at: nowIso() }).execute();
    this.deps.metrics.policyRuns.inc({ status });
    for (const failure of result.failures) this.deps.metrics.policyFailures.inc({ code: failure.code ?? 'INTERNAL' });
    const row = await this.deps.db.selectFrom('policy_runs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    return toPolicyRun(row);
  }

  private leaseDeadline() {
    return databaseTime(this.deps.dbKind, this.plane.timing.jobLeaseMs);
  }

  /** The policy's volumes and groups that live in this instance's pool. */
  private async targetsOf(policy: PolicyRow): Promise<Targets> {
    const { db, poolId } = this.deps;
    const volumeIds = JSON.parse(policy.volume_ids) as string[];
    const groupIds = JSON.parse(policy.group_ids) as string[];
    const volumes =
      volumeIds.length === 0 ? [] : await db.selectFrom('volumes').selectAll().where('id', 'in', volumeIds).where('project_id', '=', policy.project_id).where('pool_id', '=', poolId).orderBy('seq').execute();
    const groups: Targets['groups'] = [];
    for (const groupId of groupIds) {
      const group = await db.selectFrom('groups').select('id').where('id', '=', groupId).where('project_id', '=', policy.project_id).executeTakeFirst();
      if (group === undefined) continue;
      const members = await db.selectFrom('volumes').selectAll().where('group_id', '=', groupId).orderBy('seq').execute();
      // A group snapshot needs all members in one pool: the group belongs to its first member's.
      if (members.length > 0 && members[0].pool_id === poolId) groups.push({ id: groupId, members });
    }
    return { volumes, groups };
  }

  /** The policy acts as its creator, in its project, with a member's rights. */
  private callerOf(policy: PolicyRow): Caller {
    return { tokenId: `policy:${policy.id}`, userId: policy.created_by, userName: `policy ${policy.name}`, projectId: policy.project_id, projectName: '', role: 'member', expiresAt: '' };
  }

  private async execute(policy: PolicyRow, dueAt: string, targets: Targets, result: PolicyRunResult): Promise<void> {
    const caller = this.callerOf(policy);
    const input = { name: `${policy.name}-${compactTime(new Date(dueAt))}`, description: `taken by policy ${policy.name} for ${dueAt}`, policy: { id: policy.id, dueAt } };
    const fail = (entry: PolicyRunEntry, error: unknown) =>
      result.failures.push({ ...entry, code: isStrataError(error) ? error.code : 'INTERNAL', message: error instanceof Error ? error.message : String(error) });
    for (const volume of targets.volumes) {
      const entry: PolicyRunEntry = { targetType: 'volume', targetId: volume.id };
      if (skippedStatuses.has(volume.status)) {
        result.skipped.push({ ...entry, reason: `volume is ${volume.status}` });
        continue;
      }
      try {
        result.taken.push({ ...entry, snapshotId: (await this.plane.snapshots.create(caller, volume.id, input)).id });
      } catch (error) {
        fail(entry, error);
      }
    }
    for (const group of targets.groups) {
      const entry: PolicyRunEntry = { targetType: 'group', targetId: group.id };
      const unusable = group.members.find((m) => skippedStatuses.has(m.status));
      if (unusable !== undefined) {
        result.skipped.push({ ...entry, reason: `member volume ${unusable.id} is ${unusable.status}` });
        continue;
      }
      try {
        result.taken.push({ ...entry, snapshotId: (await this.plane.groups.createSnapshot(caller, group.id, input)).id });
      } catch (error) {
        fail(entry, error);
      }
    }
    const rules = JSON.parse(policy.retention) as RetentionRules;
    for (const volume of targets.volumes) await this.prune(policy, rules, { targetType: 'volume', targetId: volume.id }, result, fail);
    for (const group of targets.groups) await this.prune(policy, rules, { targetType: 'group', targetId: group.id }, result, fail);
  }

  /** Deletes the target's policy snapshots the rules do not keep (a delete job each). */
  private async prune(policy: PolicyRow, rules: RetentionRules, target: PolicyRunEntry, result: PolicyRunResult, fail: (entry: PolicyRunEntry, error: unknown) => void): Promise<void> {
    const { db } = this.deps;
    const caller = this.callerOf(policy);
    const rows =
      target.targetType === 'volume'
        ? await db.selectFrom('snapshots').select(['id', 'policy_due_at']).where('policy_id', '=', policy.id).where('volume_id', '=', target.targetId).where('group_snapshot_id', 'is', null).where('status', '=', 'available').execute()
        : await db.selectFrom('group_snapshots').select(['id', 'policy_due_at']).where('policy_id', '=', policy.id).where('group_id', '=', target.targetId).where('status', '=', 'available').execute();
    const dated: Dated[] = rows.map((r) => ({ id: r.id, at: r.policy_due_at ?? '' }));
    const keep = retained(dated, rules, policy.timezone);
    for (const { id } of dated) {
      if (keep.has(id)) continue;
      const entry: PolicyRunEntry = { ...target, snapshotId: id };
      const clone = await this.cloneOf(target.targetType, id);
      if (clone !== undefined) {
        result.keptBack.push({ ...entry, reason: `volume ${clone} was cloned from it` });
        continue;
      }
      try {
        const job = target.targetType === 'volume' ? await this.plane.snapshots.delete(caller, id) : await this.plane.groups.deleteSnapshot(caller, id);
        result.pruned.push({ ...entry, jobId: job.id });
      } catch (error) {
        fail(entry, error);
      }
    }
  }

  /** A volume cloned from the snapshot (or from a member of the group snapshot), if any. */
  private async cloneOf(kind: 'volume' | 'group', id: string): Promise<string | undefined> {
    const { db } = this.deps;
    const sources = kind === 'volume' ? [id] : (await db.selectFrom('snapshots').select('id').where('group_snapshot_id', '=', id).execute()).map((r) => r.id);
    if (sources.length === 0) return undefined;
    const clone = await db.selectFrom('volumes').select('id').where('source_snapshot_id', 'in', sources).limit(1).executeTakeFirst();
    return clone?.id;
  }
}
