/**
 * Shared by the native API route tests (native.test.ts, native-groups.test.ts): sizes, fixed
 * ids, the error-body and shape assertions, and the response shapes of interface.md.
 */
import assert from 'node:assert/strict';
import type { Response } from './harness.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const password = 'password-123';
export const missingId = '00000000-0000-4000-8000-000000000000';
/** Routes of these OpenAPI tags are covered by native-groups.test.ts. */
export const groupTags = ['groups', 'group snapshots'];


export const show = (r: Response) => `HTTP ${r.status} ${JSON.stringify(r.body)}`;

export function expectOk(r: Response, status: number): any {
  assert.equal(r.status, status, show(r));
  return r.body;
}

/** A non-2xx answer with `{error: {code, message, request_id, field?}}` and X-Request-Id = request_id. */
export function expectError(r: Response, status: number, code: string, field?: string): void {
  assert.equal(r.status, status, show(r));
  const error = r.body?.error;
  assert.equal(error?.code, code, show(r));
  assert.ok(typeof error.message === 'string' && error.message.length > 0, `message: ${show(r)}`);
  assert.ok(typeof error.request_id === 'string' && error.request_id.length > 0, `request_id: ${show(r)}`);
  assert.equal(r.headers['x-request-id'], error.request_id, `X-Request-Id header ${String(r.headers['x-request-id'])}: ${show(r)}`);
  if (field !== undefined) assert.equal(error.field, field, `field: ${show(r)}`);
}

export const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const typeChecks: Record<string, (v: unknown) => boolean> = {
  uuid: (v) => typeof v === 'string' && uuidPattern.test(v),
  string: (v) => typeof v === 'string',
  integer: (v) => Number.isSafeInteger(v),
  number: (v) => typeof v === 'number' && Number.isFinite(v),
  time: (v) => typeof v === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(v) && !Number.isNaN(Date.parse(v)),
  array: (v) => Array.isArray(v),
  object: (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
  null: (v) => v === null,
};

/** Every key of `spec` is present with a value of one of its `|`-separated types. */
export function expectShape(value: unknown, spec: Record<string, string>, context: string): void {
  assert.ok(typeChecks.object(value), `not an object: ${JSON.stringify(value)} in ${context}`);
  for (const [key, type] of Object.entries(spec)) {
    const v = (value as Record<string, unknown>)[key];
    assert.ok(type.split('|').some((t) => typeChecks[t](v)), `${key} should be ${type}, is ${JSON.stringify(v)} in ${context}`);
  }
}

export const shapes = {
  volume: {
    id: 'uuid', project_id: 'uuid', name: 'string', description: 'string', size_bytes: 'integer', status: 'string',
    source_snapshot_id: 'uuid|null', group_id: 'uuid|null', created_at: 'time', updated_at: 'time',
  },
  volumeDetail: { allocated_bytes: 'integer|null', clone_depth: 'integer|null', snapshot_count: 'integer' },
  snapshot: {
    id: 'uuid', project_id: 'uuid', volume_id: 'uuid', name: 'string', description: 'string', metadata: 'object', size_bytes: 'integer',
    status: 'string', parent_id: 'uuid|null', group_snapshot_id: 'uuid|null', created_at: 'time', updated_at: 'time',
  },
  snapshotDetail: { children_ids: 'array', exclusive_bytes: 'integer|null' },
  job: { id: 'uuid', kind: 'string', status: 'string', progress: 'number', target: 'object', created_at: 'time', started_at: 'time|null', finished_at: 'time|null' },
  attachment: { id: 'uuid', uri: 'string', mode: 'string', volume_id: 'uuid|null', snapshot_id: 'uuid|null', created_at: 'time' },
  token: { token: 'string', id: 'uuid', expires_at: 'time', user: 'object', project: 'object', roles: 'array' },
  current: { id: 'uuid', expires_at: 'time', user: 'object', project: 'object', roles: 'array' },
  named: { id: 'uuid', name: 'string' },
  project: { id: 'uuid', name: 'string', description: 'string', created_at: 'time' },
  user: { id: 'uuid', name: 'string', project_id: 'uuid', role: 'string', created_at: 'time' },
  quotas: { project_id: 'uuid', limits: 'object', usage: 'object' },
  quotaLimits: { volumes: 'integer', snapshots: 'integer', gigabytes: 'integer', snapshots_per_volume: 'integer' },
  quotaUsage: { volumes: 'integer', snapshots: 'integer', gigabytes: 'integer' },
  diff: { extents: 'array', block_size_bytes: 'integer' },
  group: { id: 'uuid', project_id: 'uuid', name: 'string', description: 'string', status: 'string', volume_ids: 'array', created_at: 'time', updated_at: 'time' },
  groupSnapshot: {
    id: 'uuid', project_id: 'uuid', group_id: 'uuid', name: 'string', description: 'string', status: 'string', fence_held_ms: 'number|null',
    snapshots: 'array', created_at: 'time', updated_at: 'time',
  },
} satisfies Record<string, Record<string, string>>;
