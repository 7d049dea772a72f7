/**
 * Schema pieces every dialect's routes are declared with (TypeBox, validated by the app's Ajv
 * before a handler runs; a refusal reaches the dialect's own error handler, shared.ts, and is
 * rendered in the platform's fault body). Dialects stay as liberal as their platform about
 * unknown keys and strict about types and sizes; handlers keep the platform's own finer rules
 * and messages.
 *
 * Reserved keys: `__proto__`, `constructor` and `prototype` name Object.prototype's machinery,
 * so wherever user input becomes an object key (metadata, query parameter names) or is looked
 * up as one (sort keys, filter names), schemas refuse them and handlers look keys up with
 * `Object.hasOwn`.
 */
import { type TObject, type TProperties, type TSchema, Type as T } from '@sinclair/typebox';
import { limits } from '../../lib/limits.js';
import { optionalBody } from '../native/schemas.js';
import { notReserved } from '../reserved-keys.js';

const c = limits.control;

export { isReservedKey, notReserved, reservedKeys } from '../reserved-keys.js';

/** A string used as (or looked up as) an object key: never a reserved one. */
export const KeyText = (maxLength = c.metadataKeyLengthMax) => T.String({ maxLength, ...notReserved });

/** One query-string value: a string or the parameter repeated (the dialect picks the one it reads). */
export const QueryText = (maxLength = c.queryValueLengthMax) => T.Union([T.String({ maxLength }), T.Array(T.String({ maxLength }), { maxItems: c.queryRepeatMax })]);

/** A query parameter whose value is looked up as a key (sort keys, filter names). */
export const QueryKey = () => T.Union([KeyText(), T.Array(KeyText(), { maxItems: c.queryRepeatMax })]);

/**
 * A query string: the declared parameters, and any other (platforms ignore or refuse unknown
 * filters themselves) as text; no parameter name is a reserved key.
 */
export function Query(properties: TProperties = {}): TObject {
  return T.Object(properties, { additionalProperties: QueryText(), propertyNames: { maxLength: 256, ...notReserved } });
}

/** A path parameter: text of bounded length (ids are checked by the handler in the platform's words). */
export const PathText = () => T.String({ maxLength: c.pathParamLengthMax });

/** A JSON body object: the declared fields, others allowed (`open`) or refused. Keys are never reserved. */
export function Body(properties: TProperties, options: { open: boolean }): TObject {
  return T.Object(properties, { additionalProperties: options.open, propertyNames: notReserved });
}

/**
 * A route's whole body: absent is let through to the handler, which refuses it (or not) in the
 * platform's words; a present body must match.
 */
export const RequestBody = <S extends TSchema>(schema: S): S => optionalBody(schema);

/** A route schema: what it validates, and out of the native OpenAPI document. */
export function routeSchema(parts: { params?: TSchema; querystring?: TSchema; body?: TSchema }) {
  // Keys left undefined are dropped: Fastify warns about (and logs at every start) a declared but empty schema.
  return {
    hide: true,
    ...(parts.params === undefined ? {} : { params: parts.params }),
    ...(parts.querystring === undefined ? {} : { querystring: parts.querystring }),
    ...(parts.body === undefined ? {} : { body: RequestBody(parts.body) }),
  };
}

/** Text a platform may send as null (OpenStack names and descriptions). */
export const NullableText = (maxLength: number) => T.Union([T.String({ maxLength }), T.Null()]);

/**
 * A metadata map: string keys that are not reserved, string values, bounded; the platform's
 * own key and value rules stay in its handler.
 */
export const Metadata = (valueLengthMax = c.metadataValueLengthMax) =>
  T.Object({}, {
    additionalProperties: T.String({ maxLength: valueLengthMax }),
    propertyNames: { maxLength: c.metadataKeyLengthMax, ...notReserved },
    maxProperties: c.metadataEntriesMax,
  });

/** Anything JSON, for fields a handler reads with its own rules. */
export const AnyJson = (): TSchema => T.Unknown();
