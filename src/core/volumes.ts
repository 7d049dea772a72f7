/**
 * Volumes: create (empty or as a clone of a snapshot), list, show, update (name, description,
 * grow), delete (a job), flatten (a job), diff.
 *
 * Order of writes for anything the engine creates: insert the row as `creating` (with the
 * quota check, one transaction) → engine call → record the engine id and `available`. A crash
 * in between leaves a `creating` row that recovery marks `error`, and possibly an engine
 * volume no row names, which recovery deletes.
 */
import type { VolumeRow } from '../db/index.js';
import type { VolumeInfo } from '../engine/index.js';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import { type Caller, requireWriter } from './context.js';
import type { JobContext, Job } from './jobs.js';
import { toJob } from './jobs.js';
import { fetchPage, type ListOptions, type Page } from './paging.js';
import type { ControlPlane } from './plane.js';
import { gibOf } from './quotas.js';
import { type ByteExtent, toVolume, type Volume, type VolumeDetail } from './records.js';
import { type SqlBool, sql } from 'kysely';
import { lockRow, metadataContains, modifyMetadata, newId, notFound, nowIso, transition, transitionAll, type Executor } from './store.js';
import type { VolumeStatus } from './transitions.js';

export type VolumeSort = 'created_at' | 'name' | 'size_bytes' | 'status';

export interface VolumeFilter {
  status?: VolumeStatus;
  name?: string;
  groupId?: string;
  /** Only these ids. */
  ids?: string[];
  /** Only volumes whose metadata has every one of these key/value pairs. */
  metadata?: Record<string, string>;
}

export function checkVolumeSize(sizeBytes: number, field = 'size_bytes'): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < limits.volumeSizeBytesMin || sizeBytes > limits.volumeSizeBytesMax) {
    throw new StrataError('OUT_OF_RANGE', `${field} must be between ${limits.volumeSizeBytesMin} and ${limits.volumeSizeBytesMax}`, { field });
  }
  if (sizeBytes % limits.volumeSizeBytesAlignment !== 0) {
    throw new StrataError('INVALID_ARGUMENT', `${field} must be a multiple of ${limits.volumeSizeBytesAlignment}`, { field });
  }
}

export class VolumeService {
  constructor(private readonly plane: ControlPlane) {}

  private get deps() {
    return this.plane.deps;
  }

  /** The caller's volume row; NOT_FOUND for another project's. */
  async row(caller: Caller, id: string, db: Executor = this.deps.db): Promise<VolumeRow> {
    const row = await db.selectFrom('volumes').selectAll().where('id', '=', id).where('project_id', '=', caller.projectId).executeTakeFirst();
    if (row === undefined) throw notFound('volume', id);
    return row;
  }

  /** The engine id of a volume this instance holds; WRONG_INSTANCE or INVALID_STATE otherwise. */
  engineId(row: VolumeRow): number {
    if (row.pool_id !== this.deps.poolId) throw new StrataError('WRONG_INSTANCE', `volume ${row.id} lives in pool ${row.pool_id}, served by another Strata instance`);
    if (row.engine_id === null) throw new StrataError('INVALID_STATE', `volume ${row.id} is ${row.status}`, { status: row.status });
    return Number(row.engine_id);
  }

