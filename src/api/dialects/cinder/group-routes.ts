/**
 * Cinder v3 generic volume groups (3.13+) and group snapshots (3.14+): a Strata consistency
 * group and its crash-consistent group snapshots. Strata has no group or volume types: a group
 * takes whatever `group_type` and `volume_types` it is given and shows the one implicit type.
 * Sources: Cinder api-ref groups.inc, group-snapshots.inc, cinder/api/schemas/group*.py.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Caller } from '../../../core/context.js';
import type { Group, GroupSnapshot } from '../../../core/records.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOf } from './auth.js';
import { type RouteContext, route } from './context.js';
import { atLeast, features, requireVersion } from './microversion.js';
import {
  booleanLike,
  collectPage,
  element,
  invalid,
  isObject,
  isUuid,
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
import { collectionLinks, defaultGroupType, groupSnapshotStatus, groupSnapshotSummary, groupSnapshotView, groupSummary, groupView } from './render.js';
import * as S from './schemas.js';

const nameLengthMax = 255;
const descriptionLengthMax = 255;
const sortColumns = { created_at: 'created_at', name: 'name' } as const;
const pagingParams = ['all_tenants', 'sort', 'sort_key', 'sort_dir', 'limit', 'offset', 'marker'];
const resettable = ['available', 'error', 'creating', 'error_deleting'] as const;

const groupIdOf = (request: FastifyRequest) => (request.params as { group_id: string }).group_id;
const groupSnapshotIdOf = (request: FastifyRequest) => (request.params as { group_snapshot_id: string }).group_snapshot_id;

/** Cinder's comma-separated volume id lists (add_volumes, remove_volumes). */
function volumeIdList(object: Record<string, unknown>, field: string): string[] {
  const value = object[field];
  if (value === undefined || value === null || value === '') return [];
  if (typeof value !== 'string') throw invalid(`Invalid input for field/attribute ${field}. It is not of type 'string'.`, field);
  const ids = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const id of ids) if (!isUuid(id)) throw invalid(`Invalid input for field/attribute ${field}. ${id} is not a 'uuid'.`, field);
  return ids.map((id) => id.toLowerCase());
}

function withCountOf(request: FastifyRequest, query: Query, known: string[]): boolean {
  if (!atLeast(request, features.listCount)) return false;
  known.push('with_count');
  const value = queryValue(query, 'with_count');
  return value !== undefined && booleanLike(value, 'with_count');
}

async function listGroups(request: FastifyRequest, context: RouteContext, detailed: boolean) {
  requireVersion(request, features.groups);
  const caller = callerOf(request);
  const query = request.query as Query;
  const known = [...pagingParams, 'name', 'status', 'list_volume'];
  const withCount = withCountOf(request, query, known);
  if (atLeast(request, features.invalidFiltersRefused)) refuseUnknown(query, known);
  const name = queryValue(query, 'name');
  const status = queryValue(query, 'status');
  const listVolume = queryValue(query, 'list_volume');
  const { sort, order } = sortRequest(query, sortColumns);
  const result = await collectPage((options) => context.plane.groups.list(caller, { ...options, name, sort, order }), pageRequest(query), {
    keep: status === undefined ? undefined : (g: Group) => g.status === status,
    withCount,
    noun: 'group',
  });
  const lists = listVolume !== undefined && booleanLike(listVolume, 'list_volume');
  const body: Record<string, unknown> = { groups: result.items.map((g) => (detailed ? groupView(request, g, lists) : groupSummary(g))) };
  const last = result.items[result.items.length - 1];
  if (result.more && last !== undefined) body.groups_links = collectionLinks(nextLink(`${context.root(request)}/groups${detailed ? '/detail' : ''}`, query, last.id));
  if (withCount) body.count = result.total ?? 0;
  return body;
}

