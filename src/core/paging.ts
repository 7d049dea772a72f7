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
  /** Start after the row with this id (OpenStack's `marker`); NOT_FOUND-free: an unknown id is INVALID_ARGUMENT. */
  afterId?: string;
  /** Skip this many rows (OpenStack's and XSKY's `offset`). */
  offset?: number;
  /** Also count every row that matches the filters (`total` in the page). */
  withCount?: boolean;
}

export interface Page<T> {
  items: T[];
  nextPageToken: string | null;
  /** Rows matching the filters, when `withCount` was asked. */
  total?: number;
}

/** Sort columns holding numbers; every other sort column holds text. */
const numericSortColumns = new Set(['size_bytes']);

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
    // The value must have the sort column's type, or PostgreSQL would fail the comparison.
    typeof cursor[2] === (numericSortColumns.has(sort) ? 'number' : 'string') &&
    Number.isSafeInteger(cursor[3]);
  if (!valid) throw new StrataError('INVALID_ARGUMENT', 'page_token is not a token from this list with this sort and order', { field: 'page_token' });
  return cursor as Cursor;
}

/** Runs `query` (already filtered, selecting `seq` and the sort column) for one page. */
export async function fetchPage<Row extends { seq: number }>(
  query: SelectQueryBuilder<any, any, Row>,
  table: string,
  sort: string,
  options: { limit?: number; pageToken?: string; order?: SortOrder; afterId?: string; offset?: number; withCount?: boolean },
): Promise<{ rows: Row[]; nextPageToken: string | null; total?: number }> {
  const order = options.order ?? 'asc';
  // No page is larger than listLimitMax, whatever a caller asks; the token still continues it.
  const limit = Math.min(options.limit ?? limits.control.listLimitDefault, limits.control.listLimitMax);
  const column = `${table}.${sort}`;
  const seq = `${table}.seq`;
  let q = query as SelectQueryBuilder<any, any, Row>;
  let total: number | undefined;
  if (options.withCount === true) {
    const counted = (await (query as SelectQueryBuilder<any, any, any>)
      .clearSelect()
      .select((eb: any) => eb.fn.countAll().as('n'))
      .executeTakeFirst()) as { n: number | string };
    total = Number(counted.n);
  }
  let after: [value: string | number, seq: number] | null = null;
  if (options.pageToken !== undefined) {
    const [, , value, lastSeq] = decode(options.pageToken, sort, order);
    after = [value, lastSeq];
  } else if (options.afterId !== undefined) {
    const marker = (await (query as SelectQueryBuilder<any, any, any>)
      .clearSelect()
      .select([`${table}.${sort} as value`, `${table}.seq as seq`])
      .where(`${table}.id`, '=', options.afterId)
      .executeTakeFirst()) as { value: string | number; seq: number } | undefined;
    if (marker === undefined) throw new StrataError('INVALID_ARGUMENT', `marker ${options.afterId} is not in this list`, { field: 'marker' });
    after = [marker.value, Number(marker.seq)];
  }
  if (after !== null) {
    const [value, lastSeq] = after;
    const op = order === 'asc' ? '>' : '<';
    // A row-value comparison, so both databases seek into the (…, sort column, seq) index.
    q = q.where((eb: any) => eb(eb.refTuple(column, seq), op, eb.tuple(value, lastSeq)));
  }
  q = q.orderBy(column, order).orderBy(seq, order).limit(limit + 1);
  if (options.offset !== undefined && options.offset > 0) q = q.offset(options.offset);
  const rows = (await q.execute()) as Row[];
  if (rows.length <= limit) return { rows, nextPageToken: null, total };
  rows.length = limit;
  const last = rows[limit - 1] as Row & Record<string, string | number>;
  const token: Cursor = [sort, order, last[sort], Number(last.seq)];
  return { rows, nextPageToken: Buffer.from(JSON.stringify(token)).toString('base64url'), total };
}
