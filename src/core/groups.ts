/**
 * Consistency groups and group snapshots. A group is a named set of volumes (a volume is in at
 * most one group). A group snapshot takes one snapshot per member at one instant, behind the
 * engine's write fence (G1 in ARCHITECTURE.md): every write acknowledged before the fence is
 * in it, none after. Group snapshots revert as a unit, clone into a new group, and delete as a
 * unit (jobs).
 */
import { sql } from 'kysely';
import type { DbTransaction, GroupRow, GroupSnapshotRow, VolumeRow } from '../db/index.js';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import { type Caller, requireAdmin, requireWriter } from './context.js';
import { type Job, type JobContext, toJob } from './jobs.js';
import { fetchPage, type ListOptions, type Page } from './paging.js';
import type { ControlPlane } from './plane.js';
import { gibOf } from './quotas.js';
import { type Group, type GroupSnapshot, toGroup, toGroupSnapshot, toSnapshot } from './records.js';
import type { PolicyMark } from './snapshots.js';
import { lockRow, newId, notFound, nowIso, resetStatus, transition, transitionAll, type Executor } from './store.js';
import { fieldError } from './volumes.js';

export type GroupSort = 'created_at' | 'name';

export interface GroupSnapshotInput {
  name: string;
  description?: string;
  uniqueNameInsensitive?: boolean;
  /** Set when a snapshot policy takes it. */
  policy?: PolicyMark;
}

/** For actions core keeps to admins, when a dialect's operator policy decides instead. */
export interface AdminActionOptions {
  authorizedByPolicy?: boolean;
}

export class GroupService {
  constructor(private readonly plane: ControlPlane) {}

  private get deps() {
    return this.plane.deps;
  }

  async row(caller: Caller, id: string, db: Executor = this.deps.db): Promise<GroupRow> {
    const row = await db.selectFrom('groups').selectAll().where('id', '=', id).where('project_id', '=', caller.projectId).executeTakeFirst();
    if (row === undefined) throw notFound('group', id);
    return row;
  }

  private async render(row: GroupRow, db: Executor = this.deps.db): Promise<Group> {
    const members = await db.selectFrom('volumes').select('id').where('group_id', '=', row.id).orderBy('seq').execute();
    return toGroup(row, members.map((m) => m.id));
  }

  /** Checks that every volume is the caller's, unique, and in no other group. */
  private async checkMembers(caller: Caller, volumeIds: string[], groupId: string | null, db: Executor): Promise<void> {
    if (new Set(volumeIds).size !== volumeIds.length) throw new StrataError('INVALID_ARGUMENT', 'volume_ids has duplicates', { field: 'volume_ids' });
    for (const volumeId of volumeIds) {
      const volume = await this.plane.volumes.row(caller, volumeId, db).catch((error: unknown) => {
        throw fieldError(error, 'volume_ids');
      });
      if (volume.group_id !== null && volume.group_id !== groupId) {
        throw new StrataError('INVALID_STATE', `volume ${volumeId} is already in group ${volume.group_id}`, { field: 'volume_ids' });
      }
      if (volume.status === 'deleting' || volume.status === 'error') {
        throw new StrataError('INVALID_STATE', `volume ${volumeId} is ${volume.status}`, { field: 'volume_ids' });
      }
    }
  }

  async create(caller: Caller, input: { name: string; description?: string; volumeIds?: string[] }): Promise<Group> {
    requireWriter(caller);
    const volumeIds = input.volumeIds ?? [];
    if (volumeIds.length > limits.groupVolumesMax) throw new StrataError('LIMIT_EXCEEDED', `a group holds at most ${limits.groupVolumesMax} volumes`, { field: 'volume_ids' });
    const id = newId();
    const now = nowIso();
    await this.deps.db.transaction().execute(async (tx) => {
      for (const volumeId of volumeIds) await lockRow(tx, this.deps.dbKind, 'volumes', volumeId);
      await this.checkMembers(caller, volumeIds, null, tx);
      await tx
        .insertInto('groups')
        .values({ id, project_id: caller.projectId, name: input.name, description: input.description ?? '', status: 'available', created_at: now, updated_at: now })
        .execute();
      if (volumeIds.length > 0) await tx.updateTable('volumes').set({ group_id: id }).where('id', 'in', volumeIds).execute();
    });
    return this.get(caller, id);
  }

