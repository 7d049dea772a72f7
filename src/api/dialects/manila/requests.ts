/**
 * Reading Manila requests: bodies are checked by hand, in the order Manila's controllers check
 * them, so each bad request gets the fault Manila would give and nothing is created.
 */
import { StrataError } from '../../../lib/errors.js';
import { limits } from '../../../lib/limits.js';

const bad = (message: string) => new StrataError('INVALID_ARGUMENT', message);

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `wsgi.Controller.is_valid_body`: the body is an object whose `key` is an object. */
export function entity(body: unknown, key: string, message: string): Record<string, unknown> {
  if (!isObject(body) || !isObject(body[key])) throw bad(message);
  return body[key];
}

/** Python's repr of a set of field names, as Manila prints it in "The fields %s are invalid.". */
export function pythonSet(names: string[]): string {
  return `{${names.map((name) => `'${name}'`).join(', ')}}`;
}

export function rejectUnknownFields(fields: Record<string, unknown>, allowed: readonly string[], message: (set: string) => string): void {
  const unknown = Object.keys(fields).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) throw bad(message(pythonSet(unknown)));
}

const uuidPattern = /^(?:urn:uuid:)?\{?([0-9a-f]{8})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{4})-?([0-9a-f]{12})\}?$/i;

/** oslo `uuidutils.is_uuid_like`, giving the canonical lower-case hyphenated form (or null). */
export function uuidLike(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const match = uuidPattern.exec(value);
  return match === null ? null : match.slice(1).join('-').toLowerCase();
}

export function requireUuid(value: unknown, message: string): string {
  const id = uuidLike(value);
  if (id === null) throw bad(message);
  return id;
}

/**
 * A name or description: absent or null leaves it unset; otherwise a string of at most
 * Manila's column width (255).
 */
export function optionalText(fields: Record<string, unknown>, key: string): string | undefined {
  const value = fields[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw bad(`'${key}' must be a string.`);
  if (value.length > textLengthMax) throw bad(`'${key}' is longer than ${textLengthMax} characters.`);
  return value;
}

/** Manila's name and description columns are String(255). */
export const textLengthMax = Math.min(255, limits.control.nameLengthMax);

/** `common.limited`: offset and limit from the query (limit 0 or absent: the maximum). */
export interface ListWindow {
  offset: number;
  limit: number;
  /** The limit as given (for the `next` link), null when absent. */
  limitGiven: number | null;
}

/** `osapi_max_limit`. */
export const listLimitMax = 1000;

function integerParam(query: Record<string, unknown>, key: string): number | null {
  const raw = query[key];
  if (raw === undefined) return null;
  const text = Array.isArray(raw) ? String(raw[raw.length - 1]) : String(raw);
  if (!/^\s*[-+]?\d+\s*$/.test(text)) throw bad(`${key} param must be an integer`);
  const value = Number(text);
  if (value < 0) throw bad(`${key} param must be positive`);
  return value;
}

export function listWindow(query: Record<string, unknown>): ListWindow {
  const offset = integerParam(query, 'offset') ?? 0;
  const limitGiven = integerParam(query, 'limit');
  const limit = Math.min(listLimitMax, limitGiven === null || limitGiven === 0 ? listLimitMax : limitGiven);
  return { offset, limit, limitGiven };
}

export function queryText(query: Record<string, unknown>, key: string): string | undefined {
  const raw = query[key];
  if (raw === undefined) return undefined;
  return Array.isArray(raw) ? String(raw[raw.length - 1]) : String(raw);
}

/** The query as plain strings (for `next` links). */
export function plainQuery(query: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    if (key === 'marker') continue;
    out[key] = Array.isArray(value) ? String(value[value.length - 1]) : String(value);
  }
  return out;
}
