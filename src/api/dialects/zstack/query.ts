/**
 * ZStack's query language (RestServer.handleQueryApi and the ZQL it feeds), parsed and
 * evaluated without I/O: `q=<name><op><value>` conditions (all ANDed), `limit`, `start`,
 * `count`, `replyWithCount`, `sort=+field|-field`, `fields=a,b`, and the accepted-but-ignored
 * `groupBy` and `filterName`.
 *
 * Evaluation runs over rows: a row is the inventory's own fields (dates as epoch milliseconds,
 * so they compare as times) plus joined records for expanded fields (`volume.name`), where a
 * condition holds when any joined record satisfies it. Comparisons follow SQL: a null field
 * satisfies only `is null`. LIKE (`~=`, `!~=`) takes `%` and `_` wildcards, `\` escapes them,
 * and ignores case, as ZStack's MySQL collation does; `=` and the other operators are exact.
 */

import { limits } from '../../../lib/limits.js';
import { Wildcard } from '../../../lib/wildcard.js';

/** Matched in this order: an operator contained in another comes after it (RestServer's QUERY_OP_MAPPING). */
export const operators = ['!=', '>=', '<=', '!?=', '!~=', '~=', '?=', '=', '>', '<', 'is null', 'not null'] as const;
export type Operator = (typeof operators)[number];

export interface Condition {
  name: string;
  op: Operator;
  /** null for `is null` and `not null`. */
  value: string | null;
}

export interface Query {
  conditions: Condition[];
  limit: number;
  start: number;
  /** Only the number of matches (`{"total": N}`). */
  count: boolean;
  /** The page and the number of matches. */
  replyWithCount: boolean;
  sortBy: string | null;
  sortDirection: 'asc' | 'desc';
  /** Only these inventory fields in the reply. */
  fields: string[] | null;
  groupBy: string | null;
  filterName: string | null;
}

/** APIQueryMessage's default `limit`. */
export const queryLimitDefault = 1000;

/** A query parameter ZStack's REST layer refuses (400, plain text). */
export class QuerySyntaxError extends Error {
  override name = 'QuerySyntaxError';
}

/** A query ZStack's API layer refuses (SYS.1007): unknown field, a value of the wrong type. */
export class QueryArgumentError extends Error {
  override name = 'QueryArgumentError';
}

const integerPattern = /^[+-]?\d+$/;
const intMax = 2 ** 31 - 1;

function integerParameter(name: string, text: string): number {
  const value = integerPattern.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value > intMax || value < -intMax - 1) throw new QuerySyntaxError(`Invalid query parameter. '${name}' must be an integer`);
  return value;
}

const operatorList = `[${operators.join(', ')}]`;

/** One `q` condition; the name is trimmed, the value is not (a space may matter). */
export function parseCondition(text: string): Condition {
  const op = operators.find((candidate) => text.includes(candidate));
  if (op === undefined) {
    throw new QuerySyntaxError(`Invalid query parameter. The '${text}' in the parameter[q] doesn't contain any query operator. Valid query operators are ${operatorList}`);
  }
  const at = text.indexOf(op);
  const name = text.slice(0, at).trim();
  if (op === 'is null' || op === 'not null') return { name, op, value: null };
  return { name, op, value: text.slice(at + op.length) };
}

/** The query of a request's parameters, in the order they came (repeated keys keep every value). */
export function parseQuery(parameters: Iterable<[string, string]>): Query {
  const query: Query = {
    conditions: [],
    limit: queryLimitDefault,
    start: 0,
    count: false,
    replyWithCount: false,
    sortBy: null,
    sortDirection: 'asc',
    fields: null,
    groupBy: null,
    filterName: null,
  };
  const seen = new Set<string>();
  for (const [rawName, rawValue] of parameters) {
    const name = rawName.trim();
    // `"q".startsWith(name)` in RestServer: an empty name is a condition too.
    if (name === 'q' || name === '') {
      query.conditions.push(parseCondition(rawValue));
      continue;
    }
    // Other parameters take their first value only.
    if (seen.has(name)) continue;
    seen.add(name);
    const value = rawValue.trim();
    switch (name) {
      case 'limit':
        query.limit = integerParameter('limit', value);
        break;
      case 'start':
        query.start = integerParameter('start', value);
        break;
      case 'count':
        query.count = value.toLowerCase() === 'true';
        break;
      case 'replyWithCount':
        query.replyWithCount = value.toLowerCase() === 'true';
        break;
      case 'groupBy':
        query.groupBy = value;
        break;
      case 'filterName':
        query.filterName = value;
        break;
      case 'sort': {
        query.sortDirection = value.startsWith('-') ? 'desc' : 'asc';
        query.sortBy = value.replace(/^[+-]+/, '');
        break;
      }
      case 'fields': {
        const fields = value
          .split(',')
          .map((f) => f.trim())
          .filter((f) => f.length > 0);
        if (fields.length === 0) throw new QuerySyntaxError("Invalid query parameter. 'fields' contains zero field");
        query.fields = fields;
        break;
      }
      default:
        // RestServer ignores parameters it does not know.
        break;
    }
  }
  return query;
}

