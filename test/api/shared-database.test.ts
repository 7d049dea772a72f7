/**
 * Two Strata instances sharing one PostgreSQL, each with its own pool: identity, quotas and
 * listings are shared; a volume is served only by the instance whose pool holds it
 * (ARCHITECTURE.md, "Sharing one PostgreSQL").
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminPassword, createHarness, type Harness } from './harness.js';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../support/databases.js';

describe('two instances sharing one PostgreSQL', { skip: postgresSkipReason() ?? false }, () => {
  let database: TestDatabase;
  let a: Harness;
  let b: Harness;
  before(async () => {
    database = await createTestDatabase('postgres');
    a = await createHarness('postgres', { sharedDatabase: database });
    b = await createHarness('postgres', { sharedDatabase: database });
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
  });

  test('a token issued by one instance works on the other, and both list the same volumes', async () => {
    const created = await a.request('POST', '/api/v1/volumes', { token: a.adminToken, body: { name: 'on-a', size_bytes: 1 << 20 } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const seen = await b.request('GET', `/api/v1/volumes/${created.body.volume.id}`, { token: a.adminToken });
    assert.equal(seen.status, 200, JSON.stringify(seen.body));
    assert.equal(seen.body.volume.name, 'on-a');
    assert.equal(seen.body.volume.allocated_bytes, null, 'the other instance has no engine view of it');
    const listed = await b.request('GET', '/api/v1/volumes', { token: b.adminToken });
    assert.ok(listed.body.volumes.some((v: { id: string }) => v.id === created.body.volume.id), JSON.stringify(listed.body));
  });

  test('engine work on another instance volume is refused with WRONG_INSTANCE and changes nothing', async () => {
    const created = await a.request('POST', '/api/v1/volumes', { token: a.adminToken, body: { name: 'pinned', size_bytes: 1 << 20 } });
    const id = created.body.volume.id as string;
    for (const [method, url, body] of [
      ['POST', `/api/v1/volumes/${id}/snapshots`, { name: 's' }],
      ['POST', `/api/v1/volumes/${id}/attachments`, {}],
      ['PATCH', `/api/v1/volumes/${id}`, { size_bytes: 2 << 20 }],
      ['DELETE', `/api/v1/volumes/${id}`, undefined],
    ] as const) {
      const refused = await b.request(method, url, { token: b.adminToken, body });
      assert.equal(refused.status, 409, `${method} ${url}: ${JSON.stringify(refused.body)}`);
      assert.equal(refused.body.error.code, 'WRONG_INSTANCE', JSON.stringify(refused.body));
    }
    const after = await a.request('GET', `/api/v1/volumes/${id}`, { token: a.adminToken });
    assert.equal(after.body.volume.status, 'available');
    assert.equal(after.body.volume.size_bytes, 1 << 20);
    assert.equal(after.body.volume.snapshot_count, 0);
    const snapshot = await a.request('POST', `/api/v1/volumes/${id}/snapshots`, { token: a.adminToken, body: { name: 's' } });
    assert.equal(snapshot.status, 201, 'the owning instance still serves it');
  });

  test('a ZStack session from one instance is valid on the other (sessions are stored tokens)', async () => {
    const { createHash } = await import('node:crypto');
    const login = await a.request('PUT', '/zstack/v1/accounts/login', {
      body: { logInByAccount: { accountName: 'admin', password: createHash('sha512').update(adminPassword).digest('hex') } },
    });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const session = login.body.inventory.uuid as string;
    assert.match(session, /^[0-9a-f]{32}$/);
    const queried = await b.request('GET', '/zstack/v1/volumes', { headers: { authorization: `OAuth ${session}` } });
    assert.equal(queried.status, 200, JSON.stringify(queried.body));
    const logout = await b.request('DELETE', `/zstack/v1/accounts/sessions/${session}`);
    assert.ok(logout.status < 300, JSON.stringify(logout.body));
    // The validity route needs a live session of its own: a second login, on the other instance.
    const again = await a.request('PUT', '/zstack/v1/accounts/login', {
      body: { logInByAccount: { accountName: 'admin', password: createHash('sha512').update(adminPassword).digest('hex') } },
    });
    const after = await a.request('GET', `/zstack/v1/accounts/sessions/${session}/valid`, { headers: { authorization: `OAuth ${again.body.inventory.uuid}` } });
    assert.equal(after.body.valid, false, `logging out on one instance ends the session on the other: ${JSON.stringify(after.body)}`);
  });

  test('quotas count volumes of both instances', async () => {
    const tenant = await a.tenant('shared-quota');
    const set = await a.request('PUT', `/api/v1/projects/${tenant.projectId}/quotas`, { token: a.adminToken, body: { volumes: 2 } });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal((await a.request('POST', '/api/v1/volumes', { token: tenant.token, body: { name: '1', size_bytes: 1 << 20 } })).status, 201);
    assert.equal((await b.request('POST', '/api/v1/volumes', { token: tenant.token, body: { name: '2', size_bytes: 1 << 20 } })).status, 201);
    const third = await b.request('POST', '/api/v1/volumes', { token: tenant.token, body: { name: '3', size_bytes: 1 << 20 } });
    assert.equal(third.status, 413, JSON.stringify(third.body));
    assert.equal(third.body.error.code, 'QUOTA_EXCEEDED');
  });

  test('a policy covering volumes of both instances: each due time yields exactly one snapshot per volume', async () => {
    const onA = (await a.request('POST', '/api/v1/volumes', { token: a.adminToken, body: { name: 'policy-a', size_bytes: 1 << 20 } })).body.volume.id as string;
    const onB = (await b.request('POST', '/api/v1/volumes', { token: b.adminToken, body: { name: 'policy-b', size_bytes: 1 << 20 } })).body.volume.id as string;
    const created = await a.request('POST', '/api/v1/policies', {
      token: a.adminToken,
      body: { name: 'shared', cron: '0 * * * *', retention: { keep_last: 100 }, volume_ids: [onA, onB] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const policyId = created.body.policy.id as string;
    const hour = 3_600_000;
    const base = Math.ceil(Date.now() / hour) * hour + 24 * hour;
    const dueTimes = [0, 1, 2, 5].map((n) => base + n * hour);
    for (const due of dueTimes) {
      // Both instances, each ticking twice at once (a timer racing a slow tick), at the same due time.
      const at = new Date(due + 1000);
      await Promise.all([a.plane.scheduler.tick(at), a.plane.scheduler.tick(at), b.plane.scheduler.tick(at), b.plane.scheduler.tick(at)]);
    }
    const snapshots = (await a.request('GET', '/api/v1/snapshots?limit=1000', { token: a.adminToken })).body.snapshots.filter((s: { policy_id: string }) => s.policy_id === policyId);
    for (const volumeId of [onA, onB]) {
      const names = snapshots.filter((s: { volume_id: string }) => s.volume_id === volumeId).map((s: { name: string }) => s.name).sort();
      const expected = dueTimes.map((ms) => `shared-${new Date(ms).toISOString().replace(/[-:]/g, '').replace('.000Z', 'Z')}`);
      assert.deepEqual(names, expected, `volume ${volumeId}: one snapshot per due time`);
    }
    const runs = (await b.request('GET', `/api/v1/policies/${policyId}/runs?limit=100`, { token: a.adminToken })).body.runs as Array<{ pool_id: string; due_at: string; status: string }>;
    assert.equal(runs.length, 2 * dueTimes.length, JSON.stringify(runs));
    assert.equal(new Set(runs.map((r) => `${r.pool_id} ${r.due_at}`)).size, runs.length, 'one run per pool and due time');
    assert.ok(runs.every((r) => r.status === 'succeeded'), JSON.stringify(runs));
  });
});
