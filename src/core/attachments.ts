/**
 * Attachments: the right to open a volume (read-write or read-only) or a snapshot (read-only)
 * over NBD. An attachment owns one export whose name is an unguessable capability; deleting the
 * attachment removes the export, which disconnects its clients. Attachments are rows in the
 * metadata database, so they (and their URIs) survive a restart: `restore` re-adds the exports.
 * A volume with a read-write attachment is `in-use`.
 *
 * Who sees the capability: the export name (and the URI holding it) is shown to admins and
 * members for every attachment of their project, and to readers only for read-only ones. A
 * reader sees that a read-write attachment exists (id, mode, volume, time) but its `exportName`
 * and `uri` are null, since with them the reader could write to the volume. Every edge renders
 * attachments from these records, so the rule holds on every route.
 */
import type { AttachmentRow } from '../db/index.js';
import type { ViewRef } from '../engine/index.js';
import { StrataError } from '../lib/errors.js';
import { type Caller, requireWriter } from './context.js';
import { type BlockDevice, type ViewDevice, viewDevice } from './devices.js';
import { fetchPage, type ListOptions, type Page } from './paging.js';
import type { ControlPlane } from './plane.js';
import { type Attachment, toAttachment } from './records.js';
import { lockRow, newId, notFound, nowIso, transition } from './store.js';

/** The part of the NBD export table attachments use. */
export interface ExportRegistry {
  add(device: BlockDevice, options?: { name?: string }): { name: string };
  remove(name: string): boolean;
  resolve(name: string): BlockDevice | undefined;
}

export type AttachmentMode = 'rw' | 'ro';

/** Whether a caller may see an attachment's export name: never a reader, for a read-write one. */
export function mayHoldExport(caller: Caller, mode: AttachmentMode): boolean {
  return caller.role !== 'reader' || mode === 'ro';
}
export type AttachmentTarget = { volumeId: string } | { snapshotId: string };

export class AttachmentService {
  constructor(private readonly plane: ControlPlane) {}

  private get deps() {
    return this.plane.deps;
  }

  private render(caller: Caller, row: AttachmentRow): Attachment {
    return toAttachment(row, this.deps.nbdBaseUri(), mayHoldExport(caller, row.mode));
  }

  async create(caller: Caller, target: AttachmentTarget, mode: AttachmentMode): Promise<Attachment> {
    requireWriter(caller);
    const { db, engine, exports } = this.deps;
    let view: ViewRef;
    if ('snapshotId' in target) {
      if (mode !== 'ro') throw new StrataError('INVALID_ARGUMENT', 'a snapshot can only be attached read-only', { field: 'mode' });
      const snapshot = await this.plane.snapshots.row(caller, target.snapshotId);
      if (snapshot.pool_id !== this.deps.poolId) throw new StrataError('WRONG_INSTANCE', `snapshot ${snapshot.id} lives in another instance's pool`);
      if (snapshot.status !== 'available') throw new StrataError('INVALID_STATE', `snapshot ${snapshot.id} is ${snapshot.status}`, { status: snapshot.status });
      view = { snapshotId: Number(snapshot.engine_id) };
    } else {
      const volume = await this.plane.volumes.row(caller, target.volumeId);
      view = { volumeId: this.plane.volumes.engineId(volume) };
    }
    const { name } = exports.add(await viewDevice(engine, view, { readOnly: mode === 'ro' }));
    const row: AttachmentRow = {
      seq: 0,
      id: newId(),
      project_id: caller.projectId,
      pool_id: this.deps.poolId,
      volume_id: 'volumeId' in target ? target.volumeId : null,
      snapshot_id: 'snapshotId' in target ? target.snapshotId : null,
      mode,
      export_name: name,
      created_at: nowIso(),
    };
    try {
      await db.transaction().execute(async (tx) => {
        if ('volumeId' in target) {
          await lockRow(tx, this.deps.dbKind, 'volumes', target.volumeId);
          const volume = await this.plane.volumes.row(caller, target.volumeId, tx);
          if (mode === 'rw') await transition(tx, 'volumes', volume.id, 'attachReadWrite');
          else if (volume.status !== 'available' && volume.status !== 'in-use') {
            throw new StrataError('INVALID_STATE', `volume ${volume.id} is ${volume.status}`, { status: volume.status });
          }
        }
        const { seq: _seq, ...values } = row;
        await tx.insertInto('attachments').values(values).execute();
      });
    } catch (error) {
      exports.remove(name);
      throw error;
    }
    return this.render(caller, row);
  }

  async list(caller: Caller, options: ListOptions<'created_at'> & { volumeId?: string; snapshotId?: string }): Promise<Page<Attachment>> {
    let query = this.deps.db.selectFrom('attachments').selectAll().where('project_id', '=', caller.projectId);
    if (options.volumeId !== undefined) query = query.where('volume_id', '=', options.volumeId);
    if (options.snapshotId !== undefined) query = query.where('snapshot_id', '=', options.snapshotId);
    const { rows, nextPageToken, total } = await fetchPage(query, 'attachments', 'created_at', options);
    return { items: rows.map((row) => this.render(caller, row)), nextPageToken, total };
  }

