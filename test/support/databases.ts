/**
 * Fresh metadata databases for tests, so one test body can run against SQLite and PostgreSQL.
 * PostgreSQL runs only when STRATA_TEST_POSTGRES_URL names a server where that login may create
 * databases (`npm test` starts one with scripts/start-test-postgres.sh when PostgreSQL is installed).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export type DatabaseKind = 'sqlite' | 'postgres';

export interface TestDatabase {
  kind: DatabaseKind;
  url: string;
  /** Removes the database; safe to call more than once. */
  drop(): Promise<void>;
}

const POSTGRES_URL_VARIABLE = 'STRATA_TEST_POSTGRES_URL';

function postgresAdminUrl(): string | null {
  const url = process.env[POSTGRES_URL_VARIABLE]?.trim();
  return url ? url : null;
}

/** The kinds to run against: always 'sqlite'; 'postgres' when STRATA_TEST_POSTGRES_URL is set. */
export function databaseKinds(): DatabaseKind[] {
  return postgresAdminUrl() === null ? ['sqlite'] : ['sqlite', 'postgres'];
}

/** Why postgres is skipped, or null when it runs (for test skip messages). */
export function postgresSkipReason(): string | null {
  if (postgresAdminUrl() !== null) return null;
  return (
    `PostgreSQL tests skipped: ${POSTGRES_URL_VARIABLE} is not set ` +
    '(`npm test` sets it when PostgreSQL is installed; see scripts/start-test-postgres.sh)'
  );
}

/**
 * A fresh, empty database of that kind. sqlite: `sqlite:<new temp dir>/meta.db` (drop removes the
 * dir). postgres: CREATE DATABASE strata_t_<random hex> through the admin URL, url is the same URL
 * with that database name; drop() terminates its connections and drops it.
 */
export async function createTestDatabase(kind: DatabaseKind): Promise<TestDatabase> {
  switch (kind) {
    case 'sqlite':
      return createSqliteDatabase();
    case 'postgres':
      return createPostgresDatabase();
  }
}

async function createSqliteDatabase(): Promise<TestDatabase> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-test-db-'));
  return {
    kind: 'sqlite',
    url: `sqlite:${join(dir, 'meta.db')}`,
    drop: () => rm(dir, { recursive: true, force: true }),
  };
}

async function createPostgresDatabase(): Promise<TestDatabase> {
  const adminUrl = postgresAdminUrl();
  if (adminUrl === null) throw new Error(postgresSkipReason() ?? `${POSTGRES_URL_VARIABLE} is not set`);
  // Hex only, so the name needs no quoting and stays far below the 63-byte identifier limit.
  const name = `strata_t_${randomBytes(8).toString('hex')}`;
  const url = withDatabaseName(adminUrl, name);
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  let dropped: Promise<void> | null = null;
  return {
    kind: 'postgres',
    url,
    drop: () => (dropped ??= dropPostgresDatabase(adminUrl, name)),
  };
}

async function dropPostgresDatabase(adminUrl: string, name: string): Promise<void> {
  await withClient(adminUrl, async (client) => {
    // A test that failed midway may leave a pool open on the database, which would block DROP.
    await client.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    );
    // FORCE (PostgreSQL 13+) also catches a connection that arrived after the terminate above.
    const { rows } = await client.query<{ server_version_num: string }>('SHOW server_version_num');
    const force = Number(rows[0]?.server_version_num) >= 130000 ? ' WITH (FORCE)' : '';
    await client.query(`DROP DATABASE IF EXISTS ${name}${force}`);
  });
}

/** The admin URL pointed at another database, keeping its credentials, host and parameters. */
function withDatabaseName(adminUrl: string, name: string): string {
  let url: URL;
  try {
    url = new URL(adminUrl);
  } catch {
    throw new Error(`${POSTGRES_URL_VARIABLE} must be a postgres://… URL`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new Error(`${POSTGRES_URL_VARIABLE} must be a postgres://… URL, not ${url.protocol}`);
  }
  url.pathname = `/${name}`;
  return url.toString();
}

async function withClient<T>(connectionString: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString });
  try {
    await client.connect();
    return await use(client);
  } finally {
    await client.end();
  }
}