  async create(
    caller: Caller,
    input: { name: string; description?: string; sizeBytes?: number; sourceSnapshotId?: string; groupId?: string; metadata?: Record<string, string> },
  ): Promise<Volume> {
    requireWriter(caller);
    const { db } = this.deps;
    let sizeBytes = input.sizeBytes;
    let sourceEngineId: number | null = null;
    if (input.sourceSnapshotId !== undefined) {
      const source = await this.plane.snapshots.row(caller, input.sourceSnapshotId).catch((error: unknown) => {
        throw fieldError(error, 'source_snapshot_id');
      });
      if (source.status !== 'available') throw new StrataError('INVALID_STATE', `snapshot ${source.id} is ${source.status}`, { field: 'source_snapshot_id' });
      if (source.pool_id !== this.deps.poolId) throw new StrataError('WRONG_INSTANCE', `snapshot ${source.id} lives in another instance's pool`);
      sourceEngineId = Number(source.engine_id);
      if (sizeBytes === undefined) sizeBytes = Number(source.size_bytes);
      else if (sizeBytes < Number(source.size_bytes)) {
        throw new StrataError('OUT_OF_RANGE', `size_bytes must be at least the snapshot's size, ${source.size_bytes}`, { field: 'size_bytes' });
      }
    }
    if (sizeBytes === undefined) throw new StrataError('MISSING_FIELD', 'size_bytes is required unless source_snapshot_id is given', { field: 'size_bytes' });
    checkVolumeSize(sizeBytes);
    const now = nowIso();
    const id = newId();
    await db.transaction().execute(async (tx) => {
      if (input.groupId !== undefined) {
        await lockRow(tx, this.deps.dbKind, 'groups', input.groupId);
        const group = await this.plane.groups.row(caller, input.groupId, tx).catch((error: unknown) => {
          throw fieldError(error, 'group_id');
        });
        if (group.status !== 'available') throw new StrataError('INVALID_STATE', `group ${group.id} is ${group.status}`, { field: 'group_id' });
        const members = await tx.selectFrom('volumes').select((eb) => eb.fn.countAll<number>().as('n')).where('group_id', '=', group.id).executeTakeFirstOrThrow();
        if (Number(members.n) >= limits.groupVolumesMax) throw new StrataError('LIMIT_EXCEEDED', `a group holds at most ${limits.groupVolumesMax} volumes`, { field: 'group_id' });
      }
      await this.plane.quotas.reserve(tx, caller.projectId, { volumes: 1, gigabytes: gibOf(sizeBytes!) });
      await tx
        .insertInto('volumes')
        .values({
          id,
          project_id: caller.projectId,
          pool_id: this.deps.poolId,
          engine_id: null,
          name: input.name,
          description: input.description ?? '',
          size_bytes: sizeBytes!,
          status: 'creating',
          source_snapshot_id: input.sourceSnapshotId ?? null,
          group_id: input.groupId ?? null,
          metadata: JSON.stringify(input.metadata ?? {}),
          created_by: caller.userId,
          created_at: now,
          updated_at: now,
        })
        .execute();
    });
    let info: VolumeInfo;
    try {
      info = sourceEngineId === null ? await this.deps.engine.createVolume({ sizeBytes }) : await this.deps.engine.clone(sourceEngineId, { sizeBytes });
    } catch (error) {
      await db.deleteFrom('volumes').where('id', '=', id).execute();
      throw error;
    }
    await transition(db, 'volumes', id, 'created', { engine_id: info.id });
    return toVolume(await this.row(caller, id));
  }

  async list(caller: Caller, options: ListOptions<VolumeSort> & VolumeFilter): Promise<Page<Volume>> {
    let query = this.deps.db.selectFrom('volumes').selectAll().where('project_id', '=', caller.projectId);
    if (options.status !== undefined) query = query.where('status', '=', options.status);
    if (options.name !== undefined) query = query.where('name', '=', options.name);
    if (options.groupId !== undefined) query = query.where('group_id', '=', options.groupId);
    if (options.ids !== undefined) query = options.ids.length === 0 ? query.where(sql<SqlBool>`1 = 0`) : query.where('id', 'in', options.ids);
    if (options.metadata !== undefined) query = query.where(metadataContains(this.deps.dbKind, 'volumes', options.metadata));
    const { rows, nextPageToken, total } = await fetchPage(query, 'volumes', options.sort ?? 'created_at', options);
    return { items: rows.map(toVolume), nextPageToken, total };
  }

