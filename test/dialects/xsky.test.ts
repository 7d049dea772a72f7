/**
 * XSKY dialect conformance: every route with the request the generated Go SDK sends (as
 * captured in ../shared/reference/xsky.md §7.4, or the seed's example), the response shape
 * the SDK accepts (exactly the keys the spec declares, at every level, with the spec's
 * types), every documented error, bad input refused in XSKY's error body with nothing
 * created, and project isolation (another project's ids are not found).
 */
import type { Caller } from '../../src/core/context.js';
import type { Harness, Response } from '../api/harness.js';
import { arr, type ConformanceCase, type ConformanceRequest, obj, optional, runConformance, type Shape } from './conformance.js';

// Models of xsky-openapi-subset.yaml. Every property is optional in the spec; `model` makes the
// ones Strata always emits required. Nested views Strata never emits (access_path, rbd_client,
// samples, …) are left out, so emitting one fails the shape.

const I = 'integer' as const;
const S = 'string' as const;
const B = 'boolean' as const;
const DT = 'date-time' as const;
const N = 'number' as const;

function model(fields: Record<string, Shape>, required: readonly string[] = []): Shape {
  return obj(Object.fromEntries(Object.entries(fields).map(([key, shape]) => [key, required.includes(key) ? shape : optional(shape)])));
}

const ClusterNest = model({ fs_id: S, id: I, name: S, status: S, type: S });
const PoolNest = model({ action_status: S, encrypt_enabled: B, id: I, name: S, numa_apply_policy: S, numa_bind_policy: S, numa_enabled: B, pool_type: S, status: S, stretched: B }, ['id', 'name']);
const RemoteClusterNest = model({ fs_id: S, id: I, name: S, remote_cluster_id: I, url: S });
const VolumeNest = model({ id: I, name: S, original_name: S, uid: S }, ['id', 'name']);
const SnapshotNest = model({ id: I, name: S, uid: S }, ['id']);
const ConsistentSnapshotNest = model({ id: I, snap_name: S }, ['id']);
const VolumeGroupSnapshotNest = model({ group_snapshot_name: S, id: I, name: S }, ['id']);
const VolumeGroupNest = model({ id: I, name: S }, ['id']);
const QosSpec = model({ burst_total_bw: I, burst_total_iops: I, max_total_bw: I, max_total_iops: I });

const ConsistentSnapshot = model({ cluster: ClusterNest, create: DT, description: S, id: I, snap_name: S, status: S }, ['id', 'snap_name', 'status', 'create']);

const Snapshot = model(
  {
    action_status: S,
    allocated_size: I,
    block_consistent_snapshot: ConsistentSnapshotNest,
    block_volume_group_snapshot: VolumeGroupSnapshotNest,
    cloned_block_volume_num: I,
    cluster: ClusterNest,
    create: DT,
    creator: S,
    description: S,
    hidden: B,
    id: I,
    name: S,
    passive: B,
    pool: PoolNest,
    protected: B,
    remote_cluster: RemoteClusterNest,
    reserved: B,
    size: I,
    snap_name: S,
    status: S,
    uid: S,
    update: DT,
    volume: VolumeNest,
  },
  ['id', 'name', 'status', 'action_status', 'create'],
);

const Volume = model(
  {
    action_status: S,
    allocated_size: I,
    alua_enabled: B,
    block_snapshot_num: I,
    block_volume_group: VolumeGroupNest,
    client_group_num: I,
    cluster: ClusterNest,
    crc_check: B,
    create: DT,
    description: S,
    dp_block_backup_policy_num: I,
    flattened: B,
    format: I,
    hidden: B,
    id: I,
    image_id: S,
    latest_snapshot_time: DT,
    migration_stripes: I,
    name: S,
    original_name: S,
    original_volume_name: S,
    passive: B,
    performance_priority: I,
    pool: PoolNest,
    progress: N,
    qos: QosSpec,
    qos_enabled: B,
    recycled: B,
    remote_cluster: RemoteClusterNest,
    replication_dest: S,
    replication_pool: S,
    replication_pool_id: I,
    replication_pool_name: S,
    replication_role: S,
    replication_status: S,
    replication_version: I,
    replication_volume: S,
    replication_volume_id: I,
    replication_volume_name: S,
    size: I,
    sn: S,
    snapshot: SnapshotNest,
    snapshot_replication_role: S,
    snapshot_replication_status: S,
    source_type: S,
    source_uuid: S,
    status: S,
    uid: S,
    update: DT,
    volume_name: S,
  },
  ['id', 'name', 'size', 'status', 'action_status', 'create'],
);

const VolumeGroup = model(
  {
    action_status: S,
    block_volume_group_snapshot: VolumeGroupSnapshotNest,
    block_volume_group_snapshot_num: I,
    block_volume_num: I,
    cluster: ClusterNest,
    create: DT,
    description: S,
    flattened: B,
    group_name: S,
    id: I,
    latest_snapshot_time: DT,
    name: S,
    passive: B,
    pool: PoolNest,
    progress: N,
    snapshot_replication_role: S,
    snapshot_replication_status: S,
    status: S,
    update: DT,
  },
  ['id', 'name', 'status', 'block_volume_num', 'create'],
);

const VolumeGroupSnapshot = model(
  {
    action_status: S,
    block_snapshot_num: I,
    block_volume_group: VolumeGroupNest,
    cloned_block_volume_group_num: I,
    cluster: ClusterNest,
    create: DT,
    creator: S,
    description: S,
    group_snapshot_name: S,
    id: I,
    name: S,
    passive: B,
    status: S,
    update: DT,
  },
  ['id', 'name', 'status', 'block_snapshot_num', 'create'],
);

const Pool = model(
  {
    action_status: S,
    allocated_size: I,
    bind_osd_num: I,
    block_volume_num: I,
    cache_pool: PoolNest,
    cluster: ClusterNest,
    coding_chunk_num: I,
    compress_algorithm: S,
    compressed: B,
    create: DT,
    data_chunk_num: I,
    data_pool: PoolNest,
    default_managed_volume_format: I,
    device_type: S,
    device_type_check_disabled: B,
    encrypt_enabled: B,
    failure_domain_type: S,
    hidden: B,
    id: I,
    inner_pool_id: I,
    io_bypass_enabled: B,
    io_bypass_mode: S,
    io_bypass_threshold: I,
    min_alloc_size: I,
    min_osd_num: I,
    name: S,
    numa_apply_policy: S,
    numa_bind_balanced: B,
    numa_bind_policy: S,
    numa_enabled: B,
    osd_num: I,
    osd_num_per_host: I,
    out_failure_domain_num: I,
    pool_id: I,
    pool_mode: S,
    pool_name: S,
    pool_role: S,
    pool_type: S,
    product_type: S,
    replicate_size: I,
    reserved_percent: N,
    size_per_osd: I,
    status: S,
    stretched: B,
    stripe_unit: I,
    sub_failure_domain_type: S,
    suggested_omap_size: I,
    thin_provisioned: B,
    tier_status: S,
    transport_mode: S,
    update: DT,
  },
  ['id', 'name', 'status'],
);

const User = model(
  { create: DT, email: S, enabled: B, external_id: S, force_password_change: B, id: I, identity_platform: model({ id: I, name: S }), name: S, password_last_update: DT, roles: arr(S), skip_guide: B },
  ['name'],
);
const TokenRecord = model({ create: DT, expires: DT, user: User, uuid: S, valid: B, roles: arr(S) }, ['uuid', 'valid', 'expires', 'user', 'roles']);

const TokenResp = obj({ token: TokenRecord });
const PoolResp = obj({ pool: Pool });
const PoolsResp = obj({ pools: arr(Pool) });
const VolumeResp = obj({ block_volume: Volume });
const VolumesResp = obj({ block_volumes: arr(Volume) });
const SnapshotResp = obj({ block_snapshot: Snapshot });
const SnapshotsResp = obj({ block_snapshots: arr(Snapshot) });
const ConsistentSnapshotResp = obj({ block_consistent_snapshot: ConsistentSnapshot });
const ConsistentSnapshotsResp = obj({ block_consistent_snapshots: arr(ConsistentSnapshot) });
const VolumeGroupResp = obj({ block_volume_group: VolumeGroup });
const VolumeGroupsResp = obj({ block_volume_groups: arr(VolumeGroup) });
const VolumeGroupSnapshotResp = obj({ block_volume_group_snapshot: VolumeGroupSnapshot });
const VolumeGroupSnapshotsResp = obj({ block_volume_group_snapshots: arr(VolumeGroupSnapshot) });
/** The spec declares no error body; the dialect's is `{"code", "message"}` (docs/dialects/xsky.md). */
const ErrorBody = obj({ code: S, message: S });

