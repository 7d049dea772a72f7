/**
 * Snapshots: create (crash-consistent, also of an attached volume), list, show (parent,
 * children, exclusive bytes), update, delete (a job), revert (a job; refused while the volume
 * has a read-write attachment unless forced), clone (a new volume), diff, and the tree.
 */
import type { SnapshotRow } from '../db/index.js';
import type { SnapshotInfo, ViewRef } from '../engine/index.js';
import { isStrataError, StrataError } from '../lib/errors.js';
import { type Caller, requireAdmin, requireWriter } from './context.js';
import { type Job, type JobContext, toJob } from './jobs.js';
import { fetchPage, type ListOptions, type Page } from './paging.js';
import type { ControlPlane } from './plane.js';
import { gibOf } from './quotas.js';
import { type ByteExtent, type Snapshot, type SnapshotDetail, type SnapshotTree, type SnapshotTreeNode, toSnapshot, type Volume } from './records.js';
import { type SqlBool, sql } from 'kysely';
import { lockRow, metadataContains, modifyMetadata, newId, notFound, nowIso, resetStatus, transition, type Executor } from './store.js';
import type { SnapshotStatus } from './transitions.js';
import { fieldError } from './volumes.js';

export type SnapshotSort = 'created_at' | 'name' | 'size_bytes' | 'status';

export interface SnapshotFilter {
  volumeId?: string;
  status?: SnapshotStatus;
  name?: string;
  groupSnapshotId?: string;
  policyId?: string;
  createdAfter?: string;
  createdBefore?: string;
  /** Only these ids. */
  ids?: string[];
  /** Only snapshots whose metadata has every one of these key/value pairs. */
  metadata?: Record<string, string>;
}

export interface SnapshotInput {
  name: string;
  description?: string;
  metadata?: Record<string, string>;
  /** Set when a snapshot policy takes it: which policy, for which due time. */
  policy?: PolicyMark;
}

export interface PolicyMark {
  id: string;
  dueAt: string;
}

export class SnapshotService {
  constructor(private readonly plane: ControlPlane) {}

  private get deps() {
    return this.plane.deps;
  }

  async row(caller: Caller, id: string, db: Executor = this.deps.db): Promise<SnapshotRow> {
    const row = await db.selectFrom('snapshots').selectAll().where('id', '=', id).where('project_id', '=', caller.projectId).executeTakeFirst();
    if (row === undefined) throw notFound('snapshot', id);
    return row;
  }

  /** The DB id of the snapshot the engine names, for parent links. */
  async idOfEngineSnapshot(engineId: number | null, db: Executor = this.deps.db): Promise<string | null> {
    if (engineId === null) return null;
    const row = await db.selectFrom('snapshots').select('id').where('pool_id', '=', this.deps.poolId).where('engine_id', '=', engineId).executeTakeFirst();
    return row?.id ?? null;
  }

  async create(caller: Caller, volumeId: string, input: SnapshotInput): Promise<Snapshot> {
    requireWriter(caller);
    const { db, engine } = this.deps;
    const volume = await this.plane.volumes.row(caller, volumeId);
    const engineVolumeId = this.plane.volumes.engineId(volume);
    const id = newId();
    const now = nowIso();
    await db.transaction().execute(async (tx) => {
      await lockRow(tx, this.deps.dbKind, 'volumes', volumeId);
      const current = await this.plane.volumes.row(caller, volumeId, tx);
      if (current.status !== 'available' && current.status !== 'in-use') {
        throw new StrataError('INVALID_STATE', `volume ${volumeId} is ${current.status}; a snapshot needs available or in-use`, { status: current.status });
      }
      await this.plane.quotas.reserve(tx, caller.projectId, {
        snapshots: 1,
        gigabytes: gibOf(Number(current.size_bytes)),
        snapshotsPerVolume: new Map([[volumeId, 1]]),
      });
      await tx
        .insertInto('snapshots')
        .values({
          id,
          project_id: caller.projectId,
          pool_id: this.deps.poolId,
          volume_id: volumeId,
          engine_id: null,
          name: input.name,
          description: input.description ?? '',
          metadata: JSON.stringify(input.metadata ?? {}),
          size_bytes: Number(current.size_bytes),
          status: 'creating',
          parent_id: null,
          group_snapshot_id: null,
          policy_id: input.policy?.id ?? null,
          policy_due_at: input.policy?.dueAt ?? null,
          created_by: caller.userId,
          created_at: now,
          updated_at: now,
        })
        .execute();
    });
    let info: SnapshotInfo;
    try {
      info = await engine.createSnapshot(engineVolumeId);
    } catch (error) {
      await db.deleteFrom('snapshots').where('id', '=', id).execute();
      throw error;
    }
    await this.recordCreated(id, info);
    this.deps.metrics.snapshotsCreated.inc({ kind: 'single' });
    return toSnapshot(await this.row(caller, id));
  }

