/**
 * What `/healthz` reports: `ok`, or `degraded` with the reasons the service cannot take writes
 * now. Each reason clears by itself when its cause goes (space freed, database back), except a
 * storage failure of the pool, which needs a restart. Reasons name no paths: the route needs
 * no token.
 */
import { sql } from 'kysely';
import type { Db } from '../db/index.js';
import { limits } from '../lib/limits.js';
import { freeBytesOf } from '../storage/file.js';

export interface HealthReport {
  status: 'ok' | 'degraded';
  reasons: string[];
}

export interface HealthSources {
  db: Db;
  /** The pool's own view (failure, commits held back for want of space). */
  engine?: { health(): { writable: boolean; reasons: string[] } };
  /** The directory of the pool's data file: below the reserve, data writes are refused. */
  poolDir?: string;
}

export async function checkHealth(sources: HealthSources): Promise<HealthReport> {
  const reasons: string[] = [];
  if (sources.poolDir !== undefined) {
    const free = await freeBytesOf(sources.poolDir).catch(() => null);
    if (free === null) reasons.push('disk: the free space of the pool cannot be read');
    // Data writes are refused once growing the pool by a chunk would cut into the reserve.
    else if (free < limits.dataWriteFreeBytesMin + limits.chunkSizeBytesMax) reasons.push('disk full: writes that need new space fail with NO_SPACE until space is freed');
  }
  if (sources.engine !== undefined) reasons.push(...sources.engine.health().reasons);
  if (!(await databaseAnswers(sources.db))) reasons.push('metadata database unreachable');
  return reasons.length === 0 ? { status: 'ok', reasons } : { status: 'degraded', reasons };
}

async function databaseAnswers(db: Db): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), limits.control.healthCheckTimeoutMs);
  });
  try {
    return await Promise.race([sql`select 1`.execute(db).then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
