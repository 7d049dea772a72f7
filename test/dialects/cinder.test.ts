/**
 * Conformance of the Cinder v3 dialect (/cinder) on every metadata database: version discovery,
 * microversion negotiation, volumes, snapshots (metadata, admin actions), groups and group
 * snapshots, each documented error in Cinder's fault body, bad input refused with nothing
 * created, and isolation between projects. Requests are the reference's examples
 * (../shared/reference/huawei-evs-dws-and-cinder.md §3–§4) or what python3-cinderclient sends.
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
  adminToken: string;
  readerToken: string;
  other: { pid: string; token: string; snapshotId: string };
  volumeId: string;
  snapshotId: string;
  inUseVolumeId: string;
  groupId: string;
  groupVolumeId: string;
  groupSnapshotId: string;
  /** Counts taken before a refused request, compared after it. */
  before: { volumes: number; snapshots: number; groups: number; groupSnapshots: number };
}

// ---- requests --------------------------------------------------------------------------------

const at = (version: string | null, token: string): Record<string, string> => ({
  'x-auth-token': token,
  ...(version === null ? {} : { 'openstack-api-version': `volume ${version}` }),
});
const url = (c: Ctx, path: string) => `/cinder/v3/${c.pid}${path}`;
const get = (path: string, version: string | null = '3.70') => (c: Ctx) => ({ method: 'GET', url: url(c, path), headers: at(version, c.token) });

async function newVolume(c: Ctx, name = 'vol'): Promise<string> {
  return (await c.h.plane.volumes.create(c.caller, { name, sizeBytes: GiB })).id;
}
async function newSnapshot(c: Ctx, name = 'snap', volumeId = c.volumeId): Promise<string> {
  return (await c.h.plane.snapshots.create(c.caller, volumeId, { name, description: 'd' })).id;
}

async function counts(c: Ctx) {
  const [volumes, snapshots, groups, groupSnapshots] = await Promise.all([
    c.h.plane.volumes.list(c.caller, { withCount: true, limit: 1 }),
    c.h.plane.snapshots.list(c.caller, { withCount: true, limit: 1 }),
    c.h.plane.groups.list(c.caller, { withCount: true, limit: 1 }),
    c.h.plane.groups.listSnapshots(c.caller, { withCount: true, limit: 1 }),
  ]);
  return { volumes: volumes.total!, snapshots: snapshots.total!, groups: groups.total!, groupSnapshots: groupSnapshots.total! };
}

/** A request that must change nothing: counts are taken first and compared by `unchanged`. */
const refused =
  (method: string, path: string, body: unknown, version: string | null = '3.70') =>
  async (c: Ctx) => {
    c.before = await counts(c);
    return { method, url: url(c, path), headers: at(version, c.token), body };
  };
async function unchanged(_r: Response, c: Ctx): Promise<string[]> {
  const now = await counts(c);
  return JSON.stringify(now) === JSON.stringify(c.before) ? [] : [`something was created or deleted: before ${JSON.stringify(c.before)}, after ${JSON.stringify(now)}`];
}

// ---- shapes ----------------------------------------------------------------------------------

const fault = (name: string, code: number): Shape => obj({ [name]: obj({ code: lit(code), message: 'string' }) });
const badRequest = fault('badRequest', 400);
const itemNotFound = fault('itemNotFound', 404);
const time: Shape = { pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/ };
const text = nullable('string');
const metadata: Shape = { record: 'string' };
const links: Shape = arr(obj({ href: 'string', rel: 'string' }));

const snapshotSummary = {
  id: 'uuid',
  created_at: time,
  updated_at: nullable(time),
  name: text,
  description: text,
  volume_id: 'uuid',
  status: 'string',
  size: 'integer',
  metadata,
} satisfies Record<string, Shape>;
const snapshotAt370 = { ...snapshotSummary, group_snapshot_id: nullable('uuid'), user_id: nullable('string'), consumes_quota: 'boolean' } satisfies Record<string, Shape>;
const extended = { 'os-extended-snapshot-attributes:progress': { pattern: /^\d+%$/ }, 'os-extended-snapshot-attributes:project_id': 'uuid' } satisfies Record<string, Shape>;
const snapshotShow370 = obj({ snapshot: obj({ ...snapshotAt370, ...extended }) });

const attachment = obj({ id: 'uuid', attachment_id: 'uuid', volume_id: 'uuid', server_id: nullable('string'), host_name: nullable('string'), device: nullable('string'), attached_at: time });
const volumeAt30 = {
  id: 'uuid',
  name: text,
  description: text,
  status: 'string',
  size: 'integer',
  availability_zone: 'string',
  created_at: time,
  updated_at: nullable(time),
  attachments: arr(attachment),
  bootable: 'string',
  encrypted: 'boolean',
  multiattach: 'boolean',
  metadata,
  snapshot_id: nullable('uuid'),
  source_volid: nullable('uuid'),
  consistencygroup_id: nullable('uuid'),
  volume_type: 'string',
  replication_status: nullable('string'),
  migration_status: nullable('string'),
  user_id: nullable('string'),
  links,
  'os-vol-tenant-attr:tenant_id': 'uuid',
} satisfies Record<string, Shape>;
const volumeAt370 = { ...volumeAt30, group_id: nullable('uuid'), volume_type_id: 'uuid', consumes_quota: 'boolean' } satisfies Record<string, Shape>;

const groupDetail370 = obj({
  id: 'uuid',
  status: 'string',
  availability_zone: 'string',
  created_at: time,
  name: text,
  description: text,
  group_type: 'uuid',
  volume_types: arr('uuid'),
  group_snapshot_id: nullable('uuid'),
  source_group_id: nullable('uuid'),
  replication_status: 'string',
  project_id: 'uuid',
  volumes: optional(arr('uuid')),
});
const groupSnapshotDetail370 = obj({ id: 'uuid', group_id: nullable('uuid'), status: 'string', created_at: time, name: text, description: text, group_type_id: 'uuid', project_id: 'uuid' });

const versionsShape = obj({
  versions: arr(
    obj({
      id: lit('v3.0'),
      status: lit('CURRENT'),
      version: lit('3.71'),
      min_version: lit('3.0'),
      updated: 'date-time',
      links: arr(obj({ rel: 'string', href: 'string', type: optional('string') })),
      'media-types': arr(obj({ base: lit('application/json'), type: lit('application/vnd.openstack.volume+json;version=3') })),
    }),
    1,
  ),
});

// ---- checks ----------------------------------------------------------------------------------

const expect = (ok: boolean, problem: string) => (ok ? [] : [problem]);
const message = (r: Response) => String((Object.values(r.body ?? {})[0] as { message?: string } | undefined)?.message);
const messageMatches = (pattern: RegExp) => (r: Response) => expect(pattern.test(message(r)), `fault message ${JSON.stringify(message(r))} does not match ${pattern}`);

async function snapshotOf(c: Ctx, id: string) {
  return c.h.plane.snapshots.get(c.caller, id);
}

// ---- the table -------------------------------------------------------------------------------