export type FieldKind = 'string' | 'number' | 'boolean' | 'date';

/** What a resource can be queried by: its inventory's name and its fields (joined ones dotted: `volume.name`). */
export interface QuerySpec {
  inventory: string;
  fields: Record<string, FieldKind>;
}

export interface QueryRow {
  self: Record<string, unknown>;
  joins?: Record<string, Array<Record<string, unknown>>>;
}

/** Refuses what the API layer would: unknown fields, bad paging numbers, a malformed filterName. */
export function checkQuery(query: Query, spec: QuerySpec): void {
  const known = (field: string) => Object.hasOwn(spec.fields, field);
  for (const condition of query.conditions) {
    if (!known(condition.name)) throw new QueryArgumentError(`unable to find property[${condition.name}] in the inventory[${spec.inventory}]`);
    if (condition.value !== null) valuesOf(condition, spec.fields[condition.name]);
  }
  if (query.sortBy !== null && (!known(query.sortBy) || query.sortBy.includes('.'))) {
    throw new QueryArgumentError(`unable to sort by property[${query.sortBy}], it is not a field of the inventory[${spec.inventory}]`);
  }
  for (const field of query.fields ?? []) {
    if (!known(field) || field.includes('.')) throw new QueryArgumentError(`unable to find property[${field}] in the inventory[${spec.inventory}]`);
  }
  if (query.limit < 0) throw new QueryArgumentError(`field[limit] must be in range of [0, ${intMax}]`);
  if (query.start < 0) throw new QueryArgumentError(`field[start] must be in range of [0, ${intMax}]`);
  if (query.filterName !== null && !query.filterName.includes(':')) throw new QueryArgumentError('filterName must be formatted as [filterType:condition(s)]');
}

type Scalar = string | number | boolean;

/** A condition's value(s) as the field's kind (IN lists are comma-separated). */
function valuesOf(condition: Condition, kind: FieldKind): Scalar[] {
  const raw = condition.value ?? '';
  const parts = condition.op === '?=' || condition.op === '!?=' ? raw.split(',') : [raw];
  if (condition.op === '~=' || condition.op === '!~=') {
    const lengthMax = limits.control.filterPatternLengthMax;
    if (raw.length > lengthMax) throw new QueryArgumentError(`the LIKE pattern of field[${condition.name}] has more than ${lengthMax} characters`);
    return parts;
  }
  return parts.map((part) => scalarOf(part, kind, condition.name));
}

function scalarOf(text: string, kind: FieldKind, name: string): Scalar {
  switch (kind) {
    case 'string':
      return text;
    case 'number': {
      const value = text.trim() === '' ? NaN : Number(text);
      if (Number.isNaN(value)) throw new QueryArgumentError(`the value[${text}] of field[${name}] is not a number`);
      return value;
    }
    case 'boolean': {
      const lower = text.trim().toLowerCase();
      if (lower !== 'true' && lower !== 'false') throw new QueryArgumentError(`the value[${text}] of field[${name}] is not a boolean`);
      return lower === 'true';
    }
    case 'date': {
      const trimmed = text.trim();
      const value = /^\d+$/.test(trimmed) ? Number(trimmed) : Date.parse(trimmed);
      if (Number.isNaN(value)) throw new QueryArgumentError(`the value[${text}] of field[${name}] is not a timestamp (epoch milliseconds or a date)`);
      return value;
    }
  }
}

