/**
 * Core records → Cinder v3 wire shapes (also used by the EVS dialect, whose shapes are Cinder's).
 * Version-gated fields are added here from the request's negotiated microversion. Sizes are
 * whole GiB; times are Cinder's `YYYY-MM-DDTHH:MM:SS.ffffff` (UTC, no zone suffix).
 */
import type { FastifyRequest } from 'fastify';
import type { Attachment, Group, GroupSnapshot, Snapshot, Volume } from '../../../core/records.js';
import type { GroupSnapshotStatus, VolumeStatus } from '../../../core/transitions.js';
import { gibOfBytes } from '../shared.js';
import { atLeast, features } from './microversion.js';

/** Strata has one placement, shown under Cinder's default zone name. */
export const availabilityZone = 'nova';
/** Strata has no volume or group types: every volume and group has the one implicit type. */
export const defaultVolumeType = { id: '5b2a9c6e-7f0e-4c1a-9a57-3e6f0d2a1b01', name: '__DEFAULT__' } as const;
export const defaultGroupType = { id: '5b2a9c6e-7f0e-4c1a-9a57-3e6f0d2a1b02', name: 'default_group_type' } as const;

/** ISO 8601 with milliseconds and Z → Cinder's microsecond form without a zone. */
export function cinderTime(iso: string): string {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z$/.exec(iso);
  if (match === null) return iso;
  return `${match[1]}.${(match[2] ?? '').padEnd(6, '0')}`;
}

/** Strata keeps absent names and descriptions as ''; Cinder shows them as null. */
const nullIfEmpty = (text: string): string | null => (text === '' ? null : text);

// Snapshots.

export function snapshotSummary(s: Snapshot) {
  return {
    id: s.id,
    created_at: cinderTime(s.createdAt),
    updated_at: cinderTime(s.updatedAt),
    name: nullIfEmpty(s.name),
    description: nullIfEmpty(s.description),
    volume_id: s.volumeId,
    status: s.status,
    size: gibOfBytes(s.sizeBytes),
    metadata: s.metadata,
  };
}

export const snapshotProgress = (s: Snapshot) => (s.status === 'creating' ? '0%' : '100%');

/**
 * The snapshot as create, update, show and the detailed list return it; `extended` adds the
 * os-extended-snapshot-attributes fields (show and the detailed list only).
 */
export function snapshotView(request: FastifyRequest, s: Snapshot, extended: boolean) {
  const view: Record<string, unknown> = snapshotSummary(s);
  if (atLeast(request, features.groupSnapshots)) view.group_snapshot_id = s.groupSnapshotId;
  if (atLeast(request, features.snapshotUserId)) view.user_id = s.createdBy;
  if (atLeast(request, features.consumesQuota)) view.consumes_quota = true;
  if (extended) {
    view['os-extended-snapshot-attributes:progress'] = snapshotProgress(s);
    view['os-extended-snapshot-attributes:project_id'] = s.projectId;
  }
  return view;
}

// Volumes.

/** Strata's revert status is Cinder's `reverting` (revert to snapshot, 3.40). */
export function volumeStatus(status: VolumeStatus): string {
  return status === 'restoring' ? 'reverting' : status;
}

export function volumeLinks(root: string, id: string) {
  return [
    { href: `${root}/volumes/${id}`, rel: 'self' },
    { href: `${root}/volumes/${id}`, rel: 'bookmark' },
  ];
}

export function attachmentView(a: Attachment) {
  // The NBD URI is a capability, so it is not shown; Strata attachments have no server or device.
  return { id: a.id, attachment_id: a.id, volume_id: a.volumeId, server_id: null, host_name: null, device: null, attached_at: cinderTime(a.createdAt) };
}

export function volumeSummary(root: string, v: Volume) {
  return { id: v.id, name: nullIfEmpty(v.name), links: volumeLinks(root, v.id) };
}

export function volumeView(request: FastifyRequest, root: string, v: Volume, attachments: Attachment[]) {
  const view: Record<string, unknown> = {
    id: v.id,
    name: nullIfEmpty(v.name),
    description: nullIfEmpty(v.description),
    status: volumeStatus(v.status),
    size: gibOfBytes(v.sizeBytes),
    availability_zone: availabilityZone,
    created_at: cinderTime(v.createdAt),
    updated_at: cinderTime(v.updatedAt),
    attachments: attachments.map(attachmentView),
    bootable: 'false',
    encrypted: false,
    multiattach: false,
    metadata: v.metadata,
    snapshot_id: v.sourceSnapshotId,
    source_volid: null,
    consistencygroup_id: null,
    volume_type: defaultVolumeType.name,
    replication_status: null,
    migration_status: null,
    user_id: v.createdBy,
    links: volumeLinks(root, v.id),
    'os-vol-tenant-attr:tenant_id': v.projectId,
  };
  if (atLeast(request, features.groups)) view.group_id = v.groupId;
  if (atLeast(request, features.volumeTypeId)) view.volume_type_id = defaultVolumeType.id;
  if (atLeast(request, features.consumesQuota)) view.consumes_quota = true;
  return view;
}

// Groups and group snapshots.

export const groupSummary = (g: Group) => ({ id: g.id, name: nullIfEmpty(g.name) });

export function groupView(request: FastifyRequest, g: Group, listVolumes: boolean) {
  const view: Record<string, unknown> = {
    id: g.id,
    status: g.status,
    availability_zone: availabilityZone,
    created_at: cinderTime(g.createdAt),
    name: nullIfEmpty(g.name),
    description: nullIfEmpty(g.description),
    group_type: defaultGroupType.id,
    volume_types: [defaultVolumeType.id],
    group_snapshot_id: null,
    source_group_id: null,
  };
  if (atLeast(request, features.groupReplication)) view.replication_status = 'disabled';
  if (atLeast(request, features.groupProjectId)) view.project_id = g.projectId;
  if (listVolumes && atLeast(request, features.groupListVolumes)) view.volumes = g.volumeIds;
  return view;
}

/** Strata's group revert has no Cinder status; `updating` is the nearest. */
export function groupSnapshotStatus(status: GroupSnapshotStatus): string {
  return status === 'restoring' ? 'updating' : status;
}

export const groupSnapshotSummary = (g: GroupSnapshot) => ({ id: g.id, name: nullIfEmpty(g.name) });

export function groupSnapshotView(request: FastifyRequest, g: GroupSnapshot) {
  const view: Record<string, unknown> = {
    id: g.id,
    group_id: g.groupId,
    status: groupSnapshotStatus(g.status),
    created_at: cinderTime(g.createdAt),
    name: nullIfEmpty(g.name),
    description: nullIfEmpty(g.description),
    group_type_id: defaultGroupType.id,
  };
  if (atLeast(request, features.groupProjectId)) view.project_id = g.projectId;
  return view;
}

/** A collection's `<name>_links`: a `next` link when the page was cut short. */
export function collectionLinks(url: string | null): Array<{ href: string; rel: string }> {
  return url === null ? [] : [{ href: url, rel: 'next' }];
}