  async list(caller: Caller, options: ListOptions<GroupSort> & { name?: string }): Promise<Page<Group>> {
    let query = this.deps.db.selectFrom('groups').selectAll().where('project_id', '=', caller.projectId);
    if (options.name !== undefined) query = query.where('name', '=', options.name);
    const { rows, nextPageToken, total } = await fetchPage(query, 'groups', options.sort ?? 'created_at', options);
    return { items: await Promise.all(rows.map((row) => this.render(row))), nextPageToken, total };
  }

  async get(caller: Caller, id: string): Promise<Group> {
    return this.render(await this.row(caller, id));
  }

  async update(caller: Caller, id: string, input: { name?: string; description?: string; addVolumeIds?: string[]; removeVolumeIds?: string[] }): Promise<Group> {
    requireWriter(caller);
    const add = input.addVolumeIds ?? [];
    const remove = input.removeVolumeIds ?? [];
    await this.deps.db.transaction().execute(async (tx) => {
      await lockRow(tx, this.deps.dbKind, 'groups', id);
      const group = await this.row(caller, id, tx);
      if (group.status !== 'available') throw new StrataError('INVALID_STATE', `group ${id} is ${group.status}`, { status: group.status });
      await this.checkMembers(caller, add, id, tx);
      for (const volumeId of remove) {
        const volume = await this.plane.volumes.row(caller, volumeId, tx).catch((error: unknown) => {
          throw fieldError(error, 'remove_volume_ids');
        });
        if (volume.group_id !== id) throw new StrataError('INVALID_ARGUMENT', `volume ${volumeId} is not in group ${id}`, { field: 'remove_volume_ids' });
      }
      const members = await tx.selectFrom('volumes').select('id').where('group_id', '=', id).execute();
      const after = new Set(members.map((m) => m.id));
      for (const v of add) after.add(v);
      for (const v of remove) after.delete(v);
      if (after.size > limits.groupVolumesMax) throw new StrataError('LIMIT_EXCEEDED', `a group holds at most ${limits.groupVolumesMax} volumes`, { field: 'add_volume_ids' });
      if (add.length > 0) await tx.updateTable('volumes').set({ group_id: id }).where('id', 'in', add).execute();
      if (remove.length > 0) await tx.updateTable('volumes').set({ group_id: null }).where('id', 'in', remove).execute();
      await tx.updateTable('groups').set({ name: input.name, description: input.description, updated_at: nowIso() }).where('id', '=', id).execute();
    });
    return this.get(caller, id);
  }

  /** Deletes a group; its volumes stay (no longer grouped). Refused while it has group snapshots. */
  async delete(caller: Caller, id: string): Promise<void> {
    requireWriter(caller);
    await this.deps.db.transaction().execute(async (tx) => {
      await lockRow(tx, this.deps.dbKind, 'groups', id);
      await this.row(caller, id, tx);
      const snapshot = await tx.selectFrom('group_snapshots').select('id').where('group_id', '=', id).limit(1).executeTakeFirst();
      if (snapshot !== undefined) throw new StrataError('HAS_DEPENDENTS', `group ${id} has group snapshots; delete them first`);
      await transition(tx, 'groups', id, 'delete');
      await tx.updateTable('volumes').set({ group_id: null }).where('group_id', '=', id).execute();
      await tx.deleteFrom('groups').where('id', '=', id).execute();
    });
  }

  // Group snapshots.

  async snapshotRow(caller: Caller, id: string, db: Executor = this.deps.db): Promise<GroupSnapshotRow> {
    const row = await db.selectFrom('group_snapshots').selectAll().where('id', '=', id).where('project_id', '=', caller.projectId).executeTakeFirst();
    if (row === undefined) throw notFound('group snapshot', id);
    return row;
  }

  private async renderSnapshot(row: GroupSnapshotRow, db: Executor = this.deps.db): Promise<GroupSnapshot> {
    const members = await db.selectFrom('snapshots').selectAll().where('group_snapshot_id', '=', row.id).orderBy('seq').execute();
    return toGroupSnapshot(row, members.map(toSnapshot));
  }

