/** The control plane's resources as services return them (camelCase; each edge renders its own wire names). */
import type { AttachmentRow, GroupRow, GroupSnapshotRow, SnapshotRow, VolumeRow } from '../db/index.js';
import type { GroupSnapshotStatus, GroupStatus, SnapshotStatus, VolumeStatus } from './transitions.js';

export interface Volume {
  id: string;
  /** Per-table increasing number, for platforms that want numeric ids. */
  seq: number;
  projectId: string;
  poolId: string;
  name: string;
  description: string;
  sizeBytes: number;
  status: VolumeStatus;
  sourceSnapshotId: string | null;
  groupId: string | null;
  metadata: Record<string, string>;
  /** The user who created it, when recorded. */
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

/** A volume as `show` returns it: with what only the engine knows (null when it lives in another instance). */
export interface VolumeDetail extends Volume {
  allocatedBytes: number | null;
  cloneDepth: number | null;
  snapshotCount: number;
}

export interface Snapshot {
  id: string;
  seq: number;
  projectId: string;
  volumeId: string;
  name: string;
  description: string;
  metadata: Record<string, string>;
  sizeBytes: number;
  status: SnapshotStatus;
  parentId: string | null;
  groupSnapshotId: string | null;
  createdBy: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface SnapshotDetail extends Snapshot {
  childIds: string[];
  exclusiveBytes: number | null;
}

export interface SnapshotTreeNode {
  snapshot: Snapshot;
  /** Bytes deleting this snapshot would free (null when the engine cannot say: another instance's pool, or not available). */
  exclusiveBytes: number | null;
  children: SnapshotTreeNode[];
}

/** A volume's snapshots as a tree, and where the live volume hangs in it. */
export interface SnapshotTree {
  roots: SnapshotTreeNode[];
  /** The snapshot the live volume's content descends from: the last one taken, or the one last reverted to (null: none, or unknown to this instance). */
  headParentId: string | null;
}

export interface Group {
  id: string;
  seq: number;
  projectId: string;
  name: string;
  description: string;
  status: GroupStatus;
  volumeIds: string[];
  createdAt: string;
  updatedAt: string;
}

export interface GroupSnapshot {
  id: string;
  seq: number;
  projectId: string;
  /** null for a group snapshot of an ad-hoc set of volumes. */
  groupId: string | null;
  name: string;
  description: string;
  status: GroupSnapshotStatus;
  fenceHeldMs: number | null;
  snapshots: Snapshot[];
  createdAt: string;
  updatedAt: string;
}

export interface Attachment {
  id: string;
  projectId: string;
  volumeId: string | null;
  snapshotId: string | null;
  mode: 'rw' | 'ro';
  exportName: string;
  uri: string;
  createdAt: string;
}

export interface ByteExtent {
  offsetBytes: number;
  lengthBytes: number;
}

export const toVolume = (row: VolumeRow): Volume => ({
  id: row.id,
  seq: Number(row.seq),
  projectId: row.project_id,
  poolId: row.pool_id,
  name: row.name,
  description: row.description,
  sizeBytes: Number(row.size_bytes),
  status: row.status as VolumeStatus,
  sourceSnapshotId: row.source_snapshot_id,
  groupId: row.group_id,
  metadata: JSON.parse(row.metadata) as Record<string, string>,
  createdBy: row.created_by,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const toSnapshot = (row: SnapshotRow): Snapshot => ({
  id: row.id,
  seq: Number(row.seq),
  projectId: row.project_id,
  volumeId: row.volume_id,
  name: row.name,
  description: row.description,
  metadata: JSON.parse(row.metadata) as Record<string, string>,
  sizeBytes: Number(row.size_bytes),
  status: row.status as SnapshotStatus,
  parentId: row.parent_id,
  groupSnapshotId: row.group_snapshot_id,
  createdBy: row.created_by,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const toGroup = (row: GroupRow, volumeIds: string[]): Group => ({
  id: row.id,
  seq: Number(row.seq),
  projectId: row.project_id,
  name: row.name,
  description: row.description,
  status: row.status as GroupStatus,
  volumeIds,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const toGroupSnapshot = (row: GroupSnapshotRow, snapshots: Snapshot[]): GroupSnapshot => ({
  id: row.id,
  seq: Number(row.seq),
  projectId: row.project_id,
  groupId: row.group_id === '' ? null : row.group_id,
  name: row.name,
  description: row.description,
  status: row.status as GroupSnapshotStatus,
  fenceHeldMs: row.fence_held_ms === null ? null : Number(row.fence_held_ms),
  snapshots,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export const toAttachment = (row: AttachmentRow, nbdBaseUri: string): Attachment => ({
  id: row.id,
  projectId: row.project_id,
  volumeId: row.volume_id,
  snapshotId: row.snapshot_id,
  mode: row.mode,
  exportName: row.export_name,
  uri: `${nbdBaseUri}/${row.export_name}`,
  createdAt: row.created_at,
});