  /** Records what the engine created: engine id, size, parent, and `available`. */
  async recordCreated(id: string, info: SnapshotInfo, db: Executor = this.deps.db): Promise<void> {
    const parentId = await this.idOfEngineSnapshot(info.parentSnapshotId, db);
    await transition(db, 'snapshots', id, 'created', { engine_id: info.id, size_bytes: info.sizeBytes, parent_id: parentId });
  }

  async list(caller: Caller, options: ListOptions<SnapshotSort> & SnapshotFilter): Promise<Page<Snapshot>> {
    let query = this.deps.db.selectFrom('snapshots').selectAll().where('project_id', '=', caller.projectId);
    if (options.volumeId !== undefined) query = query.where('volume_id', '=', options.volumeId);
    if (options.status !== undefined) query = query.where('status', '=', options.status);
    if (options.name !== undefined) query = query.where('name', '=', options.name);
    if (options.groupSnapshotId !== undefined) query = query.where('group_snapshot_id', '=', options.groupSnapshotId);
    if (options.policyId !== undefined) query = query.where('policy_id', '=', options.policyId);
    // Stored times are UTC ISO strings; bring the bounds to the same form so text order is time order.
    if (options.createdAfter !== undefined) query = query.where('created_at', '>=', new Date(options.createdAfter).toISOString());
    if (options.createdBefore !== undefined) query = query.where('created_at', '<', new Date(options.createdBefore).toISOString());
    if (options.ids !== undefined) query = options.ids.length === 0 ? query.where(sql<SqlBool>`1 = 0`) : query.where('id', 'in', options.ids);
    if (options.metadata !== undefined) query = query.where(metadataContains(this.deps.dbKind, 'snapshots', options.metadata));
    const { rows, nextPageToken, total } = await fetchPage(query, 'snapshots', options.sort ?? 'created_at', options);
    return { items: rows.map(toSnapshot), nextPageToken, total };
  }

  async get(caller: Caller, id: string): Promise<SnapshotDetail> {
    const row = await this.row(caller, id);
    const children = await this.deps.db.selectFrom('snapshots').select('id').where('parent_id', '=', id).orderBy('seq').execute();
    return { ...toSnapshot(row), childIds: children.map((c) => c.id), exclusiveBytes: await this.exclusiveBytesOf(row) };
  }

  /**
   * Every snapshot of a volume as a tree (roots first, by creation), each with its exclusive
   * bytes, and the snapshot the live volume descends from. A revert to an older snapshot
   * moves the head there, so the next snapshot starts a second branch beside the first.
   */
  async tree(caller: Caller, volumeId: string): Promise<SnapshotTree> {
    const volume = await this.plane.volumes.row(caller, volumeId);
    const rows = await this.deps.db.selectFrom('snapshots').selectAll().where('volume_id', '=', volumeId).orderBy('seq').execute();
    const exclusive = await Promise.all(rows.map((row) => this.exclusiveBytesOf(row)));
    const nodes = new Map(rows.map((row, i) => [row.id, { snapshot: toSnapshot(row), exclusiveBytes: exclusive[i], children: [] as SnapshotTreeNode[] }]));
    const roots: SnapshotTreeNode[] = [];
    for (const node of nodes.values()) {
      const parent = node.snapshot.parentId === null ? undefined : nodes.get(node.snapshot.parentId);
      (parent?.children ?? roots).push(node);
    }
    let headParentId: string | null = null;
    if (volume.pool_id === this.deps.poolId && volume.engine_id !== null && volume.status !== 'deleting' && volume.status !== 'creating') {
      headParentId = await this.idOfEngineSnapshot((await this.deps.engine.volume(Number(volume.engine_id))).headParentSnapshotId);
    }
    return { roots, headParentId };
  }

  /** What deleting the snapshot would free, when this instance's engine holds it and it is available. */
  private async exclusiveBytesOf(row: SnapshotRow): Promise<number | null> {
    if (row.pool_id !== this.deps.poolId || row.engine_id === null || row.status !== 'available') return null;
    return this.deps.engine.exclusiveBytes(Number(row.engine_id));
  }