const json = { 'content-type': /^application\/json/ };
const GiB = 1024 * 1024 * 1024;
const password = 'password-123';

// Context: two projects with a member each, a reader in the first, and fixtures made through the dialect.

interface Project {
  token: string;
  userName: string;
  caller: Caller;
}

interface Context {
  h: Harness;
  a: Project;
  b: Project;
  reader: Project;
  /** Numeric ids of fixtures and of what earlier cases created. */
  id: Record<string, number>;
  /** Counts of project A's resources taken before a refused request. */
  before?: Counts;
}

interface Counts {
  volumes: number;
  snapshots: number;
  groups: number;
  groupSnapshots: number;
}

const base = '/xsky/v1';
const auth = (p: Project) => ({ 'xms-auth-token': p.token });

async function call(ctx: { h: Harness }, p: Project, method: string, path: string, body?: unknown): Promise<any> {
  const response = await ctx.h.request(method, `${base}${path}`, { headers: auth(p), body });
  if (response.status >= 300) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

async function project(h: Harness, name: string): Promise<Project> {
  const tenant = await h.tenant(name, 'member');
  const user = await h.plane.identity.authenticate(tenant.token);
  return { token: tenant.token, userName: user.userName, caller: user };
}

/** A user with the reader role in the same project as `of`. */
async function readerIn(h: Harness, of: Project): Promise<Project> {
  const name = `${of.userName}-reader`;
  const created = await h.request('POST', '/api/v1/users', { token: h.adminToken, body: { name, password, project_id: of.caller.projectId, role: 'reader' } });
  if (created.status !== 201) throw new Error(`reader: ${created.status} ${JSON.stringify(created.body)}`);
  const token = await h.login(name, password);
  return { token, userName: name, caller: await h.plane.identity.authenticate(token) };
}

async function counts(ctx: Context): Promise<Counts> {
  const { plane } = ctx.h;
  const c = ctx.a.caller;
  const n = async (list: Promise<{ total?: number }>) => (await list).total ?? -1;
  return {
    volumes: await n(plane.volumes.list(c, { limit: 1, withCount: true })),
    snapshots: await n(plane.snapshots.list(c, { limit: 1, withCount: true })),
    groups: await n(plane.groups.list(c, { limit: 1, withCount: true })),
    groupSnapshots: await n(plane.groups.listSnapshots(c, { limit: 1, withCount: true })),
  };
}

async function setup(h: Harness): Promise<Context> {
  const a = await project(h, 'xsky-a');
  const ctx: Context = { h, a, b: await project(h, 'xsky-b'), reader: await readerIn(h, a), id: {} };
  const volume = async (p: Project, name: string) => (await call(ctx, p, 'POST', '/block-volumes/', { block_volume: { name, pool_id: 1, size: GiB } })).block_volume.id as number;
  for (const name of ['vol1', 'vol2', 'vol3', 'vol4', 'vol5']) ctx.id[name] = await volume(ctx.a, name);
  ctx.id.snap1 = (await call(ctx, ctx.a, 'POST', '/block-snapshots/', { block_snapshot: { block_volume_id: ctx.id.vol1, description: '', name: 'snap1' } })).block_snapshot.id;
  ctx.id.cs1 = (await call(ctx, ctx.a, 'POST', '/block-consistent-snapshots/', { block_consistent_snapshot: { block_volume_ids: [ctx.id.vol1, ctx.id.vol2], name: 'cs-fixture' } })).block_consistent_snapshot.id;
  ctx.id.group1 = (await call(ctx, ctx.a, 'POST', '/block-volume-groups/', { block_volume_group: { name: 'group1', block_volume_ids: [ctx.id.vol3, ctx.id.vol4] } })).block_volume_group.id;
  ctx.id.gs1 = (await call(ctx, ctx.a, 'POST', '/block-volume-group-snapshots/', { block_volume_group_snapshot: { block_volume_group_id: ctx.id.group1, name: 'gs1', description: '' } })).block_volume_group_snapshot.id;
  ctx.id.otherVol = await volume(ctx.b, 'other-vol');
  ctx.id.otherSnap = (await call(ctx, ctx.b, 'POST', '/block-snapshots/', { block_snapshot: { block_volume_id: ctx.id.otherVol, description: '', name: 'other-snap' } })).block_snapshot.id;
  ctx.id.otherCs = (await call(ctx, ctx.b, 'POST', '/block-consistent-snapshots/', { block_consistent_snapshot: { block_volume_ids: [ctx.id.otherVol] } })).block_consistent_snapshot.id;
  ctx.id.otherGroup = (await call(ctx, ctx.b, 'POST', '/block-volume-groups/', { block_volume_group: { name: 'other-group' } })).block_volume_group.id;
  return ctx;
}

// Case builders.

type Case = ConformanceCase<Context>;
type Build = (ctx: Context) => ConformanceRequest | Promise<ConformanceRequest>;

const as = (p: (ctx: Context) => Project, method: string, path: (ctx: Context) => string, body?: (ctx: Context) => unknown): Build => (ctx) => ({
  method,
  url: `${base}${path(ctx)}`,
  headers: auth(p(ctx)),
  body: body?.(ctx),
});
const A = (ctx: Context) => ctx.a;
const Bp = (ctx: Context) => ctx.b;

function ok(name: string, source: string, request: Build, status: number, shape: Shape, check?: Case['expect']['check']): Case {
  return { name, source, request, expect: { status, shape, headers: json, check } };
}

/** A request XSKY refuses: its status, the error body (with `code` when given), and nothing created in project A. */
function refused(name: string, source: string, request: Build, status: number, code?: string): Case {
  return {
    name,
    source,
    request: async (ctx) => {
      ctx.before = await counts(ctx);
      return request(ctx);
    },
    expect: {
      status,
      shape: ErrorBody,
      headers: json,
      check: async (response, ctx) => {
        const problems: string[] = [];
        if (code !== undefined && response.body.code !== code) problems.push(`code ${response.body.code}, expected ${code}`);
        const after = await counts(ctx);
        if (JSON.stringify(after) !== JSON.stringify(ctx.before)) problems.push(`something changed: ${JSON.stringify(ctx.before)} → ${JSON.stringify(after)}`);
        return problems;
      },
    },
  };
}

const problemsIf = (condition: boolean, problem: string): string[] => (condition ? [problem] : []);
const ids = (items: Array<{ id: number }>) => items.map((i) => i.id);

async function settled(ctx: Context, p: Project, path: string): Promise<Response> {
  await ctx.h.plane.jobs.idle();
  return ctx.h.request('GET', `${base}${path}`, { headers: auth(p) });
}

// The table.

const authCases: Case[] = [
  ok(
    'CreateToken with a user name and password answers 201 TokenResp',
    'reference xsky.md §1 (captured request)',
    (ctx) => ({ method: 'POST', url: `${base}/auth/tokens`, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: { auth: { identity: { password: { user: { name: ctx.a.userName, password } } } } } }),
    201,
    TokenResp,
    async (response, ctx) => {
      const t = response.body.token;
      const works = await ctx.h.request('GET', `${base}/pools/`, { headers: { 'xms-auth-token': t.uuid } });
      return [...problemsIf(t.valid !== true, 'valid is not true'), ...problemsIf(t.user.name !== ctx.a.userName, 'user.name'), ...problemsIf(works.status !== 200, `the uuid does not authenticate: ${works.status}`)];
    },
  ),
  ok('CreateToken with the email field naming the user', 'spec AuthPasswordReq_User ("user name or email")', (ctx) => ({ method: 'POST', url: `${base}/auth/tokens`, body: { auth: { identity: { password: { user: { email: ctx.a.userName, password } } } } } }), 201, TokenResp),
  ok(
    'CreateToken with identity.token (an existing token uuid) gives that token back',
    'spec AuthTokenReq',
    (ctx) => ({ method: 'POST', url: `${base}/auth/tokens`, body: { auth: { identity: { token: { uuid: ctx.a.token } } } } }),
    201,
    TokenResp,
    (response, ctx) => problemsIf(response.body.token.uuid !== ctx.a.token, 'a different uuid'),
  ),
  refused('CreateToken with a wrong password is 401', 'spec CreateToken responses', (ctx) => ({ method: 'POST', url: `${base}/auth/tokens`, body: { auth: { identity: { password: { user: { name: ctx.a.userName, password: 'wrong-password' } } } } } }), 401, 'Unauthorized'),
  refused('CreateToken with an unknown token uuid is 401', 'spec CreateToken responses', () => ({ method: 'POST', url: `${base}/auth/tokens`, body: { auth: { identity: { token: { uuid: 'not-a-token' } } } } }), 401),
  refused('CreateToken without auth is 400', 'spec TokenCreateReq (auth required)', () => ({ method: 'POST', url: `${base}/auth/tokens`, body: {} }), 400, 'MissingParameter'),
  refused('CreateToken without identity is 400', 'spec TokenCreateReq_Auth (identity required)', () => ({ method: 'POST', url: `${base}/auth/tokens`, body: { auth: {} } }), 400, 'MissingParameter'),
  refused('CreateToken without user.password is 400', 'spec AuthPasswordReq_User (password required)', (ctx) => ({ method: 'POST', url: `${base}/auth/tokens`, body: { auth: { identity: { password: { user: { name: ctx.a.userName } } } } } }), 400, 'MissingParameter'),
  refused('CreateToken with neither password nor token is 400', 'spec TokenCreateReq_Auth_Identity', () => ({ method: 'POST', url: `${base}/auth/tokens`, body: { auth: { identity: {} } } }), 400),
  refused('CreateToken with a field the spec does not declare is 400', 'spec TokenCreateReq', (ctx) => ({ method: 'POST', url: `${base}/auth/tokens`, body: { auth: { identity: { password: { user: { name: ctx.a.userName, password, tenant: 'x' } } } } } }), 400, 'UnknownParameter'),
  refused('CreateToken with a body that is not JSON is 400', 'spec CreateToken responses', () => ({ method: 'POST', url: `${base}/auth/tokens`, headers: { 'content-type': 'application/json' }, body: '{"auth":' }), 400),
  refused('a block route without a token is 401', 'reference xsky.md §1 (security schemes)', () => ({ method: 'GET', url: `${base}/block-consistent-snapshots/` }), 401, 'Unauthorized'),
  refused('a block route with an unknown token is 401', 'reference xsky.md §1', () => ({ method: 'GET', url: `${base}/block-consistent-snapshots/`, headers: { 'xms-auth-token': 'nope' } }), 401, 'Unauthorized'),
  ok('the token in the ?token= query (tokenInQuery) authenticates', 'reference xsky.md §7.4 (tokenInQuery)', (ctx) => ({ method: 'GET', url: `${base}/block-consistent-snapshots/?token=${encodeURIComponent(ctx.a.token)}` }), 200, ConsistentSnapshotsResp),
  ok('header and ?token= together (the SDK sends both when both keys are set)', 'reference xsky.md §1', (ctx) => ({ method: 'GET', url: `${base}/pools/?token=${encodeURIComponent(ctx.a.token)}`, headers: auth(ctx.a) }), 200, PoolsResp),
];

const poolCases: Case[] = [
  ok('ListPools shows the one Strata pool, id 1', 'spec ListPools', as(A, 'GET', () => '/pools/'), 200, PoolsResp, (r) => problemsIf(JSON.stringify(ids(r.body.pools)) !== '[1]', 'pools are not [1]')),
  ok('GetPool 1', 'spec GetPool', as(A, 'GET', () => '/pools/1'), 200, PoolResp, (r) => problemsIf(r.body.pool.status !== 'active', 'status is not active')),
  refused('GetPool of an unknown id is 404', 'spec GetPool responses', as(A, 'GET', () => '/pools/3'), 404, 'NotFound'),
  ok('ListPools?pool_ids=3 is empty', 'spec ListPools (pool_ids)', as(A, 'GET', () => '/pools/?pool_ids=3'), 200, PoolsResp, (r) => problemsIf(r.body.pools.length !== 0, 'not empty')),
  refused('ListPools?limit=abc is 400', 'spec ListPools (limit int64)', as(A, 'GET', () => '/pools/?limit=abc'), 400),
];

const volumeCases: Case[] = [
  ok(
    'CreateBlockVolume with name, pool_id and size in bytes answers 202 VolumeResp',
    'reference xsky.md §7.4 (captured; pool_id is the listed pool)',
    as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: 'vol-created', pool_id: 1, size: 1073741824 } })),
    202,
    VolumeResp,
    (r, ctx) => {
      ctx.id.created = r.body.block_volume.id;
      const v = r.body.block_volume;
      return [...problemsIf(v.size !== 1073741824, `size ${v.size}`), ...problemsIf(v.status !== 'active', `status ${v.status}`), ...problemsIf(v.pool?.id !== 1, 'pool.id')];
    },
  ),
  ok(
    'CreateBlockVolume with format, performance_priority and qos (no effect in Strata) is accepted',
    'reference xsky.md §4.2 (XMS notes example payload)',
    as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { format: 129, name: 'vol-qos', performance_priority: 0, pool_id: 1, qos: { max_total_iops: 1000, max_total_bw: 104857600 }, qos_enabled: true, size: 107374182400 } })),
    202,
    VolumeResp,
  ),
  ok(
    'CreateBlockVolume with block_snapshot_id clones the snapshot',
    'reference xsky.md §4.2 (clone example)',
    as(A, 'POST', () => '/block-volumes/', (ctx) => ({ block_volume: { block_snapshot_id: ctx.id.snap1, flattened: false, name: 'vol-clone', pool_id: 1 } })),
    202,
    VolumeResp,
    (r, ctx) => problemsIf(r.body.block_volume.snapshot?.id !== ctx.id.snap1 || r.body.block_volume.size !== GiB, 'not a clone of snap1 with its size'),
  ),
  ok('CreateBlockVolume with uid keeps it', 'spec VolumeCreateReq_Volume (uid)', as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: 'vol-uid', pool_id: 1, size: GiB, uid: 'uid-vol-1' } })), 202, VolumeResp, (r) =>
    problemsIf(r.body.block_volume.uid !== 'uid-vol-1', 'uid'),
  ),
  ok('ListBlockVolumes', 'spec ListBlockVolumes', as(A, 'GET', () => '/block-volumes/'), 200, VolumesResp, (r, ctx) =>
    problemsIf(!ids(r.body.block_volumes).includes(ctx.id.vol1) || ids(r.body.block_volumes).includes(ctx.id.otherVol), 'wrong members'),
  ),
  ok('ListBlockVolumes with limit and offset pages in id order', 'spec ListBlockVolumes (limit, offset)', as(A, 'GET', () => '/block-volumes/?limit=2&offset=1'), 200, VolumesResp, (r, ctx) =>
    problemsIf(JSON.stringify(ids(r.body.block_volumes)) !== JSON.stringify([ctx.id.vol2, ctx.id.vol3]), `got ${JSON.stringify(ids(r.body.block_volumes))}`),
  ),
  ok('ListBlockVolumes?limit=-1 lists all (up to listLimitMax)', 'reference xsky.md §5 (limit=-1)', as(A, 'GET', () => '/block-volumes/?limit=-1'), 200, VolumesResp, (r) => problemsIf(r.body.block_volumes.length < 9, `only ${r.body.block_volumes.length}`)),
  ok('ListBlockVolumes?name= filters by name', 'spec ListBlockVolumes (name)', as(A, 'GET', () => '/block-volumes/?name=vol2'), 200, VolumesResp, (r, ctx) =>
    problemsIf(JSON.stringify(ids(r.body.block_volumes)) !== JSON.stringify([ctx.id.vol2]), 'not just vol2'),
  ),
  ok('ListBlockVolumes?q=name:vol-*&sort=size:desc searches and sorts', 'reference xsky.md §7.4 (q and sort as the SDK sends them)', as(A, 'GET', () => '/block-volumes/?q=name%3Avol-%2A&sort=size%3Adesc'), 200, VolumesResp, (r) => {
    const names = r.body.block_volumes.map((v: { name: string }) => v.name);
    return problemsIf(names[0] !== 'vol-qos' || names.some((n: string) => !n.startsWith('vol-')), `got ${names.join(',')}`);
  }),
  ok('ListBlockVolumes?status=active&uid= filters on XSKY fields', 'spec ListBlockVolumes (status, uid)', as(A, 'GET', () => '/block-volumes/?status=active&uid=uid-vol-1'), 200, VolumesResp, (r) => problemsIf(r.body.block_volumes.length !== 1, 'not one')),
  ok('ListBlockVolumes?block_snapshot_id= lists the clones of a snapshot', 'spec ListBlockVolumes (block_snapshot_id)', as(A, 'GET', (ctx) => `/block-volumes/?block_snapshot_id=${ctx.id.snap1}`), 200, VolumesResp, (r) =>
    problemsIf(r.body.block_volumes.length !== 1 || r.body.block_volumes[0].name !== 'vol-clone', 'not the clone'),
  ),
  ok('ListBlockVolumes?pool_id=3 is empty', 'spec ListBlockVolumes (pool_id)', as(A, 'GET', () => '/block-volumes/?pool_id=3'), 200, VolumesResp, (r) => problemsIf(r.body.block_volumes.length !== 0, 'not empty')),
  ok('GetBlockVolume', 'spec GetBlockVolume', as(A, 'GET', (ctx) => `/block-volumes/${ctx.id.vol1}`), 200, VolumeResp, (r) => problemsIf(r.body.block_volume.block_snapshot_num !== 2, 'block_snapshot_num')),
  ok('UpdateBlockVolume renames and grows', 'spec UpdateBlockVolume', as(A, 'PATCH', (ctx) => `/block-volumes/${ctx.id.created}`, () => ({ block_volume: { name: 'vol-renamed', description: 'd', size: 2 * GiB } })), 200, VolumeResp, (r) =>
    problemsIf(r.body.block_volume.name !== 'vol-renamed' || r.body.block_volume.size !== 2 * GiB, 'not renamed and grown'),
  ),
  ok(
    'UpdateBlockVolume with action roll_back and block_snapshot_id rolls the volume back',
    'reference xsky.md §7.4 (captured) and §4.2',
    as(A, 'PATCH', (ctx) => `/block-volumes/${ctx.id.vol1}`, (ctx) => ({ block_volume: { action: 'roll_back', block_snapshot_id: ctx.id.snap1 } })),
    200,
    VolumeResp,
    async (r, ctx) => {
      // The rollback job may already have finished when the answer is rendered (it is fast).
      const problems = problemsIf(!['rolling_back', 'active'].includes(r.body.block_volume.status), `status ${r.body.block_volume.status}`);
      const after = await settled(ctx, ctx.a, `/block-volumes/${ctx.id.vol1}`);
      return [...problems, ...problemsIf(after.body.block_volume.status !== 'active', `after: ${after.body.block_volume.status}`)];
    },
  ),
  ok(
    'DeleteBlockVolume answers 202 and the volume goes',
    'spec DeleteBlockVolume',
    as(A, 'DELETE', (ctx) => `/block-volumes/${ctx.id.created}?bypass_trash=true`),
    202,
    VolumeResp,
    async (r, ctx) => {
      const after = await settled(ctx, ctx.a, `/block-volumes/${ctx.id.created}`);
      return [...problemsIf(r.body.block_volume.status !== 'deleting', 'not deleting'), ...problemsIf(after.status !== 404, `then ${after.status}`)];
    },
  ),
  refused('GetBlockVolume of an unknown id is 404', 'spec GetBlockVolume responses', as(A, 'GET', () => '/block-volumes/999999'), 404, 'NotFound'),
  refused('GetBlockVolume with a non-integer id is 400', 'spec GetBlockVolume (path int64)', as(A, 'GET', () => '/block-volumes/abc'), 400),
  refused('DeleteBlockVolume of a volume with snapshots is refused', 'reference xsky.md §4.2 (XMS notes)', as(A, 'DELETE', (ctx) => `/block-volumes/${ctx.id.vol1}`), 400, 'HasDependents'),
  refused('DeleteBlockVolume of a volume group member is refused', 'reference xsky.md §4.2 (XMS notes)', as(A, 'DELETE', (ctx) => `/block-volumes/${ctx.id.vol3}`), 400, 'HasDependents'),
  refused('CreateBlockVolume without the block_volume wrapper', 'spec VolumeCreateReq (block_volume required)', as(A, 'POST', () => '/block-volumes/', () => ({ name: 'x', pool_id: 1, size: GiB })), 400),
  refused('CreateBlockVolume without name', 'spec VolumeCreateReq_Volume (name required)', as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { pool_id: 1, size: GiB } })), 400, 'MissingParameter'),
  refused('CreateBlockVolume without pool_id', 'spec VolumeCreateReq_Volume (pool_id required)', as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: 'x', size: GiB } })), 400, 'MissingParameter'),
  refused('CreateBlockVolume in a pool that does not exist', 'spec VolumeCreateReq_Volume (pool_id)', as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: 'x', pool_id: 3, size: GiB } })), 400, 'InvalidParameter'),
  refused('CreateBlockVolume without size and without block_snapshot_id', 'spec VolumeCreateReq_Volume (size)', as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: 'x', pool_id: 1 } })), 400, 'MissingParameter'),
  refused('CreateBlockVolume with size as a string', 'spec VolumeCreateReq_Volume (size int64)', as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: 'x', pool_id: 1, size: '1073741824' } })), 400),
  refused('CreateBlockVolume with a size that is not a multiple of 4096', 'spec VolumeCreateReq_Volume (size in bytes)', as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: 'x', pool_id: 1, size: 1000 } })), 400),
  refused('CreateBlockVolume with a negative size', 'spec VolumeCreateReq_Volume (size)', as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: 'x', pool_id: 1, size: -4096 } })), 400),
  refused('CreateBlockVolume with an empty name', 'spec VolumeCreateReq_Volume (name)', as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: '', pool_id: 1, size: GiB } })), 400),
  refused('CreateBlockVolume with format 130', 'spec VolumeCreateReq_Volume (format 128 or 129)', as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: 'x', pool_id: 1, size: GiB, format: 130 } })), 400),
  refused('CreateBlockVolume with replication fields (no remote cluster)', 'spec VolumeCreateReq_Volume (replication_*)', as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: 'x', pool_id: 1, size: GiB, replication_volume_id: 4 } })), 400),
  refused('CreateBlockVolume with a field the spec does not declare', 'spec VolumeCreateReq_Volume', as(A, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: 'x', pool_id: 1, size: GiB, colour: 'red' } })), 400, 'UnknownParameter'),
  refused('CreateBlockVolume cloning another project\'s snapshot', 'isolation', as(A, 'POST', () => '/block-volumes/', (ctx) => ({ block_volume: { name: 'x', pool_id: 1, block_snapshot_id: ctx.id.otherSnap } })), 400, 'InvalidParameter'),
  refused('CreateBlockVolume with a text/plain body is 415', 'reference xsky.md §7.4 (Content-Type: application/json)', (ctx) => ({ method: 'POST', url: `${base}/block-volumes/`, headers: { ...auth(ctx.a), 'content-type': 'text/plain' }, body: 'vol' }), 415),
  refused('CreateBlockVolume by a reader is 403', 'Strata roles', as((ctx) => ctx.reader, 'POST', () => '/block-volumes/', () => ({ block_volume: { name: 'x', pool_id: 1, size: GiB } })), 403, 'PermissionDenied'),
  refused('UpdateBlockVolume shrinking is refused', 'spec UpdateBlockVolume (size)', as(A, 'PATCH', (ctx) => `/block-volumes/${ctx.id.vol5}`, () => ({ block_volume: { size: 4096 } })), 400),
  refused('UpdateBlockVolume with an unknown action', 'spec VolumeUpdateReq_Volume (action)', as(A, 'PATCH', (ctx) => `/block-volumes/${ctx.id.vol5}`, () => ({ block_volume: { action: 'explode' } })), 400, 'InvalidParameter'),
  refused('UpdateBlockVolume roll_back without block_snapshot_id', 'reference xsky.md §4.2', as(A, 'PATCH', (ctx) => `/block-volumes/${ctx.id.vol5}`, () => ({ block_volume: { action: 'roll_back' } })), 400, 'MissingParameter'),
  refused('UpdateBlockVolume roll_back to another volume\'s snapshot', 'reference xsky.md §4.2', as(A, 'PATCH', (ctx) => `/block-volumes/${ctx.id.vol5}`, (ctx) => ({ block_volume: { action: 'roll_back', block_snapshot_id: ctx.id.snap1 } })), 400, 'InvalidParameter'),
  refused('UpdateBlockVolume without the wrapper', 'spec VolumeUpdateReq (block_volume required)', as(A, 'PATCH', (ctx) => `/block-volumes/${ctx.id.vol5}`, () => ({ name: 'x' })), 400),
  refused('GetBlockVolume of another project\'s volume is 404', 'isolation', as(A, 'GET', (ctx) => `/block-volumes/${ctx.id.otherVol}`), 404, 'NotFound'),
  refused('UpdateBlockVolume of another project\'s volume is 404', 'isolation', as(A, 'PATCH', (ctx) => `/block-volumes/${ctx.id.otherVol}`, () => ({ block_volume: { name: 'stolen' } })), 404, 'NotFound'),
  refused('DeleteBlockVolume of another project\'s volume is 404', 'isolation', as(A, 'DELETE', (ctx) => `/block-volumes/${ctx.id.otherVol}`), 404, 'NotFound'),
];