const versions: ConformanceCase<Ctx>[] = [
  {
    name: 'GET / answers 300 Multiple Choices with the v3 entry',
    source: 'reference §3.3, §4.3',
    request: () => ({ method: 'GET', url: '/cinder/' }),
    expect: {
      status: 300,
      shape: versionsShape,
      check: (r) => expect(/\/cinder\/v3\/$/.test(r.body.versions[0].links.find((l: { rel: string }) => l.rel === 'self').href), 'self link is not the /cinder/v3/ URL'),
    },
  },
  { name: 'GET /v3/ answers 200 with the same document', source: 'reference §3.3', request: () => ({ method: 'GET', url: '/cinder/v3/' }), expect: { status: 200, shape: versionsShape } },
  {
    name: 'no OpenStack-API-Version header means 3.0, echoed with Vary',
    source: 'reference §3 (microversions)',
    request: get('/snapshots', null),
    expect: { status: 200, headers: { 'OpenStack-API-Version': 'volume 3.0', Vary: /OpenStack-API-Version/ } },
  },
  { name: 'volume latest means the maximum, 3.71', source: 'reference §3', request: get('/snapshots', 'latest'), expect: { status: 200, headers: { 'OpenStack-API-Version': 'volume 3.71' } } },
  { name: 'volume 3.70 (cinderclient) is echoed', source: 'reference §4.2', request: get('/snapshots', '3.70'), expect: { status: 200, headers: { 'OpenStack-API-Version': 'volume 3.70' } } },
  {
    name: 'a version above the maximum answers 406',
    source: 'reference §3, §3.4 (computeFault)',
    request: get('/snapshots', '3.72'),
    expect: { status: 406, shape: fault('computeFault', 406), headers: { Vary: /OpenStack-API-Version/ } },
  },
  { name: 'a version below the minimum answers 406', source: 'reference §3', request: get('/snapshots', '2.0'), expect: { status: 406, shape: fault('computeFault', 406) } },
  {
    name: 'a header without a volume entry answers 400',
    source: 'reference §3',
    request: (c) => ({ method: 'GET', url: url(c, '/snapshots'), headers: { 'x-auth-token': c.token, 'openstack-api-version': 'compute 2.1' } }),
    expect: { status: 400, shape: badRequest },
  },
  { name: 'a malformed version answers 400', source: 'reference §3', request: get('/snapshots', '3.x'), expect: { status: 400, shape: badRequest } },
  {
    name: 'a method that does not exist at the requested version answers 404 (group snapshots at 3.13)',
    source: 'reference §3, §3.2',
    request: get('/group_snapshots', '3.13'),
    expect: { status: 404, shape: itemNotFound },
  },
];

const authentication: ConformanceCase<Ctx>[] = [
  {
    name: 'no X-Auth-Token answers 401 unauthorized',
    source: 'reference §3.4',
    request: (c) => ({ method: 'GET', url: url(c, '/snapshots') }),
    expect: { status: 401, shape: fault('unauthorized', 401) },
  },
  {
    name: 'an unknown token answers 401',
    source: 'reference §3.4',
    request: (c) => ({ method: 'GET', url: url(c, '/snapshots'), headers: { 'x-auth-token': 'not-a-token' } }),
    expect: { status: 401, shape: fault('unauthorized', 401) },
  },
  {
    name: "another project's id in the path answers as not found",
    source: 'design/interface.md (isolation); docs/dialects/cinder.md',
    request: (c) => ({ method: 'GET', url: `/cinder/v3/${c.other.pid}/snapshots`, headers: at('3.70', c.token) }),
    expect: { status: 404, shape: itemNotFound },
  },
  {
    name: "another project's snapshot answers 404 to its own token",
    source: 'design/interface.md (isolation)',
    request: (c) => ({ method: 'GET', url: `/cinder/v3/${c.other.pid}/snapshots/${c.snapshotId}`, headers: at('3.70', c.other.token) }),
    expect: { status: 404, shape: itemNotFound, check: messageMatches(/^Snapshot [0-9a-f-]+ could not be found\.$/) },
  },
  {
    name: 'the project-less path /v3/snapshots works (Cinder 3.67 style)',
    source: 'reference §3 (project ID optional)',
    request: (c) => ({ method: 'GET', url: `/cinder/v3/snapshots/${c.snapshotId}`, headers: at('3.70', c.token) }),
    expect: { status: 200, shape: snapshotShow370 },
  },
  {
    name: 'the reader role cannot create a snapshot (403 forbidden), nothing created',
    source: 'reference §3.4; product.md (roles)',
    request: async (c) => {
      c.before = await counts(c);
      return { method: 'POST', url: url(c, '/snapshots'), headers: at('3.70', c.readerToken), body: { snapshot: { volume_id: c.volumeId, name: 'r' } } };
    },
    expect: { status: 403, shape: fault('forbidden', 403), check: unchanged },
  },
];

