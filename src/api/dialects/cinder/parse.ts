/**
 * Request parsing shared by the Cinder and EVS dialects: body fields with Cinder's schema rules
 * (cinder/api/schemas, parameter_types), query parameters with Cinder's messages
 * (cinder/api/common.py), and paging over core lists. Every refusal is a StrataError that each
 * dialect's errors.ts turns into its own fault; nothing is created before parsing succeeds.
 */
import type { Page, SortOrder } from '../../../core/paging.js';
import { StrataError } from '../../../lib/errors.js';
import { limits } from '../../../lib/limits.js';
import { isReservedKey } from '../../reserved-keys.js';

export type Json = Record<string, unknown>;

const uuidPattern = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
/** Cinder's metadata key rule (parameter_types.metadata). */
const metadataKeyPattern = /^[a-zA-Z0-9-_:. /]{1,255}$/;
export const metadataValueLengthMax = 255;

export const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
export const isUuid = (value: unknown): value is string => typeof value === 'string' && uuidPattern.test(value);

export function invalid(message: string, field?: string): StrataError {
  return new StrataError('INVALID_ARGUMENT', message, field === undefined ? undefined : { field });
}

function unexpected(name: string): StrataError {
  return new StrataError('UNKNOWN_FIELD', `Additional properties are not allowed ('${name}' was unexpected).`, { field: name });
}

const show = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value));

/** The body's one top-level element (`{"snapshot": {...}}`), refusing any other top-level key. */
export function element(body: unknown, key: string, options: { others?: string[] } = {}): Json {
  if (!isObject(body)) throw invalid('Malformed request body: the body must be a JSON object.');
  for (const name of Object.keys(body)) {
    if (name !== key && !(options.others ?? []).includes(name)) throw unexpected(name);
  }
  const value = body[key];
  if (value === undefined) throw new StrataError('MISSING_FIELD', `Missing required element '${key}' in request body.`, { field: key });
  if (!isObject(value)) throw invalid(`Invalid input for field/attribute ${key}. Value: ${show(value)}. It is not of type 'object'.`, key);
  return value;
}

/** Refuses fields a schema with additionalProperties: false does not declare. */
export function onlyFields(object: Json, allowed: readonly string[]): void {
  for (const name of Object.keys(object)) {
    if (!allowed.includes(name)) throw unexpected(name);
  }
}

export function required(object: Json, field: string): unknown {
  if (!(field in object)) throw new StrataError('MISSING_FIELD', `'${field}' is a required property.`, { field });
  return object[field];
}

/**
 * A string field that may be absent or null, at most `max` long (characters, or UTF-8 bytes
 * where the platform counts bytes); `strip` trims white space first (Cinder volume names).
 */
export function optionalText(object: Json, field: string, options: { max: number; bytes?: boolean; strip?: boolean }): string | null | undefined {
  const value = object[field];
  if (value === undefined || value === null) return value as undefined | null;
  if (typeof value !== 'string') throw invalid(`Invalid input for field/attribute ${field}. Value: ${show(value)}. It is not of type 'string'.`, field);
  const text = options.strip === true ? value.trim() : value;
  const length = options.bytes === true ? Buffer.byteLength(text, 'utf8') : [...text].length;
  if (length > options.max) {
    throw invalid(`Invalid input for field/attribute ${field}. ${field} has more than ${options.max} ${options.bytes === true ? 'bytes' : 'characters'}.`, field);
  }
  return text;
}

/** A UUID field (absent or null allowed when `nullable`). */
export function uuidField(object: Json, field: string, options: { nullable: boolean }): string | null | undefined {
  const value = object[field];
  if (value === undefined || (value === null && options.nullable)) return value as undefined | null;
  if (!isUuid(value)) throw invalid(`Invalid input for field/attribute ${field}. Value: ${show(value)}. ${show(value)} is not a 'uuid'.`, field);
  return value.toLowerCase();
}

const truthy = ['true', '1', 'on', 'yes', 'y', 't'];
const falsy = ['false', '0', 'off', 'no', 'n', 'f'];

/** Cinder's parameter_types.boolean: a JSON boolean or one of its boolean-like strings. */
export function booleanLike(value: unknown, field: string): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    if (truthy.includes(value.toLowerCase())) return true;
    if (falsy.includes(value.toLowerCase())) return false;
  }
  throw invalid(`Invalid input for field/attribute ${field}. Value: ${show(value)}. ${show(value)} is not a valid boolean.`, field);
}

/**
 * A metadata map (Cinder's rule: keys `^[a-zA-Z0-9-_:. /]{1,255}$`, string values up to 255),
 * also held to Strata's bound on the number of entries.
 */