const snapshotCases: Case[] = [
  ok(
    'CreateBlockSnapshot with block_volume_id, name and an empty description answers 202 SnapshotResp',
    'reference xsky.md §7.4 (captured)',
    as(A, 'POST', () => '/block-snapshots/', (ctx) => ({ block_snapshot: { block_volume_id: ctx.id.vol5, description: '', name: 'snap1' } })),
    202,
    SnapshotResp,
    (r, ctx) => {
      ctx.id.snapCreated = r.body.block_snapshot.id;
      return problemsIf(r.body.block_snapshot.volume?.id !== ctx.id.vol5 || r.body.block_snapshot.status !== 'active', 'volume or status');
    },
  ),
  ok('CreateBlockSnapshot with uid keeps it', 'spec SnapshotCreateReq_Snapshot (uid)', as(A, 'POST', () => '/block-snapshots/', (ctx) => ({ block_snapshot: { block_volume_id: ctx.id.vol5, description: 'x', name: 'snap-uid', uid: 'uid-snap-1' } })), 202, SnapshotResp),
  ok('ListBlockSnapshots?block_volume_id= lists a volume\'s snapshots', 'spec ListBlockSnapshots (block_volume_id)', as(A, 'GET', (ctx) => `/block-snapshots/?block_volume_id=${ctx.id.vol5}`), 200, SnapshotsResp, (r) =>
    problemsIf(r.body.block_snapshots.length !== 2, `${r.body.block_snapshots.length} snapshots`),
  ),
  ok(
    'ListBlockSnapshots?consistent_snapshot_id=N&limit=-1 lists the members of a consistent snapshot',
    'reference xsky.md §7.4 (captured) and §4.3',
    as(A, 'GET', (ctx) => `/block-snapshots/?consistent_snapshot_id=${ctx.id.cs1}&limit=-1`),
    200,
    SnapshotsResp,
    (r, ctx) => {
      const members = r.body.block_snapshots as Array<{ volume: { id: number }; block_consistent_snapshot?: { id: number } }>;
      return problemsIf(
        JSON.stringify(members.map((m) => m.volume.id).sort()) !== JSON.stringify([ctx.id.vol1, ctx.id.vol2].sort()) || members.some((m) => m.block_consistent_snapshot?.id !== ctx.id.cs1),
        'not the two members linked to the consistent snapshot',
      );
    },
  ),
  ok('ListBlockSnapshots?uid= finds a snapshot by uid', 'spec ListBlockSnapshots (uid)', as(A, 'GET', () => '/block-snapshots/?uid=uid-snap-1'), 200, SnapshotsResp, (r) => problemsIf(r.body.block_snapshots.length !== 1, 'not one')),
  ok('ListBlockSnapshots?block_volume_id= of another project\'s volume is empty', 'isolation', as(A, 'GET', (ctx) => `/block-snapshots/?block_volume_id=${ctx.id.otherVol}`), 200, SnapshotsResp, (r) =>
    problemsIf(r.body.block_snapshots.length !== 0, 'not empty'),
  ),
  ok('GetBlockSnapshot', 'spec GetBlockSnapshot', as(A, 'GET', (ctx) => `/block-snapshots/${ctx.id.snapCreated}`), 200, SnapshotResp),
  ok('UpdateSnapshot renames', 'spec UpdateSnapshot', as(A, 'PATCH', (ctx) => `/block-snapshots/${ctx.id.snapCreated}`, () => ({ block_snapshot: { name: 'snap-renamed', description: 'new' } })), 200, SnapshotResp, (r) =>
    problemsIf(r.body.block_snapshot.name !== 'snap-renamed' || r.body.block_snapshot.description !== 'new', 'not renamed'),
  ),
  ok('DeleteBlockSnapshot answers 202 and the snapshot goes', 'spec DeleteBlockSnapshot', as(A, 'DELETE', (ctx) => `/block-snapshots/${ctx.id.snapCreated}`), 202, SnapshotResp, async (r, ctx) => {
    const after = await settled(ctx, ctx.a, `/block-snapshots/${ctx.id.snapCreated}`);
    return [...problemsIf(r.body.block_snapshot.status !== 'deleting', 'not deleting'), ...problemsIf(after.status !== 404, `then ${after.status}`)];
  }),
  refused('CreateBlockSnapshot without description (the spec requires it)', 'spec SnapshotCreateReq_Snapshot (required)', as(A, 'POST', () => '/block-snapshots/', (ctx) => ({ block_snapshot: { block_volume_id: ctx.id.vol5, name: 's' } })), 400, 'MissingParameter'),
  refused('CreateBlockSnapshot without name', 'spec SnapshotCreateReq_Snapshot (required)', as(A, 'POST', () => '/block-snapshots/', (ctx) => ({ block_snapshot: { block_volume_id: ctx.id.vol5, description: '' } })), 400, 'MissingParameter'),
  refused('CreateBlockSnapshot of a volume that does not exist', 'spec SnapshotCreateReq_Snapshot (block_volume_id)', as(A, 'POST', () => '/block-snapshots/', () => ({ block_snapshot: { block_volume_id: 999999, description: '', name: 's' } })), 400, 'InvalidParameter'),
  refused('CreateBlockSnapshot of another project\'s volume', 'isolation', as(A, 'POST', () => '/block-snapshots/', (ctx) => ({ block_snapshot: { block_volume_id: ctx.id.otherVol, description: '', name: 's' } })), 400, 'InvalidParameter'),
  refused('CreateBlockSnapshot with block_volume_id as a string', 'spec SnapshotCreateReq_Snapshot (int64)', as(A, 'POST', () => '/block-snapshots/', (ctx) => ({ block_snapshot: { block_volume_id: String(ctx.id.vol5), description: '', name: 's' } })), 400),
  refused('DeleteBlockSnapshot of a consistent snapshot member is refused', 'consistent snapshots stay whole', as(A, 'DELETE', (ctx) => `/block-snapshots/${ctx.id.snap1 + 1}`), 400, 'HasDependents'),
  refused('GetBlockSnapshot of another project\'s snapshot is 404', 'isolation', as(A, 'GET', (ctx) => `/block-snapshots/${ctx.id.otherSnap}`), 404, 'NotFound'),
  refused('DeleteBlockSnapshot of another project\'s snapshot is 404', 'isolation', as(A, 'DELETE', (ctx) => `/block-snapshots/${ctx.id.otherSnap}`), 404, 'NotFound'),
];