const volumes: ConformanceCase<Ctx>[] = [
  {
    name: 'cinder create --name vol-1 1: POST /volumes answers 202 with the volume',
    source: 'reference §4.2',
    request: (c) => ({
      method: 'POST',
      url: url(c, '/volumes'),
      headers: at('3.70', c.token),
      body: {
        volume: {
          size: 1,
          consistencygroup_id: null,
          snapshot_id: null,
          name: 'vol-1',
          description: null,
          volume_type: null,
          availability_zone: null,
          metadata: {},
          imageRef: null,
          source_volid: null,
          backup_id: null,
        },
      },
    }),
    expect: {
      status: 202,
      shape: obj({ volume: obj(volumeAt370) }),
      check: (r) => expect(r.body.volume.size === 1 && r.body.volume.name === 'vol-1', 'size or name wrong'),
    },
  },
  {
    name: 'a volume from a snapshot takes its size',
    source: 'Cinder api-ref volumes-v3-volumes.inc (snapshot_id)',
    request: (c) => ({ method: 'POST', url: url(c, '/volumes'), headers: at('3.70', c.token), body: { volume: { snapshot_id: c.snapshotId, name: 'clone' } } }),
    expect: { status: 202, shape: obj({ volume: obj(volumeAt370) }), check: (r, c) => expect(r.body.volume.snapshot_id === c.snapshotId && r.body.volume.size === 1, 'not a clone of the snapshot') },
  },
  { name: 'GET /volumes lists id, name, links', source: 'Cinder api-ref (list volumes)', request: get('/volumes'), expect: { status: 200, shape: obj({ volumes: arr(obj({ id: 'uuid', name: text, links }), 1) }) } },
  {
    name: 'GET /volumes/detail (cinder list) gives attachments for every volume',
    source: 'reference §4.3',
    request: get('/volumes/detail'),
    expect: {
      status: 200,
      shape: obj({ volumes: arr(obj(volumeAt370), 1) }),
      check: (r, c) => {
        const inUse = r.body.volumes.find((v: { id: string }) => v.id === c.inUseVolumeId);
        return expect(inUse?.status === 'in-use' && inUse.attachments.length === 1, 'the in-use volume does not show its attachment');
      },
    },
  },
  { name: 'GET /volumes/detail at 3.0 has no later fields', source: 'Cinder api-ref (microversion fields)', request: get('/volumes/detail', '3.0'), expect: { status: 200, shape: obj({ volumes: arr(obj(volumeAt30), 1) }) } },
  {
    name: 'GET /volumes/detail?name=… filters by name',
    source: 'reference §4.2 (name lookup); resource_filters.json',
    request: get('/volumes/detail?all_tenants=1&name=base'),
    expect: { status: 200, check: (r) => expect(r.body.volumes.length === 1 && r.body.volumes[0].name === 'base', 'name filter wrong') },
  },
  { name: 'GET /volumes/{id} shows the volume', source: 'reference §4.3', request: (c) => get(`/volumes/${c.volumeId}`)(c), expect: { status: 200, shape: obj({ volume: obj(volumeAt370) }) } },
  { name: 'GET /volumes/{missing} answers 404', source: 'reference §3.4', request: get(`/volumes/${missingId}`), expect: { status: 404, shape: itemNotFound, check: messageMatches(/^Volume .* could not be found\.$/) } },
  {
    name: 'PUT /volumes/{id} renames',
    source: 'Cinder api-ref (update volume)',
    request: async (c) => ({ method: 'PUT', url: url(c, `/volumes/${await newVolume(c, 'old')}`), headers: at('3.70', c.token), body: { volume: { name: 'new', description: 'd' } } }),
    expect: { status: 200, shape: obj({ volume: obj(volumeAt370) }), check: (r) => expect(r.body.volume.name === 'new' && r.body.volume.description === 'd', 'not renamed') },
  },
  {
    name: 'cinder extend: os-extend answers 202 and grows the volume',
    source: 'Cinder api-ref volumes-v3-volumes-actions.inc (os-extend)',
    request: async (c) => ({ method: 'POST', url: url(c, `/volumes/${await newVolume(c)}/action`), headers: at('3.70', c.token), body: { 'os-extend': { new_size: 3 } } }),
    expect: {
      status: 202,
      check: async (_r, c) => {
        const page = await c.h.plane.volumes.list(c.caller, { limit: 1000 });
        return expect(page.items.some((v) => v.sizeBytes === 3 * GiB), 'no volume grew to 3 GiB');
      },
    },
  },
  {
    name: 'os-extend to a smaller size answers 400',
    source: 'Cinder api-ref (os-extend); cinder/volume/api.py',
    request: (c) => ({ method: 'POST', url: url(c, `/volumes/${c.volumeId}/action`), headers: at('3.70', c.token), body: { 'os-extend': { new_size: 1 } } }),
    expect: { status: 400, shape: badRequest, check: messageMatches(/New size for extend must be greater than current size/) },
  },
  {
    name: 'os-extend of an in-use volume before 3.42 answers 400',
    source: 'Cinder microversion 3.42',
    request: (c) => ({ method: 'POST', url: url(c, `/volumes/${c.inUseVolumeId}/action`), headers: at('3.41', c.token), body: { 'os-extend': { new_size: 5 } } }),
    expect: { status: 400, shape: badRequest },
  },
  {
    name: 'revert to a snapshot (3.40) answers 202',
    source: 'Cinder api-ref (revert volume to snapshot)',
    request: async (c) => {
      const volumeId = await newVolume(c);
      const snapshotId = await newSnapshot(c, 'r', volumeId);
      return { method: 'POST', url: url(c, `/volumes/${volumeId}/action`), headers: at('3.40', c.token), body: { revert: { snapshot_id: snapshotId } } };
    },
    expect: { status: 202 },
  },
  { name: 'an unknown volume action answers 400', source: 'cinder/api/openstack/wsgi.py', request: (c) => ({ method: 'POST', url: url(c, `/volumes/${c.volumeId}/action`), headers: at('3.70', c.token), body: { 'os-frobnicate': {} } }), expect: { status: 400, shape: badRequest } },
  { name: 'size 0 is refused, nothing created', source: 'cinder/api/schemas/volumes.py', request: refused('POST', '/volumes', { volume: { size: 0, name: 'x' } }), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'a size that is not a number is refused, nothing created', source: 'cinder/api/schemas/volumes.py', request: refused('POST', '/volumes', { volume: { size: 'big', name: 'x' } }), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'no size and no snapshot is refused, nothing created', source: 'Cinder api-ref (size required)', request: refused('POST', '/volumes', { volume: { name: 'x' } }), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'a body without "volume" is refused, nothing created', source: 'cinder/api/schemas/volumes.py', request: refused('POST', '/volumes', { size: 1 }), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'a name over 255 characters is refused, nothing created', source: 'cinder/api/schemas/volumes.py', request: refused('POST', '/volumes', { volume: { size: 1, name: 'n'.repeat(256) } }), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'source_volid (unsupported) is refused, nothing created', source: 'docs/dialects/cinder.md', request: (c) => refused('POST', '/volumes', { volume: { size: 1, source_volid: c.volumeId } })(c), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'an unknown volume type answers 404, nothing created', source: 'Cinder (VolumeTypeNotFoundByName)', request: refused('POST', '/volumes', { volume: { size: 1, volume_type: 'gold' } }), expect: { status: 404, shape: itemNotFound, check: unchanged } },
  { name: 'another availability zone is refused, nothing created', source: 'Cinder (InvalidAvailabilityZone)', request: refused('POST', '/volumes', { volume: { size: 1, availability_zone: 'mars' } }), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'a metadata key with a forbidden character is refused, nothing created', source: 'parameter_types.metadata', request: refused('POST', '/volumes', { volume: { size: 1, metadata: { 'a*b': 'v' } } }), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'DELETE /volumes/{id} answers 202', source: 'Cinder api-ref (delete volume)', request: async (c) => ({ method: 'DELETE', url: url(c, `/volumes/${await newVolume(c)}`), headers: at('3.70', c.token) }), expect: { status: 202 } },
  {
    name: 'deleting a volume with snapshots answers 400',
    source: 'Cinder (InvalidVolume: dependent snapshots)',
    request: (c) => ({ method: 'DELETE', url: url(c, `/volumes/${c.volumeId}`), headers: at('3.70', c.token) }),
    expect: { status: 400, shape: badRequest },
  },
  {
    name: 'deleting an in-use volume answers 400',
    source: 'Cinder (InvalidVolume: attached)',
    request: (c) => ({ method: 'DELETE', url: url(c, `/volumes/${c.inUseVolumeId}`), headers: at('3.70', c.token) }),
    expect: { status: 400, shape: badRequest },
  },
  {
    name: 'volume metadata: POST merges',
    source: 'Cinder api-ref volumes-v3-volumes.inc (metadata)',
    request: (c) => ({ method: 'POST', url: url(c, `/volumes/${c.volumeId}/metadata`), headers: at('3.70', c.token), body: { metadata: { tier: 'gold' } } }),
    expect: { status: 200, shape: obj({ metadata }), check: (r) => expect(r.body.metadata.tier === 'gold', 'not merged') },
  },
];