/** `%` any run, `_` one character, `\` escapes; case-insensitive; matched in bounded time (src/lib/wildcard.ts). */
export function likePattern(pattern: string): Wildcard {
  return Wildcard.compile(pattern, { anyRun: '%', anyOne: '_', escape: '\\' });
}

function compare(a: Scalar, b: Scalar): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = String(a);
  const y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A row's values of a field: one for its own, one per joined record for a dotted one. */
function fieldValues(row: QueryRow, name: string): unknown[] {
  const dot = name.indexOf('.');
  if (dot < 0) return [row.self[name]];
  const records = row.joins?.[name.slice(0, dot)] ?? [];
  return records.map((record) => record[name.slice(dot + 1)]);
}

/** A condition as a predicate over rows (checkQuery has accepted it). */
export function compileCondition(condition: Condition, spec: QuerySpec): (row: QueryRow) => boolean {
  const { op } = condition;
  const operands = condition.value === null ? [] : valuesOf(condition, spec.fields[condition.name]);
  const like = op === '~=' || op === '!~=' ? likePattern(String(operands[0])) : null;
  const holds = (value: unknown): boolean => {
    if (op === 'is null') return value === null || value === undefined;
    if (op === 'not null') return value !== null && value !== undefined;
    if (value === null || value === undefined) return false;
    const actual = value as Scalar;
    switch (op) {
      case '=':
        return compare(actual, operands[0]) === 0;
      case '!=':
        return compare(actual, operands[0]) !== 0;
      case '>':
        return compare(actual, operands[0]) > 0;
      case '<':
        return compare(actual, operands[0]) < 0;
      case '>=':
        return compare(actual, operands[0]) >= 0;
      case '<=':
        return compare(actual, operands[0]) <= 0;
      case '?=':
        return operands.some((operand) => compare(actual, operand) === 0);
      case '!?=':
        return operands.every((operand) => compare(actual, operand) !== 0);
      case '~=':
        return like!.matches(String(actual));
      case '!~=':
        return !like!.matches(String(actual));
    }
  };
  return (row) => {
    const values = fieldValues(row, condition.name);
    // A join with no records is one null value.
    return values.length === 0 ? holds(null) : values.some(holds);
  };
}

/** Whether a row satisfies a condition. */
export function matches(row: QueryRow, condition: Condition, spec: QuerySpec): boolean {
  return compileCondition(condition, spec)(row);
}

/**
 * Filters, sorts and pages `items`: the page and the number of matches. Without `sort` the
 * items keep the order they came in (creation order).
 */
export function runQuery<T>(items: T[], rowOf: (item: T) => QueryRow, query: Query, spec: QuerySpec): { items: T[]; total: number } {
  checkQuery(query, spec);
  const predicates = query.conditions.map((condition) => compileCondition(condition, spec));
  let matched = items.map((item) => ({ item, row: rowOf(item) })).filter(({ row }) => predicates.every((holds) => holds(row)));
  if (query.sortBy !== null) {
    const field = query.sortBy;
    const sign = query.sortDirection === 'asc' ? 1 : -1;
    // Nulls first ascending, last descending, as MySQL orders them.
    matched = [...matched].sort((a, b) => {
      const x = a.row.self[field] as Scalar | null | undefined;
      const y = b.row.self[field] as Scalar | null | undefined;
      const xNull = x === null || x === undefined;
      const yNull = y === null || y === undefined;
      if (xNull || yNull) return xNull === yNull ? 0 : (xNull ? -1 : 1) * sign;
      return compare(x, y) * sign;
    });
  }
  // Every page is bounded: a larger limit gives listLimitMax inventories (ZStack's default page size).
  const limit = Math.min(query.limit, limits.control.listLimitMax);
  return { items: matched.slice(query.start, query.start + limit).map(({ item }) => item), total: matched.length };
}

/** Only the asked fields of an inventory (all of them without `fields`); symbol-keyed annotations stay. */
export function projectFields<T extends object>(inventory: T, fields: string[] | null): Partial<T> {
  if (fields === null) return inventory;
  const projected: Record<string | symbol, unknown> = {};
  for (const key of Object.getOwnPropertySymbols(inventory)) {
    Object.defineProperty(projected, key, { value: (inventory as Record<symbol, unknown>)[key], enumerable: false });
  }
  for (const field of fields) if (Object.hasOwn(inventory, field)) projected[field] = (inventory as Record<string, unknown>)[field];
  return projected as Partial<T>;
}