export function metadataMap(value: unknown, field: string, options: { nullable?: boolean } = {}): Record<string, string> | undefined {
  if (value === undefined || (value === null && options.nullable === true)) return undefined;
  if (!isObject(value)) throw invalid(`Invalid input for field/attribute ${field}. Value: ${show(value)}. It is not of type 'object'.`, field);
  const entries = Object.entries(value);
  if (entries.length > limits.control.metadataEntriesMax) {
    throw invalid(`Invalid input for field/attribute ${field}. At most ${limits.control.metadataEntriesMax} metadata items are allowed.`, field);
  }
  for (const [key, item] of entries) {
    if (!metadataKeyPattern.test(key)) throw invalid(`Invalid input for field/attribute ${field}. Metadata key ${JSON.stringify(key)} must be 1 to 255 of the characters a-z A-Z 0-9 - _ : . / and space.`, field);
    if (typeof item !== 'string') throw invalid(`Invalid input for field/attribute ${field}. Value of ${key} is not a string.`, field);
    if ([...item].length > metadataValueLengthMax) throw invalid(`Invalid input for field/attribute ${field}. Value of ${key} is longer than ${metadataValueLengthMax} characters.`, field);
  }
  return value as Record<string, string>;
}

// Query strings.

export type Query = Record<string, string | string[] | undefined>;

/** One query parameter (the last, when repeated, as WebOb does). */
export function queryValue(query: Query, name: string): string | undefined {
  const value = query[name];
  return Array.isArray(value) ? value[value.length - 1] : value;
}

export function queryValues(query: Query, name: string): string[] {
  const value = query[name];
  return value === undefined ? [] : Array.isArray(value) ? value : [value];
}

function integerParam(query: Query, name: string): number | undefined {
  const text = queryValue(query, name);
  if (text === undefined) return undefined;
  if (!/^[-+]?\d+$/.test(text.trim())) throw invalid(`${name} param must be an integer`, name);
  const value = Number(text.trim());
  if (value < 0) throw invalid(`${name} param must be positive`, name);
  if (!Number.isSafeInteger(value)) throw invalid(`${name} param must be an integer`, name);
  return value;
}

export interface PageRequest {
  /** Rows per page (Cinder's osapi_max_limit bounds it). */
  limit: number;
  /** Whether the caller asked for a limit (EVS adds paging links only then). */
  limitGiven: boolean;
  offset: number;
  marker?: string;
}

/** `limit`, `offset`, `marker` with Cinder's rules: limit 0 or above the maximum is the maximum (unless `strictLimit`). */
export function pageRequest(query: Query, options: { strictLimit?: boolean } = {}): PageRequest {
  const max = limits.control.listLimitMax;
  const given = integerParam(query, 'limit');
  // EVS documents limit as 1 to 1000 and refuses the rest; Cinder takes 0 and clamps.
  if (options.strictLimit === true && given === 0) throw invalid('limit param must be positive', 'limit');
  if (options.strictLimit === true && given !== undefined && given > max) throw invalid(`limit param must be at most ${max}`, 'limit');
  const offset = integerParam(query, 'offset') ?? 0;
  const marker = queryValue(query, 'marker');
  return { limit: given === undefined || given === 0 ? max : Math.min(given, max), limitGiven: given !== undefined, offset, marker: marker === '' ? undefined : marker };
}

/**
 * The first key of Cinder's `sort=key[:dir],…` (or the deprecated `sort_key`/`sort_dir`),
 * mapped to a core sort column; Strata orders by one column (ties by creation).
 */
export function sortRequest<S extends string>(query: Query, columns: Record<string, S>): { sort?: S; order: SortOrder } {
  const sort = queryValue(query, 'sort');
  const sortKey = queryValue(query, 'sort_key');
  const sortDir = queryValue(query, 'sort_dir');
  if (sort !== undefined && (sortKey !== undefined || sortDir !== undefined)) {
    throw invalid("The 'sort_key' and 'sort_dir' parameters are deprecated and cannot be used with the 'sort' parameter.", 'sort');
  }
  let key: string | undefined;
  let dir: string | undefined;
  if (sort !== undefined) {
    const first = sort.split(',').map((s) => s.trim()).filter(Boolean);
    for (const item of first) {
      const [k, d] = item.split(':');
      if (d !== undefined && d !== 'asc' && d !== 'desc') throw invalid("Unknown sort direction, must be 'desc' or 'asc'", 'sort');
      if (!Object.hasOwn(columns, k)) throw invalid(`Invalid sort key ${k}: sort keys are ${Object.keys(columns).join(', ')}`, 'sort');
    }
    if (first.length > 0) [key, dir] = first[0].split(':');
  } else {
    key = sortKey;
    dir = sortDir;
    if (dir !== undefined && dir !== 'asc' && dir !== 'desc') throw invalid("Unknown sort direction, must be 'desc' or 'asc'", 'sort_dir');
    if (key !== undefined && !Object.hasOwn(columns, key)) throw invalid(`Invalid sort key ${key}: sort keys are ${Object.keys(columns).join(', ')}`, 'sort_key');
  }
  // Cinder's default order is newest first.
  const order: SortOrder = dir === 'asc' ? 'asc' : 'desc';
  return key === undefined ? { order } : { sort: columns[key], order };
}