const snapshots: ConformanceCase<Ctx>[] = [
  {
    name: 'cinder snapshot-create: POST /snapshots at 3.70 answers 202 with the 3.65 fields',
    source: 'reference §3.1 (sample create response at 3.65), §4.2',
    request: (c) => ({
      method: 'POST',
      url: url(c, '/snapshots'),
      headers: at('3.70', c.token),
      body: { snapshot: { volume_id: c.volumeId, name: 'snap-001', description: 'Daily backup', metadata: {} } },
    }),
    expect: {
      status: 202,
      shape: obj({ snapshot: obj(snapshotAt370) }),
      check: (r) => expect(r.body.snapshot.name === 'snap-001' && r.body.snapshot.size === 1 && r.body.snapshot.consumes_quota === true, 'wrong name, size or consumes_quota'),
    },
  },
  {
    name: 'at 3.0 the create body carries force: false and the answer has no later fields',
    source: 'reference §4.2 (snapshot-create at 3.0)',
    request: (c) => ({
      method: 'POST',
      url: url(c, '/snapshots'),
      headers: at(null, c.token),
      body: { snapshot: { volume_id: c.volumeId, force: false, name: 'snap-30', description: null, metadata: { key: 'v3' } } },
    }),
    expect: { status: 202, shape: obj({ snapshot: obj(snapshotSummary) }), check: (r) => expect(r.body.snapshot.metadata.key === 'v3', 'metadata lost') },
  },
  {
    name: 'before 3.66 an in-use volume needs force (400 without it), nothing created',
    source: 'reference §3.1 (force); cinder/volume/api.py',
    request: (c) => refused('POST', '/snapshots', { snapshot: { volume_id: c.inUseVolumeId, name: 'x' } }, '3.65')(c),
    expect: { status: 400, shape: badRequest, check: unchanged },
  },
  {
    name: 'before 3.66 force "true" (a boolean-like string) snapshots an in-use volume',
    source: 'reference §3.1 (force is boolean-like)',
    request: (c) => ({ method: 'POST', url: url(c, '/snapshots'), headers: at('3.65', c.token), body: { snapshot: { volume_id: c.inUseVolumeId, name: 'forced', force: 'true' } } }),
    expect: { status: 202, shape: obj({ snapshot: obj(snapshotAt370) }) },
  },
  {
    name: 'from 3.66 an in-use volume needs no force',
    source: 'reference §3.1 (3.66)',
    request: (c) => ({ method: 'POST', url: url(c, '/snapshots'), headers: at('3.66', c.token), body: { snapshot: { volume_id: c.inUseVolumeId, name: 'unforced' } } }),
    expect: { status: 202 },
  },
  {
    name: 'from 3.66 force false is refused, nothing created',
    source: 'reference §3.1 (3.66)',
    request: (c) => refused('POST', '/snapshots', { snapshot: { volume_id: c.volumeId, force: false } }, '3.66')(c),
    expect: { status: 400, shape: badRequest, check: unchanged },
  },
  { name: 'no volume_id is refused, nothing created', source: 'cinder/api/schemas/snapshots.py (required)', request: refused('POST', '/snapshots', { snapshot: { name: 'x' } }), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'a volume_id that is not a UUID is refused, nothing created', source: 'cinder/api/schemas/snapshots.py (uuid)', request: refused('POST', '/snapshots', { snapshot: { volume_id: 'vol-1' } }), expect: { status: 400, shape: badRequest, check: unchanged } },
  {
    name: 'an unknown field in the snapshot is refused, nothing created',
    source: 'cinder/api/schemas/snapshots.py (additionalProperties false)',
    request: (c) => refused('POST', '/snapshots', { snapshot: { volume_id: c.volumeId, colour: 'red' } })(c),
    expect: { status: 400, shape: badRequest, check: unchanged },
  },
  {
    name: 'an unknown top-level field is refused, nothing created',
    source: 'cinder/api/schemas/snapshots.py (additionalProperties false)',
    request: (c) => refused('POST', '/snapshots', { snapshot: { volume_id: c.volumeId }, extra: 1 })(c),
    expect: { status: 400, shape: badRequest, check: unchanged },
  },
  { name: 'no "snapshot" element is refused, nothing created', source: 'cinder/api/schemas/snapshots.py (required)', request: refused('POST', '/snapshots', {}), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'a name of 256 characters is refused, nothing created', source: 'cinder/api/schemas/snapshots.py (0–255)', request: (c) => refused('POST', '/snapshots', { snapshot: { volume_id: c.volumeId, name: 'n'.repeat(256) } })(c), expect: { status: 400, shape: badRequest, check: unchanged } },
  {
    name: 'a description of 256 characters is refused, nothing created',
    source: 'cinder/api/schemas/snapshots.py (0–255)',
    request: (c) => refused('POST', '/snapshots', { snapshot: { volume_id: c.volumeId, description: 'd'.repeat(256) } })(c),
    expect: { status: 400, shape: badRequest, check: unchanged },
  },
  {
    name: 'a metadata value that is not a string is refused, nothing created',
    source: 'cinder/api/schemas/snapshots.py (metadata)',
    request: (c) => refused('POST', '/snapshots', { snapshot: { volume_id: c.volumeId, metadata: { k: 1 } } })(c),
    expect: { status: 400, shape: badRequest, check: unchanged },
  },
  {
    name: 'a metadata value over 255 characters is refused, nothing created',
    source: 'cinder/api/schemas/snapshots.py (metadata)',
    request: (c) => refused('POST', '/snapshots', { snapshot: { volume_id: c.volumeId, metadata: { k: 'v'.repeat(256) } } })(c),
    expect: { status: 400, shape: badRequest, check: unchanged },
  },
  { name: 'force that is not boolean-like is refused, nothing created', source: 'reference §3.1 (force)', request: (c) => refused('POST', '/snapshots', { snapshot: { volume_id: c.volumeId, force: 'maybe' } }, '3.0')(c), expect: { status: 400, shape: badRequest, check: unchanged } },
  {
    name: 'a malformed JSON body is refused, nothing created',
    source: 'reference §3.4 (badRequest)',
    request: refused('POST', '/snapshots', '{"snapshot": '),
    expect: { status: 400, shape: badRequest, check: unchanged },
  },
  {
    name: 'a volume that does not exist answers 404, nothing created',
    source: 'reference §3.4 (itemNotFound)',
    request: refused('POST', '/snapshots', { snapshot: { volume_id: missingId } }),
    expect: { status: 404, shape: itemNotFound, check: unchanged },
  },
  {
    name: 'GET /snapshots lists the summary fields only',
    source: 'reference §3.1 (sample summary list item)',
    request: get('/snapshots'),
    expect: { status: 200, shape: obj({ snapshots: arr(obj(snapshotSummary), 1) }) },
  },
  {
    name: 'GET /snapshots/detail (cinder snapshot-list) adds the extended attributes',
    source: 'reference §3.1, §4.2',
    request: get('/snapshots/detail'),
    expect: { status: 200, shape: obj({ snapshots: arr(obj({ ...snapshotAt370, ...extended }), 1) }) },
  },
  {
    name: 'snapshot-list filters by name, status and volume_id',
    source: 'reference §4.2 (?name=snap-001&status=available&volume_id=…)',
    request: (c) => get(`/snapshots/detail?name=base-snap&status=available&volume_id=${c.volumeId}`)(c),
    expect: { status: 200, check: (r, c) => expect(r.body.snapshots.length === 1 && r.body.snapshots[0].id === c.snapshotId, `filters wrong: ${r.body.snapshots.length} found`) },
  },
  {
    name: 'snapshot-list filters by metadata as cinderclient sends it (3.22)',
    source: 'reference §3.1 (metadata filter, 3.22+)',
    request: get(`/snapshots/detail?metadata=${encodeURIComponent("{'key': 'v3'}")}`),
    expect: { status: 200, check: (r) => expect(r.body.snapshots.length === 1 && r.body.snapshots[0].name === 'snap-30', 'metadata filter wrong') },
  },
  { name: 'a status Strata never has matches nothing', source: 'resource_filters.json', request: get('/snapshots/detail?status=backing-up'), expect: { status: 200, shape: obj({ snapshots: arr('any') }), check: (r) => expect(r.body.snapshots.length === 0, 'matched') } },
  { name: 'an unknown filter answers 400 from 3.31', source: 'reference §3.1 (3.31)', request: get('/snapshots/detail?colour=red', '3.31'), expect: { status: 400, shape: badRequest } },
  { name: 'an unknown filter is ignored before 3.31', source: 'reference §3.1 (3.31)', request: get('/snapshots/detail?colour=red', '3.30'), expect: { status: 200 } },
  {
    name: 'the name lookup cinderclient does (all_tenants=1&name=…) finds the snapshot',
    source: 'reference §4.2 (find_resource)',
    request: get('/snapshots/detail?all_tenants=1&name=base-snap'),
    expect: { status: 200, check: (r, c) => expect(r.body.snapshots.length === 1 && r.body.snapshots[0].id === c.snapshotId, 'not found by name') },
  },
  {
    name: 'limit cuts the page and snapshots_links points at the next one',
    source: 'reference §3.1 (snapshots_links)',
    request: get('/snapshots/detail?limit=1&sort=created_at:asc'),
    expect: {
      status: 200,
      shape: obj({ snapshots: arr('any'), snapshots_links: arr(obj({ href: 'string', rel: lit('next') }), 1) }),
      check: async (r, c, h) => {
        const next = new URL(r.body.snapshots_links[0].href);
        const page2 = await h.request('GET', next.pathname + next.search, { headers: at('3.70', c.token) });
        const problems = expect(r.body.snapshots.length === 1 && next.searchParams.get('marker') === r.body.snapshots[0].id, 'marker is not the last id');
        return [...problems, ...expect(page2.status === 200 && page2.body.snapshots.length >= 1 && page2.body.snapshots[0].id !== r.body.snapshots[0].id, 'the next page repeats or fails')];
      },
    },
  },
  {
    name: 'with_count=true adds count (3.45)',
    source: 'reference §3.1 (count)',
    request: get('/snapshots/detail?with_count=true&limit=1'),
    expect: { status: 200, shape: obj({ snapshots: arr('any'), snapshots_links: optional(links), count: 'integer' }), check: (r) => expect(r.body.count > 1, 'count is not the total') },
  },
  { name: 'offset skips rows', source: 'reference §3.1 (offset)', request: get('/snapshots?offset=1000'), expect: { status: 200, check: (r) => expect(r.body.snapshots.length === 0, 'offset ignored') } },
  { name: 'limit that is not an integer answers 400', source: 'cinder/api/common.py', request: get('/snapshots?limit=ten'), expect: { status: 400, shape: badRequest, check: messageMatches(/limit param must be an integer/) } },
  { name: 'a negative limit answers 400', source: 'cinder/api/common.py', request: get('/snapshots?limit=-1'), expect: { status: 400, shape: badRequest, check: messageMatches(/limit param must be positive/) } },
  { name: 'a negative offset answers 400', source: 'cinder/api/common.py', request: get('/snapshots?offset=-1'), expect: { status: 400, shape: badRequest, check: messageMatches(/offset param must be positive/) } },
  { name: 'an unknown marker answers 404', source: 'Cinder (MarkerNotFound via SnapshotNotFound)', request: get(`/snapshots?marker=${missingId}`), expect: { status: 404, shape: itemNotFound } },
  { name: 'sort by name ascending', source: 'reference §3.1 (sort)', request: get('/snapshots?sort=name:asc'), expect: { status: 200, check: (r) => { const names = r.body.snapshots.map((s: { name: string }) => s.name); return expect(JSON.stringify(names) === JSON.stringify([...names].sort()), `not sorted: ${names}`); } } },
  { name: 'an unknown sort key answers 400', source: 'reference §3.1 (sort)', request: get('/snapshots?sort=colour'), expect: { status: 400, shape: badRequest } },
  { name: 'a sort key that is an object property name answers 400', source: 'reference §3.1 (sort)', request: get('/snapshots?sort=constructor'), expect: { status: 400, shape: badRequest } },
  { name: 'an unknown sort direction answers 400', source: 'reference §3.1 (sort)', request: get('/snapshots?sort=name:sideways'), expect: { status: 400, shape: badRequest } },
  { name: 'sort with sort_key answers 400', source: 'cinder/api/common.py', request: get('/snapshots?sort=name&sort_key=name'), expect: { status: 400, shape: badRequest } },
  { name: 'GET /snapshots/{id} (cinder snapshot-show) at 3.70', source: 'reference §3.1, §4.2', request: (c) => get(`/snapshots/${c.snapshotId}`)(c), expect: { status: 200, shape: snapshotShow370 } },
  { name: 'GET /snapshots/{id} at 3.0 has no later fields', source: 'reference §3.1', request: (c) => get(`/snapshots/${c.snapshotId}`, null)(c), expect: { status: 200, shape: obj({ snapshot: obj({ ...snapshotSummary, ...extended }) }) } },
  {
    name: 'GET /snapshots/{missing} answers itemNotFound',
    source: 'reference §3.4 (example)',
    request: get(`/snapshots/${missingId}`),
    expect: { status: 404, shape: itemNotFound, check: messageMatches(new RegExp(`^Snapshot ${missingId} could not be found\\.$`)) },
  },
  {
    name: 'cinder snapshot-rename: PUT with name and description',
    source: 'reference §4.2',
    request: async (c) => ({ method: 'PUT', url: url(c, `/snapshots/${await newSnapshot(c, 'before')}`), headers: at('3.70', c.token), body: { snapshot: { name: 'newname', description: 'd2' } } }),
    expect: { status: 200, shape: obj({ snapshot: obj(snapshotAt370) }), check: (r) => expect(r.body.snapshot.name === 'newname' && r.body.snapshot.description === 'd2', 'not renamed') },
  },
  {
    name: 'PUT with display_name (the v1 name) renames',
    source: 'reference §3.1 (update schema)',
    request: async (c) => ({ method: 'PUT', url: url(c, `/snapshots/${await newSnapshot(c, 'before')}`), headers: at('3.70', c.token), body: { snapshot: { display_name: 'legacy' } } }),
    expect: { status: 200, check: (r) => expect(r.body.snapshot.name === 'legacy', 'not renamed') },
  },
  { name: 'PUT without any updatable field answers 400', source: 'reference §3.1 (update schema)', request: (c) => ({ method: 'PUT', url: url(c, `/snapshots/${c.snapshotId}`), headers: at('3.70', c.token), body: { snapshot: {} } }), expect: { status: 400, shape: badRequest } },
  { name: 'PUT with an unknown field answers 400', source: 'reference §3.1 (update schema)', request: (c) => ({ method: 'PUT', url: url(c, `/snapshots/${c.snapshotId}`), headers: at('3.70', c.token), body: { snapshot: { size: 5 } } }), expect: { status: 400, shape: badRequest } },
  {
    name: 'DELETE /snapshots/{id} answers 202 and the snapshot goes',
    source: 'reference §3.1',
    request: async (c) => ({ method: 'DELETE', url: url(c, `/snapshots/${await newSnapshot(c, 'doomed')}`), headers: at('3.70', c.token) }),
    expect: { status: 202, check: (r) => expect(r.body === null, 'a body was returned') },
  },
  {
    name: 'DELETE of a snapshot that is creating answers 400',
    source: 'reference §3.1 (delete precondition: available or error)',
    request: async (c) => {
      const id = await newSnapshot(c, 'stuck');
      await c.h.plane.snapshots.resetStatus(await c.h.plane.identity.authenticate(c.adminToken), id, 'creating');
      return { method: 'DELETE', url: url(c, `/snapshots/${id}`), headers: at('3.70', c.token) };
    },
    expect: { status: 400, shape: badRequest },
  },
  {
    name: 'DELETE of a group snapshot member answers 400',
    source: 'cinder/volume/api.py (delete_snapshot: group_snapshot_id must be None)',
    request: async (c) => {
      const member = (await c.h.plane.groups.getSnapshot(c.caller, c.groupSnapshotId)).snapshots[0];
      return { method: 'DELETE', url: url(c, `/snapshots/${member.id}`), headers: at('3.70', c.token) };
    },
    expect: { status: 400, shape: badRequest },
  },
  { name: 'DELETE of a missing snapshot answers 404', source: 'reference §3.1 (delete errors)', request: (c) => ({ method: 'DELETE', url: url(c, `/snapshots/${missingId}`), headers: at('3.70', c.token) }), expect: { status: 404, shape: itemNotFound } },
];

