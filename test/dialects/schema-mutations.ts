/**
 * Invalid inputs derived from a route's own schema (the JSON Schema its TypeBox declaration
 * produces), for the dialect fuzz test.
 *
 * `sitesOf` walks one part of a route schema (params, querystring or body) and lists the places
 * an input can go wrong: a value at a path (wrong type, too long, too many items, a reserved
 * name where a key is expected) or a key added to an object (a reserved name where keys are
 * refused, an unknown one where the object is closed). `badValues` gives each value site its
 * canonical bad values. `Validators` compiles schemas with the app's own Ajv settings, so the
 * test sends only requests the schema really refuses (after the query-string coercion the app
 * applies), and a valid one never slips in as "invalid".
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

export type Schema = Record<string, any>;
export type Part = 'params' | 'querystring' | 'body';

export interface ValueSite {
  kind: 'value';
  part: Part;
  path: string[];
  schema: Schema;
}

export interface KeySite {
  kind: 'key';
  part: Part;
  /** The object the key is added to. */
  path: string[];
  keys: string[];
}

export type Site = ValueSite | KeySite;

export const reservedNames = ['constructor', '__proto__', 'prototype'];
const depthMax = 5;

/** The object branch of a schema (itself, or the first object alternative of an anyOf). */
function objectBranch(schema: Schema): Schema | null {
  if (schema.type === 'object' || schema.properties !== undefined || schema.propertyNames !== undefined) return schema;
  for (const branch of schema.anyOf ?? []) if (branch.type === 'object') return branch;
  return null;
}

/** Every site of one part; `names` are the path parameters a route really has (params only). */
export function sitesOf(part: Part, schema: Schema | undefined, names: string[] = []): Site[] {
  if (schema === undefined) return [];
  const sites: Site[] = [];
  const walk = (node: Schema, path: string[]) => {
    const object = objectBranch(node);
    if (object === null || path.length >= depthMax) return;
    const properties: Record<string, Schema> = object.properties ?? {};
    const own = part === 'params' ? names : Object.keys(properties);
    for (const name of own) {
      const child = properties[name] ?? (typeof object.additionalProperties === 'object' ? object.additionalProperties : undefined);
      if (child === undefined) continue;
      sites.push({ kind: 'value', part, path: [...path, name], schema: child });
      if (part === 'body') walk(child, [...path, name]);
    }
    if (part !== 'params') {
      if (object.propertyNames !== undefined) sites.push({ kind: 'key', part, path, keys: reservedNames });
      if (object.additionalProperties === false) sites.push({ kind: 'key', part, path, keys: ['zz_not_a_field'] });
      else if (typeof object.additionalProperties === 'object') sites.push({ kind: 'value', part, path: [...path, 'zz_extra'], schema: object.additionalProperties });
    }
  };
  walk(schema, []);
  return sites;
}

const allConstraints = (schema: Schema): Schema[] => [schema, ...(schema.anyOf ?? []).flatMap(allConstraints)];

/** Candidate bad values of a value site, most telling first; the caller keeps those the schema refuses. */
export function badValues(site: ValueSite): unknown[] {
  const out: unknown[] = [];
  for (const s of allConstraints(site.schema)) {
    if (typeof s.maxLength === 'number') out.push('a'.repeat(s.maxLength + 1));
    if (s.not !== undefined) out.push(...reservedNames);
    if (typeof s.maximum === 'number') out.push(s.maximum + 1);
    if (typeof s.minimum === 'number') out.push(s.minimum - 1);
    if (typeof s.maxItems === 'number') out.push(Array.from({ length: s.maxItems + 1 }, () => 'x'));
    if (typeof s.maxProperties === 'number') out.push(Object.fromEntries(Array.from({ length: s.maxProperties + 1 }, (_v, i) => [`k${i}`, 'v'])));
    if (s.const !== undefined || s.enum !== undefined || s.pattern !== undefined || s.format !== undefined) out.push('zz-not-allowed');
  }
  if (site.part === 'body') out.push({ nested: true }, ['list'], 'text', 12345, 1.5, true, null);
  else out.push('not-a-number', '1.5', 'maybe', ['repeated', 'twice']);
  return out;
}

/** Compiles schemas once each, with the app's settings: bodies strict, params and query strings coerced. */
export class Validators {
  private readonly strict = Validators.ajv(false);
  private readonly coercing = Validators.ajv(true);
  private readonly cache = new WeakMap<Schema, ValidateFunction>();
  private readonly coercedCache = new WeakMap<Schema, ValidateFunction>();

  private static ajv(coerceTypes: boolean): Ajv {
    const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
    addFormats.default(ajv);
    return ajv;
  }

  /** Whether `value` passes `schema` as the app validates `part` (coercion mutates, so a copy is coerced). */
  valid(part: Part, schema: Schema, value: unknown): boolean {
    const coerce = part !== 'body';
    const cache = coerce ? this.coercedCache : this.cache;
    let validate = cache.get(schema);
    if (validate === undefined) {
      validate = (coerce ? this.coercing : this.strict).compile(schema);
      cache.set(schema, validate);
    }
    return validate(coerce ? structuredClone(value) : value) as boolean;
  }
}

/** A value that satisfies `schema` with the least in it (required properties only), for the parts a request leaves valid. */
export function minimalValue(schema: Schema): unknown {
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (Array.isArray(schema.anyOf)) return minimalValue(schema.anyOf[0]);
  switch (schema.type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const name of schema.required ?? []) out[name] = minimalValue(schema.properties?.[name] ?? {});
      return out;
    }
    case 'array':
      return Array.from({ length: schema.minItems ?? 0 }, () => minimalValue(schema.items ?? {}));
    case 'integer':
    case 'number':
      return Math.max(schema.minimum ?? 1, 1);
    case 'boolean':
      return true;
    case 'string':
      return 'x'.repeat(Math.max(schema.minLength ?? 1, 1));
    default:
      return 'x';
  }
}

/** `value` with `leaf` set at `path` (intermediate objects made as needed); an empty path replaces the whole. */
export function setAt(value: unknown, path: string[], leaf: unknown): unknown {
  if (path.length === 0) return leaf;
  const object = typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...(value as Record<string, unknown>) } : {};
  const [head, ...rest] = path;
  // defineProperty: a key named `__proto__` must become an own key, as JSON.parse makes it.
  Object.defineProperty(object, head, { value: setAt(object[head], rest, leaf), enumerable: true, writable: true, configurable: true });
  return object;
}
