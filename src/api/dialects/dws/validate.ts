/**
 * DWS's request rules, checked before any core call so that a refused request creates nothing.
 * Every failure is a StrataError naming the request field; errors.ts turns (code, field) into
 * the DWS code. Unknown body fields are ignored, as DWS ignores them.
 *
 * Names (snapshots, and clusters made by restore): 4 to 64 characters, a letter first, then
 * letters, digits, `-` and `_`. Snapshot descriptions: at most 256 characters, none of !<>'="&.
 */
import { StrataError } from '../../../lib/errors.js';
import { limits } from '../../../lib/limits.js';

export const nameLengthMin = 4;
export const nameLengthMax = 64;
export const descriptionLengthMax = 256;
export const descriptionForbiddenCharacters = `!<>'=&"`;
/** Largest page of any DWS list (asked for or not), and of each core read behind it. */
export const pageSizeMax = limits.control.listLimitMax;

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const invalid = (field: string, message: string) => new StrataError('INVALID_ARGUMENT', message, { field });
const missing = (field: string) => new StrataError('MISSING_FIELD', `${field} is required`, { field });

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Counts characters as a person does (code points), not UTF-16 units. */
const lengthOf = (text: string) => [...text].length;

/** The object under `key` of a JSON body (`{"snapshot": {...}}`, `{"restore": {...}}`). */
export function wrapped(body: unknown, key: string): Json {
  if (body === undefined || body === null || body === '') throw new StrataError('MISSING_FIELD', 'the request has no body', { field: 'body' });
  if (!isObject(body)) throw new StrataError('INVALID_ARGUMENT', 'the body must be a JSON object');
  const inner = body[key];
  if (inner === undefined || inner === null) throw missing(key);
  if (!isObject(inner)) throw invalid(key, `${key} must be an object`);
  return inner;
}

/** A DWS name (snapshot or cluster) under `field`. */
export function checkName(value: unknown, field: string): string {
  if (value === undefined || value === null) throw missing(field);
  if (typeof value !== 'string') throw invalid(field, `${field} must be a string`);
  const length = lengthOf(value);
  if (length < nameLengthMin || length > nameLengthMax) throw invalid(field, `${field} must be ${nameLengthMin} to ${nameLengthMax} characters long`);
  if (!/^[A-Za-z]/.test(value)) throw invalid(field, `${field} must start with a letter`);
  if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(value)) throw invalid(field, `${field} may contain only letters, digits, hyphens (-) and underscores (_)`);
  return value;
}

/** A snapshot description; absent or null is the empty description. */
export function checkDescription(value: unknown, field: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw invalid(field, `${field} must be a string`);
  if (lengthOf(value) > descriptionLengthMax) throw invalid(field, `${field} must be at most ${descriptionLengthMax} characters long`);
  const forbidden = [...value].find((c) => descriptionForbiddenCharacters.includes(c));
  if (forbidden !== undefined) throw invalid(field, `${field} must not contain any of ${descriptionForbiddenCharacters} (found ${forbidden})`);
  return value;
}

/** A resource id (UUID), lower-cased as core stores it. */
export function checkUuid(value: unknown, field: string): string {
  if (value === undefined || value === null || value === '') throw missing(field);
  if (typeof value !== 'string' || !uuidPattern.test(value)) throw invalid(field, `${field} must be a UUID`);
  return value.toLowerCase();
}

export interface SnapshotCreate {
  name: string;
  clusterId: string;
  description: string;
}

/** `POST /v1.0/{project_id}/snapshots` body: `{"snapshot": {"name", "cluster_id", "description"?}}`. */
export function parseSnapshotCreate(body: unknown): SnapshotCreate {
  const snapshot = wrapped(body, 'snapshot');
  return {
    name: checkName(snapshot.name, 'snapshot.name'),
    clusterId: checkUuid(snapshot.cluster_id, 'snapshot.cluster_id'),
    description: checkDescription(snapshot.description, 'snapshot.description'),
  };
}

const optionalString = (restore: Json, key: string) => {
  const value = restore[key];
  if (value !== undefined && value !== null && typeof value !== 'string') throw invalid(`restore.${key}`, `restore.${key} must be a string`);
};

export const publicBindTypes = ['auto_assign', 'not_use', 'bind_existing'] as const;