  async get(caller: Caller, id: string): Promise<VolumeDetail> {
    const row = await this.row(caller, id);
    const counted = await this.deps.db
      .selectFrom('snapshots')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('volume_id', '=', id)
      .executeTakeFirstOrThrow();
    let allocatedBytes: number | null = null;
    let cloneDepth: number | null = null;
    if (row.pool_id === this.deps.poolId && row.engine_id !== null && row.status !== 'deleting') {
      const engineId = Number(row.engine_id);
      allocatedBytes = await this.deps.engine.allocatedBytes(engineId);
      cloneDepth = (await this.deps.engine.volume(engineId)).cloneDepth;
    }
    return { ...toVolume(row), allocatedBytes, cloneDepth, snapshotCount: Number(counted.n) };
  }

  /** Renames, redescribes or grows a volume (never shrinks). */
  async update(caller: Caller, id: string, input: { name?: string; description?: string; sizeBytes?: number; metadata?: Record<string, string> }): Promise<VolumeDetail> {
    requireWriter(caller);
    const { db, engine } = this.deps;
    const row = await this.row(caller, id);
    const grow = input.sizeBytes !== undefined && input.sizeBytes !== Number(row.size_bytes);
    if (input.sizeBytes !== undefined) {
      checkVolumeSize(input.sizeBytes);
      if (input.sizeBytes < Number(row.size_bytes)) throw new StrataError('OUT_OF_RANGE', `volumes never shrink: size_bytes must be at least ${row.size_bytes}`, { field: 'size_bytes' });
    }
    const engineId = grow ? this.engineId(row) : null;
    await db.transaction().execute(async (tx) => {
      await lockRow(tx, this.deps.dbKind, 'volumes', id);
      const current = await this.row(caller, id, tx);
      if (grow) {
        if (current.status !== 'available' && current.status !== 'in-use') {
          throw new StrataError('INVALID_STATE', `volume ${id} is ${current.status}; grow needs available or in-use`, { status: current.status });
        }
        await this.plane.quotas.reserve(tx, caller.projectId, { gigabytes: gibOf(input.sizeBytes!) - gibOf(Number(current.size_bytes)) });
      }
      await tx
        .updateTable('volumes')
        .set({
          name: input.name,
          description: input.description,
          size_bytes: grow ? input.sizeBytes : undefined,
          metadata: input.metadata === undefined ? undefined : JSON.stringify(input.metadata),
          updated_at: nowIso(),
        })
        .where('id', '=', id)
        .execute();
    });
    if (grow) {
      try {
        const grown = await engine.growVolume(engineId!, input.sizeBytes!);
        await this.plane.attachments.resized(id, grown.sizeBytes);
      } catch (error) {
        await db.updateTable('volumes').set({ size_bytes: (await engine.volume(engineId!)).sizeBytes }).where('id', '=', id).execute();
        throw error;
      }
    }
    return this.get(caller, id);
  }

  /** Changes the metadata map atomically (see store.modifyMetadata); readers are refused. */
  async modifyMetadata(caller: Caller, id: string, change: (current: Record<string, string>) => Record<string, string>): Promise<Record<string, string>> {
    requireWriter(caller);
    return modifyMetadata(this.deps.db, this.deps.dbKind, 'volumes', { id, projectId: caller.projectId }, change);
  }

  /**
   * Deletes a volume as a job. A volume with snapshots is refused (HAS_DEPENDENTS) unless
   * `cascade`, which deletes them too; a read-write attachment makes it `in-use`, which is
   * refused (VOLUME_IN_USE); read-only attachments are ended.
   */
  async delete(caller: Caller, id: string, options: { cascade?: boolean } = {}): Promise<Job> {
    requireWriter(caller);
    const { db } = this.deps;
    const row = await this.row(caller, id);
    if (row.pool_id !== this.deps.poolId) this.engineId(row);
    const job = await db.transaction().execute(async (tx) => {
      await lockRow(tx, this.deps.dbKind, 'volumes', id);
      const current = await this.row(caller, id, tx);
      if (current.status === 'in-use') throw new StrataError('VOLUME_IN_USE', `volume ${id} has a read-write attachment; delete it first`);
      const snapshots = await tx.selectFrom('snapshots').select(['id', 'status']).where('volume_id', '=', id).execute();
      if (snapshots.length > 0 && options.cascade !== true) {
        throw new StrataError('HAS_DEPENDENTS', `volume ${id} has ${snapshots.length} snapshots; delete them first or pass cascade=true`);
      }
      if (snapshots.some((s) => s.status === 'creating')) throw new StrataError('INVALID_STATE', `a snapshot of volume ${id} is being created`);
      await transition(tx, 'volumes', id, 'delete');
      await transitionAll(tx, 'snapshots', 'volume_id', id, 'delete');
      return this.plane.jobs.insert(tx, { projectId: caller.projectId, kind: 'delete-volume', targetType: 'volume', targetId: id });
    });
    this.plane.jobs.launch(job);
    return toJob(job);
  }

