/**
 * Invalid requests to every dialect route, generated from the route's own schema, are refused
 * in the platform's own error format, never with a 5xx, and change nothing.
 *
 * The test reads every route of the six dialects from the app (method, path, schema) and, from
 * each part of the schema (path parameters, query string, body; schema-mutations.ts), derives
 * requests that differ from a valid one in one place: a value of the wrong type, too long, out
 * of range, with too many items, a reserved name (`constructor`, `__proto__`, `prototype`) as a
 * key or a sort key, an unknown key where the object is closed. Only requests the schema
 * really refuses (with the app's own Ajv settings) are sent, authenticated as the admin, with
 * path parameters naming real resources (a volume, a snapshot, a group with a member, a group
 * snapshot), so a request let through would act.
 *
 * Each answer must be a 4xx in the platform's fault format (XSKY `{code, message}`, Cinder,
 * EVS and Manila `{"<fault>": {code, message}}` or EVS `{"error": {code, message}}`, DWS
 * `{error_code, error_msg}`, ZStack's REST-layer plain text), and every table of resources must
 * be as it was (tokens excepted).
 *
 * Two runs per database: a sweep reporting every failure at once (on SQLite every route × every
 * site × its first refused bad value; on PostgreSQL one site per route; a route
 * mounted under two bases goes through one), and a fast-check property choosing route, site and value
 * (an arbitrary JSON value when the schema refuses it, else a canonical bad value). Runs:
 * STRATA_DIALECT_FUZZ_RUNS (default 300 on SQLite, 60 on PostgreSQL), seed
 * STRATA_DIALECT_FUZZ_SEED; STRATA_DIALECT_FUZZ_LONG=1 sweeps every route under every base with
 * every bad value, and makes 20 times the runs. fast-check prints the seed and the failing request.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import type { Kysely } from 'kysely';
import { createHarness, type Harness } from '../api/harness.js';
import { databaseKinds, type DatabaseKind } from '../support/databases.js';
import { badValues, minimalValue, type Part, type Schema, setAt, type Site, sitesOf, Validators } from './schema-mutations.js';

const envInt = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  assert.ok(Number.isInteger(value) && value >= 0, `${name} must be a non-negative integer, not ${raw}`);
  return value;
};
const LONG = process.env.STRATA_DIALECT_FUZZ_LONG === '1';
const SEED = envInt('STRATA_DIALECT_FUZZ_SEED', 20261203);
const RUNS: Record<DatabaseKind, number> = { sqlite: envInt('STRATA_DIALECT_FUZZ_RUNS', 300) * (LONG ? 20 : 1), postgres: envInt('STRATA_DIALECT_FUZZ_RUNS', 60) * (LONG ? 20 : 1) };
const MiB = 1024 * 1024;
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
] as const;

// ---- the platforms: how to authenticate, and what their faults look like ---------------------

interface Reply {
  status: number;
  text: string;
  json: any;
  contentType: string;
}
const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** OpenStack: one key naming the fault, `{code, message}` under it. */
const openStackFault = (r: Reply) => isObject(r.json) && Object.keys(r.json).length === 1 && isObject(Object.values(r.json)[0]) && typeof (Object.values(r.json)[0] as any).message === 'string';

interface Dialect {
  prefix: string;
  headers(token: string): Record<string, string>;
  /** Problems with the fault format of a refusal. */
  format(r: Reply): string | null;
}
const dialects: Dialect[] = [
  { prefix: '/xsky', headers: (t) => ({ 'xms-auth-token': t }), format: (r) => (isObject(r.json) && typeof r.json.code === 'string' && typeof r.json.message === 'string' ? null : 'not an XMS {code, message}') },
  { prefix: '/cinder', headers: (t) => ({ 'x-auth-token': t, 'openstack-api-version': 'volume 3.71' }), format: (r) => (openStackFault(r) ? null : 'not a Cinder fault') },
  { prefix: '/evs', headers: (t) => ({ 'x-auth-token': t }), format: (r) => (openStackFault(r) ? null : 'not an EVS fault') },
  {
    prefix: '/manila',
    headers: (t) => ({ 'x-auth-token': t, 'x-openstack-manila-api-version': '2.55', 'x-openstack-manila-api-experimental': 'True' }),
    format: (r) => (openStackFault(r) ? null : 'not a Manila fault'),
  },
  { prefix: '/dws', headers: (t) => ({ 'x-auth-token': t }), format: (r) => (isObject(r.json) && /^DWS\.\d{4}$/.test(r.json.error_code) && typeof r.json.error_msg === 'string' ? null : 'not a DWS {error_code, error_msg}') },
  {
    prefix: '/zstack',
    headers: (t) => ({ authorization: `OAuth ${t}` }),
    format: (r) => (r.contentType.startsWith('text/plain') && r.text.length > 0 ? null : isObject(r.json?.error) && typeof r.json.error.code === 'string' ? null : 'not a ZStack refusal'),
  },
];