  async get(caller: Caller, id: string): Promise<Attachment> {
    const row = await this.deps.db.selectFrom('attachments').selectAll().where('id', '=', id).where('project_id', '=', caller.projectId).executeTakeFirst();
    if (row === undefined) throw notFound('attachment', id);
    return this.render(caller, row);
  }

  /** Ends an attachment: its clients are disconnected; a volume with no read-write attachment left becomes available. */
  async delete(caller: Caller, id: string): Promise<void> {
    requireWriter(caller);
    await this.get(caller, id);
    const row = await this.deps.db.selectFrom('attachments').select('pool_id').where('id', '=', id).executeTakeFirst();
    if (row !== undefined && row.pool_id !== this.deps.poolId) throw new StrataError('WRONG_INSTANCE', `attachment ${id} is served by another Strata instance`);
    await this.end(id);
  }

  private async end(id: string): Promise<void> {
    const { db, exports } = this.deps;
    const row = await db.selectFrom('attachments').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) return;
    exports.remove(row.export_name);
    await db.transaction().execute(async (tx) => {
      if (row.volume_id !== null) await lockRow(tx, this.deps.dbKind, 'volumes', row.volume_id);
      await tx.deleteFrom('attachments').where('id', '=', id).execute();
    });
    if (row.volume_id !== null && row.mode === 'rw') await this.settleVolumeStatus(row.volume_id);
  }

  /** Ends every attachment of a volume or snapshot (before deleting it). */
  async endAllFor(target: AttachmentTarget): Promise<void> {
    const column = 'volumeId' in target ? 'volume_id' : 'snapshot_id';
    const value = 'volumeId' in target ? target.volumeId : target.snapshotId;
    const rows = await this.deps.db.selectFrom('attachments').select('id').where(column, '=', value).execute();
    for (const row of rows) await this.end(row.id);
  }

  /**
   * Puts a volume in the status its attachments imply: after a revert (`restoring`), or when
   * its last read-write attachment ended (`in-use`). Other statuses are left alone.
   */
  async settleVolumeStatus(volumeId: string): Promise<void> {
    const { db } = this.deps;
    await db.transaction().execute(async (tx) => {
      await lockRow(tx, this.deps.dbKind, 'volumes', volumeId);
      const volume = await tx.selectFrom('volumes').select('status').where('id', '=', volumeId).executeTakeFirst();
      if (volume === undefined) return;
      const readWrite = await tx.selectFrom('attachments').select('id').where('volume_id', '=', volumeId).where('mode', '=', 'rw').limit(1).executeTakeFirst();
      if (volume.status === 'restoring') await transition(tx, 'volumes', volumeId, readWrite === undefined ? 'revertedDetached' : 'revertedAttached');
      else if (volume.status === 'in-use' && readWrite === undefined) await transition(tx, 'volumes', volumeId, 'detachLastReadWrite');
    });
  }

  /** Re-adds the exports of this pool's attachments after a restart (same names, same URIs). */
  async restore(): Promise<number> {
    const { db, engine, exports } = this.deps;
    const rows = await db.selectFrom('attachments').selectAll().where('pool_id', '=', this.deps.poolId).execute();
    let restored = 0;
    for (const row of rows) {
      let view: ViewRef | null = null;
      if (row.volume_id !== null) {
        const volume = await db.selectFrom('volumes').select(['engine_id', 'status']).where('id', '=', row.volume_id).executeTakeFirst();
        if (volume?.engine_id != null && volume.status !== 'deleting') view = { volumeId: Number(volume.engine_id) };
      } else if (row.snapshot_id !== null) {
        const snapshot = await db.selectFrom('snapshots').select(['engine_id', 'status']).where('id', '=', row.snapshot_id).executeTakeFirst();
        if (snapshot?.engine_id != null && snapshot.status === 'available') view = { snapshotId: Number(snapshot.engine_id) };
      }
      if (view === null) {
        await db.deleteFrom('attachments').where('id', '=', row.id).execute();
        continue;
      }
      exports.add(await viewDevice(engine, view, { readOnly: row.mode === 'ro' }), { name: row.export_name });
      restored++;
    }
    return restored;
  }

  /** Tells the devices serving a grown volume its new size, for connections made from now on. */
  async resized(volumeId: string, sizeBytes: number): Promise<void> {
    const rows = await this.deps.db.selectFrom('attachments').select('export_name').where('volume_id', '=', volumeId).where('pool_id', '=', this.deps.poolId).execute();
    for (const row of rows) {
      const device = this.deps.exports.resolve(row.export_name);
      if (device !== undefined && 'resize' in device) (device as ViewDevice).resize(sizeBytes);
    }
  }
}
