/**
 * Consistency groups (2.4–2.30) and share groups (2.31+) are one API under two sets of names:
 * the same controllers, views and rules with `consistency_group`/`cgsnapshot` spelled
 * `share_group`/`share_group_snapshot`. Both are Strata groups and group snapshots, so one
 * implementation serves both, parameterized by a flavor.
 */
import { type VersionWindow, windows } from './microversion.js';

export interface GroupFlavor {
  kind: 'cg' | 'sg';
  /** Path segment of groups and of their snapshots below /v2/{tenant_id}/. */
  groupPath: string;
  snapshotPath: string;
  /** Collection segment of `links` hrefs (Manila's view builders' `_collection_name`). */
  groupLinkCollection: string;
  snapshotLinkCollection: string;
  groupKey: string;
  groupsKey: string;
  groupLinksKey: string;
  snapshotKey: string;
  snapshotsKey: string;
  snapshotLinksKey: string;
  membersKey: string;
  membersLinksKey: string;
  /** A snapshot's (and a share's) reference to its group, and a member's to its snapshot. */
  groupIdField: string;
  snapshotIdField: string;
  sourceSnapshotField: string;
  /** Policy rule prefixes and the rule of show/members. */
  groupPolicy: string;
  snapshotPolicy: string;
  snapshotGetRule: string;
  /** Nouns in Manila's messages. */
  groupNoun: string;
  snapshotNoun: string;
  groupNotFound: (id: string) => string;
  snapshotNotFound: (id: string) => string;
  invalidGroup: (reason: string) => string;
  invalidSnapshot: (reason: string) => string;
  windows: readonly VersionWindow[];
  /** The admin actions by body key, with the windows each name is valid in. */
  actions: Record<string, { action: 'reset_status' | 'force_delete'; windows: readonly VersionWindow[] }>;
}

export const consistencyGroups: GroupFlavor = {
  kind: 'cg',
  groupPath: 'consistency-groups',
  snapshotPath: 'cgsnapshots',
  groupLinkCollection: 'consistency_groups',
  snapshotLinkCollection: 'cgsnapshot',
  groupKey: 'consistency_group',
  groupsKey: 'consistency_groups',
  groupLinksKey: 'consistency_groups_links',
  snapshotKey: 'cgsnapshot',
  snapshotsKey: 'cgsnapshots',
  snapshotLinksKey: 'cgsnapshot_links',
  membersKey: 'cgsnapshot_members',
  membersLinksKey: 'cgsnapshot_members_links',
  groupIdField: 'consistency_group_id',
  snapshotIdField: 'cgsnapshot_id',
  sourceSnapshotField: 'source_cgsnapshot_id',
  groupPolicy: 'consistency_group',
  snapshotPolicy: 'cgsnapshot',
  snapshotGetRule: 'get_cgsnapshot',
  groupNoun: 'Consistency group',
  snapshotNoun: 'Consistency group snapshot',
  groupNotFound: (id) => `ConsistencyGroup ${id} could not be found.`,
  snapshotNotFound: (id) => `Consistency group snapshot ${id} could not be found.`,
  invalidGroup: (reason) => `Invalid ConsistencyGroup: ${reason}`,
  invalidSnapshot: (reason) => `Invalid CGSnapshot: ${reason}`,
  windows: windows.consistencyGroups,
  actions: {
    'os-reset_status': { action: 'reset_status', windows: windows.consistencyGroupLegacyActions },
    'os-force_delete': { action: 'force_delete', windows: windows.consistencyGroupLegacyActions },
    reset_status: { action: 'reset_status', windows: windows.consistencyGroupActions },
    force_delete: { action: 'force_delete', windows: windows.consistencyGroupActions },
  },
};

export const shareGroups: GroupFlavor = {
  kind: 'sg',
  groupPath: 'share-groups',
  snapshotPath: 'share-group-snapshots',
  groupLinkCollection: 'share-groups',
  snapshotLinkCollection: 'share-group-snapshots',
  groupKey: 'share_group',
  groupsKey: 'share_groups',
  groupLinksKey: 'share_groups_links',
  snapshotKey: 'share_group_snapshot',
  snapshotsKey: 'share_group_snapshots',
  snapshotLinksKey: 'share_group_snapshot_links',
  membersKey: 'share_group_snapshot_members',
  membersLinksKey: 'share_group_snapshot_members_links',
  groupIdField: 'share_group_id',
  snapshotIdField: 'share_group_snapshot_id',
  sourceSnapshotField: 'source_share_group_snapshot_id',
  groupPolicy: 'share_group',
  snapshotPolicy: 'share_group_snapshot',
  snapshotGetRule: 'get',
  groupNoun: 'Share group',
  snapshotNoun: 'Share group snapshot',
  groupNotFound: (id) => `Share group ${id} could not be found.`,
  snapshotNotFound: (id) => `Share group snapshot ${id} could not be found.`,
  invalidGroup: (reason) => `Invalid share group: ${reason}`,
  invalidSnapshot: (reason) => `Invalid share group snapshot: ${reason}`,
  windows: windows.shareGroups,
  actions: {
    reset_status: { action: 'reset_status', windows: windows.shareGroups },
    force_delete: { action: 'force_delete', windows: windows.shareGroups },
  },
};