async function listGroupSnapshots(request: FastifyRequest, context: RouteContext, detailed: boolean) {
  requireVersion(request, features.groupSnapshots);
  const caller = callerOf(request);
  const query = request.query as Query;
  const known = [...pagingParams, 'name', 'status', 'group_id'];
  const withCount = withCountOf(request, query, known);
  if (atLeast(request, features.invalidFiltersRefused)) refuseUnknown(query, known);
  const status = queryValue(query, 'status');
  // Strata's `restoring` is shown as `updating`; filter on what the client sees.
  const coreStatus = status === 'updating' ? 'restoring' : status;
  const { sort, order } = sortRequest(query, sortColumns);
  const result = await collectPage(
    (options) => context.plane.groups.listSnapshots(caller, { ...options, name: queryValue(query, 'name'), status: coreStatus, groupId: queryValue(query, 'group_id'), sort, order }),
    pageRequest(query),
    { withCount, noun: 'group snapshot' },
  );
  const body: Record<string, unknown> = {
    group_snapshots: result.items.map((g) => (detailed ? groupSnapshotView(request, g) : groupSnapshotSummary(g))),
  };
  const last = result.items[result.items.length - 1];
  if (result.more && last !== undefined) {
    body.group_snapshots_links = collectionLinks(nextLink(`${context.root(request)}/group_snapshots${detailed ? '/detail' : ''}`, query, last.id));
  }
  if (withCount) body.count = result.total ?? 0;
  return body;
}

/** Deletes a group; with delete-volumes its volumes too, after checking that every one can go. */
async function deleteGroup(context: RouteContext, caller: Caller, id: string, deleteVolumes: boolean): Promise<void> {
  const { plane } = context;
  const group = await plane.groups.get(caller, id);
  if (group.volumeIds.length > 0 && !deleteVolumes) {
    throw new StrataError('HAS_DEPENDENTS', `Invalid group: Group ${id} still contains volumes. The delete-volumes flag is required to delete it.`);
  }
  for (const volumeId of group.volumeIds) {
    const volume = await plane.volumes.get(caller, volumeId);
    if (volume.snapshotCount > 0) throw new StrataError('HAS_DEPENDENTS', `Invalid volume: Volume ${volumeId} in group ${id} still has dependent snapshots.`);
    if (volume.status !== 'available' && volume.status !== 'error') {
      throw new StrataError('INVALID_STATE', `Invalid volume: Volume ${volumeId} in group ${id} is ${volume.status}.`, { status: volume.status });
    }
  }
  await plane.groups.delete(caller, id);
  for (const volumeId of group.volumeIds) await plane.volumes.delete(caller, volumeId);
}

async function createFromSource(request: FastifyRequest, context: RouteContext, argument: unknown): Promise<Group> {
  if (!isObject(argument)) throw invalid("Invalid input for field/attribute create-from-src. It is not of type 'object'.", 'create-from-src');
  onlyFields(argument, ['group_snapshot_id', 'source_group_id', 'name', 'description']);
  const groupSnapshotId = uuidField(argument, 'group_snapshot_id', { nullable: true });
  const sourceGroupId = uuidField(argument, 'source_group_id', { nullable: true });
  const name = optionalText(argument, 'name', { max: nameLengthMax });
  const description = optionalText(argument, 'description', { max: descriptionLengthMax });
  if (sourceGroupId !== undefined && sourceGroupId !== null) throw invalid('Creating a group from another group is not supported by this service; use a group snapshot.', 'source_group_id');
  if (groupSnapshotId === undefined || groupSnapshotId === null) throw invalid('Either group_snapshot_id or source_group_id must be provided.', 'group_snapshot_id');
  const { group } = await context.plane.groups.cloneSnapshot(callerOf(request), groupSnapshotId, { name: name ?? '', description: description ?? '' });
  return group;
}

