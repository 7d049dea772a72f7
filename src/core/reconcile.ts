/**
 * Reconciling the metadata database with the pool: what a crash leaves between the engine call
 * and the row update (C2) is repaired, but only what is provably abandoned (C10).
 *
 * - In a pool this process holds alone (`poolAccess: 'exclusive'`), at start nothing else can
 *   be creating anything: every engine object no row names is an orphan, every `creating` row
 *   is abandoned (`abandonMs` 0).
 * - In a pool other live instances share, another instance may be between its engine call and
 *   its row update right now. An engine object no row names is deleted only once it is older
 *   than `creatingAbandonMs`, and a `creating` row is marked `error` only once its last change
 *   is that old (rows are compared in database time, engine objects by their creation time).
 *   A creation takes one engine call, far below that age, so what is older has no live owner.
 *
 * Rows that a running job will finish (the clones of a group clone job) are left to the job.
 */
import { databaseTime } from '../db/index.js';
import { isStrataError } from '../lib/errors.js';
import type { CoreDeps } from './context.js';
import { transition } from './store.js';

export interface OrphanReport {
  orphanVolumesDeleted: number;
  orphanSnapshotsDeleted: number;
}

/** Deletes engine volumes and snapshots that no row names, created at least `abandonMs` ago. */
export async function deleteOrphans(deps: CoreDeps, abandonMs: number): Promise<OrphanReport> {
  const { db, engine, poolId } = deps;
  const report: OrphanReport = { orphanVolumesDeleted: 0, orphanSnapshotsDeleted: 0 };
  // Rows are read before the engine is listed: an object created after the read is younger than
  // `abandonMs` (shared pools), or cannot exist (exclusive pools, before serving).
  const volumeRows = await db.selectFrom('volumes').select(['id', 'engine_id']).where('pool_id', '=', poolId).execute();
  const snapshotRows = await db.selectFrom('snapshots').select(['id', 'engine_id']).where('pool_id', '=', poolId).execute();
  const knownVolumes = new Set(volumeRows.filter((r) => r.engine_id !== null).map((r) => Number(r.engine_id)));
  const knownSnapshots = new Set(snapshotRows.filter((r) => r.engine_id !== null).map((r) => Number(r.engine_id)));
  const abandoned = (createdAtMs: number) => abandonMs === 0 || createdAtMs <= Date.now() - abandonMs;
  const ignore = (error: unknown) => {
    if (!isStrataError(error)) throw error;
  };
  for (const volume of await engine.listVolumes()) {
    if (!knownVolumes.has(volume.id)) {
      if (!abandoned(volume.createdAtMs)) continue;
      if (volume.state !== 'deleting') await engine.deleteVolume(volume.id).done.catch(ignore);
      report.orphanVolumesDeleted++;
      continue;
    }
    for (const snapshot of await engine.listSnapshots(volume.id)) {
      if (knownSnapshots.has(snapshot.id) || snapshot.state === 'deleting' || !abandoned(snapshot.createdAtMs)) continue;
      await engine.deleteSnapshot(snapshot.id).done.catch(ignore);
      report.orphanSnapshotsDeleted++;
    }
  }
  return report;
}

/**
 * Marks `error` the pool's volumes, snapshots and group snapshots left `creating` whose last
 * change is at least `abandonMs` old (all of them for 0) and that no unfinished job will finish.
 * Returns how many.
 */
export async function markAbandonedCreations(deps: CoreDeps, abandonMs: number): Promise<number> {
  const { db, dbKind, poolId } = deps;
  const cutoff = databaseTime(dbKind, -abandonMs);
  const activeJobs = await db.selectFrom('jobs').select(['kind', 'target_id']).where('pool_id', '=', poolId).where('status', 'in', ['queued', 'running']).execute();
  const cloningGroups = new Set(activeJobs.filter((j) => j.kind === 'clone-group-snapshot').map((j) => j.target_id));
  let volumesQuery = db.selectFrom('volumes').select(['id', 'group_id']).where('pool_id', '=', poolId).where('status', '=', 'creating');
  let snapshotsQuery = db.selectFrom('snapshots').select('id').where('pool_id', '=', poolId).where('status', '=', 'creating');
  let groupSnapshotsQuery = db
    .selectFrom('group_snapshots')
    .select('id')
    .where('status', '=', 'creating')
    .where((eb) => eb.exists(eb.selectFrom('snapshots').select('snapshots.id').whereRef('snapshots.group_snapshot_id', '=', 'group_snapshots.id').where('snapshots.pool_id', '=', poolId)));
  if (abandonMs > 0) {
    volumesQuery = volumesQuery.where('updated_at', '<', cutoff);
    snapshotsQuery = snapshotsQuery.where('updated_at', '<', cutoff);
    groupSnapshotsQuery = groupSnapshotsQuery.where('group_snapshots.updated_at', '<', cutoff);
  }
  let marked = 0;
  // One compare-and-swap per row: a row that changed since it was read is left alone.
  const mark = async (table: 'volumes' | 'snapshots' | 'group_snapshots', id: string) => {
    try {
      await transition(db, table, id, 'recoverCreating');
      marked++;
    } catch (error) {
      if (!isStrataError(error, 'INVALID_STATE') && !isStrataError(error, 'NOT_FOUND')) throw error;
    }
  };
  for (const volume of await volumesQuery.execute()) {
    if (volume.group_id !== null && cloningGroups.has(volume.group_id)) continue;
    await mark('volumes', volume.id);
  }
  for (const row of await groupSnapshotsQuery.execute()) await mark('group_snapshots', row.id);
  for (const row of await snapshotsQuery.execute()) await mark('snapshots', row.id);
  return marked;
}