/**
 * `POST /v1.0/{project_id}/snapshots/{snapshot_id}/actions` body: `{"restore": {"name", ...}}`.
 * The networking fields are checked for their type and then have no effect: Strata volumes
 * have no VPC, subnet, port or public IP.
 */
export function parseRestore(body: unknown): { name: string } {
  const restore = wrapped(body, 'restore');
  const name = checkName(restore.name, 'restore.name');
  for (const key of ['subnet_id', 'security_group_id', 'vpc_id', 'availability_zone', 'enterprise_project_id']) optionalString(restore, key);
  const port = restore.port;
  if (port !== undefined && port !== null && (!Number.isSafeInteger(port) || (port as number) < 8000 || (port as number) > 30000)) {
    throw invalid('restore.port', 'restore.port must be an integer from 8000 to 30000');
  }
  const ipv6 = restore.ipv6_enable;
  if (ipv6 !== undefined && ipv6 !== null && typeof ipv6 !== 'boolean') throw invalid('restore.ipv6_enable', 'restore.ipv6_enable must be a boolean');
  const publicIp = restore.public_ip;
  if (publicIp !== undefined && publicIp !== null) {
    if (!isObject(publicIp)) throw invalid('restore.public_ip', 'restore.public_ip must be an object');
    const bindType = publicIp.public_bind_type;
    if (bindType !== undefined && bindType !== null && !publicBindTypes.includes(bindType as (typeof publicBindTypes)[number])) {
      throw invalid('restore.public_ip.public_bind_type', `restore.public_ip.public_bind_type must be one of ${publicBindTypes.join(', ')}`);
    }
    const eipId = publicIp.eip_id;
    if (eipId !== undefined && eipId !== null && typeof eipId !== 'string') throw invalid('restore.public_ip.eip_id', 'restore.public_ip.eip_id must be a string');
  }
  return { name };
}

export interface ClusterSnapshotQuery {
  /** Rows per page; undefined is every row (DWS's default: no limit). */
  limit?: number;
  /** DWS's `offset` counts pages, not rows: the page number minus 1. Without a limit there is one page. */
  page: number;
  sort: 'created_at' | 'name';
  order: 'asc' | 'desc';
}

const sortKeys: Record<string, 'created_at' | 'name'> = { started: 'created_at', name: 'name' };

function singleQueryValue(query: Json, key: string): string | undefined {
  const value = query[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalid(key, `${key} must be given once`);
  return value;
}

function wholeNumber(query: Json, key: string, min: number): number | undefined {
  const text = singleQueryValue(query, key);
  if (text === undefined) return undefined;
  const value = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min) throw invalid(key, `${key} must be an integer of at least ${min}`);
  return value;
}

/** `GET /v1.0/{project_id}/clusters/{cluster_id}/snapshots` query: limit, offset, sort_key, sort_dir. */
export function parseClusterSnapshotQuery(query: unknown): ClusterSnapshotQuery {
  const q = isObject(query) ? query : {};
  const given = wholeNumber(q, 'limit', 1);
  // A larger limit is clamped, so `offset` pages are pages of the rows actually returned.
  const limit = given === undefined ? undefined : Math.min(given, pageSizeMax);
  const offset = wholeNumber(q, 'offset', 0) ?? 0;
  const sortKey = singleQueryValue(q, 'sort_key');
  if (sortKey !== undefined && !Object.hasOwn(sortKeys, sortKey)) throw invalid('sort_key', `sort_key must be one of ${Object.keys(sortKeys).join(', ')}`);
  const sortDir = singleQueryValue(q, 'sort_dir');
  if (sortDir !== undefined && sortDir !== 'asc' && sortDir !== 'desc') throw invalid('sort_dir', 'sort_dir must be asc or desc');
  if (limit !== undefined && !Number.isSafeInteger(offset * limit)) throw invalid('offset', 'offset is too large');
  return { limit, page: offset, sort: sortKey === undefined ? 'created_at' : sortKeys[sortKey], order: sortDir ?? 'asc' };
}

/** Whether the project id of a path names the token's project (DWS writes ids without dashes). */
export function sameProject(pathProjectId: string, tokenProjectId: string): boolean {
  const plain = (id: string) => id.replace(/-/g, '').toLowerCase();
  return plain(pathProjectId) === plain(tokenProjectId);
}
