/**
 * The Manila dialect against its platform's examples (seed 003, reference
 * zstack-and-manila.md parts B and C): every route, the shapes and statuses, each documented
 * fault, the microversion and experimental-header rules, the policy (admin-only admin actions
 * by default, opened by an operator's policy file), bad input refused with nothing created,
 * and one project never reaching another's groups, snapshots or shares.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Policy, ruleDepthMax } from '../../src/api/dialects/manila/policy.js';
import type { Caller } from '../../src/core/context.js';
import { adminPassword, createHarness, type Harness, type Response } from '../api/harness.js';
import { databaseKinds } from '../support/databases.js';
import { arr, type ConformanceCase, type ConformanceRequest, lit, nullable, obj, oneOf, optional, runConformance, type Shape } from './conformance.js';

const GiB = 1024 ** 3;
/** The ids of the reference's samples (they name nothing in a fresh Strata). */
const sampleCgId = '9397c191-8427-4661-a2e8-b23820dc01d4';
const sampleSnapshotId = 'b44c894d-4bec-47aa-b389-cc8c6f0044a5';

interface Tenant {
  projectId: string;
  token: string;
}

interface Context {
  h: Harness;
  a: Tenant;
  b: Tenant;
  /** The bootstrap admin, with a token scoped to project a. */
  adminInA: string;
  readerInA: string;
  cg: string;
  emptyCg: string;
  share: string;
  snapshot: string;
  bCg: string;
  bSnapshot: string;
  /** Set by cases as they create things. */
  created: Record<string, string>;
}

type Case = ConformanceCase<Context>;

// Shapes (manila/api/views/*.py of the CG era).
const link = obj({ rel: oneOf(lit('self'), lit('bookmark')), href: 'string' });
const nextLink = obj({ rel: lit('next'), href: 'string' });
const status = oneOf(lit('available'), lit('creating'), lit('error'), lit('deleting'), lit('error_deleting'));
const cgsnapshotDetail = obj({
  id: 'uuid',
  name: nullable('string'),
  created_at: 'date-time',
  status,
  description: nullable('string'),
  project_id: 'string',
  consistency_group_id: nullable('uuid'),
  links: arr(link, 2),
});
const summary = obj({ id: 'uuid', name: nullable('string'), links: arr(link, 2) });
const cgsnapshotMember = obj({
  id: 'uuid',
  created_at: 'date-time',
  size: 'integer',
  share_protocol: 'string',
  project_id: 'string',
  share_type_id: 'uuid',
  cgsnapshot_id: 'uuid',
  share_id: 'uuid',
});
const cgDetail = (admin = false): Shape =>
  obj({
    id: 'uuid',
    name: nullable('string'),
    created_at: 'date-time',
    status,
    description: nullable('string'),
    project_id: 'string',
    host: nullable('string'),
    source_cgsnapshot_id: nullable('uuid'),
    share_network_id: nullable('uuid'),
    share_types: arr('uuid', 1),
    links: arr(link, 2),
    ...(admin ? { share_server_id: nullable('uuid') } : {}),
  });
/** A share at 2.30 (fields of 2.2 … 2.27 included, export locations gone since 2.9). */
const share230 = obj({
  id: 'uuid',
  size: 'integer',
  availability_zone: nullable('string'),
  created_at: 'date-time',
  status: 'string',
  name: nullable('string'),
  description: nullable('string'),
  project_id: 'string',
  host: nullable('string'),
  snapshot_id: nullable('uuid'),
  share_network_id: nullable('uuid'),
  share_proto: 'string',
  metadata: { record: 'string' },
  share_type: 'uuid',
  volume_type: 'string',
  links: arr(link, 2),
  is_public: 'boolean',
  snapshot_support: 'boolean',
  consistency_group_id: nullable('uuid'),
  source_cgsnapshot_member_id: nullable('uuid'),
  task_state: nullable('string'),
  share_type_name: 'string',
  access_rules_status: 'string',
  replication_type: nullable('string'),
  has_replicas: 'boolean',
  user_id: nullable('string'),
  create_share_from_snapshot_support: 'boolean',
  revert_to_snapshot_support: 'boolean',
});
const fault = (name: string, code: number): Shape => obj({ [name]: obj({ code: lit(code), message: 'string' }) });
const faultSaying = (name: string, code: number, message: RegExp): Shape => obj({ [name]: obj({ code: lit(code), message: { pattern: message } }) });
const versionEntry = obj({
  id: 'string',
  status: 'string',
  version: 'string',
  min_version: 'string',
  updated: 'date-time',
  links: arr(obj({ rel: 'string', href: 'string', type: optional('string') })),
  'media-types': arr(obj({ base: 'string', type: 'string' })),
});

/** The headers of a CG-era request: token, version, experimental flag. */
function mv(token: string, version = '2.30', experimental: string | null = 'True'): Record<string, string> {
  const headers: Record<string, string> = { 'x-auth-token': token, 'X-OpenStack-Manila-API-Version': version };
  if (experimental !== null) headers['X-OpenStack-Manila-API-Experimental'] = experimental;
  return headers;
}
const v2 = (c: Context, path: string, tenant: Tenant = c.a) => `/manila/v2/${tenant.projectId}${path}`;

async function callerOf(h: Harness, token: string): Promise<Caller> {
  return h.plane.identity.authenticate(token);
}
async function counts(h: Harness, token: string): Promise<{ groups: number; snapshots: number; volumes: number }> {
  const caller = await callerOf(h, token);
  const [groups, snapshots, volumes] = await Promise.all([
    h.plane.groups.list(caller, { limit: 1000 }),
    h.plane.groups.listSnapshots(caller, { limit: 1000 }),
    h.plane.volumes.list(caller, { limit: 1000 }),
  ]);
  return { groups: groups.items.length, snapshots: snapshots.items.length, volumes: volumes.items.length };
}
/** A case's request, after noting project a's counts (for `nothingCreated`). */
const counted =
  (build: (c: Context) => ConformanceRequest): Case['request'] =>
  async (c) => {
    c.created.before = JSON.stringify(await counts(c.h, c.a.token));
    return build(c);
  };
/** Checks that a refused request (built with `counted`) created nothing in project a. */
const nothingCreated = async (_r: Response, c: Context, h: Harness): Promise<string[]> => {
  const now = await counts(h, c.a.token);
  const before = JSON.parse(c.created.before) as typeof now;
  const grew = (Object.keys(now) as (keyof typeof now)[]).filter((k) => now[k] > before[k]);
  return grew.length === 0 ? [] : [`created ${grew.join(', ')}: ${JSON.stringify(before)} → ${JSON.stringify(now)}`];
};
const expectEqual = (actual: unknown, expected: unknown, what: string): string[] =>
  JSON.stringify(actual) === JSON.stringify(expected) ? [] : [`${what}: ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`];

async function manila(h: Harness, method: string, url: string, token: string, body?: unknown, version = '2.30'): Promise<Response> {
  return h.request(method, url, { headers: mv(token, version), body });
}