const snapshotMetadata: ConformanceCase<Ctx>[] = [
  { name: 'GET …/metadata', source: 'reference §3.1 (show metadata)', request: (c) => get(`/snapshots/${c.snapshotId}/metadata`)(c), expect: { status: 200, shape: obj({ metadata }) } },
  {
    name: 'cinder snapshot-metadata set: POST merges and answers the whole map',
    source: 'reference §3.1, §4.2',
    request: (c) => ({ method: 'POST', url: url(c, `/snapshots/${c.snapshotId}/metadata`), headers: at('3.70', c.token), body: { metadata: { k: 'v', key: 'v3' } } }),
    expect: { status: 200, shape: obj({ metadata }), check: (r) => expect(r.body.metadata.k === 'v' && r.body.metadata.origin === 'setup', 'not merged with what was there') },
  },
  {
    name: 'PUT …/metadata replaces the map',
    source: 'reference §3.1 (replace all metadata)',
    request: (c) => ({ method: 'PUT', url: url(c, `/snapshots/${c.snapshotId}/metadata`), headers: at('3.70', c.token), body: { metadata: { key: 'v3', origin: 'setup' } } }),
    expect: { status: 200, check: (r) => expect(JSON.stringify(r.body.metadata) === JSON.stringify({ key: 'v3', origin: 'setup' }), 'not replaced') },
  },
  { name: 'GET …/metadata/{key} answers meta', source: 'reference §3.1 (show one key)', request: (c) => get(`/snapshots/${c.snapshotId}/metadata/key`)(c), expect: { status: 200, shape: obj({ meta: obj({ key: lit('v3') }) }) } },
  { name: 'GET …/metadata/{missing key} answers 404', source: 'Cinder (Metadata item was not found)', request: (c) => get(`/snapshots/${c.snapshotId}/metadata/nope`)(c), expect: { status: 404, shape: itemNotFound } },
  {
    name: 'PUT …/metadata/{key} updates one key',
    source: 'reference §3.1 (update one key)',
    request: (c) => ({ method: 'PUT', url: url(c, `/snapshots/${c.snapshotId}/metadata/key`), headers: at('3.70', c.token), body: { meta: { key: 'new_value' } } }),
    expect: { status: 200, shape: obj({ meta: obj({ key: lit('new_value') }) }) },
  },
  {
    name: 'PUT …/metadata/{key} with another key answers 400',
    source: 'Cinder (Request body and URI mismatch)',
    request: (c) => ({ method: 'PUT', url: url(c, `/snapshots/${c.snapshotId}/metadata/key`), headers: at('3.70', c.token), body: { meta: { other: 'v' } } }),
    expect: { status: 400, shape: badRequest, check: messageMatches(/URI mismatch/) },
  },
  {
    name: 'PUT …/metadata/{key} with two keys answers 400',
    source: 'Cinder (Request body contains too many items)',
    request: (c) => ({ method: 'PUT', url: url(c, `/snapshots/${c.snapshotId}/metadata/key`), headers: at('3.70', c.token), body: { meta: { key: 'a', b: 'c' } } }),
    expect: { status: 400, shape: badRequest },
  },
  {
    name: 'POST …/metadata with a bad key changes nothing',
    source: 'parameter_types.metadata',
    request: (c) => ({ method: 'POST', url: url(c, `/snapshots/${c.snapshotId}/metadata`), headers: at('3.70', c.token), body: { metadata: { 'bad*key': 'v' } } }),
    expect: { status: 400, shape: badRequest, check: async (_r, c) => expect(!('bad*key' in (await snapshotOf(c, c.snapshotId)).metadata), 'metadata changed') },
  },
  { name: 'cinder snapshot-metadata unset: DELETE …/metadata/{key}', source: 'reference §3.1 (delete one key)', request: (c) => ({ method: 'DELETE', url: url(c, `/snapshots/${c.snapshotId}/metadata/key`), headers: at('3.70', c.token) }), expect: { status: 200, check: async (_r, c) => expect(!('key' in (await snapshotOf(c, c.snapshotId)).metadata), 'key still there') } },
  { name: 'DELETE …/metadata/{missing key} answers 404', source: 'Cinder (Metadata item was not found)', request: (c) => ({ method: 'DELETE', url: url(c, `/snapshots/${c.snapshotId}/metadata/key`), headers: at('3.70', c.token) }), expect: { status: 404, shape: itemNotFound } },
];

