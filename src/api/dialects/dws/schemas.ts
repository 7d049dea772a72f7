/**
 * DWS request shapes (OTC DWS API reference: CreateSnapshot, RestoreCluster, ListClusterSnapshots)
 * as TypeBox schemas: types, sizes and reserved keys. validate.ts keeps DWS's finer rules (name
 * pattern, forbidden description characters, UUIDs, required fields); DWS ignores unknown body
 * fields, so bodies are open. A refusal names its field, so errors.ts picks the same DWS code
 * as for the handler's own refusal of that field.
 */
import { Type as T } from '@sinclair/typebox';
import { Body, PathText, Query, QueryKey } from '../schemas.js';
import { descriptionLengthMax, nameLengthMax } from './validate.js';

const open = { open: true };
const Text = (maxLength: number) => T.Optional(T.Union([T.String({ maxLength }), T.Null()]));
const Id = () => Text(64);

export const Params = T.Object({}, { additionalProperties: PathText() });

export const DwsQuery = Query({ sort_key: T.Optional(QueryKey()) });

export const SnapshotCreateBody = Body(
  { snapshot: T.Optional(T.Union([Body({ name: Text(nameLengthMax), cluster_id: Id(), description: Text(descriptionLengthMax) }, open), T.Null()])) },
  open,
);

export const RestoreBody = Body(
  {
    restore: T.Optional(
      T.Union([
        Body(
          {
            name: Text(nameLengthMax),
            subnet_id: Id(),
            security_group_id: Id(),
            vpc_id: Id(),
            availability_zone: Text(255),
            enterprise_project_id: Id(),
            port: T.Optional(T.Union([T.Integer(), T.Null()])),
            ipv6_enable: T.Optional(T.Union([T.Boolean(), T.Null()])),
            public_ip: T.Optional(T.Union([Body({ public_bind_type: Text(64), eip_id: Id() }, open), T.Null()])),
          },
          open,
        ),
        T.Null(),
      ]),
    ),
  },
  open,
);
