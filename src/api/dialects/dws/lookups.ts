/**
 * The core reads the DWS routes share: a snapshot as DWS sees it (a group snapshot of a
 * cluster), a cluster with what its status is derived from, and whole lists gathered page by
 * page (DWS lists are not paged the way core pages are).
 */
import type { Caller } from '../../../core/context.js';
import type { Job } from '../../../core/jobs.js';
import type { Page } from '../../../core/paging.js';
import type { ControlPlane } from '../../../core/plane.js';
import type { Group, GroupSnapshot, Volume } from '../../../core/records.js';
import { StrataError } from '../../../lib/errors.js';
import { pageSizeMax } from './validate.js';

/** Names the request field a NOT_FOUND is about (so errors.ts picks the DWS code), in DWS's words. */
function aboutField(error: unknown, field: string, message: string): unknown {
  if (error instanceof StrataError && error.code === 'NOT_FOUND') return new StrataError('NOT_FOUND', message, { ...error.details, field });
  return error;
}

/**
 * A group snapshot of one of the caller's clusters. Consistent snapshots of loose volumes
 * (XSKY's, with no group) are no cluster's snapshot, so DWS does not see them.
 */
export async function dwsSnapshot(plane: ControlPlane, caller: Caller, id: string): Promise<GroupSnapshot & { groupId: string }> {
  const snapshot = await plane.groups.getSnapshot(caller, id).catch((error: unknown) => {
    throw aboutField(error, 'snapshot_id', `snapshot ${id} does not exist`);
  });
  if (snapshot.groupId === null) throw new StrataError('NOT_FOUND', `snapshot ${id} does not exist`, { field: 'snapshot_id' });
  return snapshot as GroupSnapshot & { groupId: string };
}

/** One of the caller's clusters; `field` is the request field that named it. */
export async function cluster(plane: ControlPlane, caller: Caller, id: string, field: string): Promise<Group> {
  return plane.groups.get(caller, id).catch((error: unknown) => {
    throw aboutField(error, field, `cluster ${id} does not exist`);
  });
}

export interface PageRequest {
  limit: number;
  pageToken?: string;
  offset?: number;
  withCount?: boolean;
}

/**
 * Rows `skip` to `skip + limit` of a core list, at most pageSizeMax of them (also without a
 * limit, DWS's "every row"); `total` counts every row of the list.
 */
export async function gather<T>(list: (page: PageRequest) => Promise<Page<T>>, options: { limit?: number; skip?: number } = {}): Promise<{ items: T[]; total: number }> {
  // DWS lists have no documented maximum; every page is bounded all the same.
  const wanted = Math.min(options.limit ?? pageSizeMax, pageSizeMax);
  const items: T[] = [];
  let page = await list({ limit: Math.min(pageSizeMax, wanted), offset: options.skip ?? 0, withCount: true });
  const total = page.total ?? 0;
  items.push(...page.items);
  while (page.nextPageToken !== null && items.length < wanted) {
    page = await list({ limit: Math.min(pageSizeMax, wanted - items.length), pageToken: page.nextPageToken });
    items.push(...page.items);
  }
  return { items, total };
}

/** A cluster with its member volumes and, while it is being restored or failed to be, the restore job. */
export interface ClusterView {
  group: Group;
  members: Volume[];
  restore: Job | null;
}

export async function clusterView(plane: ControlPlane, caller: Caller, group: Group): Promise<ClusterView> {
  const { items: members } = await gather((page) => plane.volumes.list(caller, { ...page, groupId: group.id }));
  let restore: Job | null = null;
  if (members.some((m) => m.status === 'creating' || m.status === 'error')) {
    const jobs = await plane.jobs.list(caller, { targetId: group.id, kind: 'clone-group-snapshot', order: 'desc', limit: 1 });
    restore = jobs.items[0] ?? null;
  }
  return { group, members, restore };
}
