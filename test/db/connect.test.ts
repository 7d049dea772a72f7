/**
 * The metadata database survives PostgreSQL ending its idle connections (a server restart, an
 * administrator's pg_terminate_backend): the error is reported, not thrown, and the next query
 * gets a new connection.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { sql } from 'kysely';
import pg from 'pg';
import { openDatabase, type MetadataDatabase } from '../../src/db/index.js';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../support/databases.js';

describe('PostgreSQL idle connections', { skip: postgresSkipReason() ?? false }, () => {
  let testDb: TestDatabase;
  let database: MetadataDatabase;
  const reported: Error[] = [];
  before(async () => {
    testDb = await createTestDatabase('postgres');
    database = await openDatabase(testDb.url, { onIdleConnectionError: (error) => reported.push(error) });
  });
  after(async () => {
    await database?.close();
    await testDb?.drop();
  });

  test('a terminated idle connection is reported and the next query works', async () => {
    await sql`select 1`.execute(database.db);
    const name = new URL(testDb.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: process.env.STRATA_TEST_POSTGRES_URL });
    await admin.connect();
    try {
      const killed = await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [name]);
      assert.ok((killed.rowCount ?? 0) >= 1, 'an idle connection was there to end');
    } finally {
      await admin.end();
    }
    for (let i = 0; i < 50 && reported.length === 0; i++) await delay(20);
    assert.ok(reported.length >= 1, 'the ended connection was reported');
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(database.db);
    assert.equal(Number(rows[0].one), 1);
  });
});
