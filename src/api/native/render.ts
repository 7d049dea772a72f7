/** Core records → the native API's snake_case wire shapes (schemas.ts). */
import type { IssuedToken } from '../../core/identity.js';
import type { Job } from '../../core/jobs.js';
import type { Attachment, Group, GroupSnapshot, Policy, PolicyRun, PolicyRunEntry, Snapshot, SnapshotDetail, SnapshotTree, SnapshotTreeNode, Volume, VolumeDetail } from '../../core/records.js';
import type { Caller } from '../../core/context.js';
import type { Project, User } from '../../core/identity.js';
import type { QuotaSet } from '../../core/quotas.js';

export const projectWire = (p: Project) => ({ id: p.id, name: p.name, description: p.description, created_at: p.createdAt });
export const userWire = (u: User) => ({ id: u.id, name: u.name, project_id: u.projectId, role: u.role, created_at: u.createdAt });

export const tokenWire = (t: IssuedToken) => ({ token: t.token, id: t.id, expires_at: t.expiresAt, user: t.user, project: t.project, roles: t.roles });
export const callerWire = (c: Caller) => ({
  id: c.tokenId,
  expires_at: c.expiresAt,
  user: { id: c.userId, name: c.userName },
  project: { id: c.projectId, name: c.projectName },
  roles: [c.role],
});

export const quotaWire = (q: QuotaSet) => ({ quotas: { project_id: q.projectId, limits: q.limits, usage: q.usage } });

export function volumeWire(v: Volume | VolumeDetail) {
  const base = {
    id: v.id,
    project_id: v.projectId,
    name: v.name,
    description: v.description,
    size_bytes: v.sizeBytes,
    status: v.status,
    source_snapshot_id: v.sourceSnapshotId,
    group_id: v.groupId,
    metadata: v.metadata,
    created_at: v.createdAt,
    updated_at: v.updatedAt,
  };
  if (!('allocatedBytes' in v)) return base;
  return { ...base, allocated_bytes: v.allocatedBytes, clone_depth: v.cloneDepth, snapshot_count: v.snapshotCount };
}

export function snapshotWire(s: Snapshot | SnapshotDetail) {
  const base = {
    id: s.id,
    project_id: s.projectId,
    volume_id: s.volumeId,
    name: s.name,
    description: s.description,
    metadata: s.metadata,
    size_bytes: s.sizeBytes,
    status: s.status,
    parent_id: s.parentId,
    group_snapshot_id: s.groupSnapshotId,
    policy_id: s.policyId,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
  };
  if (!('childIds' in s)) return base;
  return { ...base, children_ids: s.childIds, exclusive_bytes: s.exclusiveBytes };
}

export function treeWire(volumeId: string, tree: SnapshotTree) {
  const snapshots: ReturnType<typeof snapshotWire>[] = [];
  const walk = (node: SnapshotTreeNode) => {
    snapshots.push({ ...snapshotWire(node.snapshot), children_ids: node.children.map((child) => child.snapshot.id), exclusive_bytes: node.exclusiveBytes });
    node.children.forEach(walk);
  };
  tree.roots.forEach(walk);
  return { volume_id: volumeId, root_ids: tree.roots.map((r) => r.snapshot.id), head_parent_id: tree.headParentId, snapshots };
}

export function jobWire(j: Job) {
  const fraction = j.status === 'succeeded' ? 1 : j.progress.total > 0 ? Math.min(1, j.progress.done / j.progress.total) : 0;
  return {
    id: j.id,
    kind: j.kind,
    status: j.status,
    progress: fraction,
    target: { type: j.targetType, id: j.targetId },
    ...(j.error === null ? {} : { error: j.error }),
    created_at: j.createdAt,
    started_at: j.startedAt,
    finished_at: j.finishedAt,
  };
}

export const attachmentWire = (a: Attachment) => ({
  id: a.id,
  uri: a.uri,
  mode: a.mode,
  volume_id: a.volumeId,
  snapshot_id: a.snapshotId,
  created_at: a.createdAt,
});

export const groupWire = (g: Group) => ({
  id: g.id,
  project_id: g.projectId,
  name: g.name,
  description: g.description,
  status: g.status,
  volume_ids: g.volumeIds,
  created_at: g.createdAt,
  updated_at: g.updatedAt,
});

export const groupSnapshotWire = (g: GroupSnapshot) => ({
  id: g.id,
  project_id: g.projectId,
  group_id: g.groupId,
  name: g.name,
  description: g.description,
  status: g.status,
  fence_held_ms: g.fenceHeldMs,
  policy_id: g.policyId,
  snapshots: g.snapshots.map(snapshotWire),
  created_at: g.createdAt,
  updated_at: g.updatedAt,
});

export const policyWire = (p: Policy) => ({
  id: p.id,
  project_id: p.projectId,
  name: p.name,
  cron: p.cron,
  timezone: p.timezone,
  retention: p.retention,
  volume_ids: p.volumeIds,
  group_ids: p.groupIds,
  next_due_at: p.nextDueAt,
  created_at: p.createdAt,
  updated_at: p.updatedAt,
});

const runEntryWire = (e: PolicyRunEntry) => ({
  target_type: e.targetType,
  target_id: e.targetId,
  ...(e.snapshotId === undefined ? {} : { snapshot_id: e.snapshotId }),
  ...(e.jobId === undefined ? {} : { job_id: e.jobId }),
  ...(e.reason === undefined ? {} : { reason: e.reason }),
  ...(e.code === undefined ? {} : { code: e.code }),
  ...(e.message === undefined ? {} : { message: e.message }),
});

export const policyRunWire = (r: PolicyRun) => ({
  id: r.id,
  policy_id: r.policyId,
  pool_id: r.poolId,
  due_at: r.dueAt,
  status: r.status,
  missed_due_times: r.missedDueTimes,
  taken: r.taken.map(runEntryWire),
  pruned: r.pruned.map(runEntryWire),
  kept_back: r.keptBack.map(runEntryWire),
  skipped: r.skipped.map(runEntryWire),
  failures: r.failures.map(runEntryWire),
  started_at: r.startedAt,
  finished_at: r.finishedAt,
});