  /**
   * All members at one instant, behind the engine's write fence. `uniqueNameInsensitive`:
   * refuse (ALREADY_EXISTS, field `name`) when the project has a group snapshot of that name
   * in any case, checked inside the creating transaction under the project lock (DWS).
   */
  async createSnapshot(caller: Caller, groupId: string, input: GroupSnapshotInput): Promise<GroupSnapshot> {
    requireWriter(caller);
    return this.snapshotMembers(caller, groupId, input, async (tx) => {
      await lockRow(tx, this.deps.dbKind, 'groups', groupId);
      const group = await this.row(caller, groupId, tx);
      if (group.status !== 'available') throw new StrataError('INVALID_STATE', `group ${groupId} is ${group.status}`, { status: group.status });
      const volumes = await tx.selectFrom('volumes').selectAll().where('group_id', '=', groupId).orderBy('seq').execute();
      if (volumes.length === 0) throw new StrataError('INVALID_STATE', `group ${groupId} has no volumes`);
      return volumes;
    });
  }

  /**
   * A consistent snapshot of an ad-hoc set of volumes, with no group (XSKY consistent
   * snapshots name their volumes directly); shown with a null group id.
   */
  async createSnapshotOfVolumes(caller: Caller, volumeIds: string[], input: { name: string; description?: string }): Promise<GroupSnapshot> {
    requireWriter(caller);
    if (volumeIds.length === 0) throw new StrataError('MISSING_FIELD', 'at least one volume is needed', { field: 'volume_ids' });
    if (volumeIds.length > limits.groupVolumesMax) throw new StrataError('LIMIT_EXCEEDED', `at most ${limits.groupVolumesMax} volumes`, { field: 'volume_ids' });
    if (new Set(volumeIds).size !== volumeIds.length) throw new StrataError('INVALID_ARGUMENT', 'volume_ids has duplicates', { field: 'volume_ids' });
    return this.snapshotMembers(caller, null, input, async (tx) => {
      const volumes = [];
      for (const volumeId of volumeIds) {
        volumes.push(
          await this.plane.volumes.row(caller, volumeId, tx).catch((error: unknown) => {
            throw fieldError(error, 'volume_ids');
          }),
        );
      }
      return volumes;
    });
  }