const csBody = (ctx: Context) => ({ block_consistent_snapshot: { block_volume_ids: [ctx.id.vol1, ctx.id.vol2], description: 'desc', name: 'cs1' } });
const consistentCases: Case[] = [
  ok(
    'CreateBlockConsistentSnapshot answers 202 ConsistentSnapshotResp, one member per volume',
    'seed 000 (CreateBlockConsistentSnapshot) and reference xsky.md §7.4 (captured)',
    as(A, 'POST', () => '/block-consistent-snapshots/?cluster_id=cluster-1', csBody),
    202,
    ConsistentSnapshotResp,
    async (r, ctx) => {
      const cs = r.body.block_consistent_snapshot;
      ctx.id.csCreated = cs.id;
      const members = await ctx.h.request('GET', `${base}/block-snapshots/?consistent_snapshot_id=${cs.id}`, { headers: auth(ctx.a) });
      return [
        ...problemsIf(cs.snap_name !== 'cs1' || cs.description !== 'desc' || cs.status !== 'active', 'snap_name, description or status'),
        ...problemsIf(members.body.block_snapshots.length !== 2, 'not two members'),
        ...problemsIf(new Set(members.body.block_snapshots.map((m: { create: string }) => m.create)).size !== 1, 'members not taken at one instant'),
      ];
    },
  ),
  ok('CreateBlockConsistentSnapshot with only block_volume_ids (name generated)', 'reference xsky.md §7.4 (minimal body)', as(A, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ block_consistent_snapshot: { block_volume_ids: [ctx.id.vol5] } })), 202, ConsistentSnapshotResp, (r) =>
    problemsIf(!/^consistent-snapshot-/.test(r.body.block_consistent_snapshot.snap_name), 'no generated snap_name'),
  ),
  ok('CreateBlockConsistentSnapshot with the token in ?token=', 'reference xsky.md §7.4 (tokenInQuery)', (ctx) => ({ method: 'POST', url: `${base}/block-consistent-snapshots/?token=${encodeURIComponent(ctx.a.token)}`, body: csBody(ctx) }), 202, ConsistentSnapshotResp),
  ok(
    'CreateBlockConsistentSnapshot with snap_uids labels the members',
    'spec ConsistentSnapshotCreateReq_ConsistentSnapshot (snap_uids)',
    as(A, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ block_consistent_snapshot: { block_volume_ids: [ctx.id.vol2, ctx.id.vol1], name: 'cs-uids', snap_uids: ['uid-for-vol2', 'uid-for-vol1'] } })),
    202,
    ConsistentSnapshotResp,
    async (r, ctx) => {
      const found = await ctx.h.request('GET', `${base}/block-snapshots/?uid=uid-for-vol2`, { headers: auth(ctx.a) });
      const member = found.body.block_snapshots[0];
      return problemsIf(member?.volume?.id !== ctx.id.vol2 || member?.block_consistent_snapshot?.id !== r.body.block_consistent_snapshot.id, 'uid not on vol2\'s member');
    },
  ),
  ok('ListBlockConsistentSnapshots (no paging key)', 'seed 000 (ListBlockConsistentSnapshots)', as(A, 'GET', () => '/block-consistent-snapshots/'), 200, ConsistentSnapshotsResp, (r, ctx) =>
    problemsIf(!ids(r.body.block_consistent_snapshots).includes(ctx.id.cs1) || ids(r.body.block_consistent_snapshots).includes(ctx.id.gs1) || ids(r.body.block_consistent_snapshots).includes(ctx.id.otherCs), 'wrong members'),
  ),
  ok('ListBlockConsistentSnapshots with the captured limit, offset, q and sort', 'reference xsky.md §7.4 (captured query)', as(A, 'GET', () => '/block-consistent-snapshots/?limit=10&offset=20&q=name%3Acs%2A&sort=create%3Adesc'), 200, ConsistentSnapshotsResp, (r) =>
    problemsIf(r.body.block_consistent_snapshots.length !== 0, 'offset 20 is past the end'),
  ),
  ok('ListBlockConsistentSnapshots?q=name:cs*&sort=create:desc searches snap_name, newest first', 'seed 000 (q, sort)', as(A, 'GET', () => '/block-consistent-snapshots/?limit=10&offset=0&q=name%3Acs%2A&sort=create%3Adesc'), 200, ConsistentSnapshotsResp, (r) => {
    const list = r.body.block_consistent_snapshots as Array<{ snap_name: string; create: string; id: number }>;
    const sorted = [...list].sort((x, y) => (x.create === y.create ? y.id - x.id : x.create < y.create ? 1 : -1));
    return [
      ...problemsIf(list.length < 3 || list.some((c) => !c.snap_name.startsWith('cs')), `got ${list.map((c) => c.snap_name).join(',')}`),
      ...problemsIf(JSON.stringify(ids(list)) !== JSON.stringify(ids(sorted)), 'not newest first'),
    ];
  }),
  ok('ListBlockConsistentSnapshots?limit=1&offset=1', 'seed 000 (limit, offset)', as(A, 'GET', () => '/block-consistent-snapshots/?limit=1&offset=1'), 200, ConsistentSnapshotsResp, (r) => problemsIf(r.body.block_consistent_snapshots.length !== 1, 'not one')),
  ok('GetBlockConsistentSnapshot answers {"block_snapshot": …} as the spec declares', 'seed 000 (GetBlockConsistentSnapshot returns SnapshotResp) and reference xsky.md §2 note', as(A, 'GET', (ctx) => `/block-consistent-snapshots/${ctx.id.csCreated}`), 200, SnapshotResp, (r, ctx) =>
    problemsIf(r.body.block_snapshot.id !== ctx.id.csCreated || r.body.block_snapshot.name !== 'cs1', 'not the consistent snapshot'),
  ),
  ok('DeleteBlockConsistentSnapshot answers 202 {"block_snapshot": …}; it and its members go', 'seed 000 (DeleteBlockConsistentSnapshot returns SnapshotResp)', as(A, 'DELETE', (ctx) => `/block-consistent-snapshots/${ctx.id.csCreated}`), 202, SnapshotResp, async (r, ctx) => {
    const after = await settled(ctx, ctx.a, `/block-consistent-snapshots/${ctx.id.csCreated}`);
    const members = await ctx.h.request('GET', `${base}/block-snapshots/?consistent_snapshot_id=${ctx.id.csCreated}`, { headers: auth(ctx.a) });
    return [
      ...problemsIf(r.body.block_snapshot.status !== 'deleting', 'not deleting'),
      ...problemsIf(after.status !== 404, `then ${after.status}`),
      ...problemsIf(members.body.block_snapshots.length !== 0, 'members left'),
    ];
  }),
  refused('GetBlockConsistentSnapshot of an unknown id is 404', 'seed 000 (404)', as(A, 'GET', () => '/block-consistent-snapshots/789'), 404, 'NotFound'),
  refused('GetBlockConsistentSnapshot of a volume group snapshot id is 404', 'consistent snapshots and volume group snapshots are separate', as(A, 'GET', (ctx) => `/block-consistent-snapshots/${ctx.id.gs1}`), 404, 'NotFound'),
  refused('GetBlockConsistentSnapshot of another project\'s is 404', 'isolation', as(A, 'GET', (ctx) => `/block-consistent-snapshots/${ctx.id.otherCs}`), 404, 'NotFound'),
  refused('DeleteBlockConsistentSnapshot of another project\'s is 404 and it stays', 'isolation', as(A, 'DELETE', (ctx) => `/block-consistent-snapshots/${ctx.id.otherCs}`), 404, 'NotFound'),
  ok('another project\'s consistent snapshot is still there', 'isolation', as(Bp, 'GET', (ctx) => `/block-consistent-snapshots/${ctx.id.otherCs}`), 200, SnapshotResp),
  refused('DeleteBlockConsistentSnapshot with a non-integer id is 400', 'seed 000 (int64 id)', as(A, 'DELETE', () => '/block-consistent-snapshots/seven'), 400),
  refused('CreateBlockConsistentSnapshot without the block_consistent_snapshot wrapper', 'spec ConsistentSnapshotCreateReq (required)', as(A, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ block_volume_ids: [ctx.id.vol1] })), 400),
  refused('CreateBlockConsistentSnapshot with the wrapper key consistent_snapshot', 'reference xsky.md §2.1 (the wire key is block_consistent_snapshot)', as(A, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ consistent_snapshot: { block_volume_ids: [ctx.id.vol1] } })), 400),
  refused('CreateBlockConsistentSnapshot without block_volume_ids', 'spec ConsistentSnapshotCreateReq_ConsistentSnapshot (required)', as(A, 'POST', () => '/block-consistent-snapshots/', () => ({ block_consistent_snapshot: { name: 'x' } })), 400, 'MissingParameter'),
  refused('CreateBlockConsistentSnapshot with empty block_volume_ids', 'spec ConsistentSnapshotCreateReq_ConsistentSnapshot', as(A, 'POST', () => '/block-consistent-snapshots/', () => ({ block_consistent_snapshot: { block_volume_ids: [] } })), 400),
  refused('CreateBlockConsistentSnapshot with string ids', 'spec ConsistentSnapshotCreateReq_ConsistentSnapshot (int64[])', as(A, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ block_consistent_snapshot: { block_volume_ids: [String(ctx.id.vol1)] } })), 400),
  refused('CreateBlockConsistentSnapshot with block_volume_ids not an array', 'spec ConsistentSnapshotCreateReq_ConsistentSnapshot (int64[])', as(A, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ block_consistent_snapshot: { block_volume_ids: ctx.id.vol1 } })), 400),
  refused('CreateBlockConsistentSnapshot with a duplicated volume', 'one member per volume', as(A, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ block_consistent_snapshot: { block_volume_ids: [ctx.id.vol1, ctx.id.vol1] } })), 400),
  refused('CreateBlockConsistentSnapshot of a volume that does not exist', 'spec CreateBlockConsistentSnapshot (400)', as(A, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ block_consistent_snapshot: { block_volume_ids: [ctx.id.vol1, 999999] } })), 400, 'InvalidParameter'),
  refused('CreateBlockConsistentSnapshot including another project\'s volume', 'isolation', as(A, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ block_consistent_snapshot: { block_volume_ids: [ctx.id.vol1, ctx.id.otherVol] } })), 400, 'InvalidParameter'),
  refused('CreateBlockConsistentSnapshot with a name too long', 'Strata name limit (255)', as(A, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ block_consistent_snapshot: { block_volume_ids: [ctx.id.vol1], name: 'n'.repeat(256) } })), 400),
  refused('CreateBlockConsistentSnapshot with fewer snap_uids than volumes', 'spec ConsistentSnapshotCreateReq_ConsistentSnapshot (snap_uids)', as(A, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ block_consistent_snapshot: { block_volume_ids: [ctx.id.vol1, ctx.id.vol2], snap_uids: ['one'] } })), 400),
  refused('CreateBlockConsistentSnapshot with a field the spec does not declare', 'spec ConsistentSnapshotCreateReq_ConsistentSnapshot', as(A, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ block_consistent_snapshot: { block_volume_ids: [ctx.id.vol1], group: 1 } })), 400, 'UnknownParameter'),
  refused('CreateBlockConsistentSnapshot with an empty JSON body', 'spec CreateBlockConsistentSnapshot (body required)', (ctx) => ({ method: 'POST', url: `${base}/block-consistent-snapshots/`, headers: { ...auth(ctx.a), 'content-type': 'application/json' }, body: '' }), 400),
  refused('CreateBlockConsistentSnapshot by a reader is 403', 'Strata roles', as((ctx) => ctx.reader, 'POST', () => '/block-consistent-snapshots/', (ctx) => ({ block_consistent_snapshot: { block_volume_ids: [ctx.id.vol1] } })), 403, 'PermissionDenied'),
  ok('a reader of the project lists its consistent snapshots', 'Strata roles', as((ctx) => ctx.reader, 'GET', () => '/block-consistent-snapshots/'), 200, ConsistentSnapshotsResp, (r, ctx) =>
    problemsIf(!ids(r.body.block_consistent_snapshots).includes(ctx.id.cs1), 'cs1 not listed'),
  ),
  refused('ListBlockConsistentSnapshots?limit=ten is 400', 'seed 000 (limit int64)', as(A, 'GET', () => '/block-consistent-snapshots/?limit=ten'), 400),
  refused('ListBlockConsistentSnapshots?limit=-2 is 400', 'reference xsky.md §5 (-1 is the only negative)', as(A, 'GET', () => '/block-consistent-snapshots/?limit=-2'), 400),
  refused('ListBlockConsistentSnapshots?offset=-1 is 400', 'seed 000 (offset)', as(A, 'GET', () => '/block-consistent-snapshots/?offset=-1'), 400),
  refused('ListBlockConsistentSnapshots?sort=colour is 400', 'seed 000 (sort)', as(A, 'GET', () => '/block-consistent-snapshots/?sort=colour%3Adesc'), 400),
  refused('ListBlockConsistentSnapshots?q=colour:red is 400', 'seed 000 (q)', as(A, 'GET', () => '/block-consistent-snapshots/?q=colour%3Ared'), 400),
];

