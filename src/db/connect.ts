/**
 * Opens the metadata database named by a URL and brings its schema to the latest migration.
 * - `sqlite:PATH` (or a bare path): an SQLite file, opened with WAL and a busy timeout.
 * - `postgres://…` / `postgresql://…`: a PostgreSQL pool; several Strata instances may share it.
 *   Connect, statement and idle-in-transaction timeouts come from limits.ts (postgresPool).
 */
import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';

type SqliteStatement = SqliteDatabase.Statement;
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Transaction } from 'kysely';
import pg from 'pg';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import { type DatabaseKind, migrationProvider } from './migrations.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;
export type DbTransaction = Transaction<Database>;

export interface MetadataDatabase {
  kind: DatabaseKind;
  db: Db;
  /** A printable form of the URL without its password. */
  displayUrl: string;
  close(): Promise<void>;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

export function parseDatabaseUrl(url: string): { kind: DatabaseKind; target: string } {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return { kind: 'postgres', target: url };
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path.length === 0) throw new StrataError('INVALID_ARGUMENT', 'sqlite: URL needs a file path');
    return { kind: 'sqlite', target: path };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) throw new StrataError('INVALID_ARGUMENT', `unsupported database URL ${url}: use sqlite:PATH or postgres://…`);
  return { kind: 'sqlite', target: url };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

export interface OpenDatabaseOptions {
  /**
   * Called when PostgreSQL ends an idle pooled connection (a server restart, an administrator
   * terminating it). The pool drops that connection and the next query opens another; without
   * a listener the error would be thrown out of an event emitter and end the process.
   */
  onIdleConnectionError?: (error: Error) => void;
}

export async function openDatabase(url: string, options: OpenDatabaseOptions = {}): Promise<MetadataDatabase> {
  const { kind, target } = parseDatabaseUrl(url);
  let db: Db;
  if (kind === 'sqlite') {
    const path = resolve(target);
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    makeSqliteFilesPrivate(path);
    const sqlite = new SqliteDatabase(path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite, limits.control.sqliteStatementCacheCountMax) }) });
  } else {
    const pool = postgresPool(target, limits.control.postgresStatementTimeoutMs);
    pool.on('error', (error) => options.onIdleConnectionError?.(error));
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  }
  try {
    await migrate(kind === 'sqlite' ? db : postgresMigrationDb(target), kind, kind === 'postgres');
  } catch (error) {
    await db.destroy();
    throw error;
  }
  return { kind, db, displayUrl: kind === 'sqlite' ? `sqlite:${resolve(target)}` : redact(target), close: () => db.destroy() };
}

/**
 * The SQLite handle Kysely sees, with prepared statements kept by their SQL text: Kysely
 * prepares every query anew, which was a fifth of the CPU of a snapshot create. The cache is
 * least-recently-used and bounded (queries with IN lists of many lengths make many texts). A
 * statement still iterating (a streamed query) is busy; that query gets a fresh one.
 */
export function withStatementCache(sqlite: SqliteDatabase.Database, countMax: number): { prepare(sql: string): SqliteStatement; close(): void } {
  const cache = new Map<string, SqliteStatement>();
  return {
    prepare(sql: string): SqliteStatement {
      const cached = cache.get(sql);
      if (cached !== undefined && !cached.busy) {
        cache.delete(sql);
        cache.set(sql, cached);
        return cached;
      }
      const statement = sqlite.prepare(sql);
      if (cached === undefined) {
        cache.set(sql, statement);
        if (cache.size > countMax) cache.delete(cache.keys().next().value!);
      }
      return statement;
    },
    close() {
      cache.clear();
      sqlite.close();
    },
  };
}

/**
 * A PostgreSQL pool whose connections are bounded: connecting (and waiting for a free
 * connection) times out, and every session starts with a statement timeout and an
 * idle-in-transaction timeout, so a stalled server or a forgotten transaction cannot hold a
 * request, a row lock or a pooled connection for ever.
 */
function postgresPool(target: string, statementTimeoutMs: number): pg.Pool {
  const c = limits.control;
  return new pg.Pool({
    connectionString: target,
    max: c.postgresPoolConnectionsMax,
    connectionTimeoutMillis: c.postgresConnectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    idle_in_transaction_session_timeout: c.postgresIdleInTransactionTimeoutMs,
    keepAlive: true,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID || oid === NUMERIC_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
}

/** Migrations may build indexes over large tables: their own pool, without a statement timeout, ended when they are done. */
function postgresMigrationDb(target: string): Db {
  const pool = postgresPool(target, 0);
  pool.on('error', () => {});
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/**
 * The database holds password hashes and tokens: it is created 0600 before SQLite opens it
 * (SQLite gives its -wal and -shm files the database file's mode), and an existing one with
 * looser modes is tightened, whatever the umask.
 */
function makeSqliteFilesPrivate(path: string): void {
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    if (!existsSync(file)) continue;
    const stats = lstatSync(file);
    if (stats.isFile() && (stats.mode & 0o7777) !== 0o600) chmodSync(file, 0o600);
  }
}

/** `ownDb`: the migration's own database handle, destroyed when it is done. */
async function migrate(db: Db, kind: DatabaseKind, ownDb = false): Promise<void> {
  const migrator = new Migrator({ db, provider: migrationProvider(kind) });
  const { error, results } = await migrator.migrateToLatest().finally(() => (ownDb ? db.destroy() : undefined));
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error');
    const reason = error instanceof Error ? error.message : String(error);
    throw new StrataError(
      'IO_ERROR',
      failed === undefined ? `cannot use the metadata database: ${reason}` : `metadata migration ${failed.migrationName} failed: ${reason}`,
    );
  }
}
