/**
 * Strata records → XMS records, with exactly the keys the spec declares for each model (the
 * generated Go SDK refuses any other key, at every level) and its types: int64 ids are the
 * records' `seq`, sizes are bytes, times RFC 3339. Optional keys Strata has no value for are
 * left out, never null.
 *
 * Statuses (the spec defines no enums; XMS tooling waits for `active` and fails on `error`):
 * `status` is the resource's state and `action_status` the operation under way, `active` when
 * none. See `volumeStatus` and friends for the table.
 *
 * A `Renderer` lives for one request: nested views (a volume's group, a snapshot's volume, …)
 * need lookups, which it caches.
 */
import type { Caller } from '../../../core/context.js';
import type { ControlPlane } from '../../../core/plane.js';
import type { Group, GroupSnapshot, Snapshot, SnapshotDetail, Volume, VolumeDetail } from '../../../core/records.js';
import type { GroupSnapshotStatus, GroupStatus, SnapshotStatus, VolumeStatus } from '../../../core/transitions.js';
import { isStrataError } from '../../../lib/errors.js';
import { limits } from '../../../lib/limits.js';

/** The one pool of this instance, as XMS sees it. */
export const poolId = 1;
export const poolName = 'strata';

/** Where a client-given XSKY `uid` is kept (volume and snapshot metadata); otherwise `uid` is the Strata id. */
export const uidKey = 'xsky.uid';

type Status = { status: string; action_status: string };
const idle = (status: string): Status => ({ status, action_status: 'active' });
const busy = (action: string): Status => ({ status: action, action_status: action });

export function volumeStatus(status: VolumeStatus): Status {
  switch (status) {
    case 'creating':
      return busy('creating');
    case 'available':
    case 'in-use':
      return idle('active');
    case 'restoring':
      return busy('rolling_back');
    case 'deleting':
      return busy('deleting');
    case 'error':
      return idle('error');
  }
}

export function snapshotStatus(status: SnapshotStatus): Status {
  switch (status) {
    case 'creating':
      return busy('creating');
    case 'available':
      return idle('active');
    case 'deleting':
      return busy('deleting');
    case 'error':
    case 'error_deleting':
      return idle('error');
  }
}

export function groupSnapshotStatus(status: GroupSnapshotStatus): Status {
  switch (status) {
    case 'restoring':
      return busy('rolling_back');
    default:
      return snapshotStatus(status);
  }
}

function groupStatus(status: GroupStatus, members: VolumeStatus[]): Status {
  if (status === 'deleting') return busy('deleting');
  if (status === 'error') return idle('error');
  // A group is as busy as its members: a clone being made, a rollback under way.
  if (members.includes('creating')) return busy('creating');
  if (members.includes('restoring')) return busy('rolling_back');
  return idle('active');
}

export interface PoolNest {
  id: number;
  name: string;
  status: string;
  action_status: string;
}

export const poolNest = (): PoolNest => ({ id: poolId, name: poolName, ...idle('active') });

/** `PoolRecord`. */
export function poolWire(plane: ControlPlane, blockVolumeNum: number) {
  return {
    id: poolId,
    name: poolName,
    pool_name: plane.deps.poolId,
    ...idle('active'),
    block_volume_num: blockVolumeNum,
    thin_provisioned: true,
  };
}

const uidOf = (record: { id: string; metadata: Record<string, string> }): string => record.metadata[uidKey] ?? record.id;

export type Wire = Record<string, unknown>;

export class Renderer {
  private readonly cache = new Map<string, Promise<unknown>>();

  constructor(
    private readonly plane: ControlPlane,
    private readonly caller: Caller,
  ) {}

  /** A lookup by key, once per request; a resource gone meanwhile is null. */
  private once<T>(key: string, load: () => Promise<T>): Promise<T | null> {
    let hit = this.cache.get(key) as Promise<T | null> | undefined;
    if (hit === undefined) {
      hit = load().catch((error: unknown) => {
        if (isStrataError(error, 'NOT_FOUND')) return null;
        throw error;
      });
      this.cache.set(key, hit);
    }
    return hit;
  }

  private volumeOf(id: string) {
    return this.once(`volume:${id}`, () => this.plane.volumes.get(this.caller, id));
  }
  private snapshotOf(id: string) {
    return this.once(`snapshot:${id}`, () => this.plane.snapshots.get(this.caller, id));
  }
  private groupOf(id: string) {
    return this.once(`group:${id}`, () => this.plane.groups.get(this.caller, id));
  }
  private groupSnapshotOf(id: string) {
    return this.once(`group-snapshot:${id}`, () => this.plane.groups.getSnapshot(this.caller, id));
  }
  private inThisPool(record: { poolId: string }): boolean {
    return record.poolId === this.plane.deps.poolId;
  }

  /** `VolumeRecord`; `detail` adds what only `get` knows (allocation, snapshot count). */
  async volume(volume: Volume | VolumeDetail, override?: Partial<Status>): Promise<Wire> {
    const detail = 'snapshotCount' in volume ? volume : null;
    const source = volume.sourceSnapshotId === null ? null : await this.snapshotOf(volume.sourceSnapshotId);
    const group = volume.groupId === null ? null : await this.groupOf(volume.groupId);
    return {
      id: volume.seq,
      name: volume.name,
      description: volume.description,
      uid: uidOf(volume),
      size: volume.sizeBytes,
      ...(detail !== null && detail.allocatedBytes !== null ? { allocated_size: detail.allocatedBytes } : {}),
      ...(detail !== null ? { block_snapshot_num: detail.snapshotCount } : {}),
      ...volumeStatus(volume.status),
      ...override,
      ...(this.inThisPool(volume) ? { pool: poolNest() } : {}),
      ...(source === null ? {} : { snapshot: { id: source.seq, name: source.name, uid: uidOf(source) } }),
      ...(group === null ? {} : { block_volume_group: { id: group.seq, name: group.name } }),
      create: volume.createdAt,
      update: volume.updatedAt,
    };
  }

