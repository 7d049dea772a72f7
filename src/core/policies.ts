/**
 * Snapshot policies: a schedule (cron in a time zone), retention rules, and the volumes and
 * groups they cover. This file is the policies' life cycle and their runs' listing; the
 * scheduler that runs them is `policy-scheduler.ts`.
 */
import type { PolicyRow } from '../db/index.js';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import { type Caller, requireWriter } from './context.js';
import { fetchPage, type ListOptions, type Page } from './paging.js';
import type { ControlPlane } from './plane.js';
import { type Policy, type PolicyRun, toPolicyRun } from './records.js';
import { keepsNothing, periodRules, type RetentionRules } from './retention.js';
import { compileSchedule, nextDue } from './schedule.js';
import { newId, notFound, nowIso } from './store.js';
import { fieldError } from './volumes.js';

export interface PolicyInput {
  name: string;
  cron: string;
  timezone?: string;
  retention: RetentionRules;
  volumeIds?: string[];
  groupIds?: string[];
}

export type PolicySort = 'created_at' | 'name';

export function toPolicy(row: PolicyRow, now: Date = new Date()): Policy {
  const next = nextDue(compileSchedule(row.cron, row.timezone), now);
  return {
    id: row.id,
    seq: Number(row.seq),
    projectId: row.project_id,
    name: row.name,
    cron: row.cron,
    timezone: row.timezone,
    retention: JSON.parse(row.retention) as RetentionRules,
    volumeIds: JSON.parse(row.volume_ids) as string[],
    groupIds: JSON.parse(row.group_ids) as string[],
    createdBy: row.created_by,
    nextDueAt: next === null ? null : next.toISOString(),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Only the rules that were given, so a policy shows exactly what it was told. */
function cleanRetention(rules: RetentionRules): RetentionRules {
  const clean: RetentionRules = {};
  for (const key of ['keep_last', ...periodRules] as const) if (rules[key] !== undefined) clean[key] = rules[key];
  if (keepsNothing(clean)) throw new StrataError('INVALID_ARGUMENT', 'retention keeps nothing: give keep_last or a period rule (hourly, daily, weekly, monthly, yearly) above 0', { field: 'retention' });
  return clean;
}

export class PolicyService {
  constructor(private readonly plane: ControlPlane) {}

  private get deps() {
    return this.plane.deps;
  }

  async row(caller: Caller, id: string): Promise<PolicyRow> {
    const row = await this.deps.db.selectFrom('policies').selectAll().where('id', '=', id).where('project_id', '=', caller.projectId).executeTakeFirst();
    if (row === undefined) throw notFound('policy', id);
    return row;
  }

  /** Checks that every target is the caller's and named once. */
  private async checkTargets(caller: Caller, volumeIds: string[], groupIds: string[]): Promise<void> {
    for (const [field, ids] of [['volume_ids', volumeIds], ['group_ids', groupIds]] as const) {
      if (new Set(ids).size !== ids.length) throw new StrataError('INVALID_ARGUMENT', `${field} has duplicates`, { field });
      if (ids.length > limits.control.policyTargetsMax) throw new StrataError('LIMIT_EXCEEDED', `a policy covers at most ${limits.control.policyTargetsMax} ${field}`, { field });
    }
    for (const id of volumeIds) {
      await this.plane.volumes.row(caller, id).catch((error: unknown) => {
        throw fieldError(error, 'volume_ids');
      });
    }
    for (const id of groupIds) {
      await this.plane.groups.row(caller, id).catch((error: unknown) => {
        throw fieldError(error, 'group_ids');
      });
    }
  }

  async create(caller: Caller, input: PolicyInput): Promise<Policy> {
    requireWriter(caller);
    const timezone = input.timezone ?? 'UTC';
    compileSchedule(input.cron, timezone);
    const retention = cleanRetention(input.retention);
    const volumeIds = input.volumeIds ?? [];
    const groupIds = input.groupIds ?? [];
    await this.checkTargets(caller, volumeIds, groupIds);
    const counted = await this.deps.db
      .selectFrom('policies')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('project_id', '=', caller.projectId)
      .executeTakeFirstOrThrow();
    if (Number(counted.n) >= limits.control.policiesPerProjectMax) {
      throw new StrataError('LIMIT_EXCEEDED', `a project has at most ${limits.control.policiesPerProjectMax} policies`);
    }
    const id = newId();
    const now = nowIso();
    await this.deps.db
      .insertInto('policies')
      .values({
        id,
        project_id: caller.projectId,
        name: input.name,
        cron: input.cron.trim(),
        timezone,
        retention: JSON.stringify(retention),
        volume_ids: JSON.stringify(volumeIds),
        group_ids: JSON.stringify(groupIds),
        created_by: caller.userId,
        schedule_from: now,
        created_at: now,
        updated_at: now,
      })
      .execute();
    return this.get(caller, id);
  }

  async list(caller: Caller, options: ListOptions<PolicySort> & { name?: string }): Promise<Page<Policy>> {
    let query = this.deps.db.selectFrom('policies').selectAll().where('project_id', '=', caller.projectId);
    if (options.name !== undefined) query = query.where('name', '=', options.name);
    const { rows, nextPageToken } = await fetchPage(query, 'policies', options.sort ?? 'created_at', options);
    return { items: rows.map((row) => toPolicy(row)), nextPageToken };
  }

  async get(caller: Caller, id: string): Promise<Policy> {
    return toPolicy(await this.row(caller, id));
  }

  /**
   * Changes a policy. A new cron or time zone starts the schedule afresh: due times of the
   * old schedule are not caught up.
   */
  async update(caller: Caller, id: string, input: Partial<PolicyInput>): Promise<Policy> {
    requireWriter(caller);
    const row = await this.row(caller, id);
    const cron = input.cron ?? row.cron;
    const timezone = input.timezone ?? row.timezone;
    compileSchedule(cron, timezone);
    const retention = input.retention === undefined ? undefined : JSON.stringify(cleanRetention(input.retention));
    await this.checkTargets(caller, input.volumeIds ?? [], input.groupIds ?? []);
    const now = nowIso();
    const rescheduled = cron.trim() !== row.cron || timezone !== row.timezone;
    await this.deps.db
      .updateTable('policies')
      .set({
        name: input.name,
        cron: cron.trim(),
        timezone,
        retention,
        volume_ids: input.volumeIds === undefined ? undefined : JSON.stringify(input.volumeIds),
        group_ids: input.groupIds === undefined ? undefined : JSON.stringify(input.groupIds),
        schedule_from: rescheduled ? now : undefined,
        updated_at: now,
      })
      .where('id', '=', id)
      .execute();
    return this.get(caller, id);
  }

  /** Deletes a policy and its runs; the snapshots it took stay, as snapshots no policy prunes. */
  async delete(caller: Caller, id: string): Promise<void> {
    requireWriter(caller);
    await this.row(caller, id);
    await this.deps.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('policy_runs').where('policy_id', '=', id).execute();
      await tx.deleteFrom('policies').where('id', '=', id).execute();
    });
  }

  /** A policy's runs, newest due time first unless asked otherwise. */
  async runs(caller: Caller, id: string, options: ListOptions<'due_at'>): Promise<Page<PolicyRun>> {
    await this.row(caller, id);
    const query = this.deps.db.selectFrom('policy_runs').selectAll().where('policy_id', '=', id);
    const { rows, nextPageToken } = await fetchPage(query, 'policy_runs', 'due_at', { ...options, order: options.order ?? 'desc' });
    return { items: rows.map(toPolicyRun), nextPageToken };
  }
}
