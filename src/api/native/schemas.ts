/**
 * Every request and response of the native API as a TypeBox schema: the single source of
 * validation, of the handlers' types, and of the OpenAPI document at /api/v1/openapi.json.
 * Request bodies reject unknown fields; ids are UUIDs; sizes are bytes.
 */
import { type TSchema, Type as T } from '@sinclair/typebox';
import { limits } from '../../lib/limits.js';
import { notReserved } from '../reserved-keys.js';

const c = limits.control;

export const Id = T.String({ format: 'uuid', description: 'a UUID' });
export const Name = T.String({ minLength: 1, maxLength: c.nameLengthMax });
export const Description = T.String({ maxLength: c.descriptionLengthMax });
export const Timestamp = T.String({ format: 'date-time' });
export const Nullable = <S extends TSchema>(schema: S, description?: string) => T.Union([schema, T.Null()], description === undefined ? {} : { description });
export const SizeBytes = T.Integer({
  minimum: limits.volumeSizeBytesMin,
  maximum: limits.volumeSizeBytesMax,
  multipleOf: limits.volumeSizeBytesAlignment,
  description: 'bytes; a multiple of 4096',
});
export const Metadata = T.Record(T.String(), T.String({ maxLength: c.metadataValueLengthMax }), {
  maxProperties: c.metadataEntriesMax,
  // Reserved names (`constructor`, `__proto__`, `prototype`) never become object keys.
  propertyNames: { minLength: 1, maxLength: c.metadataKeyLengthMax, ...notReserved },
  description: `string keys (1 to ${c.metadataKeyLengthMax} characters) to string values`,
});
export const Role = T.Union([T.Literal('admin'), T.Literal('member'), T.Literal('reader')]);
export const Force = T.Boolean({ description: 'go ahead even though a volume has a read-write attachment' });

const strict = { additionalProperties: false } as const;

export const IdParams = T.Object({ id: Id }, strict);
/** For routes that take no query parameters: unknown keys are refused, not ignored. */
export const NoQuery = T.Object({}, strict);
/**
 * Marks a body schema as optional: a request with no body at all is valid (the route takes
 * its defaults), while a body that is present must match. `app.ts`'s validator honours it.
 */
export const optionalBodyKey = 'x-strata-optional-body';
export function optionalBody<S extends TSchema>(schema: S): S {
  return { ...schema, [optionalBodyKey]: true };
}
/** For POST routes that take no fields. */
export const NoBody = optionalBody(T.Object({}, strict));
export const GroupMemberParams = T.Object({ id: Id, volume_id: Id }, strict);

export const ListQuery = {
  limit: T.Optional(T.Integer({ minimum: 1, maximum: c.listLimitMax, description: `page size (default ${c.listLimitDefault})` })),
  page_token: T.Optional(T.String({ minLength: 1, maxLength: 512, description: 'next_page_token of the previous page' })),
  order: T.Optional(T.Union([T.Literal('asc'), T.Literal('desc')])),
};
export const NextPageToken = Nullable(T.String({ description: 'pass as page_token for the next page; null on the last page' }));

export const ErrorResponse = T.Object(
  {
    error: T.Object({
      code: T.String({ description: 'UPPER_SNAKE_CASE code, see docs/errors.md' }),
      message: T.String(),
      request_id: T.String(),
      field: T.Optional(T.String({ description: 'the request field at fault' })),
    }),
  },
  { description: 'every non-2xx answer' },
);

// Identity.

export const TokenRequest = T.Object(
  { name: Name, password: T.String({ minLength: 1, maxLength: c.passwordLengthMax }), project: T.Optional(T.String({ minLength: 1, maxLength: c.nameLengthMax, description: 'project id or name (admins only, for another project)' })) },
  strict,
);
const TokenUser = T.Object({ id: Id, name: T.String() });
const TokenProject = T.Object({ id: Id, name: T.String() });
export const TokenResponse = T.Object({ token: T.String(), id: Id, expires_at: Timestamp, user: TokenUser, project: TokenProject, roles: T.Array(Role) });
export const CurrentTokenResponse = T.Object({ id: Id, expires_at: Timestamp, user: TokenUser, project: TokenProject, roles: T.Array(Role) });