const actions: ConformanceCase<Ctx>[] = [
  {
    name: 'os-reset_status by an admin answers 202 and sets the status',
    source: 'reference §3.1 (actions)',
    request: async (c) => ({ method: 'POST', url: url(c, `/snapshots/${await newSnapshot(c, 'reset')}/action`), headers: at('3.70', c.adminToken), body: { 'os-reset_status': { status: 'error' } } }),
    expect: { status: 202 },
  },
  {
    name: 'os-reset_status by a member answers 403, status unchanged',
    source: 'reference §3.1 (admin-only by default policy)',
    request: (c) => ({ method: 'POST', url: url(c, `/snapshots/${c.snapshotId}/action`), headers: at('3.70', c.token), body: { 'os-reset_status': { status: 'error' } } }),
    expect: { status: 403, shape: fault('forbidden', 403), check: async (_r, c) => expect((await snapshotOf(c, c.snapshotId)).status === 'available', 'status changed') },
  },
  {
    name: 'os-reset_status to a status Strata cannot hold answers 400',
    source: 'reference §3.1 (statuses)',
    request: (c) => ({ method: 'POST', url: url(c, `/snapshots/${c.snapshotId}/action`), headers: at('3.70', c.adminToken), body: { 'os-reset_status': { status: 'deleted' } } }),
    expect: { status: 400, shape: badRequest },
  },
  {
    name: 'os-force_delete with null (as cinderclient sends it) answers 202',
    source: 'reference §3.1 (os-force_delete: null)',
    request: async (c) => {
      const id = await newSnapshot(c, 'force');
      await c.h.plane.snapshots.resetStatus(await c.h.plane.identity.authenticate(c.adminToken), id, 'creating');
      return { method: 'POST', url: url(c, `/snapshots/${id}/action`), headers: at('3.70', c.adminToken), body: { 'os-force_delete': null } };
    },
    expect: { status: 202 },
  },
  { name: 'os-force_delete by a member answers 403', source: 'reference §3.1 (admin-only)', request: (c) => ({ method: 'POST', url: url(c, `/snapshots/${c.snapshotId}/action`), headers: at('3.70', c.token), body: { 'os-force_delete': {} } }), expect: { status: 403, shape: fault('forbidden', 403) } },
  { name: 'an unknown snapshot action answers 400', source: 'cinder/api/openstack/wsgi.py', request: (c) => ({ method: 'POST', url: url(c, `/snapshots/${c.snapshotId}/action`), headers: at('3.70', c.adminToken), body: { 'os-unmanage': null } }), expect: { status: 400, shape: badRequest } },
  { name: 'an action body with two actions answers 400', source: 'cinder/api/openstack/wsgi.py', request: (c) => ({ method: 'POST', url: url(c, `/snapshots/${c.snapshotId}/action`), headers: at('3.70', c.adminToken), body: { 'os-force_delete': null, 'os-reset_status': { status: 'error' } } }), expect: { status: 400, shape: badRequest } },
];

