/**
 * Per-project quotas: volumes, snapshots, gigabytes (volume and snapshot sizes, each rounded
 * up to whole GiB, as Cinder counts them) and snapshots per volume. -1 is unlimited.
 *
 * `reserve` runs inside the transaction that inserts the new rows, after locking the project
 * row (PostgreSQL; SQLite transactions are serial), so two concurrent creates cannot both fit
 * under the same last unit of quota, and a refused request has created nothing.
 */
import { sql } from 'kysely';
import type { DbTransaction, QuotaRow } from '../db/index.js';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import { type Caller, type CoreDeps, requireAdmin } from './context.js';
import { lockRow, notFound, type Executor } from './store.js';

const GiB = 1024 * 1024 * 1024;

export interface QuotaLimits {
  volumes: number;
  snapshots: number;
  gigabytes: number;
  snapshots_per_volume: number;
}

export const defaultQuotas: QuotaLimits = {
  volumes: limits.control.quotaVolumesDefault,
  snapshots: limits.control.quotaSnapshotsDefault,
  gigabytes: limits.control.quotaGigabytesDefault,
  snapshots_per_volume: limits.control.quotaSnapshotsPerVolumeDefault,
};

export interface QuotaUsage {
  volumes: number;
  snapshots: number;
  gigabytes: number;
}

export interface QuotaSet {
  projectId: string;
  limits: QuotaLimits;
  usage: QuotaUsage;
}

export interface QuotaRequest {
  volumes?: number;
  snapshots?: number;
  /** Bytes of new volumes and snapshots (rounded up per item by the caller with `gibOf`). */
  gigabytes?: number;
  /** New snapshots per volume id. */
  snapshotsPerVolume?: Map<string, number>;
}

export function gibOf(sizeBytes: number): number {
  return Math.ceil(sizeBytes / GiB);
}

export class QuotaService {
  constructor(private readonly deps: CoreDeps) {}

  async get(caller: Caller, projectId: string): Promise<QuotaSet> {
    if (caller.role !== 'admin' && projectId !== caller.projectId) throw notFound('project', projectId);
    const row = await this.deps.db.selectFrom('quotas').selectAll().where('project_id', '=', projectId).executeTakeFirst();
    if (row === undefined) throw notFound('project', projectId);
    return { projectId, limits: pickLimits(row), usage: await usageOf(this.deps.db, projectId) };
  }

  async set(caller: Caller, projectId: string, input: Partial<QuotaLimits>): Promise<QuotaSet> {
    requireAdmin(caller);
    await this.get(caller, projectId);
    const set = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
    if (Object.keys(set).length > 0) await this.deps.db.updateTable('quotas').set(set).where('project_id', '=', projectId).execute();
    return this.get(caller, projectId);
  }

  /** Refuses with QUOTA_EXCEEDED unless the request fits; call inside the creating transaction. */
  async reserve(tx: DbTransaction, projectId: string, request: QuotaRequest): Promise<void> {
    await lockRow(tx, this.deps.dbKind, 'projects', projectId);
    const row = await tx.selectFrom('quotas').selectAll().where('project_id', '=', projectId).executeTakeFirstOrThrow();
    // Count only what a finite limit needs: each count is an index scan of the project.
    const check = async (name: keyof QuotaLimits, wanted: number | undefined, count: () => Promise<number>) => {
      const limit = Number(row[name]);
      if (wanted === undefined || wanted <= 0 || limit < 0) return;
      const used = await count();
      if (used + wanted > limit) {
        throw new StrataError('QUOTA_EXCEEDED', `quota ${name} of project ${projectId} is ${limit}; ${used} used, ${wanted} more requested`, {
          quota: name,
          limit,
          used,
          requested: wanted,
        });
      }
    };
    await check('volumes', request.volumes, () => countRows(tx, 'volumes', 'project_id', projectId));
    await check('snapshots', request.snapshots, () => countRows(tx, 'snapshots', 'project_id', projectId));
    await check('gigabytes', request.gigabytes, async () => (await usageOf(tx, projectId)).gigabytes);
    for (const [volumeId, wanted] of request.snapshotsPerVolume ?? []) {
      await check('snapshots_per_volume', wanted, () => countRows(tx, 'snapshots', 'volume_id', volumeId));
    }
  }
}

async function countRows(db: Executor, table: 'volumes' | 'snapshots', column: 'project_id' | 'volume_id', value: string): Promise<number> {
  const counted = await db
    .selectFrom(table as 'snapshots')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where(column, '=', value)
    .executeTakeFirstOrThrow();
  return Number(counted.n);
}

function pickLimits(row: QuotaRow): QuotaLimits {
  return { volumes: Number(row.volumes), snapshots: Number(row.snapshots), gigabytes: Number(row.gigabytes), snapshots_per_volume: Number(row.snapshots_per_volume) };
}

async function usageOf(db: Executor, projectId: string): Promise<QuotaUsage> {
  const gib = sql<number>`coalesce(sum((size_bytes + ${GiB - 1}) / ${GiB}), 0)`;
  const volumes = await db
    .selectFrom('volumes')
    .select((eb) => [eb.fn.countAll<number>().as('n'), gib.as('g')])
    .where('project_id', '=', projectId)
    .executeTakeFirstOrThrow();
  const snapshots = await db
    .selectFrom('snapshots')
    .select((eb) => [eb.fn.countAll<number>().as('n'), gib.as('g')])
    .where('project_id', '=', projectId)
    .executeTakeFirstOrThrow();
  return { volumes: Number(volumes.n), snapshots: Number(snapshots.n), gigabytes: Number(volumes.g) + Number(snapshots.g) };
}
