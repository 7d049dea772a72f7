/**
 * Invalid requests, generated from the API's own OpenAPI document, are refused cleanly.
 *
 * The test reads GET /api/v1/openapi.json and, for every operation (path + method), derives
 * requests that differ from a valid request in exactly one part: a body property of the wrong
 * JSON type, missing, unknown, out of range (minimum, maximum, multipleOf, minLength, maxLength,
 * minItems, maxItems, maxProperties), off its enum or format; a body that is not an object, is
 * not JSON, is too large or has the wrong content type; a path id that is not a UUID; a query
 * parameter of the wrong type, out of range, repeated, unknown, or a page token that is not one.
 * Every other part names a real resource (a volume, snapshot, group with a member, group
 * snapshot, attachment, job, project, user, token), so if the server let the mutation through,
 * the request would really act.
 *
 * Each request must get a 4xx (never a 5xx) with the body {error: {code, message, request_id}},
 * the code registered in src/api/errors.ts with exactly that status (and the code the mutation
 * calls for, naming the field at fault), and must leave every table (volumes, snapshots, groups,
 * group_snapshots, attachments, jobs, projects, users, quotas; not tokens) exactly as it was.
 *
 * Two runs per database: a deterministic sweep of every operation × every mutation × every
 * canonical bad value, which reports all failures at once, and a fast-check property over random
 * choices of the same (fixed seed STRATA_INVALID_SEED, STRATA_INVALID_RUNS runs on SQLite,
 * STRATA_INVALID_RUNS_POSTGRES on PostgreSQL). fast-check prints the seed, the path and the
 * failing request (method, url, headers, body) as its counterexample.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import type { Kysely } from 'kysely';
import { httpStatusOf, registeredCodes } from '../../src/api/errors.js';
import { limits } from '../../src/lib/limits.js';
import { databaseKinds, type DatabaseKind } from '../support/databases.js';
import { adminPassword, createHarness, type Harness } from './harness.js';

const envInt = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  assert.ok(Number.isInteger(value) && value >= 0, `${name} must be a non-negative integer, not ${raw}`);
  return value;
};
const SEED = envInt('STRATA_INVALID_SEED', 20261123);
const RUNS = { sqlite: envInt('STRATA_INVALID_RUNS', 300), postgres: envInt('STRATA_INVALID_RUNS_POSTGRES', 60) } satisfies Record<DatabaseKind, number>;
/** The sweep sends every canonical bad value ('all') or the first of each mutation ('first'). */
const sweepMode = (kind: DatabaseKind): 'all' | 'first' => {
  const mode = process.env.STRATA_INVALID_SWEEP ?? (kind === 'sqlite' ? 'all' : 'first');
  assert.ok(mode === 'all' || mode === 'first', `STRATA_INVALID_SWEEP must be all or first, not ${mode}`);
  return mode;
};

const API = '/api/v1';
const MiB = 1024 * 1024;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const VALIDATION_CODES = new Set(['INVALID_ARGUMENT', 'MISSING_FIELD', 'UNKNOWN_FIELD', 'OUT_OF_RANGE']);
/** The tables whose rows no refused request may change (tokens: logging in makes them; pools: heartbeats). */
const STATE_TABLES = [
  ['volumes', 'id'],
  ['snapshots', 'id'],
  ['groups', 'id'],
  ['group_snapshots', 'id'],
  ['attachments', 'id'],
  ['jobs', 'id'],
  ['projects', 'id'],
  ['users', 'id'],
  ['quotas', 'project_id'],
  ['policies', 'id'],
  ['policy_runs', 'id'],
] as const;

// ---------------------------------------------------------------------------------------------
// The OpenAPI document as operations.

type Schema = Record<string, any>;

interface Param {
  name: string;
  schema: Schema;
  required: boolean;
}

interface Operation {
  method: string;
  /** The OpenAPI path, `/api/v1/volumes/{id}`. */
  template: string;
  key: string;
  pathParams: Param[];
  query: Param[];
  body: { schema: Schema; required: boolean } | null;
}

function operationsOf(doc: any): Operation[] {
  const operations: Operation[] = [];
  for (const [template, item] of Object.entries<any>(doc.paths ?? {})) {
    for (const [lower, op] of Object.entries<any>(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(lower)) continue;
      const method = lower.toUpperCase();
      const params: any[] = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      const toParam = (p: any): Param => ({ name: p.name, schema: p.schema ?? {}, required: p.required === true });
      const json = op.requestBody?.content?.['application/json'];
      operations.push({
        method,
        template,
        key: `${method} ${template}`,
        pathParams: params.filter((p) => p.in === 'path').map(toParam),
        query: params.filter((p) => p.in === 'query').map(toParam),
        body: json?.schema === undefined ? null : { schema: json.schema, required: op.requestBody.required === true },
      });
    }
  }
  return operations;
}

// ---------------------------------------------------------------------------------------------
// Schema helpers (the JSON Schema subset the document uses).

const jsonType = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v);

/** The literals a schema allows when it is an enum, a const, or a union of them; null otherwise. */
function literalsOf(schema: Schema): unknown[] | null {
  if (Array.isArray(schema.enum)) return schema.enum;
  if ('const' in schema) return [schema.const];
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (Array.isArray(alternatives)) {
    const parts = alternatives.map(literalsOf);
    return parts.every((p) => p !== null) ? parts.flat() : null;
  }
  return null;
}