const groups: ConformanceCase<Ctx>[] = [
  {
    name: 'POST /groups answers 202 with id and name',
    source: 'Cinder api-ref groups.inc (create group)',
    request: (c) => ({ method: 'POST', url: url(c, '/groups'), headers: at('3.70', c.token), body: { group: { name: 'g-new', group_type: 'any-type', volume_types: ['any'] } } }),
    expect: { status: 202, shape: obj({ group: obj({ id: 'uuid', name: text }) }) },
  },
  { name: 'POST /groups without group_type is refused, nothing created', source: 'Cinder (group_type must be provided)', request: refused('POST', '/groups', { group: { name: 'g', volume_types: ['t'] } }), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'POST /groups without volume_types is refused, nothing created', source: 'Cinder (volume_types must be provided)', request: refused('POST', '/groups', { group: { name: 'g', group_type: 't' } }), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'POST /groups before 3.13 answers 404, nothing created', source: 'Cinder microversion 3.13', request: refused('POST', '/groups', { group: { name: 'g', group_type: 't', volume_types: ['t'] } }, '3.12'), expect: { status: 404, shape: itemNotFound, check: unchanged } },
  { name: 'GET /groups lists id and name', source: 'Cinder api-ref groups.inc', request: get('/groups'), expect: { status: 200, shape: obj({ groups: arr(obj({ id: 'uuid', name: text }), 1) }) } },
  { name: 'GET /groups/detail', source: 'Cinder api-ref groups.inc', request: get('/groups/detail'), expect: { status: 200, shape: obj({ groups: arr(groupDetail370, 1) }) } },
  {
    name: 'GET /groups/{id}?list_volume=true lists the member volumes (3.25)',
    source: 'Cinder api-ref groups.inc',
    request: (c) => get(`/groups/${c.groupId}?list_volume=true`)(c),
    expect: { status: 200, shape: obj({ group: groupDetail370 }), check: (r, c) => expect(JSON.stringify(r.body.group.volumes) === JSON.stringify([c.groupVolumeId]), 'volumes wrong') },
  },
  {
    name: 'PUT /groups/{id} adds volumes (comma-separated ids) and answers 202',
    source: 'Cinder api-ref groups.inc (update group)',
    request: async (c) => {
      const group = await c.h.plane.groups.create(c.caller, { name: 'grow' });
      return { method: 'PUT', url: url(c, `/groups/${group.id}`), headers: at('3.70', c.token), body: { group: { name: 'grown', add_volumes: `${await newVolume(c)},${await newVolume(c)}` } } };
    },
    expect: { status: 202, check: async (_r, c) => { const page = await c.h.plane.groups.list(c.caller, { name: 'grown' }); return expect(page.items[0]?.volumeIds.length === 2, 'volumes not added'); } },
  },
  { name: 'PUT /groups/{id} with nothing to change answers 400', source: 'Cinder (can not be all empty)', request: (c) => ({ method: 'PUT', url: url(c, `/groups/${c.groupId}`), headers: at('3.70', c.token), body: { group: {} } }), expect: { status: 400, shape: badRequest } },
  {
    name: 'deleting a group with volumes needs delete-volumes (400 without)',
    source: 'Cinder api-ref groups.inc (delete group)',
    request: (c) => ({ method: 'POST', url: url(c, `/groups/${c.groupId}/action`), headers: at('3.70', c.token), body: { delete: { 'delete-volumes': false } } }),
    expect: { status: 400, shape: badRequest },
  },
  {
    name: 'deleting a group with delete-volumes answers 202',
    source: 'Cinder api-ref groups.inc (delete group)',
    request: async (c) => {
      const volumeId = await newVolume(c);
      const group = await c.h.plane.groups.create(c.caller, { name: 'gone', volumeIds: [volumeId] });
      return { method: 'POST', url: url(c, `/groups/${group.id}/action`), headers: at('3.70', c.token), body: { delete: { 'delete-volumes': true } } };
    },
    expect: { status: 202 },
  },
  {
    name: 'POST /group_snapshots answers 202 with id, name, group_type_id',
    source: 'reference §3.2',
    request: (c) => ({ method: 'POST', url: url(c, '/group_snapshots'), headers: at('3.70', c.token), body: { group_snapshot: { group_id: c.groupId, name: 'gs-new', description: 'd' } } }),
    expect: { status: 202, shape: obj({ group_snapshot: obj({ id: 'uuid', name: text, group_type_id: 'uuid' }) }) },
  },
  { name: 'POST /group_snapshots without group_id is refused, nothing created', source: 'reference §3.2', request: refused('POST', '/group_snapshots', { group_snapshot: { name: 'x' } }), expect: { status: 400, shape: badRequest, check: unchanged } },
  { name: 'POST /group_snapshots of a missing group answers 404, nothing created', source: 'reference §3.2', request: refused('POST', '/group_snapshots', { group_snapshot: { group_id: missingId } }), expect: { status: 404, shape: itemNotFound, check: unchanged } },
  {
    name: 'POST /group_snapshots of an empty group answers 400, nothing created',
    source: 'reference §3.2 (400)',
    request: async (c) => {
      const group = await c.h.plane.groups.create(c.caller, { name: 'empty' });
      return refused('POST', '/group_snapshots', { group_snapshot: { group_id: group.id } })(c);
    },
    expect: { status: 400, shape: badRequest, check: unchanged },
  },
  { name: 'GET /group_snapshots lists id and name', source: 'reference §3.2', request: get('/group_snapshots'), expect: { status: 200, shape: obj({ group_snapshots: arr(obj({ id: 'uuid', name: text }), 1) }) } },
  { name: 'GET /group_snapshots/detail (cinder group-snapshot-list)', source: 'reference §3.2, §4.3', request: get('/group_snapshots/detail'), expect: { status: 200, shape: obj({ group_snapshots: arr(groupSnapshotDetail370, 1) }) } },
  {
    name: 'GET /group_snapshots/detail filters by group_id',
    source: 'reference §3.2 (filters)',
    request: get(`/group_snapshots/detail?group_id=${missingId}`),
    expect: { status: 200, check: (r) => expect(r.body.group_snapshots.length === 0, 'filter ignored') },
  },
  { name: 'GET /group_snapshots/{id}', source: 'reference §3.2', request: (c) => get(`/group_snapshots/${c.groupSnapshotId}`)(c), expect: { status: 200, shape: obj({ group_snapshot: groupSnapshotDetail370 }) } },
  { name: 'GET /group_snapshots/{missing} answers 404', source: 'reference §3.2', request: get(`/group_snapshots/${missingId}`), expect: { status: 404, shape: itemNotFound } },
  {
    name: 'reset_status of a group snapshot by an admin answers 202 (3.19)',
    source: 'reference §3.2',
    request: (c) => ({ method: 'POST', url: url(c, `/group_snapshots/${c.groupSnapshotId}/action`), headers: at('3.70', c.adminToken), body: { reset_status: { status: 'available' } } }),
    expect: { status: 202 },
  },
  {
    name: 'reset_status before 3.19 answers 404',
    source: 'reference §3.2',
    request: (c) => ({ method: 'POST', url: url(c, `/group_snapshots/${c.groupSnapshotId}/action`), headers: at('3.18', c.adminToken), body: { reset_status: { status: 'available' } } }),
    expect: { status: 404, shape: itemNotFound },
  },
  {
    name: 'create-from-src clones a group snapshot into a new group',
    source: 'Cinder api-ref groups.inc (create group from source)',
    request: (c) => ({ method: 'POST', url: url(c, '/groups/action'), headers: at('3.70', c.token), body: { 'create-from-src': { group_snapshot_id: c.groupSnapshotId, name: 'cloned' } } }),
    expect: { status: 202, shape: obj({ group: obj({ id: 'uuid', name: text }) }) },
  },
  {
    name: 'DELETE /group_snapshots/{id} answers 202',
    source: 'reference §3.2',
    request: async (c) => {
      const volumeId = await newVolume(c);
      const group = await c.h.plane.groups.create(c.caller, { name: 'gsd', volumeIds: [volumeId] });
      const snapshot = await c.h.plane.groups.createSnapshot(c.caller, group.id, { name: 'gsd' });
      return { method: 'DELETE', url: url(c, `/group_snapshots/${snapshot.id}`), headers: at('3.70', c.token) };
    },
    expect: { status: 202 },
  },
];

