/**
 * Cinder v3 volumes, as much as the cinder CLI's create/list/show/rename/delete/extend and
 * revert-to-snapshot need (also EVS's Cinder-compatible volume paths): list, detailed list,
 * create (empty or from a snapshot), show, update, delete, metadata, and the actions os-extend
 * and revert. Sizes are GiB.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Caller } from '../../../core/context.js';
import type { Attachment, Volume } from '../../../core/records.js';
import type { VolumeStatus } from '../../../core/transitions.js';
import type { VolumeSort } from '../../../core/volumes.js';
import { StrataError } from '../../../lib/errors.js';
import { limits } from '../../../lib/limits.js';
import { GiB, gibOfBytes } from '../shared.js';
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
  type Json,
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
import { availabilityZone, collectionLinks, defaultVolumeType, volumeSummary, volumeView } from './render.js';
import * as S from './schemas.js';

const sizeGibMax = limits.volumeSizeBytesMax / GiB;
const nameLengthMax = 255;
const descriptionLengthMax = 255;
const sortColumns: Record<string, VolumeSort> = { created_at: 'created_at', name: 'name', size: 'size_bytes', status: 'status' };
const volumeStatuses: Record<string, VolumeStatus> = {
  creating: 'creating',
  available: 'available',
  'in-use': 'in-use',
  deleting: 'deleting',
  error: 'error',
  reverting: 'restoring',
};
/** Volume fields Strata does not offer; a non-null value is refused rather than ignored. */
const unsupportedSources = ['source_volid', 'imageRef', 'image_id', 'backup_id', 'consistencygroup_id'];

const volumeIdOf = (request: FastifyRequest) => (request.params as { volume_id: string }).volume_id;

/** Read-write attachments of volumes that have one (only in-use volumes do). */
async function attachmentsOf(context: RouteContext, caller: Caller, volume: Volume): Promise<Attachment[]> {
  if (volume.status !== 'in-use') return [];
  const page = await context.plane.attachments.list(caller, { volumeId: volume.id, limit: limits.control.listLimitMax });
  return page.items.filter((a) => a.mode === 'rw');
}

export async function renderVolume(context: RouteContext, request: FastifyRequest, volume: Volume) {
  return volumeView(request, context.root(request), volume, await attachmentsOf(context, callerOf(request), volume));
}

