/**
 * One consistent snapshot, many views: a group snapshot taken through one dialect is visible,
 * with the same data, through the native API and every dialect whose model has group
 * snapshots; and the other way round. Data is read back from the member snapshots through the
 * engine view each record names.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHarness, type Harness } from '../api/harness.js';
import { rbdSkipReason, suiteVariants } from '../support/backends.js';

const MiB = 1024 * 1024;

interface World {
  h: Harness;
  token: string;
  projectId: string;
  volumes: string[];
  groupId: string;
}

async function ok(h: Harness, method: string, url: string, headers: Record<string, string>, body?: unknown): Promise<any> {
  const response = await h.request(method, url, { headers, body });
  assert.ok(response.status >= 200 && response.status < 300, `${method} ${url} ${JSON.stringify(body ?? null)} → ${response.status} ${JSON.stringify(response.body)}`);
  return response.body;
}

/** Engine id of a volume or snapshot row, to read exactly what the record names. */
async function engineIdOf(h: Harness, table: 'volumes' | 'snapshots', id: string): Promise<number> {
  const row = await h.database.db.selectFrom(table).select('engine_id').where('id', '=', id).executeTakeFirstOrThrow();
  return Number(row.engine_id);
}

async function fill(h: Harness, volumeId: string, byte: number): Promise<void> {
  await h.engine.write(await engineIdOf(h, 'volumes', volumeId), 0, Buffer.alloc(MiB, byte));
}

async function firstByteOfSnapshot(h: Harness, snapshotId: string): Promise<number> {
  const data = await h.engine.read({ snapshotId: await engineIdOf(h, 'snapshots', snapshotId) }, 0, MiB);
  assert.ok(data.every((b) => b === data[0]), `snapshot ${snapshotId} is not uniform`);
  return data[0];
}

