/** The control plane's resources as services return them (camelCase; each edge renders its own wire names). */
import type { AttachmentRow, GroupRow, GroupSnapshotRow, PolicyRunRow, SnapshotRow, VolumeRow } from '../db/index.js';
import type { RetentionRules } from './retention.js';
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
  /** The snapshot policy that took it (null: taken by hand). */
  policyId: string | null;
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
  policyId: string | null;
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
  /** The export name (a capability) and its URI; null when the caller may not have them (a reader, for a read-write attachment). */
  exportName: string | null;
  uri: string | null;
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
  policyId: row.policy_id,
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
  policyId: row.policy_id,
  snapshots,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** `withCapability` false leaves out the export name and URI (core/attachments.ts decides by role). */
export const toAttachment = (row: AttachmentRow, nbdBaseUri: string, withCapability: boolean): Attachment => ({
  id: row.id,
  projectId: row.project_id,
  volumeId: row.volume_id,
  snapshotId: row.snapshot_id,
  mode: row.mode,
  exportName: withCapability ? row.export_name : null,
  uri: withCapability ? `${nbdBaseUri}/${row.export_name}` : null,
  createdAt: row.created_at,
});

export interface Policy {
  id: string;
  seq: number;
  projectId: string;
  name: string;
  cron: string;
  timezone: string;
  retention: RetentionRules;
  volumeIds: string[];
  groupIds: string[];
  createdBy: string;
  /** The next due time after now (null when the expression never fires again). */
  nextDueAt: string | null;
  createdAt: string;
  updatedAt: string;
}

/** One entry of a run: a target (volume or group) and what happened to it or to one of its snapshots. */
export interface PolicyRunEntry {
  targetType: 'volume' | 'group';
  targetId: string;
  /** The snapshot (group snapshot for a group) taken, pruned or kept back. */
  snapshotId?: string;
  /** The delete job of a pruned snapshot. */
  jobId?: string;
  /** Why a target was skipped or a snapshot kept back. */
  reason?: string;
  /** A failure's registered error code and message. */
  code?: string;
  message?: string;
}

export interface PolicyRunResult {
  /** Due times the service missed (it was stopped) before this one; this run is their one catch-up. */
  missedDueTimes: number;
  taken: PolicyRunEntry[];
  pruned: PolicyRunEntry[];
  keptBack: PolicyRunEntry[];
  skipped: PolicyRunEntry[];
  failures: PolicyRunEntry[];
}

export interface PolicyRun extends PolicyRunResult {
  id: string;
  seq: number;
  policyId: string;
  poolId: string;
  dueAt: string;
  status: 'running' | 'succeeded' | 'failed';
  startedAt: string;
  finishedAt: string | null;
}

export const emptyRunResult = (): PolicyRunResult => ({ missedDueTimes: 0, taken: [], pruned: [], keptBack: [], skipped: [], failures: [] });

export const toPolicyRun = (row: PolicyRunRow): PolicyRun => ({
  ...emptyRunResult(),
  ...(JSON.parse(row.result) as Partial<PolicyRunResult>),
  id: row.id,
  seq: Number(row.seq),
  policyId: row.policy_id,
  poolId: row.pool_id,
  dueAt: row.due_at,
  status: row.status,
  startedAt: row.started_at,
  finishedAt: row.finished_at,
});