  private async snapshotMembers(
    caller: Caller,
    groupId: string | null,
    input: GroupSnapshotInput,
    loadVolumes: (tx: DbTransaction) => Promise<VolumeRow[]>,
  ): Promise<GroupSnapshot> {
    const { db, engine } = this.deps;
    const id = newId();
    const now = nowIso();
    const members = await db.transaction().execute(async (tx) => {
      const volumes = await loadVolumes(tx);
      for (const volume of volumes) {
        await lockRow(tx, this.deps.dbKind, 'volumes', volume.id);
        this.plane.volumes.engineId(volume);
        if (volume.status !== 'available' && volume.status !== 'in-use') {
          throw new StrataError('INVALID_STATE', `member volume ${volume.id} is ${volume.status}`, { status: volume.status });
        }
      }
      await this.plane.quotas.reserve(tx, caller.projectId, {
        snapshots: volumes.length,
        gigabytes: volumes.reduce((sum, v) => sum + gibOf(Number(v.size_bytes)), 0),
        snapshotsPerVolume: new Map(volumes.map((v) => [v.id, 1])),
      });
      // After reserve, which holds the project lock: two creates cannot both find the name free.
      if (input.uniqueNameInsensitive === true) {
        const taken = await tx
          .selectFrom('group_snapshots')
          .select('name')
          .where('project_id', '=', caller.projectId)
          .where(sql`lower(name)`, '=', input.name.toLowerCase())
          .executeTakeFirst();
        if (taken !== undefined) throw new StrataError('ALREADY_EXISTS', `a group snapshot named ${taken.name} already exists (names are unique regardless of case)`, { field: 'name' });
      }
      await tx
        .insertInto('group_snapshots')
        .values({ id, project_id: caller.projectId, group_id: groupId ?? '', name: input.name, description: input.description ?? '', status: 'creating', fence_held_ms: null, policy_id: input.policy?.id ?? null, policy_due_at: input.policy?.dueAt ?? null, created_at: now, updated_at: now })
        .execute();
      const memberIds = volumes.map(() => newId());
      await tx
        .insertInto('snapshots')
        .values(
          volumes.map((volume, i) => ({
            id: memberIds[i],
            project_id: caller.projectId,
            pool_id: this.deps.poolId,
            volume_id: volume.id,
            engine_id: null,
            name: input.name,
            description: input.description ?? '',
            metadata: '{}',
            size_bytes: Number(volume.size_bytes),
            status: 'creating',
            parent_id: null,
            group_snapshot_id: id,
            policy_id: input.policy?.id ?? null,
            policy_due_at: input.policy?.dueAt ?? null,
            created_by: caller.userId,
            created_at: now,
            updated_at: now,
          })),
        )
        .execute();
      return volumes.map((volume, i) => ({ snapshotId: memberIds[i], engineVolumeId: Number(volume.engine_id) }));
    });
    let result;
    try {
      result = await engine.createGroupSnapshot(members.map((m) => m.engineVolumeId));
    } catch (error) {
      await db.transaction().execute(async (tx) => {
        await tx.deleteFrom('snapshots').where('group_snapshot_id', '=', id).execute();
        await tx.deleteFrom('group_snapshots').where('id', '=', id).execute();
      });
      throw error;
    }
    await db.transaction().execute(async (tx) => {
      for (const [i, member] of members.entries()) await this.plane.snapshots.recordCreated(member.snapshotId, result.snapshots[i], tx);
      await transition(tx, 'group_snapshots', id, 'created', { fence_held_ms: result.fenceHeldMs });
    });
    this.deps.metrics.fenceHeld.observe(result.fenceHeldMs / 1000);
    this.deps.metrics.snapshotsCreated.inc({ kind: 'group-member' }, members.length);
    return this.renderSnapshot(await this.snapshotRow(caller, id));
  }

  async listSnapshots(
    caller: Caller,
    options: ListOptions<'created_at' | 'name'> & {
      groupId?: string;
      /** true: only snapshots of a group; false: only those of an ad-hoc set of volumes. */
      grouped?: boolean;
      status?: string;
      name?: string;
      nameInsensitive?: string;
    },
  ): Promise<Page<GroupSnapshot>> {
    let query = this.deps.db.selectFrom('group_snapshots').selectAll().where('project_id', '=', caller.projectId);
    if (options.groupId !== undefined) query = query.where('group_id', '=', options.groupId);
    if (options.grouped !== undefined) query = query.where('group_id', options.grouped ? '!=' : '=', '');
    if (options.status !== undefined) query = query.where('status', '=', options.status);
    if (options.name !== undefined) query = query.where('name', '=', options.name);
    if (options.nameInsensitive !== undefined) query = query.where(sql`lower(name)`, '=', options.nameInsensitive.toLowerCase());
    const { rows, nextPageToken, total } = await fetchPage(query, 'group_snapshots', options.sort ?? 'created_at', options);
    return { items: await Promise.all(rows.map((row) => this.renderSnapshot(row))), nextPageToken, total };
  }

  async getSnapshot(caller: Caller, id: string): Promise<GroupSnapshot> {
    return this.renderSnapshot(await this.snapshotRow(caller, id));
  }

  async updateSnapshot(caller: Caller, id: string, input: { name?: string; description?: string }): Promise<GroupSnapshot> {
    requireWriter(caller);
    await this.snapshotRow(caller, id);
    await this.deps.db.updateTable('group_snapshots').set({ name: input.name, description: input.description, updated_at: nowIso() }).where('id', '=', id).execute();
    return this.getSnapshot(caller, id);
  }

  async deleteSnapshot(caller: Caller, id: string): Promise<Job> {
    requireWriter(caller);
    await this.snapshotRow(caller, id);
    const job = await this.deps.db.transaction().execute(async (tx) => {
      await transition(tx, 'group_snapshots', id, 'delete');
      await transitionAll(tx, 'snapshots', 'group_snapshot_id', id, 'delete');
      return this.plane.jobs.insert(tx, { projectId: caller.projectId, kind: 'delete-group-snapshot', targetType: 'group_snapshot', targetId: id });
    });
    this.plane.jobs.launch(job);
    return toJob(job);
  }