async function setup(h: Harness): Promise<Context> {
  const a = await h.tenant('manila-a', 'member');
  const b = await h.tenant('manila-b', 'member');
  const adminInA = await h.login('admin', adminPassword, a.projectId);
  const reader = await h.request('POST', '/api/v1/users', { token: h.adminToken, body: { name: 'manila-a-reader', password: 'password-123', project_id: a.projectId, role: 'reader' } });
  assert.equal(reader.status, 201, JSON.stringify(reader.body));
  const readerInA = await h.login('manila-a-reader', 'password-123');
  const at = (t: Tenant, path: string) => `/manila/v2/${t.projectId}${path}`;
  const cgOf = async (t: Tenant, name: string) => {
    const r = await manila(h, 'POST', at(t, '/consistency-groups'), t.token, { consistency_group: { name } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.consistency_group.id as string;
  };
  const shareIn = async (t: Tenant, cg: string, name: string) => {
    const r = await manila(h, 'POST', at(t, '/shares'), t.token, { share: { share_proto: 'NFS', size: 1, name, consistency_group_id: cg } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.share.id as string;
  };
  const snapshotOf = async (t: Tenant, cg: string, name: string) => {
    const r = await manila(h, 'POST', at(t, '/cgsnapshots'), t.token, { cgsnapshot: { consistency_group_id: cg, name } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.cgsnapshot.id as string;
  };
  const cg = await cgOf(a, 'cg1');
  const share = await shareIn(a, cg, 'share1');
  await shareIn(a, cg, 'share2');
  const snapshot = await snapshotOf(a, cg, 'snapshot_CG2');
  const emptyCg = await cgOf(a, 'empty');
  const bCg = await cgOf(b, 'b-cg');
  await shareIn(b, bCg, 'b-share');
  const bSnapshot = await snapshotOf(b, bCg, 'b-snap');
  const context: Context = { h, a, b, adminInA, readerInA, cg, emptyCg, share, snapshot, bCg, bSnapshot, created: {} };
  return context;
}

const ref = (section: string) => `reference zstack-and-manila.md ${section}`;

const discoveryCases: Case[] = [
  {
    name: 'version discovery lists v1.0 and v2.0 (CURRENT) with 300 Multiple Choices, without a token',
    source: ref('§B.1 Version discovery'),
    request: () => ({ method: 'GET', url: '/manila/' }),
    expect: {
      status: 300,
      shape: obj({ versions: arr(versionEntry, 2) }),
      check: (r) => {
        const current = r.body.versions.find((v: { status: string }) => v.status === 'CURRENT');
        return [...expectEqual(current?.id, 'v2.0', 'CURRENT id'), ...expectEqual(current?.min_version, '2.0', 'min_version'), ...expectEqual(current?.version, '2.55', 'version')];
      },
    },
  },
  {
    name: 'GET /v2/ lists the v2 entry',
    source: ref('§B.1 Version discovery'),
    request: () => ({ method: 'GET', url: '/manila/v2/' }),
    expect: { status: 200, shape: obj({ versions: arr(versionEntry, 1) }) },
  },
];

const authCases: Case[] = [
  {
    name: 'no X-Auth-Token: 401 unauthorized fault',
    source: ref('§B.2 Fault format'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots'), headers: { 'X-OpenStack-Manila-API-Version': '2.30', 'X-OpenStack-Manila-API-Experimental': 'True' } }),
    expect: { status: 401, shape: fault('unauthorized', 401) },
  },
  {
    name: 'an unknown token: 401 unauthorized fault',
    source: ref('§B.2 Fault format'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots'), headers: mv('not-a-token') }),
    expect: { status: 401, shape: fault('unauthorized', 401) },
  },
  {
    name: "another project's id as {tenant_id}: 400 Malformed request url (no hint whether it exists)",
    source: 'manila wsgi.py _process_stack',
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots', c.b), headers: mv(c.a.token) }),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /^Malformed request url$/) },
  },
];

const microversionCases: Case[] = [
  {
    name: 'without the experimental header a CG method does not match: 404 itemNotFound',
    source: ref('§B.1 Request headers'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token, '2.30', null) }),
    expect: { status: 404, shape: faultSaying('itemNotFound', 404, /^The resource could not be found\.$/) },
  },
  {
    name: 'experimental header "false" is not a request for experimental APIs: 404',
    source: ref('§B.1 Request headers'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token, '2.30', 'false') }),
    expect: { status: 404, shape: fault('itemNotFound', 404) },
  },
  {
    name: 'experimental header "1" counts as true (bool_from_string); version, experimental and Vary echoed',
    source: ref('§B.1 Request and response headers'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token, '2.7', '1') }),
    expect: {
      status: 200,
      headers: { 'X-OpenStack-Manila-API-Version': '2.7', 'X-OpenStack-Manila-API-Experimental': 'True', Vary: 'X-OpenStack-Manila-API-Version' },
    },
  },
  {
    name: 'without a version header the request is 2.0, before CGs: 404, version 2.0 echoed',
    source: ref('§B.1 History'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots'), headers: { 'x-auth-token': c.a.token, 'X-OpenStack-Manila-API-Experimental': 'True' } }),
    expect: { status: 404, shape: fault('itemNotFound', 404), headers: { 'X-OpenStack-Manila-API-Version': '2.0' } },
  },
  {
    name: '2.3 is before consistency groups (2.4): 404',
    source: ref('§B.1 History'),
    request: (c) => ({ method: 'GET', url: v2(c, '/consistency-groups'), headers: mv(c.a.token, '2.3') }),
    expect: { status: 404, shape: fault('itemNotFound', 404) },
  },
  {
    name: '2.31 converted CGs to share groups: the CG methods are gone (404)',
    source: ref('§B.1 History'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token, '2.31') }),
    expect: { status: 404, shape: fault('itemNotFound', 404) },
  },
  {
    name: 'a version above the maximum: 406 naming the minimum and maximum',
    source: ref('§B.1 Request headers'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token, '2.99') }),
    expect: { status: 406, shape: faultSaying('computeFault', 406, /^Version 2\.99 is not supported by the API\. Minimum is 2\.0 and maximum is 2\.55\.$/) },
  },
  {
    name: 'a version below the minimum (1.0 on /v2): 406',
    source: ref('§B.1 Request headers'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token, '1.0') }),
    expect: { status: 406, shape: fault('computeFault', 406) },
  },
  {
    name: 'a malformed version: 400',
    source: ref('§B.1 Request headers'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token, '2.x') }),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /is of invalid format/) },
  },
  {
    name: 'os-reset_status is the 2.4–2.6 name: 404 at 2.7',
    source: ref('§B.1 History'),
    request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${c.snapshot}/action`), headers: mv(c.adminInA, '2.7'), body: { 'os-reset_status': { status: 'available' } } }),
    expect: { status: 404, shape: fault('itemNotFound', 404) },
  },
  {
    name: 'reset_status is the 2.7+ name: 404 at 2.6',
    source: ref('§B.1 History'),
    request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${c.snapshot}/action`), headers: mv(c.adminInA, '2.6'), body: { reset_status: { status: 'available' } } }),
    expect: { status: 404, shape: fault('itemNotFound', 404) },
  },
  {
    name: 'os-reset_status at 2.6 (admin): 202',
    source: ref('§B.4 reset status'),
    request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${c.snapshot}/action`), headers: mv(c.adminInA, '2.6'), body: { 'os-reset_status': { status: 'available' } } }),
    expect: { status: 202 },
  },
];

const cgsnapshotCases: Case[] = [
  {
    name: 'list cgsnapshots (summary: id, name, links)',
    source: 'seed 003 List consistency group snapshots',
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token) }),
    expect: {
      status: 200,
      shape: obj({ cgsnapshots: arr(summary, 1) }),
      check: (r, c) => {
        const ids = r.body.cgsnapshots.map((s: { id: string }) => s.id);
        const problems = ids.includes(c.snapshot) ? [] : ['the setup snapshot is missing'];
        if (ids.includes(c.bSnapshot)) problems.push("project b's snapshot is listed");
        const self = r.body.cgsnapshots[0].links[0].href as string;
        if (!self.includes(`/manila/v2/${c.a.projectId}/cgsnapshot/`)) problems.push(`self link ${self} is not …/v2/{project}/cgsnapshot/{id}`);
        return problems;
      },
    },
  },
  {
    name: 'list cgsnapshots with details',
    source: 'seed 003 List consistency group snapshots with details',
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots/detail'), headers: mv(c.a.token) }),
    expect: { status: 200, shape: obj({ cgsnapshots: arr(cgsnapshotDetail, 1) }) },
  },
  {
    name: 'list with limit=1: one item and a next link (cgsnapshot_links)',
    source: ref('§B.4 Lists'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots/detail?limit=1&offset=0'), headers: mv(c.a.token) }),
    expect: { status: 200, shape: obj({ cgsnapshots: arr(cgsnapshotDetail, 1), cgsnapshot_links: arr(nextLink, 1) }) },
  },
  {
    name: 'list with offset past the end: empty, no links',
    source: ref('§B.4 Lists'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots?offset=50'), headers: mv(c.a.token) }),
    expect: { status: 200, shape: obj({ cgsnapshots: arr(summary) }), check: (r) => expectEqual(r.body.cgsnapshots.length, 0, 'items') },
  },
  {
    name: 'list with a negative limit: 400',
    source: ref('§B.4 Lists'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots?limit=-1'), headers: mv(c.a.token) }),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /^limit param must be positive$/) },
  },
  {
    name: 'list with a non-integer offset: 400',
    source: ref('§B.4 Lists'),
    request: (c) => ({ method: 'GET', url: v2(c, '/cgsnapshots?offset=two'), headers: mv(c.a.token) }),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /^offset param must be an integer$/) },
  },
  {
    name: 'show a cgsnapshot',
    source: 'seed 003 Show consistency group snapshot details',
    request: (c) => ({ method: 'GET', url: v2(c, `/cgsnapshots/${c.snapshot}`), headers: mv(c.a.token) }),
    expect: {
      status: 200,
      shape: obj({ cgsnapshot: cgsnapshotDetail }),
      check: (r, c) => [...expectEqual(r.body.cgsnapshot.consistency_group_id, c.cg, 'consistency_group_id'), ...expectEqual(r.body.cgsnapshot.project_id, c.a.projectId, 'project_id')],
    },
  },
  {
    name: 'show an unknown cgsnapshot (the sample id): 404 naming it',
    source: ref('§B.2 Examples'),
    request: (c) => ({ method: 'GET', url: v2(c, `/cgsnapshots/${sampleSnapshotId}`), headers: mv(c.a.token) }),
    expect: { status: 404, shape: faultSaying('itemNotFound', 404, new RegExp(`^Consistency group snapshot ${sampleSnapshotId} not found\\.$`)) },
  },
  {
    name: "show another project's cgsnapshot: 404, as if it did not exist",
    source: 'interface.md Identity',
    request: (c) => ({ method: 'GET', url: v2(c, `/cgsnapshots/${c.bSnapshot}`), headers: mv(c.a.token) }),
    expect: { status: 404, shape: fault('itemNotFound', 404) },
  },
  {
    name: 'members of a cgsnapshot: one per share, size in GB',
    source: 'seed 003 Show consistency group snapshot member',
    request: (c) => ({ method: 'GET', url: v2(c, `/cgsnapshots/${c.snapshot}/members`), headers: mv(c.a.token) }),
    expect: {
      status: 200,
      shape: obj({ cgsnapshot_members: arr(cgsnapshotMember, 2) }),
      check: (r, c) => {
        const members = r.body.cgsnapshot_members as Array<{ share_id: string; size: number; cgsnapshot_id: string; share_protocol: string }>;
        return [
          ...expectEqual(members.length, 2, 'members'),
          ...(members.some((m) => m.share_id === c.share) ? [] : ['share1 is not a member']),
          ...expectEqual([...new Set(members.map((m) => m.size))], [1], 'sizes (GB)'),
          ...expectEqual([...new Set(members.map((m) => m.cgsnapshot_id))], [c.snapshot], 'cgsnapshot_id'),
          ...expectEqual([...new Set(members.map((m) => m.share_protocol))], ['NFS'], 'share_protocol'),
        ];
      },
    },
  },
  {
    name: 'members with limit=1: one member and cgsnapshot_members_links',
    source: ref('§B.4 Views'),
    request: (c) => ({ method: 'GET', url: v2(c, `/cgsnapshots/${c.snapshot}/members?limit=1`), headers: mv(c.a.token) }),
    expect: { status: 200, shape: obj({ cgsnapshot_members: arr(cgsnapshotMember, 1), cgsnapshot_members_links: arr(nextLink, 1) }) },
  },
  {
    name: "members of another project's cgsnapshot: 404",
    source: 'interface.md Identity',
    request: (c) => ({ method: 'GET', url: v2(c, `/cgsnapshots/${c.bSnapshot}/members`), headers: mv(c.a.token) }),
    expect: { status: 404, shape: fault('itemNotFound', 404) },
  },
  {
    name: 'create a cgsnapshot (the reference sample, with the setup CG): 202, detail',
    source: 'seed 003 Create consistency group snapshot; reference §B.4 create-request',
    request: (c) => ({ method: 'POST', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token), body: { cgsnapshot: { consistency_group_id: c.cg, name: 'snapshot_cg1', description: 'Snapshot of cg1' } } }),
    expect: {
      status: 202,
      shape: obj({ cgsnapshot: cgsnapshotDetail }),
      check: async (r, c, h) => {
        c.created.snapshot = r.body.cgsnapshot.id;
        const caller = await callerOf(h, c.a.token);
        const stored = await h.plane.groups.getSnapshot(caller, r.body.cgsnapshot.id);
        return [
          ...expectEqual(r.body.cgsnapshot.name, 'snapshot_cg1', 'name'),
          ...expectEqual(r.body.cgsnapshot.description, 'Snapshot of cg1', 'description'),
          ...expectEqual(stored.snapshots.length, 2, 'member snapshots in Strata'),
          ...expectEqual(stored.groupId, c.cg, 'group'),
        ];
      },
    },
  },
  {
    name: 'update a cgsnapshot (the reference sample): 200, detail with the new description',
    source: 'seed 003 Update consistency group snapshot; reference §B.4 update-request',
    request: (c) => ({ method: 'PUT', url: v2(c, `/cgsnapshots/${c.created.snapshot}`), headers: mv(c.a.token), body: { cgsnapshot: { description: 'Changed description: there is a snapshot of CG2' } } }),
    expect: {
      status: 200,
      shape: obj({ cgsnapshot: cgsnapshotDetail }),
      check: (r) => [...expectEqual(r.body.cgsnapshot.description, 'Changed description: there is a snapshot of CG2', 'description'), ...expectEqual(r.body.cgsnapshot.name, 'snapshot_cg1', 'name')],
    },
  },
  {
    name: 'update with a field other than name and description: 400',
    source: ref('§B.4 Update'),
    request: (c) => ({ method: 'PUT', url: v2(c, `/cgsnapshots/${c.snapshot}`), headers: mv(c.a.token), body: { cgsnapshot: { status: 'error' } } }),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /^The fields \{'status'\} are invalid or not allowed to be updated\.$/) },
  },
  {
    name: 'update without a cgsnapshot object: 400',
    source: 'manila cgsnapshots.py update',
    request: (c) => ({ method: 'PUT', url: v2(c, `/cgsnapshots/${c.snapshot}`), headers: mv(c.a.token), body: { name: 'x' } }),
    expect: { status: 400, shape: fault('badRequest', 400) },
  },
  {
    name: "update another project's cgsnapshot: 404 and unchanged",
    source: 'interface.md Identity',
    request: (c) => ({ method: 'PUT', url: v2(c, `/cgsnapshots/${c.bSnapshot}`), headers: mv(c.a.token), body: { cgsnapshot: { name: 'stolen' } } }),
    expect: {
      status: 404,
      shape: fault('itemNotFound', 404),
      check: async (_r, c, h) => expectEqual((await h.plane.groups.getSnapshot(await callerOf(h, c.b.token), c.bSnapshot)).name, 'b-snap', "b's name"),
    },
  },
  {
    name: 'a reader may look but not create: 403',
    source: 'product.md Concepts (reader role)',
    request: counted((c) => ({ method: 'POST', url: v2(c, '/cgsnapshots'), headers: mv(c.readerInA), body: { cgsnapshot: { consistency_group_id: c.cg } } })),
    expect: { status: 403, shape: fault('forbidden', 403), check: nothingCreated },
  },
];

const cgsnapshotCreateErrors: Case[] = [
  {
    name: 'create without a cgsnapshot object: 400, nothing created',
    source: ref('§B.4 Create'),
    request: counted((c) => ({ method: 'POST', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token), body: { consistency_group_id: c.cg } })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /'cgsnapshot' is missing from the request body/), check: nothingCreated },
  },
  {
    name: 'create without consistency_group_id: 400',
    source: ref('§B.4 Create'),
    request: counted((c) => ({ method: 'POST', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token), body: { cgsnapshot: { name: 'x' } } })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /^Must supply 'consistency_group_id' attribute\.$/), check: nothingCreated },
  },
  {
    name: 'create with a consistency_group_id that is not a uuid: 400',
    source: ref('§B.4 Create'),
    request: counted((c) => ({ method: 'POST', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token), body: { cgsnapshot: { consistency_group_id: 'cg1' } } })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /must be a uuid/), check: nothingCreated },
  },
  {
    name: 'create for an unknown CG (the sample request verbatim): 400, not 404',
    source: ref('§B.4 create-request sample'),
    request: counted((c) => ({ method: 'POST', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token), body: { cgsnapshot: { consistency_group_id: sampleCgId, name: 'snapshot_cg1', description: 'Snapshot of cg1' } } })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, new RegExp(`^ConsistencyGroup ${sampleCgId} could not be found\\.$`)), check: nothingCreated },
  },
  {
    name: "create for another project's CG: 400 as if unknown, nothing created there",
    source: 'interface.md Identity',
    request: counted((c) => ({ method: 'POST', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token), body: { cgsnapshot: { consistency_group_id: c.bCg } } })),
    expect: {
      status: 400,
      shape: fault('badRequest', 400),
      check: async (r, c, h) => [...(await nothingCreated(r, c, h)), ...expectEqual((await counts(h, c.b.token)).snapshots, 1, "b's snapshots")],
    },
  },
  {
    name: 'create for a CG with no shares: 409 (Strata snapshots at least one volume)',
    source: ref('§B.4 Create (CG not available: 409)'),
    request: counted((c) => ({ method: 'POST', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token), body: { cgsnapshot: { consistency_group_id: c.emptyCg } } })),
    expect: { status: 409, shape: fault('conflictingRequest', 409), check: nothingCreated },
  },
  {
    name: 'create with a name longer than 255: 400',
    source: 'manila CG snapshot name column, String(255)',
    request: counted((c) => ({ method: 'POST', url: v2(c, '/cgsnapshots'), headers: mv(c.a.token), body: { cgsnapshot: { consistency_group_id: c.cg, name: 'n'.repeat(256) } } })),
    expect: { status: 400, shape: fault('badRequest', 400), check: nothingCreated },
  },
  {
    name: 'create with a body that is not JSON: 400 Malformed request body',
    source: 'manila wsgi.py _process_stack',
    request: counted((c) => ({ method: 'POST', url: v2(c, '/cgsnapshots'), headers: { ...mv(c.a.token), 'content-type': 'application/json' }, body: '{"cgsnapshot": ' })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /^Malformed request body$/), check: nothingCreated },
  },
];

const adminActionCases: Case[] = [
  {
    name: 'reset_status by a member (default policy: admin_api): 403 forbidden',
    source: 'seed 003 Reset consistency group snapshot state; reference §B.4 Default policy',
    request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${c.snapshot}/action`), headers: mv(c.a.token), body: { reset_status: { status: 'error' } } }),
    expect: {
      status: 403,
      shape: faultSaying('forbidden', 403, /^Access was denied to this resource\.$/),
      check: async (_r, c, h) => expectEqual((await h.plane.groups.getSnapshot(await callerOf(h, c.a.token), c.snapshot)).status, 'available', 'status'),
    },
  },
  {
    name: 'force_delete by a member (default policy): 403 forbidden',
    source: 'seed 003 Force-delete consistency group snapshot',
    request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${c.snapshot}/action`), headers: mv(c.a.token), body: { force_delete: null } }),
    expect: { status: 403, shape: fault('forbidden', 403) },
  },
  {
    name: 'reset_status by an admin (the sample body): 202, status error',
    source: 'seed 003 Reset consistency group snapshot state; reference §B.4 reset_status-request',
    request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${c.created.snapshot}/action`), headers: mv(c.adminInA), body: { reset_status: { status: 'error' } } }),
    expect: {
      status: 202,
      check: async (r, c, h) => [
        ...expectEqual(r.body, null, 'body'),
        ...expectEqual((await h.plane.groups.getSnapshot(await callerOf(h, c.a.token), c.created.snapshot)).status, 'error', 'status'),
      ],
    },
  },
  {
    name: 'reset_status without a status: 400',
    source: ref('§B.4 Reset status'),
    request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${c.created.snapshot}/action`), headers: mv(c.adminInA), body: { reset_status: {} } }),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /^Must specify 'status'$/) },
  },
  {
    name: 'reset_status to a status Manila does not know: 400 listing the valid ones',
    source: ref('§B.4 Reset status'),
    request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${c.created.snapshot}/action`), headers: mv(c.adminInA), body: { reset_status: { status: 'broken' } } }),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /^Invalid state\. Valid states: .*available.*\.$/) },
  },
  {
    name: 'reset_status of an unknown cgsnapshot: 404',
    source: ref('§B.4 Reset status'),
    request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${sampleSnapshotId}/action`), headers: mv(c.adminInA), body: { reset_status: { status: 'error' } } }),
    expect: { status: 404, shape: fault('itemNotFound', 404) },
  },
  {
    name: 'an action Manila does not have: 400',
    source: 'manila wsgi.py _process_stack',
    request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${c.snapshot}/action`), headers: mv(c.adminInA), body: { revert: {} } }),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /^There is no such action: revert$/) },
  },
  {
    name: 'an action body with two keys: 400 Malformed request body',
    source: 'manila wsgi.py action_peek_json',
    request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${c.snapshot}/action`), headers: mv(c.adminInA), body: { reset_status: { status: 'error' }, force_delete: null } }),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /^Malformed request body$/) },
  },
  {
    name: 'delete while creating (reset by the admin): 409, only available or error delete',
    source: ref('§B.4 Delete'),
    request: async (c) => ({ method: 'DELETE', url: v2(c, `/cgsnapshots/${c.snapshot}`), headers: mv(c.a.token) }),
    expect: { status: 409, shape: fault('conflictingRequest', 409) },
  },
  {
    name: 'delete a cgsnapshot in error: 202, then gone',
    source: 'seed 003 Delete consistency group snapshot',
    request: (c) => ({ method: 'DELETE', url: v2(c, `/cgsnapshots/${c.created.snapshot}`), headers: mv(c.a.token) }),
    expect: {
      status: 202,
      check: async (_r, c, h) => {
        await h.plane.jobs.idle();
        const after = await h.request('GET', v2(c, `/cgsnapshots/${c.created.snapshot}`), { headers: mv(c.a.token) });
        return expectEqual(after.status, 404, 'show after delete');
      },
    },
  },
  {
    name: "delete another project's cgsnapshot: 404, it stays",
    source: 'interface.md Identity',
    request: (c) => ({ method: 'DELETE', url: v2(c, `/cgsnapshots/${c.bSnapshot}`), headers: mv(c.a.token) }),
    expect: { status: 404, shape: fault('itemNotFound', 404), check: async (_r, c, h) => expectEqual((await counts(h, c.b.token)).snapshots, 1, "b's snapshots") },
  },
  {
    name: 'force_delete by an admin (the sample body) whatever the status: 202, then gone',
    source: 'seed 003 Force-delete consistency group snapshot; reference §B.4 force_delete-request',
    request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${c.snapshot}/action`), headers: mv(c.adminInA), body: { force_delete: null } }),
    expect: {
      status: 202,
      check: async (_r, c, h) => {
        await h.plane.jobs.idle();
        return expectEqual((await h.request('GET', v2(c, `/cgsnapshots/${c.snapshot}`), { headers: mv(c.a.token) })).status, 404, 'show after force delete');
      },
    },
  },
];

