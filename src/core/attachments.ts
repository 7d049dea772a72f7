/**
 * Attachments: the right to open a volume (read-write or read-only) or a snapshot (read-only)
 * over NBD. An attachment owns one export whose name is an unguessable capability; deleting the
 * attachment removes the export, which disconnects its clients. Attachments are rows in the
 * metadata database, so they (and their URIs) survive a restart: `restore` re-adds the exports.
 * A volume with a read-write attachment is `in-use`.
 *
 * Any instance of the pool serves every attachment (C11): `sync` brings this instance's export
 * table in line with the pool's attachment rows (at start, and every `attachmentSyncIntervalMs`
 * when other instances share the pool), so an export name works on the NBD address of every
 * instance, and an attachment ended on one instance disconnects its clients on the others by
 * the next sync. Creating, ending and syncing run one at a time per instance: each changes the
 * export table and the set of names this service serves together.
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

/** An attachment row with what serving it needs from its volume or snapshot. */
interface ServedRow {
  id: string;
  export_name: string;
  mode: AttachmentMode;
  volume_id: string | null;
  snapshot_id: string | null;
  volume_engine_id: number | null;
  volume_status: string | null;
  volume_size_bytes: number | null;
  snapshot_engine_id: number | null;
  snapshot_status: string | null;
}

/** The view an attachment serves, or null when its volume or snapshot is gone or going. */
function servedView(row: ServedRow): ViewRef | null {
  if (row.volume_id !== null) return row.volume_engine_id != null && row.volume_status !== 'deleting' ? { volumeId: Number(row.volume_engine_id) } : null;
  if (row.snapshot_id !== null) return row.snapshot_engine_id != null && row.snapshot_status === 'available' ? { snapshotId: Number(row.snapshot_engine_id) } : null;
  return null;
}

export class AttachmentService {
  /** The export names this instance serves for attachments, with their devices. */
  private readonly served = new Map<string, ViewDevice>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly plane: ControlPlane) {}

  /** Runs `work` after every earlier create, end and sync of this instance has finished. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const result = this.queue.then(work);
    this.queue = result.catch(() => undefined);
    return result;
  }

  private get deps() {
    return this.plane.deps;
  }

  private render(caller: Caller, row: AttachmentRow): Attachment {
    return toAttachment(row, this.deps.nbdBaseUri(), mayHoldExport(caller, row.mode));
  }

  async create(caller: Caller, target: AttachmentTarget, mode: AttachmentMode): Promise<Attachment> {
    requireWriter(caller);
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
    return this.serial(() => this.add(caller, target, mode, view));
  }

  private async add(caller: Caller, target: AttachmentTarget, mode: AttachmentMode, view: ViewRef): Promise<Attachment> {
    const { db, engine, exports } = this.deps;
    const device = await viewDevice(engine, view, { readOnly: mode === 'ro' });
    const { name } = exports.add(device);
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
    this.served.set(name, device);
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
    const row = await this.serial(async () => {
      const found = await db.selectFrom('attachments').selectAll().where('id', '=', id).executeTakeFirst();
      if (found === undefined) return undefined;
      exports.remove(found.export_name);
      this.served.delete(found.export_name);
      await db.transaction().execute(async (tx) => {
        if (found.volume_id !== null) await lockRow(tx, this.deps.dbKind, 'volumes', found.volume_id);
        await tx.deleteFrom('attachments').where('id', '=', id).execute();
      });
      return found;
    });
    if (row !== undefined && row.volume_id !== null && row.mode === 'rw') await this.settleVolumeStatus(row.volume_id);
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

  /**
   * Re-adds the exports of this pool's attachments after a restart (same names, same URIs),
   * deleting the rows of attachments whose volume or snapshot is gone. Returns how many are served.
   */
  restore(): Promise<number> {
    return this.sync({ pruneGone: true });
  }

  /**
   * Makes this instance serve exactly the pool's attachments: adds the exports it lacks (with
   * the recorded names), removes those whose attachment ended (disconnecting their clients),
   * and tells devices of volumes grown elsewhere their new size. Returns how many are served.
   */
  sync(options: { pruneGone?: boolean } = {}): Promise<number> {
    return this.serial(async () => {
      const { db, log } = this.deps;
      const rows: ServedRow[] = await db
        .selectFrom('attachments')
        .leftJoin('volumes', 'volumes.id', 'attachments.volume_id')
        .leftJoin('snapshots', 'snapshots.id', 'attachments.snapshot_id')
        .select([
          'attachments.id',
          'attachments.export_name',
          'attachments.mode',
          'attachments.volume_id',
          'attachments.snapshot_id',
          'volumes.engine_id as volume_engine_id',
          'volumes.status as volume_status',
          'volumes.size_bytes as volume_size_bytes',
          'snapshots.engine_id as snapshot_engine_id',
          'snapshots.status as snapshot_status',
        ])
        .where('attachments.pool_id', '=', this.deps.poolId)
        .execute();
      const wanted = new Set<string>();
      for (const row of rows) {
        const view = servedView(row);
        if (view === null) {
          if (options.pruneGone === true) await db.deleteFrom('attachments').where('id', '=', row.id).execute();
          continue;
        }
        wanted.add(row.export_name);
        try {
          await this.serve(row, view);
        } catch (error) {
          log.warn({ err: error, attachment: row.id }, 'an attachment could not be served');
        }
      }
      for (const name of [...this.served.keys()]) {
        if (wanted.has(name)) continue;
        this.deps.exports.remove(name);
        this.served.delete(name);
      }
      return this.served.size;
    });
  }

  /** Adds one attachment's export if this instance lacks it; grows its device if the volume grew. */
  private async serve(row: ServedRow, view: ViewRef): Promise<void> {
    const { engine, exports } = this.deps;
    const device = this.served.get(row.export_name);
    if (device !== undefined) {
      if ('volumeId' in view && row.volume_size_bytes !== null && Number(row.volume_size_bytes) > device.sizeBytes) {
        // The row grows before the engine does: the engine says what a client may address.
        device.resize((await engine.volume(view.volumeId)).sizeBytes);
      }
      return;
    }
    if (exports.resolve(row.export_name) !== undefined) return; // served by another service over the same table
    const added = await viewDevice(engine, view, { readOnly: row.mode === 'ro' });
    exports.add(added, { name: row.export_name });
    this.served.set(row.export_name, added);
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