const groupCases: Case[] = [
  ok('CreateBlockVolumeGroup with block_volume_ids answers 202 VolumeGroupResp', 'spec CreateBlockVolumeGroup', as(A, 'POST', () => '/block-volume-groups/', (ctx) => ({ block_volume_group: { name: 'group2', description: 'g', block_volume_ids: [ctx.id.vol5] } })), 202, VolumeGroupResp, (r, ctx) => {
    ctx.id.group2 = r.body.block_volume_group.id;
    return problemsIf(r.body.block_volume_group.block_volume_num !== 1, 'block_volume_num');
  }),
  ok('ListBlockVolumeGroups', 'spec ListBlockVolumeGroups', as(A, 'GET', () => '/block-volume-groups/'), 200, VolumeGroupsResp, (r, ctx) =>
    problemsIf(JSON.stringify(ids(r.body.block_volume_groups)) !== JSON.stringify([ctx.id.group1, ctx.id.group2]), 'wrong groups'),
  ),
  ok('ListBlockVolumeGroups?name=', 'spec ListBlockVolumeGroups (name)', as(A, 'GET', () => '/block-volume-groups/?name=group1'), 200, VolumeGroupsResp, (r) => problemsIf(r.body.block_volume_groups.length !== 1, 'not one')),
  ok('GetBlockVolumeGroup', 'spec GetBlockVolumeGroup', as(A, 'GET', (ctx) => `/block-volume-groups/${ctx.id.group1}`), 200, VolumeGroupResp, (r, ctx) =>
    problemsIf(r.body.block_volume_group.block_volume_group_snapshot_num !== 1 || r.body.block_volume_group.block_volume_group_snapshot?.id !== ctx.id.gs1, 'snapshot count or latest'),
  ),
  ok('UpdateBlockVolumeGroup renames', 'spec UpdateBlockVolumeGroup', as(A, 'PATCH', (ctx) => `/block-volume-groups/${ctx.id.group2}`, () => ({ block_volume_group: { name: 'group2-renamed' } })), 200, VolumeGroupResp, (r) =>
    problemsIf(r.body.block_volume_group.name !== 'group2-renamed', 'not renamed'),
  ),
  ok('CreateBlockVolumeGroupSnapshot answers 202 VolumeGroupSnapshotResp', 'spec CreateBlockVolumeGroupSnapshot', as(A, 'POST', () => '/block-volume-group-snapshots/', (ctx) => ({ block_volume_group_snapshot: { block_volume_group_id: ctx.id.group1, name: 'gs2', description: 'second' } })), 202, VolumeGroupSnapshotResp, (r, ctx) => {
    ctx.id.gs2 = r.body.block_volume_group_snapshot.id;
    return problemsIf(r.body.block_volume_group_snapshot.block_snapshot_num !== 2 || r.body.block_volume_group_snapshot.block_volume_group?.id !== ctx.id.group1, 'members or group');
  }),
  ok('ListBlockVolumeGroupSnapshots?block_volume_group_id=', 'spec ListBlockVolumeGroupSnapshots', as(A, 'GET', (ctx) => `/block-volume-group-snapshots/?block_volume_group_id=${ctx.id.group1}`), 200, VolumeGroupSnapshotsResp, (r, ctx) =>
    problemsIf(JSON.stringify(ids(r.body.block_volume_group_snapshots)) !== JSON.stringify([ctx.id.gs1, ctx.id.gs2]), 'wrong snapshots'),
  ),
  ok('ListBlockVolumeGroupSnapshots leaves out consistent snapshots', 'spec ListBlockVolumeGroupSnapshots', as(A, 'GET', () => '/block-volume-group-snapshots/'), 200, VolumeGroupSnapshotsResp, (r, ctx) =>
    problemsIf(ids(r.body.block_volume_group_snapshots).includes(ctx.id.cs1), 'a consistent snapshot listed'),
  ),
  ok('GetBlockVolumeGroupSnapshot', 'spec GetBlockVolumeGroupSnapshot', as(A, 'GET', (ctx) => `/block-volume-group-snapshots/${ctx.id.gs2}`), 200, VolumeGroupSnapshotResp),
  ok('UpdateBlockVolumeGroupSnapshot renames', 'spec UpdateBlockVolumeGroupSnapshot', as(A, 'PATCH', (ctx) => `/block-volume-group-snapshots/${ctx.id.gs2}`, () => ({ block_volume_group_snapshot: { name: 'gs2-renamed' } })), 200, VolumeGroupSnapshotResp, (r) =>
    problemsIf(r.body.block_volume_group_snapshot.name !== 'gs2-renamed', 'not renamed'),
  ),
  ok(
    'RollbackVolumeGroup to a group snapshot answers 202 and the members roll back',
    'spec RollbackVolumeGroup and reference xsky.md §4.4',
    as(A, 'POST', (ctx) => `/block-volume-groups/${ctx.id.group1}:rollback`, (ctx) => ({ block_volume_group: { block_volume_group_snapshot_id: ctx.id.gs1 } })),
    202,
    VolumeGroupResp,
    async (r, ctx) => {
      const after = await settled(ctx, ctx.a, `/block-volume-groups/${ctx.id.group1}`);
      return [...problemsIf(!['rolling_back', 'active'].includes(r.body.block_volume_group.status), `status ${r.body.block_volume_group.status}`), ...problemsIf(after.body.block_volume_group.status !== 'active', 'not active after')];
    },
  ),
  ok(
    'CreateBlockVolumeGroup from block_volume_group_snapshot_id clones the group snapshot',
    'spec VolumeGroupCreateReq_VolumeGroup (block_volume_group_snapshot_id)',
    as(A, 'POST', () => '/block-volume-groups/', (ctx) => ({ block_volume_group: { name: 'group-clone', block_volume_group_snapshot_id: ctx.id.gs1, flattened: false } })),
    202,
    VolumeGroupResp,
    async (r, ctx) => {
      const after = await settled(ctx, ctx.a, `/block-volume-groups/${r.body.block_volume_group.id}`);
      return problemsIf(after.body.block_volume_group.block_volume_num !== 2 || after.body.block_volume_group.status !== 'active', 'not two active clones');
    },
  ),
  ok('DeleteBlockVolumeGroupSnapshot answers 202 and it goes', 'spec DeleteBlockVolumeGroupSnapshot', as(A, 'DELETE', (ctx) => `/block-volume-group-snapshots/${ctx.id.gs2}`), 202, VolumeGroupSnapshotResp, async (r, ctx) => {
    const after = await settled(ctx, ctx.a, `/block-volume-group-snapshots/${ctx.id.gs2}`);
    return [...problemsIf(r.body.block_volume_group_snapshot.status !== 'deleting', 'not deleting'), ...problemsIf(after.status !== 404, `then ${after.status}`)];
  }),
  ok('DeleteBlockVolumeGroup answers 202 and frees its volumes', 'spec DeleteBlockVolumeGroup', as(A, 'DELETE', (ctx) => `/block-volume-groups/${ctx.id.group2}`), 202, VolumeGroupResp, async (r, ctx) => {
    const after = await settled(ctx, ctx.a, `/block-volume-groups/${ctx.id.group2}`);
    const volume = await ctx.h.request('GET', `${base}/block-volumes/${ctx.id.vol5}`, { headers: auth(ctx.a) });
    return [...problemsIf(after.status !== 404, `then ${after.status}`), ...problemsIf(volume.body.block_volume.block_volume_group !== undefined, 'volume still grouped')];
  }),
  refused('DeleteBlockVolumeGroup with group snapshots is refused', 'reference xsky.md §4.2 (XMS notes)', as(A, 'DELETE', (ctx) => `/block-volume-groups/${ctx.id.group1}`), 400, 'HasDependents'),
  refused('RollbackVolumeGroup without block_volume_group_snapshot_id', 'spec VolumeGroupRollbackReq', as(A, 'POST', (ctx) => `/block-volume-groups/${ctx.id.group1}:rollback`, () => ({ block_volume_group: {} })), 400, 'MissingParameter'),
  refused('RollbackVolumeGroup to a consistent snapshot id', 'spec VolumeGroupRollbackReq', as(A, 'POST', (ctx) => `/block-volume-groups/${ctx.id.group1}:rollback`, (ctx) => ({ block_volume_group: { block_volume_group_snapshot_id: ctx.id.cs1 } })), 400, 'InvalidParameter'),
  refused('RollbackVolumeGroup of another project\'s group is 404', 'isolation', as(A, 'POST', (ctx) => `/block-volume-groups/${ctx.id.otherGroup}:rollback`, (ctx) => ({ block_volume_group: { block_volume_group_snapshot_id: ctx.id.gs1 } })), 404, 'NotFound'),
  refused('POST /block-volume-groups/{id}:explode is 404', 'spec (only :rollback)', as(A, 'POST', (ctx) => `/block-volume-groups/${ctx.id.group1}:explode`, () => ({ block_volume_group: {} })), 404, 'NotFound'),
  refused('CreateBlockVolumeGroup without name', 'spec VolumeGroupCreateReq_VolumeGroup (name required)', as(A, 'POST', () => '/block-volume-groups/', () => ({ block_volume_group: {} })), 400, 'MissingParameter'),
  refused('CreateBlockVolumeGroup with a volume already in a group', 'a volume is in at most one group', as(A, 'POST', () => '/block-volume-groups/', (ctx) => ({ block_volume_group: { name: 'g', block_volume_ids: [ctx.id.vol3] } })), 400, 'InvalidStatus'),
  refused('CreateBlockVolumeGroup with another project\'s volume', 'isolation', as(A, 'POST', () => '/block-volume-groups/', (ctx) => ({ block_volume_group: { name: 'g', block_volume_ids: [ctx.id.otherVol] } })), 400, 'InvalidParameter'),
  refused('UpdateBlockVolumeGroup without name (the spec requires it)', 'spec VolumeGroupUpdateReq_VolumeGroup (name required)', as(A, 'PATCH', (ctx) => `/block-volume-groups/${ctx.id.group1}`, () => ({ block_volume_group: { description: 'x' } })), 400, 'MissingParameter'),
  refused('CreateBlockVolumeGroupSnapshot without description (the spec requires it)', 'spec VolumeGroupSnapshotCreateReq_VolumeGroupSnapshot', as(A, 'POST', () => '/block-volume-group-snapshots/', (ctx) => ({ block_volume_group_snapshot: { block_volume_group_id: ctx.id.group1, name: 'x' } })), 400, 'MissingParameter'),
  refused('CreateBlockVolumeGroupSnapshot of another project\'s group', 'isolation', as(A, 'POST', () => '/block-volume-group-snapshots/', (ctx) => ({ block_volume_group_snapshot: { block_volume_group_id: ctx.id.otherGroup, name: 'x', description: '' } })), 400, 'InvalidParameter'),
  refused('GetBlockVolumeGroup of another project\'s group is 404', 'isolation', as(A, 'GET', (ctx) => `/block-volume-groups/${ctx.id.otherGroup}`), 404, 'NotFound'),
  refused('GetBlockVolumeGroupSnapshot of a consistent snapshot id is 404', 'consistent snapshots and volume group snapshots are separate', as(A, 'GET', (ctx) => `/block-volume-group-snapshots/${ctx.id.cs1}`), 404, 'NotFound'),
];

const miscCases: Case[] = [
  ok('the collection path without its trailing slash is served too', 'reference xsky.md §8.1', as(A, 'GET', () => '/block-consistent-snapshots'), 200, ConsistentSnapshotsResp),
  ok('the /api/v1 base (XMS behind its web console) is served too', 'reference xsky.md §1 (cloudpods uses /api/v1)', (ctx) => ({ method: 'GET', url: `/xsky/api/v1/block-consistent-snapshots/${ctx.id.cs1}`, headers: auth(ctx.a) }), 200, SnapshotResp),
  refused('an unknown path answers XSKY\'s not-found', 'reference xsky.md §6', as(A, 'GET', () => '/block-widgets/'), 404, 'NotFound'),
];

runConformance<Context>({
  dialect: 'xsky',
  setup,
  cases: [...authCases, ...poolCases, ...volumeCases, ...snapshotCases, ...consistentCases, ...groupCases, ...miscCases],
});

