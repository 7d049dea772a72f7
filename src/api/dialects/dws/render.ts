/**
 * Core records → DWS wire shapes (the OTC/Huawei DWS API reference: Snapshots, SnapshotDetail,
 * ClusterSnapshots, ClusterInfo). Only fields that mean something in Strata are sent; the
 * backup-device, networking and database fields of a real data warehouse are left out.
 */
import type { GroupSnapshot } from '../../../core/records.js';
import type { GroupSnapshotStatus } from '../../../core/transitions.js';
import { GiB } from '../shared.js';
import type { ClusterView } from './lookups.js';

/** DWS times: ISO 8601 to the second, `YYYY-MM-DDThh:mm:ssZ`. */
export function dwsTime(iso: string): string {
  return new Date(iso).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Group snapshot status → DWS snapshot status. `restoring` (an in-place revert started through
 * another API) is DWS's RESTORING; deleting and failed snapshots cannot be used: UNAVAILABLE.
 */
const snapshotStatuses: Record<GroupSnapshotStatus, string> = {
  creating: 'CREATING',
  available: 'AVAILABLE',
  restoring: 'RESTORING',
  deleting: 'UNAVAILABLE',
  error: 'UNAVAILABLE',
  error_deleting: 'UNAVAILABLE',
};

/** Whether the snapshot was ever complete (Strata snapshots complete within the create request). */
const completed = (s: GroupSnapshot) => s.status !== 'creating' && s.status !== 'error';

/** DWS sizes are GB as a double: the members' sizes together. */
const sizeGb = (s: GroupSnapshot) => s.snapshots.reduce((sum, member) => sum + member.sizeBytes, 0) / GiB;

/** An item of `GET /v1.0/{project_id}/snapshots` (the Snapshots model). */
export function snapshotItem(s: GroupSnapshot & { groupId: string }) {
  const started = dwsTime(s.createdAt);
  return {
    id: s.id,
    name: s.name,
    description: s.description,
    started,
    finished: completed(s) ? started : null,
    size: sizeGb(s),
    status: snapshotStatuses[s.status],
    type: 'MANUAL',
    cluster_id: s.groupId,
  };
}

/** Fields of show and of the per-cluster list beyond the Snapshots model. */
const clusterFields = (s: GroupSnapshot, clusterName: string) => ({
  cluster_name: clusterName,
  updated: dwsTime(s.updatedAt),
  progress: completed(s) ? '100%' : '0%',
  // A Strata group snapshot holds every member volume whole: a cluster-level, full backup.
  backup_level: 'cluster',
  fine_grained_backup: false,
});

/** `GET /v1.0/{project_id}/snapshots/{snapshot_id}` (the SnapshotDetail model). */
export function snapshotDetail(s: GroupSnapshot & { groupId: string }, clusterName: string) {
  return { ...snapshotItem(s), ...clusterFields(s, clusterName) };
}

/** An item of `GET /v1.0/{project_id}/clusters/{cluster_id}/snapshots` (ClusterSnapshots: no `finished`). */
export function clusterSnapshotItem(s: GroupSnapshot & { groupId: string }, clusterName: string) {
  const { finished: _finished, ...item } = snapshotItem(s);
  return { ...item, ...clusterFields(s, clusterName) };
}

/**
 * Cluster status from the group and its member volumes: CREATING while a restore fills the
 * members (task RESTORING, with its progress), CREATION FAILED when that restore failed,
 * UNAVAILABLE while the group is deleted or a member failed, AVAILABLE otherwise.
 */
function clusterState(view: ClusterView): { status: string; sub_status?: string; task_status?: string; action_progress: Record<string, string> } {
  const { group, members, restore } = view;
  if (group.status !== 'available') return { status: 'UNAVAILABLE', action_progress: {} };
  if (members.some((m) => m.status === 'creating')) {
    const progress = restore === null || restore.progress.total === 0 ? 0 : Math.floor((100 * restore.progress.done) / restore.progress.total);
    return { status: 'CREATING', task_status: 'RESTORING', action_progress: { RESTORING: `${progress}%` } };
  }
  if (members.some((m) => m.status === 'error')) return { status: restore?.status === 'failed' ? 'CREATION FAILED' : 'UNAVAILABLE', action_progress: {} };
  if (members.some((m) => m.status === 'restoring')) return { status: 'AVAILABLE', sub_status: 'NORMAL', task_status: 'RESTORING', action_progress: {} };
  return { status: 'AVAILABLE', sub_status: 'NORMAL', action_progress: {} };
}

/**
 * A cluster (ClusterInfo / ClusterDetail). Its nodes are the group's member volumes, each with
 * the Strata volume status.
 */
export function clusterWire(view: ClusterView) {
  const { group, members } = view;
  return {
    id: group.id,
    name: group.name,
    ...clusterState(view),
    created: dwsTime(group.createdAt),
    updated: dwsTime(group.updatedAt),
    nodes: members.map((m) => ({ id: m.id, status: m.status })),
    number_of_node: members.length,
    tags: [] as Array<{ key: string; value: string }>,
    // The default enterprise project: Strata has none other.
    enterprise_project_id: '0',
  };
}
