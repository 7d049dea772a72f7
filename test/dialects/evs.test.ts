/**
 * Conformance of the Huawei EVS dialect (/evs) on every metadata database: the cloudsnapshots
 * family (seed 004 and reference §1), its filters and paging, the EVS error codes of §1.7 in
 * `{"error": {"message", "code"}}`, bad input refused with nothing created, isolation between
 * projects, and the Cinder-compatible volume and snapshot-metadata paths EVS shares with Cinder
 * (reference §1.6), whose faults carry the EVS code under the Cinder fault name.
 */
import type { Caller } from '../../src/core/context.js';
import { adminPassword, type Harness, type Response } from '../api/harness.js';
import { arr, type ConformanceCase, lit, nullable, obj, optional, runConformance, type Shape } from './conformance.js';

const GiB = 1024 ** 3;
const missingId = '00000000-0000-4000-8000-000000000000';
const password = 'password-123';

interface Ctx {
  h: Harness;
  pid: string;
  token: string;
  caller: Caller;
  admin: Caller;
  readerToken: string;
  other: { pid: string; token: string };
  volumeId: string;
  snapshotId: string;
  inUseVolumeId: string;
  before: number;
}

// ---- requests --------------------------------------------------------------------------------

const auth = (token: string) => ({ 'x-auth-token': token });
const v2 = (c: Ctx, path: string) => `/evs/v2/${c.pid}${path}`;
const v3 = (c: Ctx, path: string) => `/evs/v3/${c.pid}${path}`;
const get = (path: string) => (c: Ctx) => ({ method: 'GET', url: v2(c, path), headers: auth(c.token) });

async function newVolume(c: Ctx, name = 'vol'): Promise<string> {
  return (await c.h.plane.volumes.create(c.caller, { name, sizeBytes: GiB })).id;
}
async function newSnapshot(c: Ctx, name = 'snap', volumeId = c.volumeId): Promise<string> {
  return (await c.h.plane.snapshots.create(c.caller, volumeId, { name })).id;
}
async function snapshotCount(c: Ctx): Promise<number> {
  return (await c.h.plane.snapshots.list(c.caller, { withCount: true, limit: 1 })).total!;
}

/** A create that must be refused: the snapshot count is taken first and compared by `unchanged`. */
const refusedCreate = (snapshot: (c: Ctx) => unknown) => async (c: Ctx) => {
  c.before = await snapshotCount(c);
  return { method: 'POST', url: v2(c, '/cloudsnapshots'), headers: auth(c.token), body: snapshot(c) };
};
async function unchanged(_r: Response, c: Ctx): Promise<string[]> {
  const now = await snapshotCount(c);
  return now === c.before ? [] : [`snapshots went from ${c.before} to ${now}`];
}

// ---- shapes ----------------------------------------------------------------------------------

/** The cloudsnapshots fault: `{"error": {"message", "code"}}` with one EVS code. */
const evsError = (code: string): Shape => obj({ error: obj({ message: 'string', code: lit(code) }) });
/** The Cinder-compatible paths' fault: the Cinder fault name around the EVS code. */
const cinderError = (name: string, code: string): Shape => obj({ [name]: obj({ message: 'string', code: lit(code) }) });
const time: Shape = { pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/ };
const metadata: Shape = { record: 'string' };
const snapshotDetails = {
  id: 'uuid',
  status: 'string',
  name: nullable('string'),
  description: nullable('string'),
  created_at: time,
  updated_at: nullable(time),
  metadata,
  volume_id: 'uuid',
  size: 'integer',
  'os-extended-snapshot-attributes:project_id': 'uuid',
  'os-extended-snapshot-attributes:progress': 'string',
} satisfies Record<string, Shape>;
const listItem = obj({ ...snapshotDetails, service_type: lit('EVS'), dedicated_storage_id: optional('string'), dedicated_storage_name: optional('string') });
const list = obj({ count: 'integer', snapshots: arr(listItem), snapshots_links: optional(arr(obj({ href: 'string', rel: lit('next') }), 1)) });

// ---- checks ----------------------------------------------------------------------------------

const expect = (ok: boolean, problem: string) => (ok ? [] : [problem]);
const ids = (r: Response) => (r.body.snapshots as Array<{ id: string }>).map((s) => s.id);

// ---- the table -------------------------------------------------------------------------------

