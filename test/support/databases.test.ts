import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, databaseKinds, postgresSkipReason } from './databases.js';

async function postgresDatabaseExists(name: string): Promise<boolean> {
  const admin = new pg.Client({ connectionString: process.env.STRATA_TEST_POSTGRES_URL });
  try {
    await admin.connect();
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    return rowCount === 1;
  } finally {
    await admin.end();
  }
}

test('databaseKinds always includes sqlite, and postgres exactly when it is not skipped', () => {
  const kinds = databaseKinds();
  assert.equal(kinds[0], 'sqlite');
  assert.equal(kinds.includes('postgres'), postgresSkipReason() === null);
});

test('createTestDatabase(sqlite) gives a file URL in a new directory that drop() removes', async () => {
  const database = await createTestDatabase('sqlite');
  assert.equal(database.kind, 'sqlite');
  assert.match(database.url, /^sqlite:\/.+\/meta\.db$/);
  const dir = dirname(database.url.slice('sqlite:'.length));
  assert.ok(existsSync(dir));
  await database.drop();
  assert.ok(!existsSync(dir));
});

test('createTestDatabase(postgres) gives a fresh database that drop() removes', { skip: postgresSkipReason() ?? false }, async () => {
  const database = await createTestDatabase('postgres');
  const name = new URL(database.url).pathname.slice(1);
  try {
    assert.equal(database.kind, 'postgres');
    assert.match(name, /^strata_t_[0-9a-f]+$/);
    assert.ok(await postgresDatabaseExists(name));

    const client = new pg.Client({ connectionString: database.url });
    try {
      await client.connect();
      const { rows: [current] } = await client.query<{ name: string }>('SELECT current_database() AS name');
      assert.equal(current?.name, name);
      const { rows: tables } = await client.query("SELECT 1 FROM pg_tables WHERE schemaname = 'public'");
      assert.equal(tables.length, 0, 'a new database starts empty');
      await client.query('CREATE TABLE volumes (id integer PRIMARY KEY, name text NOT NULL)');
      await client.query('INSERT INTO volumes (id, name) VALUES ($1, $2)', [1, 'vol-a']);
      const { rows } = await client.query('SELECT id, name FROM volumes');
      assert.deepEqual(rows, [{ id: 1, name: 'vol-a' }]);
    } finally {
      await client.end();
    }

    // A connection still open (as after a failed test) must not stop drop().
    const lingering = new pg.Client({ connectionString: database.url });
    const lingeringErrors: Error[] = [];
    lingering.on('error', (error) => lingeringErrors.push(error));
    const lingeringEnded = new Promise<void>((resolve) => lingering.once('end', resolve));
    await lingering.connect();
    await database.drop();
    await lingeringEnded;
    assert.match(lingeringErrors[0]?.message ?? '', /terminat/i);
    await lingering.end();

    assert.ok(!(await postgresDatabaseExists(name)), `${name} still exists after drop()`);
    await database.drop();
  } finally {
    await database.drop();
  }
});