// ---- routes and requests ------------------------------------------------------------------------

interface Route {
  dialect: Dialect;
  method: string;
  url: string;
  names: string[];
  parts: Partial<Record<Part, Schema>>;
  sites: Site[];
}

interface Ids {
  token: string;
  projectId: string;
  volumeId: string;
  snapshotId: string;
  groupId: string;
  groupSnapshotId: string;
}

const hex = (uuid: string) => uuid.replace(/-/g, '');

/** A real value for a path parameter (the route's resource where the name says which). */
function paramValue(route: Route, name: string, ids: Ids): string {
  const zstack = route.dialect.prefix === '/zstack';
  const byUrl = () => (/group_snapshots|snapshots\/group|cgsnapshots|share-group-snapshots|clusters?\b.*snapshots|dws.*snapshots/.test(route.url) ? ids.groupSnapshotId : /group/.test(route.url) ? ids.groupId : /snapshot/.test(route.url) ? ids.snapshotId : ids.volumeId);
  switch (name) {
    case 'project_id':
    case 'tenant_id':
      return ids.projectId;
    case 'volume_id':
      return ids.volumeId;
    case 'snapshot_id':
      return route.dialect.prefix === '/dws' ? ids.groupSnapshotId : ids.snapshotId;
    case 'group_id':
    case 'cluster_id':
      return ids.groupId;
    case 'group_snapshot_id':
      return ids.groupSnapshotId;
    case 'key':
      return 'owner';
    case 'volumeUuid':
      return hex(ids.volumeId);
    case 'uuid':
    case 'id':
      if (route.dialect.prefix === '/xsky') return '1';
      if (/types/.test(route.url)) return 'default';
      return zstack ? hex(byUrl()) : byUrl();
    default:
      return ids.volumeId;
  }
}

interface InvalidRequest {
  route: Route;
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  what: string;
}

const queryText = (value: unknown): string[] => (Array.isArray(value) ? value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))) : [typeof value === 'string' ? value : JSON.stringify(value)]);

/**
 * The request with `value` at a value site (or `key` added at a key site), if the route's schema
 * refuses it; null when it does not (the coerced text of a number is a number, …).
 */