  volumes(items: Volume[]): Promise<Wire[]> {
    return Promise.all(items.map((v) => this.volume(v)));
  }

  /** `Snapshot` for a block snapshot. */
  async snapshot(snapshot: Snapshot | SnapshotDetail, override?: Partial<Status>): Promise<Wire> {
    const detail = 'exclusiveBytes' in snapshot ? snapshot : null;
    const volume = await this.volumeOf(snapshot.volumeId);
    const groupSnapshot = snapshot.groupSnapshotId === null ? null : await this.groupSnapshotOf(snapshot.groupSnapshotId);
    return {
      id: snapshot.seq,
      name: snapshot.name,
      snap_name: snapshot.name,
      uid: uidOf(snapshot),
      description: snapshot.description,
      size: snapshot.sizeBytes,
      ...(detail !== null && detail.exclusiveBytes !== null ? { allocated_size: detail.exclusiveBytes } : {}),
      ...snapshotStatus(snapshot.status),
      ...override,
      ...(volume === null ? {} : { volume: { id: volume.seq, name: volume.name, uid: uidOf(volume) } }),
      ...(volume !== null && this.inThisPool(volume) ? { pool: poolNest() } : {}),
      ...(groupSnapshot === null
        ? {}
        : groupSnapshot.groupId === null
          ? { block_consistent_snapshot: { id: groupSnapshot.seq, snap_name: groupSnapshot.name } }
          : { block_volume_group_snapshot: { id: groupSnapshot.seq, name: groupSnapshot.name, group_snapshot_name: groupSnapshot.name } }),
      create: snapshot.createdAt,
      update: snapshot.updatedAt,
    };
  }

  snapshots(items: Snapshot[]): Promise<Wire[]> {
    return Promise.all(items.map((s) => this.snapshot(s)));
  }

  /** `ConsistentSnapshot`: a group snapshot of a set of volumes (the record has `snap_name`, no `name`). */
  consistentSnapshot(gs: GroupSnapshot, override?: Partial<Status>): Wire {
    const { status } = { ...groupSnapshotStatus(gs.status), ...override };
    return { id: gs.seq, snap_name: gs.name, description: gs.description, status, create: gs.createdAt };
  }

  /** A consistent snapshot as the `Snapshot` model (GET and DELETE answer `{"block_snapshot": …}`). */
  consistentSnapshotAsSnapshot(gs: GroupSnapshot, override?: Partial<Status>): Wire {
    return {
      id: gs.seq,
      name: gs.name,
      snap_name: gs.name,
      uid: gs.id,
      description: gs.description,
      size: gs.snapshots.reduce((sum, s) => sum + s.sizeBytes, 0),
      ...groupSnapshotStatus(gs.status),
      ...override,
      create: gs.createdAt,
      update: gs.updatedAt,
    };
  }

  /** `VolumeGroup`. */
  async group(group: Group, override?: Partial<Status>): Promise<Wire> {
    const members = group.volumeIds.length === 0 ? [] : (await this.plane.volumes.list(this.caller, { groupId: group.id, limit: limits.groupVolumesMax })).items;
    const snapshots = await this.plane.groups.listSnapshots(this.caller, { groupId: group.id, limit: 1, sort: 'created_at', order: 'desc', withCount: true });
    const latest = snapshots.items[0];
    return {
      id: group.seq,
      name: group.name,
      description: group.description,
      ...groupStatus(group.status, members.map((v) => v.status)),
      ...override,
      block_volume_num: group.volumeIds.length,
      block_volume_group_snapshot_num: snapshots.total ?? 0,
      ...(latest === undefined ? {} : { block_volume_group_snapshot: { id: latest.seq, name: latest.name, group_snapshot_name: latest.name }, latest_snapshot_time: latest.createdAt }),
      pool: poolNest(),
      create: group.createdAt,
      update: group.updatedAt,
    };
  }

  groups(items: Group[]): Promise<Wire[]> {
    return Promise.all(items.map((g) => this.group(g)));
  }

  /** `VolumeGroupSnapshot`. */
  async groupSnapshot(gs: GroupSnapshot, override?: Partial<Status>): Promise<Wire> {
    const group = gs.groupId === null ? null : await this.groupOf(gs.groupId);
    return {
      id: gs.seq,
      name: gs.name,
      group_snapshot_name: gs.name,
      description: gs.description,
      ...groupSnapshotStatus(gs.status),
      ...override,
      block_snapshot_num: gs.snapshots.length,
      ...(group === null ? {} : { block_volume_group: { id: group.seq, name: group.name } }),
      create: gs.createdAt,
      update: gs.updatedAt,
    };
  }

  groupSnapshots(items: GroupSnapshot[]): Promise<Wire[]> {
    return Promise.all(items.map((g) => this.groupSnapshot(g)));
  }
}
