/**
 * Huawei DWS dialect conformance (/dws): the seed's create-snapshot example, every route with
 * its DWS shape and status, every documented error as `{"error_code", "error_msg"}`, each
 * name and description rule refused with nothing created, restore into a new cluster whose
 * volumes hold the snapshot's data, and project isolation; on SQLite and PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import type { Harness } from '../api/harness.js';
import { arr, type ConformanceCase, lit, nullable, obj, optional, runConformance, type Shape } from './conformance.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const volumeSizeBytes = MiB;
const missingId = '00000000-0000-4000-8000-000000000000';
const seed = 'seed 001';
const ref = (section: string) => `reference huawei-evs-dws-and-cinder.md ${section}`;

interface Tenant {
  projectId: string;
  token: string;
}

interface Context {
  h: Harness;
  alice: Tenant;
  aliceReader: Tenant;
  bob: Tenant;
  /** Alice's cluster of two volumes, and each volume's first MiB when the seed's snapshot was taken. */
  clusterId: string;
  volumeIds: string[];
  dataAtSnapshot: Map<string, Buffer>;
  emptyClusterId: string;
  bobClusterId: string;
  bobSnapshotId: string;
  /** A consistent snapshot of loose volumes (no group), as XSKY makes them: no cluster's snapshot. */
  looseSnapshotId: string;
  /** Filled in by the cases that create them. */
  snapshotId: string;
  secondSnapshotId: string;
  restoredClusterId: string;
}

// ---- shapes (the OTC/Huawei DWS API reference models) ---------------------------------------

const dwsTime: Shape = { pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/ };
const snapshotStatus: Shape = { oneOf: ['CREATING', 'AVAILABLE', 'UNAVAILABLE', 'RESTORING'].map(lit) };

/** Snapshots (the project's list). */
const snapshotFields = {
  id: 'uuid',
  name: 'string',
  description: 'string',
  started: dwsTime,
  finished: nullable(dwsTime),
  size: 'number',
  status: snapshotStatus,
  type: lit('MANUAL'),
  cluster_id: 'uuid',
} satisfies Record<string, Shape>;
const snapshotItem = obj(snapshotFields);
const clusterFields = { cluster_name: 'string', updated: dwsTime, progress: 'string', backup_level: lit('cluster'), fine_grained_backup: lit(false) } satisfies Record<string, Shape>;
/** SnapshotDetail (show). */
const snapshotDetail = obj({ ...snapshotFields, ...clusterFields });
/** ClusterSnapshots (one cluster's list): no `finished`. */
const { finished: _finished, ...itemWithoutFinished } = snapshotFields;
const clusterSnapshotItem = obj({ ...itemWithoutFinished, ...clusterFields });

/** ClusterInfo / ClusterDetail, as far as Strata fills it. */
const cluster = obj({
  id: 'uuid',
  name: 'string',
  status: { oneOf: ['CREATING', 'AVAILABLE', 'UNAVAILABLE', 'CREATION FAILED'].map(lit) },
  sub_status: optional('string'),
  task_status: optional('string'),
  action_progress: { record: 'string' },
  created: dwsTime,
  updated: dwsTime,
  nodes: arr(obj({ id: 'uuid', status: 'string' })),
  number_of_node: 'integer',
  tags: arr(obj({ key: 'string', value: 'string' })),
  enterprise_project_id: 'string',
});

const faultShape = (code: string): Shape => obj({ error_code: lit(code), error_msg: 'string' });

// ---- helpers --------------------------------------------------------------------------------

const dws = (projectId: string, path: string) => `/dws/v1.0/${projectId}${path}`;
const auth = (tenant: Tenant) => ({ 'x-auth-token': tenant.token });