const create: ConformanceCase<Ctx>[] = [
  {
    name: 'the seed example: POST /v2/{project_id}/cloudsnapshots answers 202 with the snapshot',
    source: 'seed 004 (example request and 202 response)',
    request: (c) => ({
      method: 'POST',
      url: v2(c, '/cloudsnapshots'),
      // The Huawei Go SDK's content type.
      headers: { ...auth(c.token), 'content-type': 'application/json;charset=UTF-8' },
      body: { snapshot: { name: 'snap-001', description: 'Daily backup', volume_id: c.volumeId, force: false, metadata: { key_string: 'value_string' } } },
    }),
    expect: {
      status: 202,
      shape: obj({ snapshot: obj(snapshotDetails) }),
      check: (r, c) => {
        const s = r.body.snapshot;
        return expect(s.name === 'snap-001' && s.description === 'Daily backup' && s.volume_id === c.volumeId && s.size === 1 && s.metadata.key_string === 'value_string', 'fields do not echo the request');
      },
    },
  },
  {
    name: 'force true snapshots an attached disk; force false does too (Strata disks are never "attaching")',
    source: 'seed 004 (force); reference §1.2',
    request: (c) => ({ method: 'POST', url: v2(c, '/cloudsnapshots'), headers: auth(c.token), body: { snapshot: { volume_id: c.inUseVolumeId, force: false } } }),
    expect: { status: 202, shape: obj({ snapshot: obj(snapshotDetails) }) },
  },
  { name: 'only volume_id given: name and description come back null', source: 'seed 004 (name, description optional)', request: (c) => ({ method: 'POST', url: v2(c, '/cloudsnapshots'), headers: auth(c.token), body: { snapshot: { volume_id: c.volumeId } } }), expect: { status: 202, check: (r) => expect(r.body.snapshot.name === null && r.body.snapshot.description === null, 'not null') } },
  { name: 'without volume_id: 400 EVS.1002, nothing created', source: 'reference §1.2 (volume_id required), §1.7 EVS.1002', request: refusedCreate(() => ({ snapshot: { name: 'x' } })), expect: { status: 400, shape: evsError('EVS.1002'), check: unchanged } },
  { name: 'a volume_id that is not a UUID: 400 EVS.1002, nothing created', source: 'reference §1.7 EVS.1002', request: refusedCreate(() => ({ snapshot: { volume_id: 'disk-1' } })), expect: { status: 400, shape: evsError('EVS.1002'), check: unchanged } },
  { name: 'a disk that does not exist: 404 EVS.5404, nothing created', source: 'reference §1.7 EVS.5404', request: refusedCreate(() => ({ snapshot: { volume_id: missingId } })), expect: { status: 404, shape: evsError('EVS.5404'), check: unchanged } },
  {
    name: 'a name over 255 bytes (128 two-byte characters): 400 EVS.5400, nothing created',
    source: 'reference §1.2 (name up to 255 bytes)',
    request: refusedCreate((c) => ({ snapshot: { volume_id: c.volumeId, name: 'é'.repeat(128) } })),
    expect: { status: 400, shape: evsError('EVS.5400'), check: unchanged },
  },
  {
    name: 'a description over 255 bytes: 400 EVS.5400, nothing created',
    source: 'reference §1.2 (description up to 255 bytes)',
    request: refusedCreate((c) => ({ snapshot: { volume_id: c.volumeId, description: 'd'.repeat(256) } })),
    expect: { status: 400, shape: evsError('EVS.5400'), check: unchanged },
  },
  { name: 'a name of exactly 255 bytes is accepted', source: 'reference §1.2', request: (c) => ({ method: 'POST', url: v2(c, '/cloudsnapshots'), headers: auth(c.token), body: { snapshot: { volume_id: c.volumeId, name: 'n'.repeat(255) } } }), expect: { status: 202 } },
  { name: 'a metadata value that is not a string: 400 EVS.5400, nothing created', source: 'reference §1.2 (metadata map[string]string)', request: refusedCreate((c) => ({ snapshot: { volume_id: c.volumeId, metadata: { k: 1 } } })), expect: { status: 400, shape: evsError('EVS.5400'), check: unchanged } },
  {
    name: 'a system metadata key (__system__…): 403 EVS.5403, nothing created',
    source: 'reference §1.3 (__system__enableActive), §1.7 EVS.5403 (metadata can not be operated)',
    request: refusedCreate((c) => ({ snapshot: { volume_id: c.volumeId, metadata: { __system__enableActive: 'true' } } })),
    expect: { status: 403, shape: evsError('EVS.5403') , check: unchanged },
  },
  { name: 'force that is not a boolean: 400 EVS.5400, nothing created', source: 'seed 004 (force Boolean)', request: refusedCreate((c) => ({ snapshot: { volume_id: c.volumeId, force: 'sometimes' } })), expect: { status: 400, shape: evsError('EVS.5400'), check: unchanged } },
  { name: 'an unknown field: 400 EVS.5400, nothing created', source: 'seed 004 (CreateSnapshotOption)', request: refusedCreate((c) => ({ snapshot: { volume_id: c.volumeId, size: 10 } })), expect: { status: 400, shape: evsError('EVS.5400'), check: unchanged } },
  { name: 'no "snapshot" element: 400 EVS.5400, nothing created', source: 'seed 004 (snapshot mandatory)', request: refusedCreate((c) => ({ volume_id: c.volumeId })), expect: { status: 400, shape: evsError('EVS.5400'), check: unchanged } },
  {
    name: 'a malformed body: 400 EVS.5400 "Malformed request body.", nothing created',
    source: 'reference §1.7 EVS.5400',
    request: refusedCreate(() => '{"snapshot": {'),
    expect: { status: 400, shape: evsError('EVS.5400'), check: async (r, c) => [...expect(r.body.error.message === 'Malformed request body.', 'message'), ...(await unchanged(r, c))] },
  },
  {
    name: 'a reader: 403 EVS.5403, nothing created',
    source: 'reference §1.7 EVS.5403',
    request: async (c) => {
      c.before = await snapshotCount(c);
      return { method: 'POST', url: v2(c, '/cloudsnapshots'), headers: auth(c.readerToken), body: { snapshot: { volume_id: c.volumeId } } };
    },
    expect: { status: 403, shape: evsError('EVS.5403'), check: unchanged },
  },
];

