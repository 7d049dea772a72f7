/**
 * The native REST API (src/api/native), route by route, on every metadata database: SQLite
 * always, PostgreSQL when STRATA_TEST_POSTGRES_URL is set. For each route: the success status
 * and shape, every error code it can answer (with `error.field` and the request id), paging and
 * filters, tenant isolation, the reader role, and what revert, clone, diff, delete and attach do
 * to the data. Groups and group snapshots are in native-groups.test.ts; the last test of each
 * file checks, from the OpenAPI document and the request metrics, that every route it owns was
 * answered with both a 2xx and a 4xx.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type BackendKind, diffMayName, rbdSkipReason, suiteVariants } from '../support/backends.js';
import { databaseKinds, postgresSkipReason } from '../support/databases.js';
import { adminPassword, createHarness, type Harness, type Response } from './harness.js';
import { GiB, KiB, MiB, expectError, expectOk, expectShape, groupTags, missingId, password, shapes, show, typeChecks } from './native-assertions.js';

/** The chunk indexes the extents cover; each extent must start on a block and be sorted. */
function chunksOf(r: Response): number[] {
  const body = expectOk(r, 200);
  expectShape(body, shapes.diff, show(r));
  const block = body.block_size_bytes as number;
  const chunks: number[] = [];
  let end = -1;
  for (const extent of body.extents as Array<{ offset: number; length: number }>) {
    expectShape(extent, { offset: 'integer', length: 'integer' }, show(r));
    assert.ok(extent.offset % block === 0 && extent.length > 0 && extent.offset > end, `extent ${JSON.stringify(extent)}: ${show(r)}`);
    end = extent.offset + extent.length;
    for (let c = extent.offset / block; c * block < end; c++) chunks.push(c);
  }
  return chunks;
}

/** The chunk indexes that byte ranges [offset, length] touch. */
function touched(block: number, ranges: Array<[number, number]>): number[] {
  const set = new Set<number>();
  for (const [offset, length] of ranges) for (let c = Math.floor(offset / block); c * block < offset + length; c++) set.add(c);
  return [...set].sort((a, b) => a - b);
}

/** Checks a diff against the ranges written since its base: exact on the embedded engine, within what RBD may name (diffMayName). */
function assertDiff(r: Response, backend: BackendKind, ranges: Array<[number, number]>): void {
  const block = expectOk(r, 200).block_size_bytes as number;
  const written = touched(block, ranges);
  const named = chunksOf(r);
  assert.deepEqual(written.filter((c) => !named.includes(c)), [], `written blocks the diff misses: ${show(r)}`);
  const may = diffMayName(backend, written, block);
  assert.deepEqual(named.filter((c) => !may(c)), [], `blocks named that ${backend} may not name: ${show(r)}`);
}

// ---- the table ----------------------------------------------------------------------------