async function native(c: Context, tenant: Tenant, method: string, url: string, body?: unknown): Promise<any> {
  const r = await c.h.request(method, `/api/v1${url}`, { token: tenant.token, body });
  if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

async function engineId(c: Context, table: 'volumes' | 'snapshots', id: string): Promise<number> {
  const row = await c.h.database.db.selectFrom(table).select('engine_id').where('id', '=', id).executeTakeFirstOrThrow();
  return Number(row.engine_id);
}

const readVolume = async (c: Context, volumeId: string) => c.h.engine.read({ volumeId: await engineId(c, 'volumes', volumeId) }, 0, volumeSizeBytes);

async function overwrite(c: Context, volumeId: string): Promise<void> {
  await c.h.engine.write(await engineId(c, 'volumes', volumeId), 0, randomBytes(volumeSizeBytes));
}

/** Alice's group snapshots and groups, as the native API counts them. */
async function counts(c: Context): Promise<{ snapshots: number; groups: number }> {
  const snapshots = await native(c, c.alice, 'GET', '/group-snapshots?limit=1000');
  const groups = await native(c, c.alice, 'GET', '/groups?limit=1000');
  return { snapshots: snapshots.group_snapshots.length, groups: groups.groups.length };
}

/** The counts before a refused request, compared again in its check. */
let before: { snapshots: number; groups: number } = { snapshots: 0, groups: 0 };

/** A refused request: the DWS fault, and no snapshot or cluster created. */
function refused(
  name: string,
  source: string,
  status: number,
  code: string,
  request: ConformanceCase<Context>['request'],
): ConformanceCase<Context> {
  return {
    name,
    source,
    request: async (c) => {
      before = await counts(c);
      return request(c);
    },
    expect: {
      status,
      shape: faultShape(code),
      check: async (_r, c) => {
        const after = await counts(c);
        return after.snapshots === before.snapshots && after.groups === before.groups ? [] : [`created something: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`];
      },
    },
  };
}

const createSnapshot = (c: Context, snapshot: Record<string, unknown>, tenant: Tenant = c.alice) => ({
  method: 'POST',
  url: dws(tenant.projectId, '/snapshots'),
  headers: auth(tenant),
  body: { snapshot },
});

const restore = (c: Context, body: unknown, snapshotId = c.snapshotId, tenant: Tenant = c.alice) => ({
  method: 'POST',
  url: dws(tenant.projectId, `/snapshots/${snapshotId}/actions`),
  headers: auth(tenant),
  body,
});

const expectValues = (actual: Record<string, unknown>, expected: Record<string, unknown>): string[] =>
  Object.entries(expected).flatMap(([k, v]) => (JSON.stringify(actual[k]) === JSON.stringify(v) ? [] : [`${k}: ${JSON.stringify(actual[k])}, expected ${JSON.stringify(v)}`]));

// ---- the table ------------------------------------------------------------------------------

const nameRules: Array<[string, unknown]> = [
  ['shorter than 4 characters', 'abc'],
  ['longer than 64 characters', `a${'b'.repeat(64)}`],
  ['starting with a digit', '1abc'],
  ['starting with a hyphen', '-abc'],
  ['starting with an underscore', '_abc'],
  ['with a dot', 'snap.shot'],
  ['with a space', 'snap shot'],
  ['with a non-ASCII letter', 'snäpshot'],
  ['empty', ''],
  ['not a string', 1234],
];

const forbiddenDescriptionCharacters = [...`!<>'=&"`];

const cases: ConformanceCase<Context>[] = [
  {
    name: 'create a snapshot of a cluster (the seed example, project id without dashes)',
    source: seed,
    request: (c) => ({
      method: 'POST',
      url: dws(c.alice.projectId.replace(/-/g, ''), '/snapshots'),
      headers: { ...auth(c.alice), 'content-type': 'application/json;charset=UTF-8' },
      body: { snapshot: { name: 'snapshot-3', cluster_id: c.clusterId, description: 'Snapshot-3 description' } },
    }),
    expect: {
      status: 200,
      shape: obj({ snapshot: obj({ id: 'uuid' }) }),
      check: async (r, c) => {
        c.snapshotId = r.body.snapshot.id;
        const gs = await native(c, c.alice, 'GET', `/group-snapshots/${c.snapshotId}`);
        const problems = expectValues(gs.group_snapshot, { group_id: c.clusterId, name: 'snapshot-3', description: 'Snapshot-3 description', status: 'available' });
        if (gs.group_snapshot.snapshots.length !== 2) problems.push(`expected one member snapshot per volume, got ${gs.group_snapshot.snapshots.length}`);
        // Writes after the snapshot must not reach it (nor a restore from it).
        for (const volumeId of c.volumeIds) await overwrite(c, volumeId);
        return problems;
      },
    },
  },
  {
    name: 'create a second snapshot without a description (4-character name)',
    source: ref('§2.1 create'),
    request: (c) => createSnapshot(c, { name: 'snap', cluster_id: c.clusterId }),
    expect: {
      status: 200,
      shape: obj({ snapshot: obj({ id: 'uuid' }) }),
      check: async (r, c) => {
        c.secondSnapshotId = r.body.snapshot.id;
        const gs = await native(c, c.alice, 'GET', `/group-snapshots/${c.secondSnapshotId}`);
        return expectValues(gs.group_snapshot, { name: 'snap', description: '' });
      },
    },
  },
  {
    name: 'a 64-character name and a 256-character description are accepted',
    source: seed,
    request: (c) => createSnapshot(c, { name: `A${'b'.repeat(62)}9`, cluster_id: c.clusterId, description: 'd'.repeat(256) }),
    expect: { status: 200, shape: obj({ snapshot: obj({ id: 'uuid' }) }) },
  },
  {
    name: 'list the project snapshots',
    source: ref('§2.1 list, §2.2'),
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, '/snapshots'), headers: auth(c.alice) }),
    expect: {
      status: 200,
      shape: obj({ snapshots: arr(snapshotItem, 3), count: 'integer' }),
      check: (r, c) => {
        const problems = r.body.count === 3 ? [] : [`count ${r.body.count}, expected 3`];
        if (r.body.snapshots.some((s: any) => s.id === c.looseSnapshotId)) problems.push('a snapshot of loose volumes is listed');
        const item = r.body.snapshots.find((s: any) => s.id === c.snapshotId);
        if (item === undefined) return [...problems, 'the seed snapshot is missing'];
        return [
          ...problems,
          ...expectValues(item, { name: 'snapshot-3', description: 'Snapshot-3 description', status: 'AVAILABLE', cluster_id: c.clusterId, size: (2 * volumeSizeBytes) / GiB }),
        ];
      },
    },
  },
  {
    name: 'show a snapshot (SnapshotDetail, DWS status)',
    source: ref('§2.1 show, §2.2, §2.3'),
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, `/snapshots/${c.snapshotId}`), headers: auth(c.alice) }),
    expect: {
      status: 200,
      shape: obj({ snapshot: snapshotDetail }),
      check: (r, c) =>
        expectValues(r.body.snapshot, { id: c.snapshotId, name: 'snapshot-3', status: 'AVAILABLE', type: 'MANUAL', cluster_id: c.clusterId, cluster_name: 'dws-cluster', progress: '100%' }),
    },
  },
  {
    name: "list one cluster's snapshots",
    source: ref('§2.1 list one cluster'),
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, `/clusters/${c.clusterId}/snapshots`), headers: auth(c.alice) }),
    expect: {
      status: 200,
      shape: obj({ snapshots: arr(clusterSnapshotItem, 3), project_id: 'string', cluster_id: 'uuid', count: 'integer' }),
      check: (r, c) => [
        ...expectValues(r.body, { project_id: c.alice.projectId, cluster_id: c.clusterId, count: 3 }),
        ...(r.body.snapshots.every((s: any) => s.cluster_id === c.clusterId && s.cluster_name === 'dws-cluster') ? [] : ['an item of another cluster']),
      ],
    },
  },
  {
    name: "one cluster's snapshots, paged: limit, offset counts pages, sort_key, sort_dir",
    source: ref('§2.1 list one cluster'),
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, `/clusters/${c.clusterId}/snapshots?limit=1&offset=1&sort_key=name&sort_dir=desc`), headers: auth(c.alice) }),
    expect: {
      status: 200,
      shape: obj({ snapshots: arr(clusterSnapshotItem, 1), project_id: 'string', cluster_id: 'uuid', count: 'integer' }),
      // Names descending: snapshot-3, snap, Abbb…9; the second page of one holds `snap`.
      check: (r) => [...expectValues(r.body, { count: 3 }), ...(r.body.snapshots.length === 1 && r.body.snapshots[0].name === 'snap' ? [] : [`page: ${JSON.stringify(r.body.snapshots.map((s: any) => s.name))}`])],
    },
  },
  {
    name: 'list clusters',
    source: 'reference OTC DWS querying_the_cluster_list (ClusterInfo)',
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, '/clusters'), headers: auth(c.alice) }),
    expect: {
      status: 200,
      shape: obj({ clusters: arr(cluster, 2), count: 'integer' }),
      check: (r, c) => {
        const ids = r.body.clusters.map((x: any) => x.id);
        return ids.includes(c.clusterId) && ids.includes(c.emptyClusterId) && !ids.includes(c.bobClusterId) && r.body.count === 2 ? [] : [`clusters ${JSON.stringify(ids)}`];
      },
    },
  },
  {
    name: 'show a cluster: its nodes are the member volumes',
    source: 'reference OTC DWS querying_cluster_details (ClusterDetail)',
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, `/clusters/${c.clusterId}`), headers: auth(c.alice) }),
    expect: {
      status: 200,
      shape: obj({ cluster }),
      check: (r, c) => [
        ...expectValues(r.body.cluster, { id: c.clusterId, name: 'dws-cluster', status: 'AVAILABLE', number_of_node: 2 }),
        ...(JSON.stringify(r.body.cluster.nodes.map((n: any) => n.id).sort()) === JSON.stringify([...c.volumeIds].sort()) ? [] : ['nodes are not the member volumes']),
      ],
    },
  },

  // -- name and description rules, each refused with nothing created --
  ...nameRules.map(([rule, name]) =>
    refused(`a snapshot name ${rule} is refused`, seed, 400, 'DWS.0001', (c) => createSnapshot(c, { name, cluster_id: c.clusterId })),
  ),
  refused('a snapshot without a name is refused', seed, 400, 'DWS.0001', (c) => createSnapshot(c, { cluster_id: c.clusterId })),
  refused('a name that differs from an existing one only in case is refused (unique case-insensitively)', seed, 400, 'DWS.0001', (c) =>
    createSnapshot(c, { name: 'SNAPSHOT-3', cluster_id: c.clusterId }),
  ),
  refused('a name equal to an existing one is refused', seed, 400, 'DWS.0001', (c) => createSnapshot(c, { name: 'snapshot-3', cluster_id: c.clusterId })),
  refused('a description of 257 characters is refused', seed, 400, 'DWS.0001', (c) => createSnapshot(c, { name: 'long-description', cluster_id: c.clusterId, description: 'd'.repeat(257) })),
  ...forbiddenDescriptionCharacters.map((ch) =>
    refused(`a description with ${ch} is refused`, seed, 400, 'DWS.0001', (c) => createSnapshot(c, { name: 'bad-description', cluster_id: c.clusterId, description: `a ${ch} b` })),
  ),
  refused('a description that is not a string is refused', seed, 400, 'DWS.0001', (c) => createSnapshot(c, { name: 'bad-description', cluster_id: c.clusterId, description: 5 })),
  refused('a snapshot without cluster_id is refused', seed, 400, 'DWS.0001', (c) => createSnapshot(c, { name: 'no-cluster' })),
  refused('a cluster_id that is not a UUID is refused', ref('§2.4 DWS.0001'), 400, 'DWS.0001', (c) => createSnapshot(c, { name: 'bad-cluster', cluster_id: 'cluster-1' })),

  // -- the documented errors --
  refused('a body without "snapshot" is refused', seed, 400, 'DWS.0001', (c) => ({ method: 'POST', url: dws(c.alice.projectId, '/snapshots'), headers: auth(c.alice), body: { name: 'snapshot-9' } })),
  refused('an empty request is refused (DWS.0006)', ref('§2.4 DWS.0006'), 400, 'DWS.0006', (c) => ({ method: 'POST', url: dws(c.alice.projectId, '/snapshots'), headers: auth(c.alice) })),
  refused('malformed JSON is refused', ref('§2.4 DWS.0001'), 400, 'DWS.0001', (c) => ({ method: 'POST', url: dws(c.alice.projectId, '/snapshots'), headers: auth(c.alice), body: '{"snapshot": ' })),
  refused('a cluster that does not exist (DWS.0015)', ref('§2.4 DWS.0015'), 403, 'DWS.0015', (c) => createSnapshot(c, { name: 'snapshot-9', cluster_id: missingId })),
  refused('a cluster whose members cannot be snapshotted now (no volumes) is DWS.0011', ref('§2.4 DWS.0011'), 409, 'DWS.0011', (c) =>
    createSnapshot(c, { name: 'snapshot-9', cluster_id: c.emptyClusterId }),
  ),
  refused('the reader role may not create snapshots', ref('§2.4 DWS.0015'), 403, 'DWS.0015', (c) => createSnapshot(c, { name: 'snapshot-9', cluster_id: c.clusterId }, c.aliceReader)),
  refused('no X-Auth-Token is 401', ref('§2.1 (401 on every operation)'), 401, 'APIG.0301', (c) => ({
    method: 'POST',
    url: dws(c.alice.projectId, '/snapshots'),
    body: { snapshot: { name: 'snapshot-9', cluster_id: c.clusterId } },
  })),
  refused('an unknown token is 401', ref('§2.1 (401 on every operation)'), 401, 'APIG.0301', (c) => ({
    method: 'GET',
    url: dws(c.alice.projectId, '/snapshots'),
    headers: { 'x-auth-token': 'not-a-strata-token' },
  })),
  refused("another project's id in the path is DWS.5045", 'reference OTC DWS error_code DWS.5045', 400, 'DWS.5045', (c) => ({
    ...createSnapshot(c, { name: 'snapshot-9', cluster_id: c.clusterId }),
    url: dws(c.bob.projectId, '/snapshots'),
  })),
  {
    name: 'a snapshot that does not exist is DWS.5149',
    source: ref('§2.4 DWS.5149'),
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, `/snapshots/${missingId}`), headers: auth(c.alice) }),
    expect: { status: 400, shape: faultShape('DWS.5149') },
  },
  {
    name: 'a consistent snapshot of loose volumes (no cluster) is no DWS snapshot',
    source: ref('§2.2 (cluster_id)'),
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, `/snapshots/${c.looseSnapshotId}`), headers: auth(c.alice) }),
    expect: { status: 400, shape: faultShape('DWS.5149') },
  },
  {
    name: 'a snapshot id that is not a UUID is DWS.5149',
    source: ref('§2.4 DWS.5149'),
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, '/snapshots/snapshot-3'), headers: auth(c.alice) }),
    expect: { status: 400, shape: faultShape('DWS.5149') },
  },
  {
    name: 'a cluster that does not exist is DWS.0015 (show)',
    source: ref('§2.4 DWS.0015'),
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, `/clusters/${missingId}`), headers: auth(c.alice) }),
    expect: { status: 403, shape: faultShape('DWS.0015') },
  },
  {
    name: "a cluster id that is not a UUID is DWS.0001 (one cluster's snapshots)",
    source: ref('§2.4 DWS.0001'),
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, '/clusters/dws-cluster/snapshots'), headers: auth(c.alice) }),
    expect: { status: 400, shape: faultShape('DWS.0001') },
  },
  ...(
    [
      ['limit=0', 'limit must be greater than 0'],
      ['offset=-1', 'offset must be 0 or more'],
      ['sort_dir=up', 'sort_dir is asc or desc'],
      ['sort_key=color', 'sort_key is a known field'],
    ] as const
  ).map(
    ([query, rule]): ConformanceCase<Context> => ({
      name: `one cluster's snapshots: ${query} is refused (${rule})`,
      source: ref('§2.1 list one cluster'),
      request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, `/clusters/${c.clusterId}/snapshots?${query}`), headers: auth(c.alice) }),
      expect: { status: 400, shape: faultShape('DWS.0001') },
    }),
  ),
  {
    name: 'a path DWS does not have is 404 from the gateway',
    source: 'reference OTC DWS status_code 404',
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, '/volumes'), headers: auth(c.alice) }),
    expect: { status: 404, shape: faultShape('APIG.0101') },
  },
  {
    name: 'an unknown path without a token is still 401',
    source: 'reference OTC DWS status_code 401',
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, '/volumes') }),
    expect: { status: 401, shape: faultShape('APIG.0301') },
  },

  // -- restore into a new cluster --
  refused('restore: a cluster name that breaks the rules is DWS.5057', ref('§2.1 restore'), 400, 'DWS.5057', (c) => restore(c, { restore: { name: 'd1' } })),
  refused('restore: a cluster name starting with a digit is DWS.5057', ref('§2.1 restore'), 400, 'DWS.5057', (c) => restore(c, { restore: { name: '1dws' } })),
  refused('restore: no name is DWS.5057', ref('§2.1 restore'), 400, 'DWS.5057', (c) => restore(c, { restore: { port: 8000 } })),
  refused('restore: a taken cluster name is DWS.5050', 'reference OTC DWS error_code DWS.5050', 409, 'DWS.5050', (c) => restore(c, { restore: { name: 'dws-cluster' } })),
  refused('restore: an unknown public_bind_type is DWS.5098', 'reference OTC DWS error_code DWS.5098', 400, 'DWS.5098', (c) =>
    restore(c, { restore: { name: 'dws-2', public_ip: { public_bind_type: 'always' } } }),
  ),
  refused('restore: a port outside 8000-30000 is DWS.0001', ref('§2.1 restore'), 400, 'DWS.0001', (c) => restore(c, { restore: { name: 'dws-2', port: 80 } })),
  refused('restore: no body is DWS.0006', ref('§2.4 DWS.0006'), 400, 'DWS.0006', (c) => restore(c, undefined)),
  refused('restore: a snapshot that does not exist is DWS.5149', ref('§2.4 DWS.5149'), 400, 'DWS.5149', (c) => restore(c, { restore: { name: 'dws-2' } }, missingId)),
  {
    name: 'restore a snapshot into a new cluster (the reference example): its volumes hold the snapshot data',
    source: ref('§2.1 restore'),
    request: (c) =>
      restore(c, {
        restore: {
          name: 'dws-1',
          subnet_id: '374eca02-cfc4-4de7-8ab5-dbebf7d9a720',
          security_group_id: 'dc3ec145-9029-4b39-b5a3-ace5a01f772b',
          vpc_id: '85b20d7e-9eb7-4b2a-98f3-3c8843ea3574',
          availability_zone: 'az1.dc1',
          port: 8000,
          public_ip: { public_bind_type: 'auto_assign', eip_id: '' },
          enterprise_project_id: 'aca4e50a-266f-4786-827c-f8d6cc3fbada',
        },
      }),
    expect: {
      status: 200,
      shape: obj({ cluster: obj({ id: 'uuid' }) }),
      check: async (r, c) => {
        c.restoredClusterId = r.body.cluster.id;
        await c.h.plane.jobs.idle();
        const shown = await c.h.request('GET', dws(c.alice.projectId, `/clusters/${c.restoredClusterId}`), { headers: auth(c.alice) });
        const problems = expectValues(shown.body.cluster ?? {}, { name: 'dws-1', status: 'AVAILABLE', number_of_node: 2 });
        const members = (await native(c, c.alice, 'GET', `/groups/${c.restoredClusterId}`)).group.volume_ids as string[];
        const snapshot = (await native(c, c.alice, 'GET', `/group-snapshots/${c.snapshotId}`)).group_snapshot;
        for (const volumeId of members) {
          const volume = (await native(c, c.alice, 'GET', `/volumes/${volumeId}`)).volume;
          const source = snapshot.snapshots.find((s: any) => s.id === volume.source_snapshot_id);
          if (source === undefined) {
            problems.push(`volume ${volumeId} is not a clone of the snapshot's members`);
            continue;
          }
          const data = await readVolume(c, volumeId);
          if (!data.equals(c.dataAtSnapshot.get(source.volume_id)!)) problems.push(`volume ${volumeId} does not hold the data of ${source.volume_id} at the snapshot`);
          if (data.equals(await readVolume(c, source.volume_id))) problems.push(`volume ${volumeId} holds the later data of ${source.volume_id}`);
        }
        return problems;
      },
    },
  },
  {
    name: 'a cluster whose volumes are still being filled by the restore is CREATING with RESTORING progress',
    source: 'reference OTC DWS querying_cluster_details (status, task_status, action_progress)',
    request: async (c) => {
      const members = (await native(c, c.alice, 'GET', `/groups/${c.restoredClusterId}`)).group.volume_ids as string[];
      await c.h.database.db.updateTable('volumes').set({ status: 'creating' }).where('id', '=', members[0]).execute();
      return { method: 'GET', url: dws(c.alice.projectId, `/clusters/${c.restoredClusterId}`), headers: auth(c.alice) };
    },
    expect: {
      status: 200,
      shape: obj({ cluster }),
      check: async (r, c) => {
        await c.h.database.db.updateTable('volumes').set({ status: 'available' }).where('group_id', '=', c.restoredClusterId).execute();
        const problems = expectValues(r.body.cluster, { status: 'CREATING', task_status: 'RESTORING' });
        if (!/^\d{1,3}%$/.test(r.body.cluster.action_progress.RESTORING ?? '')) problems.push(`action_progress ${JSON.stringify(r.body.cluster.action_progress)}`);
        return problems;
      },
    },
  },
  {
    name: 'a snapshot beyond the project quota is DWS.0020, nothing created',
    source: ref('§2.4 DWS.0020'),
    request: async (c) => {
      const quota = await c.h.request('PUT', `/api/v1/projects/${c.bob.projectId}/quotas`, { token: c.h.adminToken, body: { snapshots: 1 } });
      if (quota.status !== 200) throw new Error(JSON.stringify(quota.body));
      return createSnapshot(c, { name: 'over-quota', cluster_id: c.bobClusterId }, c.bob);
    },
    expect: {
      status: 403,
      shape: faultShape('DWS.0020'),
      check: async (_r, c) => {
        const listed = await c.h.request('GET', dws(c.bob.projectId, '/snapshots'), { headers: auth(c.bob) });
        return listed.body.count === 1 ? [] : [`bob has ${listed.body.count} snapshots`];
      },
    },
  },

  // -- isolation --
  refused("another project's snapshot cannot be restored", ref('§2.4 DWS.5149'), 400, 'DWS.5149', (c) => restore(c, { restore: { name: 'stolen' } }, c.bobSnapshotId)),
  refused("another project's cluster cannot be snapshotted", ref('§2.4 DWS.0015'), 403, 'DWS.0015', (c) => createSnapshot(c, { name: 'stolen', cluster_id: c.bobClusterId })),
  {
    name: "another project's snapshot is not shown",
    source: ref('§2.4 DWS.5149'),
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, `/snapshots/${c.bobSnapshotId}`), headers: auth(c.alice) }),
    expect: { status: 400, shape: faultShape('DWS.5149') },
  },
  {
    name: "another project's cluster is not shown",
    source: ref('§2.4 DWS.0015'),
    request: (c) => ({ method: 'GET', url: dws(c.alice.projectId, `/clusters/${c.bobClusterId}/snapshots`), headers: auth(c.alice) }),
    expect: { status: 403, shape: faultShape('DWS.0015') },
  },
  {
    name: "another project's snapshot cannot be deleted",
    source: ref('§2.4 DWS.5149'),
    request: (c) => ({ method: 'DELETE', url: dws(c.alice.projectId, `/snapshots/${c.bobSnapshotId}`), headers: auth(c.alice) }),
    expect: {
      status: 400,
      shape: faultShape('DWS.5149'),
      check: async (_r, c) => ((await native(c, c.bob, 'GET', `/group-snapshots/${c.bobSnapshotId}`)).group_snapshot.status === 'available' ? [] : ["bob's snapshot changed"]),
    },
  },
  {
    name: "a project's list holds only its own snapshots",
    source: ref('§2.1 list'),
    request: (c) => ({ method: 'GET', url: dws(c.bob.projectId, '/snapshots'), headers: auth(c.bob) }),
    expect: {
      status: 200,
      shape: obj({ snapshots: arr(snapshotItem, 1), count: 'integer' }),
      check: (r, c) => (r.body.count === 1 && r.body.snapshots[0].id === c.bobSnapshotId ? [] : [`bob sees ${JSON.stringify(r.body.snapshots.map((s: any) => s.id))}`]),
    },
  },

  // -- delete --
  {
    name: 'the reader role may not delete snapshots',
    source: ref('§2.4 DWS.0015'),
    request: (c) => ({ method: 'DELETE', url: dws(c.alice.projectId, `/snapshots/${c.secondSnapshotId}`), headers: auth(c.aliceReader) }),
    expect: { status: 403, shape: faultShape('DWS.0015') },
  },
  {
    name: 'delete the snapshot a cluster was restored from: the restored cluster keeps its data',
    source: ref('§2.1 delete'),
    request: (c) => ({ method: 'DELETE', url: dws(c.alice.projectId, `/snapshots/${c.snapshotId}`), headers: auth(c.alice) }),
    expect: {
      status: 202,
      check: async (_r, c) => {
        await c.h.plane.jobs.idle();
        const problems: string[] = [];
        const members = (await native(c, c.alice, 'GET', `/groups/${c.restoredClusterId}`)).group.volume_ids as string[];
        const held = await Promise.all(members.map((id) => readVolume(c, id)));
        for (const data of c.dataAtSnapshot.values()) if (!held.some((h) => h.equals(data))) problems.push('a restored volume lost its data');
        const shown = await c.h.request('GET', dws(c.alice.projectId, `/snapshots/${c.snapshotId}`), { headers: auth(c.alice) });
        if (shown.status !== 400) problems.push(`the snapshot is still shown: ${shown.status}`);
        return problems;
      },
    },
  },
  {
    name: 'delete a snapshot (Content-Type sent, no body): 202 with an empty body, then it is gone',
    source: ref('§2.1 delete'),
    request: (c) => ({
      method: 'DELETE',
      url: dws(c.alice.projectId, `/snapshots/${c.secondSnapshotId}`),
      headers: { ...auth(c.alice), 'content-type': 'application/json;charset=UTF-8' },
    }),
    expect: {
      status: 202,
      check: async (r, c) => {
        const problems = r.body === null ? [] : [`body ${JSON.stringify(r.body)}, expected none`];
        await c.h.plane.jobs.idle();
        const shown = await c.h.request('GET', dws(c.alice.projectId, `/snapshots/${c.secondSnapshotId}`), { headers: auth(c.alice) });
        if (shown.status !== 400 || shown.body?.error_code !== 'DWS.5149') problems.push(`after delete: ${shown.status} ${JSON.stringify(shown.body)}`);
        const listed = await native(c, c.alice, 'GET', '/group-snapshots?limit=1000');
        if (listed.group_snapshots.some((s: any) => s.id === c.secondSnapshotId)) problems.push('the group snapshot is still listed');
        return problems;
      },
    },
  },
];

