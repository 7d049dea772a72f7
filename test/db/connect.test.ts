/**
 * The metadata database survives PostgreSQL ending its idle connections (a server restart, an
 * administrator's pg_terminate_backend): the error is reported, not thrown, and the next query
 * gets a new connection. Its sessions are bounded: statement and idle-in-transaction timeouts
 * on every pooled connection, and a connect timeout against a server that never answers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { sql } from 'kysely';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { openDatabase, type MetadataDatabase } from '../../src/db/index.js';
import { withStatementCache } from '../../src/db/connect.js';
import { limits } from '../../src/lib/limits.js';
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

describe('PostgreSQL sessions are bounded', { skip: postgresSkipReason() ?? false }, () => {
  let testDb: TestDatabase;
  let database: MetadataDatabase;
  before(async () => {
    testDb = await createTestDatabase('postgres');
    database = await openDatabase(testDb.url);
  });
  after(async () => {
    await database?.close();
    await testDb?.drop();
  });

  test('every pooled connection has the statement and idle-in-transaction timeouts of limits.ts', async () => {
    const c = limits.control;
    // Several at once, so more than one pooled connection answers; one inside a transaction.
    const shows = Array.from({ length: 4 }, () => sql<{ statement_timeout: string }>`show statement_timeout`.execute(database.db));
    const inTransaction = database.db.transaction().execute(async (tx) => (await sql<{ idle_in_transaction_session_timeout: string }>`show idle_in_transaction_session_timeout`.execute(tx)).rows[0]);
    for (const result of await Promise.all(shows)) assert.equal(result.rows[0].statement_timeout, `${c.postgresStatementTimeoutMs / 1000}s`);
    assert.equal((await inTransaction).idle_in_transaction_session_timeout, `${c.postgresIdleInTransactionTimeoutMs / 60_000}min`);
  });

  test('a statement longer than the statement timeout is cancelled by the server', async () => {
    // The session's own timeout, shortened for this transaction only, proves the server enforces it.
    await assert.rejects(
      database.db.transaction().execute(async (tx) => {
        await sql`set local statement_timeout = 200`.execute(tx);
        await sql`select pg_sleep(5)`.execute(tx);
      }),
      /statement timeout/,
    );
  });
});

test('connecting to a server that never answers fails after the connect timeout instead of hanging', async () => {
  // A TCP listener that accepts and says nothing, as a stalled PostgreSQL would.
  const sockets: Socket[] = [];
  const server = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  try {
    const patienceMs = limits.control.postgresConnectTimeoutMs + 20_000;
    const outcome = await Promise.race([
      openDatabase(`postgres://strata:secret@127.0.0.1:${port}/strata`).then(
        async (database) => {
          await database.close();
          return 'opened';
        },
        (error: Error) => `failed: ${error.message}`,
      ),
      delay(patienceMs).then(() => 'still waiting'),
    ]);
    assert.match(outcome, /^failed: .*timeout/i, `openDatabase against a silent server: ${outcome}`);
  } finally {
    for (const socket of sockets) socket.destroy();
    server.close();
  }
});

describe('SQLite statement cache', () => {
  it('reuses a statement by its text, drops the least recently used beyond the bound, and never hands out a busy one', () => {
    const sqlite = new SqliteDatabase(':memory:');
    const cached = withStatementCache(sqlite, 2);
    try {
      cached.prepare('CREATE TABLE t (n INTEGER)').run();
      cached.prepare('INSERT INTO t VALUES (1), (2), (3)').run();
      const a = cached.prepare('SELECT n FROM t ORDER BY n');
      assert.equal(cached.prepare('SELECT n FROM t ORDER BY n'), a, 'the same text was prepared again');
      const iterating = a.iterate();
      assert.deepEqual(iterating.next().value, { n: 1 });
      const whileBusy = cached.prepare('SELECT n FROM t ORDER BY n');
      assert.notEqual(whileBusy, a, 'a statement still iterating was handed out again');
      assert.deepEqual(whileBusy.all(), [{ n: 1 }, { n: 2 }, { n: 3 }]);
      iterating.return?.();
      cached.prepare('SELECT 1');
      cached.prepare('SELECT 2');
      assert.notEqual(cached.prepare('SELECT n FROM t ORDER BY n'), a, 'the least recently used statement was kept beyond the bound');
    } finally {
      cached.close();
    }
    assert.equal(sqlite.open, false, 'close did not close the database');
  });
});
