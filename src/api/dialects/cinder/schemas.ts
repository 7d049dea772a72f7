/**
 * Cinder v3 request shapes (cinder/api/schemas, api-ref), also for EVS's Cinder-compatible and
 * cloudsnapshot routes. The schemas hold types, sizes and reserved keys; parse.ts keeps
 * Cinder's finer rules and messages (which element is required, unknown fields, UUIDs,
 * microversion-gated fields), so bodies are open here where a handler names what it refuses.
 */
import { Type as T } from '@sinclair/typebox';
import { limits } from '../../../lib/limits.js';
import { AnyJson, Body, KeyText, Metadata, NullableText, PathText, Query, QueryKey } from '../schemas.js';

const c = limits.control;
const open = { open: true };
/** Texts are bounded coarsely here; each handler applies its field's exact length in Cinder's words. */
const Text = () => T.Optional(NullableText(c.descriptionLengthMax));
/** A volume size in GiB: an integer, or Cinder's string of digits (volume_size_allows_null). */
const Size = () => T.Optional(T.Union([T.Integer(), T.String({ maxLength: 32 }), T.Null()]));
const Id = () => T.Optional(T.Union([T.String({ maxLength: 64 }), T.Null()]));
/** parameter_types.boolean: a JSON boolean or a boolean-like string. */
const BooleanLike = () => T.Optional(T.Union([T.Boolean(), T.String({ maxLength: 16 }), T.Null()]));
const MetadataField = () => T.Optional(T.Union([Metadata(), T.Null()]));

/** Every Cinder path parameter is bounded text; a metadata key in the path is never a reserved one. */
export const Params = T.Object({ key: T.Optional(KeyText()) }, { additionalProperties: PathText() });

/** Lists and other queries: sort keys are looked up as keys; the rest stays text for Cinder's own messages. */
export const ListQuery = Query({ sort: T.Optional(QueryKey()), sort_key: T.Optional(QueryKey()) });
export const OtherQuery = Query();

export const VolumeCreateBody = Body(
  {
    volume: T.Optional(
      Body(
        {
          size: Size(),
          name: Text(),
          display_name: Text(),
          description: Text(),
          display_description: Text(),
          metadata: MetadataField(),
          snapshot_id: Id(),
          group_id: Id(),
          source_volid: Id(),
          volume_type: T.Optional(T.Union([T.String({ maxLength: c.nameLengthMax }), T.Null()])),
          availability_zone: T.Optional(T.Union([T.String({ maxLength: c.nameLengthMax }), T.Null()])),
          multiattach: BooleanLike(),
        },
        open,
      ),
    ),
    'OS-SCH-HNT:scheduler_hints': T.Optional(AnyJson()),
  },
  open,
);

export const VolumeUpdateBody = Body(
  { volume: T.Optional(Body({ name: Text(), display_name: Text(), description: Text(), display_description: Text(), metadata: MetadataField() }, open)) },
  open,
);

export const VolumeActionBody = Body(
  {
    'os-extend': T.Optional(Body({ new_size: Size() }, open)),
    revert: T.Optional(Body({ snapshot_id: Id() }, open)),
  },
  open,
);

export const SnapshotCreateBody = Body(
  {
    snapshot: T.Optional(
      Body({ volume_id: Id(), name: Text(), display_name: Text(), description: Text(), display_description: Text(), force: BooleanLike(), metadata: MetadataField() }, open),
    ),
  },
  open,
);

export const SnapshotUpdateBody = Body({ snapshot: T.Optional(Body({ name: Text(), display_name: Text(), description: Text(), display_description: Text() }, open)) }, open);

const Status = () => T.Optional(T.Union([T.String({ maxLength: 64 }), T.Null()]));

export const SnapshotActionBody = Body(
  {
    'os-reset_status': T.Optional(Body({ status: Status() }, open)),
    'os-force_delete': T.Optional(T.Union([Body({}, open), T.Null()])),
  },
  open,
);

/** `{"metadata": {...}}` (show/merge/replace) and `{"meta": {"key": "value"}}` (one key). */
export const MetadataBody = Body({ metadata: T.Optional(Metadata()) }, open);
export const MetaBody = Body({ meta: T.Optional(Metadata()) }, open);

export const GroupCreateBody = Body(
  {
    group: T.Optional(
      Body(
        {
          name: Text(),
          description: Text(),
          group_type: T.Optional(T.Union([T.String({ maxLength: 64 }), T.Null()])),
          volume_types: T.Optional(T.Union([T.Array(T.Unknown(), { maxItems: 64 }), T.String({ maxLength: 64 }), T.Null()])),
          availability_zone: T.Optional(T.Union([T.String({ maxLength: c.nameLengthMax }), T.Null()])),
        },
        open,
      ),
    ),
  },
  open,
);

/** add_volumes / remove_volumes are comma-separated UUIDs: at most a group's volumes. */
const IdList = () => T.Optional(T.Union([T.String({ maxLength: limits.groupVolumesMax * 37 }), T.Null()]));

export const GroupUpdateBody = Body({ group: T.Optional(Body({ name: Text(), description: Text(), add_volumes: IdList(), remove_volumes: IdList() }, open)) }, open);

export const GroupFromSourceBody = Body(
  { 'create-from-src': T.Optional(Body({ group_snapshot_id: Id(), source_group_id: Id(), name: Text(), description: Text() }, open)) },
  open,
);

export const GroupActionBody = Body({ delete: T.Optional(Body({ 'delete-volumes': BooleanLike() }, open)) }, open);

export const GroupSnapshotCreateBody = Body({ group_snapshot: T.Optional(Body({ group_id: Id(), name: Text(), description: Text() }, open)) }, open);

export const GroupSnapshotActionBody = Body({ reset_status: T.Optional(Body({ status: Status() }, open)) }, open);

// EVS (cloudsnapshots).

export const CloudSnapshotCreateBody = Body(
  { snapshot: T.Optional(Body({ volume_id: Id(), force: BooleanLike(), metadata: MetadataField(), name: Text(), description: Text() }, open)) },
  open,
);

export const CloudSnapshotUpdateBody = Body({ snapshot: T.Optional(Body({ name: Text(), description: Text() }, open)) }, open);

export const RollbackBody = Body({ rollback: T.Optional(Body({ volume_id: Id(), name: Text() }, open)) }, open);