for (const { database: kind, backend, label } of suiteVariants()) {
  describe(`cross-dialect consistent snapshots on ${label}`, () => {
    const w = {} as World;
    const native = () => ({ authorization: `Bearer ${w.token}` });
    const openstack = () => ({ 'x-auth-token': w.token });
    const xsky = () => ({ 'xms-auth-token': w.token });

    before(async () => {
      w.h = await createHarness(kind, { backend });
      const tenant = await w.h.tenant('cross');
      w.token = tenant.token;
      w.projectId = tenant.projectId;
      w.volumes = [];
      for (const name of ['db', 'log']) {
        const created = await ok(w.h, 'POST', '/api/v1/volumes', native(), { name, size_bytes: 4 * MiB });
        w.volumes.push(created.volume.id);
      }
      const group = await ok(w.h, 'POST', '/api/v1/groups', native(), { name: 'cluster-a', volume_ids: w.volumes });
      w.groupId = group.group.id;
    });
    after(async () => {
      await w.h?.close();
    });

    test('a DWS cluster snapshot is a native group snapshot, a Cinder group snapshot, a Manila cgsnapshot and an XSKY volume group snapshot, its members EVS disk snapshots, with the data of its instant', async () => {
      await fill(w.h, w.volumes[0], 0x11);
      await fill(w.h, w.volumes[1], 0x22);
      const created = await ok(w.h, 'POST', `/dws/v1.0/${w.projectId}/snapshots`, openstack(), { snapshot: { name: 'dws-snap-1', cluster_id: w.groupId, description: 'cross' } });
      const id = created.snapshot.id as string;
      await fill(w.h, w.volumes[0], 0x33);

      const viaNative = await ok(w.h, 'GET', `/api/v1/group-snapshots/${id}`, native());
      assert.equal(viaNative.group_snapshot.group_id, w.groupId);
      assert.equal(viaNative.group_snapshot.name, 'dws-snap-1');
      const members = viaNative.group_snapshot.snapshots as Array<{ id: string; volume_id: string }>;
      assert.deepEqual(members.map((m) => m.volume_id).sort(), [...w.volumes].sort());
      const byVolume = new Map(members.map((m) => [m.volume_id, m.id]));
      assert.equal(await firstByteOfSnapshot(w.h, byVolume.get(w.volumes[0])!), 0x11, 'the snapshot holds the data before the later write');
      assert.equal(await firstByteOfSnapshot(w.h, byVolume.get(w.volumes[1])!), 0x22);

      const viaDws = await ok(w.h, 'GET', `/dws/v1.0/${w.projectId}/snapshots/${id}`, openstack());
      assert.equal(viaDws.snapshot.id, id);
      assert.equal(viaDws.snapshot.status, 'AVAILABLE');

      const xskyGroups = await ok(w.h, 'GET', '/xsky/v1/block-volume-group-snapshots/', xsky());
      const xskyGroupSnapshot = (xskyGroups.block_volume_group_snapshots as Array<{ name: string; id: number }>).find((g) => g.name === 'dws-snap-1');
      assert.ok(xskyGroupSnapshot !== undefined, `XSKY lists the DWS snapshot: ${JSON.stringify(xskyGroups)}`);
      assert.equal(typeof xskyGroupSnapshot.id, 'number', 'XSKY ids are numbers');
      const manilaHeaders = { ...openstack(), 'x-openstack-manila-api-version': '2.30', 'x-openstack-manila-api-experimental': 'True' };
      const cgsnapshot = await ok(w.h, 'GET', `/manila/v2/${w.projectId}/cgsnapshots/${id}`, manilaHeaders);
      assert.equal(cgsnapshot.cgsnapshot.consistency_group_id, w.groupId, JSON.stringify(cgsnapshot));
      const cgMembers = await ok(w.h, 'GET', `/manila/v2/${w.projectId}/cgsnapshots/${id}/members`, manilaHeaders);
      assert.deepEqual(
        (cgMembers.cgsnapshot_members as Array<{ share_id: string }>).map((m) => m.share_id).sort(),
        [...w.volumes].sort(),
        'Manila shows the members as snapshots of its shares (the volumes)',
      );

      const cinderGroupSnapshot = await ok(w.h, 'GET', `/cinder/v3/${w.projectId}/group_snapshots/${id}`, { ...openstack(), 'openstack-api-version': 'volume 3.14' });
      assert.equal(cinderGroupSnapshot.group_snapshot.group_id, w.groupId, JSON.stringify(cinderGroupSnapshot));
      const cinderMembers = await ok(w.h, 'GET', `/cinder/v3/${w.projectId}/snapshots/detail?name=dws-snap-1`, { ...openstack(), 'openstack-api-version': 'volume 3.14' });
      assert.deepEqual(
        (cinderMembers.snapshots as Array<{ group_snapshot_id: string; volume_id: string }>).map((m) => [m.group_snapshot_id, m.volume_id]).sort(),
        w.volumes.map((v) => [id, v]).sort(),
        'Cinder shows the members with their group snapshot',
      );
      const evs = await ok(w.h, 'GET', `/evs/v2/${w.projectId}/cloudsnapshots/detail?name=dws-snap-1`, openstack());
      assert.equal(evs.count, 2, `EVS lists both members as disk snapshots: ${JSON.stringify(evs)}`);

      const xskySnapshots = await ok(w.h, 'GET', '/xsky/v1/block-snapshots/', xsky());
      const memberNames = (xskySnapshots.block_snapshots as Array<{ name: string }>).filter((s) => s.name === 'dws-snap-1');
      assert.equal(memberNames.length, 2, `XSKY lists both member snapshots: ${JSON.stringify(xskySnapshots)}`);
    });

    test('an XSKY consistent snapshot of loose volumes is a native group snapshot without a group, and DWS does not see it', async () => {
      const xskyVolumes = await ok(w.h, 'GET', '/xsky/v1/block-volumes/', xsky());
      const numeric = (xskyVolumes.block_volumes as Array<{ id: number; name: string }>).filter((v) => v.name === 'db' || v.name === 'log').map((v) => v.id);
      assert.equal(numeric.length, 2, JSON.stringify(xskyVolumes));
      await fill(w.h, w.volumes[0], 0x44);
      await fill(w.h, w.volumes[1], 0x55);
      const created = await ok(w.h, 'POST', '/xsky/v1/block-consistent-snapshots/', xsky(), { block_consistent_snapshot: { block_volume_ids: numeric, name: 'xsky-cs' } });
      assert.equal(typeof created.block_consistent_snapshot.id, 'number');
      await fill(w.h, w.volumes[1], 0x66);

      const listed = await ok(w.h, 'GET', '/api/v1/group-snapshots', native());
      const found = (listed.group_snapshots as Array<{ name: string; group_id: string | null; snapshots: Array<{ id: string; volume_id: string }> }>).find((g) => g.name === 'xsky-cs');
      assert.ok(found !== undefined, JSON.stringify(listed));
      assert.equal(found.group_id, null);
      const byVolume = new Map(found.snapshots.map((m) => [m.volume_id, m.id]));
      assert.equal(await firstByteOfSnapshot(w.h, byVolume.get(w.volumes[0])!), 0x44);
      assert.equal(await firstByteOfSnapshot(w.h, byVolume.get(w.volumes[1])!), 0x55);

      const dws = await ok(w.h, 'GET', `/dws/v1.0/${w.projectId}/snapshots`, openstack());
      assert.ok(!(dws.snapshots as Array<{ name: string }>).some((s) => s.name === 'xsky-cs'), 'a snapshot of no cluster is not a DWS snapshot');
    });

    test('a ZStack snapshot group of a VM is a native and DWS group snapshot, and ZStack queries see the others', async () => {
      const zstack = () => ({ authorization: `OAuth ${w.token}` });
      const hex = (uuid: string) => uuid.replace(/-/g, '');
      await fill(w.h, w.volumes[0], 0x81);
      await fill(w.h, w.volumes[1], 0x82);
      const accepted = await w.h.request('POST', '/zstack/v1/volume-snapshots/group', {
        headers: zstack(),
        body: { params: { rootVolumeUuid: hex(w.volumes[0]), name: 'zstack-sg' } },
      });
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      const location = new URL(accepted.body.location as string);
      let result = await w.h.request('GET', location.pathname, { headers: zstack() });
      for (let i = 0; i < 100 && result.status === 202; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        result = await w.h.request('GET', location.pathname, { headers: zstack() });
      }
      assert.equal(result.status, 200, JSON.stringify(result.body));
      await fill(w.h, w.volumes[0], 0x83);

      const listed = await ok(w.h, 'GET', `/api/v1/group-snapshots?group_id=${w.groupId}`, native());
      const found = (listed.group_snapshots as Array<{ id: string; name: string; snapshots: Array<{ id: string; volume_id: string }> }>).find((g) => g.name === 'zstack-sg');
      assert.ok(found !== undefined, JSON.stringify(listed));
      assert.equal(hex(found.id), result.body.inventory.uuid, 'the ZStack uuid is the native id without dashes');
      const byVolume = new Map(found.snapshots.map((m) => [m.volume_id, m.id]));
      assert.equal(await firstByteOfSnapshot(w.h, byVolume.get(w.volumes[0])!), 0x81);
      assert.equal(await firstByteOfSnapshot(w.h, byVolume.get(w.volumes[1])!), 0x82);

      const viaDws = await ok(w.h, 'GET', `/dws/v1.0/${w.projectId}/snapshots/${found.id}`, openstack());
      assert.equal(viaDws.snapshot.name, 'zstack-sg');

      const zsnapshots = await ok(w.h, 'GET', '/zstack/v1/volume-snapshots?q=name=dws-snap-1', zstack());
      assert.equal(zsnapshots.inventories.length, 2, `ZStack sees the DWS snapshot's members: ${JSON.stringify(zsnapshots)}`);
    });

    test('a native group snapshot restored through DWS gives a new cluster with the data of the snapshot', async () => {
      await fill(w.h, w.volumes[0], 0x77);
      await fill(w.h, w.volumes[1], 0x78);
      const created = await ok(w.h, 'POST', `/api/v1/groups/${w.groupId}/snapshots`, native(), { name: 'native-gs' });
      await fill(w.h, w.volumes[0], 0x79);
      const restored = await ok(w.h, 'POST', `/dws/v1.0/${w.projectId}/snapshots/${created.group_snapshot.id}/actions`, openstack(), { restore: { name: 'restored-cluster' } });
      const clusterId = restored.cluster.id as string;
      await w.h.plane.jobs.idle();
      const group = await ok(w.h, 'GET', `/api/v1/groups/${clusterId}`, native());
      assert.equal(group.group.volume_ids.length, 2);
      const bytes = [];
      for (const volumeId of group.group.volume_ids as string[]) {
        const volume = await ok(w.h, 'GET', `/api/v1/volumes/${volumeId}`, native());
        assert.equal(volume.volume.status, 'available');
        const data = await w.h.engine.read({ volumeId: await engineIdOf(w.h, 'volumes', volumeId) }, 0, MiB);
        bytes.push(data[0]);
      }
      assert.deepEqual(bytes.sort(), [0x77, 0x78]);
    });
  });
}
if (rbdSkipReason() !== null) describe('cross-dialect consistent snapshots on rbd', { skip: rbdSkipReason()! }, () => {});