const faults: ConformanceCase<Ctx>[] = [
  { name: 'an unknown path answers itemNotFound', source: 'reference §3.4', request: get('/nothing-here'), expect: { status: 404, shape: itemNotFound } },
  {
    name: 'a body that is not JSON (text/plain) answers 415 badMediaType',
    source: 'reference §3.4',
    request: (c) => ({ method: 'POST', url: url(c, '/snapshots'), headers: { ...at('3.70', c.token), 'content-type': 'text/plain' }, body: 'snapshot' }),
    expect: { status: 415, shape: fault('badMediaType', 415) },
  },
];

runConformance<Ctx>({
  dialect: 'cinder',
  async setup(h) {
    const a = await h.tenant('cinder-a');
    const b = await h.tenant('cinder-b');
    const caller = await h.plane.identity.authenticate(a.token);
    const callerB = await h.plane.identity.authenticate(b.token);
    const reader = await h.request('POST', '/api/v1/users', { token: h.adminToken, body: { name: 'cinder-reader', password, project_id: a.projectId, role: 'reader' } });
    if (reader.status !== 201) throw new Error(JSON.stringify(reader.body));
    const volume = await h.plane.volumes.create(caller, { name: 'base', sizeBytes: GiB });
    const snapshot = await h.plane.snapshots.create(caller, volume.id, { name: 'base-snap', description: 'd', metadata: { origin: 'setup' } });
    const inUse = await h.plane.volumes.create(caller, { name: 'attached', sizeBytes: GiB });
    await h.plane.attachments.create(caller, { volumeId: inUse.id }, 'rw');
    const groupVolume = await h.plane.volumes.create(caller, { name: 'member', sizeBytes: GiB });
    const group = await h.plane.groups.create(caller, { name: 'g', volumeIds: [groupVolume.id] });
    const groupSnapshot = await h.plane.groups.createSnapshot(caller, group.id, { name: 'gs', description: 'd' });
    const otherVolume = await h.plane.volumes.create(callerB, { name: 'b', sizeBytes: GiB });
    const otherSnapshot = await h.plane.snapshots.create(callerB, otherVolume.id, { name: 'b' });
    return {
      h,
      pid: a.projectId,
      token: a.token,
      caller,
      adminToken: await h.login('admin', adminPassword, a.projectId),
      readerToken: await h.login('cinder-reader', password),
      other: { pid: b.projectId, token: b.token, snapshotId: otherSnapshot.id },
      volumeId: volume.id,
      snapshotId: snapshot.id,
      inUseVolumeId: inUse.id,
      groupId: group.id,
      groupVolumeId: groupVolume.id,
      groupSnapshotId: groupSnapshot.id,
      before: { volumes: 0, snapshots: 0, groups: 0, groupSnapshots: 0 },
    };
  },
  cases: [...versions, ...authentication, ...volumes, ...snapshots, ...snapshotMetadata, ...actions, ...groups, ...faults],
});