for (const { database: kind, backend, label } of suiteVariants()) {
  describe(`native API on ${label}`, () => {
    let h: Harness;
    type Tenant = { projectId: string; userId: string; token: string; userName: string };
    let alice: Tenant;
    let bob: Tenant;
    let reader: Tenant;

    const api = (method: string, url: string, token?: string, body?: unknown) => h.request(method, `/api/v1${url}`, { token, body });

    async function tenant(name: string, role: 'admin' | 'member' | 'reader' = 'member'): Promise<Tenant> {
      const t = await h.tenant(name, role);
      const current = expectOk(await api('GET', '/auth/tokens/current', t.token), 200);
      return { ...t, userName: current.user.name };
    }
    async function createVolume(token: string, name: string, sizeBytes = MiB, extra: object = {}): Promise<any> {
      const r = await api('POST', '/volumes', token, { name, size_bytes: sizeBytes, ...extra });
      const volume = expectOk(r, 201).volume;
      expectShape(volume, shapes.volume, show(r));
      return volume;
    }
    async function createSnapshot(token: string, volumeId: string, name: string): Promise<any> {
      const r = await api('POST', `/volumes/${volumeId}/snapshots`, token, { name });
      const snapshot = expectOk(r, 201).snapshot;
      expectShape(snapshot, shapes.snapshot, show(r));
      return snapshot;
    }
    async function attach(token: string, url: string, body: object = {}): Promise<any> {
      const r = await api('POST', url, token, body);
      const attachment = expectOk(r, 201).attachment;
      expectShape(attachment, shapes.attachment, show(r));
      return attachment;
    }
    /** Waits until the job (from a 202 answer) has succeeded, polling GET /jobs/{id}. */
    async function finish(token: string, r: Response): Promise<any> {
      const job = expectOk(r, 202).job;
      expectShape(job, shapes.job, show(r));
      assert.ok(['queued', 'running', 'succeeded'].includes(job.status), show(r));
      for (let attempt = 0; attempt < 300; attempt++) {
        await h.plane.jobs.idle();
        const polled = await api('GET', `/jobs/${job.id}`, token);
        const now = expectOk(polled, 200).job;
        expectShape(now, shapes.job, show(polled));
        assert.notEqual(now.status, 'failed', show(polled));
        if (now.status === 'succeeded') {
          assert.equal(now.progress, 1, show(polled));
          assert.ok(typeChecks.time(now.finished_at), show(polled));
          return now;
        }
        await delay(10);
      }
      assert.fail(`job ${job.id} did not finish`);
    }
    async function status(token: string, url: string, key: string): Promise<string> {
      return expectOk(await api('GET', url, token), 200)[key].status;
    }
    /** Every item of a list, following next_page_token; checks page sizes and duplicates. */
    async function listAll(token: string, url: string, key: string, limit?: number): Promise<{ items: any[]; pages: number }> {
      const items: any[] = [];
      let pageToken: string | null = null;
      let pages = 0;
      do {
        const separator = url.includes('?') ? '&' : '?';
        const query = [limit === undefined ? '' : `limit=${limit}`, pageToken === null ? '' : `page_token=${encodeURIComponent(pageToken)}`].filter(Boolean).join('&');
        const r = await api('GET', query === '' ? url : `${url}${separator}${query}`, token);
        const body = expectOk(r, 200);
        assert.ok(Array.isArray(body[key]) && (body.next_page_token === null || typeof body.next_page_token === 'string'), show(r));
        if (limit !== undefined) assert.ok(body[key].length <= limit, show(r));
        if (body.next_page_token !== null) assert.equal(body[key].length, limit ?? body[key].length, show(r));
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

    async function engineVolumeId(volumeId: string): Promise<number> {
      const row = await h.database.db.selectFrom('volumes').select('engine_id').where('id', '=', volumeId).executeTakeFirstOrThrow();
      return Number(row.engine_id);
    }
    async function engineSnapshotId(snapshotId: string): Promise<number> {
      const row = await h.database.db.selectFrom('snapshots').select('engine_id').where('id', '=', snapshotId).executeTakeFirstOrThrow();
      return Number(row.engine_id);
    }
    async function write(volumeId: string, offset: number, length: number): Promise<void> {
      await h.engine.write(await engineVolumeId(volumeId), offset, randomBytes(length));
    }
    async function readVolume(volumeId: string, length = MiB): Promise<Buffer> {
      return h.engine.read({ volumeId: await engineVolumeId(volumeId) }, 0, length);
    }
    async function readSnapshot(snapshotId: string, length = MiB): Promise<Buffer> {
      return h.engine.read({ snapshotId: await engineSnapshotId(snapshotId) }, 0, length);
    }
    const exportOf = (attachment: { uri: string }) => attachment.uri.slice(attachment.uri.lastIndexOf('/') + 1);
    const setStatus = (table: 'volumes' | 'snapshots', id: string, to: string) =>
      h.database.db.updateTable(table).set({ status: to }).where('id', '=', id).execute();

    before(async () => {
      h = await createHarness(kind, { backend });
      alice = await tenant('alice');
      bob = await tenant('bob');
      const user = await api('POST', '/users', h.adminToken, { name: 'alice-reader', password, project_id: alice.projectId, role: 'reader' });
      reader = { projectId: alice.projectId, userId: expectOk(user, 201).user.id, token: await h.login('alice-reader', password), userName: 'alice-reader' };
    });
    after(async () => {
      await h?.close();
    });

    test('every error has code, message and request_id, and X-Request-Id equals request_id', async () => {
      expectError(await api('GET', '/volumes'), 401, 'UNAUTHENTICATED');
      expectError(await api('GET', '/projects'), 401, 'UNAUTHENTICATED');
      expectError(await api('GET', '/no-such-route', alice.token), 404, 'NOT_FOUND');
      const chosen = await h.request('GET', `/api/v1/volumes/${missingId}`, { token: alice.token, headers: { 'x-request-id': 'client-chosen.id-1' } });
      expectError(chosen, 404, 'NOT_FOUND');
      assert.equal(chosen.body.error.request_id, 'client-chosen.id-1', show(chosen));
      expectError(await h.request('POST', '/api/v1/volumes', { token: alice.token, body: '{"name": ' }), 400, 'INVALID_JSON');
      const xml = await h.request('POST', '/api/v1/volumes', { token: alice.token, body: '<volume/>', headers: { 'content-type': 'application/xml' } });
      expectError(xml, 415, 'UNSUPPORTED_MEDIA_TYPE');
      const ok = await api('GET', '/volumes', alice.token);
      expectOk(ok, 200);
      assert.ok(typeof ok.headers['x-request-id'] === 'string' && ok.headers['x-request-id'].length > 0, JSON.stringify(ok.headers));
    });

    test('tokens: Bearer or X-Auth-Token; missing, bad, revoked and expired tokens are 401', async () => {
      expectError(await api('GET', '/auth/tokens/current'), 401, 'UNAUTHENTICATED');
      expectError(await api('GET', '/auth/tokens/current', 'not-a-token'), 401, 'UNAUTHENTICATED');
      expectError(await h.request('GET', '/api/v1/volumes', { headers: { authorization: `Basic ${alice.token}` } }), 401, 'UNAUTHENTICATED');
      const viaHeader = await h.request('GET', '/api/v1/auth/tokens/current', { headers: { 'x-auth-token': alice.token } });
      const current = expectOk(viaHeader, 200);
      expectShape(current, shapes.current, show(viaHeader));
      expectShape(current.user, shapes.named, show(viaHeader));
      expectShape(current.project, shapes.named, show(viaHeader));
      assert.deepEqual([current.user.id, current.project.id, current.roles], [alice.userId, alice.projectId, ['member']], show(viaHeader));

      const revoked = await h.login(alice.userName, password);
      expectOk(await api('DELETE', '/auth/tokens/current', revoked), 204);
      expectError(await api('GET', '/volumes', revoked), 401, 'UNAUTHENTICATED');
      expectError(await api('DELETE', '/auth/tokens/current', revoked), 401, 'UNAUTHENTICATED');

      const other = await h.login(alice.userName, password);
      const otherId = expectOk(await api('GET', '/auth/tokens/current', other), 200).id;
      expectError(await api('DELETE', `/auth/tokens/${otherId}`, bob.token), 404, 'NOT_FOUND');
      expectOk(await api('GET', '/volumes', other), 200);
      expectOk(await api('DELETE', `/auth/tokens/${otherId}`, alice.token), 204);
      expectError(await api('GET', '/volumes', other), 401, 'UNAUTHENTICATED');
      const byAdmin = await h.login(alice.userName, password);
      const byAdminId = expectOk(await api('GET', '/auth/tokens/current', byAdmin), 200).id;
      expectOk(await api('DELETE', `/auth/tokens/${byAdminId}`, h.adminToken), 204);
      expectError(await api('GET', '/volumes', byAdmin), 401, 'UNAUTHENTICATED');
      expectError(await api('DELETE', `/auth/tokens/${missingId}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('DELETE', '/auth/tokens/not-an-id', alice.token), 400, 'INVALID_ARGUMENT', 'id');

      const expiring = await h.login(alice.userName, password);
      const expiringId = expectOk(await api('GET', '/auth/tokens/current', expiring), 200).id;
      await h.database.db.updateTable('tokens').set({ expires_at: '2000-01-01T00:00:00.000Z' }).where('id', '=', expiringId).execute();
      expectError(await api('GET', '/volumes', expiring), 401, 'UNAUTHENTICATED');
      expectOk(await api('GET', '/volumes', alice.token), 200);
    });

    test('POST /auth/tokens: the token shape, wrong passwords, and tokens for another project', async () => {
      const r = await api('POST', '/auth/tokens', undefined, { name: alice.userName, password });
      const issued = expectOk(r, 201);
      expectShape(issued, shapes.token, show(r));
      expectShape(issued.user, shapes.named, show(r));
      expectShape(issued.project, shapes.named, show(r));
      assert.deepEqual([issued.user, issued.project, issued.roles], [{ id: alice.userId, name: alice.userName }, { id: alice.projectId, name: 'alice' }, ['member']], show(r));
      assert.ok(Date.parse(issued.expires_at) > Date.now(), show(r));
      expectOk(await api('GET', '/volumes', issued.token), 200);

      expectError(await api('POST', '/auth/tokens', undefined, { name: alice.userName, password: 'wrong-password' }), 401, 'UNAUTHENTICATED');
      expectError(await api('POST', '/auth/tokens', undefined, { name: 'nobody-at-all', password }), 401, 'UNAUTHENTICATED');
      expectError(await api('POST', '/auth/tokens', undefined, { name: alice.userName }), 400, 'MISSING_FIELD', 'password');
      expectError(await api('POST', '/auth/tokens', undefined, { name: alice.userName, password, scope: 'x' }), 400, 'UNKNOWN_FIELD', 'scope');
      expectError(await api('POST', '/auth/tokens', undefined, { name: 7, password }), 400, 'INVALID_ARGUMENT', 'name');
      expectError(await api('POST', '/auth/tokens', undefined, { name: '', password }), 400, 'OUT_OF_RANGE', 'name');

      const own = await api('POST', '/auth/tokens', undefined, { name: alice.userName, password, project: 'alice' });
      assert.equal(expectOk(own, 201).project.id, alice.projectId, show(own));
      expectError(await api('POST', '/auth/tokens', undefined, { name: alice.userName, password, project: 'bob' }), 403, 'FORBIDDEN');
      const scoped = await api('POST', '/auth/tokens', undefined, { name: 'admin', password: adminPassword, project: bob.projectId });
      const scopedBody = expectOk(scoped, 201);
      assert.deepEqual([scopedBody.project, scopedBody.roles], [{ id: bob.projectId, name: 'bob' }, ['admin']], show(scoped));
      const seen = expectOk(await api('GET', '/auth/tokens/current', scopedBody.token), 200);
      assert.equal(seen.project.id, bob.projectId, JSON.stringify(seen));
      expectError(await api('POST', '/auth/tokens', undefined, { name: 'admin', password: adminPassword, project: 'no-such-project' }), 404, 'NOT_FOUND', 'project');
    });

    test('projects: create, list, show, update, delete (admin only; duplicates, dependents)', async () => {
      const created = await api('POST', '/projects', h.adminToken, { name: 'proj-a', description: 'first' });
      const project = expectOk(created, 201).project;
      expectShape(project, shapes.project, show(created));
      assert.deepEqual([project.name, project.description], ['proj-a', 'first'], show(created));
      expectError(await api('POST', '/projects', h.adminToken, { name: 'proj-a' }), 409, 'ALREADY_EXISTS', 'name');
      expectError(await api('POST', '/projects', alice.token, { name: 'proj-by-member' }), 403, 'FORBIDDEN');
      expectError(await api('POST', '/projects', h.adminToken, {}), 400, 'MISSING_FIELD', 'name');
      expectError(await api('POST', '/projects', h.adminToken, { name: '' }), 400, 'OUT_OF_RANGE', 'name');
      expectError(await api('POST', '/projects', h.adminToken, { name: 'p', owner: 'x' }), 400, 'UNKNOWN_FIELD', 'owner');

      const all = expectOk(await api('GET', '/projects', h.adminToken), 200).projects;
      for (const p of all) expectShape(p, shapes.project, JSON.stringify(all));
      assert.ok([project.id, alice.projectId, bob.projectId].every((id) => all.some((p: any) => p.id === id)), JSON.stringify(all));
      const mine = expectOk(await api('GET', '/projects', alice.token), 200).projects;
      assert.deepEqual(mine.map((p: any) => p.id), [alice.projectId], JSON.stringify(mine));
      assert.equal(expectOk(await api('GET', `/projects/${alice.projectId}`, alice.token), 200).project.name, 'alice');
      assert.equal(expectOk(await api('GET', `/projects/${project.id}`, h.adminToken), 200).project.id, project.id);
      expectError(await api('GET', `/projects/${bob.projectId}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', `/projects/${missingId}`, h.adminToken), 404, 'NOT_FOUND');
      expectError(await api('GET', '/projects/not-an-id', h.adminToken), 400, 'INVALID_ARGUMENT', 'id');

      const patched = await api('PATCH', `/projects/${project.id}`, h.adminToken, { description: 'second' });
      assert.deepEqual([expectOk(patched, 200).project.name, patched.body.project.description], ['proj-a', 'second'], show(patched));
      expectError(await api('PATCH', `/projects/${project.id}`, h.adminToken, { name: 'alice' }), 409, 'ALREADY_EXISTS', 'name');
      expectError(await api('PATCH', `/projects/${alice.projectId}`, alice.token, { description: 'x' }), 403, 'FORBIDDEN');
      expectError(await api('PATCH', `/projects/${missingId}`, h.adminToken, { description: 'x' }), 404, 'NOT_FOUND');
      expectError(await api('PATCH', `/projects/${project.id}`, h.adminToken, { quota: 1 }), 400, 'UNKNOWN_FIELD', 'quota');

      expectError(await api('DELETE', `/projects/${project.id}`, alice.token), 403, 'FORBIDDEN');
      const adminProject = expectOk(await api('GET', '/auth/tokens/current', h.adminToken), 200).project.id;
      expectError(await api('DELETE', `/projects/${adminProject}`, h.adminToken), 409, 'INVALID_STATE');
      expectError(await api('DELETE', `/projects/${alice.projectId}`, h.adminToken), 409, 'HAS_DEPENDENTS');
      expectOk(await api('DELETE', `/projects/${project.id}`, h.adminToken), 204);
      expectError(await api('GET', `/projects/${project.id}`, h.adminToken), 404, 'NOT_FOUND');
      expectError(await api('DELETE', `/projects/${project.id}`, h.adminToken), 404, 'NOT_FOUND');

      // A project with a volume (and no users) is refused until the volume is gone.
      const withVolume = expectOk(await api('POST', '/projects', h.adminToken, { name: 'proj-b' }), 201).project;
      const scoped = await h.login('admin', adminPassword, 'proj-b');
      const volume = await createVolume(scoped, 'keeps-proj-b');
      const refused = await api('DELETE', `/projects/${withVolume.id}`, h.adminToken);
      expectError(refused, 409, 'HAS_DEPENDENTS');
      assert.match(refused.body.error.message, /volumes/, show(refused));
      expectOk(await api('GET', `/projects/${withVolume.id}`, h.adminToken), 200);
      await finish(scoped, await api('DELETE', `/volumes/${volume.id}`, scoped));
      expectOk(await api('DELETE', `/projects/${withVolume.id}`, h.adminToken), 204);
    });

    test('users: create, list, show, change password and role, delete', async () => {
      const created = await api('POST', '/users', h.adminToken, { name: 'carol', password, project_id: alice.projectId, role: 'member' });
      const carol = expectOk(created, 201).user;
      expectShape(carol, shapes.user, show(created));
      assert.deepEqual([carol.name, carol.project_id, carol.role], ['carol', alice.projectId, 'member'], show(created));
      expectError(await api('POST', '/users', h.adminToken, { name: 'carol', password, project_id: bob.projectId, role: 'member' }), 409, 'ALREADY_EXISTS', 'name');
      expectError(await api('POST', '/users', h.adminToken, { name: 'dave', password, project_id: missingId, role: 'member' }), 404, 'NOT_FOUND', 'project_id');
      expectError(await api('POST', '/users', h.adminToken, { name: 'dave', password: 'short', project_id: alice.projectId, role: 'member' }), 400, 'OUT_OF_RANGE', 'password');
      expectError(await api('POST', '/users', h.adminToken, { name: 'dave', password, project_id: alice.projectId, role: 'owner' }), 400, 'INVALID_ARGUMENT', 'role');
      expectError(await api('POST', '/users', h.adminToken, { name: 'dave', password, project_id: alice.projectId }), 400, 'MISSING_FIELD', 'role');
      expectError(await api('POST', '/users', h.adminToken, { name: 'dave', password, project_id: 'alice', role: 'member' }), 400, 'INVALID_ARGUMENT', 'project_id');
      expectError(await api('POST', '/users', alice.token, { name: 'dave', password, project_id: alice.projectId, role: 'member' }), 403, 'FORBIDDEN');

      const inAlice = expectOk(await api('GET', `/users?project_id=${alice.projectId}`, h.adminToken), 200).users;
      for (const u of inAlice) expectShape(u, shapes.user, JSON.stringify(inAlice));
      assert.ok([alice.userId, carol.id, reader.userId].every((id) => inAlice.some((u: any) => u.id === id)), JSON.stringify(inAlice));
      assert.ok(inAlice.every((u: any) => u.project_id === alice.projectId), JSON.stringify(inAlice));
      assert.deepEqual(expectOk(await api('GET', '/users', alice.token), 200).users.map((u: any) => u.id), [alice.userId]);
      expectError(await api('GET', '/users?project_id=nope', h.adminToken), 400, 'INVALID_ARGUMENT', 'project_id');
      assert.equal(expectOk(await api('GET', `/users/${carol.id}`, h.adminToken), 200).user.name, 'carol');
      assert.equal(expectOk(await api('GET', `/users/${alice.userId}`, alice.token), 200).user.id, alice.userId);
      expectError(await api('GET', `/users/${carol.id}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', `/users/${missingId}`, h.adminToken), 404, 'NOT_FOUND');

      // Changing one's password needs the current one, and revokes one's other tokens, not the one used.
      const first = await h.login('carol', password);
      const second = await h.login('carol', password);
      expectError(await api('PATCH', `/users/${carol.id}`, first, { password: 'new-password-456' }), 400, 'MISSING_FIELD', 'current_password');
      expectError(await api('PATCH', `/users/${carol.id}`, first, { password: 'new-password-456', current_password: 'not-the-password' }), 403, 'FORBIDDEN', 'current_password');
      expectOk(await api('GET', '/volumes', second), 200);
      const changed = await api('PATCH', `/users/${carol.id}`, first, { password: 'new-password-456', current_password: password });
      assert.equal(expectOk(changed, 200).user.id, carol.id, show(changed));
      expectOk(await api('GET', '/volumes', first), 200);
      expectError(await api('GET', '/volumes', second), 401, 'UNAUTHENTICATED');
      expectError(await api('POST', '/auth/tokens', undefined, { name: 'carol', password }), 401, 'UNAUTHENTICATED');
      expectError(await api('PATCH', `/users/${carol.id}`, first, { role: 'admin' }), 403, 'FORBIDDEN');
      expectError(await api('PATCH', `/users/${carol.id}`, first, { password: 'short' }), 400, 'OUT_OF_RANGE', 'password');
      expectError(await api('PATCH', `/users/${carol.id}`, first, { name: 'caroline' }), 400, 'UNKNOWN_FIELD', 'name');
      const demoted = await api('PATCH', `/users/${carol.id}`, h.adminToken, { role: 'reader' });
      assert.equal(expectOk(demoted, 200).user.role, 'reader', show(demoted));
      expectError(await api('GET', '/volumes', first), 401, 'UNAUTHENTICATED');
      const again = await api('POST', '/auth/tokens', undefined, { name: 'carol', password: 'new-password-456' });
      assert.deepEqual(expectOk(again, 201).roles, ['reader'], show(again));
      expectError(await api('PATCH', `/users/${missingId}`, h.adminToken, { role: 'member' }), 404, 'NOT_FOUND');

      expectError(await api('DELETE', `/users/${carol.id}`, alice.token), 403, 'FORBIDDEN');
      const adminUser = expectOk(await api('GET', '/auth/tokens/current', h.adminToken), 200).user.id;
      expectError(await api('DELETE', `/users/${adminUser}`, h.adminToken), 409, 'INVALID_STATE');
      expectOk(await api('DELETE', `/users/${carol.id}`, h.adminToken), 204);
      expectError(await api('GET', `/users/${carol.id}`, h.adminToken), 404, 'NOT_FOUND');
      expectError(await api('DELETE', `/users/${carol.id}`, h.adminToken), 404, 'NOT_FOUND');
      expectError(await api('GET', '/volumes', again.body.token), 401, 'UNAUTHENTICATED');
    });

    test('quotas: show and set (admin); a refused create creates nothing', async () => {
      const q = await tenant('quota');
      const url = `/projects/${q.projectId}/quotas`;
      const shown = await api('GET', url, q.token);
      const quotas = expectOk(shown, 200).quotas;
      expectShape(quotas, shapes.quotas, show(shown));
      expectShape(quotas.limits, shapes.quotaLimits, show(shown));
      assert.deepEqual(quotas.usage, { volumes: 0, snapshots: 0, gigabytes: 0 }, show(shown));
      expectError(await api('GET', url, bob.token), 404, 'NOT_FOUND');
      expectError(await api('GET', `/projects/${missingId}/quotas`, h.adminToken), 404, 'NOT_FOUND');
      expectError(await api('PUT', url, q.token, { volumes: 5 }), 403, 'FORBIDDEN');
      expectError(await api('PUT', url, h.adminToken, { volumes: -2 }), 400, 'OUT_OF_RANGE', 'volumes');
      expectError(await api('PUT', url, h.adminToken, { volumes: 'ten' }), 400, 'INVALID_ARGUMENT', 'volumes');
      expectError(await api('PUT', url, h.adminToken, { disks: 1 }), 400, 'UNKNOWN_FIELD', 'disks');
      expectError(await api('PUT', `/projects/${missingId}/quotas`, h.adminToken, { volumes: 1 }), 404, 'NOT_FOUND');
      const set = await api('PUT', url, h.adminToken, { volumes: 2, snapshots: 1, snapshots_per_volume: 1 });
      assert.deepEqual(expectOk(set, 200).quotas.limits, { ...quotas.limits, volumes: 2, snapshots: 1, snapshots_per_volume: 1 }, show(set));

      const count = async (what: 'volumes' | 'snapshots') => (await idsOf(q.token, `/${what}`, what)).length;
      const v1 = await createVolume(q.token, 'q1');
      const v2 = await createVolume(q.token, 'q2');
      expectError(await api('POST', '/volumes', q.token, { name: 'q3', size_bytes: MiB }), 413, 'QUOTA_EXCEEDED');
      assert.equal(await count('volumes'), 2);
      const s1 = await createSnapshot(q.token, v1.id, 's1');
      expectError(await api('POST', `/volumes/${v2.id}/snapshots`, q.token, { name: 's2' }), 413, 'QUOTA_EXCEEDED');
      assert.equal(await count('snapshots'), 1);
      expectOk(await api('PUT', url, h.adminToken, { snapshots: -1 }), 200);
      expectError(await api('POST', `/volumes/${v1.id}/snapshots`, q.token, { name: 's1b' }), 413, 'QUOTA_EXCEEDED');
      await createSnapshot(q.token, v2.id, 's2');
      assert.equal(await count('snapshots'), 2);
      expectError(await api('POST', `/snapshots/${s1.id}/clone`, q.token, { name: 'c' }), 413, 'QUOTA_EXCEEDED');
      expectError(await api('POST', '/volumes', q.token, { name: 'c', source_snapshot_id: s1.id }), 413, 'QUOTA_EXCEEDED');
      assert.equal(await count('volumes'), 2);

      // 2 volumes and 2 snapshots of 1 MiB count 1 GiB each.
      const usage = expectOk(await api('GET', url, q.token), 200).quotas.usage;
      assert.deepEqual(usage, { volumes: 2, snapshots: 2, gigabytes: 4 });
      expectOk(await api('PUT', url, h.adminToken, { volumes: -1, gigabytes: 4 }), 200);
      expectError(await api('POST', '/volumes', q.token, { name: 'q4', size_bytes: 4 * KiB }), 413, 'QUOTA_EXCEEDED');
      expectError(await api('PATCH', `/volumes/${v1.id}`, q.token, { size_bytes: GiB + 4 * KiB }), 413, 'QUOTA_EXCEEDED');
      assert.equal(expectOk(await api('GET', `/volumes/${v1.id}`, q.token), 200).volume.size_bytes, MiB);
      assert.equal((await h.engine.volume(await engineVolumeId(v1.id))).sizeBytes, MiB);
      assert.equal(await count('volumes'), 2);
      const grown = await api('PATCH', `/volumes/${v1.id}`, q.token, { size_bytes: GiB });
      assert.equal(expectOk(grown, 200).volume.size_bytes, GiB, show(grown));
    });

    test('volumes: create, show, list, update and grow; validation names the field', async () => {
      const r = await api('POST', '/volumes', alice.token, { name: 'vol-1', size_bytes: MiB, description: 'data' });
      const volume = expectOk(r, 201).volume;
      expectShape(volume, shapes.volume, show(r));
      assert.deepEqual(
        [volume.name, volume.size_bytes, volume.status, volume.description, volume.project_id, volume.source_snapshot_id, volume.group_id],
        ['vol-1', MiB, 'available', 'data', alice.projectId, null, null],
        show(r),
      );
      const got = await api('GET', `/volumes/${volume.id}`, alice.token);
      const detail = expectOk(got, 200).volume;
      expectShape(detail, { ...shapes.volume, ...shapes.volumeDetail }, show(got));
      assert.deepEqual([detail.id, detail.snapshot_count, detail.clone_depth], [volume.id, 0, 0], show(got));
      assert.ok((await idsOf(alice.token, '/volumes', 'volumes')).includes(volume.id));

      expectError(await api('POST', '/volumes', alice.token, { size_bytes: MiB }), 400, 'MISSING_FIELD', 'name');
      expectError(await api('POST', '/volumes', alice.token, { name: 'v' }), 400, 'MISSING_FIELD', 'size_bytes');
      expectError(await api('POST', '/volumes', alice.token, { name: 'v', size_bytes: MiB, thin: true }), 400, 'UNKNOWN_FIELD', 'thin');
      expectError(await api('POST', '/volumes', alice.token, { name: 'v', size_bytes: 1000 }), 400, 'OUT_OF_RANGE', 'size_bytes');
      expectError(await api('POST', '/volumes', alice.token, { name: 'v', size_bytes: 5000 }), 400, 'OUT_OF_RANGE', 'size_bytes');
      expectError(await api('POST', '/volumes', alice.token, { name: 'v', size_bytes: 128 * 1024 ** 4 }), 400, 'OUT_OF_RANGE', 'size_bytes');
      expectError(await api('POST', '/volumes', alice.token, { name: 'v', size_bytes: '1048576' }), 400, 'INVALID_ARGUMENT', 'size_bytes');
      expectError(await api('POST', '/volumes', alice.token, { name: 'x'.repeat(256), size_bytes: MiB }), 400, 'OUT_OF_RANGE', 'name');
      expectError(await api('POST', '/volumes', alice.token, { name: 'v', size_bytes: MiB, description: 'd'.repeat(1025) }), 400, 'OUT_OF_RANGE', 'description');
      expectError(await api('POST', '/volumes', alice.token, { name: 'v', source_snapshot_id: 'snap-1' }), 400, 'INVALID_ARGUMENT', 'source_snapshot_id');
      expectError(await api('POST', '/volumes', alice.token, { name: 'v', source_snapshot_id: missingId }), 404, 'NOT_FOUND', 'source_snapshot_id');
      expectError(await api('GET', `/volumes/${missingId}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', '/volumes/not-an-id', alice.token), 400, 'INVALID_ARGUMENT', 'id');

      const renamed = await api('PATCH', `/volumes/${volume.id}`, alice.token, { name: 'vol-1b', description: 'more' });
      assert.deepEqual([expectOk(renamed, 200).volume.name, renamed.body.volume.description, renamed.body.volume.size_bytes], ['vol-1b', 'more', MiB], show(renamed));
      const grown = await api('PATCH', `/volumes/${volume.id}`, alice.token, { size_bytes: 2 * MiB });
      assert.equal(expectOk(grown, 200).volume.size_bytes, 2 * MiB, show(grown));
      assert.equal((await h.engine.volume(await engineVolumeId(volume.id))).sizeBytes, 2 * MiB);
      expectError(await api('PATCH', `/volumes/${volume.id}`, alice.token, { size_bytes: MiB }), 400, 'OUT_OF_RANGE', 'size_bytes');
      expectError(await api('PATCH', `/volumes/${volume.id}`, alice.token, { size_bytes: 2 * MiB + 1 }), 400, 'OUT_OF_RANGE', 'size_bytes');
      expectError(await api('PATCH', `/volumes/${volume.id}`, alice.token, { status: 'error' }), 400, 'UNKNOWN_FIELD', 'status');
      expectError(await api('PATCH', `/volumes/${missingId}`, alice.token, { name: 'x' }), 404, 'NOT_FOUND');
      assert.equal(expectOk(await api('GET', `/volumes/${volume.id}`, alice.token), 200).volume.size_bytes, 2 * MiB);
    });

    test('snapshots: create with parent and created_at, show, update, list per volume, tree', async () => {
      const volume = await createVolume(alice.token, 'snap-source');
      const r1 = await api('POST', `/volumes/${volume.id}/snapshots`, alice.token, { name: 's1', description: 'first', metadata: { k: 'v' } });
      const s1 = expectOk(r1, 201).snapshot;
      expectShape(s1, shapes.snapshot, show(r1));
      assert.deepEqual(
        [s1.volume_id, s1.name, s1.description, s1.metadata, s1.status, s1.parent_id, s1.size_bytes, s1.group_snapshot_id],
        [volume.id, 's1', 'first', { k: 'v' }, 'available', null, MiB, null],
        show(r1),
      );
      const s2 = await createSnapshot(alice.token, volume.id, 's2');
      assert.equal(s2.parent_id, s1.id, JSON.stringify(s2));
      const got = await api('GET', `/snapshots/${s1.id}`, alice.token);
      expectShape(expectOk(got, 200).snapshot, { ...shapes.snapshot, ...shapes.snapshotDetail }, show(got));
      assert.deepEqual(got.body.snapshot.children_ids, [s2.id], show(got));
      assert.deepEqual(await idsOf(alice.token, `/volumes/${volume.id}/snapshots`, 'snapshots'), [s1.id, s2.id]);
      assert.equal(expectOk(await api('GET', `/volumes/${volume.id}`, alice.token), 200).volume.snapshot_count, 2);

      const tree = await api('GET', `/volumes/${volume.id}/snapshot-tree`, alice.token);
      const body = expectOk(tree, 200);
      assert.deepEqual([body.volume_id, body.root_ids, body.snapshots.map((s: any) => [s.id, s.parent_id, s.children_ids])], [
        volume.id,
        [s1.id],
        [[s1.id, null, [s2.id]], [s2.id, s1.id, []]],
      ], show(tree));
      assert.equal(body.head_parent_id, s2.id, show(tree));

      expectError(await api('POST', `/volumes/${volume.id}/snapshots`, alice.token, {}), 400, 'MISSING_FIELD', 'name');
      expectError(await api('POST', `/volumes/${volume.id}/snapshots`, alice.token, { name: 'x', quiesce: true }), 400, 'UNKNOWN_FIELD', 'quiesce');
      expectError(await api('POST', `/volumes/${volume.id}/snapshots`, alice.token, { name: 'x', metadata: { k: 1 } }), 400, 'INVALID_ARGUMENT', 'metadata.k');
      const tooMany = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
      expectError(await api('POST', `/volumes/${volume.id}/snapshots`, alice.token, { name: 'x', metadata: tooMany }), 400, 'OUT_OF_RANGE', 'metadata');
      expectError(await api('POST', `/volumes/${missingId}/snapshots`, alice.token, { name: 'x' }), 404, 'NOT_FOUND');
      expectError(await api('POST', '/volumes/nope/snapshots', alice.token, { name: 'x' }), 400, 'INVALID_ARGUMENT', 'id');
      expectError(await api('GET', `/volumes/${missingId}/snapshots`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', `/volumes/${volume.id}/snapshots?volume_id=${volume.id}`, alice.token), 400, 'UNKNOWN_FIELD', 'volume_id');
      expectError(await api('GET', `/volumes/${missingId}/snapshot-tree`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', `/snapshots/${missingId}`, alice.token), 404, 'NOT_FOUND');

      const patched = await api('PATCH', `/snapshots/${s1.id}`, alice.token, { name: 's1b', metadata: { a: 'b' } });
      const after = expectOk(patched, 200).snapshot;
      assert.deepEqual([after.name, after.description, after.metadata], ['s1b', 'first', { a: 'b' }], show(patched));
      expectError(await api('PATCH', `/snapshots/${s1.id}`, alice.token, { name: '' }), 400, 'OUT_OF_RANGE', 'name');
      expectError(await api('PATCH', `/snapshots/${s1.id}`, alice.token, { volume_id: volume.id }), 400, 'UNKNOWN_FIELD', 'volume_id');
      expectError(await api('PATCH', `/snapshots/${missingId}`, alice.token, { name: 'x' }), 404, 'NOT_FOUND');
      assert.equal(expectOk(await api('GET', `/snapshots/${s1.id}`, alice.token), 200).snapshot.name, 's1b');
    });

    test('paging: every volume and snapshot exactly once, in sort order; tampered page tokens are refused', async () => {
      const p = await tenant('pager');
      const names = ['m', 'c', 'q', 'a', 'x', 'f', 'k'];
      const volumes: any[] = [];
      for (const [i, name] of names.entries()) volumes.push(await createVolume(p.token, name, (1 + (i % 3)) * MiB));
      const created = volumes.map((v) => v.id);
      const byName = [...volumes].sort((a, b) => (a.name < b.name ? 1 : -1)).map((v) => v.id);
      const check = async (url: string, key: string, limit: number, expected: string[], pages: number) => {
        const listed = await listAll(p.token, url, key, limit);
        assert.deepEqual(listed.items.map((item) => item.id), expected, `${url} limit=${limit}: ${JSON.stringify(listed.items.map((i) => [i.id, i.name]))}`);
        assert.equal(listed.pages, pages, url);
      };
      await check('/volumes', 'volumes', 3, created, 3);
      await check('/volumes?order=desc', 'volumes', 3, [...created].reverse(), 3);
      await check('/volumes?sort=name&order=desc', 'volumes', 3, byName, 3);
      await check('/volumes?sort=name', 'volumes', 2, [...byName].reverse(), 4);
      await check('/volumes', 'volumes', 7, created, 1);
      const bySize = await listAll(p.token, '/volumes?sort=size_bytes&order=desc', 'volumes', 3);
      const sizes = bySize.items.map((v) => v.size_bytes);
      assert.deepEqual(sizes, [...sizes].sort((a, b) => b - a), JSON.stringify(sizes));
      assert.equal(bySize.items.length, 7);

      const snapshots: any[] = [];
      for (const [i, name] of names.entries()) snapshots.push(await createSnapshot(p.token, volumes[i < 4 ? 0 : 1].id, `s-${name}`));
      const snapshotIds = snapshots.map((s) => s.id);
      const snapshotsByName = [...snapshots].sort((a, b) => (a.name < b.name ? 1 : -1)).map((s) => s.id);
      await check('/snapshots', 'snapshots', 3, snapshotIds, 3);
      await check('/snapshots?sort=name&order=desc', 'snapshots', 3, snapshotsByName, 3);
      await check(`/volumes/${volumes[0].id}/snapshots`, 'snapshots', 3, snapshotIds.slice(0, 4), 2);
      await check(`/volumes/${volumes[0].id}/snapshots?sort=name&order=desc`, 'snapshots', 3, snapshotsByName.filter((id) => snapshotIds.slice(0, 4).includes(id)), 2);
      await check(`/snapshots?volume_id=${volumes[1].id}`, 'snapshots', 2, snapshotIds.slice(4), 2);

      const first = expectOk(await api('GET', '/volumes?limit=3&sort=name', p.token), 200);
      const token: string = first.next_page_token;
      assert.equal(typeof token, 'string', JSON.stringify(first));
      expectError(await api('GET', '/volumes?limit=3&page_token=not-a-token', p.token), 400, 'INVALID_ARGUMENT', 'page_token');
      expectError(await api('GET', `/volumes?limit=3&page_token=${token}`, p.token), 400, 'INVALID_ARGUMENT', 'page_token');
      expectError(await api('GET', `/volumes?limit=3&sort=name&order=desc&page_token=${token}`, p.token), 400, 'INVALID_ARGUMENT', 'page_token');
      const decoded = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      const tampered = Buffer.from(JSON.stringify(['created_at', ...decoded.slice(1)])).toString('base64url');
      expectError(await api('GET', `/volumes?limit=3&sort=name&page_token=${tampered}`, p.token), 400, 'INVALID_ARGUMENT', 'page_token');
      const truncated = Buffer.from(JSON.stringify(decoded.slice(0, 3))).toString('base64url');
      expectError(await api('GET', `/volumes?limit=3&sort=name&page_token=${truncated}`, p.token), 400, 'INVALID_ARGUMENT', 'page_token');
      expectError(await api('GET', '/snapshots?page_token=%7B%7D', p.token), 400, 'INVALID_ARGUMENT', 'page_token');
      expectError(await api('GET', '/volumes?page_token=', p.token), 400, 'OUT_OF_RANGE', 'page_token');
      expectError(await api('GET', '/volumes?limit=0', p.token), 400, 'OUT_OF_RANGE', 'limit');
      expectError(await api('GET', '/volumes?limit=1001', p.token), 400, 'OUT_OF_RANGE', 'limit');
      expectError(await api('GET', '/volumes?limit=many', p.token), 400, 'INVALID_ARGUMENT', 'limit');
      expectError(await api('GET', '/volumes?sort=id', p.token), 400, 'INVALID_ARGUMENT', 'sort');
      expectError(await api('GET', '/snapshots?order=up', p.token), 400, 'INVALID_ARGUMENT', 'order');
      expectError(await api('GET', '/volumes?color=red', p.token), 400, 'UNKNOWN_FIELD', 'color');
    });

    test('a page token whose cursor value has the wrong type is refused, never a 5xx', async () => {
      const p = await tenant('forger');
      for (const name of ['a', 'b', 'c']) await createVolume(p.token, name);
      const wrong: string[] = [];
      for (const [sort, value] of [['name', 12345], ['created_at', 7], ['size_bytes', 'abc'], ['status', 3]] as const) {
        const first = expectOk(await api('GET', `/volumes?limit=1&sort=${sort}`, p.token), 200);
        const decoded = JSON.parse(Buffer.from(first.next_page_token, 'base64url').toString('utf8'));
        const forged = Buffer.from(JSON.stringify([decoded[0], decoded[1], value, decoded[3]])).toString('base64url');
        const r = await api('GET', `/volumes?limit=1&sort=${sort}&page_token=${forged}`, p.token);
        if (r.status === 400) expectError(r, 400, 'INVALID_ARGUMENT', 'page_token');
        else if (r.status !== 200) wrong.push(`sort=${sort} with cursor value ${JSON.stringify(value)}: ${show(r)}`);
      }
      assert.deepEqual(wrong, []);
    });

    test('filters: volume status and name; snapshot volume_id, name, status, created_after/before', async () => {
      const p = await tenant('filter');
      const volumes: any[] = [];
      for (const name of ['f1', 'f2', 'f3']) volumes.push(await createVolume(p.token, name));
      const attachment = await attach(p.token, `/volumes/${volumes[1].id}/attachments`);
      assert.deepEqual(await idsOf(p.token, '/volumes?status=in-use', 'volumes'), [volumes[1].id]);
      assert.deepEqual(await idsOf(p.token, '/volumes?status=available', 'volumes'), [volumes[0].id, volumes[2].id]);
      assert.deepEqual(await idsOf(p.token, '/volumes?status=error', 'volumes'), []);
      assert.deepEqual(await idsOf(p.token, '/volumes?name=f3', 'volumes'), [volumes[2].id]);
      assert.deepEqual(await idsOf(p.token, '/volumes?name=f', 'volumes'), []);
      expectError(await api('GET', '/volumes?status=broken', p.token), 400, 'INVALID_ARGUMENT', 'status');
      expectError(await api('GET', '/volumes?group_id=nope', p.token), 400, 'INVALID_ARGUMENT', 'group_id');
      expectOk(await api('DELETE', `/attachments/${attachment.id}`, p.token), 204);

      const snapshots: any[] = [];
      for (const [i, name] of ['t0', 't1', 't2', 't3', 't4'].entries()) {
        snapshots.push(await createSnapshot(p.token, volumes[i % 2].id, name));
        await delay(3);
      }
      assert.deepEqual(await idsOf(p.token, `/snapshots?volume_id=${volumes[1].id}`, 'snapshots'), [snapshots[1].id, snapshots[3].id]);
      assert.deepEqual(await idsOf(p.token, '/snapshots?name=t2', 'snapshots'), [snapshots[2].id]);
      assert.deepEqual(await idsOf(p.token, `/volumes/${volumes[0].id}/snapshots?name=t2`, 'snapshots'), [snapshots[2].id]);
      assert.deepEqual(await idsOf(p.token, '/snapshots?status=available', 'snapshots'), snapshots.map((s) => s.id));
      assert.deepEqual(await idsOf(p.token, '/snapshots?status=deleting', 'snapshots'), []);
      const pivot = snapshots[2].created_at;
      const at = Date.parse(pivot);
      const after = snapshots.filter((s) => Date.parse(s.created_at) >= at).map((s) => s.id);
      const before = snapshots.filter((s) => Date.parse(s.created_at) < at).map((s) => s.id);
      assert.ok(before.length > 0 && after.length > 0, JSON.stringify(snapshots.map((s) => s.created_at)));
      assert.deepEqual(await idsOf(p.token, `/snapshots?created_after=${encodeURIComponent(pivot)}`, 'snapshots'), after);
      assert.deepEqual(await idsOf(p.token, `/snapshots?created_before=${encodeURIComponent(pivot)}`, 'snapshots'), before);
      const window = `created_after=${encodeURIComponent(snapshots[1].created_at)}&created_before=${encodeURIComponent(snapshots[3].created_at)}`;
      const inWindow = snapshots.filter((s) => Date.parse(s.created_at) >= Date.parse(snapshots[1].created_at) && Date.parse(s.created_at) < Date.parse(snapshots[3].created_at));
      assert.deepEqual(await idsOf(p.token, `/snapshots?${window}`, 'snapshots'), inWindow.map((s) => s.id));
      assert.deepEqual(await idsOf(p.token, `/volumes/${volumes[0].id}/snapshots?${window}`, 'snapshots'), inWindow.filter((s) => s.volume_id === volumes[0].id).map((s) => s.id));
      expectError(await api('GET', '/snapshots?created_after=yesterday', p.token), 400, 'INVALID_ARGUMENT', 'created_after');
      expectError(await api('GET', '/snapshots?volume_id=v1', p.token), 400, 'INVALID_ARGUMENT', 'volume_id');
      expectError(await api('GET', '/snapshots?status=gone', p.token), 400, 'INVALID_ARGUMENT', 'status');
    });

    test('created_after/created_before compare instants, whatever form the timestamp takes', async () => {
      const p = await tenant('instants');
      const volume = await createVolume(p.token, 'i');
      const snapshot = await createSnapshot(p.token, volume.id, 'i1');
      const at = Date.parse(snapshot.created_at);
      const wholeSecond = new Date(Math.floor(at / 1000) * 1000).toISOString().replace('.000Z', 'Z');
      const offset = new Date(at + 2 * 3600_000).toISOString().replace('Z', '+02:00');
      const cases: Array<[string, string, boolean]> = [
        ['created_after', wholeSecond, true],
        ['created_before', wholeSecond, false],
        ['created_after', offset, true],
        ['created_before', offset, false],
        ['created_before', new Date(at + 1).toISOString().replace('Z', '+00:00'), true],
      ];
      const wrong: string[] = [];
      for (const [filter, value, included] of cases) {
        const r = await api('GET', `/snapshots?${filter}=${encodeURIComponent(value)}`, p.token);
        const ids = expectOk(r, 200).snapshots.map((x: any) => x.id);
        if (ids.length !== (included ? 1 : 0)) wrong.push(`${filter}=${value} should ${included ? '' : 'not '}list the snapshot created at ${snapshot.created_at}: ${show(r)}`);
      }
      assert.deepEqual(wrong, []);
    });

    test('diff: snapshot and live volume diffs name the written ranges', async () => {
      const volume = await createVolume(alice.token, 'diffed');
      const block = expectOk(await api('GET', `/volumes/${volume.id}/diff`, alice.token), 200).block_size_bytes;
      assert.deepEqual(chunksOf(await api('GET', `/volumes/${volume.id}/diff`, alice.token)), []);
      const firstWrites: Array<[number, number]> = [[0, 4 * KiB], [block - 4 * KiB, 8 * KiB], [3 * block + 8 * KiB, 4 * KiB]];
      for (const [offset, length] of firstWrites) await write(volume.id, offset, length);
      const s1 = await createSnapshot(alice.token, volume.id, 'd1');
      const s1Diff = await api('GET', `/snapshots/${s1.id}/diff`, alice.token);
      assertDiff(s1Diff, backend, firstWrites);
      // Adjacent written blocks come as one extent (on RBD it may reach further: assertDiff).
      if (backend === 'local') assert.deepEqual(s1Diff.body.extents[0], { offset: 0, length: 2 * block }, show(s1Diff));
      else assert.ok(s1Diff.body.extents[0].offset === 0 && s1Diff.body.extents[0].length >= 2 * block, show(s1Diff));
      const secondWrites: Array<[number, number]> = [[8 * block, 4 * KiB]];
      await write(volume.id, 8 * block, 4 * KiB);
      const live = await api('GET', `/volumes/${volume.id}/diff?from=${s1.id}`, alice.token);
      assertDiff(live, backend, secondWrites);
      assertDiff(await api('GET', `/volumes/${volume.id}/diff`, alice.token), backend, [...firstWrites, ...secondWrites]);
      const s2 = await createSnapshot(alice.token, volume.id, 'd2');
      assertDiff(await api('GET', `/snapshots/${s2.id}/diff?from=${s1.id}`, alice.token), backend, secondWrites);
      assertDiff(await api('GET', `/snapshots/${s1.id}/diff?from=${s2.id}`, alice.token), backend, secondWrites);
      assert.deepEqual(chunksOf(await api('GET', `/snapshots/${s2.id}/diff?from=${s2.id}`, alice.token)), []);
      assert.deepEqual(chunksOf(await api('GET', `/volumes/${volume.id}/diff?from=${s2.id}`, alice.token)), []);

      const other = await createVolume(alice.token, 'not-diffed');
      const foreign = await createSnapshot(alice.token, other.id, 'o1');
      expectError(await api('GET', `/snapshots/${s2.id}/diff?from=${foreign.id}`, alice.token), 400, 'INVALID_ARGUMENT', 'from');
      expectError(await api('GET', `/volumes/${volume.id}/diff?from=${foreign.id}`, alice.token), 400, 'INVALID_ARGUMENT', 'from');
      expectError(await api('GET', `/snapshots/${s2.id}/diff?from=${missingId}`, alice.token), 404, 'NOT_FOUND', 'from');
      expectError(await api('GET', `/volumes/${volume.id}/diff?from=${missingId}`, alice.token), 404, 'NOT_FOUND', 'from');
      expectError(await api('GET', `/snapshots/${s2.id}/diff?from=s1`, alice.token), 400, 'INVALID_ARGUMENT', 'from');
      expectError(await api('GET', `/volumes/${volume.id}/diff?to=${s2.id}`, alice.token), 400, 'UNKNOWN_FIELD', 'to');
      expectError(await api('GET', `/snapshots/${missingId}/diff`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', `/volumes/${missingId}/diff`, alice.token), 404, 'NOT_FOUND');
      await setStatus('snapshots', s1.id, 'error');
      expectError(await api('GET', `/snapshots/${s1.id}/diff`, alice.token), 409, 'INVALID_STATE');
      expectError(await api('GET', `/snapshots/${s2.id}/diff?from=${s1.id}`, alice.token), 409, 'INVALID_STATE', 'from');
      expectError(await api('GET', `/volumes/${volume.id}/diff?from=${s1.id}`, alice.token), 409, 'INVALID_STATE', 'from');
    });

    test('revert: refused with VOLUME_IN_USE while attached read-write, forced or detached it restores the data', async () => {
      const volume = await createVolume(alice.token, 'reverted');
      await write(volume.id, 0, 8 * KiB);
      await write(volume.id, 300 * KiB, 4 * KiB);
      const saved = await readVolume(volume.id);
      const snapshot = await createSnapshot(alice.token, volume.id, 'good');
      await write(volume.id, 0, 4 * KiB);
      await write(volume.id, 700 * KiB, 64 * KiB);
      const attachment = await attach(alice.token, `/volumes/${volume.id}/attachments`, { mode: 'rw' });
      const scribbled = await readVolume(volume.id);
      const jobsBefore = (await idsOf(alice.token, `/jobs?target_id=${snapshot.id}`, 'jobs')).length;

      expectError(await api('POST', `/snapshots/${snapshot.id}/revert`, alice.token, {}), 409, 'VOLUME_IN_USE');
      expectError(await api('POST', `/snapshots/${snapshot.id}/revert`, alice.token, { force: false }), 409, 'VOLUME_IN_USE');
      assert.equal(await status(alice.token, `/volumes/${volume.id}`, 'volume'), 'in-use');
      assert.ok((await readVolume(volume.id)).equals(scribbled), 'a refused revert changed the data');
      assert.equal((await idsOf(alice.token, `/jobs?target_id=${snapshot.id}`, 'jobs')).length, jobsBefore);
      expectError(await api('POST', `/snapshots/${snapshot.id}/revert`, alice.token, { force: 'yes' }), 400, 'INVALID_ARGUMENT', 'force');
      expectError(await api('POST', `/snapshots/${snapshot.id}/revert`, alice.token, { force: true, to: 'x' }), 400, 'UNKNOWN_FIELD', 'to');
      expectError(await api('POST', `/snapshots/${missingId}/revert`, alice.token, { force: true }), 404, 'NOT_FOUND');

      const forced = await api('POST', `/snapshots/${snapshot.id}/revert`, alice.token, { force: true });
      const answer = expectOk(forced, 202);
      expectShape(answer.volume, shapes.volume, show(forced));
      assert.deepEqual([answer.volume.id, answer.job.kind, answer.job.target], [volume.id, 'revert-snapshot', { type: 'snapshot', id: snapshot.id }], show(forced));
      assert.ok(['restoring', 'in-use'].includes(answer.volume.status), show(forced));
      await finish(alice.token, forced);
      assert.ok((await readVolume(volume.id)).equals(saved), 'after a forced revert the volume differs from the snapshot');
      assert.equal(await status(alice.token, `/volumes/${volume.id}`, 'volume'), 'in-use');

      expectOk(await api('DELETE', `/attachments/${attachment.id}`, alice.token), 204);
      await write(volume.id, 512 * KiB, 4 * KiB);
      const plain = await api('POST', `/snapshots/${snapshot.id}/revert`, alice.token, {});
      await finish(alice.token, plain);
      assert.ok((await readVolume(volume.id)).equals(saved), 'after a revert the volume differs from the snapshot');
      assert.equal(await status(alice.token, `/volumes/${volume.id}`, 'volume'), 'available');
      assert.ok((await readSnapshot(snapshot.id)).equals(saved), 'the snapshot itself changed');
    });

    test('revert to an older snapshot starts a new branch; diffs across branches cover every differing block', async () => {
      const volume = await createVolume(alice.token, 'branched');
      await write(volume.id, 0, 64 * KiB);
      const s1 = await createSnapshot(alice.token, volume.id, 'b1');
      await write(volume.id, 128 * KiB, 64 * KiB);
      const s2 = await createSnapshot(alice.token, volume.id, 'b2');
      const s2Data = await readSnapshot(s2.id);
      await finish(alice.token, await api('POST', `/snapshots/${s1.id}/revert`, alice.token, {}));
      assert.ok((await readVolume(volume.id)).equals(await readSnapshot(s1.id)), 'reverting to an older snapshot did not restore it');
      const reverted = expectOk(await api('GET', `/volumes/${volume.id}/snapshot-tree`, alice.token), 200);
      assert.equal(reverted.head_parent_id, s1.id, `after reverting to b1 the live volume hangs under b1: ${JSON.stringify(reverted)}`);
      await write(volume.id, 256 * KiB, 64 * KiB);
      const s3 = await createSnapshot(alice.token, volume.id, 'b3');
      assert.equal(s3.parent_id, s1.id, `a snapshot after reverting to b1 descends from b1: ${JSON.stringify(s3)}`);
      const tree = expectOk(await api('GET', `/volumes/${volume.id}/snapshot-tree`, alice.token), 200);
      assert.deepEqual(tree.snapshots.map((s: any) => [s.id, s.parent_id, s.children_ids]), [[s1.id, null, [s2.id, s3.id]], [s2.id, s1.id, []], [s3.id, s1.id, []]], JSON.stringify(tree));
      // The live volume hangs under b3 now; only b2 holds its block at 128 KiB alone (b1's and b3's blocks are still seen by a later view).
      assert.equal(tree.head_parent_id, s3.id, JSON.stringify(tree));
      // b2 alone holds at least the 64 KiB written after b1, and no more than its diff from b1
      // names (exactly 64 KiB on the embedded engine; RBD counts the extents of its objects).
      const b2Diff = expectOk(await api('GET', `/snapshots/${s2.id}/diff?from=${s1.id}`, alice.token), 200).extents as Array<{ length: number }>;
      const b2DiffBytes = b2Diff.reduce((sum, extent) => sum + extent.length, 0);
      const [b1Only, b2Only, b3Only] = tree.snapshots.map((s: any) => s.exclusive_bytes);
      assert.ok(b1Only === 0 && b3Only === 0 && b2Only >= 64 * KiB && b2Only <= b2DiffBytes, `exclusive bytes, b2's diff from b1 names ${b2DiffBytes}: ${JSON.stringify(tree)}`);
      assert.ok((await readSnapshot(s2.id)).equals(s2Data), 'the other branch lost its data');

      const block = expectOk(await api('GET', `/snapshots/${s2.id}/diff`, alice.token), 200).block_size_bytes;
      const differing = async (a: Buffer, b: Buffer) => Array.from({ length: MiB / block }, (_, c) => c).filter((c) => !a.subarray(c * block, (c + 1) * block).equals(b.subarray(c * block, (c + 1) * block)));
      const s3Data = await readSnapshot(s3.id);
      const across = await api('GET', `/snapshots/${s3.id}/diff?from=${s2.id}`, alice.token);
      const missed = (await differing(s2Data, s3Data)).filter((c) => !chunksOf(across).includes(c));
      assert.deepEqual(missed, [], `blocks that differ between b2 and b3 but are not in the diff: ${show(across)}`);
      await write(volume.id, 512 * KiB, 4 * KiB);
      const live = await api('GET', `/volumes/${volume.id}/diff?from=${s2.id}`, alice.token);
      const missedLive = (await differing(s2Data, await readVolume(volume.id))).filter((c) => !chunksOf(live).includes(c));
      assert.deepEqual(missedLive, [], `blocks that differ between b2 and the volume but are not in the diff: ${show(live)}`);

      await finish(alice.token, await api('POST', `/snapshots/${s2.id}/revert`, alice.token, {}));
      assert.ok((await readVolume(volume.id)).equals(s2Data), 'reverting to the other branch did not restore it');
    });

    test('clone: a new volume with the snapshot data, independent of it; flatten keeps the data', async () => {
      const volume = await createVolume(alice.token, 'cloned-from');
      await write(volume.id, 64 * KiB, 128 * KiB);
      const snapshot = await createSnapshot(alice.token, volume.id, 'base');
      const saved = await readSnapshot(snapshot.id);
      await write(volume.id, 0, 256 * KiB);

      const r = await api('POST', `/snapshots/${snapshot.id}/clone`, alice.token, { name: 'clone-1', description: 'copy' });
      const clone = expectOk(r, 201).volume;
      expectShape(clone, shapes.volume, show(r));
      assert.deepEqual([clone.name, clone.description, clone.size_bytes, clone.status, clone.source_snapshot_id], ['clone-1', 'copy', MiB, 'available', snapshot.id], show(r));
      assert.ok((await readVolume(clone.id)).equals(saved), 'the clone does not hold the snapshot data');
      await write(clone.id, 64 * KiB, 4 * KiB);
      assert.ok((await readSnapshot(snapshot.id)).equals(saved), 'writing the clone changed the snapshot');

      const bigger = await createVolume(alice.token, 'clone-2', 2 * MiB, { source_snapshot_id: snapshot.id });
      assert.equal(bigger.source_snapshot_id, snapshot.id);
      const data = await readVolume(bigger.id, 2 * MiB);
      assert.ok(data.subarray(0, MiB).equals(saved) && data.subarray(MiB).equals(Buffer.alloc(MiB)), 'a larger clone holds the snapshot then zeroes');
      const sized = await api('POST', '/volumes', alice.token, { name: 'clone-3', source_snapshot_id: snapshot.id });
      assert.equal(expectOk(sized, 201).volume.size_bytes, MiB, show(sized));

      expectError(await api('POST', `/snapshots/${snapshot.id}/clone`, alice.token, { name: 'small', size_bytes: 4 * KiB }), 400, 'OUT_OF_RANGE', 'size_bytes');
      expectError(await api('POST', '/volumes', alice.token, { name: 'small', size_bytes: 4 * KiB, source_snapshot_id: snapshot.id }), 400, 'OUT_OF_RANGE', 'size_bytes');
      expectError(await api('POST', `/snapshots/${snapshot.id}/clone`, alice.token, {}), 400, 'MISSING_FIELD', 'name');
      expectError(await api('POST', `/snapshots/${snapshot.id}/clone`, alice.token, { name: 'c', source: 'x' }), 400, 'UNKNOWN_FIELD', 'source');
      expectError(await api('POST', `/snapshots/${missingId}/clone`, alice.token, { name: 'c' }), 404, 'NOT_FOUND');

      const depth = expectOk(await api('GET', `/volumes/${clone.id}`, alice.token), 200).volume.clone_depth;
      assert.ok(depth >= 1, `clone_depth ${depth}`);
      const before = await readVolume(clone.id);
      const flattened = await finish(alice.token, await api('POST', `/volumes/${clone.id}/flatten`, alice.token, {}));
      assert.deepEqual([flattened.kind, flattened.target], ['flatten-volume', { type: 'volume', id: clone.id }], JSON.stringify(flattened));
      assert.equal(expectOk(await api('GET', `/volumes/${clone.id}`, alice.token), 200).volume.clone_depth, 0);
      assert.ok((await readVolume(clone.id)).equals(before), 'flatten changed the data');
      await finish(alice.token, await api('POST', `/volumes/${volume.id}/flatten`, alice.token, {}));
      expectError(await api('POST', `/volumes/${missingId}/flatten`, alice.token, {}), 404, 'NOT_FOUND');

      // Clones outlive their source snapshot and their source volume.
      const kept = await readVolume(sized.body.volume.id);
      await finish(alice.token, await api('DELETE', `/snapshots/${snapshot.id}`, alice.token));
      assert.ok((await readVolume(sized.body.volume.id)).equals(kept), 'deleting the source snapshot changed a clone');
      const second = await createSnapshot(alice.token, volume.id, 'base-2');
      const late = await createVolume(alice.token, 'clone-4', MiB, { source_snapshot_id: second.id });
      const lateData = await readSnapshot(second.id);
      await finish(alice.token, await api('DELETE', `/volumes/${volume.id}?cascade=true`, alice.token));
      assert.ok((await readVolume(late.id)).equals(lateData), 'deleting the source volume changed a clone');
      assert.equal(await status(alice.token, `/volumes/${late.id}`, 'volume'), 'available');
    });

    test('snapshot delete: a job frees it; of five concurrent deletes exactly one is accepted', async () => {
      const volume = await createVolume(alice.token, 'pruned');
      const s1 = await createSnapshot(alice.token, volume.id, 'p1');
      const s2 = await createSnapshot(alice.token, volume.id, 'p2');
      const ro = await attach(alice.token, `/snapshots/${s1.id}/attachments`);
      assert.ok(h.exports.resolve(exportOf(ro)) !== undefined);
      const engineId = await engineSnapshotId(s1.id);
      const job = await finish(alice.token, await api('DELETE', `/snapshots/${s1.id}`, alice.token));
      assert.deepEqual([job.kind, job.target], ['delete-snapshot', { type: 'snapshot', id: s1.id }], JSON.stringify(job));
      expectError(await api('GET', `/snapshots/${s1.id}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('DELETE', `/snapshots/${s1.id}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', `/attachments/${ro.id}`, alice.token), 404, 'NOT_FOUND');
      assert.equal(h.exports.resolve(exportOf(ro)), undefined, 'the export of a deleted snapshot remains');
      assert.ok(!(await h.engine.listSnapshots(await engineVolumeId(volume.id))).some((s) => s.id === engineId), 'the engine still holds the snapshot');
      assert.deepEqual(await idsOf(alice.token, `/volumes/${volume.id}/snapshots`, 'snapshots'), [s2.id]);
      assert.equal(expectOk(await api('GET', `/snapshots/${s2.id}`, alice.token), 200).snapshot.parent_id, null);
      expectError(await api('DELETE', '/snapshots/nope', alice.token), 400, 'INVALID_ARGUMENT', 'id');

      // A snapshot being created cannot be deleted yet (compare-and-swap on its status).
      await setStatus('snapshots', s2.id, 'creating');
      expectError(await api('DELETE', `/snapshots/${s2.id}`, alice.token), 409, 'INVALID_STATE');
      await setStatus('snapshots', s2.id, 'available');
      // Of concurrent deletes one wins; the others find it deleting (409), or gone if its job already ended (404).
      const answers = await Promise.all(Array.from({ length: 5 }, () => api('DELETE', `/snapshots/${s2.id}`, alice.token)));
      const accepted = answers.filter((r) => r.status === 202);
      assert.equal(accepted.length, 1, answers.map(show).join('\n'));
      for (const r of answers.filter((a) => a.status !== 202)) {
        if (r.status === 404) expectError(r, 404, 'NOT_FOUND');
        else expectError(r, 409, 'INVALID_STATE');
      }
      await finish(alice.token, accepted[0]);
      expectError(await api('GET', `/snapshots/${s2.id}`, alice.token), 404, 'NOT_FOUND');
      assert.equal((await idsOf(alice.token, `/jobs?target_id=${s2.id}`, 'jobs')).length, 1);
    });

    test('volume delete: HAS_DEPENDENTS with snapshots, VOLUME_IN_USE while attached, cascade removes everything', async () => {
      const volume = await createVolume(alice.token, 'doomed');
      const snapshot = await createSnapshot(alice.token, volume.id, 'doomed-1');
      expectError(await api('DELETE', `/volumes/${volume.id}`, alice.token), 409, 'HAS_DEPENDENTS');
      expectError(await api('DELETE', `/volumes/${volume.id}?cascade=false`, alice.token), 409, 'HAS_DEPENDENTS');
      assert.equal(await status(alice.token, `/volumes/${volume.id}`, 'volume'), 'available');
      assert.equal(await status(alice.token, `/snapshots/${snapshot.id}`, 'snapshot'), 'available');
      expectError(await api('DELETE', `/volumes/${volume.id}?cascade=maybe`, alice.token), 400, 'INVALID_ARGUMENT', 'cascade');
      expectError(await api('DELETE', `/volumes/${volume.id}?force=true`, alice.token), 400, 'UNKNOWN_FIELD', 'force');
      const rw = await attach(alice.token, `/volumes/${volume.id}/attachments`);
      expectError(await api('DELETE', `/volumes/${volume.id}?cascade=true`, alice.token), 409, 'VOLUME_IN_USE');
      assert.equal(await status(alice.token, `/snapshots/${snapshot.id}`, 'snapshot'), 'available');
      expectOk(await api('DELETE', `/attachments/${rw.id}`, alice.token), 204);
      const ro = await attach(alice.token, `/snapshots/${snapshot.id}/attachments`);
      const roVolume = await attach(alice.token, `/volumes/${volume.id}/attachments`, { mode: 'ro' });
      const engineId = await engineVolumeId(volume.id);

      const job = await finish(alice.token, await api('DELETE', `/volumes/${volume.id}?cascade=true`, alice.token));
      assert.deepEqual([job.kind, job.target], ['delete-volume', { type: 'volume', id: volume.id }], JSON.stringify(job));
      expectError(await api('GET', `/volumes/${volume.id}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', `/snapshots/${snapshot.id}`, alice.token), 404, 'NOT_FOUND');
      for (const a of [ro, roVolume]) {
        expectError(await api('GET', `/attachments/${a.id}`, alice.token), 404, 'NOT_FOUND');
        assert.equal(h.exports.resolve(exportOf(a)), undefined, `export of ${a.id} remains`);
      }
      assert.ok(!(await h.engine.listVolumes()).some((v) => v.id === engineId), 'the engine still holds the volume');
      assert.ok(!(await idsOf(alice.token, '/volumes', 'volumes')).includes(volume.id));
      expectError(await api('DELETE', `/volumes/${volume.id}`, alice.token), 404, 'NOT_FOUND');

      const plain = await createVolume(alice.token, 'no-snapshots');
      await finish(alice.token, await api('DELETE', `/volumes/${plain.id}`, alice.token));
      expectError(await api('GET', `/volumes/${plain.id}`, alice.token), 404, 'NOT_FOUND');
    });

    test('attachments: rw makes the volume in-use, snapshots attach read-only, delete removes the export', async () => {
      const volume = await createVolume(alice.token, 'exported');
      const snapshot = await createSnapshot(alice.token, volume.id, 'exported-1');
      const exportsBefore = h.exports.size;
      const rw = await attach(alice.token, `/volumes/${volume.id}/attachments`);
      assert.deepEqual([rw.mode, rw.volume_id, rw.snapshot_id], ['rw', volume.id, null], JSON.stringify(rw));
      assert.match(rw.uri, /^nbd:\/\/127\.0\.0\.1:10809\/[^/]+$/, JSON.stringify(rw));
      const device = h.exports.resolve(exportOf(rw));
      assert.ok(device !== undefined && device.readOnly === false && device.sizeBytes === MiB, `no writable export ${exportOf(rw)}`);
      assert.equal(await status(alice.token, `/volumes/${volume.id}`, 'volume'), 'in-use');
      const ro = await attach(alice.token, `/volumes/${volume.id}/attachments`, { mode: 'ro' });
      assert.equal(ro.mode, 'ro');
      assert.equal(h.exports.resolve(exportOf(ro))?.readOnly, true);
      const snap = await attach(alice.token, `/snapshots/${snapshot.id}/attachments`, { mode: 'ro' });
      assert.deepEqual([snap.mode, snap.volume_id, snap.snapshot_id], ['ro', null, snapshot.id], JSON.stringify(snap));
      assert.equal(h.exports.resolve(exportOf(snap))?.readOnly, true);
      assert.equal(h.exports.size, exportsBefore + 3);

      const got = await api('GET', `/attachments/${rw.id}`, alice.token);
      assert.deepEqual(expectOk(got, 200).attachment, rw, show(got));
      assert.deepEqual(await idsOf(alice.token, `/volumes/${volume.id}/attachments`, 'attachments'), [rw.id, ro.id]);
      assert.deepEqual(await idsOf(alice.token, `/attachments?volume_id=${volume.id}`, 'attachments'), [rw.id, ro.id]);
      assert.deepEqual(await idsOf(alice.token, `/attachments?snapshot_id=${snapshot.id}`, 'attachments'), [snap.id]);
      const paged = await listAll(alice.token, `/attachments?volume_id=${volume.id}&order=desc`, 'attachments', 1);
      assert.deepEqual([paged.items.map((a) => a.id), paged.pages], [[ro.id, rw.id], 2]);
      assert.ok((await idsOf(alice.token, '/attachments', 'attachments')).includes(snap.id));

      expectError(await api('POST', `/volumes/${volume.id}/attachments`, alice.token, { mode: 'wo' }), 400, 'INVALID_ARGUMENT', 'mode');
      expectError(await api('POST', `/volumes/${volume.id}/attachments`, alice.token, { mode: 'rw', host: 'h' }), 400, 'UNKNOWN_FIELD', 'host');
      expectError(await api('POST', `/snapshots/${snapshot.id}/attachments`, alice.token, { mode: 'rw' }), 400, 'INVALID_ARGUMENT', 'mode');
      expectError(await api('POST', `/volumes/${missingId}/attachments`, alice.token, {}), 404, 'NOT_FOUND');
      expectError(await api('POST', `/snapshots/${missingId}/attachments`, alice.token, {}), 404, 'NOT_FOUND');
      expectError(await api('GET', `/volumes/${missingId}/attachments`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', `/attachments/${missingId}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', '/attachments?limit=0', alice.token), 400, 'OUT_OF_RANGE', 'limit');
      expectError(await api('GET', '/attachments?sort=name', alice.token), 400, 'UNKNOWN_FIELD', 'sort');
      assert.equal(h.exports.size, exportsBefore + 3, 'a refused attach left an export');

      const rw2 = await attach(alice.token, `/volumes/${volume.id}/attachments`, { mode: 'rw' });
      expectOk(await api('DELETE', `/attachments/${rw.id}`, alice.token), 204);
      assert.equal(h.exports.resolve(exportOf(rw)), undefined, 'the export outlived its attachment');
      assert.equal(await status(alice.token, `/volumes/${volume.id}`, 'volume'), 'in-use', 'in-use ended with a read-write attachment left');
      expectOk(await api('DELETE', `/attachments/${rw2.id}`, alice.token), 204);
      assert.equal(await status(alice.token, `/volumes/${volume.id}`, 'volume'), 'available');
      expectError(await api('DELETE', `/attachments/${rw.id}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', `/attachments/${rw.id}`, alice.token), 404, 'NOT_FOUND');
      for (const a of [ro, snap]) expectOk(await api('DELETE', `/attachments/${a.id}`, alice.token), 204);
      assert.equal(h.exports.size, exportsBefore);
      assert.deepEqual(await idsOf(alice.token, `/volumes/${volume.id}/attachments`, 'attachments'), []);
    });

    test('jobs: show, list with filters and pages', async () => {
      const volume = await createVolume(alice.token, 'jobbed');
      const snapshot = await createSnapshot(alice.token, volume.id, 'jobbed-1');
      const j1 = await finish(alice.token, await api('DELETE', `/snapshots/${snapshot.id}`, alice.token));
      const j2 = await finish(alice.token, await api('DELETE', `/volumes/${volume.id}`, alice.token));
      const got = await api('GET', `/jobs/${j1.id}`, alice.token);
      const job = expectOk(got, 200).job;
      expectShape(job, shapes.job, show(got));
      assert.deepEqual([job.kind, job.status, job.progress, job.target, 'error' in job], ['delete-snapshot', 'succeeded', 1, { type: 'snapshot', id: snapshot.id }, false], show(got));
      assert.ok(typeChecks.time(job.started_at), show(got));
      assert.deepEqual(await idsOf(alice.token, `/jobs?target_id=${snapshot.id}`, 'jobs'), [j1.id]);
      assert.deepEqual(await idsOf(alice.token, `/jobs?kind=delete-volume&target_id=${volume.id}`, 'jobs'), [j2.id]);
      assert.deepEqual(await idsOf(alice.token, `/jobs?kind=delete-snapshot&target_id=${volume.id}`, 'jobs'), []);
      assert.deepEqual(await idsOf(alice.token, `/jobs?status=failed&target_id=${volume.id}`, 'jobs'), []);
      const succeeded = await idsOf(alice.token, '/jobs?status=succeeded', 'jobs');
      assert.ok(succeeded.indexOf(j1.id) >= 0 && succeeded.indexOf(j1.id) < succeeded.indexOf(j2.id), JSON.stringify(succeeded));
      const all = await listAll(alice.token, '/jobs', 'jobs', 2);
      const desc = await listAll(alice.token, '/jobs?order=desc', 'jobs', 2);
      assert.deepEqual(desc.items.map((j) => j.id), all.items.map((j) => j.id).reverse());
      expectError(await api('GET', '/jobs?status=done', alice.token), 400, 'INVALID_ARGUMENT', 'status');
      expectError(await api('GET', '/jobs?target_id=x', alice.token), 400, 'INVALID_ARGUMENT', 'target_id');
      expectError(await api('GET', `/jobs/${missingId}`, alice.token), 404, 'NOT_FOUND');
      expectError(await api('GET', '/jobs/nope', alice.token), 400, 'INVALID_ARGUMENT', 'id');
    });

    test('INVALID_STATE: a volume or snapshot in error refuses what needs it available', async () => {
      const volume = await createVolume(alice.token, 'broken');
      const snapshot = await createSnapshot(alice.token, volume.id, 'broken-1');
      const exportsBefore = h.exports.size;
      await setStatus('volumes', volume.id, 'error');
      expectError(await api('POST', `/volumes/${volume.id}/snapshots`, alice.token, { name: 'x' }), 409, 'INVALID_STATE');
      expectError(await api('PATCH', `/volumes/${volume.id}`, alice.token, { size_bytes: 2 * MiB }), 409, 'INVALID_STATE');
      expectError(await api('POST', `/volumes/${volume.id}/flatten`, alice.token, {}), 409, 'INVALID_STATE');
      expectError(await api('POST', `/volumes/${volume.id}/attachments`, alice.token, {}), 409, 'INVALID_STATE');
      expectError(await api('POST', `/volumes/${volume.id}/attachments`, alice.token, { mode: 'ro' }), 409, 'INVALID_STATE');
      expectError(await api('POST', `/snapshots/${snapshot.id}/revert`, alice.token, {}), 409, 'INVALID_STATE');
      expectError(await api('POST', `/snapshots/${snapshot.id}/revert`, alice.token, { force: true }), 409, 'INVALID_STATE');
      assert.equal(expectOk(await api('GET', `/volumes/${volume.id}`, alice.token), 200).volume.size_bytes, MiB);
      assert.equal(h.exports.size, exportsBefore, 'a refused attach left an export');
      await setStatus('volumes', volume.id, 'available');
      await setStatus('snapshots', snapshot.id, 'error');
      expectError(await api('POST', `/snapshots/${snapshot.id}/revert`, alice.token, {}), 409, 'INVALID_STATE');
      expectError(await api('POST', `/snapshots/${snapshot.id}/clone`, alice.token, { name: 'c' }), 409, 'INVALID_STATE', 'source_snapshot_id');
      expectError(await api('POST', `/snapshots/${snapshot.id}/attachments`, alice.token, {}), 409, 'INVALID_STATE');
      assert.equal(await status(alice.token, `/volumes/${volume.id}`, 'volume'), 'available');
      await finish(alice.token, await api('DELETE', `/snapshots/${snapshot.id}`, alice.token));
      await setStatus('volumes', volume.id, 'error');
      await finish(alice.token, await api('DELETE', `/volumes/${volume.id}`, alice.token));
    });

    test('isolation: another project gets 404 for every resource and never lists them', async () => {
      const volume = await createVolume(alice.token, 'private');
      await write(volume.id, 0, 4 * KiB);
      const snapshot = await createSnapshot(alice.token, volume.id, 'private-1');
      const spare = await createSnapshot(alice.token, volume.id, 'private-2');
      const other = await createVolume(alice.token, 'private-attached');
      const attachment = await attach(alice.token, `/volumes/${other.id}/attachments`);
      const job = await finish(alice.token, await api('DELETE', `/snapshots/${spare.id}`, alice.token));
      const before = await readVolume(volume.id);
      const v = `/volumes/${volume.id}`;
      const s = `/snapshots/${snapshot.id}`;
      const probes: Array<[string, string, unknown?]> = [
        ['GET', v], ['PATCH', v, { name: 'mine' }], ['PATCH', v, { size_bytes: 2 * MiB }], ['DELETE', v], ['DELETE', `${v}?cascade=true`],
        ['POST', `${v}/flatten`, {}], ['GET', `${v}/diff`], ['GET', `${v}/diff?from=${snapshot.id}`], ['GET', `${v}/snapshot-tree`],
        ['POST', `${v}/snapshots`, { name: 'x' }], ['GET', `${v}/snapshots`], ['POST', `${v}/attachments`, { mode: 'rw' }], ['POST', `${v}/attachments`, { mode: 'ro' }],
        ['GET', `${v}/attachments`], ['GET', s], ['PATCH', s, { name: 'mine' }], ['DELETE', s], ['POST', `${s}/revert`, {}], ['POST', `${s}/revert`, { force: true }],
        ['POST', `${s}/clone`, { name: 'mine' }], ['GET', `${s}/diff`], ['POST', `${s}/attachments`, {}], ['GET', `/attachments/${attachment.id}`],
        ['DELETE', `/attachments/${attachment.id}`], ['GET', `/jobs/${job.id}`], ['GET', `/projects/${alice.projectId}`], ['GET', `/projects/${alice.projectId}/quotas`],
        ['GET', `/users/${alice.userId}`], ['PATCH', `/users/${alice.userId}`, { password: 'stolen-password' }],
      ];
      const exportsBefore = h.exports.size;
      for (const [method, url, body] of probes) {
        const r = await api(method, url, bob.token, body);
        assert.equal(r.status, 404, `${method} ${url} by another project: ${show(r)}`);
        expectError(r, 404, 'NOT_FOUND');
      }
      assert.equal(h.exports.size, exportsBefore, 'a refused attach left an export');
      const mine = await createVolume(bob.token, 'bobs');
      expectError(await api('POST', '/volumes', bob.token, { name: 'x', source_snapshot_id: snapshot.id }), 404, 'NOT_FOUND', 'source_snapshot_id');
      expectError(await api('GET', `/volumes/${mine.id}/diff?from=${snapshot.id}`, bob.token), 404, 'NOT_FOUND', 'from');

      const aliceIds = new Set([volume.id, other.id, snapshot.id, attachment.id, job.id]);
      for (const [url, key] of [
        ['/volumes', 'volumes'], ['/snapshots', 'snapshots'], ['/attachments', 'attachments'], ['/jobs', 'jobs'],
        [`/snapshots?volume_id=${volume.id}`, 'snapshots'], [`/attachments?volume_id=${other.id}`, 'attachments'], [`/jobs?target_id=${spare.id}`, 'jobs'],
        [`/volumes?name=private`, 'volumes'], [`/snapshots?name=private-1`, 'snapshots'],
      ]) {
        const ids = await idsOf(bob.token, url, key);
        assert.ok(!ids.some((id) => aliceIds.has(id)), `${url} for another project lists: ${JSON.stringify(ids)}`);
      }
      assert.deepEqual(await idsOf(bob.token, '/volumes', 'volumes'), [mine.id]);

      const still = expectOk(await api('GET', v, alice.token), 200).volume;
      assert.deepEqual([still.name, still.status, still.size_bytes], ['private', 'available', MiB], JSON.stringify(still));
      assert.equal(expectOk(await api('GET', s, alice.token), 200).snapshot.name, 'private-1');
      assert.equal(expectOk(await api('GET', `/attachments/${attachment.id}`, alice.token), 200).attachment.id, attachment.id);
      assert.ok(h.exports.resolve(exportOf(attachment)) !== undefined);
      assert.deepEqual(await idsOf(alice.token, `${v}/snapshots`, 'snapshots'), [snapshot.id]);
      assert.ok((await readVolume(volume.id)).equals(before), 'another project changed the data');
      expectOk(await api('DELETE', `/attachments/${attachment.id}`, alice.token), 204);
    });

    test('reader: every read answers 200, every change 403, and nothing changes', async () => {
      const volume = await createVolume(alice.token, 'read-only');
      const snapshot = await createSnapshot(alice.token, volume.id, 'read-only-1');
      const attached = await createVolume(alice.token, 'read-only-attached');
      const attachment = await attach(alice.token, `/volumes/${attached.id}/attachments`);
      const gone = await createSnapshot(alice.token, volume.id, 'read-only-2');
      const job = await finish(alice.token, await api('DELETE', `/snapshots/${gone.id}`, alice.token));
      const state = async () => ({
        volumes: (await listAll(alice.token, '/volumes', 'volumes')).items.map((x) => [x.id, x.name, x.status, x.size_bytes, x.updated_at]),
        snapshots: (await listAll(alice.token, '/snapshots', 'snapshots')).items.map((x) => [x.id, x.name, x.status, x.updated_at]),
        attachments: await idsOf(alice.token, '/attachments', 'attachments'),
        jobs: await idsOf(alice.token, '/jobs', 'jobs'),
        project: expectOk(await api('GET', `/projects/${alice.projectId}`, alice.token), 200),
        quotas: expectOk(await api('GET', `/projects/${alice.projectId}/quotas`, alice.token), 200),
        users: expectOk(await api('GET', `/users?project_id=${alice.projectId}`, h.adminToken), 200),
        exports: h.exports.size,
      });
      const before = await state();
      const v = `/volumes/${volume.id}`;
      const s = `/snapshots/${snapshot.id}`;
      for (const url of [
        '/volumes', v, `${v}/diff`, `${v}/diff?from=${snapshot.id}`, `${v}/snapshot-tree`, `${v}/snapshots`, `/volumes/${attached.id}/attachments`,
        '/snapshots', s, `${s}/diff`, '/attachments', `/attachments/${attachment.id}`, '/jobs', `/jobs/${job.id}`,
        '/projects', `/projects/${alice.projectId}`, `/projects/${alice.projectId}/quotas`, '/users', `/users/${reader.userId}`, '/auth/tokens/current',
      ]) {
        const r = await api('GET', url, reader.token);
        assert.equal(r.status, 200, `GET ${url} by a reader: ${show(r)}`);
      }
      const writes: Array<[string, string, unknown?]> = [
        ['POST', '/volumes', { name: 'r', size_bytes: MiB }], ['POST', '/volumes', { name: 'r', source_snapshot_id: snapshot.id }],
        ['PATCH', v, { name: 'r' }], ['PATCH', v, { size_bytes: 2 * MiB }], ['DELETE', v], ['DELETE', `${v}?cascade=true`], ['POST', `${v}/flatten`, {}],
        ['POST', `${v}/snapshots`, { name: 'r' }], ['POST', `${v}/attachments`, {}], ['POST', `${v}/attachments`, { mode: 'ro' }],
        ['PATCH', s, { name: 'r' }], ['DELETE', s], ['POST', `${s}/revert`, {}], ['POST', `${s}/revert`, { force: true }], ['POST', `${s}/clone`, { name: 'r' }],
        ['POST', `${s}/attachments`, {}], ['DELETE', `/attachments/${attachment.id}`],
        ['POST', '/projects', { name: 'reader-project' }], ['PATCH', `/projects/${alice.projectId}`, { name: 'r' }], ['DELETE', `/projects/${bob.projectId}`],
        ['PUT', `/projects/${alice.projectId}/quotas`, { volumes: 1 }], ['POST', '/users', { name: 'reader-made', password, project_id: alice.projectId, role: 'admin' }],
        ['PATCH', `/users/${reader.userId}`, { role: 'admin' }], ['PATCH', `/users/${reader.userId}`, { password: 'another-password' }], ['DELETE', `/users/${alice.userId}`],
      ];
      for (const [method, url, body] of writes) {
        const r = await api(method, url, reader.token, body);
        assert.equal(r.status, 403, `${method} ${url} by a reader: ${show(r)}`);
        expectError(r, 403, 'FORBIDDEN');
      }
      await h.plane.jobs.idle();
      assert.deepEqual(await state(), before);
      expectOk(await api('GET', '/volumes', reader.token), 200);
      const logout = await h.login('alice-reader', password);
      expectOk(await api('DELETE', '/auth/tokens/current', logout), 204);
      expectError(await api('GET', '/volumes', logout), 401, 'UNAUTHENTICATED');
      expectOk(await api('DELETE', `/attachments/${attachment.id}`, alice.token), 204);
    });

    test('POST attach, revert and flatten without a body take the defaults (rw, not forced)', async () => {
      const volume = await createVolume(alice.token, 'bodiless');
      const snapshot = await createSnapshot(alice.token, volume.id, 'bodiless-1');
      const failures: string[] = [];
      const expectStatus = (what: string, r: Response, status: number) => {
        if (r.status !== status) failures.push(`${what} without a body: expected ${status}, got ${show(r)}`);
        return r.status === status;
      };
      const rw = await api('POST', `/volumes/${volume.id}/attachments`, alice.token);
      if (expectStatus('POST /volumes/{id}/attachments', rw, 201)) {
        assert.deepEqual([rw.body.attachment.mode, await status(alice.token, `/volumes/${volume.id}`, 'volume')], ['rw', 'in-use'], show(rw));
        expectOk(await api('DELETE', `/attachments/${rw.body.attachment.id}`, alice.token), 204);
      }
      const ro = await api('POST', `/snapshots/${snapshot.id}/attachments`, alice.token);
      if (expectStatus('POST /snapshots/{id}/attachments', ro, 201)) {
        assert.equal(ro.body.attachment.mode, 'ro', show(ro));
        expectOk(await api('DELETE', `/attachments/${ro.body.attachment.id}`, alice.token), 204);
      }
      const reverted = await api('POST', `/snapshots/${snapshot.id}/revert`, alice.token);
      if (expectStatus('POST /snapshots/{id}/revert', reverted, 202)) await finish(alice.token, reverted);
      const flattened = await api('POST', `/volumes/${volume.id}/flatten`, alice.token);
      if (expectStatus('POST /volumes/{id}/flatten', flattened, 202)) await finish(alice.token, flattened);
      assert.deepEqual(failures, []);
    });

    test('every route of this file answered at least one 2xx and one 4xx', async () => {
      const document = await api('GET', '/openapi.json');
      const paths = expectOk(document, 200).paths as Record<string, Record<string, { tags?: string[] }>>;
      const routes: string[] = [];
      for (const [path, operations] of Object.entries(paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          // Group routes are native-groups.test.ts's, policy routes policies.test.ts's.
          if (operation.tags === undefined || operation.tags.some((tag) => groupTags.includes(tag) || tag === 'policies')) continue;
          routes.push(`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`);
        }
      }
      assert.ok(routes.length >= 40, `only ${routes.length} routes: ${JSON.stringify(routes)}`);
      const answered = new Map<string, Set<string>>();
      for (const { labels } of (await h.plane.deps.metrics.httpRequests.get()).values) {
        const key = `${String(labels.method)} ${String(labels.route)}`;
        const code = Number(labels.status_code);
        const classes = answered.get(key) ?? new Set<string>();
        classes.add(code === 401 ? '401' : `${Math.floor(code / 100)}xx`);
        answered.set(key, classes);
      }
      const onlyAuthErrors = new Set(['GET /api/v1/auth/tokens/current', 'GET /api/v1/projects']);
      const missing = routes.filter((route) => {
        const classes = answered.get(route) ?? new Set();
        return !classes.has('2xx') || !(classes.has('4xx') || (onlyAuthErrors.has(route) && classes.has('401')));
      });
      assert.deepEqual(missing, [], `routes without a 2xx and a 4xx: ${JSON.stringify(missing.map((r) => [r, [...(answered.get(r) ?? [])]]))}`);
    });

    test('no request of this file answered 5xx', async () => {
      const failed = (await h.plane.deps.metrics.httpRequests.get()).values.filter(({ labels }) => Number(labels.status_code) >= 500);
      assert.deepEqual(failed.map(({ labels, value }) => `${labels.method} ${labels.route} → ${labels.status_code} (${value}×)`), []);
    });
  });
}

if (!databaseKinds().includes('postgres')) {
  describe('native API on postgres', { skip: postgresSkipReason() ?? 'STRATA_TEST_POSTGRES_URL is not set' }, () => {});
}
if (rbdSkipReason() !== null) describe('native API on rbd', { skip: rbdSkipReason()! }, () => {});
