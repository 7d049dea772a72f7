/**
 * A typed client of the native API over fetch. Request and response types are the API's own
 * TypeBox schemas (`Static<typeof S.X>`), so a change of the API's shapes is a type error here
 * and in every caller (the CLI, tests). Failures are `ApiError`s carrying the registered code.
 */
import type { Static } from '@sinclair/typebox';
import type * as S from '../api/native/schemas.js';

export type Volume = Static<typeof S.Volume>;
export type Snapshot = Static<typeof S.Snapshot>;
export type Job = Static<typeof S.Job>;
export type Policy = Static<typeof S.Policy>;
export type PolicyRun = Static<typeof S.PolicyRun>;
export type Group = Static<typeof S.Group>;
export type GroupSnapshot = Static<typeof S.GroupSnapshot>;

/** A non-2xx answer: the API's error body, or a transport failure (status 0, code UNAVAILABLE). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Query = Record<string, string | number | boolean | undefined>;

export interface ClientOptions {
  /** The service's base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  token?: string;
}

export class StrataClient {
  readonly url: string;
  token: string | undefined;

  constructor(options: ClientOptions) {
    this.url = options.url.replace(/\/+$/, '');
    this.token = options.token;
  }

  /** One request under /api/v1; the parsed body, or null for 204. */
  async request<T>(method: string, path: string, options: { query?: Query; body?: unknown } = {}): Promise<T> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(options.query ?? {})) if (value !== undefined) search.set(key, String(value));
    const qs = search.size > 0 ? `?${search}` : '';
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${this.url}/api/v1${path}${qs}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
    } catch (error) {
      throw new ApiError(0, 'UNAVAILABLE', `cannot reach ${this.url}: ${error instanceof Error ? (error.cause as Error | undefined)?.message ?? error.message : String(error)}`);
    }
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      throw new ApiError(response.status, 'INTERNAL', `${method} ${path}: the answer is not JSON (HTTP ${response.status})`);
    }
    if (response.ok) return parsed as T;
    const error = (parsed as { error?: { code?: string; message?: string; field?: string } } | null)?.error;
    throw new ApiError(response.status, error?.code ?? 'INTERNAL', error?.message ?? `HTTP ${response.status}`, error?.field);
  }

  private id(value: string): string {
    return encodeURIComponent(value);
  }

  // Identity.
  login = (body: Static<typeof S.TokenRequest>) => this.request<Static<typeof S.TokenResponse>>('POST', '/auth/tokens', { body });
  currentToken = () => this.request<Static<typeof S.CurrentTokenResponse>>('GET', '/auth/tokens/current');
  revokeToken = (id: string) => this.request<null>('DELETE', `/auth/tokens/${this.id(id)}`);
  listProjects = () => this.request<Static<typeof S.ProjectList>>('GET', '/projects');
  getProject = (id: string) => this.request<Static<typeof S.ProjectResponse>>('GET', `/projects/${this.id(id)}`);
  createProject = (body: Static<typeof S.ProjectCreate>) => this.request<Static<typeof S.ProjectResponse>>('POST', '/projects', { body });
  updateProject = (id: string, body: Static<typeof S.ProjectUpdate>) => this.request<Static<typeof S.ProjectResponse>>('PATCH', `/projects/${this.id(id)}`, { body });
  deleteProject = (id: string) => this.request<null>('DELETE', `/projects/${this.id(id)}`);
  getQuotas = (projectId: string) => this.request<Static<typeof S.QuotaResponse>>('GET', `/projects/${this.id(projectId)}/quotas`);
  setQuotas = (projectId: string, body: Static<typeof S.QuotaUpdate>) => this.request<Static<typeof S.QuotaResponse>>('PUT', `/projects/${this.id(projectId)}/quotas`, { body });
  listUsers = (query: Static<typeof S.UserListQuery> = {}) => this.request<Static<typeof S.UserList>>('GET', '/users', { query });
  getUser = (id: string) => this.request<Static<typeof S.UserResponse>>('GET', `/users/${this.id(id)}`);
  createUser = (body: Static<typeof S.UserCreate>) => this.request<Static<typeof S.UserResponse>>('POST', '/users', { body });
  updateUser = (id: string, body: Static<typeof S.UserUpdate>) => this.request<Static<typeof S.UserResponse>>('PATCH', `/users/${this.id(id)}`, { body });
  deleteUser = (id: string) => this.request<null>('DELETE', `/users/${this.id(id)}`);

  // Volumes.
  listVolumes = (query: Static<typeof S.VolumeListQuery> = {}) => this.request<Static<typeof S.VolumeList>>('GET', '/volumes', { query });
  getVolume = (id: string) => this.request<Static<typeof S.VolumeResponse>>('GET', `/volumes/${this.id(id)}`);
  createVolume = (body: Static<typeof S.VolumeCreate>) => this.request<Static<typeof S.VolumeResponse>>('POST', '/volumes', { body });
  updateVolume = (id: string, body: Static<typeof S.VolumeUpdate>) => this.request<Static<typeof S.VolumeResponse>>('PATCH', `/volumes/${this.id(id)}`, { body });
  deleteVolume = (id: string, query: Static<typeof S.VolumeDeleteQuery> = {}) => this.request<Static<typeof S.JobResponse>>('DELETE', `/volumes/${this.id(id)}`, { query });
  flattenVolume = (id: string) => this.request<Static<typeof S.JobResponse>>('POST', `/volumes/${this.id(id)}/flatten`, { body: {} });
  diffVolume = (id: string, query: Static<typeof S.DiffQuery> = {}) => this.request<Static<typeof S.DiffResponse>>('GET', `/volumes/${this.id(id)}/diff`, { query });
  snapshotTree = (id: string) => this.request<Static<typeof S.SnapshotTree>>('GET', `/volumes/${this.id(id)}/snapshot-tree`);
  createSnapshot = (volumeId: string, body: Static<typeof S.SnapshotCreate>) => this.request<Static<typeof S.SnapshotResponse>>('POST', `/volumes/${this.id(volumeId)}/snapshots`, { body });
  attachVolume = (id: string, body: Static<typeof S.VolumeAttachmentCreate> = {}) => this.request<Static<typeof S.AttachmentResponse>>('POST', `/volumes/${this.id(id)}/attachments`, { body });

  // Snapshots.
  listSnapshots = (query: Static<typeof S.SnapshotListQuery> = {}) => this.request<Static<typeof S.SnapshotList>>('GET', '/snapshots', { query });
  getSnapshot = (id: string) => this.request<Static<typeof S.SnapshotResponse>>('GET', `/snapshots/${this.id(id)}`);
  updateSnapshot = (id: string, body: Static<typeof S.SnapshotUpdate>) => this.request<Static<typeof S.SnapshotResponse>>('PATCH', `/snapshots/${this.id(id)}`, { body });
  deleteSnapshot = (id: string) => this.request<Static<typeof S.JobResponse>>('DELETE', `/snapshots/${this.id(id)}`);
  revertSnapshot = (id: string, body: Static<typeof S.RevertRequest> = {}) => this.request<Static<typeof S.RevertResponse>>('POST', `/snapshots/${this.id(id)}/revert`, { body });
  cloneSnapshot = (id: string, body: Static<typeof S.CloneRequest>) => this.request<Static<typeof S.VolumeResponse>>('POST', `/snapshots/${this.id(id)}/clone`, { body });
  diffSnapshot = (id: string, query: Static<typeof S.DiffQuery> = {}) => this.request<Static<typeof S.DiffResponse>>('GET', `/snapshots/${this.id(id)}/diff`, { query });
  attachSnapshot = (id: string) => this.request<Static<typeof S.AttachmentResponse>>('POST', `/snapshots/${this.id(id)}/attachments`, { body: {} });

  // Attachments and jobs.
  listAttachments = (query: Static<typeof S.AttachmentListQuery> = {}) => this.request<Static<typeof S.AttachmentList>>('GET', '/attachments', { query });
  getAttachment = (id: string) => this.request<Static<typeof S.AttachmentResponse>>('GET', `/attachments/${this.id(id)}`);
  deleteAttachment = (id: string) => this.request<null>('DELETE', `/attachments/${this.id(id)}`);
  listJobs = (query: Static<typeof S.JobListQuery> = {}) => this.request<Static<typeof S.JobList>>('GET', '/jobs', { query });
  getJob = (id: string) => this.request<Static<typeof S.JobResponse>>('GET', `/jobs/${this.id(id)}`);

  // Groups and group snapshots.
  listGroups = (query: Static<typeof S.GroupListQuery> = {}) => this.request<Static<typeof S.GroupList>>('GET', '/groups', { query });
  getGroup = (id: string) => this.request<Static<typeof S.GroupResponse>>('GET', `/groups/${this.id(id)}`);
  createGroup = (body: Static<typeof S.GroupCreate>) => this.request<Static<typeof S.GroupResponse>>('POST', '/groups', { body });
  updateGroup = (id: string, body: Static<typeof S.GroupUpdate>) => this.request<Static<typeof S.GroupResponse>>('PATCH', `/groups/${this.id(id)}`, { body });
  deleteGroup = (id: string) => this.request<null>('DELETE', `/groups/${this.id(id)}`);
  addGroupVolumes = (id: string, body: Static<typeof S.GroupMembersAdd>) => this.request<Static<typeof S.GroupResponse>>('POST', `/groups/${this.id(id)}/volumes`, { body });
  removeGroupVolume = (id: string, volumeId: string) => this.request<Static<typeof S.GroupResponse>>('DELETE', `/groups/${this.id(id)}/volumes/${this.id(volumeId)}`);
  createGroupSnapshot = (groupId: string, body: Static<typeof S.GroupSnapshotCreate>) => this.request<Static<typeof S.GroupSnapshotResponse>>('POST', `/groups/${this.id(groupId)}/snapshots`, { body });
  listGroupSnapshots = (query: Static<typeof S.GroupSnapshotListQuery> = {}) => this.request<Static<typeof S.GroupSnapshotList>>('GET', '/group-snapshots', { query });
  getGroupSnapshot = (id: string) => this.request<Static<typeof S.GroupSnapshotResponse>>('GET', `/group-snapshots/${this.id(id)}`);
  updateGroupSnapshot = (id: string, body: Static<typeof S.GroupSnapshotUpdate>) => this.request<Static<typeof S.GroupSnapshotResponse>>('PATCH', `/group-snapshots/${this.id(id)}`, { body });
  deleteGroupSnapshot = (id: string) => this.request<Static<typeof S.JobResponse>>('DELETE', `/group-snapshots/${this.id(id)}`);
  revertGroupSnapshot = (id: string, body: Static<typeof S.RevertRequest> = {}) => this.request<Static<typeof S.JobResponse>>('POST', `/group-snapshots/${this.id(id)}/revert`, { body });
  cloneGroupSnapshot = (id: string, body: Static<typeof S.GroupCloneRequest>) => this.request<Static<typeof S.GroupCloneResponse>>('POST', `/group-snapshots/${this.id(id)}/clone`, { body });

  // Snapshot policies.
  listPolicies = (query: Static<typeof S.PolicyListQuery> = {}) => this.request<Static<typeof S.PolicyList>>('GET', '/policies', { query });
  getPolicy = (id: string) => this.request<Static<typeof S.PolicyResponse>>('GET', `/policies/${this.id(id)}`);
  createPolicy = (body: Static<typeof S.PolicyCreate>) => this.request<Static<typeof S.PolicyResponse>>('POST', '/policies', { body });
  updatePolicy = (id: string, body: Static<typeof S.PolicyUpdate>) => this.request<Static<typeof S.PolicyResponse>>('PATCH', `/policies/${this.id(id)}`, { body });
  deletePolicy = (id: string) => this.request<null>('DELETE', `/policies/${this.id(id)}`);
  policyRuns = (id: string, query: Static<typeof S.PolicyRunListQuery> = {}) => this.request<Static<typeof S.PolicyRunList>>('GET', `/policies/${this.id(id)}/runs`, { query });

  /**
   * Polls a job until it ends, reporting its progress (0 to 1); resolves with the final job
   * (succeeded or failed: the caller decides what a failure means).
   */
  async waitJob(id: string, onProgress: (job: Job) => void = () => undefined, intervalMs = 200): Promise<Job> {
    for (;;) {
      const { job } = await this.getJob(id);
      onProgress(job);
      if (job.status === 'succeeded' || job.status === 'failed') return job;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