/** The JSON types a schema accepts ('integer' also when 'number' is accepted). */
function typesOf(schema: Schema): Set<string> {
  const types = new Set<string>();
  if (typeof schema.type === 'string') types.add(schema.type);
  if (Array.isArray(schema.type)) for (const t of schema.type) types.add(t);
  for (const alternative of schema.anyOf ?? schema.oneOf ?? []) for (const t of typesOf(alternative)) types.add(t);
  for (const literal of schema.enum ?? []) types.add(jsonType(literal));
  if ('const' in schema) types.add(jsonType(schema.const));
  if (types.has('number')) types.add('integer');
  return types;
}

/** The first alternative of a union that is not only literals, or the schema itself. */
function mainAlternative(schema: Schema): Schema {
  const alternatives: Schema[] | undefined = schema.anyOf ?? schema.oneOf;
  if (!Array.isArray(alternatives)) return schema;
  return alternatives.find((a) => literalsOf(a) === null) ?? alternatives[0];
}

const isRecord = (schema: Schema) => typesOf(schema).has('object') && typeof schema.additionalProperties === 'object' && schema.additionalProperties !== null;

// ---------------------------------------------------------------------------------------------
// Real resources and valid values.

interface Resources {
  /** Every invalid request is sent with the admin's token, so no role check can mask validation. */
  adminToken: string;
  adminProjectId: string;
  adminProjectName: string;
  volumeId: string;
  /** The member of the group (the path's {volume_id}). */
  memberVolumeId: string;
  snapshotId: string;
  groupId: string;
  groupSnapshotId: string;
  attachmentId: string;
  jobId: string;
  policyId: string;
  /** A tenant project, its member user and a token of that user (never the admin's). */
  projectId: string;
  userId: string;
  tokenId: string;
}

/** The real resource a path parameter names, by the route's collection and the parameter. */
function pathValue(template: string, name: string, r: Resources): string {
  if (name === 'volume_id') return r.memberVolumeId;
  const collection = template.slice(API.length + 1).split('/')[0];
  const byCollection: Record<string, string> = {
    volumes: r.volumeId,
    snapshots: r.snapshotId,
    groups: r.groupId,
    'group-snapshots': r.groupSnapshotId,
    attachments: r.attachmentId,
    jobs: r.jobId,
    policies: r.policyId,
    projects: r.projectId,
    users: r.userId,
    auth: r.tokenId,
  };
  const value = name === 'id' ? byCollection[collection] : undefined;
  if (value === undefined) throw new Error(`no test resource for {${name}} of ${template}: teach pathValue about it`);
  return value;
}

let uniqueCounter = 0;
const unique = (prefix: string) => `${prefix}-${++uniqueCounter}`;

/** A value the schema accepts (no semantics: the fallback when a name has no meaning below). */
function schemaValue(schema: Schema, r: Resources): unknown {
  const literals = literalsOf(schema);
  if (literals !== null && literals.length > 0) return literals[0];
  const s = mainAlternative(schema);
  const types = typesOf(s);
  if (s.format === 'uuid') return r.volumeId;
  if (s.format === 'date-time') return new Date().toISOString();
  if (types.has('string')) return 'x'.repeat(Math.max(1, s.minLength ?? 1));
  if (types.has('integer')) {
    const step = s.multipleOf ?? 1;
    const low = Math.max(s.minimum ?? 1, 1);
    return Math.ceil(low / step) * step;
  }
  if (types.has('boolean')) return false;
  if (types.has('array')) return Array.from({ length: s.minItems ?? 0 }, () => schemaValue(s.items ?? {}, r));
  if (types.has('object')) return Object.fromEntries((s.required ?? []).map((k: string) => [k, schemaValue(s.properties?.[k] ?? {}, r)]));
  return null;
}

/** A valid value of a body property, meaning what its name says, for the real resources. */
function bodyValue(op: Operation, name: string, schema: Schema, r: Resources): unknown {
  const isTokens = op.key === `POST ${API}/auth/tokens`;
  switch (name) {
    case 'name':
      return isTokens ? 'admin' : unique('invalid-requests');
    case 'password':
      return isTokens ? adminPassword : 'password-123';
    case 'project':
      return r.adminProjectName;
    case 'project_id':
      return r.projectId;
    case 'role':
      return 'member';
    case 'description':
      return 'set by the invalid-requests test';
    case 'size_bytes':
      return 2 * MiB;
    case 'source_snapshot_id':
      return r.snapshotId;
    case 'volume_ids':
    case 'add_volume_ids':
      return [r.volumeId];
    case 'remove_volume_ids':
      return [r.memberVolumeId];
    case 'metadata':
      return { owner: 'tests' };
    case 'force':
      return true;
    case 'mode':
      return 'ro';
    case 'cron':
      return '0 * * * *';
    case 'timezone':
      return 'UTC';
    case 'retention':
      return { keep_last: 3 };
    case 'group_ids':
      return [r.groupId];
    default:
      return schemaValue(schema, r);
  }
}

/** A full valid body: every property the schema declares, each with a meaningful value. */
function validBody(op: Operation, r: Resources): Record<string, unknown> {
  const schema = op.body!.schema;
  return Object.fromEntries(Object.entries<Schema>(schema.properties ?? {}).map(([name, s]) => [name, bodyValue(op, name, s, r)]));
}