  async update(caller: Caller, id: string, input: { name?: string; description?: string; metadata?: Record<string, string> }): Promise<SnapshotDetail> {
    requireWriter(caller);
    await this.row(caller, id);
    await this.deps.db
      .updateTable('snapshots')
      .set({
        name: input.name,
        description: input.description,
        metadata: input.metadata === undefined ? undefined : JSON.stringify(input.metadata),
        updated_at: nowIso(),
      })
      .where('id', '=', id)
      .execute();
    return this.get(caller, id);
  }

  /** Changes the metadata map atomically (see store.modifyMetadata); readers are refused. */
  async modifyMetadata(caller: Caller, id: string, change: (current: Record<string, string>) => Record<string, string>): Promise<Record<string, string>> {
    requireWriter(caller);
    return modifyMetadata(this.deps.db, this.deps.dbKind, 'snapshots', { id, projectId: caller.projectId }, change);
  }

  /** Deletes a snapshot as a job; its attachments end; its space is reclaimed in the background. */
  async delete(caller: Caller, id: string): Promise<Job> {
    requireWriter(caller);
    const row = await this.row(caller, id);
    if (row.pool_id !== this.deps.poolId) throw new StrataError('WRONG_INSTANCE', `snapshot ${id} lives in another instance's pool`);
    // A member goes with its group snapshot, or the group snapshot would silently lose a volume.
    if (row.group_snapshot_id !== null) {
      throw new StrataError('INVALID_STATE', `snapshot ${id} is a member of group snapshot ${row.group_snapshot_id}; delete the group snapshot`, {
        status: row.status,
      });
    }
    const job = await this.deps.db.transaction().execute(async (tx) => {
      await transition(tx, 'snapshots', id, 'delete');
      return this.plane.jobs.insert(tx, { projectId: caller.projectId, kind: 'delete-snapshot', targetType: 'snapshot', targetId: id });
    });
    this.plane.jobs.launch(job);
    return toJob(job);
  }

  /** Admin: deletes whatever the status (Cinder os-force_delete), as a job. */
  async forceDelete(caller: Caller, id: string): Promise<Job> {
    requireAdmin(caller);
    const row = await this.row(caller, id);
    if (row.pool_id !== this.deps.poolId) throw new StrataError('WRONG_INSTANCE', `snapshot ${id} lives in another instance's pool`);
    const job = await this.deps.db.transaction().execute(async (tx) => {
      await transition(tx, 'snapshots', id, 'forceDelete');
      return this.plane.jobs.insert(tx, { projectId: caller.projectId, kind: 'delete-snapshot', targetType: 'snapshot', targetId: id });
    });
    this.plane.jobs.launch(job);
    return toJob(job);
  }

  /** Admin: sets the status (Cinder os-reset_status); refused while a job owns the snapshot. */
  async resetStatus(caller: Caller, id: string, status: 'available' | 'error' | 'creating' | 'error_deleting'): Promise<SnapshotDetail> {
    requireAdmin(caller);
    await this.row(caller, id);
    await resetStatus(this.deps.db, 'snapshots', id, status);
    return this.get(caller, id);
  }

  async runDelete(context: JobContext): Promise<void> {
    await this.deleteOne(context.job.target_id, context);
  }