const cgCases: Case[] = [
  {
    name: 'create a CG (the reference sample without its share network): 202, detail',
    source: ref('§B.3 Samples'),
    request: (c) => ({ method: 'POST', url: v2(c, '/consistency-groups'), headers: mv(c.a.token), body: { consistency_group: { name: 'my-cg1', description: 'my first consistency group' } } }),
    expect: {
      status: 202,
      shape: obj({ consistency_group: cgDetail() }),
      check: (r, c) => {
        c.created.cg = r.body.consistency_group.id;
        return expectEqual(r.body.consistency_group.status, 'available', 'status');
      },
    },
  },
  {
    name: 'create a CG with a share network (the sample verbatim): 400, Strata has no share networks',
    source: ref('§B.3 Samples'),
    request: counted((c) => ({
      method: 'POST',
      url: v2(c, '/consistency-groups'),
      headers: mv(c.a.token),
      body: { consistency_group: { name: 'my-cg1', share_network_id: 'd8ae6799-2567-4a89-aafb-fa4424350d2b', description: 'my first consistency group' } },
    })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /share network does not exist/), check: nothingCreated },
  },
  {
    name: 'create a CG with an unknown share type: 400',
    source: ref('§B.3 Create body'),
    request: counted((c) => ({ method: 'POST', url: v2(c, '/consistency-groups'), headers: mv(c.a.token), body: { consistency_group: { share_types: ['d2ad4f9d-0b2e-4f5c-9bdb-6f5d7a3e2b11'] } } })),
    expect: { status: 400, shape: fault('badRequest', 400), check: nothingCreated },
  },
  {
    name: 'create a CG with an unknown field: 400 naming it, nothing created',
    source: ref('§B.3 Create body'),
    request: counted((c) => ({ method: 'POST', url: v2(c, '/consistency-groups'), headers: mv(c.a.token), body: { consistency_group: { name: 'x', volume_ids: [] } } })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /^The fields \{'volume_ids'\} are invalid\.$/), check: nothingCreated },
  },
  {
    name: 'create a CG with share_types and source_cgsnapshot_id: 400',
    source: ref('§B.3 Create body'),
    request: counted((c) => ({ method: 'POST', url: v2(c, '/consistency-groups'), headers: mv(c.a.token), body: { consistency_group: { share_types: [], source_cgsnapshot_id: sampleSnapshotId } } })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /Cannot supply both 'share_types' and 'source_cgsnapshot_id'/), check: nothingCreated },
  },
  {
    name: 'create a CG with share_network_id and source_cgsnapshot_id: 400',
    source: ref('§B.3 Create body'),
    request: counted((c) => ({ method: 'POST', url: v2(c, '/consistency-groups'), headers: mv(c.a.token), body: { consistency_group: { share_network_id: sampleCgId, source_cgsnapshot_id: sampleSnapshotId } } })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /inherited from the source/), check: nothingCreated },
  },
  {
    name: 'create a CG from a source that is not a uuid: 400',
    source: ref('§B.3 Create body'),
    request: counted((c) => ({ method: 'POST', url: v2(c, '/consistency-groups'), headers: mv(c.a.token), body: { consistency_group: { source_cgsnapshot_id: 'snap' } } })),
    expect: { status: 400, shape: fault('badRequest', 400), check: nothingCreated },
  },
  {
    name: 'create a CG from an unknown cgsnapshot: 400',
    source: ref('§B.3 Create body'),
    request: counted((c) => ({ method: 'POST', url: v2(c, '/consistency-groups'), headers: mv(c.a.token), body: { consistency_group: { source_cgsnapshot_id: sampleSnapshotId } } })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /could not be found/), check: nothingCreated },
  },
  {
    name: "create a CG from another project's cgsnapshot: 400 as unknown",
    source: 'interface.md Identity',
    request: counted((c) => ({ method: 'POST', url: v2(c, '/consistency-groups'), headers: mv(c.a.token), body: { consistency_group: { source_cgsnapshot_id: c.bSnapshot } } })),
    expect: { status: 400, shape: fault('badRequest', 400), check: nothingCreated },
  },
  {
    name: 'bad CG creates left nothing behind',
    source: ref('§B.3 Create body'),
    request: (c) => ({ method: 'GET', url: v2(c, '/consistency-groups'), headers: mv(c.a.token) }),
    expect: {
      status: 200,
      shape: obj({ consistency_groups: arr(summary) }),
      check: (r) => expectEqual(r.body.consistency_groups.length, 3, 'CGs (cg1, empty, my-cg1)'),
    },
  },
  {
    name: 'list CGs with details',
    source: ref('§B.3 Routes, Detail view'),
    request: (c) => ({ method: 'GET', url: v2(c, '/consistency-groups/detail'), headers: mv(c.a.token) }),
    expect: { status: 200, shape: obj({ consistency_groups: arr(cgDetail(), 3) }) },
  },
  {
    name: 'show a CG as an admin adds share_server_id',
    source: ref('§B.3 Detail view'),
    request: (c) => ({ method: 'GET', url: v2(c, `/consistency-groups/${c.cg}`), headers: mv(c.adminInA) }),
    expect: { status: 200, shape: obj({ consistency_group: cgDetail(true) }) },
  },
  {
    name: "show another project's CG: 404",
    source: 'interface.md Identity',
    request: (c) => ({ method: 'GET', url: v2(c, `/consistency-groups/${c.bCg}`), headers: mv(c.a.token) }),
    expect: { status: 404, shape: fault('itemNotFound', 404) },
  },
  {
    name: 'update a CG: 200 with the new name',
    source: ref('§B.3 Routes'),
    request: (c) => ({ method: 'PUT', url: v2(c, `/consistency-groups/${c.created.cg}`), headers: mv(c.a.token), body: { consistency_group: { name: 'renamed' } } }),
    expect: { status: 200, shape: obj({ consistency_group: cgDetail() }), check: (r) => expectEqual(r.body.consistency_group.name, 'renamed', 'name') },
  },
  {
    name: 'update a CG with another key: 400',
    source: ref('§B.3 Update body'),
    request: (c) => ({ method: 'PUT', url: v2(c, `/consistency-groups/${c.created.cg}`), headers: mv(c.a.token), body: { consistency_group: { share_types: [] } } }),
    expect: { status: 400, shape: fault('badRequest', 400) },
  },
  {
    name: 'create a CG from a cgsnapshot: 202, creating, with source_cgsnapshot_id',
    source: ref('§B.3 Create body'),
    request: async (c) => ({ method: 'POST', url: v2(c, '/consistency-groups'), headers: mv(c.a.token), body: { consistency_group: { name: 'from-snap', source_cgsnapshot_id: c.created.snapshot2 } } }),
    expect: {
      status: 202,
      shape: obj({ consistency_group: cgDetail() }),
      check: async (r, c, h) => {
        c.created.clone = r.body.consistency_group.id;
        await h.plane.jobs.idle();
        const shown = await h.request('GET', v2(c, `/consistency-groups/${c.created.clone}`), { headers: mv(c.a.token) });
        const shares = await h.request('GET', v2(c, `/shares/detail?consistency_group_id=${c.created.clone}`), { headers: mv(c.a.token) });
        return [
          ...expectEqual(r.body.consistency_group.source_cgsnapshot_id, c.created.snapshot2, 'source_cgsnapshot_id'),
          ...expectEqual(shown.body.consistency_group.status, 'available', 'status once cloned'),
          ...expectEqual(shares.body.shares.length, 2, 'shares cloned'),
          ...expectEqual(shares.body.shares.every((s: { source_cgsnapshot_member_id: string | null }) => s.source_cgsnapshot_member_id !== null), true, 'shares name their member'),
        ];
      },
    },
  },
  {
    name: 'delete a CG that has cgsnapshots: 409',
    source: ref('§B.3 Routes (DELETE)'),
    request: (c) => ({ method: 'DELETE', url: v2(c, `/consistency-groups/${c.cg}`), headers: mv(c.a.token) }),
    expect: { status: 409, shape: faultSaying('conflictingRequest', 409, /cgsnapshots/) },
  },
  {
    name: 'delete a CG that has shares: 409',
    source: ref('§B.3 Routes (DELETE)'),
    request: (c) => ({ method: 'DELETE', url: v2(c, `/consistency-groups/${c.created.clone}`), headers: mv(c.a.token) }),
    expect: { status: 409, shape: faultSaying('conflictingRequest', 409, /shares/) },
  },
  {
    name: 'CG reset_status by a member (consistency_group:reset_status is admin_api): 403',
    source: ref('§B.4 Default policy'),
    request: (c) => ({ method: 'POST', url: v2(c, `/consistency-groups/${c.created.clone}/action`), headers: mv(c.a.token), body: { reset_status: { status: 'error' } } }),
    expect: { status: 403, shape: fault('forbidden', 403) },
  },
  {
    name: 'CG reset_status by an admin: 501, Strata cannot reset a group status',
    source: ref('§B.3 Routes (action)'),
    request: (c) => ({ method: 'POST', url: v2(c, `/consistency-groups/${c.created.clone}/action`), headers: mv(c.adminInA), body: { reset_status: { status: 'error' } } }),
    expect: { status: 501, shape: fault('notImplemented', 501) },
  },
  {
    name: 'CG force_delete by a member: 403',
    source: ref('§B.4 Default policy'),
    request: (c) => ({ method: 'POST', url: v2(c, `/consistency-groups/${c.created.clone}/action`), headers: mv(c.a.token), body: { force_delete: null } }),
    expect: { status: 403, shape: fault('forbidden', 403) },
  },
  {
    name: 'CG os-force_delete by an admin at 2.6 despite its shares: 202, the shares stay ungrouped',
    source: ref('§B.3 Routes (action)'),
    request: (c) => ({ method: 'POST', url: v2(c, `/consistency-groups/${c.created.clone}/action`), headers: mv(c.adminInA, '2.6'), body: { 'os-force_delete': null } }),
    expect: {
      status: 202,
      check: async (_r, c, h) => {
        const caller = await callerOf(h, c.a.token);
        const left = (await h.plane.volumes.list(caller, { limit: 1000 })).items.filter((v) => v.name.startsWith('from-snap'));
        return [
          ...expectEqual((await h.request('GET', v2(c, `/consistency-groups/${c.created.clone}`), { headers: mv(c.a.token) })).status, 404, 'show after force delete'),
          ...expectEqual(left.map((v) => v.groupId), [null, null], 'the cloned shares, ungrouped'),
        ];
      },
    },
  },
  {
    name: "delete another project's CG: 404, it stays",
    source: 'interface.md Identity',
    request: (c) => ({ method: 'DELETE', url: v2(c, `/consistency-groups/${c.bCg}`), headers: mv(c.a.token) }),
    expect: { status: 404, shape: fault('itemNotFound', 404), check: async (_r, c, h) => expectEqual((await counts(h, c.b.token)).groups, 1, "b's groups") },
  },
  {
    name: 'delete an empty CG: 202, then gone',
    source: ref('§B.3 Routes (DELETE)'),
    request: (c) => ({ method: 'DELETE', url: v2(c, `/consistency-groups/${c.created.cg}`), headers: mv(c.a.token) }),
    expect: {
      status: 202,
      check: async (_r, c, h) => expectEqual((await h.request('GET', v2(c, `/consistency-groups/${c.created.cg}`), { headers: mv(c.a.token) })).status, 404, 'show after delete'),
    },
  },
];