/** Refuses query parameters a list does not know (Cinder does from 3.31). */
export function refuseUnknown(query: Query, known: readonly string[]): void {
  const unknown = Object.keys(query).filter((name) => !known.includes(name));
  if (unknown.length > 0) throw invalid(`Invalid filters ${unknown.join(', ')} are provided.`, unknown[0]);
}

/**
 * A Cinder `metadata` filter: a Python dict literal as cinderclient sends it
 * (`{'k': 'v'}`), or JSON.
 */
export function metadataFilter(text: string): Record<string, string> {
  const parsed = parseDictLiteral(text);
  if (parsed === null) throw invalid(`Invalid metadata filter ${text}: expected {'key': 'value', ...}`, 'metadata');
  const reserved = Object.keys(parsed).find(isReservedKey);
  if (reserved !== undefined) throw invalid(`Invalid metadata filter ${text}: the key ${reserved} is a reserved name`, 'metadata');
  return parsed;
}

function parseDictLiteral(text: string): Record<string, string> | null {
  try {
    const json = JSON.parse(text) as unknown;
    if (isObject(json) && Object.values(json).every((v) => typeof v === 'string')) return json as Record<string, string>;
  } catch {
    // not JSON: try the Python form below
  }
  const body = /^\s*\{(.*)\}\s*$/s.exec(text);
  if (body === null) return null;
  // Entries, then fromEntries: an assignment to `__proto__` would vanish instead of being refused.
  const entries: Array<[string, string]> = [];
  const item = /\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*:\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")\s*(,|$)/y;
  let rest = body[1];
  if (rest.trim() === '') return {};
  let position = 0;
  while (position < rest.length) {
    item.lastIndex = position;
    const m = item.exec(rest);
    if (m === null) return null;
    const unescape = (s: string) => s.replace(/\\(.)/g, '$1');
    entries.push([unescape(m[1] ?? m[2]), unescape(m[3] ?? m[4])]);
    position = item.lastIndex;
    if (m[5] === '') break;
  }
  rest = rest.slice(position);
  return rest.trim() === '' ? Object.fromEntries(entries) : null;
}

export interface CollectedPage<T> {
  items: T[];
  /** More rows follow this page. */
  more: boolean;
  /** Rows matching the filters, when counted. */
  total?: number;
}

/**
 * One page of a core list. `fetch` runs the core list with the filters core supports already
 * bound; `keep` applies the platform filters core has no column for, in which case the
 * matching rows are gathered page by page (core's maximum page) and the page is cut here.
 * An unknown `marker` answers as the resource not found, as in Cinder.
 */
export async function collectPage<T extends { id: string }>(
  fetch: (options: { limit: number; offset?: number; afterId?: string; pageToken?: string; withCount?: boolean }) => Promise<Page<T>>,
  page: PageRequest,
  options: { keep?: (item: T) => boolean; withCount: boolean; noun: string },
): Promise<CollectedPage<T>> {
  const markerMissing = () => new StrataError('NOT_FOUND', `${options.noun} ${page.marker} does not exist`);
  if (options.keep === undefined) {
    const result = await fetch({ limit: page.limit, offset: page.offset, afterId: page.marker, withCount: options.withCount }).catch((error: unknown) => {
      if (error instanceof StrataError && error.field === 'marker') throw markerMissing();
      throw error;
    });
    return { items: result.items, more: result.nextPageToken !== null, total: result.total };
  }
  const matches: T[] = [];
  let pageToken: string | undefined;
  let scanned = 0;
  do {
    if (scanned >= limits.control.listScanRowsMax) throw invalid(`the filters read more than ${limits.control.listScanRowsMax} rows; narrow them`, 'limit');
    const result = await fetch({ limit: limits.control.listLimitMax, pageToken });
    scanned += result.items.length;
    for (const item of result.items) if (options.keep(item)) matches.push(item);
    pageToken = result.nextPageToken ?? undefined;
  } while (pageToken !== undefined);
  let start = 0;
  if (page.marker !== undefined) {
    const at = matches.findIndex((item) => item.id === page.marker);
    if (at < 0) throw markerMissing();
    start = at + 1;
  }
  const rest = matches.slice(start + page.offset);
  return { items: rest.slice(0, page.limit), more: rest.length > page.limit, total: options.withCount ? matches.length : undefined };
}

/** A `next` link: the request's URL with `marker` set to the page's last id (and no offset). */
export function nextLink(base: string, query: Query, lastId: string): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (name === 'marker' || name === 'offset' || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) params.append(name, v);
  }
  params.set('marker', lastId);
  return `${base}?${params.toString()}`;
}