const listing: ConformanceCase<Ctx>[] = [
  { name: 'GET /cloudsnapshots/detail: count, snapshots with service_type', source: 'reference §1.1, §1.3 (SnapshotList)', request: get('/cloudsnapshots/detail'), expect: { status: 200, shape: list, check: (r) => expect(r.body.count === r.body.snapshots.length && r.body.count > 3, 'count') } },
  {
    name: 'limit cuts the page, count stays the total, snapshots_links points at the next page',
    source: 'reference §1.3 (snapshots_links, count), §1.4',
    request: get('/cloudsnapshots/detail?limit=1'),
    expect: {
      status: 200,
      shape: list,
      check: async (r, c, h) => {
        const all = (await h.request('GET', v2(c, '/cloudsnapshots/detail'), { headers: auth(c.token) })).body;
        const next = new URL(r.body.snapshots_links?.[0]?.href ?? 'http://x/none');
        const page2 = await h.request('GET', next.pathname + next.search, { headers: auth(c.token) });
        return [
          ...expect(r.body.snapshots.length === 1 && r.body.count === all.count, 'count is not the total'),
          ...expect(next.searchParams.get('marker') === r.body.snapshots[0].id && next.searchParams.get('limit') === '1', 'next link'),
          ...expect(page2.status === 200 && page2.body.snapshots[0]?.id === all.snapshots[1].id, 'next page is not the second snapshot'),
        ];
      },
    },
  },
  { name: 'without limit there is no snapshots_links', source: 'reference §1.3', request: get('/cloudsnapshots/detail'), expect: { status: 200, check: (r) => expect(!('snapshots_links' in r.body), 'links present') } },
  {
    name: 'offset skips rows and count is unaffected',
    source: 'reference §1.4 (offset)',
    request: get('/cloudsnapshots/detail?offset=1&limit=2'),
    expect: { status: 200, check: async (r, c, h) => { const all = (await h.request('GET', v2(c, '/cloudsnapshots/detail'), { headers: auth(c.token) })).body; return expect(r.body.snapshots[0]?.id === all.snapshots[1].id && r.body.count === all.count, 'offset'); } },
  },
  { name: 'filter by name', source: 'reference §1.4', request: get('/cloudsnapshots/detail?name=base-snap'), expect: { status: 200, check: (r, c) => expect(JSON.stringify(ids(r)) === JSON.stringify([c.snapshotId]) && r.body.count === 1, 'name filter') } },
  { name: 'filter by status', source: 'reference §1.4, §1.5', request: get('/cloudsnapshots/detail?status=error'), expect: { status: 200, check: (r) => expect(r.body.snapshots.every((s: { status: string }) => s.status === 'error'), 'status filter') } },
  { name: 'a documented status Strata never has (rollbacking) matches nothing', source: 'reference §1.5', request: get('/cloudsnapshots/detail?status=rollbacking'), expect: { status: 200, check: (r) => expect(r.body.count === 0, 'matched') } },
  { name: 'filter by volume_id', source: 'reference §1.4', request: (c) => get(`/cloudsnapshots/detail?volume_id=${c.inUseVolumeId}`)(c), expect: { status: 200, check: (r, c) => expect(r.body.count >= 1 && r.body.snapshots.every((s: { volume_id: string }) => s.volume_id === c.inUseVolumeId), 'volume filter') } },
  {
    name: 'filter by several ids (id=…&id=…)',
    source: 'reference §1.4 (id repeated)',
    request: async (c) => get(`/cloudsnapshots/detail?id=${c.snapshotId}&id=${missingId}&id=${await newSnapshot(c, 'by-id')}`)(c),
    expect: { status: 200, check: (r, c) => expect(r.body.count === 2 && ids(r).includes(c.snapshotId), 'id filter') },
  },
  { name: 'availability_zone of the one zone matches all', source: 'reference §1.4', request: get('/cloudsnapshots/detail?availability_zone=nova'), expect: { status: 200, check: (r) => expect(r.body.count > 0, 'none') } },
  { name: 'another availability_zone matches nothing', source: 'reference §1.4', request: get('/cloudsnapshots/detail?availability_zone=eu-de-01'), expect: { status: 200, check: (r) => expect(r.body.count === 0, 'matched') } },
  { name: 'service_type=EVS matches all, DSS nothing', source: 'reference §1.4 (service_type)', request: get('/cloudsnapshots/detail?service_type=DSS'), expect: { status: 200, check: (r) => expect(r.body.count === 0, 'matched') } },
  { name: 'enterprise_project_id=all_granted_eps matches all', source: 'reference §1.4', request: get('/cloudsnapshots/detail?enterprise_project_id=all_granted_eps'), expect: { status: 200, check: (r) => expect(r.body.count > 0, 'none') } },
  { name: 'offset that is not an integer: 400 EVS.5400', source: 'reference §1.7 (offset param must be an integer.)', request: get('/cloudsnapshots/detail?offset=one'), expect: { status: 400, shape: evsError('EVS.5400') } },
  { name: 'limit that is not an integer: 400 EVS.5400', source: 'reference §1.7 (limit param must be an integer.)', request: get('/cloudsnapshots/detail?limit=ten'), expect: { status: 400, shape: evsError('EVS.5400') } },
  { name: 'limit 0: 400 EVS.5400 (must be positive)', source: 'reference §1.4 (greater than 0), §1.7', request: get('/cloudsnapshots/detail?limit=0'), expect: { status: 400, shape: evsError('EVS.5400') } },
  { name: 'limit above 1000: 400 EVS.5400', source: 'reference §1.4 (1–1000)', request: get('/cloudsnapshots/detail?limit=1001'), expect: { status: 400, shape: evsError('EVS.5400') } },
  {
    name: 'an unknown status: 400 EVS.5400 "Must specify a valid status."',
    source: 'reference §1.7',
    request: get('/cloudsnapshots/detail?status=happy'),
    expect: { status: 400, shape: evsError('EVS.5400'), check: (r) => expect(r.body.error.message === 'Must specify a valid status.', 'message') },
  },
  { name: 'an unknown service_type: 400 EVS.5400', source: 'reference §1.4', request: get('/cloudsnapshots/detail?service_type=S3'), expect: { status: 400, shape: evsError('EVS.5400') } },
  { name: 'service_type=EVS with a dedicated storage: 400 EVS.5400', source: 'reference §1.4', request: get('/cloudsnapshots/detail?service_type=EVS&dedicated_storage_id=ds-1'), expect: { status: 400, shape: evsError('EVS.5400') } },
  { name: 'there is no non-detail list in the family (404)', source: 'reference §1.1 (notes), §5', request: get('/cloudsnapshots'), expect: { status: 404, shape: evsError('EVS.5404') } },
];

