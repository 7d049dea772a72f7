/**
 * Cinder v3 snapshots (also EVS's Cinder-compatible `/v2|v3/{project_id}/snapshots`): list,
 * detailed list, create, show, update, delete, metadata, and the admin actions
 * os-reset_status and os-force_delete. Sources: Cinder api-ref volumes-v3-snapshots*.inc,
 * cinder/api/schemas/snapshots.py, etc/cinder/resource_filters.json.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { SnapshotSort } from '../../../core/snapshots.js';
import type { Snapshot } from '../../../core/records.js';
import type { SnapshotStatus } from '../../../core/transitions.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOf } from './auth.js';
import { type RouteContext, route } from './context.js';
import { registerMetadataRoutes } from './metadata-routes.js';
import { atLeast, features } from './microversion.js';
import {
  booleanLike,
  collectPage,
  element,
  invalid,
  isObject,
  metadataFilter,
  metadataMap,
  nextLink,
  onlyFields,
  optionalText,
  pageRequest,
  type Query,
  queryValue,
  refuseUnknown,
  required,
  sortRequest,
  uuidField,
} from './parse.js';
import { availabilityZone, collectionLinks, snapshotSummary, snapshotView } from './render.js';
import * as S from './schemas.js';

export const snapshotStatuses: readonly SnapshotStatus[] = ['creating', 'available', 'deleting', 'error', 'error_deleting'];
/** Statuses os-reset_status may set on a Strata snapshot (the rest belong to running jobs). */
const resettable = ['available', 'error', 'creating', 'error_deleting'] as const;
export const nameLengthMax = 255;
export const descriptionLengthMax = 255;

const sortColumns: Record<string, SnapshotSort> = { created_at: 'created_at', name: 'name', size: 'size_bytes', status: 'status' };
const pagingParams = ['all_tenants', 'sort', 'sort_key', 'sort_dir', 'limit', 'offset', 'marker'];

const snapshotIdOf = (request: FastifyRequest) => (request.params as { snapshot_id: string }).snapshot_id;

interface SnapshotQuery {
  filter: { name?: string; status?: SnapshotStatus; volumeId?: string; metadata?: Record<string, string> };
  keep?: (s: Snapshot) => boolean;
  /** A filter nothing can match (a status Strata never has, another zone, another project). */
  empty: boolean;
  withCount: boolean;
}

/** The list filters of resource_filters.json "snapshot", version-gated as Cinder does. */
function snapshotQuery(request: FastifyRequest, query: Query, projectId: string): SnapshotQuery {
  const known = [...pagingParams, 'name', 'status', 'volume_id', 'availability_zone', 'project_id'];
  if (atLeast(request, features.snapshotMetadataFilter)) known.push('metadata');
  if (atLeast(request, features.listCount)) known.push('with_count');
  if (atLeast(request, features.consumesQuota)) known.push('consumes_quota');
  if (atLeast(request, features.invalidFiltersRefused)) refuseUnknown(query, known);
  const result: SnapshotQuery = { filter: {}, empty: false, withCount: false };
  const name = queryValue(query, 'name');
  if (name !== undefined) result.filter.name = name;
  const status = queryValue(query, 'status');
  if (status !== undefined) {
    if ((snapshotStatuses as readonly string[]).includes(status)) result.filter.status = status as SnapshotStatus;
    else result.empty = true;
  }
  const volumeId = queryValue(query, 'volume_id');
  if (volumeId !== undefined) result.filter.volumeId = volumeId;
  const zone = queryValue(query, 'availability_zone');
  if (zone !== undefined && zone !== availabilityZone) result.empty = true;
  const project = queryValue(query, 'project_id');
  if (project !== undefined && project !== projectId) result.empty = true;
  if (known.includes('consumes_quota')) {
    const consumes = queryValue(query, 'consumes_quota');
    if (consumes !== undefined && !booleanLike(consumes, 'consumes_quota')) result.empty = true;
  }
  if (known.includes('with_count')) {
    const withCount = queryValue(query, 'with_count');
    result.withCount = withCount !== undefined && booleanLike(withCount, 'with_count');
  }
  const metadata = known.includes('metadata') ? queryValue(query, 'metadata') : undefined;
  if (metadata !== undefined) {
    // Filtered by core in SQL, so a metadata filter never reads the whole project.
    result.filter.metadata = metadataFilter(metadata);
  }
  return result;
}