/** A valid query value (as text) for a query parameter. */
function queryValue(param: Param, r: Resources): string {
  const byName: Record<string, string> = {
    from: r.snapshotId,
    volume_id: r.volumeId,
    snapshot_id: r.snapshotId,
    group_id: r.groupId,
    group_snapshot_id: r.groupSnapshotId,
    target_id: r.volumeId,
    project_id: r.projectId,
  };
  return byName[param.name] ?? String(schemaValue(param.schema, r));
}

// ---------------------------------------------------------------------------------------------
// Invalid requests.

/** A body too large to accept, built only when sent so that a counterexample stays readable. */
interface OversizeBody {
  oversizeBytes: number;
}

/** One generated invalid request; fast-check prints this as the counterexample. */
interface InvalidRequest {
  operation: string;
  mutation: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  /** Raw payload; undefined sends none. */
  body?: string | OversizeBody;
  /** The codes this mutation calls for, and the field the error must name (validation codes). */
  expect: { codes: string[]; field?: string; fieldPrefix?: boolean };
}

interface Template {
  operation: string;
  mutation: string;
  /** Canonical bad values: the sweep sends each one. */
  candidates: unknown[];
  /** More bad values for the property run. */
  generated?: fc.Arbitrary<unknown>;
  build(value: unknown): InvalidRequest;
}

interface Checkers {
  /** Is this body valid for the operation's body schema (as published)? */
  bodyValid(op: Operation, body: unknown): boolean;
  /** Is this text valid for the parameter (coerced as query strings and path params are)? */
  paramValid(param: Param, text: string): boolean;
}

function makeCheckers(): Checkers {
  const make = (coerceTypes: boolean) => {
    const ajv = new Ajv({ coerceTypes, strict: false, allErrors: false });
    addFormats.default(ajv);
    return ajv;
  };
  const strictAjv = make(false);
  const coercingAjv = make(true);
  const bodies = new Map<Schema, ValidateFunction>();
  const params = new Map<Schema, ValidateFunction>();
  return {
    bodyValid(op, body) {
      const schema = op.body!.schema;
      let validate = bodies.get(schema);
      if (validate === undefined) bodies.set(schema, (validate = strictAjv.compile(schema)));
      return validate(structuredClone(body)) === true;
    },
    paramValid(param, text) {
      let validate = params.get(param.schema);
      if (validate === undefined) {
        validate = coercingAjv.compile({ type: 'object', properties: { v: param.schema }, required: ['v'] });
        params.set(param.schema, validate);
      }
      return validate({ v: text }) === true;
    },
  };
}

/** The operation's URL; `overrides` replace path parameters (percent-encoded, unless `raw`). */
function urlOf(op: Operation, r: Resources, overrides: Record<string, string> = {}, query = '', raw = false): string {
  const path = op.template.replace(/\{([^}]+)\}/g, (_, name: string) =>
    name in overrides && raw ? overrides[name] : encodeURIComponent(overrides[name] ?? pathValue(op.template, name, r)),
  );
  return query === '' ? path : `${path}?${query}`;
}

const bigPad = (bytes: number) => `{"pad":"${'x'.repeat(bytes)}"}`;
const withValue = (body: Record<string, unknown>, name: string, value: unknown) => ({ ...body, [name]: value });
const without = (body: Record<string, unknown>, name: string) => Object.fromEntries(Object.entries(body).filter(([k]) => k !== name));