const single: ConformanceCase<Ctx>[] = [
  { name: 'GET /cloudsnapshots/{id}', source: 'reference §1.1, §1.3 (SnapshotDetails)', request: (c) => get(`/cloudsnapshots/${c.snapshotId}`)(c), expect: { status: 200, shape: obj({ snapshot: obj(snapshotDetails) }) } },
  { name: 'an id that is not a UUID: 400 EVS.2045', source: 'reference §1.7 EVS.2045', request: get('/cloudsnapshots/snap-1'), expect: { status: 400, shape: evsError('EVS.2045') } },
  { name: 'a snapshot that does not exist: 404 EVS.5404', source: 'reference §1.7 EVS.5404', request: get(`/cloudsnapshots/${missingId}`), expect: { status: 404, shape: evsError('EVS.5404') } },
  {
    name: "another project's snapshot: 404 EVS.5404",
    source: 'design/interface.md (isolation)',
    request: (c) => ({ method: 'GET', url: `/evs/v2/${c.other.pid}/cloudsnapshots/${c.snapshotId}`, headers: auth(c.other.token) }),
    expect: { status: 404, shape: evsError('EVS.5404') },
  },
  {
    name: "another project's id in the path: 404 EVS.5404",
    source: 'docs/dialects/evs.md (project check)',
    request: (c) => ({ method: 'GET', url: `/evs/v2/${c.other.pid}/cloudsnapshots/detail`, headers: auth(c.token) }),
    expect: { status: 404, shape: evsError('EVS.5404') },
  },
  { name: 'no X-Auth-Token: 401 EVS.5401', source: 'reference §1.7 EVS.5401', request: (c) => ({ method: 'GET', url: v2(c, '/cloudsnapshots/detail') }), expect: { status: 401, shape: evsError('EVS.5401') } },
  { name: 'an unknown token: 401 EVS.5401', source: 'reference §1.7 EVS.5401', request: (c) => ({ method: 'GET', url: v2(c, '/cloudsnapshots/detail'), headers: auth('bogus') }), expect: { status: 401, shape: evsError('EVS.5401') } },
  {
    name: 'PUT /cloudsnapshots/{id} updates name and description',
    source: 'reference §1.1 (update)',
    request: async (c) => ({ method: 'PUT', url: v2(c, `/cloudsnapshots/${await newSnapshot(c, 'old')}`), headers: auth(c.token), body: { snapshot: { name: 'snap-002', description: 'Weekly' } } }),
    expect: { status: 200, shape: obj({ snapshot: obj(snapshotDetails) }), check: (r) => expect(r.body.snapshot.name === 'snap-002' && r.body.snapshot.description === 'Weekly', 'not updated') },
  },
  {
    name: 'PUT with a name over 255 bytes: 400 EVS.5400, name unchanged',
    source: 'reference §1.2',
    request: (c) => ({ method: 'PUT', url: v2(c, `/cloudsnapshots/${c.snapshotId}`), headers: auth(c.token), body: { snapshot: { name: 'n'.repeat(256) } } }),
    expect: { status: 400, shape: evsError('EVS.5400'), check: async (_r, c) => expect((await c.h.plane.snapshots.get(c.caller, c.snapshotId)).name === 'base-snap', 'renamed') },
  },
  { name: 'PUT with an unknown field: 400 EVS.5400', source: 'reference §1.1 (update body)', request: (c) => ({ method: 'PUT', url: v2(c, `/cloudsnapshots/${c.snapshotId}`), headers: auth(c.token), body: { snapshot: { volume_id: c.volumeId } } }), expect: { status: 400, shape: evsError('EVS.5400') } },
  { name: 'DELETE /cloudsnapshots/{id} answers 202 with no body', source: 'reference §1.1 (delete)', request: async (c) => ({ method: 'DELETE', url: v2(c, `/cloudsnapshots/${await newSnapshot(c, 'doomed')}`), headers: auth(c.token) }), expect: { status: 202, check: (r) => expect(r.body === null, 'body') } },
  {
    name: 'DELETE of a creating snapshot: 400 EVS.1047',
    source: 'reference §1.5 (delete only available or error), §1.7 EVS.1047',
    request: async (c) => {
      const id = await newSnapshot(c, 'busy');
      await c.h.plane.snapshots.resetStatus(c.admin, id, 'creating');
      return { method: 'DELETE', url: v2(c, `/cloudsnapshots/${id}`), headers: auth(c.token) };
    },
    expect: { status: 400, shape: evsError('EVS.1047') },
  },
  {
    name: 'DELETE of an error_deleting snapshot: 500 EVS.2019',
    source: 'reference §1.7 EVS.2019',
    request: async (c) => {
      const id = await newSnapshot(c, 'stuck');
      await c.h.plane.snapshots.resetStatus(c.admin, id, 'error_deleting');
      return { method: 'DELETE', url: v2(c, `/cloudsnapshots/${id}`), headers: auth(c.token) };
    },
    expect: { status: 500, shape: evsError('EVS.2019') },
  },
  {
    name: 'DELETE of an error snapshot answers 202',
    source: 'reference §1.5',
    request: async (c) => {
      const id = await newSnapshot(c, 'failed');
      await c.h.plane.snapshots.resetStatus(c.admin, id, 'error');
      return { method: 'DELETE', url: v2(c, `/cloudsnapshots/${id}`), headers: auth(c.token) };
    },
    expect: { status: 202 },
  },
  {
    name: 'DELETE of an autobk_snapshot_* snapshot: 400 EVS.5400, still there',
    source: 'reference §1.2, §1.5 (autobk_snapshot_ must not be deleted)',
    request: async (c) => ({ method: 'DELETE', url: v2(c, `/cloudsnapshots/${await newSnapshot(c, 'autobk_snapshot_1')}`), headers: auth(c.token) }),
    expect: { status: 400, shape: evsError('EVS.5400'), check: async (_r, c) => expect((await c.h.plane.snapshots.list(c.caller, { name: 'autobk_snapshot_1' })).items[0]?.status === 'available', 'deleted') },
  },
];

