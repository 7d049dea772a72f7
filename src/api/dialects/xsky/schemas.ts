/**
 * XMS request shapes (xsky-openapi-subset.yaml) as TypeBox schemas, used only for validation
 * (every route schema is `hide: true`, out of the native OpenAPI document). Bodies refuse
 * keys the spec does not declare; query strings accept the spec's parameters with their types
 * plus `token`, and ignore undeclared keys (a filter Strata does not know never fails a list).
 */
import { Type as T } from '@sinclair/typebox';
import { limits } from '../../../lib/limits.js';
import { notReserved } from '../../reserved-keys.js';

const c = limits.control;
const strict = { additionalProperties: false } as const;

/** A JSON int64 the server can hold exactly. */
export const Int64 = T.Integer({ minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER });
export const Id64 = T.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });
const Name = T.String({ minLength: 1, maxLength: c.nameLengthMax });
const Description = T.String({ maxLength: c.descriptionLengthMax });
const Uid = T.String({ minLength: 1, maxLength: c.nameLengthMax });

/** Path ids are int64; 0 and numbers beyond any id simply match nothing (404). */
export const IdParams = T.Object({ id: T.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }) });
/** `POST /block-volume-groups/{id}:rollback` arrives as one path segment, `{id}:rollback`. */
export const ActionParams = T.Object({ id: T.String({ maxLength: 64 }) });