const NOT_UUIDS = ['not-a-uuid', '12345', '0', 'null', 'current', 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz', '123e4567-e89b-12d3-a456-42661417400', '123e4567e89b12d3a456426614174000', '{123e4567-e89b-12d3-a456-426614174000}', ' 123e4567-e89b-12d3-a456-426614174000', 'x'.repeat(300)];
const NOT_DATE_TIMES = ['yesterday', '2026-13-45T25:61:00Z', '2026-11-23', '2026-11-23 10:00:00', '1700000000', 'Mon, 23 Nov 2026 10:00:00 GMT'];
const MALFORMED_JSON = ['{', '{"', '{"name": }', "{'name': 'x'}", '{"name":"x",}', '{"a":1}}', '[1,2', 'nul', 'undefined', 'NaN', '   ', '', '{"name":"x"}garbage', '\u0000'];
const WRONG_CONTENT_TYPES = ['application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=strata', 'application/octet-stream', 'application/jsonx', 'application/merge-patch+json', 'text/json', 'text/html'];

/** Values of a JSON type the schema does not accept. */
function wrongTypeValues(schema: Schema, valid: unknown): unknown[] {
  const types = typesOf(schema);
  if (types.size === 0) return [];
  const out: unknown[] = [];
  if (!types.has('string')) out.push('text', typeof valid === 'number' || typeof valid === 'boolean' ? String(valid) : '1');
  if (!types.has('integer')) out.push(42, -7);
  else if (!types.has('number')) out.push(1.5, (typeof valid === 'number' ? valid : 0) + 0.5);
  if (!types.has('boolean')) out.push(true, false);
  if (!types.has('null')) out.push(null);
  if (!types.has('array')) out.push([], [valid]);
  if (!types.has('object')) out.push({}, { value: valid });
  return out;
}

/** Values of the right type that break a range keyword (the ajv keywords the API maps to OUT_OF_RANGE). */
function outOfRangeValues(schema: Schema, valid: unknown): unknown[] {
  const s = mainAlternative(schema);
  const types = typesOf(s);
  const out: unknown[] = [];
  if (types.has('integer') || types.has('number')) {
    const step = typeof s.multipleOf === 'number' ? s.multipleOf : types.has('number') && !types.has('integer') ? 0.5 : 1;
    if (typeof s.minimum === 'number') out.push(s.minimum - step, s.minimum - 1000 * step);
    if (typeof s.exclusiveMinimum === 'number') out.push(s.exclusiveMinimum);
    if (typeof s.maximum === 'number') out.push(s.maximum + step, 1e300);
    if (typeof s.exclusiveMaximum === 'number') out.push(s.exclusiveMaximum);
    if (typeof s.multipleOf === 'number' && typeof valid === 'number') out.push(valid + (Number.isInteger(s.multipleOf) && s.multipleOf > 1 ? 1 : s.multipleOf / 2));
  }
  if (types.has('string') && literalsOf(s) === null) {
    if (typeof s.minLength === 'number' && s.minLength > 0) out.push('x'.repeat(s.minLength - 1));
    if (typeof s.maxLength === 'number') out.push('x'.repeat(s.maxLength + 1), 'é'.repeat(s.maxLength + 1));
  }
  if (types.has('array')) {
    const item = Array.isArray(valid) && valid.length > 0 ? valid[0] : undefined;
    if (typeof s.minItems === 'number' && s.minItems > 0) out.push(Array.from({ length: s.minItems - 1 }, () => item));
    if (typeof s.maxItems === 'number' && item !== undefined) out.push(Array.from({ length: s.maxItems + 1 }, () => item));
  }
  if (types.has('object') && typeof s.maxProperties === 'number') {
    out.push(Object.fromEntries(Array.from({ length: s.maxProperties + 1 }, (_, i) => [`key${i}`, 'value'])));
  }
  return out;
}

/** Strings of the right type that break the format or the enum. */
function offFormatValues(schema: Schema): unknown[] {
  const literals = literalsOf(schema);
  if (literals !== null) {
    const first = String(literals[0]);
    return ['bogus', first.toUpperCase(), `${first} `, ` ${first}`, `${first}x`, ''].filter((v) => !literals.includes(v));
  }
  const s = mainAlternative(schema);
  if (s.format === 'uuid') return NOT_UUIDS;
  if (s.format === 'date-time') return NOT_DATE_TIMES;
  return [];
}

/** Every template for one operation. */
function templatesOf(op: Operation, r: Resources, checkers: Checkers): Template[] {
  const templates: Template[] = [];
  const auth = { authorization: `Bearer ${r.adminToken}` };
  const json = { ...auth, 'content-type': 'application/json' };
  const validPayload = () => (op.body === null ? undefined : JSON.stringify(validBody(op, r)));
  const base = (mutation: string, request: Omit<InvalidRequest, 'operation' | 'mutation' | 'method'>): InvalidRequest => ({
    operation: op.key,
    mutation,
    method: op.method,
    ...request,
  });
  const add = (template: Omit<Template, 'operation'>) => {
    if (template.candidates.length > 0) templates.push({ operation: op.key, ...template });
  };
  const sendsBody = (payload: string | undefined) => (payload === undefined ? {} : { body: payload });

  // Path parameters: not a UUID (or whatever else the parameter does not accept).
  for (const param of op.pathParams) {
    add({
      mutation: `path {${param.name}} invalid`,
      candidates: NOT_UUIDS.filter((v) => !checkers.paramValid(param, v)),
      generated: fc.string({ minLength: 1, maxLength: 40 }).filter((v) => !checkers.paramValid(param, v) && !/^\.{1,2}$/.test(v)),
      build: (value) => {
        const payload = validPayload();
        return base(`path {${param.name}} invalid`, {
          url: urlOf(op, r, { [param.name]: String(value) }),
          headers: payload === undefined ? auth : json,
          ...sendsBody(payload),
          expect: { codes: ['INVALID_ARGUMENT', 'NOT_FOUND'], field: param.name },
        });
      },
    });
    // Sent as is: percent-encoding that does not decode.
    add({
      mutation: `path {${param.name}} bad percent-encoding`,
      candidates: ['%zz', '%E0%A4%A'],
      build: (value) => {
        const payload = validPayload();
        return base(`path {${param.name}} bad percent-encoding`, {
          url: urlOf(op, r, { [param.name]: String(value) }, '', true),
          headers: payload === undefined ? auth : json,
          ...sendsBody(payload),
          // The URL is refused before routing, so no parameter can be named in error.field.
          expect: { codes: ['INVALID_ARGUMENT', 'NOT_FOUND'] },
        });
      },
    });
  }

  // Query parameters.
  if (op.query.length > 0) {
    const payload = validPayload();
    const headers = payload === undefined ? auth : json;
    const queryRequest = (mutation: string, query: string, expect: InvalidRequest['expect']) => base(mutation, { url: urlOf(op, r, {}, query), headers, ...sendsBody(payload), expect });
    const known = new Set(op.query.map((p) => p.name));
    for (const param of op.query) {
      const types = typesOf(mainAlternative(param.schema));
      const wrongType: string[] = [];
      if (types.has('integer')) wrongType.push('abc', '1.5', 'one', '1,2', 'true', '--1');
      if (types.has('boolean')) wrongType.push('maybe', 'yes', '2', 'on', 'TRUE ');
      const groups: [string, string[], string[]][] = [
        ['wrong type', wrongType, ['INVALID_ARGUMENT']],
        ['off format or enum', offFormatValues(param.schema).map(String), ['INVALID_ARGUMENT', 'OUT_OF_RANGE']],
        ['out of range', outOfRangeValues(param.schema, schemaValue(param.schema, r)).map(String).concat(types.has('integer') ? ['99999999999999999999999'] : []), ['OUT_OF_RANGE']],
      ];
      for (const [what, values, codes] of groups) {
        const mutation = `query ${param.name} ${what}`;
        add({
          mutation,
          candidates: values.filter((v) => !checkers.paramValid(param, v)),
          build: (value) => queryRequest(mutation, `${param.name}=${encodeURIComponent(String(value))}`, { codes, field: param.name }),
        });
      }
      const valid = queryValue(param, r);
      assert.ok(checkers.paramValid(param, valid), `${op.key}: the valid query value ${param.name}=${valid} is not valid`);
      add({
        mutation: `query ${param.name} repeated`,
        candidates: [valid],
        build: (value) => {
          const v = encodeURIComponent(String(value));
          return queryRequest(`query ${param.name} repeated`, `${param.name}=${v}&${param.name}=${v}`, { codes: ['INVALID_ARGUMENT'], field: param.name });
        },
      });
      if (param.name === 'page_token') {
        add({
          mutation: 'query page_token not a page token',
          candidates: ['garbage', 'eyJ4IjoxfQ', 'MTIzNDU2Nzg5MA==', 'W10', 'bnVsbA', '%%%', 'x'.repeat(512)],
          generated: fc.oneof(fc.base64String({ minLength: 4, maxLength: 200 }), fc.string({ minLength: 1, maxLength: 100 })).filter((v) => v.length > 0 && checkers.paramValid(param, v)),
          build: (value) => queryRequest('query page_token not a page token', `page_token=${encodeURIComponent(String(value))}`, { codes: ['INVALID_ARGUMENT'], field: 'page_token' }),
        });
      }
    }
    add({
      mutation: 'query unknown key',
      candidates: ['bogus', 'offset', 'page', 'per_page', 'project', 'LIMIT', 'id', 'deleted', 'all_projects', 'marker'].filter((k) => !known.has(k)),
      generated: fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/).filter((k) => !known.has(k)),
      build: (key) => queryRequest('query unknown key', `${encodeURIComponent(String(key))}=1`, { codes: ['UNKNOWN_FIELD'], field: String(key) }),
    });
  }

  // A body schema: property by property, then the body as a whole.
  if (op.body !== null) {
    const schema = op.body.schema;
    const good = validBody(op, r);
    assert.ok(checkers.bodyValid(op, good), `${op.key}: the valid body ${JSON.stringify(good)} is not valid for its own schema`);
    const bodyRequest = (mutation: string, body: unknown, expect: InvalidRequest['expect']) =>
      base(mutation, { url: urlOf(op, r), headers: json, body: JSON.stringify(body), expect });
    /** A property template; `checked` drops values the published schema accepts (a generator slip). */
    const property = (mutation: string, field: string, codes: string[], candidates: unknown[], put: (value: unknown) => unknown, checked = true, fieldPrefix = false) =>
      add({
        mutation,
        candidates: checked ? candidates.filter((v) => !checkers.bodyValid(op, put(v))) : candidates,
        build: (value) => bodyRequest(mutation, put(value), { codes, field, fieldPrefix }),
      });
    const properties = Object.entries<Schema>(schema.properties ?? {});
    for (const [name, s] of properties) {
      const valid = good[name];
      const put = (value: unknown) => withValue(good, name, value);
      property(`body ${name} wrong type`, name, ['INVALID_ARGUMENT'], wrongTypeValues(s, valid), put);
      property(`body ${name} out of range`, name, ['OUT_OF_RANGE'], outOfRangeValues(s, valid), put);
      property(`body ${name} off format or enum`, name, ['INVALID_ARGUMENT', 'OUT_OF_RANGE'], offFormatValues(s), put);
      if ((schema.required ?? []).includes(name)) {
        add({ mutation: `body ${name} missing`, candidates: [name], build: () => bodyRequest(`body ${name} missing`, without(good, name), { codes: ['MISSING_FIELD'], field: name }) });
      }
      const main = mainAlternative(s);
      if (typesOf(main).has('array') && main.items !== undefined && Array.isArray(valid) && valid.length > 0) {
        const putItem = (value: unknown) => withValue(good, name, [value, ...valid.slice(1)]);
        property(`body ${name}[0] wrong type`, `${name}.0`, ['INVALID_ARGUMENT'], wrongTypeValues(main.items, valid[0]), putItem);
        property(`body ${name}[0] off format or enum`, `${name}.0`, ['INVALID_ARGUMENT', 'OUT_OF_RANGE'], offFormatValues(main.items), putItem);
        property(`body ${name}[0] out of range`, `${name}.0`, ['OUT_OF_RANGE'], outOfRangeValues(main.items, valid[0]), putItem);
      }
      if (isRecord(main) && valid !== null && typeof valid === 'object') {
        const entry = Object.keys(valid)[0] ?? 'owner';
        const putEntry = (value: unknown) => withValue(good, name, { ...valid, [entry]: value });
        const valueSchema = main.additionalProperties as Schema;
        property(`body ${name}.${entry} wrong type`, `${name}.${entry}`, ['INVALID_ARGUMENT'], wrongTypeValues(valueSchema, 'v'), putEntry);
        property(`body ${name}.${entry} out of range`, `${name}.${entry}`, ['OUT_OF_RANGE'], outOfRangeValues(valueSchema, 'v'), putEntry);
      }
      if (name === 'metadata' && isRecord(main)) {
        // The limits on metadata keys (src/lib/limits.ts, and the TypeBox schema's key type) are
        // not in the published schema, so these are not checked against it.
        const putKey = (key: unknown) => withValue(good, name, { [String(key)]: 'value' });
        property(`body ${name} key out of range`, name, ['OUT_OF_RANGE', 'INVALID_ARGUMENT'], ['', 'k'.repeat(limits.control.metadataKeyLengthMax + 1)], putKey, false, true);
      }
    }
    const declared = new Set(properties.map(([name]) => name));
    add({
      mutation: 'body unknown property',
      candidates: ['extra', 'id', 'status', 'project_id', 'created_at', 'updated_at', 'Name', 'name ', 'engine_id', 'pool_id', 'owner'].filter((k) => !declared.has(k)),
      generated: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,20}$/).filter((k) => !declared.has(k) && k !== '__proto__'),
      build: (key) => bodyRequest('body unknown property', withValue(good, String(key), 'x'), { codes: ['UNKNOWN_FIELD'], field: String(key) }),
    });
    add({
      mutation: 'body not an object',
      candidates: [5, 'text', [], [good], null, true, 0].filter((v) => !checkers.bodyValid(op, v)),
      build: (value) => bodyRequest('body not an object', value, { codes: ['INVALID_ARGUMENT'], field: 'body' }),
    });
    add({
      mutation: 'body prototype key',
      candidates: ['__proto__', 'constructor'],
      build: (key) => {
        const text = JSON.stringify(good).replace(/^\{/, `{"${String(key)}":{"polluted":true}${Object.keys(good).length > 0 ? ',' : ''}`);
        return base('body prototype key', { url: urlOf(op, r), headers: json, body: text, expect: { codes: ['INVALID_JSON', 'UNKNOWN_FIELD', 'INVALID_ARGUMENT'] } });
      },
    });
    if (op.body.required) {
      add({
        mutation: 'body missing',
        candidates: ['none', 'content-type only'],
        build: (how) =>
          base('body missing', { url: urlOf(op, r), headers: how === 'none' ? auth : json, expect: { codes: ['INVALID_ARGUMENT', 'MISSING_FIELD', 'INVALID_JSON'] } }),
      });
    }
    add({
      mutation: 'content-type text/plain',
      candidates: ['text/plain', 'text/plain; charset=utf-8'],
      build: (type) => base('content-type text/plain', { url: urlOf(op, r), headers: { ...auth, 'content-type': String(type) }, body: JSON.stringify(good), expect: { codes: ['UNSUPPORTED_MEDIA_TYPE'] } }),
    });
  }

  // Any body-carrying method: not JSON, the wrong content type, too large.
  if (BODY_METHODS.has(op.method)) {
    const payload = validPayload() ?? '{}';
    add({
      mutation: 'body malformed JSON',
      candidates: [...MALFORMED_JSON, payload.slice(0, -1), `${payload}x`, `${payload},`],
      build: (text) => base('body malformed JSON', { url: urlOf(op, r), headers: json, body: String(text), expect: { codes: ['INVALID_JSON'] } }),
    });
    add({
      mutation: 'content-type wrong',
      candidates: [...WRONG_CONTENT_TYPES, 'none'],
      build: (type) =>
        base('content-type wrong', {
          url: urlOf(op, r),
          headers: type === 'none' ? auth : { ...auth, 'content-type': String(type) },
          body: payload,
          expect: { codes: ['UNSUPPORTED_MEDIA_TYPE'] },
        }),
    });
    add({
      mutation: 'body too large',
      candidates: [limits.control.httpBodyBytesMax + 1],
      build: (bytes) => base('body too large', { url: urlOf(op, r), headers: json, body: { oversizeBytes: Number(bytes) }, expect: { codes: ['LIMIT_EXCEEDED'] } }),
    });
  }
  return templates;
}

