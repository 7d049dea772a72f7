/**
 * The database's clock, as the ISO text every time column holds (`2026-11-23T10:00:00.000Z`).
 * Leases are written and compared with it, so instances on hosts whose clocks disagree still
 * agree on when a lease expires: there is one clock, the database server's.
 */
import { type RawBuilder, sql } from 'kysely';
import type { DatabaseKind } from './migrations.js';

/** The database's time now, plus `offsetMs` (may be negative). */
export function databaseTime(kind: DatabaseKind, offsetMs = 0): RawBuilder<string> {
  const ms = Math.trunc(offsetMs);
  if (kind === 'postgres') {
    return sql<string>`to_char((statement_timestamp() + ${ms} * interval '1 millisecond') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  }
  // 'now' is read once per statement; the modifier is a bound '+N.NNN seconds'.
  return sql<string>`strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ${`${ms >= 0 ? '+' : '-'}${(Math.abs(ms) / 1000).toFixed(3)} seconds`})`;
}
