/**
 * ZStack request shapes (the API message classes the SDK serializes) as TypeBox schemas, by
 * route: types, sizes and reserved keys. The body is read as text whatever its content type
 * (RestServer reads the raw body), parsed to JSON before validation (index.ts), and a refusal
 * is a REST-layer 400. params.ts keeps ZStack's API-layer checks and messages (mandatory
 * fields, types, lengths, valid values), which answer SYS.1007 in the job's result; so the
 * schemas require no field and leave types to it, bound sizes and refuse reserved keys.
 * Unknown fields are ignored, as Gson ignores them.
 */
import { type TSchema, Type as T } from '@sinclair/typebox';
import { limits } from '../../../lib/limits.js';
import { Body, notReserved, PathText, Query, QueryKey } from '../schemas.js';

const c = limits.control;
const open = { open: true };
/**
 * A field: any JSON type (a wrong type is the API layer's SYS.1007, in the job's result, as the
 * reference shows), but a string or list is bounded. JSON Schema's `maxLength` and `maxItems`
 * apply only to strings and arrays, so these constraints leave the type to params.ts.
 */
const Field = (): TSchema => T.Optional(T.Unsafe<unknown>({ maxLength: 2 * c.descriptionLengthMax, maxItems: 1000, items: { maxLength: 256 } }));
/** A message section (`params`, or the action key): when it is an object, its keys are never reserved names. */
const Section = (fields: Record<string, TSchema>): TSchema =>
  T.Optional(T.Unsafe<unknown>({ properties: fields, propertyNames: { maxLength: 256, ...notReserved }, maxProperties: 256 }));
/** Tags of every API message (ignored, but bounded). */
const tags = { systemTags: Field(), userTags: Field() };
const creation = { resourceUuid: Field(), tagUuids: Field() };

export const Params = T.Object({}, { additionalProperties: PathText() });

/** Query APIs: `sort` and `fields` name inventory fields (looked up as keys). */
export const ZStackQuery = Query({ sort: T.Optional(QueryKey()) });

const bodies: Record<string, TSchema> = {
  'PUT /v1/accounts/login': Body({ logInByAccount: Section({ accountName: Field(), password: Field(), accountType: Field(), captchaUuid: Field(), verifyCode: Field(), clientInfo: Field() }), ...tags }, open),
  'POST /v1/volumes/:volumeUuid/volume-snapshots': Body({ params: Section({ name: Field(), description: Field(), ...creation }), ...tags }, open),
  'POST /v1/volume-snapshots/group': Body({ params: Section({ rootVolumeUuid: Field(), name: Field(), description: Field(), withMemory: Field(), ...creation }), ...tags }, open),
  'PUT /v1/volume-snapshots/group/:uuid/actions': Body(
    { revertVmFromSnapshotGroup: Section({}), updateVolumeSnapshotGroup: Section({ name: Field(), description: Field() }), ...tags },
    open,
  ),
  'PUT /v1/volume-snapshots/:uuid/actions': Body({ updateVolumeSnapshot: Section({ name: Field(), description: Field() }), revertVolumeFromSnapshot: Section({}), ...tags }, open),
  'PUT /v1/volume-snapshots/batch-delete': Body({ batchDeleteVolumeSnapshot: Section({ uuids: Field() }), ...tags }, open),
};

/** The body schema of a route (`METHOD url` below the mount prefix), if it reads a body. */
export function bodyOf(method: string, url: string): TSchema | undefined {
  const key = `${method} ${url}`;
  return Object.hasOwn(bodies, key) ? bodies[key] : undefined;
}