// ---------------------------------------------------------------------------------------------
// Sending and checking.

interface StateEntry {
  count: number;
  hash: string;
  rows: string[];
}
type State = Map<string, StateEntry>;

async function stateOf(h: Harness): Promise<State> {
  const db = h.database.db as unknown as Kysely<any>;
  const state: State = new Map();
  for (const [table, key] of STATE_TABLES) {
    const rows = await db.selectFrom(table).selectAll().orderBy(key).execute();
    const lines = rows.map((row) => JSON.stringify(Object.keys(row).sort().map((k) => [k, row[k]])));
    state.set(table, { count: rows.length, hash: createHash('sha256').update(lines.join('\n')).digest('hex'), rows: lines });
  }
  return state;
}

function stateDifferences(before: State, after: State): string[] {
  const out: string[] = [];
  for (const [table, a] of before) {
    const b = after.get(table)!;
    if (a.hash === b.hash) continue;
    const gone = a.rows.filter((row) => !b.rows.includes(row));
    const added = b.rows.filter((row) => !a.rows.includes(row));
    out.push(`${table}: ${a.count} → ${b.count} rows; changed from ${gone.slice(0, 2).join(' ') || '-'} to ${added.slice(0, 2).join(' ') || '-'}`.slice(0, 600));
  }
  return out;
}