const shareCases: Case[] = [
  {
    name: 'create a share in a CG: 200, size in GB, a volume of that many GiB',
    source: ref('§B.3 Shares in 2.4–2.30'),
    request: (c) => ({ method: 'POST', url: v2(c, '/shares'), headers: mv(c.a.token), body: { share: { share_proto: 'CIFS', size: 2, name: 'share3', consistency_group_id: c.cg, metadata: { tier: 'gold' } } } }),
    expect: {
      status: 200,
      shape: obj({ share: share230 }),
      check: async (r, c, h) => {
        c.created.share = r.body.share.id;
        const volume = await h.plane.volumes.get(await callerOf(h, c.a.token), r.body.share.id);
        return [
          ...expectEqual(r.body.share.size, 2, 'size'),
          ...expectEqual(r.body.share.share_proto, 'CIFS', 'share_proto'),
          ...expectEqual(r.body.share.metadata, { tier: 'gold' }, 'metadata'),
          ...expectEqual(r.body.share.consistency_group_id, c.cg, 'consistency_group_id'),
          ...expectEqual(volume.sizeBytes, 2 * GiB, 'volume size'),
          ...expectEqual(volume.groupId, c.cg, 'volume group'),
        ];
      },
    },
  },
  {
    name: 'list shares (summary)',
    source: ref('§B.3 Shares'),
    request: (c) => ({ method: 'GET', url: v2(c, '/shares'), headers: mv(c.a.token) }),
    expect: {
      status: 200,
      shape: obj({ shares: arr(summary, 1) }),
      check: async (r, c, h) => expectEqual(r.body.shares.length, (await counts(h, c.a.token)).volumes, 'shares = volumes of the project'),
    },
  },
  {
    name: 'list shares in a CG with details',
    source: ref('§B.3 Shares'),
    request: (c) => ({ method: 'GET', url: v2(c, `/shares/detail?consistency_group_id=${c.cg}`), headers: mv(c.a.token) }),
    expect: { status: 200, shape: obj({ shares: arr(share230, 3) }), check: (r) => expectEqual(r.body.shares.length, 3, 'shares of cg1') },
  },
  {
    name: 'show a share',
    source: ref('§B.3 Shares'),
    request: (c) => ({ method: 'GET', url: v2(c, `/shares/${c.share}`), headers: mv(c.a.token) }),
    expect: { status: 200, shape: obj({ share: share230 }) },
  },
  {
    name: 'show a share at 2.0 (no experimental header needed; no CG fields)',
    source: ref('§B.3 Shares'),
    request: (c) => ({ method: 'GET', url: v2(c, `/shares/${c.share}`), headers: { 'x-auth-token': c.a.token } }),
    expect: {
      status: 200,
      check: (r) => [...expectEqual('consistency_group_id' in r.body.share, false, 'consistency_group_id present'), ...expectEqual(Array.isArray(r.body.share.export_locations), true, 'export_locations')],
    },
  },
  {
    name: "show another project's share: 404",
    source: 'interface.md Identity',
    request: (c) => ({ method: 'GET', url: v2(c, `/shares/${c.share}`, c.b), headers: mv(c.b.token) }),
    expect: { status: 404, shape: fault('itemNotFound', 404) },
  },
  {
    name: 'create a share of size 0: 400, nothing created',
    source: 'manila share/api.py create',
    request: counted((c) => ({ method: 'POST', url: v2(c, '/shares'), headers: mv(c.a.token), body: { share: { share_proto: 'NFS', size: 0 } } })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /must be an integer and greater than 0/), check: nothingCreated },
  },
  {
    name: 'create a share of size "abc": 400',
    source: 'manila share/api.py create',
    request: counted((c) => ({ method: 'POST', url: v2(c, '/shares'), headers: mv(c.a.token), body: { share: { share_proto: 'NFS', size: 'abc' } } })),
    expect: { status: 400, shape: fault('badRequest', 400), check: nothingCreated },
  },
  {
    name: 'create a share with an unsupported protocol: 400',
    source: 'manila share/api.py create',
    request: counted((c) => ({ method: 'POST', url: v2(c, '/shares'), headers: mv(c.a.token), body: { share: { share_proto: 'FTP', size: 1 } } })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /^Invalid share protocol provided: FTP/), check: nothingCreated },
  },
  {
    name: 'create a share in an unknown CG: 400',
    source: 'manila share/api.py create',
    request: counted((c) => ({ method: 'POST', url: v2(c, '/shares'), headers: mv(c.a.token), body: { share: { share_proto: 'NFS', size: 1, consistency_group_id: sampleCgId } } })),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /could not be found/), check: nothingCreated },
  },
  {
    name: "create a share in another project's CG: 400, nothing created in either",
    source: 'interface.md Identity',
    request: (c) => ({ method: 'POST', url: v2(c, '/shares'), headers: mv(c.a.token), body: { share: { share_proto: 'NFS', size: 1, consistency_group_id: c.bCg } } }),
    expect: { status: 400, shape: fault('badRequest', 400), check: async (_r, c, h) => expectEqual((await counts(h, c.b.token)).volumes, 1, "b's volumes") },
  },
  {
    name: 'create without a share object: 422, as Manila answers',
    source: 'manila api/v1/shares.py _create',
    request: counted((c) => ({ method: 'POST', url: v2(c, '/shares'), headers: mv(c.a.token), body: { size: 1 } })),
    expect: { status: 422, shape: fault('computeFault', 422), check: nothingCreated },
  },
  {
    name: 'bad share creates left nothing behind',
    source: 'task statement (bad input refused, nothing created)',
    request: (c) => ({ method: 'GET', url: v2(c, '/shares'), headers: mv(c.a.token) }),
    expect: { status: 200, check: (r) => expectEqual(r.body.shares.length, 5, 'shares (share1-3 in cg1, 2 cloned)') },
  },
  {
    name: 'delete a share in a CG without consistency_group_id: 400',
    source: 'manila api/v1/shares.py delete',
    request: (c) => ({ method: 'DELETE', url: v2(c, `/shares/${c.created.share}`), headers: mv(c.a.token) }),
    expect: { status: 400, shape: faultSaying('badRequest', 400, /Must provide 'consistency_group_id'/) },
  },
  {
    name: 'delete a share that is a cgsnapshot member: 403 (dependent members)',
    source: 'manila share/api.py delete',
    request: (c) => ({ method: 'DELETE', url: v2(c, `/shares/${c.share}?consistency_group_id=${c.cg}`), headers: mv(c.a.token) }),
    expect: { status: 403, shape: faultSaying('forbidden', 403, /dependent cgsnapshot members/) },
  },
  {
    name: 'delete a share with its CG named: 202, then gone',
    source: 'manila api/v1/shares.py delete',
    request: (c) => ({ method: 'DELETE', url: v2(c, `/shares/${c.created.share}?consistency_group_id=${c.cg}`), headers: mv(c.a.token) }),
    expect: {
      status: 202,
      check: async (_r, c, h) => {
        await h.plane.jobs.idle();
        return expectEqual((await h.request('GET', v2(c, `/shares/${c.created.share}`), { headers: mv(c.a.token) })).status, 404, 'show after delete');
      },
    },
  },
];