/** Lists snapshots for the summary and detailed routes. */
async function listSnapshots(request: FastifyRequest, context: RouteContext, detailed: boolean) {
  const caller = callerOf(request);
  const query = request.query as Query;
  const parsed = snapshotQuery(request, query, caller.projectId);
  const page = pageRequest(query);
  const { sort, order } = sortRequest(query, sortColumns);
  const result = parsed.empty
    ? { items: [], more: false, total: 0 }
    : await collectPage((options) => context.plane.snapshots.list(caller, { ...options, ...parsed.filter, sort, order }), page, {
        keep: parsed.keep,
        withCount: parsed.withCount,
        noun: 'snapshot',
      });
  const body: Record<string, unknown> = {
    snapshots: result.items.map((s) => (detailed ? snapshotView(request, s, true) : snapshotSummary(s))),
  };
  const last = result.items[result.items.length - 1];
  if (result.more && last !== undefined) {
    body.snapshots_links = collectionLinks(nextLink(`${context.root(request)}/snapshots${detailed ? '/detail' : ''}`, query, last.id));
  }
  if (parsed.withCount) body.count = result.total ?? 0;
  return body;
}

/** Cinder refuses deleting a snapshot that is not available or error, or that belongs to a group snapshot. */
export async function checkDeletable(context: RouteContext, request: FastifyRequest, id: string): Promise<void> {
  const snapshot = await context.plane.snapshots.get(callerOf(request), id);
  if (snapshot.status !== 'available' && snapshot.status !== 'error') {
    throw new StrataError('INVALID_STATE', `Invalid snapshot: Snapshot status must be available or error, but current status is: ${snapshot.status}.`, {
      status: snapshot.status,
    });
  }
  if (snapshot.groupSnapshotId !== null) {
    throw invalid(`Invalid snapshot: Snapshot ${id} is part of group snapshot ${snapshot.groupSnapshotId}; delete the group snapshot instead.`);
  }
}

