/**
 * The ZStack dialect (/zstack/v1) against the platform's own examples (seed 002 and
 * ../shared/reference/zstack-and-manila.md part A), on SQLite and PostgreSQL: login and
 * sessions, the async job convention end to end (202 + location → poll → result), the query
 * language, volumes, snapshots (create, query, update, revert, delete, batch delete), trees,
 * snapshot groups, every documented error in ZStack's formats, bad input refused with nothing
 * created, and isolation between projects.
 */
import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Caller } from '../../src/core/context.js';
import { adminPassword, type Harness, type Response } from '../api/harness.js';
import { arr, type ConformanceCase, type ConformanceRequest, lit, obj, oneOf, optional, runConformance, type Shape, shapeProblems } from './conformance.js';

// ---- shapes (reference A.3, A.5; seed 002) -------------------------------------------------

const hex32 = { pattern: /^[0-9a-f]{32}$/ } as const;
/** Gson's default Date text, e.g. "Nov 14, 2017 10:20:57 PM". */
const zdate = { pattern: /^[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d{2}:\d{2} (AM|PM)$/ } as const;
const schema: Shape = { record: 'string' };

const errorObject = (code: string): Shape => obj({ code: lit(code), description: 'string', details: 'string', cause: optional('any') });
const errorBody = (code: string): Shape => obj({ error: errorObject(code) });

const sessionShape = obj({
  uuid: hex32,
  accountUuid: hex32,
  userUuid: hex32,
  userType: 'string',
  expiredDate: zdate,
  createDate: zdate,
  noSessionEvaluation: 'boolean',
});

const snapshotShape = obj({
  uuid: hex32,
  name: 'string',
  description: 'string',
  type: oneOf(lit('Hypervisor'), lit('Storage')),
  volumeUuid: hex32,
  treeUuid: hex32,
  parentUuid: optional(hex32),
  primaryStorageUuid: hex32,
  primaryStorageInstallPath: 'string',
  volumeType: oneOf(lit('Root'), lit('Data'), lit('Memory'), lit('Cache')),
  format: 'string',
  latest: 'boolean',
  size: 'integer',
  state: oneOf(lit('Enabled'), lit('Disabled')),
  status: oneOf(lit('Creating'), lit('Ready'), lit('Deleting'), lit('Deleted')),
  createDate: zdate,
  lastOpDate: zdate,
  backupStorageRefs: arr(obj({ volumeSnapshotUuid: hex32, backupStorageUuid: hex32, installPath: 'string' })),
  distance: 'integer',
  groupUuid: optional(hex32),
});

const volumeShape = obj({
  uuid: hex32,
  name: 'string',
  description: 'string',
  primaryStorageUuid: hex32,
  vmInstanceUuid: optional(hex32),
  installPath: 'string',
  type: oneOf(lit('Root'), lit('Data')),
  format: 'string',
  size: 'integer',
  deviceId: optional('integer'),
  state: oneOf(lit('Enabled'), lit('Disabled')),
  status: 'string',
  createDate: zdate,
  lastOpDate: zdate,
  isShareable: 'boolean',
});

const leafShape = obj({ inventory: snapshotShape, parentUuid: optional(hex32), children: arr('any') });
const treeShape = obj({ uuid: hex32, volumeUuid: hex32, current: 'boolean', status: oneOf(lit('Creating'), lit('Completed'), lit('Failed')), tree: leafShape, createDate: zdate, lastOpDate: zdate });

const groupRefShape = obj({
  volumeSnapshotUuid: hex32,
  volumeSnapshotGroupUuid: hex32,
  deviceId: 'integer',
  snapshotDeleted: 'boolean',
  volumeUuid: hex32,
  volumeName: 'string',
  volumeType: oneOf(lit('Root'), lit('Data')),
  volumeSnapshotInstallPath: 'string',
  volumeSnapshotName: 'string',
  createDate: zdate,
  lastOpDate: zdate,
});
const groupShape = obj({
  uuid: hex32,
  snapshotCount: 'integer',
  name: 'string',
  description: 'string',
  vmInstanceUuid: optional(hex32),
  createDate: zdate,
  lastOpDate: zdate,
  volumeSnapshotRefs: arr(groupRefShape),
});
const memberResultShape = obj({ snapshotUuid: hex32, volumeUuid: hex32, success: 'boolean', error: optional(errorObject('SYS.1000')) });

const inventories = (item: Shape, withTotal = false): Shape => obj({ inventories: arr(item), ...(withTotal ? { total: 'integer' } : {}), schema });
const accepted: Shape = obj({ location: { pattern: /^http:\/\/[^/]+\/zstack\/v1\/api-jobs\/[0-9a-f]{32}$/ }, apiTimeout: 'integer' });

// ---- the context ---------------------------------------------------------------------------

const password = 'password-123';
const sha512 = (text: string) => createHash('sha512').update(text).digest('hex');
const hex = (id: string) => id.replace(/-/g, '');
const dashed = (h: string) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
const missingUuid = '0123456789abcdef0123456789abcdef';

interface Tenant {
  userName: string;
  /** A Strata token (native API). */
  token: string;
  /** A ZStack session uuid. */
  session: string;
  caller: Caller;
}

interface Context {
  h: Harness;
  a: Tenant;
  b: Tenant;
  reader: Tenant;
  /** Tenant A's VM: a group with a root and a data volume. */
  vm: { groupId: string; root: string; data: string };
  /** Tenant A's volume in no group. */
  standalone: string;
  /** Tenant A's volume with the chain q-alpha → q-beta → q-gamma, for queries. */
  queried: { volume: string; volumeName: string; alpha: string; beta: string; gamma: string };
  /** Scratch space between a case's request and its check. */
  scratch: Record<string, unknown>;
}

let tenants = 0;
async function tenant(h: Harness, role: 'member' | 'reader', projectId?: string): Promise<Tenant> {
  const userName = `zs-user-${++tenants}`;
  let project = projectId;
  if (project === undefined) {
    const created = await h.request('POST', '/api/v1/projects', { token: h.adminToken, body: { name: `zs-project-${tenants}` } });
    project = created.body.project.id as string;
  }
  const user = await h.request('POST', '/api/v1/users', { token: h.adminToken, body: { name: userName, password, project_id: project, role } });
  if (user.status !== 201) throw new Error(`user: ${JSON.stringify(user.body)}`);
  const token = await h.login(userName, password);
  const login = await h.request('PUT', '/zstack/v1/accounts/login', { body: { logInByAccount: { accountName: userName, password: sha512(password) } } });
  if (login.status !== 200) throw new Error(`login: ${JSON.stringify(login.body)}`);
  return { userName, token, session: login.body.inventory.uuid, caller: await h.plane.identity.authenticate(token) };
}

async function volume(h: Harness, t: Tenant, name: string): Promise<string> {
  const r = await h.request('POST', '/api/v1/volumes', { token: t.token, body: { name, size_bytes: 1024 * 1024 } });
  if (r.status !== 201) throw new Error(`volume: ${JSON.stringify(r.body)}`);
  return hex(r.body.volume.id);
}

async function snapshot(h: Harness, t: Tenant, volumeHex: string, name: string): Promise<string> {
  const created = await h.plane.snapshots.create(t.caller, dashed(volumeHex), { name });
  return hex(created.id);
}

async function setup(h: Harness): Promise<Context> {
  const a = await tenant(h, 'member');
  const b = await tenant(h, 'member');
  const reader = await tenant(h, 'reader', a.caller.projectId);
  const root = await volume(h, a, 'vm-root');
  const data = await volume(h, a, 'vm-data');
  const group = await h.request('POST', '/api/v1/groups', { token: a.token, body: { name: 'vm-1', volume_ids: [dashed(root), dashed(data)] } });
  if (group.status !== 201) throw new Error(`group: ${JSON.stringify(group.body)}`);
  const standalone = await volume(h, a, 'standalone');
  const queriedVolume = await volume(h, a, 'queried');
  const alpha = await snapshot(h, a, queriedVolume, 'q-alpha');
  const beta = await snapshot(h, a, queriedVolume, 'q-beta');
  const gamma = await snapshot(h, a, queriedVolume, 'q-gamma');
  return {
    h,
    a,
    b,
    reader,
    vm: { groupId: hex(group.body.group.id), root, data },
    standalone,
    queried: { volume: queriedVolume, volumeName: 'queried', alpha, beta, gamma },
    scratch: {},
  };
}

// ---- request and expectation helpers -------------------------------------------------------

const oauth = (t: Tenant) => ({ authorization: `OAuth ${t.session}` });

/** A request to the dialect as tenant `t` (A by default). */
function zs(method: string, path: string, options: { body?: unknown; headers?: Record<string, string>; as?: (c: Context) => Tenant } = {}) {
  return (c: Context): ConformanceRequest => ({
    method,
    url: `/zstack/v1${path}`,
    headers: { ...oauth((options.as ?? ((x) => x.a))(c)), ...options.headers },
    body: options.body,
  });
}

/** Follows an async API's location until it stops answering 202. */
async function settle(h: Harness, accepted: Response, headers: Record<string, string>): Promise<Response> {
  const path = new URL(accepted.body.location as string).pathname;
  for (let i = 0; i < 500; i++) {
    const r = await h.request('GET', path, { headers });
    if (r.status !== 202) return r;
    await h.plane.jobs.idle();
    await delay(2);
  }
  throw new Error(`the job at ${path} never finished`);
}

type Check = (r: Response, c: Context, h: Harness) => string[] | Promise<string[]>;

/**
 * The async convention: 202 with the location, then the job's result (status and shape,
 * polled as tenant `as`), then `check` on that result.
 */
function job(status: number, shape: Shape, check?: Check, as: (c: Context) => Tenant = (c) => c.a): ConformanceCase<Context>['expect'] {
  return {
    status: 202,
    shape: accepted,
    headers: { location: /\/zstack\/v1\/api-jobs\/[0-9a-f]{32}$/ },
    check: async (r, c, h) => {
      const result = await settle(h, r, oauth(as(c)));
      const problems = result.status === status ? shapeProblems(result.body, shape) : [`job result ${result.status}, expected ${status}`];
      if (problems.length > 0) return [`job result: ${result.status} ${JSON.stringify(result.body)}`, ...problems];
      return check === undefined ? [] : check(result, c, h);
    },
  };
}

/** The job fails with this ZStack code, its details matching `details`, and `check` holds. */
function jobError(code: string, details?: RegExp, check?: Check): ConformanceCase<Context>['expect'] {
  return job(503, errorBody(code), async (r, c, h) => [...detailsProblems(r, details), ...(check === undefined ? [] : await check(r, c, h))]);
}

function detailsProblems(r: Response, details?: RegExp): string[] {
  if (details === undefined) return [];
  const text = r.body?.error?.details as string;
  return details.test(text) ? [] : [`error details ${JSON.stringify(text)} do not match ${details}`];
}

/** A synchronous failure: 503 with the error object. */
function syncError(code: string, details?: RegExp): ConformanceCase<Context>['expect'] {
  return { status: 503, shape: errorBody(code), check: (r) => detailsProblems(r, details) };
}

/** A REST-layer refusal: a status and exactly this plain text. */
function restError(status: number, text: string | RegExp): ConformanceCase<Context>['expect'] {
  return {
    status,
    headers: { 'content-type': /^text\/plain/ },
    check: (r) => (typeof text === 'string' ? r.body === text : typeof r.body === 'string' && text.test(r.body)) ? [] : [`body ${JSON.stringify(r.body)}, expected ${String(text)}`],
  };
}

const snapshotsOf = async (c: Context, volumeHex: string) => (await c.h.plane.snapshots.list(c.a.caller, { volumeId: dashed(volumeHex), limit: 1000 })).items;
const groupSnapshotCount = async (c: Context) => (await c.h.plane.groups.listSnapshots(c.a.caller, { limit: 1000 })).items.length;

/** Records the number of snapshots of a volume before the request, for `nothingCreated`. */
const counting = (volumeOf: (c: Context) => string, request: (c: Context) => ConformanceRequest) => async (c: Context) => {
  c.scratch.counted = volumeOf(c);
  c.scratch.before = (await snapshotsOf(c, volumeOf(c))).length;
  c.scratch.groupsBefore = await groupSnapshotCount(c);
  return request(c);
};
const nothingCreated: Check = async (_r, c) => {
  const after = (await snapshotsOf(c, c.scratch.counted as string)).length;
  const groupsAfter = await groupSnapshotCount(c);
  const problems = [];
  if (after !== c.scratch.before) problems.push(`the volume has ${after} snapshots, had ${String(c.scratch.before)}`);
  if (groupsAfter !== c.scratch.groupsBefore) problems.push(`the project has ${groupsAfter} snapshot groups, had ${String(c.scratch.groupsBefore)}`);
  return problems;
};

/** Names of the inventories of a query reply. */
const names = (r: Response) => (r.body.inventories as Array<{ name: string }>).map((i) => i.name);
const selects =
  (...expected: string[]): Check =>
  (r) => {
    const got = names(r);
    return JSON.stringify(got) === JSON.stringify(expected) ? [] : [`selected ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`];
  };

/** A query over the queried volume's chain with more conditions. */
const queryChain = (extra: string) => (c: Context) => zs('GET', `/volume-snapshots?q=volumeUuid=${c.queried.volume}&${extra}`)(c);

/** A fresh snapshot of a tenant-A volume, remembered as scratch.snapshot. */
const withSnapshot =
  (volumeOf: (c: Context) => string, request: (c: Context, snapshotHex: string) => ConformanceRequest | Promise<ConformanceRequest>) =>
  async (c: Context) => {
    const id = await snapshot(c.h, c.a, volumeOf(c), `s-${Date.now()}`);
    c.scratch.snapshot = id;
    return request(c, id);
  };

const snapshotExists = async (c: Context, id: string) => (await c.h.plane.snapshots.get(c.a.caller, dashed(id)).then(() => true, () => false));

/** Sets a snapshot's status through an admin token scoped to tenant A's project. */
async function forceStatus(c: Context, id: string, status: 'creating' | 'error'): Promise<void> {
  const admin = await c.h.plane.identity.authenticate(await c.h.login('admin', adminPassword, c.a.caller.projectId));
  await c.h.plane.snapshots.resetStatus(admin, dashed(id), status);
}

const A1 = 'reference zstack-and-manila.md A.1';
const A2 = 'reference zstack-and-manila.md A.2';
const A3 = 'reference zstack-and-manila.md A.3';
const A4 = 'reference zstack-and-manila.md A.4';
const A5 = 'reference zstack-and-manila.md A.5';
const seed = 'seed 002 QueryVolumeSnapshot';

// ---- the table -----------------------------------------------------------------------------

const cases: ConformanceCase<Context>[] = [
  // Login and sessions.
  {
    name: 'LogInByAccount with the SHA-512 hex of the password answers a session usable as OAuth',
    source: `${A1} LogInByAccount`,
    request: (c) => ({ method: 'PUT', url: '/zstack/v1/accounts/login', body: { logInByAccount: { accountName: c.a.userName, password: sha512(password) }, systemTags: [], userTags: [] } }),
    expect: {
      status: 200,
      shape: obj({ inventory: sessionShape }),
      check: async (r, _c, h) => {
        const q = await h.request('GET', '/zstack/v1/volume-snapshots', { headers: { authorization: `OAuth ${r.body.inventory.uuid}` } });
        return q.status === 200 ? [] : [`the new session does not work: ${q.status} ${JSON.stringify(q.body)}`];
      },
    },
  },
  {
    name: 'login with X-JSON-Schema carries the schema map',
    source: `${A1} optional request headers`,
    request: (c) => ({ method: 'PUT', url: '/zstack/v1/accounts/login', headers: { 'x-json-schema': 'true' }, body: { logInByAccount: { accountName: c.a.userName, password: sha512(password) } } }),
    expect: { status: 200, shape: obj({ inventory: sessionShape, schema: obj({ inventory: lit('org.zstack.header.identity.SessionInventory') }) }) },
  },
  {
    name: 'login with a wrong password is ID.1000',
    source: `${A3} ID.1000`,
    request: (c) => ({ method: 'PUT', url: '/zstack/v1/accounts/login', body: { logInByAccount: { accountName: c.a.userName, password: sha512('wrong') } } }),
    expect: syncError('ID.1000'),
  },
  {
    name: 'login with the plain password instead of its SHA-512 is ID.1000',
    source: `${A1} the password is sent as a SHA-512 hex digest`,
    request: (c) => ({ method: 'PUT', url: '/zstack/v1/accounts/login', body: { logInByAccount: { accountName: c.a.userName, password } } }),
    expect: syncError('ID.1000'),
  },
  {
    name: 'login without accountName is SYS.1007 mandatory field',
    source: `${A3} SYS.1007`,
    request: () => ({ method: 'PUT', url: '/zstack/v1/accounts/login', body: { logInByAccount: { password: sha512(password) } } }),
    expect: syncError('SYS.1007', /^field\[accountName\] of message\[org\.zstack\.header\.identity\.APILogInByAccountMsg\] is mandatory, can not be null$/),
  },
  {
    name: 'a body that is not JSON is refused at the REST layer',
    source: `${A1} other errors`,
    request: () => ({ method: 'PUT', url: '/zstack/v1/accounts/login', headers: { 'content-type': 'application/json' }, body: '{"logInByAccount": ' }),
    expect: restError(400, /^the body is not valid JSON/),
  },
  {
    name: "a request without Authorization is 400 missing header 'Authorization'",
    source: `${A1} authentication header`,
    request: () => ({ method: 'GET', url: '/zstack/v1/volume-snapshots' }),
    expect: restError(400, "missing header 'Authorization'"),
  },
  {
    name: "another Authorization scheme is 400 Authorization type must be 'OAuth'",
    source: `${A1} authentication header`,
    request: (c) => ({ method: 'GET', url: '/zstack/v1/volume-snapshots', headers: { authorization: `Bearer ${c.a.token}` } }),
    expect: restError(400, "Authorization type must be 'OAuth'"),
  },
  {
    name: 'an unknown session on a query is ID.1001',
    source: `${A1} unknown session`,
    request: () => ({ method: 'GET', url: '/zstack/v1/volume-snapshots', headers: { authorization: `OAuth ${missingUuid}` } }),
    expect: syncError('ID.1001'),
  },
  {
    name: 'an unknown session on an async API is accepted, then the job is ID.1001 and nothing is created',
    source: `${A1} unknown session is rejected by the API layer`,
    request: counting(
      (c) => c.standalone,
      (c) => ({ method: 'POST', url: `/zstack/v1/volumes/${c.standalone}/volume-snapshots`, headers: { authorization: `OAuth ${missingUuid}` }, body: { params: { name: 'x' } } }),
    ),
    expect: jobError('ID.1001', undefined, nothingCreated),
  },
  {
    name: 'a Strata token works as the OAuth session (stateless sessions)',
    source: `${A1} authentication header`,
    request: (c) => ({ method: 'GET', url: '/zstack/v1/volumes', headers: { authorization: `OAuth ${c.a.token}` } }),
    expect: { status: 200, shape: inventories(volumeShape) },
  },
  {
    name: 'ValidateSession needs a session; it answers valid for a live session of the caller and not for an unknown one',
    source: `${A1} sessions`,
    request: (c) => ({ method: 'GET', url: `/zstack/v1/accounts/sessions/${c.a.session}/valid`, headers: { authorization: `OAuth ${c.a.session}` } }),
    expect: {
      status: 200,
      shape: obj({ valid: lit(true) }),
      check: async (_r, c, h) => {
        const problems: string[] = [];
        const unknown = await h.request('GET', `/zstack/v1/accounts/sessions/${missingUuid}/valid`, { headers: { authorization: `OAuth ${c.a.session}` } });
        if (unknown.status !== 200 || unknown.body.valid !== false) problems.push(`unknown session: ${unknown.status} ${JSON.stringify(unknown.body)}`);
        const bare = await h.request('GET', `/zstack/v1/accounts/sessions/${c.a.session}/valid`);
        if (bare.status !== 400) problems.push(`without a session: ${bare.status} ${JSON.stringify(bare.body)}`);
        const wrong = await h.request('GET', `/zstack/v1/accounts/sessions/${c.a.session}/valid`, { headers: { authorization: `OAuth ${missingUuid}` } });
        if (wrong.status !== 503 || wrong.body?.error?.code !== 'ID.1001') problems.push(`with an invalid session: ${wrong.status} ${JSON.stringify(wrong.body)}`);
        return problems;
      },
    },
  },
  {
    name: 'LogOut ends the session: it is ID.1001 afterwards',
    source: `${A1} sessions`,
    request: async (c) => {
      const login = await c.h.request('PUT', '/zstack/v1/accounts/login', { body: { logInByAccount: { accountName: c.a.userName, password: sha512(password) } } });
      c.scratch.session = login.body.inventory.uuid;
      return { method: 'DELETE', url: `/zstack/v1/accounts/sessions/${login.body.inventory.uuid}` };
    },
    expect: {
      status: 200,
      shape: obj({}),
      check: async (_r, c, h) => {
        const q = await h.request('GET', '/zstack/v1/volumes', { headers: { authorization: `OAuth ${String(c.scratch.session)}` } });
        return q.status === 503 && q.body.error?.code === 'ID.1001' ? [] : [`after logout: ${q.status} ${JSON.stringify(q.body)}`];
      },
    },
  },

  // Volumes.
  {
    name: 'QueryVolume lists the project volumes; a VM (consistency group) has a Root volume at device 0 and Data volumes after it',
    source: `${A2} GET /zstack/v1/<resource>`,
    request: zs('GET', '/volumes'),
    expect: {
      status: 200,
      shape: inventories(volumeShape),
      check: (r, c) => {
        const byUuid = new Map((r.body.inventories as Array<Record<string, unknown>>).map((v) => [v.uuid, v]));
        const root = byUuid.get(c.vm.root);
        const data = byUuid.get(c.vm.data);
        const alone = byUuid.get(c.standalone);
        const problems = [];
        if (root?.type !== 'Root' || root?.deviceId !== 0 || root?.vmInstanceUuid !== c.vm.groupId) problems.push(`root volume: ${JSON.stringify(root)}`);
        if (data?.type !== 'Data' || data?.deviceId !== 1 || data?.vmInstanceUuid !== c.vm.groupId) problems.push(`data volume: ${JSON.stringify(data)}`);
        if (alone?.type !== 'Data' || 'vmInstanceUuid' in (alone ?? {})) problems.push(`standalone volume: ${JSON.stringify(alone)}`);
        return problems;
      },
    },
  },
  {
    name: 'QueryVolume by uuid answers that one volume',
    source: `${A2} GET /zstack/v1/<resource>/{uuid}`,
    request: (c) => zs('GET', `/volumes/${c.standalone}`)(c),
    expect: { status: 200, shape: inventories(volumeShape), check: (r, c) => (r.body.inventories.length === 1 && r.body.inventories[0].uuid === c.standalone ? [] : ['not the one volume']) },
  },
  {
    name: 'QueryVolume by a uuid that names nothing is an empty list',
    source: `${A2} GET /zstack/v1/<resource>/{uuid}`,
    request: zs('GET', `/volumes/${missingUuid}`),
    expect: { status: 200, shape: obj({ inventories: arr('any', 0), schema }), check: (r) => (r.body.inventories.length === 0 ? [] : ['not empty']) },
  },

  // Create.
  {
    name: 'CreateVolumeSnapshot answers 202 + location; polling gives the VolumeSnapshotInventory, the newest of its tree',
    source: `${A4} CreateVolumeSnapshot; ${seed}`,
    request: (c) => zs('POST', `/volumes/${c.queried.volume}/volume-snapshots`, { body: { params: { name: 'created', description: 'a snapshot for volume' }, systemTags: [], userTags: [] } })(c),
    expect: job(200, obj({ inventory: snapshotShape }), (r, c) => {
      const inventory = r.body.inventory;
      const problems = [];
      if (inventory.name !== 'created' || inventory.description !== 'a snapshot for volume') problems.push('name or description');
      if (inventory.volumeUuid !== c.queried.volume || inventory.parentUuid !== c.queried.gamma || inventory.treeUuid !== c.queried.alpha) problems.push('volume, parent or tree');
      if (inventory.latest !== true || inventory.status !== 'Ready' || inventory.state !== 'Enabled' || inventory.distance !== 3) problems.push('latest, status, state or distance');
      c.scratch.created = inventory.uuid;
      return problems;
    }),
  },
  {
    name: 'DeleteVolumeSnapshot of the snapshot just created leaves the chain as it was',
    source: `${A4} DeleteVolumeSnapshot`,
    request: (c) => zs('DELETE', `/volume-snapshots/${String(c.scratch.created)}`)(c),
    expect: job(200, obj({}), async (_r, c) => ((await snapshotExists(c, String(c.scratch.created))) ? ['still there'] : [])),
  },
  {
    name: 'X-Job-UUID names the job: the location ends with it',
    source: `${A1} optional request headers X-Job-UUID`,
    request: (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { name: 'with-job-uuid' } }, headers: { 'x-job-uuid': 'aaaabbbbccccddddeeeeffff00001111' } })(c),
    expect: {
      ...job(200, obj({ inventory: snapshotShape })),
      headers: { location: /\/zstack\/v1\/api-jobs\/aaaabbbbccccddddeeeeffff00001111$/ },
    },
  },
  {
    name: 'a duplicate X-Job-UUID is refused at the REST layer',
    source: `${A1} optional request headers X-Job-UUID`,
    request: (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { name: 'dup' } }, headers: { 'x-job-uuid': 'aaaabbbbccccddddeeeeffff00001111' } })(c),
    expect: restError(400, /X-Job-UUID/),
  },
  {
    name: 'a malformed X-Job-UUID is refused at the REST layer',
    source: `${A1} optional request headers X-Job-UUID`,
    request: (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { name: 'bad' } }, headers: { 'x-job-uuid': 'not-a-uuid' } })(c),
    expect: restError(400, "Invalid header[X-Job-UUID], it must be a UUID with '-' stripped"),
  },
  {
    name: 'create without name: SYS.1007 mandatory, nothing created',
    source: `${A4} CreateVolumeSnapshot name (required); ${A3} SYS.1007`,
    request: counting((c) => c.standalone, (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { description: 'no name' } } })(c)),
    expect: jobError('SYS.1007', /^field\[name\] of message\[org\.zstack\.header\.volume\.APICreateVolumeSnapshotMsg\] is mandatory, can not be null$/, nothingCreated),
  },
  {
    name: 'create without params at all: SYS.1007 mandatory, nothing created',
    source: `${A1} request body conventions`,
    request: counting((c) => c.standalone, (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: {} })(c)),
    expect: jobError('SYS.1007', /mandatory/, nothingCreated),
  },
  {
    name: 'create with a 256-character name: SYS.1007 max length, nothing created',
    source: `${A4} CreateVolumeSnapshot name ≤255`,
    request: counting((c) => c.standalone, (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { name: 'n'.repeat(256) } } })(c)),
    expect: jobError('SYS.1007', /exceeds max length of string\. expected was <= 255, actual was 256/, nothingCreated),
  },
  {
    name: 'create with a description over Strata’s 1024 characters: SYS.1007, nothing created',
    source: `${A4} CreateVolumeSnapshot description`,
    request: counting((c) => c.standalone, (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { name: 'd', description: 'd'.repeat(1025) } } })(c)),
    expect: jobError('SYS.1007', /field\[description\].*exceeds max length/, nothingCreated),
  },
  {
    name: 'create with a blank name: SYS.1007, nothing created',
    source: `${A3} SYS.1007`,
    request: counting((c) => c.standalone, (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { name: '   ' } } })(c)),
    expect: jobError('SYS.1007', /^field\[name\] cannot be an empty string$/, nothingCreated),
  },
  {
    name: 'create with a name that is not a string: SYS.1007, nothing created',
    source: `${A3} SYS.1007`,
    request: counting((c) => c.standalone, (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { name: 42 } } })(c)),
    expect: jobError('SYS.1007', /field\[name\]/, nothingCreated),
  },
  {
    name: 'create on a volume that does not exist: SYS.1003',
    source: `${A3} SYS.1003`,
    request: zs('POST', `/volumes/${missingUuid}/volume-snapshots`, { body: { params: { name: 'x' } } }),
    expect: jobError('SYS.1003', new RegExp(`^invalid field\\[volumeUuid\\], resource\\[uuid:${missingUuid}, type:VolumeVO\\] not found$`)),
  },
  {
    name: 'create with a malformed resourceUuid: SYS.1007, nothing created',
    source: `${A1} request body conventions resourceUuid`,
    request: counting((c) => c.standalone, (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { name: 'r', resourceUuid: 'not-a-uuid' } } })(c)),
    expect: jobError('SYS.1007', /^resourceUuid\[not-a-uuid\] is not a valid uuid/, nothingCreated),
  },
  {
    name: 'create with a well-formed resourceUuid: SYS.1014 (Strata chooses ids), nothing created',
    source: `${A1} request body conventions resourceUuid`,
    request: counting((c) => c.standalone, (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { name: 'r', resourceUuid: missingUuid } } })(c)),
    expect: jobError('SYS.1014', undefined, nothingCreated),
  },
  {
    name: 'create with tagUuids: SYS.1003 (no such tag), nothing created',
    source: `${A1} request body conventions tagUuids`,
    request: counting((c) => c.standalone, (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { name: 't', tagUuids: [missingUuid] } } })(c)),
    expect: jobError('SYS.1003', /TagPatternVO/, nothingCreated),
  },
  {
    name: 'create with a body that is not JSON: 400, nothing created',
    source: `${A1} other errors`,
    request: counting((c) => c.standalone, (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: '{"params": {', headers: { 'content-type': 'application/json' } })(c)),
    expect: { ...restError(400, /^the body is not valid JSON/), check: nothingCreated },
  },
  {
    name: 'a reader cannot create: ID.1002, nothing created',
    source: `${A3} ID.1002`,
    request: counting((c) => c.standalone, (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { name: 'reader' } }, as: (x) => x.reader })(c)),
    expect: job(503, errorBody('ID.1002'), nothingCreated, (c) => c.reader),
  },

  {
    name: 'a project over its snapshot quota: ID.1003, nothing created',
    source: `${A3} ID.1003`,
    request: async (c) => {
      const t = await tenant(c.h, 'member');
      const volumeHex = await volume(c.h, t, 'quota');
      const quota = await c.h.request('PUT', `/api/v1/projects/${t.caller.projectId}/quotas`, { token: c.h.adminToken, body: { snapshots_per_volume: 0 } });
      if (quota.status !== 200) throw new Error(`quota: ${JSON.stringify(quota.body)}`);
      c.scratch.quotaTenant = t;
      c.scratch.quotaVolume = volumeHex;
      return { method: 'POST', url: `/zstack/v1/volumes/${volumeHex}/volume-snapshots`, headers: oauth(t), body: { params: { name: 'over' } } };
    },
    expect: job(
      503,
      errorBody('ID.1003'),
      async (_r, c) => {
        const t = c.scratch.quotaTenant as Tenant;
        const { items } = await c.h.plane.snapshots.list(t.caller, { volumeId: dashed(String(c.scratch.quotaVolume)) });
        return items.length === 0 ? [] : ['a snapshot was created'];
      },
      (c) => c.scratch.quotaTenant as Tenant,
    ),
  },

  // Query.
  {
    name: 'QueryVolumeSnapshot answers the seed inventories with the schema map',
    source: seed,
    request: zs('GET', '/volume-snapshots'),
    expect: {
      status: 200,
      shape: inventories(snapshotShape),
      check: (r) => (r.body.schema['inventories[0]'] === 'org.zstack.header.storage.snapshot.VolumeSnapshotInventory' ? [] : [`schema ${JSON.stringify(r.body.schema)}`]),
    },
  },
  {
    name: 'QueryVolumeSnapshot by uuid answers that one snapshot',
    source: `${A4} QueryVolumeSnapshot /{uuid}`,
    request: (c) => zs('GET', `/volume-snapshots/${c.queried.beta}`)(c),
    expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-beta') },
  },
  { name: 'q with = selects equal values', source: `${A2} operators =`, request: queryChain('q=name=q-beta'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-beta') } },
  { name: 'q with != excludes a value', source: `${A2} operators !=`, request: queryChain('q=name!=q-beta'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-alpha', 'q-gamma') } },
  { name: 'q with ?= selects any of a comma-separated list', source: `${A2} operators ?=`, request: queryChain('q=name?=q-alpha,q-gamma'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-alpha', 'q-gamma') } },
  { name: 'q with !?= excludes a comma-separated list', source: `${A2} operators !?=`, request: queryChain('q=name!?=q-alpha,q-gamma'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-beta') } },
  { name: 'q with ~= is SQL LIKE', source: `${A2} operators ~=`, request: queryChain('q=name~=%25a%25a'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-alpha', 'q-gamma') } },
  { name: 'q with !~= is NOT LIKE', source: `${A2} operators !~=`, request: queryChain('q=name!~=q-_eta'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-alpha', 'q-gamma') } },
  { name: 'q with > on a number', source: `${A2} operators >`, request: queryChain('q=distance>0'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-beta', 'q-gamma') } },
  { name: 'q with < on a number', source: `${A2} operators <`, request: queryChain('q=distance<2'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-alpha', 'q-beta') } },
  { name: 'q with >= on a number', source: `${A2} operators >=`, request: queryChain('q=distance>=2'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-gamma') } },
  { name: 'q with <= on a number', source: `${A2} operators <=`, request: queryChain('q=distance<=0'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-alpha') } },
  { name: 'q with is null', source: `${A2} operators is null`, request: queryChain('q=parentUuid%20is%20null'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-alpha') } },
  { name: 'q with not null', source: `${A2} operators not null`, request: queryChain('q=parentUuid%20not%20null'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-beta', 'q-gamma') } },
  { name: 'q on a boolean field', source: `${A5} latest (Boolean)`, request: queryChain('q=latest=true'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-gamma') } },
  {
    name: 'q on an expanded field (volume.name)',
    source: `${A2} expanded (joined) fields`,
    request: (c) => zs('GET', `/volume-snapshots?q=volume.name=${c.queried.volumeName}`)(c),
    expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-alpha', 'q-beta', 'q-gamma') },
  },
  {
    name: 'q on a date compares times (createDate > epoch milliseconds)',
    source: `${A2} operators >; ${A5} createDate`,
    request: queryChain(`q=createDate>${Date.parse('2000-01-01T00:00:00Z')}`),
    expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-alpha', 'q-beta', 'q-gamma') },
  },
  { name: 'sort=-field sorts descending', source: `${A2} sort`, request: queryChain('sort=-distance'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-gamma', 'q-beta', 'q-alpha') } },
  { name: 'limit and start page the sorted matches', source: `${A2} limit, start`, request: queryChain('sort=%2Bdistance&limit=1&start=1'), expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-beta') } },
  { name: 'count=true answers only the total', source: `${A2} count`, request: queryChain('count=true'), expect: { status: 200, shape: obj({ total: lit(3), schema }) } },
  {
    name: 'replyWithCount=true answers the page and the total',
    source: `${A2} replyWithCount`,
    request: queryChain('replyWithCount=true&limit=1'),
    expect: { status: 200, shape: obj({ inventories: arr(snapshotShape), total: lit(3), schema }), check: (r) => (r.body.inventories.length === 1 ? [] : ['page size']) },
  },
  {
    name: 'fields=a,b answers only those fields',
    source: `${A2} fields`,
    request: queryChain('fields=uuid,name'),
    expect: { status: 200, shape: obj({ inventories: arr(obj({ uuid: hex32, name: 'string' }), 3), schema }) },
  },
  {
    name: 'groupBy is accepted and ignored',
    source: `${A2} groupBy`,
    request: queryChain('groupBy=volumeUuid'),
    expect: { status: 200, shape: inventories(snapshotShape), check: selects('q-alpha', 'q-beta', 'q-gamma') },
  },
  {
    name: 'a q without an operator is refused at the REST layer',
    source: `${A2} a condition without an operator`,
    request: zs('GET', '/volume-snapshots?q=name'),
    expect: restError(400, /^Invalid query parameter\. The 'name' in the parameter\[q\] doesn't contain any query operator\. Valid query operators are \[!=, >=, <=, !\?=, !~=, ~=, \?=, =, >, <, is null, not null\]$/),
  },
  { name: 'a non-integer limit is refused at the REST layer', source: `${A1} other errors; ${A2} limit`, request: zs('GET', '/volume-snapshots?limit=ten'), expect: restError(400, "Invalid query parameter. 'limit' must be an integer") },
  { name: 'a non-integer start is refused at the REST layer', source: `${A2} start`, request: zs('GET', '/volume-snapshots?start=x'), expect: restError(400, "Invalid query parameter. 'start' must be an integer") },
  { name: 'a condition on an unknown field is SYS.1007', source: `${A3} SYS.1007`, request: zs('GET', '/volume-snapshots?q=nope=1'), expect: syncError('SYS.1007', /nope/) },
  { name: 'a filterName without a colon is SYS.1007', source: `${A2} filterName`, request: zs('GET', '/volume-snapshots?filterName=x'), expect: syncError('SYS.1007', /filterName must be formatted as/) },

  // Trees.
  {
    name: 'QueryVolumeSnapshotTree answers each tree with its leaves, the current one marked',
    source: `${A4} QueryVolumeSnapshotTree; ${A5} VolumeSnapshotTreeInventory`,
    request: (c) => zs('GET', `/volume-snapshots/trees?q=volumeUuid=${c.queried.volume}`)(c),
    expect: {
      status: 200,
      shape: inventories(treeShape),
      check: (r, c) => {
        const [tree] = r.body.inventories;
        const chain: string[] = [];
        for (let leaf = tree?.tree; leaf !== undefined; leaf = leaf.children[0]) chain.push(leaf.inventory.uuid);
        const problems = [];
        if (r.body.inventories.length !== 1 || tree.uuid !== c.queried.alpha || tree.current !== true) problems.push('one current tree rooted at q-alpha');
        if (JSON.stringify(chain) !== JSON.stringify([c.queried.alpha, c.queried.beta, c.queried.gamma])) problems.push(`chain ${JSON.stringify(chain)}`);
        if (tree?.tree?.children?.[0]?.parentUuid !== c.queried.alpha) problems.push('parentUuid of the second leaf');
        return problems;
      },
    },
  },
  {
    name: 'QueryVolumeSnapshotTree by uuid answers that tree; a snapshot that is not a root is no tree',
    source: `${A4} QueryVolumeSnapshotTree /{uuid}`,
    request: (c) => zs('GET', `/volume-snapshots/trees/${c.queried.alpha}`)(c),
    expect: {
      status: 200,
      shape: obj({ inventories: arr(treeShape, 1), schema }),
      check: async (_r, c, h) => {
        const r = await h.request('GET', `/zstack/v1/volume-snapshots/trees/${c.queried.beta}`, { headers: oauth(c.a) });
        return r.status === 200 && r.body.inventories.length === 0 ? [] : [`non-root: ${JSON.stringify(r.body)}`];
      },
    },
  },

  // Update.
  {
    name: 'UpdateVolumeSnapshot renames through the action URL',
    source: `${A4} UpdateVolumeSnapshot`,
    request: withSnapshot((c) => c.standalone, (c, id) => zs('PUT', `/volume-snapshots/${id}/actions`, { body: { updateVolumeSnapshot: { name: 'renamed', description: 'new text' } } })(c)),
    expect: job(200, obj({ inventory: snapshotShape }), (r) => (r.body.inventory.name === 'renamed' && r.body.inventory.description === 'new text' ? [] : ['not renamed'])),
  },
  {
    name: 'UpdateVolumeSnapshot with an empty name is SYS.1007 and changes nothing',
    source: `${A3} SYS.1007`,
    request: withSnapshot((c) => c.standalone, (c, id) => zs('PUT', `/volume-snapshots/${id}/actions`, { body: { updateVolumeSnapshot: { name: '' } } })(c)),
    expect: jobError('SYS.1007', /cannot be an empty string/, async (_r, c) => {
      const s = await c.h.plane.snapshots.get(c.a.caller, dashed(String(c.scratch.snapshot)));
      return s.name.startsWith('s-') ? [] : [`name changed to ${s.name}`];
    }),
  },
  {
    name: 'UpdateVolumeSnapshot of a snapshot that does not exist is SYS.1003',
    source: `${A3} SYS.1003`,
    request: zs('PUT', `/volume-snapshots/${missingUuid}/actions`, { body: { updateVolumeSnapshot: { name: 'x' } } }),
    expect: jobError('SYS.1003', /type:VolumeSnapshotVO\] not found$/),
  },
  {
    name: 'an action URL whose body names no action is refused at the REST layer',
    source: `${A1} PUT action APIs`,
    request: (c) => zs('PUT', `/volume-snapshots/${c.queried.alpha}/actions`, { body: { somethingElse: {} } })(c),
    expect: restError(400, /^the body doesn't contain action mapping to the URL\[\/v1\/volume-snapshots\/[0-9a-f]{32}\/actions\]$/),
  },

  // Revert.
  {
    name: 'RevertVolumeFromSnapshot: 202, then {} once the core job is done; the volume is usable again',
    source: `${A4} RevertVolumeFromSnapshot`,
    request: withSnapshot((c) => c.standalone, (c, id) => zs('PUT', `/volume-snapshots/${id}/actions`, { body: { revertVolumeFromSnapshot: {} } })(c)),
    expect: job(200, obj({}), async (_r, c) => {
      const volume = await c.h.plane.volumes.get(c.a.caller, dashed(c.standalone));
      return volume.status === 'available' ? [] : [`volume is ${volume.status}`];
    }),
  },
  {
    name: 'revert while the volume has a read-write attachment is SYS.1006 (the VM is not Stopped)',
    source: `${A4} RevertVolumeFromSnapshot (VM must be Stopped)`,
    request: async (c) => {
      const id = await snapshot(c.h, c.a, c.vm.data, 'attached');
      const attachment = await c.h.request('POST', `/api/v1/volumes/${dashed(c.vm.data)}/attachments`, { token: c.a.token, body: {} });
      c.scratch.attachment = attachment.body.attachment.id;
      return zs('PUT', `/volume-snapshots/${id}/actions`, { body: { revertVolumeFromSnapshot: {} } })(c);
    },
    expect: jobError('SYS.1006', /^unable to reset volume\[uuid:[0-9a-f]{32}\] to snapshot\[uuid:[0-9a-f]{32}\], the vm\[uuid:[0-9a-f]{32}\] volume attached to is not in Stopped state/, async (_r, c) => {
      await c.h.request('DELETE', `/api/v1/attachments/${String(c.scratch.attachment)}`, { token: c.a.token });
      return [];
    }),
  },
  {
    name: 'revert to a snapshot whose status is not Ready is VOLUME_SNAPSHOT.1000',
    source: `${A3} VOLUME_SNAPSHOT.1000`,
    request: withSnapshot(
      (c) => c.standalone,
      async (c, id) => {
        await forceStatus(c, id, 'creating');
        return zs('PUT', `/volume-snapshots/${id}/actions`, { body: { revertVolumeFromSnapshot: {} } })(c);
      },
    ),
    expect: jobError('VOLUME_SNAPSHOT.1000', /status\[Creating\] is not allowed for message\[org\.zstack\.header\.storage\.snapshot\.APIRevertVolumeFromSnapshotMsg\], allowed status\[Ready\]/),
  },
  {
    name: 'revert to a Disabled snapshot (in error) is SYS.1006',
    source: `${A4} RevertVolumeFromSnapshot (state Enabled)`,
    request: withSnapshot(
      (c) => c.standalone,
      async (c, id) => {
        await forceStatus(c, id, 'error');
        return zs('PUT', `/volume-snapshots/${id}/actions`, { body: { revertVolumeFromSnapshot: {} } })(c);
      },
    ),
    expect: jobError('SYS.1006', /is in state Disabled, cannot revert volume to it$/),
  },
  {
    name: 'revert to a snapshot that does not exist is SYS.1003',
    source: `${A3} SYS.1003`,
    request: zs('PUT', `/volume-snapshots/${missingUuid}/actions`, { body: { revertVolumeFromSnapshot: {} } }),
    expect: jobError('SYS.1003'),
  },

  // Delete.
  {
    name: 'DeleteVolumeSnapshot: 202, then {}; the snapshot is gone',
    source: `${A4} DeleteVolumeSnapshot`,
    request: withSnapshot((c) => c.standalone, (c, id) => zs('DELETE', `/volume-snapshots/${id}?deleteMode=Permissive`)(c)),
    expect: job(200, obj({}), async (_r, c) => ((await snapshotExists(c, String(c.scratch.snapshot))) ? ['still there'] : [])),
  },
  {
    name: 'DeleteVolumeSnapshot of a snapshot that does not exist succeeds',
    source: `${A4} DeleteVolumeSnapshot successIfResourceNotExisting`,
    request: zs('DELETE', `/volume-snapshots/${missingUuid}`),
    expect: job(200, obj({})),
  },
  {
    name: 'DeleteVolumeSnapshot with a deleteMode that is not Permissive or Enforcing is SYS.1007, nothing deleted',
    source: `${A4} DeleteVolumeSnapshot deleteMode`,
    request: withSnapshot((c) => c.standalone, (c, id) => zs('DELETE', `/volume-snapshots/${id}?deleteMode=Bogus`)(c)),
    expect: jobError('SYS.1007', /^valid value for field\[deleteMode\] of message\[org\.zstack\.header\.storage\.snapshot\.APIDeleteVolumeSnapshotMsg\] are \[permissive, enforcing\], but Bogus found$/, async (_r, c) =>
      (await snapshotExists(c, String(c.scratch.snapshot))) ? [] : ['deleted anyway'],
    ),
  },
  {
    name: 'DeleteVolumeSnapshot of a Creating snapshot is VOLUME_SNAPSHOT.1000',
    source: `${A3} VOLUME_SNAPSHOT.1000`,
    request: withSnapshot(
      (c) => c.standalone,
      async (c, id) => {
        await forceStatus(c, id, 'creating');
        return zs('DELETE', `/volume-snapshots/${id}?deleteMode=Enforcing`)(c);
      },
    ),
    expect: jobError('VOLUME_SNAPSHOT.1000', /status\[Creating\]/),
  },

  // Batch delete.
  {
    name: 'BatchDeleteVolumeSnapshot deletes snapshots of one volume and reports each',
    source: `${A4} BatchDeleteVolumeSnapshot`,
    request: async (c) => {
      const ids = [await snapshot(c.h, c.a, c.standalone, 'b1'), await snapshot(c.h, c.a, c.standalone, 'b2')];
      c.scratch.batch = ids;
      return zs('PUT', '/volume-snapshots/batch-delete', { body: { batchDeleteVolumeSnapshot: { uuids: ids } } })(c);
    },
    expect: job(200, obj({ results: arr(obj({ snapshotUuid: hex32, success: lit(true) }), 2) }), async (r, c) => {
      const ids = c.scratch.batch as string[];
      const problems = [];
      if (JSON.stringify(r.body.results.map((x: { snapshotUuid: string }) => x.snapshotUuid)) !== JSON.stringify(ids)) problems.push('results not in request order');
      for (const id of ids) if (await snapshotExists(c, id)) problems.push(`${id} still there`);
      return problems;
    }),
  },
  {
    name: 'BatchDeleteVolumeSnapshot across volumes is SYS.1006, nothing deleted',
    source: `${A4} BatchDeleteVolumeSnapshot same volume`,
    request: async (c) => {
      const ids = [await snapshot(c.h, c.a, c.standalone, 'x1'), await snapshot(c.h, c.a, c.vm.root, 'x2')];
      c.scratch.batch = ids;
      return zs('PUT', '/volume-snapshots/batch-delete', { body: { batchDeleteVolumeSnapshot: { uuids: ids } } })(c);
    },
    expect: jobError('SYS.1006', /^not support delete snapshots on different volumes$/, async (_r, c) => {
      const ids = c.scratch.batch as string[];
      return (await Promise.all(ids.map((id) => snapshotExists(c, id)))).every(Boolean) ? [] : ['some deleted'];
    }),
  },
  {
    name: 'BatchDeleteVolumeSnapshot with an empty list is SYS.1007',
    source: `${A3} SYS.1007`,
    request: zs('PUT', '/volume-snapshots/batch-delete', { body: { batchDeleteVolumeSnapshot: { uuids: [] } } }),
    expect: jobError('SYS.1007', /^field\[uuids\] must be a nonempty list$/),
  },
  {
    name: 'BatchDeleteVolumeSnapshot without uuids is SYS.1007 mandatory',
    source: `${A3} SYS.1007`,
    request: zs('PUT', '/volume-snapshots/batch-delete', { body: {} }),
    expect: jobError('SYS.1007', /^field\[uuids\] of message\[org\.zstack\.header\.storage\.snapshot\.APIBatchDeleteVolumeSnapshotMsg\] is mandatory/),
  },
  {
    name: 'BatchDeleteVolumeSnapshot naming a snapshot that does not exist is SYS.1003, nothing deleted',
    source: `${A3} SYS.1003`,
    request: withSnapshot((c) => c.standalone, (c, id) => zs('PUT', '/volume-snapshots/batch-delete', { body: { batchDeleteVolumeSnapshot: { uuids: [id, missingUuid] } } })(c)),
    expect: jobError('SYS.1003', new RegExp(`resource\\[uuids:\\[${missingUuid}\\], type:VolumeSnapshotVO\\] not found`), async (_r, c) =>
      (await snapshotExists(c, String(c.scratch.snapshot))) ? [] : ['deleted anyway'],
    ),
  },

  // Snapshot groups.
  {
    name: 'CreateVolumeSnapshotGroup with the VM root volume snapshots every volume of the VM',
    source: `${A4} CreateVolumeSnapshotGroup official sample`,
    request: (c) => zs('POST', '/volume-snapshots/group', { body: { params: { rootVolumeUuid: c.vm.root, name: 'test' }, systemTags: [], userTags: [] } })(c),
    expect: job(200, obj({ inventory: groupShape }), (r, c) => {
      const inventory = r.body.inventory;
      c.scratch.group = inventory.uuid;
      const refs = inventory.volumeSnapshotRefs as Array<Record<string, unknown>>;
      const problems = [];
      if (inventory.snapshotCount !== 2 || inventory.vmInstanceUuid !== c.vm.groupId) problems.push('count or VM');
      const root = refs.find((x) => x.volumeUuid === c.vm.root);
      const data = refs.find((x) => x.volumeUuid === c.vm.data);
      if (root?.volumeType !== 'Root' || root?.deviceId !== 0 || data?.volumeType !== 'Data' || data?.deviceId !== 1) problems.push(`refs ${JSON.stringify(refs)}`);
      return problems;
    }),
  },
  {
    name: 'CreateVolumeSnapshotGroup with a volume in no VM snapshots that volume alone',
    source: `${A4} CreateVolumeSnapshotGroup`,
    request: (c) => zs('POST', '/volume-snapshots/group', { body: { params: { rootVolumeUuid: c.standalone, name: 'alone', description: 'one volume' } } })(c),
    expect: job(200, obj({ inventory: groupShape }), (r, c) =>
      r.body.inventory.snapshotCount === 1 && !('vmInstanceUuid' in r.body.inventory) && r.body.inventory.volumeSnapshotRefs[0].volumeUuid === c.standalone ? [] : ['not one standalone member'],
    ),
  },
  {
    name: 'CreateVolumeSnapshotGroup without rootVolumeUuid is SYS.1007, nothing created',
    source: `${A4} CreateVolumeSnapshotGroup rootVolumeUuid (required)`,
    request: counting((c) => c.vm.root, zs('POST', '/volume-snapshots/group', { body: { params: { name: 'x' } } })),
    expect: jobError('SYS.1007', /^field\[rootVolumeUuid\] of message\[org\.zstack\.header\.volume\.APICreateVolumeSnapshotGroupMsg\] is mandatory/, nothingCreated),
  },
  {
    name: 'CreateVolumeSnapshotGroup without name is SYS.1007, nothing created',
    source: `${A4} CreateVolumeSnapshotGroup name (required)`,
    request: counting((c) => c.vm.root, (c) => zs('POST', '/volume-snapshots/group', { body: { params: { rootVolumeUuid: c.vm.root } } })(c)),
    expect: jobError('SYS.1007', /field\[name\]/, nothingCreated),
  },
  {
    name: 'CreateVolumeSnapshotGroup with a root volume that does not exist is SYS.1003',
    source: `${A3} SYS.1003`,
    request: counting((c) => c.vm.root, zs('POST', '/volume-snapshots/group', { body: { params: { rootVolumeUuid: missingUuid, name: 'x' } } })),
    expect: jobError('SYS.1003', /invalid field\[rootVolumeUuid\]/, nothingCreated),
  },
  {
    name: 'CreateVolumeSnapshotGroup withMemory is SYS.1014, nothing created',
    source: `${A4} CreateVolumeSnapshotGroup withMemory`,
    request: counting((c) => c.vm.root, (c) => zs('POST', '/volume-snapshots/group', { body: { params: { rootVolumeUuid: c.vm.root, name: 'm', withMemory: true } } })(c)),
    expect: jobError('SYS.1014', /withMemory/, nothingCreated),
  },
  {
    name: 'CreateVolumeSnapshotGroup withMemory that is not a boolean is SYS.1007',
    source: `${A4} CreateVolumeSnapshotGroup withMemory (bool)`,
    request: counting((c) => c.vm.root, (c) => zs('POST', '/volume-snapshots/group', { body: { params: { rootVolumeUuid: c.vm.root, name: 'm', withMemory: 'yes' } } })(c)),
    expect: jobError('SYS.1007', /withMemory/, nothingCreated),
  },
  {
    name: 'QueryVolumeSnapshotGroup lists the groups; by uuid answers one',
    source: `${A4} QueryVolumeSnapshotGroup`,
    request: zs('GET', '/volume-snapshots/group'),
    expect: {
      status: 200,
      shape: inventories(groupShape),
      check: async (r, c, h) => {
        if (!(r.body.inventories as Array<{ uuid: string }>).some((g) => g.uuid === c.scratch.group)) return ['the VM group is missing'];
        const one = await h.request('GET', `/zstack/v1/volume-snapshots/group/${String(c.scratch.group)}`, { headers: oauth(c.a) });
        return one.status === 200 && one.body.inventories.length === 1 ? shapeProblems(one.body, inventories(groupShape)) : [`by uuid: ${JSON.stringify(one.body)}`];
      },
    },
  },
  {
    name: 'QueryVolumeSnapshotGroup with a condition on a member field',
    source: `${A2} expanded fields; ${A5} VolumeSnapshotGroupRefInventory`,
    request: (c) => zs('GET', `/volume-snapshots/group?q=volumeSnapshotRefs.volumeUuid=${c.vm.data}&q=name=test`)(c),
    expect: { status: 200, shape: inventories(groupShape), check: (r) => (r.body.inventories.length === 1 ? [] : [`${r.body.inventories.length} groups`]) },
  },
  {
    name: 'UpdateVolumeSnapshotGroup renames the group',
    source: `${A4} UpdateVolumeSnapshotGroup`,
    request: (c) => zs('PUT', `/volume-snapshots/group/${String(c.scratch.group)}/actions`, { body: { updateVolumeSnapshotGroup: { name: 'test-renamed' } } })(c),
    expect: job(200, obj({ inventory: groupShape }), (r) => (r.body.inventory.name === 'test-renamed' ? [] : ['not renamed'])),
  },
  {
    name: 'RevertVmFromSnapshotGroup reverts every member and reports each',
    source: `${A4} RevertVmFromSnapshotGroup`,
    request: (c) => zs('PUT', `/volume-snapshots/group/${String(c.scratch.group)}/actions`, { body: { revertVmFromSnapshotGroup: {} } })(c),
    expect: job(200, obj({ results: arr(memberResultShape, 2) }), (r) => ((r.body.results as Array<{ success: boolean }>).every((x) => x.success) ? [] : ['a member failed'])),
  },
  {
    name: 'RevertVmFromSnapshotGroup while a member is attached read-write is SYS.1006',
    source: `${A4} RevertVmFromSnapshotGroup (VM must be Stopped)`,
    request: async (c) => {
      const attachment = await c.h.request('POST', `/api/v1/volumes/${dashed(c.vm.root)}/attachments`, { token: c.a.token, body: {} });
      c.scratch.attachment = attachment.body.attachment.id;
      return zs('PUT', `/volume-snapshots/group/${String(c.scratch.group)}/actions`, { body: { revertVmFromSnapshotGroup: {} } })(c);
    },
    expect: jobError('SYS.1006', /not in Stopped state/, async (_r, c) => {
      await c.h.request('DELETE', `/api/v1/attachments/${String(c.scratch.attachment)}`, { token: c.a.token });
      return [];
    }),
  },
  {
    name: 'RevertVmFromSnapshotGroup of a group that does not exist is SYS.1003',
    source: `${A3} SYS.1003`,
    request: zs('PUT', `/volume-snapshots/group/${missingUuid}/actions`, { body: { revertVmFromSnapshotGroup: {} } }),
    expect: jobError('SYS.1003', /VolumeSnapshotGroupVO/),
  },
  {
    name: 'CheckVolumeSnapshotGroupAvailability answers available for a whole group',
    source: `${A4} CheckVolumeSnapshotGroupAvailability`,
    request: (c) => zs('GET', `/volume-snapshots/groups/availabilities?uuids=${String(c.scratch.group)}`)(c),
    expect: { status: 200, shape: obj({ results: arr(obj({ uuid: hex32, available: lit(true) }), 1) }) },
  },
  {
    name: 'CheckVolumeSnapshotGroupAvailability without uuids is SYS.1007',
    source: `${A3} SYS.1007`,
    request: zs('GET', '/volume-snapshots/groups/availabilities'),
    expect: syncError('SYS.1007', /mandatory/),
  },
  {
    name: 'DeleteVolumeSnapshotGroup deletes every member and reports each',
    source: `${A4} DeleteVolumeSnapshotGroup`,
    request: (c) => zs('DELETE', `/volume-snapshots/group/${String(c.scratch.group)}`)(c),
    expect: job(200, obj({ results: arr(memberResultShape, 2) }), async (_r, c, h) => {
      const r = await h.request('GET', `/zstack/v1/volume-snapshots/group/${String(c.scratch.group)}`, { headers: oauth(c.a) });
      return r.body.inventories.length === 0 ? [] : ['still there'];
    }),
  },

  // The job endpoint and unknown paths.
  { name: 'polling a job that does not exist is 404 the job has been expired', source: `${A1} asynchronous APIs`, request: zs('GET', `/api-jobs/${missingUuid}`), expect: restError(404, 'the job has been expired') },
  { name: 'any method but GET on a job is 405', source: `${A1} asynchronous APIs`, request: zs('POST', `/api-jobs/${missingUuid}`, { body: {} }), expect: restError(405, 'only GET method is allowed for querying job status') },
  { name: 'an unknown path is 404 no api mapping', source: `${A1} other errors`, request: zs('GET', '/nothing-here'), expect: restError(404, 'no api mapping to /v1/nothing-here') },

  // Isolation between projects.
  {
    name: 'another project sees none of these snapshots',
    source: 'interface.md identity (isolation)',
    request: zs('GET', '/volume-snapshots', { as: (c) => c.b }),
    expect: { status: 200, shape: inventories(snapshotShape), check: (r) => (r.body.inventories.length === 0 ? [] : [`sees ${r.body.inventories.length}`]) },
  },
  {
    name: 'another project asking for a snapshot by uuid gets an empty list',
    source: 'interface.md identity (isolation)',
    request: (c) => zs('GET', `/volume-snapshots/${c.queried.alpha}`, { as: (x) => x.b })(c),
    expect: { status: 200, shape: obj({ inventories: arr('any', 0), schema }), check: (r) => (r.body.inventories.length === 0 ? [] : ['visible']) },
  },
  {
    name: 'another project cannot snapshot this volume: SYS.1003, nothing created',
    source: 'interface.md identity (isolation)',
    request: counting((c) => c.standalone, (c) => zs('POST', `/volumes/${c.standalone}/volume-snapshots`, { body: { params: { name: 'intruder' } }, as: (x) => x.b })(c)),
    expect: job(503, errorBody('SYS.1003'), nothingCreated, (c) => c.b),
  },
  {
    name: "another project's poll of this project's job is 404",
    source: 'interface.md identity (isolation)',
    request: async (c) => {
      const r = await c.h.request('POST', `/zstack/v1/volumes/${c.standalone}/volume-snapshots`, { headers: oauth(c.a), body: { params: { name: 'mine' } } });
      return { method: 'GET', url: new URL(r.body.location).pathname, headers: oauth(c.b) };
    },
    expect: restError(404, 'the job has been expired'),
  },
  {
    name: "another project's delete of this snapshot 'succeeds' as for a missing one, and deletes nothing",
    source: 'interface.md identity (isolation); A.4 DeleteVolumeSnapshot',
    request: (c) => zs('DELETE', `/volume-snapshots/${c.queried.alpha}`, { as: (x) => x.b })(c),
    expect: job(200, obj({}), async (_r, c) => ((await snapshotExists(c, c.queried.alpha)) ? [] : ['deleted']), (c) => c.b),
  },
  {
    name: "another project's revert to this snapshot is SYS.1003",
    source: 'interface.md identity (isolation)',
    request: (c) => zs('PUT', `/volume-snapshots/${c.queried.alpha}/actions`, { body: { revertVolumeFromSnapshot: {} }, as: (x) => x.b })(c),
    expect: job(503, errorBody('SYS.1003'), undefined, (c) => c.b),
  },
  {
    name: "another project cannot snapshot this VM: SYS.1003, nothing created",
    source: 'interface.md identity (isolation)',
    request: counting((c) => c.vm.root, (c) => zs('POST', '/volume-snapshots/group', { body: { params: { rootVolumeUuid: c.vm.root, name: 'intruder' } }, as: (x) => x.b })(c)),
    expect: job(503, errorBody('SYS.1003'), nothingCreated, (c) => c.b),
  },
  {
    name: 'another project sees no volumes of this one',
    source: 'interface.md identity (isolation)',
    request: zs('GET', '/volumes', { as: (c) => c.b }),
    expect: { status: 200, shape: inventories(volumeShape), check: (r) => (r.body.inventories.length === 0 ? [] : [`sees ${r.body.inventories.length}`]) },
  },
];

runConformance<Context>({ dialect: 'zstack', setup, cases });
