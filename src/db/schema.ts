/**
 * The metadata database's tables, as Kysely sees them. One schema for SQLite and PostgreSQL;
 * src/db/migrations.ts creates it. Conventions:
 * - `id` is the public id (a UUID, text); `seq` is a per-table increasing integer used where a
 *   platform wants numeric ids and as the tie-breaker of stable sorts.
 * - Times are ISO 8601 UTC strings with milliseconds (`2026-11-23T10:00:00.000Z`): they sort
 *   as text and read the same from both databases.
 * - Byte counts are integers (PostgreSQL bigint, parsed to numbers: every size is ≤ 2^53).
 * - JSON columns hold text.
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

export interface PoolsTable {
  id: string;
  api_url: string;
  nbd_url: string;
  chunk_size_bytes: number;
  created_at: string;
  seen_at: string;
}

export interface ProjectsTable {
  seq: Generated<number>;
  id: string;
  name: string;
  description: string;
  created_at: string;
}

export interface UsersTable {
  seq: Generated<number>;
  id: string;
  name: string;
  project_id: string;
  role: 'admin' | 'member' | 'reader';
  password_hash: string;
  /** scrypt of the hex SHA-512 of the password, for clients that log in with that digest (ZStack). */
  password_sha512_hash: string | null;
  created_at: string;
}

export interface TokensTable {
  seq: Generated<number>;
  id: string;
  /** SHA-256 of the token, hex: the token itself is never stored. */
  token_hash: string;
  user_id: string;
  project_id: string;
  expires_at: string;
  revoked_at: string | null;
  created_at: string;
}

export interface QuotasTable {
  project_id: string;
  /** -1 means unlimited. */
  volumes: number;
  snapshots: number;
  gigabytes: number;
  snapshots_per_volume: number;
}

export interface VolumesTable {
  seq: Generated<number>;
  id: string;
  project_id: string;
  pool_id: string;
  /** The engine's volume id; null until the engine has created it. */
  engine_id: number | null;
  name: string;
  description: string;
  size_bytes: number;
  status: string;
  source_snapshot_id: string | null;
  group_id: string | null;
  /** JSON object of string → string. */
  metadata: Generated<string>;
  /** The user who created it (null for rows from before this was recorded). */
  created_by: Generated<string | null>;
  created_at: string;
  updated_at: string;
}

export interface SnapshotsTable {
  seq: Generated<number>;
  id: string;
  project_id: string;
  pool_id: string;
  volume_id: string;
  engine_id: number | null;
  name: string;
  description: string;
  /** JSON object of string → string. */
  metadata: string;
  size_bytes: number;
  status: string;
  parent_id: string | null;
  group_snapshot_id: string | null;
  /** The policy that took it and the due time it was taken for (null: taken by hand). */
  policy_id: Generated<string | null>;
  policy_due_at: Generated<string | null>;
  created_by: Generated<string | null>;
  created_at: string;
  updated_at: string;
}

export interface GroupsTable {
  seq: Generated<number>;
  id: string;
  project_id: string;
  name: string;
  description: string;
  status: string;
  created_at: string;
  updated_at: string;
}

export interface GroupSnapshotsTable {
  seq: Generated<number>;
  id: string;
  project_id: string;
  /** '' for a group snapshot of an ad-hoc set of volumes (no group). */
  group_id: string;
  name: string;
  description: string;
  status: string;
  fence_held_ms: number | null;
  policy_id: Generated<string | null>;
  policy_due_at: Generated<string | null>;
  created_at: string;
  updated_at: string;
}

export interface AttachmentsTable {
  seq: Generated<number>;
  id: string;
  project_id: string;
  pool_id: string;
  volume_id: string | null;
  snapshot_id: string | null;
  mode: 'rw' | 'ro';
  export_name: string;
  created_at: string;
}

export interface JobsTable {
  seq: Generated<number>;
  id: string;
  project_id: string;
  pool_id: string;
  kind: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  target_type: string;
  target_id: string;
  /** JSON: what the job needs to run again after a restart. */
  params: string;
  progress_done: number;
  progress_total: number;
  error_code: string | null;
  error_message: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  /** The instance running it (random per process start); null: nobody yet. */
  lease_owner: Generated<string | null>;
  /** Database time until which that instance holds it; null or past: any instance of the pool may take it. */
  lease_expires_at: Generated<string | null>;
}

export interface PoliciesTable {
  seq: Generated<number>;
  id: string;
  project_id: string;
  name: string;
  /** Five fields, or six with seconds first. */
  cron: string;
  /** IANA time zone the cron expression and the retention periods are read in. */
  timezone: string;
  /** JSON: the retention rules as the API spells them (keep_last, hourly, …). */
  retention: string;
  /** JSON arrays of ids. */
  volume_ids: string;
  group_ids: string;
  /** The user whose project and name the policy acts with. */
  created_by: string;
  /** Due times at or before this are never run (creation, or the last change of schedule). */
  schedule_from: string;
  created_at: string;
  updated_at: string;
}

export interface PolicyRunsTable {
  seq: Generated<number>;
  id: string;
  policy_id: string;
  project_id: string;
  /** The pool whose volumes the run covered: one run per policy, pool and due time. */
  pool_id: string;
  due_at: string;
  status: 'running' | 'succeeded' | 'failed';
  /** JSON: what was taken, pruned, kept back, skipped, and the failures. */
  result: string;
  started_at: string;
  finished_at: string | null;
  /** As for jobs: the instance making the run, and until when; a run whose lease expired is marked failed. */
  lease_owner: Generated<string | null>;
  lease_expires_at: Generated<string | null>;
}

export interface Database {
  policies: PoliciesTable;
  policy_runs: PolicyRunsTable;
  pools: PoolsTable;
  projects: ProjectsTable;
  users: UsersTable;
  tokens: TokensTable;
  quotas: QuotasTable;
  volumes: VolumesTable;
  snapshots: SnapshotsTable;
  groups: GroupsTable;
  group_snapshots: GroupSnapshotsTable;
  attachments: AttachmentsTable;
  jobs: JobsTable;
}

export type ProjectRow = Selectable<ProjectsTable>;
export type UserRow = Selectable<UsersTable>;
export type TokenRow = Selectable<TokensTable>;
export type QuotaRow = Selectable<QuotasTable>;
export type VolumeRow = Selectable<VolumesTable>;
export type SnapshotRow = Selectable<SnapshotsTable>;
export type GroupRow = Selectable<GroupsTable>;
export type GroupSnapshotRow = Selectable<GroupSnapshotsTable>;
export type AttachmentRow = Selectable<AttachmentsTable>;
export type JobRow = Selectable<JobsTable>;
export type PolicyRow = Selectable<PoliciesTable>;
export type PolicyRunRow = Selectable<PolicyRunsTable>;
export type NewVolume = Insertable<VolumesTable>;
export type VolumeUpdate = Updateable<VolumesTable>;
