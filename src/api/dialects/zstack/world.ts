/**
 * What a ZStack inventory needs beyond one core record, loaded through core services: a
 * snapshot's tree (root, depth, the volume's newest snapshot), its volume's pool and place in
 * its "VM" (a Strata consistency group: the member created first is the Root volume, device 0;
 * the others are Data volumes, devices 1, 2, …; a volume in no group is a Data volume of no VM).
 *
 * Queries load the caller's whole project (every page of volumes and snapshots, up to
 * `worldRowsMax` rows each) and evaluate ZStack's conditions here, because core filters only by
 * equality on a few columns; single-resource answers load one volume's part.
 */
import type { Caller } from '../../../core/context.js';
import type { Page } from '../../../core/paging.js';
import type { ControlPlane } from '../../../core/plane.js';
import type { GroupSnapshot, Snapshot, Volume } from '../../../core/records.js';
import { limits } from '../../../lib/limits.js';
import { ZStackApiError } from './errors.js';

/** Rows of one kind a query may read; beyond it the query is refused (narrow it, e.g. by volumeUuid). */
export const worldRowsMax = limits.control.listScanRowsMax;
const pageSize = 1000;

export interface World {
  volumes: Map<string, Volume>;
  /** Each group's member volume ids, oldest first. */
  groupMembers: Map<string, string[]>;
  /** By creation order. */
  snapshots: Map<string, Snapshot>;
  children: Map<string, Snapshot[]>;
  /** Each snapshot's tree root (itself for a root). */
  rootOf: Map<string, string>;
  /** Each snapshot's depth in its tree (a root is 0). */
  depthOf: Map<string, number>;
  /** Each volume's newest snapshot. */
  newestOf: Map<string, string>;
}

/** Every page of a core list, in order. */
export async function allPages<T>(list: (pageToken: string | undefined) => Promise<Page<T>>, noun: string): Promise<T[]> {
  const items: T[] = [];
  let pageToken: string | undefined;
  do {
    const page = await list(pageToken);
    items.push(...page.items);
    if (items.length > worldRowsMax) throw new ZStackApiError('SYS.1006', `the query reads more than ${worldRowsMax} ${noun}; narrow it with a volumeUuid condition`);
    pageToken = page.nextPageToken ?? undefined;
  } while (pageToken !== undefined);
  return items;
}

export async function listVolumes(plane: ControlPlane, caller: Caller, groupId?: string): Promise<Volume[]> {
  return allPages((pageToken) => plane.volumes.list(caller, { limit: pageSize, pageToken, groupId }), 'volumes');
}

export async function listSnapshots(plane: ControlPlane, caller: Caller, volumeId?: string): Promise<Snapshot[]> {
  return allPages((pageToken) => plane.snapshots.list(caller, { limit: pageSize, pageToken, volumeId }), 'snapshots');
}

export async function listGroupSnapshots(plane: ControlPlane, caller: Caller): Promise<GroupSnapshot[]> {
  return allPages((pageToken) => plane.groups.listSnapshots(caller, { limit: pageSize, pageToken }), 'snapshot groups');
}

export function buildWorld(volumes: Volume[], snapshots: Snapshot[]): World {
  const world: World = {
    volumes: new Map(volumes.map((v) => [v.id, v])),
    groupMembers: new Map(),
    snapshots: new Map(snapshots.map((s) => [s.id, s])),
    children: new Map(),
    rootOf: new Map(),
    depthOf: new Map(),
    newestOf: new Map(),
  };
  for (const volume of [...volumes].sort((a, b) => a.seq - b.seq)) {
    if (volume.groupId === null) continue;
    const members = world.groupMembers.get(volume.groupId) ?? [];
    members.push(volume.id);
    world.groupMembers.set(volume.groupId, members);
  }
  const roots: Snapshot[] = [];
  for (const snapshot of world.snapshots.values()) {
    const parent = snapshot.parentId === null ? undefined : world.snapshots.get(snapshot.parentId);
    if (parent === undefined) roots.push(snapshot);
    else world.children.set(parent.id, [...(world.children.get(parent.id) ?? []), snapshot]);
    const newest = world.newestOf.get(snapshot.volumeId);
    if (newest === undefined || world.snapshots.get(newest)!.seq < snapshot.seq) world.newestOf.set(snapshot.volumeId, snapshot.id);
  }
  // Breadth-first from each root: a tree is as deep as the volume's snapshot history, so no recursion.
  for (const root of roots) {
    const queue: Array<[Snapshot, number]> = [[root, 0]];
    for (let i = 0; i < queue.length; i++) {
      const [snapshot, depth] = queue[i];
      world.rootOf.set(snapshot.id, root.id);
      world.depthOf.set(snapshot.id, depth);
      for (const child of world.children.get(snapshot.id) ?? []) queue.push([child, depth + 1]);
    }
  }
  return world;
}

/** The caller's whole project. */
export async function loadWorld(plane: ControlPlane, caller: Caller): Promise<World> {
  const [volumes, snapshots] = await Promise.all([listVolumes(plane, caller), listSnapshots(plane, caller)]);
  return buildWorld(volumes, snapshots);
}

/** One volume, its group's members and its snapshots (for the answer about one of them). */
export async function loadVolumeWorld(plane: ControlPlane, caller: Caller, volumeId: string): Promise<World> {
  const volume = await plane.volumes.get(caller, volumeId);
  const members = volume.groupId === null ? [volume] : await listVolumes(plane, caller, volume.groupId);
  return buildWorld(members, await listSnapshots(plane, caller, volumeId));
}

/** Several volumes (the members of a snapshot group). */
export async function loadVolumesWorld(plane: ControlPlane, caller: Caller, volumeIds: string[]): Promise<World> {
  const volumes = new Map<string, Volume>();
  const snapshots: Snapshot[] = [];
  for (const volumeId of new Set(volumeIds)) {
    const volume = await plane.volumes.get(caller, volumeId);
    const members = volume.groupId === null ? [volume] : await listVolumes(plane, caller, volume.groupId);
    for (const member of members) volumes.set(member.id, member);
    snapshots.push(...(await listSnapshots(plane, caller, volumeId)));
  }
  return buildWorld([...volumes.values()], snapshots.sort((a, b) => a.seq - b.seq));
}