  /** Deletes one snapshot (engine and row), idempotently; used by single and group deletes. */
  async deleteOne(id: string, context: JobContext): Promise<void> {
    const { db, engine } = this.deps;
    const row = await db.selectFrom('snapshots').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) return;
    await this.plane.attachments.endAllFor({ snapshotId: id });
    if (row.engine_id !== null) {
      const engineId = Number(row.engine_id);
      const info = await engine.snapshot(engineId).catch((error: unknown) => {
        if (isStrataError(error) && error.code === 'NOT_FOUND') return undefined;
        throw error;
      });
      if (info !== undefined) {
        const running = engine.jobs().find((j) => j.kind === 'delete-snapshot' && j.targetId === engineId) ?? engine.deleteSnapshot(engineId);
        await this.plane.follow(running, context);
      }
    }
    await db.transaction().execute(async (tx) => {
      await tx.updateTable('snapshots').set({ parent_id: row.parent_id }).where('parent_id', '=', id).execute();
      await tx.deleteFrom('snapshots').where('id', '=', id).execute();
    });
  }

  async deleteFailed(context: JobContext): Promise<void> {
    await transition(this.deps.db, 'snapshots', context.job.target_id, 'deleteFailed').catch(() => undefined);
  }

  /**
   * Reverts the snapshot's volume to it (a job). The volume goes `restoring`; with a
   * read-write attachment this is refused (VOLUME_IN_USE) unless `force`.
   */
  async revert(caller: Caller, id: string, options: { force?: boolean } = {}): Promise<{ job: Job; volume: Volume }> {
    requireWriter(caller);
    const { db } = this.deps;
    const snapshot = await this.row(caller, id);
    if (snapshot.status !== 'available') throw new StrataError('INVALID_STATE', `snapshot ${id} is ${snapshot.status}`, { status: snapshot.status });
    const volumeRow = await this.plane.volumes.row(caller, snapshot.volume_id);
    this.plane.volumes.engineId(volumeRow);
    const job = await db.transaction().execute(async (tx) => {
      await lockRow(tx, this.deps.dbKind, 'volumes', snapshot.volume_id);
      const current = await this.plane.volumes.row(caller, snapshot.volume_id, tx);
      if (current.status === 'in-use' && options.force !== true) {
        throw new StrataError('VOLUME_IN_USE', `volume ${current.id} has a read-write attachment; detach it or pass force=true`);
      }
      await transition(tx, 'volumes', current.id, options.force === true ? 'revertForced' : 'revert');
      return this.plane.jobs.insert(tx, { projectId: caller.projectId, kind: 'revert-snapshot', targetType: 'snapshot', targetId: id, params: { volumeId: current.id } });
    });
    this.plane.jobs.launch(job);
    return { job: toJob(job), volume: (await this.plane.volumes.get(caller, snapshot.volume_id)) as Volume };
  }

  async runRevert(context: JobContext): Promise<void> {
    await this.revertOne(context.job.target_id, String(context.params.volumeId));
  }

  /** Reverts in the engine (repeating it is harmless) and moves the volume out of `restoring`. */
  async revertOne(snapshotId: string, volumeId: string): Promise<void> {
    const { db, engine } = this.deps;
    const snapshot = await db.selectFrom('snapshots').selectAll().where('id', '=', snapshotId).executeTakeFirst();
    const volume = await db.selectFrom('volumes').selectAll().where('id', '=', volumeId).executeTakeFirst();
    if (volume === undefined) return;
    try {
      if (snapshot === undefined || snapshot.engine_id === null) throw notFound('snapshot', snapshotId);
      await engine.revert(Number(volume.engine_id), Number(snapshot.engine_id));
    } finally {
      await this.plane.attachments.settleVolumeStatus(volumeId);
    }
  }

  async revertFailed(context: JobContext): Promise<void> {
    await this.plane.attachments.settleVolumeStatus(String(context.params.volumeId));
  }

  /** A new volume whose content starts as the snapshot's. */
  clone(caller: Caller, id: string, input: { name: string; description?: string; sizeBytes?: number }): Promise<Volume> {
    return this.plane.volumes.create(caller, { ...input, sourceSnapshotId: id });
  }

  /** Byte ranges that may differ between snapshot `from` (null: from empty) and this one. */
  async diff(caller: Caller, id: string, fromSnapshotId: string | undefined): Promise<ByteExtent[]> {
    const row = await this.row(caller, id);
    if (row.pool_id !== this.deps.poolId) throw new StrataError('WRONG_INSTANCE', `snapshot ${id} lives in another instance's pool`);
    if (row.status !== 'available') throw new StrataError('INVALID_STATE', `snapshot ${id} is ${row.status}`, { status: row.status });
    const from = fromSnapshotId === undefined ? null : await this.diffBase(caller, fromSnapshotId, row.volume_id);
    return this.deps.engine.diff(from, { snapshotId: Number(row.engine_id) });
  }

  /** Checks that `from` is an available snapshot of the same volume and returns its view. */
  async diffBase(caller: Caller, fromSnapshotId: string, volumeId: string): Promise<ViewRef> {
    const from = await this.row(caller, fromSnapshotId).catch((error: unknown) => {
      throw fieldError(error, 'from');
    });
    if (from.volume_id !== volumeId) throw new StrataError('INVALID_ARGUMENT', `snapshot ${fromSnapshotId} is not a snapshot of volume ${volumeId}`, { field: 'from' });
    if (from.status !== 'available') throw new StrataError('INVALID_STATE', `snapshot ${fromSnapshotId} is ${from.status}`, { field: 'from' });
    return { snapshotId: Number(from.engine_id) };
  }
}