shareCases.push(
  {
    name: 'create a share from a cgsnapshot member (snapshot_id): 200, a clone of the member',
    source: 'manila api/v1/shares.py _create (snapshot_id)',
    request: async (c) => {
      const members = await c.h.request('GET', v2(c, `/cgsnapshots/${c.created.snapshot2}/members`), { headers: mv(c.a.token) });
      return { method: 'POST', url: v2(c, '/shares'), headers: mv(c.a.token), body: { share: { share_proto: 'NFS', size: 1, snapshot_id: members.body.cgsnapshot_members[0].id } } };
    },
    expect: {
      status: 200,
      shape: obj({ share: share230 }),
      check: (r) => [...expectEqual(typeof r.body.share.source_cgsnapshot_member_id, 'string', 'source_cgsnapshot_member_id'), ...expectEqual(r.body.share.consistency_group_id, null, 'group')],
    },
  },
  {
    name: 'create a share from an unknown snapshot: 404',
    source: 'manila api/v1/shares.py _create (snapshot_id)',
    request: counted((c) => ({ method: 'POST', url: v2(c, '/shares'), headers: mv(c.a.token), body: { share: { share_proto: 'NFS', size: 1, snapshot_id: sampleSnapshotId } } })),
    expect: { status: 404, shape: faultSaying('itemNotFound', 404, /^Snapshot .* could not be found\.$/), check: nothingCreated },
  },
  {
    name: 'a body sent as text/plain is ignored, as Manila does: 422 for the missing share, nothing created',
    source: 'manila wsgi.py get_body',
    request: counted((c) => ({ method: 'POST', url: v2(c, '/shares'), headers: { ...mv(c.a.token), 'content-type': 'text/plain' }, body: '{"share": {"share_proto": "NFS", "size": 1}}' })),
    expect: { status: 422, shape: fault('computeFault', 422), check: nothingCreated },
  },
);