export const Project = T.Object({ id: Id, name: T.String(), description: T.String(), created_at: Timestamp });
export const ProjectCreate = T.Object({ name: Name, description: T.Optional(Description) }, strict);
export const ProjectUpdate = T.Object({ name: T.Optional(Name), description: T.Optional(Description) }, strict);
export const ProjectResponse = T.Object({ project: Project });
export const ProjectList = T.Object({ projects: T.Array(Project) });

const QuotaValue = T.Integer({ minimum: -1, maximum: 1e15, description: '-1 is unlimited' });
export const QuotaLimits = T.Object({ volumes: QuotaValue, snapshots: QuotaValue, gigabytes: QuotaValue, snapshots_per_volume: QuotaValue });
export const QuotaUpdate = T.Object(
  { volumes: T.Optional(QuotaValue), snapshots: T.Optional(QuotaValue), gigabytes: T.Optional(QuotaValue), snapshots_per_volume: T.Optional(QuotaValue) },
  strict,
);
export const QuotaResponse = T.Object({
  quotas: T.Object({
    project_id: Id,
    limits: QuotaLimits,
    usage: T.Object({ volumes: T.Integer(), snapshots: T.Integer(), gigabytes: T.Integer() }),
  }),
});

export const User = T.Object({ id: Id, name: T.String(), project_id: Id, role: Role, created_at: Timestamp });
export const UserCreate = T.Object(
  { name: Name, password: T.String({ minLength: c.passwordLengthMin, maxLength: c.passwordLengthMax }), project_id: Id, role: Role },
  strict,
);
export const UserUpdate = T.Object(
  {
    password: T.Optional(T.String({ minLength: c.passwordLengthMin, maxLength: c.passwordLengthMax })),
    current_password: T.Optional(T.String({ minLength: 1, maxLength: c.passwordLengthMax, description: 'required to change your own password' })),
    role: T.Optional(Role),
  },
  strict,
);
export const UserResponse = T.Object({ user: User });
export const UserList = T.Object({ users: T.Array(User) });
export const UserListQuery = T.Object({ project_id: T.Optional(Id) }, strict);

// Volumes.

export const VolumeStatus = T.Union(['creating', 'available', 'in-use', 'restoring', 'deleting', 'error'].map((s) => T.Literal(s)));
export const Volume = T.Object({
  id: Id,
  project_id: Id,
  name: T.String(),
  description: T.String(),
  size_bytes: T.Integer(),
  status: VolumeStatus,
  source_snapshot_id: Nullable(Id),
  group_id: Nullable(Id),
  metadata: T.Record(T.String(), T.String()),
  created_at: Timestamp,
  updated_at: Timestamp,
  allocated_bytes: T.Optional(Nullable(T.Integer({ description: 'bytes of pool storage the volume and its snapshots reference (show only)' }))),
  clone_depth: T.Optional(Nullable(T.Integer({ description: 'origins a read may fall through; 0 when flat (show only)' }))),
  snapshot_count: T.Optional(T.Integer()),
});
export const VolumeCreate = T.Object(
  { name: Name, size_bytes: T.Optional(SizeBytes), description: T.Optional(Description), source_snapshot_id: T.Optional(Id), metadata: T.Optional(Metadata) },
  strict,
);
export const VolumeUpdate = T.Object(
  { name: T.Optional(Name), description: T.Optional(Description), size_bytes: T.Optional(SizeBytes), metadata: T.Optional(Metadata) },
  strict,
);
export const VolumeResponse = T.Object({ volume: Volume });
export const VolumeListQuery = T.Object(
  {
    ...ListQuery,
    sort: T.Optional(T.Union([T.Literal('created_at'), T.Literal('name'), T.Literal('size_bytes'), T.Literal('status')])),
    status: T.Optional(VolumeStatus),
    name: T.Optional(Name),
    group_id: T.Optional(Id),
  },
  strict,
);
export const VolumeList = T.Object({ volumes: T.Array(Volume), next_page_token: NextPageToken });
export const VolumeDeleteQuery = T.Object({ cascade: T.Optional(T.Boolean({ description: 'delete the volume snapshots too' })) }, strict);