const rollback: ConformanceCase<Ctx>[] = [
  {
    name: 'POST /cloudsnapshots/{id}/rollback answers 202 with the volume id',
    source: 'reference §1.1 (rollback)',
    request: async (c) => {
      const volumeId = await newVolume(c, 'roll');
      return { method: 'POST', url: v2(c, `/cloudsnapshots/${await newSnapshot(c, 'r', volumeId)}/rollback`), headers: auth(c.token), body: { rollback: { volume_id: volumeId, name: 'roll' } } };
    },
    expect: { status: 202, shape: obj({ rollback: obj({ volume_id: 'uuid' }) }) },
  },
  {
    name: 'the deprecated os-vendor-snapshots rollback (v2)',
    source: 'reference §1.1 (evs_04_2022)',
    request: async (c) => {
      const volumeId = await newVolume(c, 'roll2');
      return { method: 'POST', url: v2(c, `/os-vendor-snapshots/${await newSnapshot(c, 'r', volumeId)}/rollback`), headers: auth(c.token), body: { rollback: { volume_id: volumeId } } };
    },
    expect: { status: 202, shape: obj({ rollback: obj({ volume_id: 'uuid' }) }) },
  },
  {
    name: 'the deprecated os-vendor-snapshots rollback (v3)',
    source: 'reference §1.1',
    request: async (c) => {
      const volumeId = await newVolume(c, 'roll3');
      return { method: 'POST', url: v3(c, `/os-vendor-snapshots/${await newSnapshot(c, 'r', volumeId)}/rollback`), headers: auth(c.token), body: { rollback: { volume_id: volumeId } } };
    },
    expect: { status: 202, shape: obj({ rollback: obj({ volume_id: 'uuid' }) }) },
  },
  { name: 'rollback without volume_id: 400 EVS.1002', source: 'reference §1.1 (volume_id required), §1.7', request: (c) => ({ method: 'POST', url: v2(c, `/cloudsnapshots/${c.snapshotId}/rollback`), headers: auth(c.token), body: { rollback: {} } }), expect: { status: 400, shape: evsError('EVS.1002') } },
  {
    name: 'rollback to another disk: 400 EVS.5400',
    source: 'reference §1.5 (only to the source disk)',
    request: (c) => ({ method: 'POST', url: v2(c, `/cloudsnapshots/${c.snapshotId}/rollback`), headers: auth(c.token), body: { rollback: { volume_id: c.inUseVolumeId } } }),
    expect: { status: 400, shape: evsError('EVS.5400') },
  },
  {
    name: 'rollback to an attached disk: 400 EVS.5400',
    source: 'reference §1.5 (disk must be available)',
    request: async (c) => ({ method: 'POST', url: v2(c, `/cloudsnapshots/${await newSnapshot(c, 'att', c.inUseVolumeId)}/rollback`), headers: auth(c.token), body: { rollback: { volume_id: c.inUseVolumeId } } }),
    expect: { status: 400, shape: evsError('EVS.5400') },
  },
  {
    name: 'rollback from a snapshot in error: 400 EVS.2043',
    source: 'reference §1.7 EVS.2043',
    request: async (c) => {
      const id = await newSnapshot(c, 'bad');
      await c.h.plane.snapshots.resetStatus(c.admin, id, 'error');
      return { method: 'POST', url: v2(c, `/cloudsnapshots/${id}/rollback`), headers: auth(c.token), body: { rollback: { volume_id: c.volumeId } } };
    },
    expect: { status: 400, shape: evsError('EVS.2043') },
  },
  {
    name: 'rollback of an autobk_snapshot_* snapshot: 400 EVS.5400',
    source: 'reference §1.5',
    request: async (c) => ({ method: 'POST', url: v2(c, `/cloudsnapshots/${await newSnapshot(c, 'autobk_snapshot_2')}/rollback`), headers: auth(c.token), body: { rollback: { volume_id: c.volumeId } } }),
    expect: { status: 400, shape: evsError('EVS.5400') },
  },
];