  /** Job 'delete-volume': ends attachments, deletes in the engine (idempotent), then the rows. */
  async runDelete(context: JobContext): Promise<void> {
    const { db, engine } = this.deps;
    const id = context.job.target_id;
    const row = await db.selectFrom('volumes').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) return;
    await this.plane.attachments.endAllFor({ volumeId: id });
    const snapshotIds = (await db.selectFrom('snapshots').select('id').where('volume_id', '=', id).execute()).map((s) => s.id);
    for (const snapshotId of snapshotIds) await this.plane.attachments.endAllFor({ snapshotId });
    if (row.engine_id !== null) {
      const engineId = Number(row.engine_id);
      const exists = (await engine.listVolumes()).some((v) => v.id === engineId);
      if (exists) {
        const running = engine.jobs().find((j) => j.kind === 'delete-volume' && j.targetId === engineId) ?? engine.deleteVolume(engineId);
        await this.plane.follow(running, context);
      }
    }
    await db.transaction().execute(async (tx) => {
      await tx.deleteFrom('snapshots').where('volume_id', '=', id).execute();
      await tx.deleteFrom('volumes').where('id', '=', id).execute();
    });
  }

  async deleteFailed(context: JobContext): Promise<void> {
    const id = context.job.target_id;
    await transition(this.deps.db, 'volumes', id, 'deleteFailed').catch(() => undefined);
    await transitionAll(this.deps.db, 'snapshots', 'volume_id', id, 'deleteFailed');
  }

  /** Copies a clone's inherited data references so it no longer reads through its source (a job). */
  async flatten(caller: Caller, id: string): Promise<Job> {
    requireWriter(caller);
    const row = await this.row(caller, id);
    this.engineId(row);
    if (row.status !== 'available' && row.status !== 'in-use') throw new StrataError('INVALID_STATE', `volume ${id} is ${row.status}`, { status: row.status });
    const job = await this.deps.db.transaction().execute((tx) =>
      this.plane.jobs.insert(tx, { projectId: caller.projectId, kind: 'flatten-volume', targetType: 'volume', targetId: id }),
    );
    this.plane.jobs.launch(job);
    return toJob(job);
  }

  async runFlatten(context: JobContext): Promise<void> {
    const row = await this.deps.db.selectFrom('volumes').selectAll().where('id', '=', context.job.target_id).executeTakeFirst();
    if (row === undefined || row.engine_id === null) throw notFound('volume', context.job.target_id);
    const engineId = Number(row.engine_id);
    const { engine } = this.deps;
    if ((await engine.volume(engineId)).originSnapshotId === null) return;
    const running = engine.jobs().find((j) => j.kind === 'flatten' && j.targetId === engineId) ?? engine.flatten(engineId);
    await this.plane.follow(running, context);
  }

  /** Byte ranges of the live volume that may differ from snapshot `from` (null: from empty). */
  async diff(caller: Caller, id: string, fromSnapshotId: string | undefined): Promise<ByteExtent[]> {
    const row = await this.row(caller, id);
    const engineId = this.engineId(row);
    const from = fromSnapshotId === undefined ? null : await this.plane.snapshots.diffBase(caller, fromSnapshotId, id);
    return this.deps.engine.diff(from, { volumeId: engineId });
  }
}

export function fieldError(error: unknown, field: string): unknown {
  if (error instanceof StrataError && error.field === undefined) return new StrataError(error.code, error.message, { ...error.details, field });
  return error;
}