const shareGroupCases: Case[] = [
  {
    name: 'share group snapshots at 2.40 without the experimental header: 404',
    source: ref('§C Share group snapshot support'),
    request: (c) => ({ method: 'GET', url: v2(c, '/share-group-snapshots'), headers: mv(c.a.token, '2.40', null) }),
    expect: { status: 404, shape: fault('itemNotFound', 404) },
  },
  {
    name: 'share group snapshots at 2.40 with it: 200, experimental echoed',
    source: ref('§C Share group snapshot support'),
    request: (c) => ({ method: 'GET', url: v2(c, '/share-group-snapshots/detail'), headers: mv(c.a.token, '2.40') }),
    expect: { status: 200, shape: obj({ share_group_snapshots: arr(obj({}, true)) }), headers: { 'X-OpenStack-Manila-API-Experimental': 'True' } },
  },
  {
    name: 'share group snapshot create at 2.55 (graduated, no header): 202 with members',
    source: ref('§B.4 Modern equivalent'),
    request: (c) => ({ method: 'POST', url: v2(c, '/share-group-snapshots'), headers: mv(c.a.token, '2.55', null), body: { share_group_snapshot: { share_group_id: c.cg, name: 'sgs' } } }),
    expect: {
      status: 202,
      shape: obj({
        share_group_snapshot: obj({
          id: 'uuid',
          name: nullable('string'),
          created_at: 'date-time',
          status,
          description: nullable('string'),
          project_id: 'string',
          share_group_id: 'uuid',
          members: arr(obj({ id: 'uuid', size: 'integer', share_id: 'uuid' }), 2),
          links: arr(link, 2),
        }),
      }),
      check: (r, c) => {
        c.created.sgSnapshot = r.body.share_group_snapshot.id;
        return [];
      },
    },
  },
  {
    name: 'the share group snapshot is the same Strata group snapshot as a cgsnapshot',
    source: ref('§B.4 Modern equivalent'),
    request: (c) => ({ method: 'GET', url: v2(c, `/cgsnapshots/${c.created.sgSnapshot}`), headers: mv(c.a.token) }),
    expect: { status: 200, shape: obj({ cgsnapshot: cgsnapshotDetail }) },
  },
  {
    name: 'show a share group at 2.55',
    source: ref('§C Share group snapshot support'),
    request: (c) => ({ method: 'GET', url: v2(c, `/share-groups/${c.cg}`), headers: mv(c.a.token, '2.55', null) }),
    expect: { status: 200, shape: obj({ share_group: obj({ id: 'uuid', share_group_type_id: 'uuid', availability_zone: 'string', consistent_snapshot_support: nullable('string') }, true) }) },
  },
  {
    name: 'list share groups at 2.55',
    source: ref('§C Share group snapshot support'),
    request: (c) => ({ method: 'GET', url: v2(c, '/share-groups'), headers: mv(c.a.token, '2.55', null) }),
    expect: { status: 200, shape: obj({ share_groups: arr(summary, 1) }) },
  },
  {
    name: 'create a share group with an unknown share group type: 400, nothing created',
    source: ref('§B.4 Modern equivalent'),
    request: counted((c) => ({ method: 'POST', url: v2(c, '/share-groups'), headers: mv(c.a.token, '2.55', null), body: { share_group: { name: 'sg', share_group_type_id: sampleCgId } } })),
    expect: { status: 400, shape: fault('badRequest', 400), check: nothingCreated },
  },
  {
    name: 'delete a share group snapshot at 2.55: 202',
    source: ref('§C Share group snapshot support'),
    request: (c) => ({ method: 'DELETE', url: v2(c, `/share-group-snapshots/${c.created.sgSnapshot}`), headers: mv(c.a.token, '2.55', null) }),
    expect: { status: 202 },
  },
];