const short = (text: string, max = 300) => (text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text);

function describeRequest(req: InvalidRequest): string {
  const body = req.body === undefined ? '' : typeof req.body === 'string' ? ` body=${short(JSON.stringify(req.body), 200)}` : ` body=<${req.body.oversizeBytes} bytes>`;
  const type = req.headers['content-type'] === undefined ? '' : ` content-type=${req.headers['content-type']}`;
  return `[${req.mutation}] ${req.method} ${req.url}${type}${body}`;
}

/**
 * The state after the last checked request, per harness: nothing else writes between two checks,
 * so it is the state before the next one (this halves the queries per request).
 */
const lastState = new WeakMap<Harness, State>();

/** Sends one invalid request; returns what is wrong with the answer (empty when all is well). */
async function check(h: Harness, req: InvalidRequest): Promise<string[]> {
  await h.plane.jobs.idle();
  const before = lastState.get(h) ?? (await stateOf(h));
  const payload = req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : bigPad(req.body.oversizeBytes);
  const response = await h.app.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, payload });
  await h.plane.jobs.idle();
  const after = await stateOf(h);
  lastState.set(h, after);

  const problems: string[] = [];
  const status = response.statusCode;
  let body: any = null;
  try {
    body = JSON.parse(response.body);
  } catch {
    problems.push(`the body is not JSON: ${short(response.body)}`);
  }
  if (status < 400 || status > 499) problems.push(`status ${status}, not 4xx`);
  const error = body?.error;
  if (error === null || typeof error !== 'object' || Array.isArray(error)) {
    problems.push(`the body is not {error: {...}}`);
  } else {
    const { code, message, request_id: requestId, field } = error;
    const extra = Object.keys(body).filter((k) => k !== 'error').concat(Object.keys(error).filter((k) => !['code', 'message', 'request_id', 'field'].includes(k)));
    if (extra.length > 0) problems.push(`the error body has keys beyond {error: {code, message, request_id, field}}: ${extra.join(', ')}`);
    if (typeof code !== 'string' || !(registeredCodes as string[]).includes(code)) problems.push(`code ${JSON.stringify(code)} is not registered`);
    else if (httpStatusOf[code as keyof typeof httpStatusOf] !== status) problems.push(`code ${code} is registered as HTTP ${httpStatusOf[code as keyof typeof httpStatusOf]}, sent with ${status}`);
    if (typeof message !== 'string' || message.length === 0) problems.push('error.message is not a non-empty string');
    if (typeof requestId !== 'string' || requestId.length === 0) problems.push('error.request_id is not a non-empty string');
    else if (response.headers['x-request-id'] !== requestId) problems.push(`error.request_id ${requestId} ≠ X-Request-Id ${String(response.headers['x-request-id'])}`);
    if (field !== undefined && typeof field !== 'string') problems.push('error.field is not a string');
    if (typeof code === 'string' && !req.expect.codes.includes(code)) problems.push(`code ${code}, expected ${req.expect.codes.join(' or ')}`);
    if (typeof code === 'string' && VALIDATION_CODES.has(code) && req.expect.field !== undefined) {
      const ok = req.expect.fieldPrefix === true ? typeof field === 'string' && (field === req.expect.field || field.startsWith(`${req.expect.field}.`)) : field === req.expect.field;
      if (!ok) problems.push(`error.field ${JSON.stringify(field)}, expected ${JSON.stringify(req.expect.field)}`);
    }
  }
  for (const difference of stateDifferences(before, after)) problems.push(`state changed: ${difference}`);
  if (problems.length === 0) return [];
  return [`${describeRequest(req)} → ${status} ${short(response.body)}: ${problems.join('; ')}`];
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

