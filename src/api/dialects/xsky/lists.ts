/**
 * XMS list conventions over core's keyset pages.
 *
 * - `limit` (default 100, core's page default; `0` is taken as unset, the Go zero value;
 *   `-1`, "all" to XMS, and anything above `listLimitMax` give `listLimitMax` rows) and
 *   `offset` (rows to skip).
 * - `sort`: `FIELD`, `FIELD:asc`, `FIELD:desc` or `-FIELD`, FIELD being a wire field the
 *   resource can be sorted by (`id`, `create`, `name`, …). Default: `id` ascending.
 * - `q`: `FIELD:PATTERN` matches one top-level field of the rendered XSKY record (so `status`
 *   is XSKY's status, `id` the numeric id) against PATTERN, case-insensitively, `*` matching any
 *   run of characters; a bare `TEXT` finds records whose name contains TEXT.
 * The spec documents no syntax for `q` or `sort`; this follows the SDK's captured example
 * (`q=name:cs*&sort=create:desc`).
 *
 * Filters that core evaluates are pushed down and the page is one core call. Filters only the
 * dialect can evaluate (`q`, XSKY statuses, prefixes, uids) read the matching rows page by
 * page, filter them, then apply offset and limit.
 */
import type { Page, SortOrder } from '../../../core/paging.js';
import { StrataError } from '../../../lib/errors.js';
import { limits } from '../../../lib/limits.js';
import { Wildcard } from '../../../lib/wildcard.js';

export interface ListQueryWire {
  limit?: number;
  offset?: number;
  q?: string;
  sort?: string;
}

export interface ListPlan<S extends string> {
  /** Rows in the page: at most listLimitMax. */
  limit: number;
  offset: number;
  sort: S;
  order: SortOrder;
  /** Matches a rendered record; null when `q` is absent. */
  match: ((wire: Record<string, unknown>) => boolean) | null;
}

/** Wire field → core sort column. */
export type SortFields<S extends string> = Record<string, S>;

/**
 * `searchFields`: the wire fields `q` may name. `nameField`: the record's name (`snap_name` for
 * consistent snapshots, whose record has no `name`), searched by a bare `q` and by `name:`.
 */
export function parseList<S extends string>(query: ListQueryWire, sortFields: SortFields<S>, searchFields: readonly string[], nameField = 'name'): ListPlan<S> {
  const { listLimitDefault, listLimitMax } = limits.control;
  // Every page is bounded: -1 ("all") and larger limits are clamped to the maximum.
  const limit = query.limit === undefined || query.limit === 0 ? listLimitDefault : query.limit === -1 ? listLimitMax : Math.min(query.limit, listLimitMax);
  const { sort, order } = parseSort(query.sort, sortFields);
  return { limit, offset: query.offset ?? 0, sort, order, match: parseQ(query.q, searchFields, nameField) };
}

function parseSort<S extends string>(text: string | undefined, fields: SortFields<S>): { sort: S; order: SortOrder } {
  if (text === undefined || text.trim() === '') return { sort: fields.id, order: 'asc' };
  const m = /^\s*(-)?([a-z_]+)(?::(asc|desc))?\s*$/i.exec(text);
  // Own keys only: `constructor` or `toString` must not find Object.prototype's.
  const column = m === null || !Object.hasOwn(fields, m[2].toLowerCase()) ? undefined : fields[m[2].toLowerCase()];
  if (m === null || column === undefined) {
    throw new StrataError('INVALID_ARGUMENT', `sort must be FIELD, FIELD:asc or FIELD:desc with FIELD one of ${Object.keys(fields).join(', ')}`, { field: 'sort' });
  }
  const order: SortOrder = m[1] === '-' ? 'desc' : ((m[3]?.toLowerCase() as SortOrder | undefined) ?? 'asc');
  return { sort: column, order };
}

function parseQ(text: string | undefined, fields: readonly string[], nameField: string): ListPlan<string>['match'] {
  if (text === undefined || text === '') return null;
  const patternLengthMax = limits.control.filterPatternLengthMax;
  if (text.length > patternLengthMax) throw new StrataError('INVALID_ARGUMENT', `q has at most ${patternLengthMax} characters`, { field: 'q' });
  const m = /^([a-z_]+):(.*)$/is.exec(text);
  if (m === null) {
    const needle = Wildcard.substring(text);
    return (wire) => {
      const name = wire[nameField];
      return typeof name === 'string' && needle.matches(name);
    };
  }
  const asked = m[1].toLowerCase();
  const field = asked === 'name' && !fields.includes('name') ? nameField : asked;
  if (!fields.includes(field)) throw new StrataError('INVALID_ARGUMENT', `q must be TEXT or FIELD:PATTERN with FIELD one of ${fields.join(', ')}`, { field: 'q' });
  const pattern = Wildcard.compile(m[2], { anyRun: '*' });
  return (wire) => {
    const value = wire[field];
    return (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') && pattern.matches(String(value));
  };
}

/** How a route reads core: one page with these options. */
export type FetchPage<T> = (options: { limit: number; offset?: number; pageToken?: string }) => Promise<Page<T>>;

const scanPageRows = limits.control.listLimitMax;

/**
 * One XSKY list page: items rendered with `render`, keeping those `keep` (core record) and
 * the plan's `q` (rendered record) accept. Filtering here reads the collection page by page
 * until the page is full, at most `listScanRowsMax` rows; beyond that the filter is refused.
 */
export async function listPage<T, W extends object>(
  plan: ListPlan<string>,
  fetch: FetchPage<T>,
  render: (items: T[]) => Promise<W[]>,
  keep: ((item: T) => boolean) | null = null,
): Promise<W[]> {
  if (keep === null && plan.match === null) return render((await fetch({ limit: plan.limit, offset: plan.offset })).items);
  const matched: W[] = [];
  const wanted = plan.offset + plan.limit;
  let scanned = 0;
  let token: string | undefined;
  do {
    if (scanned >= limits.control.listScanRowsMax) {
      throw new StrataError('INVALID_ARGUMENT', `the filter reads more than ${limits.control.listScanRowsMax} rows; narrow it or lower offset`, { field: 'q' });
    }
    const page = await fetch(token === undefined ? { limit: scanPageRows } : { limit: scanPageRows, pageToken: token });
    scanned += page.items.length;
    const kept = keep === null ? page.items : page.items.filter(keep);
    const wires = await render(kept);
    for (const wire of wires) if (plan.match === null || plan.match(wire as Record<string, unknown>)) matched.push(wire);
    token = page.nextPageToken ?? undefined;
  } while (token !== undefined && matched.length < wanted);
  return matched.slice(plan.offset, plan.offset + plan.limit);
}
