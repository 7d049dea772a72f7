/**
 * ZStack's query language (src/api/dialects/zstack/query.ts), without a server: how `q`
 * conditions and the paging parameters parse (RestServer.handleQueryApi's rules and messages),
 * and what every operator selects, with SQL's null semantics and joined (expanded) fields.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  checkQuery,
  likePattern,
  matches,
  parseCondition,
  parseQuery,
  projectFields,
  QueryArgumentError,
  type QueryRow,
  type QuerySpec,
  QuerySyntaxError,
  runQuery,
} from '../../src/api/dialects/zstack/query.js';

const spec: QuerySpec = {
  inventory: 'VolumeSnapshotInventory',
  fields: {
    uuid: 'string',
    name: 'string',
    parentUuid: 'string',
    size: 'number',
    latest: 'boolean',
    createDate: 'date',
    'volume.name': 'string',
  },
};

const t0 = Date.parse('2024-01-01T00:00:00Z');
const rows: QueryRow[] = [
  { self: { uuid: 'a1', name: 'daily-1', parentUuid: null, size: 100, latest: false, createDate: t0 }, joins: { volume: [{ name: 'db' }] } },
  { self: { uuid: 'b2', name: 'daily-2', parentUuid: 'a1', size: 200, latest: false, createDate: t0 + 60_000 }, joins: { volume: [{ name: 'db' }] } },
  { self: { uuid: 'c3', name: 'Weekly_1', parentUuid: 'b2', size: 300, latest: true, createDate: t0 + 120_000 }, joins: { volume: [{ name: 'web' }] } },
  { self: { uuid: 'd4', name: '100%', parentUuid: null, size: 400, latest: true, createDate: t0 + 180_000 }, joins: { volume: [] } },
];

/** The uuids of the rows that satisfy `q`. */
const select = (q: string) => rows.filter((row) => matches(row, parseCondition(q), spec)).map((row) => row.self.uuid);

describe('zstack query: parsing q conditions', () => {
  test('each operator is found, longer operators before the ones they contain', () => {
    const cases: Array<[string, string, string, string | null]> = [
      ['name!=x', 'name', '!=', 'x'],
      ['size>=5', 'size', '>=', '5'],
      ['size<=5', 'size', '<=', '5'],
      ['name!?=a,b', 'name', '!?=', 'a,b'],
      ['name!~=%x%', 'name', '!~=', '%x%'],
      ['name~=%x%', 'name', '~=', '%x%'],
      ['name?=a,b', 'name', '?=', 'a,b'],
      ['name=x', 'name', '=', 'x'],
      ['size>5', 'size', '>', '5'],
      ['size<5', 'size', '<', '5'],
      ['parentUuid is null', 'parentUuid', 'is null', null],
      ['parentUuid not null', 'parentUuid', 'not null', null],
    ];
    for (const [text, name, op, value] of cases) assert.deepEqual(parseCondition(text), { name, op, value }, text);
  });

  test('the name is trimmed, the value is not; the value may contain the operator again', () => {
    assert.deepEqual(parseCondition(' name =  a b '), { name: 'name', op: '=', value: '  a b ' });
    assert.deepEqual(parseCondition('description=x=y'), { name: 'description', op: '=', value: 'x=y' });
  });

  test('a condition without an operator is refused with the REST layer message', () => {
    assert.throws(() => parseCondition('name'), (error: unknown) => {
      assert.ok(error instanceof QuerySyntaxError);
      assert.equal(error.message, "Invalid query parameter. The 'name' in the parameter[q] doesn't contain any query operator. Valid query operators are [!=, >=, <=, !?=, !~=, ~=, ?=, =, >, <, is null, not null]");
      return true;
    });
  });
});

describe('zstack query: parameters', () => {
  test('defaults: limit 1000, start 0, no count, ascending, all fields', () => {
    const query = parseQuery([]);
    assert.equal(query.limit, 1000);
    assert.equal(query.start, 0);
    assert.equal(query.count, false);
    assert.equal(query.replyWithCount, false);
    assert.equal(query.sortBy, null);
    assert.equal(query.fields, null);
  });

  test('repeated q are ANDed; an empty parameter name is a condition too', () => {
    const query = parseQuery([
      ['q', 'name=a'],
      ['', 'size>1'],
      ['q', 'uuid?=x,y'],
    ]);
    assert.deepEqual(
      query.conditions.map((c) => c.op),
      ['=', '>', '?='],
    );
  });

  test('limit, start, count, replyWithCount, sort, fields, groupBy', () => {
    const query = parseQuery([
      ['limit', ' 5 '],
      ['start', '2'],
      ['count', 'TRUE'],
      ['replyWithCount', 'true'],
      ['sort', '-createDate'],
      ['fields', 'uuid, name'],
      ['groupBy', 'volumeUuid'],
    ]);
    assert.equal(query.limit, 5);
    assert.equal(query.start, 2);
    assert.equal(query.count, true);
    assert.equal(query.replyWithCount, true);
    assert.equal(query.sortBy, 'createDate');
    assert.equal(query.sortDirection, 'desc');
    assert.deepEqual(query.fields, ['uuid', 'name']);
    assert.equal(query.groupBy, 'volumeUuid');
    assert.equal(parseQuery([['sort', '+name']]).sortDirection, 'asc');
    assert.equal(parseQuery([['sort', 'name']]).sortDirection, 'asc');
  });

  test('non-integer limit and start are refused; unknown parameters are ignored', () => {
    assert.throws(() => parseQuery([['limit', 'ten']]), { name: 'QuerySyntaxError', message: "Invalid query parameter. 'limit' must be an integer" });
    assert.throws(() => parseQuery([['start', '1.5']]), { name: 'QuerySyntaxError', message: "Invalid query parameter. 'start' must be an integer" });
    assert.throws(() => parseQuery([['fields', ' , ']]), { name: 'QuerySyntaxError', message: "Invalid query parameter. 'fields' contains zero field" });
    assert.doesNotThrow(() => parseQuery([['whatever', 'x']]));
  });
});

