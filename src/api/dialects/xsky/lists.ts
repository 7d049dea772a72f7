/**
 * XMS list conventions over core's keyset pages.
 *
 * - `limit` (default 100, core's page default; `-1` means all; `0` is taken as unset, the Go
 *   zero value) and `offset` (rows to skip).
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

export interface ListQueryWire {
  limit?: number;
  offset?: number;
  q?: string;
  sort?: string;
}

export interface ListPlan<S extends string> {
  /** null: all rows. */
  limit: number | null;
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
  const limit = query.limit === undefined || query.limit === 0 ? limits.control.listLimitDefault : query.limit === -1 ? null : query.limit;
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
  const m = /^([a-z_]+):(.*)$/is.exec(text);
  if (m === null) {
    const needle = text.toLowerCase();
    return (wire) => {
      const name = wire[nameField];
      return typeof name === 'string' && name.toLowerCase().includes(needle);
    };
  }
  const asked = m[1].toLowerCase();
  const field = asked === 'name' && !fields.includes('name') ? nameField : asked;
  if (!fields.includes(field)) throw new StrataError('INVALID_ARGUMENT', `q must be TEXT or FIELD:PATTERN with FIELD one of ${fields.join(', ')}`, { field: 'q' });
  const source = m[2]
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const pattern = new RegExp(`^${source}$`, 'is');
  return (wire) => {
    const value = wire[field];
    return (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') && pattern.test(String(value));
  };
}

/** How a route reads core: one page with these options. */
export type FetchPage<T> = (options: { limit: number; offset?: number; pageToken?: string }) => Promise<Page<T>>;

const scanPageRows = limits.control.listLimitMax;

/**
 * One XSKY list page: items rendered with `render`, keeping those `keep` (core record) and
 * the plan's `q` (rendered record) accept.
 */
export async function listPage<T, W extends object>(
  plan: ListPlan<string>,
  fetch: FetchPage<T>,
  render: (items: T[]) => Promise<W[]>,
  keep: ((item: T) => boolean) | null = null,
): Promise<W[]> {
  if (keep === null && plan.match === null) {
    if (plan.limit !== null) return render((await fetch({ limit: plan.limit, offset: plan.offset })).items);
    // All rows: skip `offset` on the first page, then follow the page tokens.
    const out: W[] = [];
    let page = await fetch({ limit: scanPageRows, offset: plan.offset });
    for (;;) {
      out.push(...(await render(page.items)));
      if (page.nextPageToken === null) return out;
      page = await fetch({ limit: scanPageRows, pageToken: page.nextPageToken });
    }
  }
  const matched: W[] = [];
  const wanted = plan.limit === null ? Infinity : plan.offset + plan.limit;
  let token: string | undefined;
  do {
    const page = await fetch(token === undefined ? { limit: scanPageRows } : { limit: scanPageRows, pageToken: token });
    const kept = keep === null ? page.items : page.items.filter(keep);
    const wires = await render(kept);
    for (const wire of wires) if (plan.match === null || plan.match(wire as Record<string, unknown>)) matched.push(wire);
    token = page.nextPageToken ?? undefined;
  } while (token !== undefined && matched.length < wanted);
  return matched.slice(plan.offset, plan.limit === null ? undefined : plan.offset + plan.limit);
}
