/**
 * Small helpers every service uses on the metadata database: ids, clock, the compare-and-swap
 * status transition, project-scoped lookups, and row locks that serialize per-resource work.
 */
import { randomUUID } from 'node:crypto';
import { type RawBuilder, type SqlBool, sql } from 'kysely';
import type { Db, DbTransaction } from '../db/index.js';
import type { DatabaseKind } from '../db/index.js';
import { StrataError } from '../lib/errors.js';
import { type ActionOf, resettableFrom, type StatefulTable, transitionTables, type Transition } from './transitions.js';

export type Executor = Db | DbTransaction;

export function newId(): string {
  return randomUUID();
}

export function nowIso(): string {
  return new Date().toISOString();
}

const nouns: Record<StatefulTable, string> = {
  volumes: 'volume',
  snapshots: 'snapshot',
  groups: 'group',
  group_snapshots: 'group snapshot',
};

/**
 * Applies one row of the transition table as a compare-and-swap. Throws NOT_FOUND when the
 * row is gone and INVALID_STATE (with the current status) when another request got there first.
 */
export async function transition<T extends StatefulTable>(
  db: Executor,
  table: T,
  id: string,
  action: ActionOf<T>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const rule = (transitionTables[table] as Record<string, Transition<string>>)[action];
  const result = await (db as Db)
    .updateTable(table as 'volumes')
    .set({ ...extra, status: rule.to, updated_at: nowIso() } as never)
    .where('id', '=', id)
    .where('status', 'in', rule.from as string[])
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 1) return;
  const row = await (db as Db).selectFrom(table as 'volumes').select('status').where('id', '=', id).executeTakeFirst();
  if (row === undefined) throw new StrataError('NOT_FOUND', `${nouns[table]} ${id} does not exist`);
  throw new StrataError('INVALID_STATE', `${nouns[table]} ${id} is ${row.status}; ${action} needs ${rule.from.join(' or ')}`, {
    status: row.status,
  });
}

/**
 * Changes a resource's metadata map in one transaction (read, `change`, write) under a row
 * lock, so concurrent key-level changes (Cinder's metadata routes) never lose one another.
 * `change` may throw to refuse; it must return the whole new map.
 */
export async function modifyMetadata(
  db: Db,
  kind: DatabaseKind,
  table: 'volumes' | 'snapshots',
  scope: { id: string; projectId: string },
  change: (current: Record<string, string>) => Record<string, string>,
): Promise<Record<string, string>> {
  return db.transaction().execute(async (tx) => {
    await lockRow(tx, kind, table, scope.id);
    const row = await tx
      .selectFrom(table as 'snapshots')
      .select('metadata')
      .where('id', '=', scope.id)
      .where('project_id', '=', scope.projectId)
      .executeTakeFirst();
    if (row === undefined) throw notFound(table === 'volumes' ? 'volume' : 'snapshot', scope.id);
    const next = change(JSON.parse(row.metadata) as Record<string, string>);
    await tx
      .updateTable(table as 'snapshots')
      .set({ metadata: JSON.stringify(next), updated_at: nowIso() })
      .where('id', '=', scope.id)
      .execute();
    return next;
  });
}

/** An admin's status reset (see `resettableFrom` in transitions.ts), as a compare-and-swap. */
export async function resetStatus(db: Executor, table: keyof typeof resettableFrom, id: string, status: string): Promise<void> {
  const result = await (db as Db)
    .updateTable(table as 'snapshots')
    .set({ status, updated_at: nowIso() })
    .where('id', '=', id)
    .where('status', 'in', [...resettableFrom[table]])
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) === 1) return;
  const row = await (db as Db).selectFrom(table as 'snapshots').select('status').where('id', '=', id).executeTakeFirst();
  if (row === undefined) throw new StrataError('NOT_FOUND', `${nouns[table]} ${id} does not exist`);
  throw new StrataError('INVALID_STATE', `${nouns[table]} ${id} is ${row.status}, which a running job owns`, { status: row.status });
}

/**
 * Applies one row of the transition table to every row where `column = value` (the members of
 * a group snapshot, the snapshots of a volume, …); rows in other statuses are left alone.
 * Returns how many changed.
 */
export async function transitionAll<T extends StatefulTable>(
  db: Executor,
  table: T,
  column: 'volume_id' | 'group_snapshot_id' | 'pool_id',
  value: string,
  action: ActionOf<T>,
): Promise<number> {
  const rule = (transitionTables[table] as Record<string, Transition<string>>)[action];
  const result = await (db as Db)
    .updateTable(table as 'snapshots')
    .set({ status: rule.to, updated_at: nowIso() })
    .where(column as 'volume_id', '=', value)
    .where('status', 'in', rule.from as string[])
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/**
 * A condition: the row's metadata (a JSON text column) has every given key with exactly the
 * given value. JSON is read differently by the two databases, so this is the second place
 * (with row locks) where core branches on the dialect.
 */
export function metadataContains(kind: DatabaseKind, table: 'volumes' | 'snapshots', wanted: Record<string, string>): RawBuilder<SqlBool> {
  const column = sql.ref(`${table}.metadata`);
  const conditions = Object.entries(wanted).map(([key, value]) =>
    kind === 'postgres'
      ? sql<SqlBool>`(${column}::jsonb ->> ${key}) = ${value}`
      : sql<SqlBool>`exists (select 1 from json_each(${column}) where json_each.key = ${key} and json_each.type = 'text' and json_each.value = ${value})`,
  );
  return conditions.length === 0 ? sql<SqlBool>`1 = 1` : sql<SqlBool>`(${sql.join(conditions, sql` and `)})`;
}

/** Serializes transactions that touch one row (PostgreSQL; SQLite transactions are already serial). */
export async function lockRow(db: DbTransaction, kind: DatabaseKind, table: 'volumes' | 'projects' | 'groups' | 'snapshots', id: string): Promise<void> {
  if (kind !== 'postgres') return;
  await db
    .selectFrom(table as 'volumes')
    .select('id')
    .where('id', '=', id)
    .forUpdate()
    .execute();
}

export function notFound(noun: string, id: string): StrataError {
  return new StrataError('NOT_FOUND', `${noun} ${id} does not exist`);
}