const cinderCompatible: ConformanceCase<Ctx>[] = [
  { name: 'GET /v2/{pid}/snapshots (summary list)', source: 'reference §1.6', request: get('/snapshots'), expect: { status: 200, shape: obj({ snapshots: arr(obj({ id: 'uuid', created_at: time, updated_at: nullable(time), name: nullable('string'), description: nullable('string'), volume_id: 'uuid', status: 'string', size: 'integer', metadata }), 1) }) } },
  { name: 'GET /v2/{pid}/snapshots/detail', source: 'reference §1.6', request: get('/snapshots/detail'), expect: { status: 200, shape: obj({ snapshots: arr(obj(snapshotDetails), 1), snapshots_links: optional(arr('any')) }) } },
  {
    name: 'POST /v3/{pid}/snapshots answers 202',
    source: 'reference §1.6',
    request: (c) => ({ method: 'POST', url: v3(c, '/snapshots'), headers: auth(c.token), body: { snapshot: { volume_id: c.volumeId, name: 'cinder-path', force: false } } }),
    expect: { status: 202, shape: obj({ snapshot: obj({ id: 'uuid', created_at: time, updated_at: nullable(time), name: nullable('string'), description: nullable('string'), volume_id: 'uuid', status: 'string', size: 'integer', metadata }) }) },
  },
  { name: 'GET /v2/{pid}/snapshots/{id}', source: 'reference §1.6', request: (c) => get(`/snapshots/${c.snapshotId}`)(c), expect: { status: 200, shape: obj({ snapshot: obj(snapshotDetails) }) } },
  {
    name: 'a missing snapshot on the Cinder path: itemNotFound with EVS.5404',
    source: 'reference §1.7 (error may be a Cinder fault name)',
    request: get(`/snapshots/${missingId}`),
    expect: { status: 404, shape: cinderError('itemNotFound', 'EVS.5404') },
  },
  {
    name: 'bad input on the Cinder path: badRequest with EVS.5400, nothing created',
    source: 'reference §1.7',
    request: async (c) => {
      c.before = await snapshotCount(c);
      return { method: 'POST', url: v2(c, '/snapshots'), headers: auth(c.token), body: { snapshot: { volume_id: c.volumeId, name: 'n'.repeat(256) } } };
    },
    expect: { status: 400, shape: cinderError('badRequest', 'EVS.5400'), check: unchanged },
  },
  { name: 'PUT /v2/{pid}/snapshots/{id}', source: 'reference §1.6', request: async (c) => ({ method: 'PUT', url: v2(c, `/snapshots/${await newSnapshot(c, 'p')}`), headers: auth(c.token), body: { snapshot: { name: 'renamed' } } }), expect: { status: 200, check: (r) => expect(r.body.snapshot.name === 'renamed', 'not renamed') } },
  { name: 'DELETE /v2/{pid}/snapshots/{id} answers 202', source: 'reference §1.6', request: async (c) => ({ method: 'DELETE', url: v2(c, `/snapshots/${await newSnapshot(c, 'gone')}`), headers: auth(c.token) }), expect: { status: 202 } },
  {
    name: 'POST …/snapshots/{id}/metadata merges',
    source: 'reference §1.6 (add metadata)',
    request: (c) => ({ method: 'POST', url: v2(c, `/snapshots/${c.snapshotId}/metadata`), headers: auth(c.token), body: { metadata: { a: '1' } } }),
    expect: { status: 200, shape: obj({ metadata }), check: (r) => expect(r.body.metadata.a === '1' && r.body.metadata.origin === 'setup', 'not merged') },
  },
  { name: 'GET …/snapshots/{id}/metadata', source: 'reference §1.6', request: (c) => get(`/snapshots/${c.snapshotId}/metadata`)(c), expect: { status: 200, shape: obj({ metadata }) } },
  {
    name: 'PUT …/snapshots/{id}/metadata replaces',
    source: 'reference §1.6 (replace metadata)',
    request: (c) => ({ method: 'PUT', url: v3(c, `/snapshots/${c.snapshotId}/metadata`), headers: auth(c.token), body: { metadata: { origin: 'setup', b: '2' } } }),
    expect: { status: 200, check: (r) => expect(JSON.stringify(r.body.metadata) === JSON.stringify({ origin: 'setup', b: '2' }), 'not replaced') },
  },
  { name: 'GET …/metadata/{key} answers meta', source: 'reference §1.6 (get one key)', request: (c) => get(`/snapshots/${c.snapshotId}/metadata/b`)(c), expect: { status: 200, shape: obj({ meta: obj({ b: lit('2') }) }) } },
  { name: 'PUT …/metadata/{key}', source: 'reference §1.6 (update one key)', request: (c) => ({ method: 'PUT', url: v2(c, `/snapshots/${c.snapshotId}/metadata/b`), headers: auth(c.token), body: { meta: { b: '3' } } }), expect: { status: 200, shape: obj({ meta: obj({ b: lit('3') }) }) } },
  { name: 'PUT …/metadata/{key} with a mismatched key: badRequest EVS.5400', source: 'reference §1.6', request: (c) => ({ method: 'PUT', url: v2(c, `/snapshots/${c.snapshotId}/metadata/b`), headers: auth(c.token), body: { meta: { c: '3' } } }), expect: { status: 400, shape: cinderError('badRequest', 'EVS.5400') } },
  { name: 'DELETE …/metadata/{key} answers 200', source: 'reference §1.6 (delete one key)', request: (c) => ({ method: 'DELETE', url: v2(c, `/snapshots/${c.snapshotId}/metadata/b`), headers: auth(c.token) }), expect: { status: 200 } },
  { name: 'DELETE …/metadata/{missing key}: itemNotFound EVS.5404', source: 'reference §1.6', request: (c) => ({ method: 'DELETE', url: v2(c, `/snapshots/${c.snapshotId}/metadata/b`), headers: auth(c.token) }), expect: { status: 404, shape: cinderError('itemNotFound', 'EVS.5404') } },
  {
    name: 'POST /v2/{pid}/volumes creates a disk (202)',
    source: 'design/interface.md (EVS Cinder-compatible volume paths)',
    request: (c) => ({ method: 'POST', url: v2(c, '/volumes'), headers: auth(c.token), body: { volume: { size: 2, name: 'disk-1' } } }),
    expect: { status: 202, shape: obj({ volume: obj({ id: 'uuid', size: lit(2), name: lit('disk-1'), status: 'string' }, true) }) },
  },
  { name: 'GET /v2/{pid}/volumes/detail', source: 'design/interface.md', request: get('/volumes/detail'), expect: { status: 200, shape: obj({ volumes: arr(obj({ id: 'uuid', attachments: arr('any'), metadata }, true), 1) }) } },
  { name: 'GET /v3/{pid}/volumes/{id}', source: 'design/interface.md', request: (c) => ({ method: 'GET', url: v3(c, `/volumes/${c.volumeId}`), headers: auth(c.token) }), expect: { status: 200, shape: obj({ volume: obj({ id: 'uuid', size: 'integer' }, true) }) } },
  {
    name: 'os-extend on the EVS volume path answers 202',
    source: 'design/interface.md',
    request: async (c) => ({ method: 'POST', url: v2(c, `/volumes/${await newVolume(c, 'grow')}/action`), headers: auth(c.token), body: { 'os-extend': { new_size: 2 } } }),
    expect: { status: 202 },
  },
  { name: 'a missing disk on the volume path: itemNotFound EVS.5404', source: 'reference §1.7', request: get(`/volumes/${missingId}`), expect: { status: 404, shape: cinderError('itemNotFound', 'EVS.5404') } },
  {
    name: 'a disk of size 0: badRequest EVS.5400',
    source: 'reference §1.7',
    request: (c) => ({ method: 'POST', url: v2(c, '/volumes'), headers: auth(c.token), body: { volume: { size: 0 } } }),
    expect: { status: 400, shape: cinderError('badRequest', 'EVS.5400') },
  },
];