  async runDeleteSnapshot(context: JobContext): Promise<void> {
    const id = context.job.target_id;
    const members = await this.deps.db.selectFrom('snapshots').select('id').where('group_snapshot_id', '=', id).orderBy('seq').execute();
    for (const [i, member] of members.entries()) {
      await this.plane.snapshots.deleteOne(member.id, { ...context, progress: () => context.progress(i, members.length) });
      context.progress(i + 1, members.length);
    }
    await this.deps.db.deleteFrom('group_snapshots').where('id', '=', id).execute();
  }

  async deleteSnapshotFailed(context: JobContext): Promise<void> {
    const id = context.job.target_id;
    await transition(this.deps.db, 'group_snapshots', id, 'deleteFailed').catch(() => undefined);
    await transitionAll(this.deps.db, 'snapshots', 'group_snapshot_id', id, 'deleteFailed');
  }

  /**
   * Admin: deletes whatever the status (Manila force_delete), as a job. `authorizedByPolicy`:
   * a dialect's operator policy has allowed this caller (the admin check is then the policy's).
   */
  async forceDeleteSnapshot(caller: Caller, id: string, options: AdminActionOptions = {}): Promise<Job> {
    if (options.authorizedByPolicy !== true) requireAdmin(caller);
    requireWriter(caller);
    await this.snapshotRow(caller, id);
    const job = await this.deps.db.transaction().execute(async (tx) => {
      await transition(tx, 'group_snapshots', id, 'forceDelete');
      await transitionAll(tx, 'snapshots', 'group_snapshot_id', id, 'forceDelete');
      return this.plane.jobs.insert(tx, { projectId: caller.projectId, kind: 'delete-group-snapshot', targetType: 'group_snapshot', targetId: id });
    });
    this.plane.jobs.launch(job);
    return toJob(job);
  }

  /** Admin: sets the status (Cinder group snapshot reset_status, Manila reset_state). */
  async resetSnapshotStatus(
    caller: Caller,
    id: string,
    status: 'available' | 'error' | 'creating' | 'error_deleting',
    options: AdminActionOptions = {},
  ): Promise<GroupSnapshot> {
    if (options.authorizedByPolicy !== true) requireAdmin(caller);
    requireWriter(caller);
    await this.snapshotRow(caller, id);
    await resetStatus(this.deps.db, 'group_snapshots', id, status);
    return this.getSnapshot(caller, id);
  }

  /** Reverts every member volume to its member snapshot (a job); refused while a member has a read-write attachment unless forced. */
  async revertSnapshot(caller: Caller, id: string, options: { force?: boolean } = {}): Promise<Job> {
    requireWriter(caller);
    const job = await this.deps.db.transaction().execute(async (tx) => {
      const row = await this.snapshotRow(caller, id, tx);
      const members = await tx.selectFrom('snapshots').select(['id', 'volume_id']).where('group_snapshot_id', '=', id).orderBy('seq').execute();
      for (const member of members) {
        await lockRow(tx, this.deps.dbKind, 'volumes', member.volume_id);
        const volume = await this.plane.volumes.row(caller, member.volume_id, tx);
        this.plane.volumes.engineId(volume);
        if (volume.status === 'in-use' && options.force !== true) {
          throw new StrataError('VOLUME_IN_USE', `member volume ${volume.id} has a read-write attachment; detach it or pass force=true`);
        }
        await transition(tx, 'volumes', volume.id, options.force === true ? 'revertForced' : 'revert');
      }
      await transition(tx, 'group_snapshots', row.id, 'revert');
      return this.plane.jobs.insert(tx, { projectId: caller.projectId, kind: 'revert-group-snapshot', targetType: 'group_snapshot', targetId: id });
    });
    this.plane.jobs.launch(job);
    return toJob(job);
  }