runConformance<Context>({
  dialect: 'dws',
  async setup(h) {
    const aliceTenant = await h.tenant('dws-alice');
    const bobTenant = await h.tenant('dws-bob');
    const readerUser = await h.request('POST', '/api/v1/users', {
      token: h.adminToken,
      body: { name: 'dws-alice-reader', password: 'password-123', project_id: aliceTenant.projectId, role: 'reader' },
    });
    if (readerUser.status !== 201) throw new Error(JSON.stringify(readerUser.body));
    const c: Context = {
      h,
      alice: aliceTenant,
      aliceReader: { projectId: aliceTenant.projectId, token: await h.login('dws-alice-reader', 'password-123') },
      bob: bobTenant,
      clusterId: '',
      volumeIds: [],
      dataAtSnapshot: new Map<string, Buffer>(),
      emptyClusterId: '',
      bobClusterId: '',
      bobSnapshotId: '',
      looseSnapshotId: '',
      snapshotId: '',
      secondSnapshotId: '',
      restoredClusterId: '',
    };
    const volume = async (tenant: Tenant, name: string) => (await native(c, tenant, 'POST', '/volumes', { name, size_bytes: volumeSizeBytes })).volume.id as string;
    c.volumeIds = [await volume(c.alice, 'node-a'), await volume(c.alice, 'node-b')];
    for (const volumeId of c.volumeIds) {
      await overwrite(c, volumeId);
      c.dataAtSnapshot.set(volumeId, await readVolume(c, volumeId));
    }
    c.clusterId = (await native(c, c.alice, 'POST', '/groups', { name: 'dws-cluster', volume_ids: c.volumeIds })).group.id;
    c.emptyClusterId = (await native(c, c.alice, 'POST', '/groups', { name: 'dws-empty' })).group.id;
    c.bobClusterId = (await native(c, c.bob, 'POST', '/groups', { name: 'bob-cluster', volume_ids: [await volume(c.bob, 'bob-node')] })).group.id;
    c.bobSnapshotId = (await native(c, c.bob, 'POST', `/groups/${c.bobClusterId}/snapshots`, { name: 'bob-snapshot' })).group_snapshot.id;
    const aliceCaller = await h.plane.identity.authenticate(c.alice.token);
    c.looseSnapshotId = (await h.plane.groups.createSnapshotOfVolumes(aliceCaller, [await volume(c.alice, 'loose')], { name: 'loose-snapshot' })).id;
    return c;
  },
  cases,
});