export function registerSnapshotRoutes(app: FastifyInstance, context: RouteContext): void {
  const { plane } = context;

  route(app, context, 'GET', '/snapshots', 'snapshot.list', async (request) => listSnapshots(request, context, false), { querystring: S.ListQuery });
  route(app, context, 'GET', '/snapshots/detail', 'snapshot.list', async (request) => listSnapshots(request, context, true), { querystring: S.ListQuery });

  route(app, context, 'POST', '/snapshots', 'snapshot.create', async (request, reply) => {
    const caller = callerOf(request);
    const snapshot = element(request.body, 'snapshot');
    onlyFields(snapshot, ['volume_id', 'name', 'display_name', 'description', 'force', 'metadata']);
    required(snapshot, 'volume_id');
    const volumeId = uuidField(snapshot, 'volume_id', { nullable: true });
    const name = optionalText(snapshot, 'name', { max: nameLengthMax });
    const displayName = optionalText(snapshot, 'display_name', { max: nameLengthMax });
    const description = optionalText(snapshot, 'description', { max: descriptionLengthMax });
    const metadata = metadataMap(snapshot.metadata, 'metadata', { nullable: true });
    const force = snapshot.force === undefined ? undefined : booleanLike(snapshot.force, 'force');
    if (atLeast(request, features.snapshotForceIgnored) && force === false) {
      throw invalid("Since microversion 3.66 the 'force' flag is invalid for this request; it is accepted only when its value is true.", 'force');
    }
    if (volumeId === null) throw new StrataError('NOT_FOUND', 'volume None does not exist');
    const volume = await plane.volumes.get(caller, volumeId!);
    // Before 3.66 an attached volume needs force (Cinder's volume API); from 3.66 it never does.
    if (!atLeast(request, features.snapshotForceIgnored) && volume.status === 'in-use' && force !== true) {
      throw new StrataError('INVALID_STATE', `Invalid volume: Volume ${volume.id} status must be available, but current status is: in-use.`, { status: 'in-use' });
    }
    const created = await plane.snapshots.create(caller, volume.id, { name: name ?? displayName ?? '', description: description ?? '', metadata });
    return reply.status(202).send({ snapshot: snapshotView(request, created, false) });
  }, { body: S.SnapshotCreateBody });

  route(app, context, 'GET', '/snapshots/:snapshot_id', 'snapshot.show', async (request) => ({
    snapshot: snapshotView(request, await plane.snapshots.get(callerOf(request), snapshotIdOf(request)), true),
  }));

  route(app, context, 'PUT', '/snapshots/:snapshot_id', 'snapshot.update', async (request) => {
    const snapshot = element(request.body, 'snapshot');
    const fields = ['name', 'description', 'display_name', 'display_description'];
    onlyFields(snapshot, fields);
    if (!fields.some((f) => f in snapshot)) throw invalid(`The snapshot must contain at least one of ${fields.join(', ')}.`, 'snapshot');
    const name = optionalText(snapshot, 'name', { max: nameLengthMax });
    const displayName = optionalText(snapshot, 'display_name', { max: nameLengthMax });
    const description = optionalText(snapshot, 'description', { max: descriptionLengthMax });
    const displayDescription = optionalText(snapshot, 'display_description', { max: descriptionLengthMax });
    const pick = (a: string | null | undefined, b: string | null | undefined) => (a !== undefined ? (a ?? '') : b !== undefined ? (b ?? '') : undefined);
    const updated = await plane.snapshots.update(callerOf(request), snapshotIdOf(request), { name: pick(name, displayName), description: pick(description, displayDescription) });
    return { snapshot: snapshotView(request, updated, false) };
  }, { body: S.SnapshotUpdateBody });

  route(app, context, 'DELETE', '/snapshots/:snapshot_id', 'snapshot.delete', async (request, reply) => {
    const id = snapshotIdOf(request);
    await checkDeletable(context, request, id);
    await plane.snapshots.delete(callerOf(request), id);
    return reply.status(202).send();
  });

  route(app, context, 'POST', '/snapshots/:snapshot_id/action', 'snapshot.action', async (request, reply) => {
    const caller = callerOf(request);
    const id = snapshotIdOf(request);
    const body = request.body;
    if (!isObject(body) || Object.keys(body).length !== 1) throw invalid('Malformed request body: an action body has exactly one action.');
    const [action] = Object.keys(body);
    const argument = body[action];
    switch (action) {
      case 'os-reset_status': {
        if (!isObject(argument)) throw invalid("Invalid input for field/attribute os-reset_status. It is not of type 'object'.", action);
        onlyFields(argument, ['status']);
        const status = required(argument, 'status');
        if (typeof status !== 'string') throw invalid("Invalid input for field/attribute status. It is not of type 'string'.", 'status');
        if (!(resettable as readonly string[]).includes(status.toLowerCase())) {
          throw invalid(`Invalid status ${status}: a snapshot can be reset to ${resettable.join(', ')}.`, 'status');
        }
        await plane.snapshots.resetStatus(caller, id, status.toLowerCase() as (typeof resettable)[number]);
        return reply.status(202).send();
      }
      case 'os-force_delete': {
        // cinderclient sends null; the api-ref shows {}.
        if (argument !== null && !(isObject(argument) && Object.keys(argument).length === 0)) throw invalid('os-force_delete takes no arguments.', action);
        await plane.snapshots.forceDelete(caller, id);
        return reply.status(202).send();
      }
      default:
        throw invalid(`There is no such action: ${action}`, action);
    }
  }, { body: S.SnapshotActionBody });

  registerMetadataRoutes(app, context, {
    path: '/snapshots/:snapshot_id',
    noun: 'snapshot',
    idOf: snapshotIdOf,
    read: async (caller, id) => (await plane.snapshots.get(caller, id)).metadata,
    modify: (caller, id, change) => plane.snapshots.modifyMetadata(caller, id, change),
  });
}
