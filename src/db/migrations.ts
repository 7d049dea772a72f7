/**
 * The schema's migrations, one list for both databases. A migration may branch on the
 * dialect only where SQL differs (the auto-increment column); everything else is the same
 * statement on SQLite and PostgreSQL. Never edit a migration that has shipped: add one.
 */
import { type Kysely, type Migration, type MigrationProvider, type CreateTableBuilder, sql } from 'kysely';

export type DatabaseKind = 'sqlite' | 'postgres';

function withSeq<T extends string>(kind: DatabaseKind, table: CreateTableBuilder<T, never>): CreateTableBuilder<T, 'seq'> {
  return kind === 'sqlite'
    ? table.addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())
    : table.addColumn('seq', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity());
}

function initial(kind: DatabaseKind): Migration {
  return {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('pools')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('api_url', 'text', (c) => c.notNull())
        .addColumn('nbd_url', 'text', (c) => c.notNull())
        .addColumn('chunk_size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('seen_at', 'text', (c) => c.notNull())
        .execute();

      await withSeq(kind, db.schema.createTable('projects'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await withSeq(kind, db.schema.createTable('users'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await withSeq(kind, db.schema.createTable('tokens'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('token_hash', 'text', (c) => c.notNull().unique())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('quotas')
        .addColumn('project_id', 'text', (c) => c.primaryKey().references('projects.id').onDelete('cascade'))
        .addColumn('volumes', 'bigint', (c) => c.notNull())
        .addColumn('snapshots', 'bigint', (c) => c.notNull())
        .addColumn('gigabytes', 'bigint', (c) => c.notNull())
        .addColumn('snapshots_per_volume', 'bigint', (c) => c.notNull())
        .execute();

      await withSeq(kind, db.schema.createTable('groups'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await withSeq(kind, db.schema.createTable('volumes'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
        .addColumn('pool_id', 'text', (c) => c.notNull().references('pools.id'))
        .addColumn('engine_id', 'bigint')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('source_snapshot_id', 'text')
        .addColumn('group_id', 'text', (c) => c.references('groups.id'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await withSeq(kind, db.schema.createTable('group_snapshots'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
        .addColumn('group_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('fence_held_ms', 'double precision')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await withSeq(kind, db.schema.createTable('snapshots'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
        .addColumn('pool_id', 'text', (c) => c.notNull().references('pools.id'))
        .addColumn('volume_id', 'text', (c) => c.notNull().references('volumes.id'))
        .addColumn('engine_id', 'bigint')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('metadata', 'text', (c) => c.notNull())
        .addColumn('size_bytes', 'bigint', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('parent_id', 'text')
        .addColumn('group_snapshot_id', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();

      await withSeq(kind, db.schema.createTable('attachments'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
        .addColumn('pool_id', 'text', (c) => c.notNull().references('pools.id'))
        .addColumn('volume_id', 'text')
        .addColumn('snapshot_id', 'text')
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('export_name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();

      await withSeq(kind, db.schema.createTable('jobs'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('project_id', 'text', (c) => c.notNull().references('projects.id'))
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('target_type', 'text', (c) => c.notNull())
        .addColumn('target_id', 'text', (c) => c.notNull())
        .addColumn('params', 'text', (c) => c.notNull())
        .addColumn('progress_done', 'bigint', (c) => c.notNull())
        .addColumn('progress_total', 'bigint', (c) => c.notNull())
        .addColumn('error_code', 'text')
        .addColumn('error_message', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text')
        .addColumn('finished_at', 'text')
        .execute();

      const indexes: Array<[string, string, string[]]> = [
        ['volumes_project_created', 'volumes', ['project_id', 'created_at', 'seq']],
        ['volumes_group', 'volumes', ['group_id']],
        ['volumes_pool', 'volumes', ['pool_id', 'status']],
        ['snapshots_project_created', 'snapshots', ['project_id', 'created_at', 'seq']],
        ['snapshots_volume', 'snapshots', ['volume_id', 'created_at', 'seq']],
        ['snapshots_group_snapshot', 'snapshots', ['group_snapshot_id']],
        ['snapshots_pool', 'snapshots', ['pool_id', 'status']],
        ['snapshots_parent', 'snapshots', ['parent_id']],
        ['group_snapshots_group', 'group_snapshots', ['group_id', 'created_at']],
        ['attachments_volume', 'attachments', ['volume_id']],
        ['attachments_snapshot', 'attachments', ['snapshot_id']],
        ['attachments_pool', 'attachments', ['pool_id']],
        ['jobs_pool_status', 'jobs', ['pool_id', 'status']],
        ['jobs_project_created', 'jobs', ['project_id', 'created_at', 'seq']],
        ['tokens_user', 'tokens', ['user_id']],
      ];
      for (const [name, table, columns] of indexes) {
        await db.schema.createIndex(name).on(table).columns(columns).execute();
      }
      void sql;
    },
  };
}

/**
 * What the platform dialects need: volume metadata (Cinder, EVS), and a second password
 * verifier for clients that send SHA-512(password) instead of the password (ZStack); and
 * indexes that keep snapshot creation and name-sorted lists from scanning a project.
 */
const dialectSupport: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.alterTable('volumes').addColumn('metadata', 'text', (c) => c.notNull().defaultTo('{}')).execute();
    await db.schema.alterTable('users').addColumn('password_sha512_hash', 'text').execute();
    // Parent lookups by engine id, and name-sorted pages, without scanning the project.
    await db.schema.createIndex('snapshots_pool_engine').on('snapshots').columns(['pool_id', 'engine_id']).execute();
    await db.schema.createIndex('snapshots_project_name').on('snapshots').columns(['project_id', 'name', 'seq']).execute();
    await db.schema.createIndex('volumes_project_name').on('volumes').columns(['project_id', 'name', 'seq']).execute();
  },
};

/** Which user created a volume or snapshot (Cinder's user_id); null for rows from before. */
const createdBy: Migration = {
  async up(db: Kysely<any>) {
    await db.schema.alterTable('volumes').addColumn('created_by', 'text').execute();
    await db.schema.alterTable('snapshots').addColumn('created_by', 'text').execute();
  },
};

/**
 * Snapshot policies: the policies, their runs (one row per policy, pool and due time: the
 * unique index is how instances sharing a database claim a due time exactly once), and which
 * policy took a snapshot or group snapshot, for which due time (retention reads only those).
 */
function snapshotPolicies(kind: DatabaseKind): Migration {
  return {
    async up(db: Kysely<any>) {
      // No foreign key to projects: a project is deleted once it has no volumes or groups,
      // and a policy left without them takes nothing.
      await withSeq(kind, db.schema.createTable('policies'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('cron', 'text', (c) => c.notNull())
        .addColumn('timezone', 'text', (c) => c.notNull())
        .addColumn('retention', 'text', (c) => c.notNull())
        .addColumn('volume_ids', 'text', (c) => c.notNull())
        .addColumn('group_ids', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('schedule_from', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute();
      await withSeq(kind, db.schema.createTable('policy_runs'))
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('policy_id', 'text', (c) => c.notNull())
        .addColumn('project_id', 'text', (c) => c.notNull())
        .addColumn('pool_id', 'text', (c) => c.notNull())
        .addColumn('due_at', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('result', 'text', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('finished_at', 'text')
        .execute();
      await db.schema.createIndex('policy_runs_claim').unique().on('policy_runs').columns(['policy_id', 'pool_id', 'due_at']).execute();
      await db.schema.createIndex('policy_runs_policy_due').on('policy_runs').columns(['policy_id', 'due_at', 'seq']).execute();
      await db.schema.createIndex('policies_project_created').on('policies').columns(['project_id', 'created_at', 'seq']).execute();
      for (const table of ['snapshots', 'group_snapshots']) {
        await db.schema.alterTable(table).addColumn('policy_id', 'text').execute();
        await db.schema.alterTable(table).addColumn('policy_due_at', 'text').execute();
      }
      await db.schema.createIndex('snapshots_policy').on('snapshots').columns(['policy_id', 'volume_id']).execute();
      await db.schema.createIndex('group_snapshots_policy').on('group_snapshots').columns(['policy_id', 'group_id']).execute();
    },
  };
}

/**
 * Leases (ARCHITECTURE.md, C9): the instance running a job or a policy run, and until when
 * (database time, ISO text). Rows from before have none, which counts as expired: the first
 * instance of their pool to look takes them over.
 */
const leases: Migration = {
  async up(db: Kysely<any>) {
    for (const table of ['jobs', 'policy_runs']) {
      await db.schema.alterTable(table).addColumn('lease_owner', 'text').execute();
      await db.schema.alterTable(table).addColumn('lease_expires_at', 'text').execute();
    }
    await db.schema.createIndex('policy_runs_pool_status').on('policy_runs').columns(['pool_id', 'status']).execute();
  },
};

export function migrationProvider(kind: DatabaseKind): MigrationProvider {
  return {
    async getMigrations() {
      return {
        '0001_initial': initial(kind),
        '0002_dialect_support': dialectSupport,
        '0003_created_by': createdBy,
        '0004_snapshot_policies': snapshotPolicies(kind),
        '0005_leases': leases,
      };
    },
  };
}