// Snapshots.

export const SnapshotStatus = T.Union(['creating', 'available', 'deleting', 'error', 'error_deleting'].map((s) => T.Literal(s)));
export const Snapshot = T.Object({
  id: Id,
  project_id: Id,
  volume_id: Id,
  name: T.String(),
  description: T.String(),
  metadata: T.Record(T.String(), T.String()),
  size_bytes: T.Integer(),
  status: SnapshotStatus,
  parent_id: Nullable(Id),
  group_snapshot_id: Nullable(Id),
  policy_id: Nullable(Id, 'the snapshot policy that took it; null when taken by hand'),
  created_at: Timestamp,
  updated_at: Timestamp,
  children_ids: T.Optional(T.Array(Id, { description: 'snapshots whose parent this is (show only)' })),
  exclusive_bytes: T.Optional(Nullable(T.Integer({ description: 'bytes that deleting this snapshot would free (show only)' }))),
});
export const SnapshotCreate = T.Object({ name: Name, description: T.Optional(Description), metadata: T.Optional(Metadata) }, strict);
export const SnapshotUpdate = T.Object({ name: T.Optional(Name), description: T.Optional(Description), metadata: T.Optional(Metadata) }, strict);
export const SnapshotResponse = T.Object({ snapshot: Snapshot });
const snapshotFilters = {
  ...ListQuery,
  sort: T.Optional(T.Union([T.Literal('created_at'), T.Literal('name'), T.Literal('size_bytes'), T.Literal('status')])),
  status: T.Optional(SnapshotStatus),
  name: T.Optional(Name),
  group_snapshot_id: T.Optional(Id),
  policy_id: T.Optional(Id),
  created_after: T.Optional(Timestamp),
  created_before: T.Optional(Timestamp),
};
export const SnapshotListQuery = T.Object({ ...snapshotFilters, volume_id: T.Optional(Id) }, strict);
export const VolumeSnapshotListQuery = T.Object(snapshotFilters, strict);
export const SnapshotList = T.Object({ snapshots: T.Array(Snapshot), next_page_token: NextPageToken });
export const RevertRequest = T.Object({ force: T.Optional(Force) }, strict);
export const CloneRequest = T.Object({ name: Name, description: T.Optional(Description), size_bytes: T.Optional(SizeBytes) }, strict);
export const DiffQuery = T.Object({ from: T.Optional(Id) }, strict);
export const DiffResponse = T.Object({
  extents: T.Array(T.Object({ offset: T.Integer(), length: T.Integer() })),
  block_size_bytes: T.Integer({ description: 'extents are aligned to this' }),
});
export const SnapshotTree = T.Object({
  volume_id: Id,
  root_ids: T.Array(Id, { description: 'snapshots without a parent' }),
  head_parent_id: Nullable(
    T.String({
      format: 'uuid',
      description: 'the snapshot the live volume descends from: the last one taken, or the one last reverted to (null: none yet, or the volume lives in another instance)',
    }),
  ),
  snapshots: T.Array(Snapshot, { description: 'every snapshot of the volume, each with parent_id, children_ids and exclusive_bytes' }),
});

// Jobs.

export const JobStatus = T.Union([T.Literal('queued'), T.Literal('running'), T.Literal('succeeded'), T.Literal('failed')]);
export const Job = T.Object({
  id: Id,
  kind: T.String(),
  status: JobStatus,
  progress: T.Number({ minimum: 0, maximum: 1, description: 'fraction done' }),
  target: T.Object({ type: T.String(), id: Id }),
  error: T.Optional(T.Object({ code: T.String(), message: T.String() })),
  created_at: Timestamp,
  started_at: Nullable(Timestamp),
  finished_at: Nullable(Timestamp),
});
export const JobResponse = T.Object({ job: Job });
export const JobListQuery = T.Object({ ...ListQuery, status: T.Optional(JobStatus), kind: T.Optional(T.String({ maxLength: 64 })), target_id: T.Optional(Id) }, strict);
export const JobList = T.Object({ jobs: T.Array(Job), next_page_token: NextPageToken });
export const RevertResponse = T.Object({ job: Job, volume: Volume });

