/**
 * Keyset paging shared by every list: rows are ordered by (sort column, seq) and a page token
 * carries the last row's pair, so a page costs one index range scan however deep it is, and
 * rows created meanwhile never shift a page. Tokens are opaque to clients.
 */
import type { SelectQueryBuilder } from 'kysely';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';

export type SortOrder = 'asc' | 'desc';

export interface ListOptions<S extends string> {
  limit?: number;
  pageToken?: string;
  sort?: S;
  order?: SortOrder;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string | null;
}

type Cursor = [sort: string, order: SortOrder, value: string | number, seq: number];

function decode(token: string, sort: string, order: SortOrder): Cursor {
  let cursor: unknown;
  try {
    cursor = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    cursor = null;
  }
  const valid =
    Array.isArray(cursor) &&
    cursor.length === 4 &&
    cursor[0] === sort &&
    cursor[1] === order &&
    (typeof cursor[2] === 'string' || typeof cursor[2] === 'number') &&
    Number.isSafeInteger(cursor[3]);
  if (!valid) throw new StrataError('INVALID_ARGUMENT', 'page_token is not a token from this list with this sort and order', { field: 'page_token' });
  return cursor as Cursor;
}

/** Runs `query` (already filtered, selecting `seq` and the sort column) for one page. */
export async function fetchPage<Row extends { seq: number }>(
  query: SelectQueryBuilder<any, any, Row>,
  table: string,
  sort: string,
  options: { limit?: number; pageToken?: string; order?: SortOrder },
): Promise<{ rows: Row[]; nextPageToken: string | null }> {
  const order = options.order ?? 'asc';
  const limit = options.limit ?? limits.control.listLimitDefault;
  const column = `${table}.${sort}`;
  const seq = `${table}.seq`;
  let q = query as SelectQueryBuilder<any, any, Row>;
  if (options.pageToken !== undefined) {
    const [, , value, lastSeq] = decode(options.pageToken, sort, order);
    const op = order === 'asc' ? '>' : '<';
    q = q.where((eb: any) => eb.or([eb(column, op, value), eb.and([eb(column, '=', value), eb(seq, op, lastSeq)])]));
  }
  const rows = (await q.orderBy(column, order).orderBy(seq, order).limit(limit + 1).execute()) as Row[];
  if (rows.length <= limit) return { rows, nextPageToken: null };
  rows.length = limit;
  const last = rows[limit - 1] as Row & Record<string, string | number>;
  const token: Cursor = [sort, order, last[sort], Number(last.seq)];
  return { rows, nextPageToken: Buffer.from(JSON.stringify(token)).toString('base64url') };
}
