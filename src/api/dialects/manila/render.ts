/**
 * Manila's views (manila/api/views/*.py) over Strata's records: pure functions, no I/O. What a
 * view needs beyond the record (a group's derived status, a share's protocol) is gathered by
 * the route and passed in. Sizes are whole GiB; times are Manila's naive-UTC
 * `YYYY-MM-DDTHH:MM:SS.ffffff`; links are `self` (with /v2) and `bookmark` (without).
 */
import type { Group, GroupSnapshot, Snapshot, Volume } from '../../../core/records.js';
import { gibOfBytes } from '../shared.js';
import type { GroupFlavor } from './flavors.js';
import { atLeast, between, maxVersionText, minVersionText, type RequestedVersion } from './microversion.js';

/** Strata has one kind of storage: one built-in share type (and share group type), always the default. */
export const defaultShareType = { id: '5f9b4a8c-6c1e-4b8e-9d3a-2f7c1e0a9b01', name: 'default' } as const;
export const defaultShareGroupType = { id: '8d2e6f10-3b7a-4c59-a1e4-6b0f9c2d7e35', name: 'default' } as const;
/** The one availability zone, named as Manila's default. */
export const availabilityZone = 'nova';
export const shareProtocols = ['NFS', 'CIFS', 'GLUSTERFS', 'HDFS', 'CEPHFS', 'MAPRFS'] as const;
/** Where a share's protocol is kept in its volume's metadata (hidden from the share's metadata). */
export const protocolMetadataKey = 'manila_share_proto';

export interface LinkBase {
  /** `http://HOST/manila` */
  root: string;
  projectId: string;
}

export type Json = Record<string, unknown>;

export function manilaTime(iso: string): string {
  const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z?$/.exec(iso);
  if (match === null) return iso;
  return `${match[1]}.${(match[2] ?? '').padEnd(6, '0').slice(0, 6)}`;
}

export function links(base: LinkBase, collection: string, id: string): Json[] {
  return [
    { rel: 'self', href: `${base.root}/v2/${base.projectId}/${collection}/${id}` },
    { rel: 'bookmark', href: `${base.root}/${base.projectId}/${collection}/${id}` },
  ];
}

/** Manila's `next` link: only when `limit` was given and filled this page; the marker is the last id. */
export function collectionLinks(base: LinkBase, collection: string, query: Record<string, string>, limitGiven: number | null, ids: string[]): Json[] {
  if (limitGiven === null || limitGiven === 0 || ids.length !== limitGiven) return [];
  const params = new URLSearchParams({ ...query, marker: ids[ids.length - 1] });
  return [{ rel: 'next', href: `${base.root}/v2/${base.projectId}/${collection}?${params.toString()}` }];
}

const nullIfEmpty = (text: string): string | null => (text === '' ? null : text);

// Groups.

/** What a group's view needs beyond the group: Manila's status and the snapshot it was cloned from. */
export interface GroupFacts {
  status: string;
  sourceSnapshotId: string | null;
}

export function groupSummary(flavor: GroupFlavor, base: LinkBase, group: Group): Json {
  return { id: group.id, name: nullIfEmpty(group.name), links: links(base, flavor.groupLinkCollection, group.id) };
}

export function groupDetail(flavor: GroupFlavor, base: LinkBase, group: Group, facts: GroupFacts, requested: RequestedVersion, isAdmin: boolean): Json {
  const view: Json = {
    id: group.id,
    name: nullIfEmpty(group.name),
    created_at: manilaTime(group.createdAt),
    status: facts.status,
    description: nullIfEmpty(group.description),
    project_id: group.projectId,
    host: null,
  };
  if (flavor.kind === 'sg') view.share_group_type_id = defaultShareGroupType.id;
  view[flavor.sourceSnapshotField] = facts.sourceSnapshotId;
  view.share_network_id = null;
  view.share_types = [defaultShareType.id];
  view.links = links(base, flavor.groupLinkCollection, group.id);
  if (flavor.kind === 'sg' && atLeast(requested, '2.34')) {
    view.availability_zone = availabilityZone;
    view.consistent_snapshot_support = 'pool';
  }
  if (isAdmin) view.share_server_id = null;
  return view;
}

// Group snapshots.

export function snapshotSummary(flavor: GroupFlavor, base: LinkBase, snapshot: GroupSnapshot): Json {
  return { id: snapshot.id, name: nullIfEmpty(snapshot.name), links: links(base, flavor.snapshotLinkCollection, snapshot.id) };
}

export function snapshotDetail(flavor: GroupFlavor, base: LinkBase, snapshot: GroupSnapshot): Json {
  const view: Json = {
    id: snapshot.id,
    name: nullIfEmpty(snapshot.name),
    created_at: manilaTime(snapshot.createdAt),
    status: snapshot.status,
    description: nullIfEmpty(snapshot.description),
    project_id: snapshot.projectId,
    [flavor.groupIdField]: snapshot.groupId,
  };
  if (flavor.kind === 'sg') view.members = snapshot.snapshots.map((m) => ({ id: m.id, size: gibOfBytes(m.sizeBytes), share_id: m.volumeId }));
  view.links = links(base, flavor.snapshotLinkCollection, snapshot.id);
  return view;
}