async function created(h: Harness, method: string, url: string, token: string, body?: unknown): Promise<any> {
  const response = await h.request(method, url, { token, body });
  assert.ok(response.status === 201 || response.status === 202 || response.status === 200, `${method} ${url}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

async function createResources(h: Harness): Promise<Resources> {
  const admin = h.adminToken;
  const current = await created(h, 'GET', `${API}/auth/tokens/current`, admin);
  const tenant = await h.tenant('invalid-requests-tenant');
  const tenantToken = await created(h, 'GET', `${API}/auth/tokens/current`, tenant.token);

  const volume = (await created(h, 'POST', `${API}/volumes`, admin, { name: 'subject', size_bytes: MiB })).volume;
  const member = (await created(h, 'POST', `${API}/volumes`, admin, { name: 'member', size_bytes: MiB })).volume;
  const snapshot = (await created(h, 'POST', `${API}/volumes/${volume.id}/snapshots`, admin, { name: 'snap', metadata: { owner: 'tests' } })).snapshot;
  const group = (await created(h, 'POST', `${API}/groups`, admin, { name: 'group', volume_ids: [member.id] })).group;
  const groupSnapshot = (await created(h, 'POST', `${API}/groups/${group.id}/snapshots`, admin, { name: 'group-snap' })).group_snapshot;
  const attachment = (await created(h, 'POST', `${API}/volumes/${volume.id}/attachments`, admin, { mode: 'ro' })).attachment;
  const scratch = (await created(h, 'POST', `${API}/volumes`, admin, { name: 'scratch', size_bytes: MiB })).volume;
  const job = (await created(h, 'DELETE', `${API}/volumes/${scratch.id}`, admin)).job;
  await h.plane.jobs.idle();
  const policy = (await created(h, 'POST', `${API}/policies`, admin, { name: 'policy', cron: '0 * * * *', retention: { keep_last: 1 }, volume_ids: [volume.id] })).policy;

  return {
    adminToken: admin,
    adminProjectId: current.project.id,
    adminProjectName: current.project.name,
    volumeId: volume.id,
    memberVolumeId: member.id,
    snapshotId: snapshot.id,
    groupId: group.id,
    groupSnapshotId: groupSnapshot.id,
    attachmentId: attachment.id,
    jobId: job.id,
    policyId: policy.id,
    projectId: tenant.projectId,
    userId: tenant.userId,
    tokenId: tenantToken.id,
  };
}

// ---------------------------------------------------------------------------------------------
// The tests.

for (const kind of databaseKinds()) {
  describe(`invalid requests are refused without side effects (${kind})`, () => {
    let h: Harness;
    let operations: Operation[];
    let resources: Resources;
    let templates: Template[];

    before(async () => {
      h = await createHarness(kind);
      const doc = await h.request('GET', `${API}/openapi.json`, { token: h.adminToken });
      assert.equal(doc.status, 200, JSON.stringify(doc.body));
      operations = operationsOf(doc.body).filter((op) => op.template.startsWith(`${API}/`));
      resources = await createResources(h);
      const checkers = makeCheckers();
      templates = operations.flatMap((op) => templatesOf(op, resources, checkers));
    });
    after(async () => {
      await h?.close();
    });

    test('the OpenAPI document has operations, and every path parameter names a real resource', async () => {
      assert.ok(operations.length >= 40, `only ${operations.length} operations in the OpenAPI document`);
      for (const op of operations) {
        for (const param of op.pathParams) assert.match(pathValue(op.template, param.name, resources), /^[0-9a-f-]{36}$/);
        // The valid form of each read of a single resource answers 200: the ids are real.
        if (op.method === 'GET' && op.pathParams.length > 0) {
          const response = await h.request('GET', urlOf(op, resources), { token: h.adminToken });
          assert.equal(response.status, 200, `${op.key} with the test's resources: ${response.status} ${JSON.stringify(response.body)}`);
        }
      }
      const uncovered = operations.filter((op) => !templates.some((t) => t.operation === op.key)).map((op) => op.key);
      // Only operations with no path parameter, query parameter or body have nothing to break here
      // (the unknown-query-key test below covers them).
      for (const key of uncovered) {
        const op = operations.find((o) => o.key === key)!;
        assert.ok(op.pathParams.length === 0 && op.query.length === 0 && op.body === null && !BODY_METHODS.has(op.method), `${key} has no invalid-request template`);
      }
    });

    test(`sweep: every operation × every mutation × ${sweepMode(kind) === 'all' ? 'every canonical bad value' : 'its first bad value'}`, async () => {
      const failures: string[] = [];
      let sent = 0;
      for (const template of templates) {
        for (const value of sweepMode(kind) === 'all' ? template.candidates : template.candidates.slice(0, 1)) {
          sent++;
          failures.push(...(await check(h, template.build(value))));
        }
      }
      const operationsHit = new Set(templates.map((t) => t.operation)).size;
      const summary = `${sent} invalid requests over ${operationsHit} operations and ${templates.length} (operation, mutation) pairs`;
      console.log(`# ${kind}: ${summary}; ${failures.length} failed`);
      if (failures.length > 0) assert.fail(`${failures.length} of ${summary} were not refused cleanly:\n${failures.join('\n')}`);
    });

    test(`property: random invalid requests (fast-check, seed ${SEED}, ${RUNS[kind]} runs)`, { skip: RUNS[kind] === 0 ? 'no runs requested' : false }, async () => {
      const byOperation = new Map<string, Template[]>();
      for (const t of templates) byOperation.set(t.operation, [...(byOperation.get(t.operation) ?? []), t]);
      const requestArbitrary: fc.Arbitrary<InvalidRequest> = fc.constantFrom(...byOperation.keys()).chain((operation) =>
        fc.constantFrom(...byOperation.get(operation)!).chain((template) => {
          const values = template.generated === undefined ? fc.constantFrom(...template.candidates) : fc.oneof(fc.constantFrom(...template.candidates), template.generated);
          return values.map((value) => template.build(value));
        }),
      );
      // One request per operation first, so that even a short run reaches every operation.
      const firsts = [...byOperation.values()].map((list) => [list[0].build(list[0].candidates[0])] as [InvalidRequest]);
      const seen = new Set<string>();
      await fc.assert(
        fc.asyncProperty(requestArbitrary, async (req) => {
          seen.add(req.operation);
          const problems = await check(h, req);
          if (problems.length > 0) throw new Error(problems.join('\n'));
        }),
        { seed: SEED, numRuns: RUNS[kind], examples: firsts, interruptAfterTimeLimit: 50_000 },
      );
      console.log(`# ${kind}: the property run reached ${seen.size} of ${byOperation.size} operations`);
    });

    test('operations that declare no query parameters refuse unknown query keys (reads only)', async () => {
      const failures: string[] = [];
      for (const op of operations.filter((o) => o.method === 'GET' && o.query.length === 0)) {
        for (const key of ['bogus', 'limit']) {
          const req: InvalidRequest = {
            operation: op.key,
            mutation: 'query key the operation does not declare',
            method: op.method,
            url: urlOf(op, resources, {}, `${key}=5`),
            headers: { authorization: `Bearer ${h.adminToken}` },
            expect: { codes: ['UNKNOWN_FIELD'], field: key },
          };
          failures.push(...(await check(h, req)));
        }
      }
      if (failures.length > 0) assert.fail(`${failures.length} requests with undeclared query keys were not refused:\n${failures.join('\n')}`);
    });
  });
}