describe('zstack query: operators', () => {
  test('= and != (a null field satisfies neither)', () => {
    assert.deepEqual(select('name=daily-1'), ['a1']);
    assert.deepEqual(select('name!=daily-1'), ['b2', 'c3', 'd4']);
    assert.deepEqual(select('parentUuid!=a1'), ['c3']);
  });

  test('> < >= <= on numbers and dates', () => {
    assert.deepEqual(select('size>200'), ['c3', 'd4']);
    assert.deepEqual(select('size>=200'), ['b2', 'c3', 'd4']);
    assert.deepEqual(select('size<200'), ['a1']);
    assert.deepEqual(select('size<=200'), ['a1', 'b2']);
    assert.deepEqual(select(`createDate>${t0 + 60_000}`), ['c3', 'd4']);
    assert.deepEqual(select('createDate<=2024-01-01T00:01:00Z'), ['a1', 'b2']);
  });

  test('?= and !?= take comma-separated values', () => {
    assert.deepEqual(select('uuid?=a1,c3'), ['a1', 'c3']);
    assert.deepEqual(select('uuid!?=a1,c3'), ['b2', 'd4']);
    assert.deepEqual(select('size?=100,400'), ['a1', 'd4']);
  });

  test('~= and !~= are SQL LIKE: % and _ wildcards, \\ escapes, case ignored', () => {
    assert.deepEqual(select('name~=daily%'), ['a1', 'b2']);
    assert.deepEqual(select('name~=%WEEKLY%'), ['c3']);
    assert.deepEqual(select('name~=daily-_'), ['a1', 'b2']);
    assert.deepEqual(select('name!~=daily%'), ['c3', 'd4']);
    assert.deepEqual(select('name~=100\\%'), ['d4']);
    assert.deepEqual(select('name~=Weekly\\_1'), ['c3']);
    assert.equal(likePattern('a.b').matches('axb'), false);
  });

  test('is null and not null', () => {
    assert.deepEqual(select('parentUuid is null'), ['a1', 'd4']);
    assert.deepEqual(select('parentUuid not null'), ['b2', 'c3']);
  });

  test('booleans', () => {
    assert.deepEqual(select('latest=true'), ['c3', 'd4']);
    assert.deepEqual(select('latest=FALSE'), ['a1', 'b2']);
  });

  test('joined fields match when any joined record does; no record is null', () => {
    assert.deepEqual(select('volume.name=db'), ['a1', 'b2']);
    assert.deepEqual(select('volume.name is null'), ['d4']);
  });

  test('unknown fields and values of the wrong type are API argument errors', () => {
    const check = (q: string) => checkQuery(parseQuery([['q', q]]), spec);
    assert.throws(() => check('nope=1'), (e: unknown) => e instanceof QueryArgumentError && e.message === 'unable to find property[nope] in the inventory[VolumeSnapshotInventory]');
    assert.throws(() => check('size>big'), QueryArgumentError);
    assert.throws(() => check('latest=maybe'), QueryArgumentError);
    assert.throws(() => check('createDate>yesterday'), QueryArgumentError);
    assert.throws(() => checkQuery(parseQuery([['sort', 'volume.name']]), spec), QueryArgumentError);
    assert.throws(() => checkQuery(parseQuery([['fields', 'uuid,nope']]), spec), QueryArgumentError);
    assert.throws(() => checkQuery(parseQuery([['limit', '-1']]), spec), QueryArgumentError);
    assert.throws(() => checkQuery(parseQuery([['filterName', 'nocolon']]), spec), { message: 'filterName must be formatted as [filterType:condition(s)]' });
  });
});

describe('zstack query: running a query', () => {
  const run = (parameters: Array<[string, string]>) => runQuery(rows, (row) => row, parseQuery(parameters), spec);
  const uuids = (result: { items: QueryRow[] }) => result.items.map((row) => row.self.uuid);

  test('conditions are ANDed; total counts every match, the page is start/limit of them', () => {
    const result = run([
      ['q', 'size>100'],
      ['q', 'volume.name=db'],
    ]);
    assert.deepEqual(uuids(result), ['b2']);
    const paged = run([
      ['start', '1'],
      ['limit', '2'],
    ]);
    assert.deepEqual(uuids(paged), ['b2', 'c3']);
    assert.equal(paged.total, 4);
  });

  test('sort ascending and descending; nulls first ascending', () => {
    assert.deepEqual(uuids(run([['sort', '-size']])), ['d4', 'c3', 'b2', 'a1']);
    assert.deepEqual(uuids(run([['sort', '+parentUuid']])), ['a1', 'd4', 'b2', 'c3']);
    assert.deepEqual(uuids(run([['sort', '-parentUuid']])), ['c3', 'b2', 'a1', 'd4']);
  });

  test('fields keeps only the asked fields', () => {
    assert.deepEqual(projectFields({ uuid: 'a', name: 'n', size: 1 }, ['uuid', 'size']), { uuid: 'a', size: 1 });
    const inventory = { uuid: 'a' };
    assert.equal(projectFields(inventory, null), inventory);
  });
});