/** Cinder's volume_size_allows_null: a positive integer, or a string of digits. */
function sizeOf(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const size = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 1 || size > sizeGibMax) {
    throw invalid(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. It must be an integer from 1 to ${sizeGibMax} (GiB).`, field);
  }
  return size;
}

function volumeQuery(request: FastifyRequest, query: Query, projectId: string) {
  const known = ['all_tenants', 'sort', 'sort_key', 'sort_dir', 'limit', 'offset', 'marker', 'name', 'status', 'metadata', 'availability_zone', 'bootable', 'size', 'project_id'];
  if (atLeast(request, features.groups)) known.push('group_id');
  if (atLeast(request, features.listCount)) known.push('with_count');
  if (atLeast(request, features.invalidFiltersRefused)) refuseUnknown(query, known);
  const filter: { name?: string; status?: VolumeStatus; groupId?: string; metadata?: Record<string, string> } = {};
  const keeps: Array<(v: Volume) => boolean> = [];
  let empty = false;
  const name = queryValue(query, 'name');
  if (name !== undefined) filter.name = name;
  const status = queryValue(query, 'status');
  if (status !== undefined) {
    if (Object.hasOwn(volumeStatuses, status)) filter.status = volumeStatuses[status];
    else empty = true;
  }
  const groupId = known.includes('group_id') ? queryValue(query, 'group_id') : undefined;
  if (groupId !== undefined) filter.groupId = groupId;
  const zone = queryValue(query, 'availability_zone');
  if (zone !== undefined && zone !== availabilityZone) empty = true;
  const project = queryValue(query, 'project_id');
  if (project !== undefined && project !== projectId) empty = true;
  const bootable = queryValue(query, 'bootable');
  if (bootable !== undefined && booleanLike(bootable, 'bootable')) empty = true;
  const size = queryValue(query, 'size');
  if (size !== undefined) {
    const gib = Number(size);
    keeps.push((v) => gibOfBytes(v.sizeBytes) === gib);
  }
  const metadata = queryValue(query, 'metadata');
  if (metadata !== undefined) {
    // Filtered by core in SQL, so a metadata filter never reads the whole project.
    filter.metadata = metadataFilter(metadata);
  }
  const withCount = known.includes('with_count') && queryValue(query, 'with_count') !== undefined && booleanLike(queryValue(query, 'with_count'), 'with_count');
  return { filter, keep: keeps.length === 0 ? undefined : (v: Volume) => keeps.every((k) => k(v)), empty, withCount };
}

async function listVolumes(request: FastifyRequest, context: RouteContext, detailed: boolean) {
  const caller = callerOf(request);
  const query = request.query as Query;
  const parsed = volumeQuery(request, query, caller.projectId);
  const page = pageRequest(query);
  const { sort, order } = sortRequest(query, sortColumns);
  const result = parsed.empty
    ? { items: [], more: false, total: 0 }
    : await collectPage((options) => context.plane.volumes.list(caller, { ...options, ...parsed.filter, sort, order }), page, {
        keep: parsed.keep,
        withCount: parsed.withCount,
        noun: 'volume',
      });
  const root = context.root(request);
  const volumes = detailed ? await Promise.all(result.items.map((v) => renderVolume(context, request, v))) : result.items.map((v) => volumeSummary(root, v));
  const body: Record<string, unknown> = { volumes };
  const last = result.items[result.items.length - 1];
  if (result.more && last !== undefined) body.volumes_links = collectionLinks(nextLink(`${root}/volumes${detailed ? '/detail' : ''}`, query, last.id));
  if (parsed.withCount) body.count = result.total ?? 0;
  return body;
}

function checkUnsupported(volume: Json): void {
  for (const field of unsupportedSources) {
    if (volume[field] !== undefined && volume[field] !== null) throw invalid(`${field} is not supported by this service: volumes are created empty or from a snapshot.`, field);
  }
  const type = volume.volume_type;
  if (type !== undefined && type !== null && type !== defaultVolumeType.name && type !== defaultVolumeType.id) {
    throw new StrataError('NOT_FOUND', `Volume type with name ${String(type)} could not be found.`);
  }
  const zone = volume.availability_zone;
  if (zone !== undefined && zone !== null && zone !== availabilityZone) throw invalid(`Availability zone '${String(zone)}' is invalid.`, 'availability_zone');
  if (volume.multiattach !== undefined && volume.multiattach !== null && booleanLike(volume.multiattach, 'multiattach')) {
    throw invalid('multiattach volumes are not supported by this service.', 'multiattach');
  }
}

export function registerVolumeRoutes(app: FastifyInstance, context: RouteContext): void {
  const { plane } = context;

  route(app, context, 'GET', '/volumes', 'volume.list', async (request) => listVolumes(request, context, false), { querystring: S.ListQuery });
  route(app, context, 'GET', '/volumes/detail', 'volume.list', async (request) => listVolumes(request, context, true), { querystring: S.ListQuery });

  route(app, context, 'POST', '/volumes', 'volume.create', async (request, reply) => {
    const caller = callerOf(request);
    // Cinder's schema lets the volume carry fields it ignores; the top level takes only scheduler hints.
    const volume = element(request.body, 'volume', { others: ['OS-SCH-HNT:scheduler_hints'] });
    const size = sizeOf(volume.size, 'size');
    const name = optionalText(volume, 'name', { max: nameLengthMax, strip: true }) ?? optionalText(volume, 'display_name', { max: nameLengthMax, strip: true });
    const description = optionalText(volume, 'description', { max: descriptionLengthMax }) ?? optionalText(volume, 'display_description', { max: descriptionLengthMax });
    const metadata = metadataMap(volume.metadata, 'metadata', { nullable: true });
    const snapshotId = uuidField(volume, 'snapshot_id', { nullable: true });
    const groupId = atLeast(request, features.groups) ? uuidField(volume, 'group_id', { nullable: true }) : undefined;
    checkUnsupported(volume);
    if (size === undefined && (snapshotId === undefined || snapshotId === null)) {
      throw invalid('Invalid input received: size is required unless snapshot_id is given.', 'size');
    }
    const created = await plane.volumes.create(caller, {
      name: name ?? '',
      description: description ?? '',
      sizeBytes: size === undefined ? undefined : size * GiB,
      sourceSnapshotId: snapshotId ?? undefined,
      groupId: groupId ?? undefined,
      metadata,
    });
    return reply.status(202).send({ volume: await renderVolume(context, request, created) });
  }, { body: S.VolumeCreateBody });

  route(app, context, 'GET', '/volumes/:volume_id', 'volume.show', async (request) => ({
    volume: await renderVolume(context, request, await plane.volumes.get(callerOf(request), volumeIdOf(request))),
  }));

  route(app, context, 'PUT', '/volumes/:volume_id', 'volume.update', async (request) => {
    const volume = element(request.body, 'volume');
    const fields = ['name', 'description', 'display_name', 'display_description', 'metadata'];
    onlyFields(volume, fields);
    if (!fields.some((f) => f in volume)) throw invalid(`The volume must contain at least one of ${fields.join(', ')}.`, 'volume');
    const name = optionalText(volume, 'name', { max: nameLengthMax, strip: true });
    const displayName = optionalText(volume, 'display_name', { max: nameLengthMax, strip: true });
    const description = optionalText(volume, 'description', { max: descriptionLengthMax });
    const displayDescription = optionalText(volume, 'display_description', { max: descriptionLengthMax });
    const metadata = metadataMap(volume.metadata, 'metadata', { nullable: true });
    const pick = (a: string | null | undefined, b: string | null | undefined) => (a !== undefined ? (a ?? '') : b !== undefined ? (b ?? '') : undefined);
    const updated = await plane.volumes.update(callerOf(request), volumeIdOf(request), {
      name: pick(name, displayName),
      description: pick(description, displayDescription),
      metadata,
    });
    return { volume: await renderVolume(context, request, updated) };
  }, { body: S.VolumeUpdateBody });

  route(app, context, 'DELETE', '/volumes/:volume_id', 'volume.delete', async (request, reply) => {
    const query = request.query as Query;
    const cascade = queryValue(query, 'cascade');
    const force = queryValue(query, 'force');
    if (force !== undefined && booleanLike(force, 'force')) throw invalid('Forced volume deletion is not supported by this service.', 'force');
    await plane.volumes.delete(callerOf(request), volumeIdOf(request), { cascade: cascade !== undefined && booleanLike(cascade, 'cascade') });
    return reply.status(202).send();
  });

  route(app, context, 'POST', '/volumes/:volume_id/action', 'volume.action', async (request, reply) => {
    const caller = callerOf(request);
    const id = volumeIdOf(request);
    const body = request.body;
    if (!isObject(body) || Object.keys(body).length !== 1) throw invalid('Malformed request body: an action body has exactly one action.');
    const [action] = Object.keys(body);
    const argument = body[action];
    switch (action) {
      case 'os-extend': {
        if (!isObject(argument)) throw invalid("Invalid input for field/attribute os-extend. It is not of type 'object'.", action);
        onlyFields(argument, ['new_size']);
        const newSize = sizeOf(required(argument, 'new_size'), 'new_size')!;
        const volume = await plane.volumes.get(caller, id);
        const current = gibOfBytes(volume.sizeBytes);
        if (newSize <= current) throw invalid(`New size for extend must be greater than current size. (current: ${current}, extended: ${newSize}).`, 'new_size');
        // In-use volumes may grow from 3.42 (Cinder's own rule; Strata could grow them at any version).
        if (volume.status !== 'available' && !(volume.status === 'in-use' && atLeast(request, features.extendInUse))) {
          throw new StrataError('INVALID_STATE', `Invalid volume: Volume ${id} status must be 'available' to extend, currently ${volume.status}.`, { status: volume.status });
        }
        await plane.volumes.update(caller, id, { sizeBytes: newSize * GiB });
        return reply.status(202).send();
      }
      case 'revert': {
        if (!atLeast(request, features.revertToSnapshot)) throw invalid(`There is no such action: ${action}`, action);
        if (!isObject(argument)) throw invalid("Invalid input for field/attribute revert. It is not of type 'object'.", action);
        onlyFields(argument, ['snapshot_id']);
        required(argument, 'snapshot_id');
        const snapshotId = uuidField(argument, 'snapshot_id', { nullable: false })!;
        const snapshot = await plane.snapshots.get(caller, snapshotId);
        if (snapshot.volumeId !== id) throw invalid(`Invalid snapshot: Snapshot ${snapshotId} is not a snapshot of volume ${id}.`, 'snapshot_id');
        await plane.snapshots.revert(caller, snapshotId);
        return reply.status(202).send();
      }
      default:
        throw invalid(`There is no such action: ${action}`, action);
    }
  }, { body: S.VolumeActionBody });

  registerMetadataRoutes(app, context, {
    path: '/volumes/:volume_id',
    noun: 'volume',
    idOf: volumeIdOf,
    read: async (caller, id) => (await plane.volumes.get(caller, id)).metadata,
    modify: (caller, id, change) => plane.volumes.modifyMetadata(caller, id, change),
  });
}