runConformance<Ctx>({
  dialect: 'evs',
  async setup(h) {
    const a = await h.tenant('evs-a');
    const b = await h.tenant('evs-b');
    const caller = await h.plane.identity.authenticate(a.token);
    const admin = await h.plane.identity.authenticate(await h.login('admin', adminPassword, a.projectId));
    const reader = await h.request('POST', '/api/v1/users', { token: h.adminToken, body: { name: 'evs-reader', password, project_id: a.projectId, role: 'reader' } });
    if (reader.status !== 201) throw new Error(JSON.stringify(reader.body));
    const volume = await h.plane.volumes.create(caller, { name: 'base', sizeBytes: GiB });
    const snapshot = await h.plane.snapshots.create(caller, volume.id, { name: 'base-snap', metadata: { origin: 'setup' } });
    const inUse = await h.plane.volumes.create(caller, { name: 'attached', sizeBytes: GiB });
    await h.plane.attachments.create(caller, { volumeId: inUse.id }, 'rw');
    return {
      h,
      pid: a.projectId,
      token: a.token,
      caller,
      admin,
      readerToken: await h.login('evs-reader', password),
      other: { pid: b.projectId, token: b.token },
      volumeId: volume.id,
      snapshotId: snapshot.id,
      inUseVolumeId: inUse.id,
      before: 0,
    };
  },
  cases: [...create, ...listing, ...single, ...rollback, ...cinderCompatible],
});