function requestOf(route: Route, site: Site, leaf: unknown, ids: Ids, validators: Validators): InvalidRequest | null {
  const params: Record<string, string> = Object.fromEntries(route.names.map((n) => [n, paramValue(route, n, ids)]));
  let query: Record<string, unknown> = (route.parts.querystring === undefined ? {} : minimalValue(route.parts.querystring)) as Record<string, unknown>;
  let body: unknown = route.parts.body === undefined ? undefined : minimalValue(route.parts.body);
  const path = site.kind === 'key' ? [...site.path, String(leaf)] : site.path;
  const value = site.kind === 'key' ? 'x' : leaf;
  if (site.part === 'params') {
    if (typeof value !== 'string' && typeof value !== 'number') return null;
    if (String(value) === '') return null;
    params[path[0]] = String(value);
  } else if (site.part === 'querystring') {
    if (isObject(value) || value === null || (Array.isArray(value) && value.some((v) => isObject(v) || Array.isArray(v)))) return null;
    // As the query string parses: no value is no parameter, one value is a string, more are a list.
    const texts = queryText(value);
    if (texts.length === 0) return null;
    query = setAt(query, path, texts.length === 1 ? texts[0] : texts) as Record<string, unknown>;
  } else {
    body = setAt(body, path, value);
  }
  const schemaOf = (part: Part) => route.parts[part];
  const refused =
    (site.part === 'params' && !validators.valid('params', schemaOf('params')!, params)) ||
    (site.part === 'querystring' && !validators.valid('querystring', schemaOf('querystring')!, query)) ||
    (site.part === 'body' && !validators.valid('body', schemaOf('body')!, body));
  if (!refused) return null;
  const url = route.url.replace(/:(\w+)/g, (_m, name: string) => encodeURIComponent(params[name]));
  const search = new URLSearchParams();
  for (const [name, v] of Object.entries(query)) for (const text of queryText(v)) search.append(name, text);
  const qs = search.toString();
  const headers = { ...route.dialect.headers(ids.token), ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
  const where = site.kind === 'key' ? `key ${JSON.stringify(leaf)} in ${site.part}${site.path.length === 0 ? '' : `.${site.path.join('.')}`}` : `${site.part}.${site.path.join('.')} = ${JSON.stringify(leaf)?.slice(0, 80)}`;
  return { route, method: route.method, url: qs === '' ? url : `${url}?${qs}`, headers, body: body === undefined ? undefined : JSON.stringify(body), what: where };
}

/** Every candidate bad value of a site (the key names of a key site). */
const candidatesOf = (site: Site): unknown[] => (site.kind === 'key' ? site.keys : badValues(site));

// ---- state and checks -------------------------------------------------------------------------

async function stateOf(h: Harness): Promise<string> {
  const db = h.database.db as unknown as Kysely<any>;
  const hash = createHash('sha256');
  for (const [table, key] of STATE_TABLES) {
    const rows = await db.selectFrom(table).selectAll().orderBy(key).execute();
    hash.update(`${table}\n${rows.map((row) => JSON.stringify(Object.keys(row).sort().map((k) => [k, row[k]]))).join('\n')}\n`);
  }
  return hash.digest('hex');
}

const lastState = new WeakMap<Harness, string>();

async function check(h: Harness, req: InvalidRequest): Promise<string[]> {
  await h.plane.jobs.idle();
  const before = lastState.get(h) ?? (await stateOf(h));
  const response = await h.app.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, payload: req.body });
  await h.plane.jobs.idle();
  const after = await stateOf(h);
  lastState.set(h, after);
  let json: unknown = null;
  try {
    json = JSON.parse(response.body);
  } catch {
    // plain text (ZStack's REST layer) or nothing
  }
  const reply: Reply = { status: response.statusCode, text: response.body, json, contentType: String(response.headers['content-type'] ?? '') };
  const problems: string[] = [];
  if (reply.status < 400 || reply.status > 499) problems.push(`status ${reply.status}, not 4xx`);
  const format = req.route.dialect.format(reply);
  if (format !== null) problems.push(format);
  if (before !== after) problems.push('the resources changed');
  if (problems.length === 0) return [];
  const body = req.body === undefined ? '' : ` body=${req.body.slice(0, 300)}`;
  return [`[${req.what}] ${req.method} ${req.url.slice(0, 300)}${body} → ${reply.status} ${reply.text.slice(0, 300)}: ${problems.join('; ')}`];
}

function routesOf(h: Harness): Route[] {
  const routes: Route[] = [];
  for (const r of h.app.strataRoutes) {
    const dialect = dialects.find((d) => r.url === d.prefix || r.url.startsWith(`${d.prefix}/`));
    if (dialect === undefined) continue;
    const schema = (r.schema ?? {}) as Record<string, Schema | undefined>;
    const names = [...r.url.matchAll(/:(\w+)/g)].map((m) => m[1]);
    const parts: Partial<Record<Part, Schema>> = { params: schema.params, querystring: schema.querystring, body: schema.body };
    const sites = [...sitesOf('params', parts.params, names), ...sitesOf('querystring', parts.querystring), ...sitesOf('body', parts.body)];
    routes.push({ dialect, method: r.method, url: r.url, names, parts, sites });
  }
  return routes;
}