// Attachments.

export const Mode = T.Union([T.Literal('rw'), T.Literal('ro')]);
export const Attachment = T.Object({
  id: Id,
  uri: Nullable(T.String({ description: 'nbd://HOST:PORT/EXPORT, or nbds:// when NBD requires TLS; the export name is the capability. null for a reader on a read-write attachment' })),
  mode: Mode,
  volume_id: Nullable(Id),
  snapshot_id: Nullable(Id),
  created_at: Timestamp,
});
export const VolumeAttachmentCreate = T.Object({ mode: T.Optional(Mode) }, strict);
export const SnapshotAttachmentCreate = T.Object({ mode: T.Optional(T.Literal('ro')) }, strict);
export const AttachmentResponse = T.Object({ attachment: Attachment });
export const AttachmentListQuery = T.Object({ ...ListQuery, volume_id: T.Optional(Id), snapshot_id: T.Optional(Id) }, strict);
export const AttachmentList = T.Object({ attachments: T.Array(Attachment), next_page_token: NextPageToken });

// Groups.

export const GroupStatus = T.Union([T.Literal('available'), T.Literal('deleting'), T.Literal('error')]);
export const VolumeIds = T.Array(Id, { maxItems: limits.groupVolumesMax });
export const Group = T.Object({
  id: Id,
  project_id: Id,
  name: T.String(),
  description: T.String(),
  status: GroupStatus,
  volume_ids: T.Array(Id),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export const GroupCreate = T.Object({ name: Name, description: T.Optional(Description), volume_ids: T.Optional(VolumeIds) }, strict);
export const GroupUpdate = T.Object(
  { name: T.Optional(Name), description: T.Optional(Description), add_volume_ids: T.Optional(VolumeIds), remove_volume_ids: T.Optional(VolumeIds) },
  strict,
);
export const GroupMembersAdd = T.Object({ volume_ids: T.Array(Id, { minItems: 1, maxItems: limits.groupVolumesMax }) }, strict);
export const GroupResponse = T.Object({ group: Group });
export const GroupListQuery = T.Object({ ...ListQuery, sort: T.Optional(T.Union([T.Literal('created_at'), T.Literal('name')])), name: T.Optional(Name) }, strict);
export const GroupList = T.Object({ groups: T.Array(Group), next_page_token: NextPageToken });

export const GroupSnapshotStatus = T.Union(['creating', 'available', 'restoring', 'deleting', 'error', 'error_deleting'].map((s) => T.Literal(s)));
export const GroupSnapshot = T.Object({
  id: Id,
  project_id: Id,
  group_id: Nullable(Id),
  name: T.String(),
  description: T.String(),
  status: GroupSnapshotStatus,
  fence_held_ms: Nullable(T.Number({ description: 'how long new writes to the members were held' })),
  policy_id: Nullable(Id, 'the snapshot policy that took it; null when taken by hand'),
  snapshots: T.Array(Snapshot),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export const GroupSnapshotCreate = T.Object({ name: Name, description: T.Optional(Description) }, strict);
export const GroupSnapshotUpdate = T.Object({ name: T.Optional(Name), description: T.Optional(Description) }, strict);
export const GroupSnapshotResponse = T.Object({ group_snapshot: GroupSnapshot });
export const GroupSnapshotListQuery = T.Object(
  { ...ListQuery, sort: T.Optional(T.Union([T.Literal('created_at'), T.Literal('name')])), group_id: T.Optional(Id), status: T.Optional(GroupSnapshotStatus) },
  strict,
);
export const GroupSnapshotList = T.Object({ group_snapshots: T.Array(GroupSnapshot), next_page_token: NextPageToken });
export const GroupCloneRequest = T.Object({ name: Name, description: T.Optional(Description) }, strict);
export const GroupCloneResponse = T.Object({ job: Job, group: Group });

// Snapshot policies.

const RetentionCount = T.Integer({ minimum: 0, maximum: c.retentionCountMax });
export const Retention = T.Object(
  {
    keep_last: T.Optional({ ...RetentionCount, description: 'keep the n newest' }),
    hourly: T.Optional({ ...RetentionCount, description: 'keep the newest of each of the n most recent hours that have one' }),
    daily: T.Optional({ ...RetentionCount, description: 'the same per day (in the policy time zone)' }),
    weekly: T.Optional({ ...RetentionCount, description: 'the same per ISO week' }),
    monthly: T.Optional({ ...RetentionCount, description: 'the same per month' }),
    yearly: T.Optional({ ...RetentionCount, description: 'the same per year' }),
  },
  { ...strict, description: 'grandfather-father-son rules; a snapshot any rule keeps is kept' },
);
const PolicyName = T.String({ minLength: 1, maxLength: c.policyNameLengthMax, description: 'also the prefix of the snapshots it takes: NAME-20261203T110000Z' });
const Cron = T.String({ minLength: 1, maxLength: 256, description: 'five fields (minute hour day month weekday), or six with seconds first' });
const TimeZone = T.String({ minLength: 1, maxLength: 64, description: 'IANA time zone the cron expression and the retention periods are read in (default UTC)' });
const PolicyTargets = T.Array(Id, { maxItems: c.policyTargetsMax });
export const Policy = T.Object({
  id: Id,
  project_id: Id,
  name: T.String(),
  cron: T.String(),
  timezone: T.String(),
  retention: Retention,
  volume_ids: T.Array(Id),
  group_ids: T.Array(Id),
  next_due_at: Nullable(Timestamp, 'the next due time; null when the expression never fires again'),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export const PolicyCreate = T.Object(
  { name: PolicyName, cron: Cron, timezone: T.Optional(TimeZone), retention: Retention, volume_ids: T.Optional(PolicyTargets), group_ids: T.Optional(PolicyTargets) },
  strict,
);
export const PolicyUpdate = T.Object(
  {
    name: T.Optional(PolicyName),
    cron: T.Optional(Cron),
    timezone: T.Optional(TimeZone),
    retention: T.Optional(Retention),
    volume_ids: T.Optional(PolicyTargets),
    group_ids: T.Optional(PolicyTargets),
  },
  strict,
);
export const PolicyResponse = T.Object({ policy: Policy });
export const PolicyListQuery = T.Object({ ...ListQuery, sort: T.Optional(T.Union([T.Literal('created_at'), T.Literal('name')])), name: T.Optional(PolicyName) }, strict);
export const PolicyList = T.Object({ policies: T.Array(Policy), next_page_token: NextPageToken });
const RunEntry = T.Object({
  target_type: T.Union([T.Literal('volume'), T.Literal('group')]),
  target_id: T.String(),
  snapshot_id: T.Optional(Id),
  job_id: T.Optional(Id),
  reason: T.Optional(T.String()),
  code: T.Optional(T.String()),
  message: T.Optional(T.String()),
});
export const PolicyRun = T.Object({
  id: Id,
  policy_id: Id,
  pool_id: T.String(),
  due_at: Timestamp,
  status: T.Union([T.Literal('running'), T.Literal('succeeded'), T.Literal('failed')]),
  missed_due_times: T.Integer({ description: 'due times missed while the service was stopped; this run was their one catch-up' }),
  taken: T.Array(RunEntry, { description: 'snapshots (group snapshots for groups) taken' }),
  pruned: T.Array(RunEntry, { description: 'snapshots the retention rules removed, each with its delete job' }),
  kept_back: T.Array(RunEntry, { description: 'snapshots retention would remove but kept, with the reason (a clone was made from it)' }),
  skipped: T.Array(RunEntry, { description: 'volumes and groups not snapshotted, with the reason (error, deleting)' }),
  failures: T.Array(RunEntry, { description: 'refusals (quota, state), each with its error code' }),
  started_at: Timestamp,
  finished_at: Nullable(Timestamp),
});
export const PolicyRunListQuery = T.Object(ListQuery, strict);
export const PolicyRunList = T.Object({ runs: T.Array(PolicyRun), next_page_token: NextPageToken });

/** Standard error responses per route, for the OpenAPI document. */
export function errors(...statuses: number[]): Record<number, typeof ErrorResponse> {
  const all = [400, 401, ...statuses];
  return Object.fromEntries(all.map((s) => [s, ErrorResponse]));
}