runConformance<Context>({
  dialect: 'manila',
  setup: async (h) => {
    const context = await setup(h);
    // A second cgsnapshot to clone from (the first is force-deleted by a case).
    const r = await manila(h, 'POST', `/manila/v2/${context.a.projectId}/cgsnapshots`, context.a.token, { cgsnapshot: { consistency_group_id: context.cg, name: 'to-clone' } });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    context.created.snapshot2 = r.body.cgsnapshot.id;
    return context;
  },
  cases: [
    ...discoveryCases,
    ...authCases,
    ...microversionCases,
    ...cgsnapshotCases,
    ...cgsnapshotCreateErrors,
    ...adminActionCases.slice(0, 8),
    // Put the setup snapshot in `creating` so the member's delete meets Manila's status rule.
    {
      name: 'reset_status to creating by an admin: 202',
      source: 'seed 003 Reset consistency group snapshot state',
      request: (c) => ({ method: 'POST', url: v2(c, `/cgsnapshots/${c.snapshot}/action`), headers: mv(c.adminInA), body: { reset_status: { status: 'creating' } } }),
      expect: { status: 202 },
    },
    ...adminActionCases.slice(8),
    ...cgCases,
    ...shareCases,
    ...shareGroupCases,
  ],
});

/** The operator's policy file replaces the defaults it names (reference §B.4 Default policy). */
for (const kind of databaseKinds()) {
  describe(`manila policy file on ${kind}`, () => {
    let h: Harness;
    let dir: string;
    let member: { projectId: string; token: string };
    let snapshot: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'strata-manila-policy-'));
      const file = join(dir, 'policy.json');
      await writeFile(
        file,
        JSON.stringify({ 'cgsnapshot:reset_status': 'rule:admin_or_owner', 'cgsnapshot:force_delete': 'role:member or role:admin', 'consistency_group:get_all': '!' }),
      );
      h = await createHarness(kind, { dialects: { manilaPolicyFile: file } });
      member = await h.tenant('policy-a', 'member');
      const at = `/manila/v2/${member.projectId}`;
      const cg = await manila(h, 'POST', `${at}/consistency-groups`, member.token, { consistency_group: { name: 'cg' } });
      await manila(h, 'POST', `${at}/shares`, member.token, { share: { share_proto: 'NFS', size: 1, consistency_group_id: cg.body.consistency_group.id } });
      const snap = await manila(h, 'POST', `${at}/cgsnapshots`, member.token, { cgsnapshot: { consistency_group_id: cg.body.consistency_group.id } });
      assert.equal(snap.status, 202, JSON.stringify(snap.body));
      snapshot = snap.body.cgsnapshot.id;
    });
    after(async () => {
      await h.close();
      await rm(dir, { recursive: true, force: true });
    });

    test('a member may reset_status when the policy file allows it', async () => {
      const r = await manila(h, 'POST', `/manila/v2/${member.projectId}/cgsnapshots/${snapshot}/action`, member.token, { reset_status: { status: 'error' } });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const shown = await manila(h, 'GET', `/manila/v2/${member.projectId}/cgsnapshots/${snapshot}`, member.token);
      assert.equal(shown.body.cgsnapshot.status, 'error');
    });

    test('a member may force_delete when the policy file allows it', async () => {
      const r = await manila(h, 'POST', `/manila/v2/${member.projectId}/cgsnapshots/${snapshot}/action`, member.token, { force_delete: null });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      await h.plane.jobs.idle();
      assert.equal((await manila(h, 'GET', `/manila/v2/${member.projectId}/cgsnapshots/${snapshot}`, member.token)).status, 404);
    });

    test('a rule the file closes is closed even for the owner; unnamed rules keep their defaults', async () => {
      const denied = await manila(h, 'GET', `/manila/v2/${member.projectId}/consistency-groups`, member.token);
      assert.equal(denied.status, 403);
      assert.deepEqual(Object.keys(denied.body), ['forbidden']);
      assert.equal((await manila(h, 'GET', `/manila/v2/${member.projectId}/cgsnapshots`, member.token)).status, 200);
    });
  });
}