async function createResources(h: Harness): Promise<Ids> {
  const token = h.adminToken;
  const post = async (url: string, body: unknown) => {
    const r = await h.request('POST', `/api/v1${url}`, { token, body });
    assert.ok(r.status === 201 || r.status === 202, `${url}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  };
  const current = (await h.request('GET', '/api/v1/auth/tokens/current', { token })).body;
  const volume = (await post('/volumes', { name: 'fuzz-volume', size_bytes: MiB, metadata: { owner: 'fuzz' } })).volume;
  const member = (await post('/volumes', { name: 'fuzz-member', size_bytes: MiB })).volume;
  const snapshot = (await post(`/volumes/${volume.id}/snapshots`, { name: 'fuzz-snapshot', metadata: { owner: 'fuzz' } })).snapshot;
  const group = (await post('/groups', { name: 'fuzz-group', volume_ids: [member.id] })).group;
  const groupSnapshot = (await post(`/groups/${group.id}/snapshots`, { name: 'fuzz-group-snapshot' })).group_snapshot;
  await h.plane.jobs.idle();
  return { token, projectId: current.project.id, volumeId: volume.id, snapshotId: snapshot.id, groupId: group.id, groupSnapshotId: groupSnapshot.id };
}

// ---- the tests --------------------------------------------------------------------------------

for (const kind of databaseKinds()) {
  describe(`dialect routes refuse invalid requests in their platform's format (${kind})`, () => {
    let h: Harness;
    let ids: Ids;
    let routes: Route[];
    const validators = new Validators();

    before(async () => {
      h = await createHarness(kind);
      ids = await createResources(h);
      routes = routesOf(h);
    });
    after(async () => {
      await h?.close();
    });

    test('every dialect route declares a schema for its path parameters and query string', () => {
      const missing = routes.filter((r) => r.parts.querystring === undefined || (r.names.length > 0 && r.parts.params === undefined)).map((r) => `${r.method} ${r.url}`);
      assert.ok(routes.length > 100, `only ${routes.length} dialect routes found`);
      assert.deepEqual(missing, [], `routes without a schema:\n${missing.join('\n')}`);
    });

    test(`sweep: ${LONG ? 'every route × every site × every bad value' : kind === 'sqlite' ? 'every route × every site × its first refused bad value' : 'every route × its first site'}`, async () => {
      const failures: string[] = [];
      let sent = 0;
      // The same route under another base (Cinder's /v3 and /v3/{project_id}, XSKY's /api/v1, EVS's v3)
      // shares its handler and schema: the short modes send it through one of them.
      const seen = new Set<string>();
      const alias = (r: Route) => `${r.method} ${r.url.replace(/\/api(?=\/v1\/)/, '').replace('/:project_id', '').replace(/^\/evs\/v3\//, '/evs/v2/')}`;
      for (const route of routes) {
        if (!LONG && seen.has(alias(route))) continue;
        seen.add(alias(route));
        const partsDone = new Set<string>();
        for (const site of route.sites) {
          if (!LONG && kind !== 'sqlite' && partsDone.size > 0) continue;
          for (const value of candidatesOf(site)) {
            const req = requestOf(route, site, value, ids, validators);
            if (req === null) continue;
            sent += 1;
            partsDone.add(site.part);
            failures.push(...(await check(h, req)));
            if (!LONG) break;
          }
        }
      }
      assert.ok(sent > 100, `only ${sent} invalid requests were generated`);
      console.log(`# ${sent} invalid requests to ${routes.length} dialect routes`);
      assert.deepEqual(failures, [], `${failures.length} of ${sent} invalid requests were not refused cleanly:\n${failures.slice(0, 40).join('\n')}`);
    });

    test(`property: random route, site and value (${RUNS[kind]} runs, seed ${SEED})`, async () => {
      const withSites = routes.filter((r) => r.sites.length > 0);
      const junk = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 300 }), fc.constantFrom('constructor', '__proto__', 'prototype', 'toString', 'hasOwnProperty', '-1', '1e400', ''));
      const details = await fc.check(
        fc.asyncProperty(fc.nat(), fc.nat(), fc.nat(), junk, async (r, s, c, value) => {
          const route = withSites[r % withSites.length];
          const site = route.sites[s % route.sites.length];
          const candidates = candidatesOf(site);
          const req = requestOf(route, site, value, ids, validators) ?? candidates.map((v, i) => requestOf(route, site, candidates[(c + i) % candidates.length], ids, validators)).find((x) => x !== null);
          if (req === null || req === undefined) return;
          const problems = await check(h, req);
          if (problems.length > 0) throw new Error(problems.join('\n'));
        }),
        { numRuns: RUNS[kind], seed: SEED },
      );
      assert.ok(!details.failed, `${fc.defaultReportMessage(details)}\n${(details.errorInstance as Error | null)?.message ?? ''}`);
    });
  });
}
