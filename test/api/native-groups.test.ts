/**
 * The native REST API's consistency groups and group snapshots (src/api/native/group-routes.ts),
 * on every metadata database: SQLite always, PostgreSQL when STRATA_TEST_POSTGRES_URL is set.
 * Success shapes, every error code each route can answer (with `error.field` and the request
 * id), paging and filters, quotas, tenant isolation, the reader role, and what group snapshot,
 * revert, clone and delete do to the members' data. The other routes are in native.test.ts.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { rbdSkipReason, suiteVariants } from '../support/backends.js';
import { databaseKinds, postgresSkipReason } from '../support/databases.js';
import { createHarness, type Harness, type Response } from './harness.js';
import { KiB, MiB, expectError, expectOk, expectShape, groupTags, missingId, password, shapes, show, typeChecks } from './native-assertions.js';

// ---- the table ----------------------------------------------------------------------------

for (const { database: kind, backend, label } of suiteVariants()) {
  describe(`native API groups on ${label}`, () => {
    let h: Harness;
    type Tenant = { projectId: string; userId: string; token: string };
    let alice: Tenant;
    let bob: Tenant;
    let reader: Tenant;

    const api = (method: string, url: string, token?: string, body?: unknown) => h.request(method, `/api/v1${url}`, { token, body });

    async function createVolume(token: string, name: string, sizeBytes = MiB): Promise<any> {
      const r = await api('POST', '/volumes', token, { name, size_bytes: sizeBytes });
      const volume = expectOk(r, 201).volume;
      expectShape(volume, shapes.volume, show(r));
      return volume;
    }
    async function createGroup(token: string, name: string, volumeIds: string[]): Promise<any> {
      const r = await api('POST', '/groups', token, { name, volume_ids: volumeIds });
      const group = expectOk(r, 201).group;
      expectShape(group, shapes.group, show(r));
      assert.deepEqual(group.volume_ids, volumeIds, show(r));
      return group;
    }
    async function createGroupSnapshot(token: string, groupId: string, name: string): Promise<any> {
      const r = await api('POST', `/groups/${groupId}/snapshots`, token, { name });
      const groupSnapshot = expectOk(r, 201).group_snapshot;
      expectShape(groupSnapshot, shapes.groupSnapshot, show(r));
      for (const member of groupSnapshot.snapshots) expectShape(member, shapes.snapshot, show(r));
      return groupSnapshot;
    }
    /** Waits until the job (from a 202 answer) has succeeded, polling GET /jobs/{id}. */
    async function finish(token: string, r: Response): Promise<any> {
      const job = expectOk(r, 202).job;
      expectShape(job, shapes.job, show(r));
      for (let attempt = 0; attempt < 300; attempt++) {
        await h.plane.jobs.idle();
        const polled = await api('GET', `/jobs/${job.id}`, token);
        const now = expectOk(polled, 200).job;
        assert.notEqual(now.status, 'failed', show(polled));
        if (now.status === 'succeeded') {
          assert.equal(now.progress, 1, show(polled));
          return now;
        }
        await delay(10);
      }
      assert.fail(`job ${job.id} did not finish`);
    }
    async function listAll(token: string, url: string, key: string, limit?: number): Promise<{ items: any[]; pages: number }> {
      const items: any[] = [];
      let pageToken: string | null = null;
      let pages = 0;
      do {
        const separator = url.includes('?') ? '&' : '?';
        const query = [limit === undefined ? '' : `limit=${limit}`, pageToken === null ? '' : `page_token=${encodeURIComponent(pageToken)}`].filter(Boolean).join('&');
        const r = await api('GET', query === '' ? url : `${url}${separator}${query}`, token);
        const body = expectOk(r, 200);
        assert.ok(Array.isArray(body[key]), show(r));
        if (limit !== undefined) assert.ok(body[key].length <= limit, show(r));
        items.push(...body[key]);
        pageToken = body.next_page_token;
        pages++;
        assert.ok(pages < 100, `too many pages: ${show(r)}`);
      } while (pageToken !== null);
      const ids = items.map((item) => item.id);
      assert.equal(new Set(ids).size, ids.length, `an item came twice: ${JSON.stringify(ids)}`);
      return { items, pages };
    }
    const idsOf = async (token: string, url: string, key: string) => (await listAll(token, url, key)).items.map((item) => item.id as string);
    const get = async (token: string, url: string, key: string) => expectOk(await api('GET', url, token), 200)[key];

    async function engineId(table: 'volumes' | 'snapshots', id: string): Promise<number> {
      const row = await h.database.db.selectFrom(table).select('engine_id').where('id', '=', id).executeTakeFirstOrThrow();
      return Number(row.engine_id);
    }
    async function write(volumeId: string, offset: number, length: number): Promise<void> {
      await h.engine.write(await engineId('volumes', volumeId), offset, randomBytes(length));
    }
    const readVolume = async (volumeId: string) => h.engine.read({ volumeId: await engineId('volumes', volumeId) }, 0, MiB);
    const readSnapshot = async (snapshotId: string) => h.engine.read({ snapshotId: await engineId('snapshots', snapshotId) }, 0, MiB);
    const exportOf = (attachment: { uri: string }) => attachment.uri.slice(attachment.uri.lastIndexOf('/') + 1);
    const setStatus = (table: 'volumes' | 'group_snapshots', id: string, to: string) =>
      h.database.db.updateTable(table).set({ status: to }).where('id', '=', id).execute();

    /** Two volumes with data in a new group, and the caller's token. */
    async function groupOfTwo(token: string, name: string): Promise<{ group: any; volumes: any[] }> {
      const volumes = [await createVolume(token, `${name}-a`), await createVolume(token, `${name}-b`)];
      for (const [i, volume] of volumes.entries()) {
        await write(volume.id, i * 64 * KiB, 16 * KiB);
        await write(volume.id, 512 * KiB, 4 * KiB);
      }
      return { group: await createGroup(token, name, volumes.map((v) => v.id)), volumes };
    }

    before(async () => {
      h = await createHarness(kind, { backend });
      alice = await h.tenant('alice');
      bob = await h.tenant('bob');
      const user = await api('POST', '/users', h.adminToken, { name: 'alice-reader', password, project_id: alice.projectId, role: 'reader' });
      reader = { projectId: alice.projectId, userId: expectOk(user, 201).user.id, token: await h.login('alice-reader', password) };
    });
    after(async () => {
      await h?.close();
    });

    test('groups: create, show, update, add and remove members, delete; validation names the field', async () => {
      const [v1, v2, v3] = [await createVolume(alice.token, 'm1'), await createVolume(alice.token, 'm2'), await createVolume(alice.token, 'm3')];
      const r = await api('POST', '/groups', alice.token, { name: 'g1', description: 'pair', volume_ids: [v1.id, v2.id] });
      const group = expectOk(r, 201).group;
      expectShape(group, shapes.group, show(r));
      assert.deepEqual([group.name, group.description, group.status, group.project_id, group.volume_ids], ['g1', 'pair', 'available', alice.projectId, [v1.id, v2.id]], show(r));
      assert.equal((await get(alice.token, `/volumes/${v1.id}`, 'volume')).group_id, group.id);
      assert.deepEqual(await get(alice.token, `/groups/${group.id}`, 'group'), group);
      const empty = await createGroup(alice.token, 'g-empty', []);
      const bare = await api('POST', '/groups', alice.token, { name: 'g-bare' });
      assert.deepEqual(expectOk(bare, 201).group.volume_ids, [], show(bare));

      const groupsBefore = await idsOf(alice.token, '/groups', 'groups');
      expectError(await api('POST', '/groups', alice.token, { volume_ids: [v3.id] }), 400, 'MISSING_FIELD', 'name');
      expectError(await api('POST', '/groups', alice.token, { name: 'g', volume_ids: [v1.id] }), 409, 'INVALID_STATE', 'volume_ids');
      expectError(await api('POST', '/groups', alice.token, { name: 'g', volume_ids: [v3.id, v3.id] }), 400, 'INVALID_ARGUMENT', 'volume_ids');
      expectError(await api('POST', '/groups', alice.token, { name: 'g', volume_ids: [v3.id, missingId] }), 404, 'NOT_FOUND', 'volume_ids');
      expectError(await api('POST', '/groups', alice.token, { name: 'g', volume_ids: ['m3'] }), 400, 'INVALID_ARGUMENT', 'volume_ids.0');
      expectError(await api('POST', '/groups', alice.token, { name: 'g', volume_ids: v3.id }), 400, 'INVALID_ARGUMENT', 'volume_ids');
      expectError(await api('POST', '/groups', alice.token, { name: 'g', members: [] }), 400, 'UNKNOWN_FIELD', 'members');
      expectError(await api('POST', '/groups', alice.token, { name: '' }), 400, 'OUT_OF_RANGE', 'name');
      assert.deepEqual(await idsOf(alice.token, '/groups', 'groups'), groupsBefore);
      assert.equal((await get(alice.token, `/volumes/${v3.id}`, 'volume')).group_id, null);
      expectError(await api('GET', `/groups/${missingId}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', '/groups/g1', alice.token), 400, 'INVALID_ARGUMENT', 'id');

      const renamed = await api('PATCH', `/groups/${group.id}`, alice.token, { name: 'g1b', description: 'renamed' });
      assert.deepEqual([expectOk(renamed, 200).group.name, renamed.body.group.description, renamed.body.group.volume_ids], ['g1b', 'renamed', [v1.id, v2.id]], show(renamed));
      const added = await api('PATCH', `/groups/${group.id}`, alice.token, { add_volume_ids: [v3.id] });
      assert.deepEqual(expectOk(added, 200).group.volume_ids, [v1.id, v2.id, v3.id], show(added));
      const removed = await api('PATCH', `/groups/${group.id}`, alice.token, { remove_volume_ids: [v1.id] });
      assert.deepEqual(expectOk(removed, 200).group.volume_ids, [v2.id, v3.id], show(removed));
      assert.equal((await get(alice.token, `/volumes/${v1.id}`, 'volume')).group_id, null);
      expectError(await api('PATCH', `/groups/${group.id}`, alice.token, { remove_volume_ids: [v1.id] }), 400, 'INVALID_ARGUMENT', 'remove_volume_ids');
      expectError(await api('PATCH', `/groups/${group.id}`, alice.token, { remove_volume_ids: [missingId] }), 404, 'NOT_FOUND', 'remove_volume_ids');
      expectError(await api('PATCH', `/groups/${group.id}`, alice.token, { add_volume_ids: [missingId] }), 404, 'NOT_FOUND', 'volume_ids');
      expectError(await api('PATCH', `/groups/${empty.id}`, alice.token, { add_volume_ids: [v2.id] }), 409, 'INVALID_STATE', 'volume_ids');
      expectError(await api('PATCH', `/groups/${group.id}`, alice.token, { volume_ids: [] }), 400, 'UNKNOWN_FIELD', 'volume_ids');
      expectError(await api('PATCH', `/groups/${missingId}`, alice.token, { name: 'x' }), 404, 'NOT_FOUND');
      assert.deepEqual((await get(alice.token, `/groups/${group.id}`, 'group')).volume_ids, [v2.id, v3.id]);

      const joined = await api('POST', `/groups/${group.id}/volumes`, alice.token, { volume_ids: [v1.id] });
      assert.deepEqual(expectOk(joined, 200).group.volume_ids, [v1.id, v2.id, v3.id], show(joined));
      expectError(await api('POST', `/groups/${group.id}/volumes`, alice.token, { volume_ids: [] }), 400, 'OUT_OF_RANGE', 'volume_ids');
      expectError(await api('POST', `/groups/${group.id}/volumes`, alice.token, {}), 400, 'MISSING_FIELD', 'volume_ids');
      expectError(await api('POST', `/groups/${group.id}/volumes`, alice.token, { volume_ids: [missingId] }), 404, 'NOT_FOUND', 'volume_ids');
      expectError(await api('POST', `/groups/${empty.id}/volumes`, alice.token, { volume_ids: [v1.id] }), 409, 'INVALID_STATE', 'volume_ids');
      expectError(await api('POST', `/groups/${missingId}/volumes`, alice.token, { volume_ids: [v1.id] }), 404, 'NOT_FOUND');

      const left = await api('DELETE', `/groups/${group.id}/volumes/${v1.id}`, alice.token);
      assert.deepEqual(expectOk(left, 200).group.volume_ids, [v2.id, v3.id], show(left));
      expectError(await api('DELETE', `/groups/${group.id}/volumes/${v1.id}`, alice.token), 400, 'INVALID_ARGUMENT', 'remove_volume_ids');
      expectError(await api('DELETE', `/groups/${group.id}/volumes/${missingId}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('DELETE', `/groups/${missingId}/volumes/${v2.id}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('DELETE', `/groups/${group.id}/volumes/m2`, alice.token), 400, 'INVALID_ARGUMENT', 'volume_id');

      expectOk(await api('DELETE', `/groups/${empty.id}`, alice.token), 204);
      expectError(await api('GET', `/groups/${empty.id}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('DELETE', `/groups/${empty.id}`, alice.token), 404, 'NOT_FOUND');
      expectOk(await api('DELETE', `/groups/${group.id}`, alice.token), 204);
      expectOk(await api('DELETE', `/groups/${bare.body.group.id}`, alice.token), 204);
      for (const v of [v2, v3]) {
        const volume = await get(alice.token, `/volumes/${v.id}`, 'volume');
        assert.deepEqual([volume.group_id, volume.status], [null, 'available'], JSON.stringify(volume));
      }
    });

    test('groups: every group exactly once in sort order across pages; name and group_id filters', async () => {
      const p = await h.tenant('gpager');
      const names = ['d', 'b', 'e', 'a', 'c'];
      const groups = [];
      for (const name of names) groups.push(await createGroup(p.token, name, []));
      const created = groups.map((g) => g.id);
      const byName = [...groups].sort((a, b) => (a.name < b.name ? 1 : -1)).map((g) => g.id);
      const check = async (url: string, expected: string[], pages: number) => {
        const listed = await listAll(p.token, url, 'groups', 2);
        assert.deepEqual(listed.items.map((g) => g.id), expected, `${url}: ${JSON.stringify(listed.items.map((g) => [g.id, g.name]))}`);
        assert.equal(listed.pages, pages, url);
        for (const g of listed.items) expectShape(g, shapes.group, url);
      };
      await check('/groups', created, 3);
      await check('/groups?order=desc', [...created].reverse(), 3);
      await check('/groups?sort=name&order=desc', byName, 3);
      await check('/groups?sort=name', [...byName].reverse(), 3);
      assert.deepEqual(await idsOf(p.token, '/groups?name=e', 'groups'), [groups[2].id]);
      const first = expectOk(await api('GET', '/groups?limit=2&sort=name', p.token), 200);
      expectError(await api('GET', `/groups?limit=2&page_token=${first.next_page_token}`, p.token), 400, 'INVALID_ARGUMENT', 'page_token');
      expectError(await api('GET', '/groups?page_token=xyz', p.token), 400, 'INVALID_ARGUMENT', 'page_token');
      expectError(await api('GET', '/groups?sort=size_bytes', p.token), 400, 'INVALID_ARGUMENT', 'sort');
      expectError(await api('GET', '/groups?limit=0', p.token), 400, 'OUT_OF_RANGE', 'limit');
      expectError(await api('GET', '/groups?status=available', p.token), 400, 'UNKNOWN_FIELD', 'status');

      const members = [await createVolume(p.token, 'x'), await createVolume(p.token, 'y')];
      await createVolume(p.token, 'z');
      expectOk(await api('POST', `/groups/${groups[1].id}/volumes`, p.token, { volume_ids: members.map((v) => v.id) }), 200);
      assert.deepEqual(await idsOf(p.token, `/volumes?group_id=${groups[1].id}`, 'volumes'), members.map((v) => v.id));
      assert.deepEqual(await idsOf(p.token, `/volumes?group_id=${groups[0].id}`, 'volumes'), []);
    });

    test('group snapshots: one available member per volume, also while attached; show, list, filter, update', async () => {
      const { group, volumes } = await groupOfTwo(alice.token, 'gs');
      const attachment = expectOk(await api('POST', `/volumes/${volumes[1].id}/attachments`, alice.token, { mode: 'rw' }), 201).attachment;
      const data = await Promise.all(volumes.map((v) => readVolume(v.id)));
      const r = await api('POST', `/groups/${group.id}/snapshots`, alice.token, { name: 'gs1', description: 'both' });
      const gs1 = expectOk(r, 201).group_snapshot;
      expectShape(gs1, shapes.groupSnapshot, show(r));
      assert.deepEqual([gs1.group_id, gs1.name, gs1.description, gs1.status, gs1.project_id], [group.id, 'gs1', 'both', 'available', alice.projectId], show(r));
      assert.ok(typeChecks.number(gs1.fence_held_ms), show(r));
      assert.deepEqual(gs1.snapshots.map((s: any) => [s.volume_id, s.group_snapshot_id, s.status, s.parent_id]), volumes.map((v) => [v.id, gs1.id, 'available', null]), show(r));
      for (const [i, member] of gs1.snapshots.entries()) {
        expectShape(member, shapes.snapshot, show(r));
        assert.ok((await readSnapshot(member.id)).equals(data[i]), `member ${i} does not hold its volume's data`);
        assert.deepEqual((await get(alice.token, `/snapshots/${member.id}`, 'snapshot')).group_snapshot_id, gs1.id);
      }
      await write(volumes[0].id, 0, 4 * KiB);
      const gs2 = await createGroupSnapshot(alice.token, group.id, 'gs2');
      assert.deepEqual(gs2.snapshots.map((s: any) => s.parent_id), gs1.snapshots.map((s: any) => s.id), JSON.stringify(gs2));

      const got = await api('GET', `/group-snapshots/${gs1.id}`, alice.token);
      assert.deepEqual(expectOk(got, 200).group_snapshot, gs1, show(got));
      assert.deepEqual(await idsOf(alice.token, `/snapshots?group_snapshot_id=${gs1.id}`, 'snapshots'), gs1.snapshots.map((s: any) => s.id));
      assert.deepEqual(await idsOf(alice.token, `/volumes/${volumes[0].id}/snapshots?group_snapshot_id=${gs2.id}`, 'snapshots'), [gs2.snapshots[0].id]);
      assert.deepEqual(await idsOf(alice.token, `/group-snapshots?group_id=${group.id}`, 'group_snapshots'), [gs1.id, gs2.id]);
      assert.deepEqual(await idsOf(alice.token, `/group-snapshots?group_id=${group.id}&status=available`, 'group_snapshots'), [gs1.id, gs2.id]);
      assert.deepEqual(await idsOf(alice.token, `/group-snapshots?group_id=${group.id}&status=deleting`, 'group_snapshots'), []);
      const paged = await listAll(alice.token, `/group-snapshots?group_id=${group.id}&sort=name&order=desc`, 'group_snapshots', 1);
      assert.deepEqual([paged.items.map((g) => g.id), paged.pages], [[gs2.id, gs1.id], 2]);
      assert.ok((await idsOf(alice.token, '/group-snapshots', 'group_snapshots')).includes(gs2.id));
      expectError(await api('GET', '/group-snapshots?status=broken', alice.token), 400, 'INVALID_ARGUMENT', 'status');
      expectError(await api('GET', '/group-snapshots?group_id=gs', alice.token), 400, 'INVALID_ARGUMENT', 'group_id');
      expectError(await api('GET', `/group-snapshots?group_id=${group.id}&page_token=abc`, alice.token), 400, 'INVALID_ARGUMENT', 'page_token');
      expectError(await api('GET', `/group-snapshots/${missingId}`, alice.token), 404, 'NOT_FOUND');

      const patched = await api('PATCH', `/group-snapshots/${gs1.id}`, alice.token, { name: 'gs1b', description: 'renamed' });
      assert.deepEqual([expectOk(patched, 200).group_snapshot.name, patched.body.group_snapshot.description, patched.body.group_snapshot.snapshots.length], ['gs1b', 'renamed', 2], show(patched));
      expectError(await api('PATCH', `/group-snapshots/${gs1.id}`, alice.token, { status: 'error' }), 400, 'UNKNOWN_FIELD', 'status');
      expectError(await api('PATCH', `/group-snapshots/${gs1.id}`, alice.token, { name: '' }), 400, 'OUT_OF_RANGE', 'name');
      expectError(await api('PATCH', `/group-snapshots/${missingId}`, alice.token, { name: 'x' }), 404, 'NOT_FOUND');

      expectError(await api('POST', `/groups/${group.id}/snapshots`, alice.token, {}), 400, 'MISSING_FIELD', 'name');
      expectError(await api('POST', `/groups/${group.id}/snapshots`, alice.token, { name: 'x', quiesce: true }), 400, 'UNKNOWN_FIELD', 'quiesce');
      expectError(await api('POST', `/groups/${missingId}/snapshots`, alice.token, { name: 'x' }), 404, 'NOT_FOUND');
      const empty = await createGroup(alice.token, 'gs-empty', []);
      expectError(await api('POST', `/groups/${empty.id}/snapshots`, alice.token, { name: 'x' }), 409, 'INVALID_STATE');
      assert.deepEqual(await idsOf(alice.token, `/group-snapshots?group_id=${empty.id}`, 'group_snapshots'), []);
      expectOk(await api('DELETE', `/attachments/${attachment.id}`, alice.token), 204);
    });

    test('group quotas: a refused group snapshot or group clone creates nothing', async () => {
      const q = await h.tenant('gquota');
      const url = `/projects/${q.projectId}/quotas`;
      const { group } = await groupOfTwo(q.token, 'q');
      expectOk(await api('PUT', url, h.adminToken, { snapshots: 1 }), 200);
      expectError(await api('POST', `/groups/${group.id}/snapshots`, q.token, { name: 'too-many' }), 413, 'QUOTA_EXCEEDED');
      assert.deepEqual(await idsOf(q.token, '/group-snapshots', 'group_snapshots'), []);
      assert.deepEqual(await idsOf(q.token, '/snapshots', 'snapshots'), []);
      expectOk(await api('PUT', url, h.adminToken, { snapshots: -1, snapshots_per_volume: 1 }), 200);
      const gs = await createGroupSnapshot(q.token, group.id, 'fits');
      expectError(await api('POST', `/groups/${group.id}/snapshots`, q.token, { name: 'per-volume' }), 413, 'QUOTA_EXCEEDED');
      assert.deepEqual(await idsOf(q.token, '/group-snapshots', 'group_snapshots'), [gs.id]);
      expectOk(await api('PUT', url, h.adminToken, { volumes: 3 }), 200);
      const groupsBefore = await idsOf(q.token, '/groups', 'groups');
      expectError(await api('POST', `/group-snapshots/${gs.id}/clone`, q.token, { name: 'copy' }), 413, 'QUOTA_EXCEEDED');
      assert.deepEqual(await idsOf(q.token, '/groups', 'groups'), groupsBefore);
      assert.equal((await idsOf(q.token, '/volumes', 'volumes')).length, 2);
      assert.deepEqual((await get(q.token, url, 'quotas')).usage, { volumes: 2, snapshots: 2, gigabytes: 4 });
    });

    test('group revert: VOLUME_IN_USE while a member is attached rw; forced or detached it restores every member', async () => {
      const { group, volumes } = await groupOfTwo(alice.token, 'rev');
      const gs = await createGroupSnapshot(alice.token, group.id, 'rev-1');
      const saved = await Promise.all(volumes.map((v) => readVolume(v.id)));
      for (const v of volumes) await write(v.id, 0, 128 * KiB);
      const attachment = expectOk(await api('POST', `/volumes/${volumes[0].id}/attachments`, alice.token, { mode: 'rw' }), 201).attachment;
      const scribbled = await Promise.all(volumes.map((v) => readVolume(v.id)));

      expectError(await api('POST', `/group-snapshots/${gs.id}/revert`, alice.token, {}), 409, 'VOLUME_IN_USE');
      expectError(await api('POST', `/group-snapshots/${gs.id}/revert`, alice.token, { force: false }), 409, 'VOLUME_IN_USE');
      assert.deepEqual(await Promise.all(volumes.map(async (v) => (await get(alice.token, `/volumes/${v.id}`, 'volume')).status)), ['in-use', 'available']);
      assert.equal((await get(alice.token, `/group-snapshots/${gs.id}`, 'group_snapshot')).status, 'available');
      for (const [i, v] of volumes.entries()) assert.ok((await readVolume(v.id)).equals(scribbled[i]), `a refused revert changed member ${i}`);
      expectError(await api('POST', `/group-snapshots/${gs.id}/revert`, alice.token, { force: 1 }), 400, 'INVALID_ARGUMENT', 'force');
      expectError(await api('POST', `/group-snapshots/${gs.id}/revert`, alice.token, { force: true, only: [] }), 400, 'UNKNOWN_FIELD', 'only');
      expectError(await api('POST', `/group-snapshots/${missingId}/revert`, alice.token, { force: true }), 404, 'NOT_FOUND');

      const forced = await api('POST', `/group-snapshots/${gs.id}/revert`, alice.token, { force: true });
      const job = await finish(alice.token, forced);
      assert.deepEqual([job.kind, job.target], ['revert-group-snapshot', { type: 'group_snapshot', id: gs.id }], JSON.stringify(job));
      for (const [i, v] of volumes.entries()) assert.ok((await readVolume(v.id)).equals(saved[i]), `after a forced group revert member ${i} differs`);
      assert.deepEqual(await Promise.all(volumes.map(async (v) => (await get(alice.token, `/volumes/${v.id}`, 'volume')).status)), ['in-use', 'available']);
      assert.equal((await get(alice.token, `/group-snapshots/${gs.id}`, 'group_snapshot')).status, 'available');

      expectOk(await api('DELETE', `/attachments/${attachment.id}`, alice.token), 204);
      for (const v of volumes) await write(v.id, 256 * KiB, 4 * KiB);
      await finish(alice.token, await api('POST', `/group-snapshots/${gs.id}/revert`, alice.token, {}));
      for (const [i, v] of volumes.entries()) assert.ok((await readVolume(v.id)).equals(saved[i]), `after a group revert member ${i} differs`);
      assert.deepEqual(await Promise.all(volumes.map(async (v) => (await get(alice.token, `/volumes/${v.id}`, 'volume')).status)), ['available', 'available']);

      await setStatus('volumes', volumes[1].id, 'error');
      expectError(await api('POST', `/group-snapshots/${gs.id}/revert`, alice.token, { force: true }), 409, 'INVALID_STATE');
      assert.equal((await get(alice.token, `/volumes/${volumes[0].id}`, 'volume')).status, 'available', 'a refused group revert left a member restoring');
      await setStatus('volumes', volumes[1].id, 'available');
      await setStatus('group_snapshots', gs.id, 'creating');
      expectError(await api('POST', `/group-snapshots/${gs.id}/revert`, alice.token, {}), 409, 'INVALID_STATE');
      assert.deepEqual(await Promise.all(volumes.map(async (v) => (await get(alice.token, `/volumes/${v.id}`, 'volume')).status)), ['available', 'available']);
      await setStatus('group_snapshots', gs.id, 'available');
    });

    test('group clone: a job fills a new group with one volume per member holding its data', async () => {
      const { group, volumes } = await groupOfTwo(alice.token, 'cl');
      const gs = await createGroupSnapshot(alice.token, group.id, 'cl-1');
      const saved = await Promise.all(gs.snapshots.map((s: any) => readSnapshot(s.id)));
      for (const v of volumes) await write(v.id, 0, 64 * KiB);

      const r = await api('POST', `/group-snapshots/${gs.id}/clone`, alice.token, { name: 'cl-copy', description: 'copy' });
      const answer = expectOk(r, 202);
      expectShape(answer.group, shapes.group, show(r));
      assert.deepEqual([answer.group.name, answer.group.description, answer.group.volume_ids.length], ['cl-copy', 'copy', 2], show(r));
      const job = await finish(alice.token, r);
      assert.deepEqual([job.kind, job.target], ['clone-group-snapshot', { type: 'group', id: answer.group.id }], JSON.stringify(job));
      const clones = await listAll(alice.token, `/volumes?group_id=${answer.group.id}`, 'volumes');
      assert.deepEqual(clones.items.map((v) => v.id), answer.group.volume_ids);
      assert.deepEqual((await get(alice.token, `/groups/${answer.group.id}`, 'group')).volume_ids, answer.group.volume_ids);
      for (const clone of clones.items) {
        const i = gs.snapshots.findIndex((s: any) => s.id === clone.source_snapshot_id);
        assert.ok(i >= 0, `clone ${JSON.stringify(clone)} has no member as its source`);
        assert.deepEqual([clone.status, clone.group_id, clone.size_bytes], ['available', answer.group.id, MiB], JSON.stringify(clone));
        assert.ok((await readVolume(clone.id)).equals(saved[i]), `clone of member ${i} does not hold its data`);
      }
      assert.deepEqual(new Set(clones.items.map((v) => v.source_snapshot_id)), new Set(gs.snapshots.map((s: any) => s.id)));
      const cloneSnapshot = await createGroupSnapshot(alice.token, answer.group.id, 'of-the-copy');
      assert.equal(cloneSnapshot.snapshots.length, 2);

      expectError(await api('POST', `/group-snapshots/${gs.id}/clone`, alice.token, {}), 400, 'MISSING_FIELD', 'name');
      expectError(await api('POST', `/group-snapshots/${gs.id}/clone`, alice.token, { name: 'x', volume_ids: [] }), 400, 'UNKNOWN_FIELD', 'volume_ids');
      expectError(await api('POST', `/group-snapshots/${missingId}/clone`, alice.token, { name: 'x' }), 404, 'NOT_FOUND');
      const groupsBefore = await idsOf(alice.token, '/groups', 'groups');
      await setStatus('group_snapshots', gs.id, 'creating');
      expectError(await api('POST', `/group-snapshots/${gs.id}/clone`, alice.token, { name: 'x' }), 409, 'INVALID_STATE');
      await setStatus('group_snapshots', gs.id, 'available');
      assert.deepEqual(await idsOf(alice.token, '/groups', 'groups'), groupsBefore);
    });

    test('group snapshot delete: a job removes it and its members; concurrent deletes, one wins; then the group may go', async () => {
      const { group, volumes } = await groupOfTwo(alice.token, 'del');
      const gs = await createGroupSnapshot(alice.token, group.id, 'del-1');
      const ro = expectOk(await api('POST', `/snapshots/${gs.snapshots[0].id}/attachments`, alice.token, {}), 201).attachment;
      const engineIds = await Promise.all(gs.snapshots.map((s: any) => engineId('snapshots', s.id)));
      expectError(await api('DELETE', `/groups/${group.id}`, alice.token), 409, 'HAS_DEPENDENTS');
      assert.deepEqual((await get(alice.token, `/groups/${group.id}`, 'group')).volume_ids, volumes.map((v) => v.id));

      const job = await finish(alice.token, await api('DELETE', `/group-snapshots/${gs.id}`, alice.token));
      assert.deepEqual([job.kind, job.target], ['delete-group-snapshot', { type: 'group_snapshot', id: gs.id }], JSON.stringify(job));
      expectError(await api('GET', `/group-snapshots/${gs.id}`, alice.token), 404, 'NOT_FOUND');
      for (const member of gs.snapshots) expectError(await api('GET', `/snapshots/${member.id}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', `/attachments/${ro.id}`, alice.token), 404, 'NOT_FOUND');
      assert.equal(h.exports.resolve(exportOf(ro)), undefined, 'the export of a deleted member remains');
      const left = (await Promise.all(volumes.map(async (v) => (await h.engine.listSnapshots(await engineId('volumes', v.id)))))).flat().map((s) => s.id);
      assert.ok(!engineIds.some((id) => left.includes(id)), `the engine still holds members: ${JSON.stringify(left)}`);
      assert.deepEqual(await idsOf(alice.token, `/group-snapshots?group_id=${group.id}`, 'group_snapshots'), []);
      expectError(await api('DELETE', `/group-snapshots/${gs.id}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('DELETE', '/group-snapshots/del-1', alice.token), 400, 'INVALID_ARGUMENT', 'id');

      const gs2 = await createGroupSnapshot(alice.token, group.id, 'del-2');
      await setStatus('group_snapshots', gs2.id, 'creating');
      expectError(await api('DELETE', `/group-snapshots/${gs2.id}`, alice.token), 409, 'INVALID_STATE');
      await setStatus('group_snapshots', gs2.id, 'available');
      const answers = await Promise.all(Array.from({ length: 5 }, () => api('DELETE', `/group-snapshots/${gs2.id}`, alice.token)));
      const accepted = answers.filter((r) => r.status === 202);
      assert.equal(accepted.length, 1, answers.map(show).join('\n'));
      for (const r of answers.filter((a) => a.status !== 202)) {
        if (r.status === 404) expectError(r, 404, 'NOT_FOUND');
        else expectError(r, 409, 'INVALID_STATE');
      }
      await finish(alice.token, accepted[0]);
      expectError(await api('GET', `/group-snapshots/${gs2.id}`, alice.token), 404, 'NOT_FOUND');

      expectOk(await api('DELETE', `/groups/${group.id}`, alice.token), 204);
      expectError(await api('GET', `/groups/${group.id}`, alice.token), 404, 'NOT_FOUND');
      for (const v of volumes) assert.equal((await get(alice.token, `/volumes/${v.id}`, 'volume')).group_id, null);
      expectError(await api('DELETE', `/groups/${missingId}`, alice.token), 404, 'NOT_FOUND');
    });

    test('INVALID_STATE: members in error are refused by group snapshot and by membership changes', async () => {
      const { group, volumes } = await groupOfTwo(alice.token, 'bad');
      const outsider = await createVolume(alice.token, 'bad-outsider');
      await setStatus('volumes', volumes[1].id, 'error');
      expectError(await api('POST', `/groups/${group.id}/snapshots`, alice.token, { name: 'x' }), 409, 'INVALID_STATE');
      assert.deepEqual(await idsOf(alice.token, `/group-snapshots?group_id=${group.id}`, 'group_snapshots'), []);
      assert.deepEqual(await idsOf(alice.token, `/volumes/${volumes[0].id}/snapshots`, 'snapshots'), []);
      await setStatus('volumes', outsider.id, 'error');
      expectError(await api('POST', `/groups/${group.id}/volumes`, alice.token, { volume_ids: [outsider.id] }), 409, 'INVALID_STATE', 'volume_ids');
      expectError(await api('POST', '/groups', alice.token, { name: 'x', volume_ids: [outsider.id] }), 409, 'INVALID_STATE', 'volume_ids');
      for (const v of [volumes[1], outsider]) await setStatus('volumes', v.id, 'available');
    });

    test('isolation: another project gets 404 for every group and group snapshot and never lists them', async () => {
      const { group, volumes } = await groupOfTwo(alice.token, 'priv');
      const gs = await createGroupSnapshot(alice.token, group.id, 'priv-1');
      const saved = await Promise.all(volumes.map((v) => readVolume(v.id)));
      const mine = await createVolume(bob.token, 'bobs');
      const bobGroup = await createGroup(bob.token, 'bobs-group', []);
      const g = `/groups/${group.id}`;
      const s = `/group-snapshots/${gs.id}`;
      const probes: Array<[string, string, unknown?]> = [
        ['GET', g], ['PATCH', g, { name: 'mine' }], ['PATCH', g, { add_volume_ids: [mine.id] }], ['DELETE', g],
        ['POST', `${g}/volumes`, { volume_ids: [mine.id] }], ['DELETE', `${g}/volumes/${volumes[0].id}`], ['POST', `${g}/snapshots`, { name: 'x' }],
        ['GET', s], ['PATCH', s, { name: 'mine' }], ['DELETE', s], ['POST', `${s}/revert`, {}], ['POST', `${s}/revert`, { force: true }], ['POST', `${s}/clone`, { name: 'mine' }],
      ];
      for (const [method, url, body] of probes) {
        const r = await api(method, url, bob.token, body);
        assert.equal(r.status, 404, `${method} ${url} by another project: ${show(r)}`);
        expectError(r, 404, 'NOT_FOUND');
      }
      expectError(await api('POST', '/groups', bob.token, { name: 'steal', volume_ids: [volumes[0].id] }), 404, 'NOT_FOUND', 'volume_ids');
      expectError(await api('POST', `/groups/${bobGroup.id}/volumes`, bob.token, { volume_ids: [volumes[0].id] }), 404, 'NOT_FOUND', 'volume_ids');
      expectError(await api('PATCH', `/groups/${bobGroup.id}`, bob.token, { remove_volume_ids: [volumes[0].id] }), 404, 'NOT_FOUND', 'remove_volume_ids');
      const aliceIds = new Set([group.id, gs.id, ...volumes.map((v) => v.id), ...gs.snapshots.map((m: any) => m.id)]);
      for (const [url, key] of [
        ['/groups', 'groups'], ['/group-snapshots', 'group_snapshots'], [`/group-snapshots?group_id=${group.id}`, 'group_snapshots'],
        [`/snapshots?group_snapshot_id=${gs.id}`, 'snapshots'], [`/volumes?group_id=${group.id}`, 'volumes'], ['/groups?name=priv', 'groups'],
      ]) {
        const ids = await idsOf(bob.token, url, key);
        assert.ok(!ids.some((id) => aliceIds.has(id)), `${url} for another project lists: ${JSON.stringify(ids)}`);
      }
      assert.deepEqual(await idsOf(bob.token, '/groups', 'groups'), [bobGroup.id]);
      const still = await get(alice.token, g, 'group');
      assert.deepEqual([still.name, still.volume_ids], ['priv', volumes.map((v) => v.id)], JSON.stringify(still));
      assert.deepEqual(await get(alice.token, s, 'group_snapshot'), gs);
      for (const [i, v] of volumes.entries()) assert.ok((await readVolume(v.id)).equals(saved[i]), `another project changed member ${i}`);
    });

    test('reader: group reads answer 200, every group change 403, and nothing changes', async () => {
      const { group, volumes } = await groupOfTwo(alice.token, 'ro');
      const gs = await createGroupSnapshot(alice.token, group.id, 'ro-1');
      const spare = await createVolume(alice.token, 'ro-spare');
      const state = async () => ({
        groups: (await listAll(alice.token, '/groups', 'groups')).items,
        groupSnapshots: (await listAll(alice.token, '/group-snapshots', 'group_snapshots')).items,
        volumes: (await listAll(alice.token, '/volumes', 'volumes')).items,
        jobs: await idsOf(alice.token, '/jobs', 'jobs'),
        data: (await Promise.all(volumes.map((v) => readVolume(v.id)))).map((b) => b.toString('base64')),
      });
      const before = await state();
      const g = `/groups/${group.id}`;
      const s = `/group-snapshots/${gs.id}`;
      for (const url of ['/groups', g, '/group-snapshots', s, `/group-snapshots?group_id=${group.id}`, `/volumes?group_id=${group.id}`, `/snapshots?group_snapshot_id=${gs.id}`]) {
        const r = await api('GET', url, reader.token);
        assert.equal(r.status, 200, `GET ${url} by a reader: ${show(r)}`);
      }
      const writes: Array<[string, string, unknown?]> = [
        ['POST', '/groups', { name: 'r' }], ['POST', '/groups', { name: 'r', volume_ids: [spare.id] }], ['PATCH', g, { name: 'r' }],
        ['PATCH', g, { add_volume_ids: [spare.id] }], ['DELETE', g], ['POST', `${g}/volumes`, { volume_ids: [spare.id] }], ['DELETE', `${g}/volumes/${volumes[0].id}`],
        ['POST', `${g}/snapshots`, { name: 'r' }], ['PATCH', s, { name: 'r' }], ['DELETE', s], ['POST', `${s}/revert`, {}], ['POST', `${s}/revert`, { force: true }],
        ['POST', `${s}/clone`, { name: 'r' }],
      ];
      for (const [method, url, body] of writes) {
        const r = await api(method, url, reader.token, body);
        assert.equal(r.status, 403, `${method} ${url} by a reader: ${show(r)}`);
        expectError(r, 403, 'FORBIDDEN');
      }
      await h.plane.jobs.idle();
      assert.deepEqual(await state(), before);
    });

    test('POST /group-snapshots/{id}/revert without a body reverts without force', async () => {
      const { group, volumes } = await groupOfTwo(alice.token, 'nobody');
      const gs = await createGroupSnapshot(alice.token, group.id, 'nobody-1');
      const saved = await readVolume(volumes[0].id);
      await write(volumes[0].id, 0, 4 * KiB);
      const r = await api('POST', `/group-snapshots/${gs.id}/revert`, alice.token);
      assert.equal(r.status, 202, `POST /group-snapshots/{id}/revert without a body: ${show(r)}`);
      await finish(alice.token, r);
      assert.ok((await readVolume(volumes[0].id)).equals(saved), 'the member was not reverted');
    });

    test('every group route answered at least one 2xx and one 4xx', async () => {
      const paths = expectOk(await api('GET', '/openapi.json'), 200).paths as Record<string, Record<string, { tags?: string[] }>>;
      const routes: string[] = [];
      for (const [path, operations] of Object.entries(paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          if (operation.tags?.some((tag) => groupTags.includes(tag))) routes.push(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
        }
      }
      assert.ok(routes.length >= 14, `only ${routes.length} group routes: ${JSON.stringify(routes)}`);
      const answered = new Map<string, Set<string>>();
      for (const { labels } of (await h.plane.deps.metrics.httpRequests.get()).values) {
        const key = `${String(labels.method)} ${String(labels.route)}`;
        const classes = answered.get(key) ?? new Set<string>();
        classes.add(`${String(labels.status_code)[0]}xx`);
        answered.set(key, classes);
      }
      const missing = routes.filter((route) => !(answered.get(route)?.has('2xx') && answered.get(route)?.has('4xx')));
      assert.deepEqual(missing, [], `routes without a 2xx and a 4xx: ${JSON.stringify(missing.map((r) => [r, [...(answered.get(r) ?? [])]]))}`);
    });

    test('no request of this file answered 5xx', async () => {
      const failed = (await h.plane.deps.metrics.httpRequests.get()).values.filter(({ labels }) => Number(labels.status_code) >= 500);
      assert.deepEqual(failed.map(({ labels, value }) => `${labels.method} ${labels.route} → ${labels.status_code} (${value}×)`), []);
    });
  });
}

if (!databaseKinds().includes('postgres')) {
  describe('native API groups on postgres', { skip: postgresSkipReason() ?? 'STRATA_TEST_POSTGRES_URL is not set' }, () => {});
}
if (rbdSkipReason() !== null) describe('native API groups on rbd', { skip: rbdSkipReason()! }, () => {});