/** A member is one of the group snapshot's snapshots; its share is the snapshot's volume. */
export function member(flavor: GroupFlavor, snapshot: GroupSnapshot, m: Snapshot, shareProtocol: string): Json {
  const view: Json = {
    id: m.id,
    created_at: manilaTime(m.createdAt),
    size: gibOfBytes(m.sizeBytes),
    share_protocol: shareProtocol,
    project_id: m.projectId,
  };
  if (flavor.kind === 'cg') view.share_type_id = defaultShareType.id;
  view[flavor.snapshotIdField] = snapshot.id;
  view.share_id = m.volumeId;
  return view;
}

// Shares.

/** What a share's view needs beyond its volume: where it was cloned from, if anywhere. */
export interface ShareFacts {
  /** A plain snapshot it was created from. */
  snapshotId: string | null;
  /** A group snapshot member it was created from (a CG cloned from a cgsnapshot). */
  sourceMemberId: string | null;
}

const shareStatuses: Record<string, string> = { 'in-use': 'available', restoring: 'reverting' };

export function shareStatus(volume: Volume): string {
  return shareStatuses[volume.status] ?? volume.status;
}

export function shareProtocol(volume: Volume): string {
  return volume.metadata[protocolMetadataKey] ?? 'NFS';
}

export function shareSummary(base: LinkBase, volume: Volume): Json {
  return { id: volume.id, name: nullIfEmpty(volume.name), links: links(base, 'shares', volume.id) };
}

/** The share view, field by field as each microversion changed it (views/shares.py). */
export function shareDetail(base: LinkBase, volume: Volume, facts: ShareFacts, requested: RequestedVersion, isAdmin: boolean): Json {
  const metadata = Object.fromEntries(Object.entries(volume.metadata).filter(([key]) => key !== protocolMetadataKey));
  const view: Json = {
    id: volume.id,
    size: gibOfBytes(volume.sizeBytes),
    availability_zone: availabilityZone,
    created_at: manilaTime(volume.createdAt),
    status: shareStatus(volume),
    name: nullIfEmpty(volume.name),
    description: nullIfEmpty(volume.description),
    project_id: volume.projectId,
    host: null,
    snapshot_id: facts.snapshotId,
    share_network_id: null,
    share_proto: shareProtocol(volume),
    metadata,
    share_type: defaultShareType.name,
    volume_type: defaultShareType.name,
    links: links(base, 'shares', volume.id),
    is_public: false,
  };
  if (!atLeast(requested, '2.9')) {
    view.export_location = null;
    view.export_locations = [];
  }
  if (atLeast(requested, '2.2')) view.snapshot_support = true;
  if (between(requested, '2.4', '2.30')) {
    view.consistency_group_id = volume.groupId;
    view.source_cgsnapshot_member_id = facts.sourceMemberId;
  }
  if (atLeast(requested, '2.5')) view.task_state = null;
  if (atLeast(requested, '2.6')) {
    view.share_type = defaultShareType.id;
    view.share_type_name = defaultShareType.name;
  }
  if (atLeast(requested, '2.10')) view.access_rules_status = 'active';
  if (atLeast(requested, '2.11')) {
    view.replication_type = null;
    view.has_replicas = false;
  }
  if (atLeast(requested, '2.16')) view.user_id = volume.createdBy;
  if (atLeast(requested, '2.24')) view.create_share_from_snapshot_support = true;
  if (atLeast(requested, '2.27')) view.revert_to_snapshot_support = true;
  if (atLeast(requested, '2.31')) {
    view.share_group_id = volume.groupId;
    view.source_share_group_snapshot_member_id = facts.sourceMemberId;
  }
  if (atLeast(requested, '2.32')) view.mount_snapshot_support = false;
  if (atLeast(requested, '2.54')) view.progress = volume.status === 'creating' ? '0%' : '100%';
  if (isAdmin) view.share_server_id = null;
  return view;
}

// Version discovery (views/versions.py).

export function versionEntries(root: string): { v1: Json; v2: Json } {
  const describedBy = { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' };
  const mediaTypes = [{ base: 'application/json', type: 'application/vnd.openstack.share+json;version=1' }];
  const entry = (id: string, status: string, version: string, min: string, path: string): Json => ({
    id,
    status,
    version,
    min_version: min,
    updated: '2015-08-27T11:33:21Z',
    links: [describedBy, { rel: 'self', href: `${root}/${path}/` }],
    'media-types': mediaTypes,
  });
  return { v1: entry('v1.0', 'SUPPORTED', '', '', 'v1'), v2: entry('v2.0', 'CURRENT', maxVersionText, minVersionText, 'v2') };
}
