/**
 * Manila request shapes (manila/api/v2, manilaclient's requests), as TypeBox schemas: types,
 * sizes and reserved keys. requests.ts and the route files keep Manila's own checks, order
 * and messages (which key is required, unknown fields, UUIDs, version windows), so bodies are
 * open here; Manila itself ignores keys it does not read.
 */
import { type TSchema, Type as T } from '@sinclair/typebox';
import { limits } from '../../../lib/limits.js';
import type { GroupFlavor } from './flavors.js';
import { Body, Metadata, NullableText, PathText, Query, QueryKey } from '../schemas.js';

const c = limits.control;
const open = { open: true };
const Text = () => T.Optional(NullableText(c.descriptionLengthMax));
const Ref = () => T.Optional(NullableText(c.nameLengthMax));
/** oslo's bool_from_string: a JSON boolean or a boolean-like string. */
const BooleanLike = () => T.Optional(T.Union([T.Boolean(), T.String({ maxLength: 16 }), T.Null()]));
const ShareTypes = () => T.Optional(T.Union([T.Array(T.String({ maxLength: 64 }), { maxItems: 64 }), T.String({ maxLength: 64 }), T.Null()]));

export const Params = T.Object({}, { additionalProperties: PathText() });

/** Every query; `sort_key` is looked up as a key. */
export const ManilaQuery = Query({ sort_key: T.Optional(QueryKey()) });

export const ShareCreateBody = Body(
  {
    share: T.Optional(
      Body(
        {
          name: Text(),
          display_name: Text(),
          description: Text(),
          display_description: Text(),
          size: T.Optional(T.Union([T.Integer(), T.String({ maxLength: 32 }), T.Null()])),
          share_proto: Ref(),
          metadata: T.Optional(T.Union([Metadata(), T.Null()])),
          snapshot_id: Ref(),
          share_network_id: Ref(),
          share_type: Ref(),
          volume_type: Ref(),
          availability_zone: Ref(),
          consistency_group_id: Ref(),
          share_group_id: Ref(),
          is_public: BooleanLike(),
        },
        open,
      ),
    ),
  },
  open,
);

/** `{"<group key>": {...}}` of a group create. */
export function groupCreateBody(flavor: GroupFlavor): TSchema {
  const fields = Body(
    {
      name: Text(),
      description: Text(),
      share_types: ShareTypes(),
      share_group_type_id: Ref(),
      share_network_id: Ref(),
      availability_zone: Ref(),
      [flavor.sourceSnapshotField]: Ref(),
    },
    open,
  );
  return Body({ [flavor.groupKey]: T.Optional(fields) }, open);
}

/** A name and description update of `key` (groups and group snapshots). */
export function updateBody(key: string): TSchema {
  return Body({ [key]: T.Optional(Body({ name: Text(), description: Text() }, open)) }, open);
}

export function snapshotCreateBody(flavor: GroupFlavor): TSchema {
  return Body({ [flavor.snapshotKey]: T.Optional(Body({ [flavor.groupIdField]: Ref(), name: Text(), description: Text() }, open)) }, open);
}

/** Admin actions: `{"reset_status": {"status"}}`, `{"force_delete": null}` and their os- forms. */
export function actionBody(flavor: GroupFlavor): TSchema {
  const argument = T.Optional(T.Union([Body({ status: T.Optional(T.Union([T.String({ maxLength: 64 }), T.Null()])) }, open), T.Null()]));
  return Body(Object.fromEntries(Object.keys(flavor.actions).map((name) => [name, argument])), open);
}
