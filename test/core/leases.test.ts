/**
 * Job leases on both databases (ARCHITECTURE.md, C9): the database clock leases are written
 * with, and takeover of expired leases by instances of one pool racing for them. The
 * PostgreSQL-only scenarios with dying instances are in test/api/shared-pool.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { databaseTime } from '../../src/db/index.js';
import { createHarness, type Harness } from '../api/harness.js';
import { createTestDatabase, databaseKinds, type TestDatabase } from '../support/databases.js';

for (const kind of databaseKinds()) {
  describe(`job leases on ${kind}`, () => {
    let database: TestDatabase;
    let a: Harness;
    let b: Harness;
    before(async () => {
      database = await createTestDatabase(kind);
      a = await createHarness(kind, { sharedDatabase: database, poolAccess: 'shared', timing: { jobLeaseRenewIntervalMs: 60_000 } });
      b = await createHarness(kind, { sharedDatabase: database, sharedPool: { engine: a.engine, poolId: a.plane.deps.poolId }, timing: { jobLeaseRenewIntervalMs: 60_000 } });
    });
    after(async () => {
      await b?.close();
      await a?.close();
      await database?.drop();
    });

    test('the database clock reads as the ISO text time columns hold, and offsets move it', async () => {
      const { rows } = await sql<{ now: string; later: string; earlier: string }>`select ${databaseTime(kind)} as now, ${databaseTime(kind, 90_500)} as later, ${databaseTime(kind, -90_500)} as earlier`.execute(a.database.db);
      const { now, later, earlier } = rows[0];
      for (const value of [now, later, earlier]) assert.match(value, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, value);
      assert.ok(Math.abs(Date.parse(now) - Date.now()) < 60_000, `database time ${now} is near this clock`);
      assert.equal(Date.parse(later) - Date.parse(now), 90_500, `${now} → ${later}`);
      assert.equal(Date.parse(now) - Date.parse(earlier), 90_500, `${earlier} → ${now}`);
    });

    test('expired leases are taken over by exactly one instance; live ones by none', async () => {
      const created = await a.request('POST', '/api/v1/volumes', { token: a.adminToken, body: { name: 'leased', size_bytes: 1 << 20 } });
      const caller = await a.plane.identity.authenticate(a.adminToken);
      const insert = async (expiresAt: string) => {
        const id = crypto.randomUUID();
        const now = new Date().toISOString();
        await a.database.db
          .insertInto('jobs')
          .values({ id, project_id: caller.projectId, pool_id: a.plane.deps.poolId, kind: 'flatten-volume', status: 'queued', target_type: 'volume', target_id: created.body.volume.id, params: '{}', progress_done: 0, progress_total: 0, error_code: null, error_message: null, created_at: now, started_at: null, finished_at: null, lease_owner: 'another-instance', lease_expires_at: expiresAt })
          .execute();
        return id;
      };
      const expired = [];
      for (let i = 0; i < 10; i++) expired.push(await insert(new Date(Date.now() - 60_000).toISOString()));
      const held = await insert(new Date(Date.now() + 3_600_000).toISOString());
      const taken = await Promise.all([a.plane.jobs.takeOver(), b.plane.jobs.takeOver(), a.plane.jobs.takeOver(), b.plane.jobs.takeOver()]);
      assert.equal(taken.reduce((x, y) => x + y, 0), expired.length, `taken per call: ${taken.join(', ')}`);
      await a.plane.jobs.idle();
      await b.plane.jobs.idle();
      const rows = await a.database.db.selectFrom('jobs').select(['id', 'status', 'lease_owner']).where('id', 'in', [...expired, held]).execute();
      for (const row of rows) {
        if (row.id === held) {
          assert.deepEqual([row.status, row.lease_owner], ['queued', 'another-instance'], 'a live lease is left alone');
        } else {
          assert.equal(row.status, 'succeeded', JSON.stringify(row));
          assert.ok(row.lease_owner === a.plane.instanceId || row.lease_owner === b.plane.instanceId, JSON.stringify(row));
        }
      }
    });
  });
}