const token = { token: T.Optional(T.String()) };
export const TokenQuery = T.Object({ ...token });
const list = {
  ...token,
  limit: T.Optional(T.Integer({ minimum: -1, maximum: Number.MAX_SAFE_INTEGER, description: '-1 is all' })),
  offset: T.Optional(T.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  q: T.Optional(T.String({ maxLength: 1024 })),
  // Looked up as a key: never a reserved name.
  sort: T.Optional(T.String({ maxLength: 128, ...notReserved })),
};
const cluster = { cluster_id: T.Optional(T.String({ maxLength: 256 })) };

export const PlainQuery = T.Object({ ...token });
export const ClusterQuery = T.Object({ ...token, ...cluster });

export const PoolListQuery = T.Object({
  ...list,
  ...cluster,
  all: T.Optional(T.Boolean()),
  protection_domain_id: T.Optional(Int64),
  compound_osd_only: T.Optional(T.Boolean()),
  osd_group_id: T.Optional(Int64),
  pool_type: T.Optional(T.String()),
  pool_role: T.Optional(T.String()),
  pool_mode: T.Optional(T.String()),
  stretched: T.Optional(T.Boolean()),
  with_compound: T.Optional(T.Boolean()),
  is_cache: T.Optional(T.Boolean()),
  os_policy_id: T.Optional(Int64),
  storage_class_id: T.Optional(Int64),
  storage_class_pool_type: T.Optional(T.String()),
  osp_data_backend_id: T.Optional(Int64),
  osp_cluster_id: T.Optional(T.String()),
  pool_ids: T.Optional(Int64),
});

export const VolumeListQuery = T.Object({
  ...list,
  ...cluster,
  pool_id: T.Optional(Int64),
  pool_name: T.Optional(T.String()),
  block_snapshot_id: T.Optional(Int64),
  name: T.Optional(T.String()),
  name_prefix: T.Optional(T.String()),
  volume_name: T.Optional(T.String()),
  uid: T.Optional(T.String()),
  client_group_id: T.Optional(Int64),
  mapping_group_id: T.Optional(Int64),
  exclude_mapping_group_id: T.Optional(Int64),
  access_path_id: T.Optional(Int64),
  passive: T.Optional(T.Boolean()),
  recycled: T.Optional(T.Boolean()),
  status: T.Optional(T.String()),
  with_not_used: T.Optional(T.Boolean()),
  all: T.Optional(T.Boolean()),
  dp_block_backup_policy_id: T.Optional(Int64),
  dp_block_async_replication_policy_id: T.Optional(Int64),
  could_have_io: T.Optional(T.Boolean()),
  rbd_client_id: T.Optional(Int64),
});
export const VolumeDeleteQuery = T.Object({ ...token, bypass_trash: T.Optional(T.Boolean()) });

export const SnapshotListQuery = T.Object({
  ...list,
  ...cluster,
  pool_id: T.Optional(Int64),
  uid: T.Optional(T.String()),
  block_volume_id: T.Optional(Int64),
  consistent_snapshot_id: T.Optional(Int64),
  reserved: T.Optional(T.Boolean()),
  all: T.Optional(T.Boolean()),
});

export const ConsistentSnapshotListQuery = T.Object({ ...list });

export const GroupListQuery = T.Object({
  ...list,
  ...cluster,
  passive: T.Optional(T.Boolean()),
  name: T.Optional(T.String()),
  dp_volume_group_snapshot_replication_policy_id: T.Optional(Int64),
});

export const GroupSnapshotListQuery = T.Object({
  ...list,
  ...cluster,
  block_volume_group_id: T.Optional(Int64),
  name: T.Optional(T.String()),
  passive: T.Optional(T.Boolean()),
});

// Bodies.

export const TokenCreateBody = T.Object(
  {
    auth: T.Object(
      {
        identity: T.Object(
          {
            password: T.Optional(
              T.Object(
                {
                  user: T.Object(
                    {
                      password: T.String({ maxLength: c.passwordLengthMax }),
                      name: T.Optional(T.String({ minLength: 1, maxLength: c.nameLengthMax })),
                      email: T.Optional(T.String({ minLength: 1, maxLength: c.nameLengthMax })),
                      id: T.Optional(Int64),
                    },
                    strict,
                  ),
                },
                strict,
              ),
            ),
            token: T.Optional(T.Object({ uuid: T.String({ minLength: 1, maxLength: 512 }) }, strict)),
          },
          strict,
        ),
      },
      strict,
    ),
  },
  strict,
);

const QosSpec = T.Object(
  {
    burst_total_bw: T.Optional(T.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    burst_total_iops: T.Optional(T.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    max_total_bw: T.Optional(T.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
    max_total_iops: T.Optional(T.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  },
  strict,
);

/** Replication fields of VolumeCreateReq_Volume: declared by the spec, refused by the handler (no remote clusters). */
export const replicationFields = [
  'remote_cluster_fs_id',
  'replication_pool',
  'replication_pool_id',
  'replication_pool_name',
  'replication_version',
  'replication_volume',
  'replication_volume_id',
  'replication_volume_name',
  'snapshot_replication_pool',
  'snapshot_replication_pool_id',
  'snapshot_replication_volume',
  'snapshot_replication_volume_id',
  'sn',
] as const;

export const VolumeCreateBody = T.Object(
  {
    block_volume: T.Object(
      {
        name: Name,
        pool_id: Int64,
        size: T.Optional(Int64),
        description: T.Optional(Description),
        block_snapshot_id: T.Optional(Int64),
        flattened: T.Optional(T.Boolean()),
        format: T.Optional(T.Union([T.Literal(128), T.Literal(129)])),
        performance_priority: T.Optional(T.Union([T.Literal(0), T.Literal(1)])),
        qos: T.Optional(QosSpec),
        qos_enabled: T.Optional(T.Boolean()),
        crc_check: T.Optional(T.Boolean()),
        uid: T.Optional(Uid),
        remote_cluster_fs_id: T.Optional(T.String()),
        replication_pool: T.Optional(T.String()),
        replication_pool_id: T.Optional(Int64),
        replication_pool_name: T.Optional(T.String()),
        replication_version: T.Optional(Int64),
        replication_volume: T.Optional(T.String()),
        replication_volume_id: T.Optional(Int64),
        replication_volume_name: T.Optional(T.String()),
        snapshot_replication_pool: T.Optional(T.String()),
        snapshot_replication_pool_id: T.Optional(Int64),
        snapshot_replication_volume: T.Optional(T.String()),
        snapshot_replication_volume_id: T.Optional(Int64),
        sn: T.Optional(T.String()),
      },
      strict,
    ),
  },
  strict,
);

export const VolumeUpdateBody = T.Object(
  {
    block_volume: T.Object(
      {
        action: T.Optional(T.String({ maxLength: 64 })),
        block_snapshot_id: T.Optional(Int64),
        description: T.Optional(Description),
        name: T.Optional(Name),
        flattened: T.Optional(T.Boolean()),
        performance_priority: T.Optional(T.Union([T.Literal(0), T.Literal(1)])),
        qos: T.Optional(QosSpec),
        qos_enabled: T.Optional(T.Boolean()),
        size: T.Optional(Int64),
      },
      strict,
    ),
  },
  strict,
);

export const SnapshotCreateBody = T.Object(
  {
    block_snapshot: T.Object({ block_volume_id: Int64, name: Name, description: Description, uid: T.Optional(Uid) }, strict),
  },
  strict,
);

export const SnapshotUpdateBody = T.Object(
  { block_snapshot: T.Object({ name: T.Optional(Name), description: T.Optional(Description) }, strict) },
  strict,
);

export const ConsistentSnapshotCreateBody = T.Object(
  {
    block_consistent_snapshot: T.Object(
      {
        block_volume_ids: T.Array(Int64, { minItems: 1, maxItems: limits.groupVolumesMax }),
        name: T.Optional(Name),
        description: T.Optional(Description),
        snap_uids: T.Optional(T.Array(Uid, { maxItems: limits.groupVolumesMax })),
      },
      strict,
    ),
  },
  strict,
);

export const GroupCreateBody = T.Object(
  {
    block_volume_group: T.Object(
      {
        name: Name,
        description: T.Optional(Description),
        block_volume_ids: T.Optional(T.Array(Int64, { maxItems: limits.groupVolumesMax })),
        block_volume_group_snapshot_id: T.Optional(Int64),
        flattened: T.Optional(T.Boolean()),
      },
      strict,
    ),
  },
  strict,
);

export const GroupUpdateBody = T.Object(
  { block_volume_group: T.Object({ name: Name, description: T.Optional(Description) }, strict) },
  strict,
);

export const GroupRollbackBody = T.Object(
  { block_volume_group: T.Object({ block_volume_group_snapshot_id: T.Optional(Int64) }, strict) },
  strict,
);

export const GroupSnapshotCreateBody = T.Object(
  { block_volume_group_snapshot: T.Object({ block_volume_group_id: Int64, name: Name, description: Description }, strict) },
  strict,
);

export const GroupSnapshotUpdateBody = T.Object(
  { block_volume_group_snapshot: T.Object({ name: T.Optional(Name), description: T.Optional(Description) }, strict) },
  strict,
);