  async runRevertSnapshot(context: JobContext): Promise<void> {
    const id = context.job.target_id;
    const members = await this.deps.db.selectFrom('snapshots').select(['id', 'volume_id']).where('group_snapshot_id', '=', id).orderBy('seq').execute();
    for (const [i, member] of members.entries()) {
      await this.plane.snapshots.revertOne(member.id, member.volume_id);
      context.progress(i + 1, members.length);
    }
    await transition(this.deps.db, 'group_snapshots', id, 'reverted');
  }

  async revertSnapshotFailed(context: JobContext): Promise<void> {
    const id = context.job.target_id;
    const members = await this.deps.db.selectFrom('snapshots').select('volume_id').where('group_snapshot_id', '=', id).execute();
    for (const member of members) await this.plane.attachments.settleVolumeStatus(member.volume_id);
    await transition(this.deps.db, 'group_snapshots', id, 'revertFailed').catch(() => undefined);
  }

  /** A new group whose volumes are clones of the members (a job creates the clones). */
  async cloneSnapshot(caller: Caller, id: string, input: { name: string; description?: string }): Promise<{ job: Job; group: Group }> {
    requireWriter(caller);
    const groupId = newId();
    const now = nowIso();
    const job = await this.deps.db.transaction().execute(async (tx) => {
      const row = await this.snapshotRow(caller, id, tx);
      if (row.status !== 'available') throw new StrataError('INVALID_STATE', `group snapshot ${id} is ${row.status}`, { status: row.status });
      const members = await tx.selectFrom('snapshots').selectAll().where('group_snapshot_id', '=', id).orderBy('seq').execute();
      for (const member of members) {
        if (member.pool_id !== this.deps.poolId) throw new StrataError('WRONG_INSTANCE', `snapshot ${member.id} lives in another instance's pool`);
      }
      await this.plane.quotas.reserve(tx, caller.projectId, {
        volumes: members.length,
        gigabytes: members.reduce((sum, m) => sum + gibOf(Number(m.size_bytes)), 0),
      });
      await tx
        .insertInto('groups')
        .values({ id: groupId, project_id: caller.projectId, name: input.name, description: input.description ?? '', status: 'available', created_at: now, updated_at: now })
        .execute();
      if (members.length > 0) {
        await tx
          .insertInto('volumes')
          .values(
            members.map((member) => ({
              id: newId(),
              project_id: caller.projectId,
              pool_id: this.deps.poolId,
              engine_id: null,
              name: `${input.name}-${member.name}`.slice(0, limits.control.nameLengthMax),
              description: '',
              size_bytes: Number(member.size_bytes),
              status: 'creating',
              source_snapshot_id: member.id,
              group_id: groupId,
              created_by: caller.userId,
              created_at: now,
              updated_at: now,
            })),
          )
          .execute();
      }
      return this.plane.jobs.insert(tx, { projectId: caller.projectId, kind: 'clone-group-snapshot', targetType: 'group', targetId: groupId, params: { groupSnapshotId: id } });
    });
    this.plane.jobs.launch(job);
    return { job: toJob(job), group: await this.get(caller, groupId) };
  }

  async runCloneSnapshot(context: JobContext): Promise<void> {
    const { db, engine } = this.deps;
    const volumes = await db.selectFrom('volumes').selectAll().where('group_id', '=', context.job.target_id).where('status', '=', 'creating').orderBy('seq').execute();
    for (const [i, volume] of volumes.entries()) {
      const source = await db.selectFrom('snapshots').selectAll().where('id', '=', volume.source_snapshot_id!).executeTakeFirst();
      if (source === undefined || source.engine_id === null || source.status !== 'available') throw notFound('snapshot', volume.source_snapshot_id ?? '');
      const info = await engine.clone(Number(source.engine_id), { sizeBytes: Number(volume.size_bytes) });
      await transition(db, 'volumes', volume.id, 'created', { engine_id: info.id });
      context.progress(i + 1, volumes.length);
    }
  }

  async cloneSnapshotFailed(context: JobContext): Promise<void> {
    const volumes = await this.deps.db.selectFrom('volumes').select('id').where('group_id', '=', context.job.target_id).where('status', '=', 'creating').execute();
    for (const volume of volumes) await transition(this.deps.db, 'volumes', volume.id, 'createFailed').catch(() => undefined);
  }
}