describe('manila policy rules', () => {
  const caller = (role: 'admin' | 'member' | 'reader'): Caller => ({
    tokenId: 't',
    userId: 'u',
    userName: 'n',
    projectId: 'p',
    projectName: 'p',
    role,
    expiresAt: '2100-01-01T00:00:00Z',
  });

  test('the defaults keep reset_status and force_delete to admins and everything else to owners', () => {
    const policy = Policy.load(undefined);
    for (const action of ['cgsnapshot:reset_status', 'cgsnapshot:force_delete', 'consistency_group:force_delete', 'share_group_snapshot:reset_status']) {
      assert.equal(policy.allows(action, caller('member')), false, action);
      assert.equal(policy.allows(action, caller('admin')), true, action);
    }
    for (const action of ['cgsnapshot:create', 'cgsnapshot:get_all', 'share:create', 'an:unknown_action']) assert.equal(policy.allows(action, caller('member')), true, action);
  });

  test('oslo.policy syntax: and, or, not, parentheses, @, !, the list form', () => {
    const policy = new Policy({
      context_is_admin: 'role:admin',
      a: '(role:member or role:reader) and not role:reader',
      b: '@',
      c: '!',
      d: [['role:reader'], ['is_admin:True']],
      e: '',
      f: 'user_id:%(user_id)s and project_id:%(project_id)s',
    });
    assert.equal(policy.allows('a', caller('member')), true);
    assert.equal(policy.allows('a', caller('reader')), false);
    assert.equal(policy.allows('b', caller('reader')), true);
    assert.equal(policy.allows('c', caller('admin')), false);
    assert.equal(policy.allows('d', caller('reader')), true);
    assert.equal(policy.allows('d', caller('member')), false);
    assert.equal(policy.allows('d', caller('admin')), true);
    assert.equal(policy.allows('e', caller('reader')), true);
    assert.equal(policy.allows('f', caller('reader')), true);
  });

  test('rules that refer to one rule many times are evaluated once each, not 2^depth times', () => {
    // r0 → r1 twice → r2 twice … → r29: without memoization 2^29 evaluations of r29.
    const depth = 30;
    const rules: Record<string, string> = { context_is_admin: 'role:admin' };
    for (let i = 0; i < depth - 1; i++) rules[`r${i}`] = `(rule:r${i + 1} and rule:r${i + 1}) or (not rule:r${i + 1} and rule:r${i + 1})`;
    rules[`r${depth - 1}`] = 'role:member';
    let calls = 0;
    class CountingPolicy extends Policy {
      override evaluate(...args: Parameters<Policy['evaluate']>): boolean {
        calls++;
        return super.evaluate(...args);
      }
    }
    const policy = new CountingPolicy(rules);
    assert.equal(policy.allows('r0', caller('member')), true);
    assert.ok(calls <= 4 * depth + 1, `${calls} rule evaluations for ${depth} rules`);
    calls = 0;
    assert.equal(policy.allows('r0', caller('reader')), false);
    assert.ok(calls <= 4 * depth + 1, `${calls} rule evaluations for ${depth} rules`);
  });

  test('a rule that refers to itself, or a chain deeper than ruleDepthMax, is refused at load', () => {
    assert.throws(() => new Policy({ a: 'rule:b', b: 'role:admin or rule:c', c: 'rule:a' }), /refers to itself: rule:a → rule:b → rule:c → rule:a/);
    assert.throws(() => new Policy({ context_is_admin: 'is_admin:True' }), /refers to itself/);
    assert.throws(() => new Policy({ a: [['rule:a']] }), /refers to itself/);
    const chain = (length: number) => Object.fromEntries(Array.from({ length }, (_, i) => [`c${i}`, i === length - 1 ? '@' : `rule:c${i + 1}`]));
    assert.equal(new Policy(chain(ruleDepthMax + 1)).allows('c0', caller('reader')), true);
    assert.throws(() => new Policy(chain(ruleDepthMax + 2)), /nested deeper than/);
    // A reference to a rule that does not exist is no loop: it is false.
    assert.equal(new Policy({ a: 'rule:missing or rule:missing' }).allows('a', caller('admin')), false);
  });

  test('a policy file that does not parse stops the dialect from starting', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-manila-policy-'));
    try {
      const broken = join(dir, 'broken.json');
      await writeFile(broken, '{"cgsnapshot:reset_status": "role:admin or ("}');
      assert.throws(() => Policy.load(broken), /cgsnapshot:reset_status/);
      await writeFile(broken, 'not json');
      assert.throws(() => Policy.load(broken), /policy file/);
      assert.throws(() => Policy.load(join(dir, 'missing.json')), /policy file/);
      await writeFile(broken, '{"default": "http:https://example.invalid"}');
      assert.throws(() => Policy.load(broken), /not supported/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