export function registerGroupRoutes(app: FastifyInstance, context: RouteContext): void {
  const { plane } = context;

  // Groups.
  route(app, context, 'GET', '/groups', 'group.list', async (request) => listGroups(request, context, false), { querystring: S.ListQuery });
  route(app, context, 'GET', '/groups/detail', 'group.list', async (request) => listGroups(request, context, true), { querystring: S.ListQuery });

  route(app, context, 'POST', '/groups', 'group.create', async (request, reply) => {
    requireVersion(request, features.groups);
    const group = element(request.body, 'group');
    onlyFields(group, ['name', 'description', 'group_type', 'volume_types', 'availability_zone']);
    const name = optionalText(group, 'name', { max: nameLengthMax });
    const description = optionalText(group, 'description', { max: descriptionLengthMax });
    const groupType = required(group, 'group_type');
    if (typeof groupType !== 'string' || groupType === '') throw invalid(`group_type must be provided to create group ${name ?? ''}.`, 'group_type');
    const volumeTypes = required(group, 'volume_types');
    if (!Array.isArray(volumeTypes) || volumeTypes.length === 0 || !volumeTypes.every((t) => typeof t === 'string' && t !== '')) {
      throw invalid(`volume_types must be provided to create group ${name ?? ''}.`, 'volume_types');
    }
    const created = await plane.groups.create(callerOf(request), { name: name ?? '', description: description ?? '' });
    return reply.status(202).send({ group: groupSummary(created) });
  }, { body: S.GroupCreateBody });

  route(app, context, 'POST', '/groups/action', 'group.createFromSource', async (request, reply) => {
    requireVersion(request, features.groupSnapshots);
    const body = request.body;
    if (!isObject(body) || Object.keys(body).length !== 1 || !('create-from-src' in body)) {
      throw invalid(`There is no such action: ${isObject(body) ? Object.keys(body).join(', ') : ''}`);
    }
    const group = await createFromSource(request, context, body['create-from-src']);
    return reply.status(202).send({ group: groupSummary(group) });
  }, { body: S.GroupFromSourceBody });

  route(app, context, 'GET', '/groups/:group_id', 'group.show', async (request) => {
    requireVersion(request, features.groups);
    const query = request.query as Query;
    const listVolume = queryValue(query, 'list_volume');
    const group = await plane.groups.get(callerOf(request), groupIdOf(request));
    return { group: groupView(request, group, listVolume !== undefined && booleanLike(listVolume, 'list_volume')) };
  });

  route(app, context, 'PUT', '/groups/:group_id', 'group.update', async (request, reply) => {
    requireVersion(request, features.groups);
    const group = element(request.body, 'group');
    onlyFields(group, ['name', 'description', 'add_volumes', 'remove_volumes']);
    const name = optionalText(group, 'name', { max: nameLengthMax });
    const description = optionalText(group, 'description', { max: descriptionLengthMax });
    const add = volumeIdList(group, 'add_volumes');
    const remove = volumeIdList(group, 'remove_volumes');
    if (name === undefined && description === undefined && add.length === 0 && remove.length === 0) {
      throw invalid('Name, description, add_volumes, and remove_volumes can not be all empty in the request body.', 'group');
    }
    await plane.groups.update(callerOf(request), groupIdOf(request), {
      name: name === undefined ? undefined : (name ?? ''),
      description: description === undefined ? undefined : (description ?? ''),
      addVolumeIds: add,
      removeVolumeIds: remove,
    });
    return reply.status(202).send();
  }, { body: S.GroupUpdateBody });

  route(app, context, 'POST', '/groups/:group_id/action', 'group.action', async (request, reply) => {
    requireVersion(request, features.groups);
    const body = request.body;
    if (!isObject(body) || Object.keys(body).length !== 1) throw invalid('Malformed request body: an action body has exactly one action.');
    const [action] = Object.keys(body);
    const argument = body[action];
    if (action !== 'delete') throw invalid(`There is no such action: ${action}`, action);
    if (!isObject(argument)) throw invalid("Invalid input for field/attribute delete. It is not of type 'object'.", action);
    onlyFields(argument, ['delete-volumes']);
    const deleteVolumes = argument['delete-volumes'] === undefined ? false : booleanLike(argument['delete-volumes'], 'delete-volumes');
    await deleteGroup(context, callerOf(request), groupIdOf(request), deleteVolumes);
    return reply.status(202).send();
  }, { body: S.GroupActionBody });

  // Group snapshots.
  route(app, context, 'GET', '/group_snapshots', 'groupSnapshot.list', async (request) => listGroupSnapshots(request, context, false), { querystring: S.ListQuery });
  route(app, context, 'GET', '/group_snapshots/detail', 'groupSnapshot.list', async (request) => listGroupSnapshots(request, context, true), { querystring: S.ListQuery });

  route(app, context, 'POST', '/group_snapshots', 'groupSnapshot.create', async (request, reply) => {
    requireVersion(request, features.groupSnapshots);
    const snapshot = element(request.body, 'group_snapshot');
    onlyFields(snapshot, ['group_id', 'name', 'description']);
    required(snapshot, 'group_id');
    const groupId = uuidField(snapshot, 'group_id', { nullable: false })!;
    const name = optionalText(snapshot, 'name', { max: nameLengthMax });
    const description = optionalText(snapshot, 'description', { max: descriptionLengthMax });
    const created: GroupSnapshot = await plane.groups.createSnapshot(callerOf(request), groupId, { name: name ?? '', description: description ?? '' });
    return reply.status(202).send({ group_snapshot: { ...groupSnapshotSummary(created), group_type_id: defaultGroupType.id } });
  }, { body: S.GroupSnapshotCreateBody });

  route(app, context, 'GET', '/group_snapshots/:group_snapshot_id', 'groupSnapshot.show', async (request) => {
    requireVersion(request, features.groupSnapshots);
    return { group_snapshot: groupSnapshotView(request, await plane.groups.getSnapshot(callerOf(request), groupSnapshotIdOf(request))) };
  });

  route(app, context, 'DELETE', '/group_snapshots/:group_snapshot_id', 'groupSnapshot.delete', async (request, reply) => {
    requireVersion(request, features.groupSnapshots);
    const caller = callerOf(request);
    const id = groupSnapshotIdOf(request);
    const snapshot = await plane.groups.getSnapshot(caller, id);
    if (snapshot.status !== 'available' && snapshot.status !== 'error') {
      throw new StrataError('INVALID_STATE', `Invalid group snapshot: Group snapshot status must be available or error, but current status is: ${groupSnapshotStatus(snapshot.status)}.`, {
        status: snapshot.status,
      });
    }
    await plane.groups.deleteSnapshot(caller, id);
    return reply.status(202).send();
  });

  route(app, context, 'POST', '/group_snapshots/:group_snapshot_id/action', 'groupSnapshot.action', async (request, reply) => {
    requireVersion(request, features.groupSnapshotReset);
    const body = request.body;
    if (!isObject(body) || Object.keys(body).length !== 1) throw invalid('Malformed request body: an action body has exactly one action.');
    const [action] = Object.keys(body);
    const argument = body[action];
    if (action !== 'reset_status') throw invalid(`There is no such action: ${action}`, action);
    if (!isObject(argument)) throw invalid("Invalid input for field/attribute reset_status. It is not of type 'object'.", action);
    onlyFields(argument, ['status']);
    const status = required(argument, 'status');
    if (typeof status !== 'string' || !(resettable as readonly string[]).includes(status.toLowerCase())) {
      throw invalid(`Invalid status ${String(status)}: a group snapshot can be reset to ${resettable.join(', ')}.`, 'status');
    }
    await plane.groups.resetSnapshotStatus(callerOf(request), groupSnapshotIdOf(request), status.toLowerCase() as (typeof resettable)[number]);
    return reply.status(202).send();
  }, { body: S.GroupSnapshotActionBody });
}
