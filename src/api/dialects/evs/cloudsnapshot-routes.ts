/**
 * EVS's cloudsnapshots family (reference §1.1–§1.5; seed 004): create (202, with force and
 * metadata), the detailed list with its filters and paging, show, update, delete, and rollback
 * (also at the deprecated os-vendor-snapshots paths). Names and descriptions are held to the
 * original EVS limit of 255 bytes.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Snapshot } from '../../../core/records.js';
import type { SnapshotStatus } from '../../../core/transitions.js';
import { StrataError } from '../../../lib/errors.js';
import { type RouteContext, route } from '../cinder/context.js';
import {
  booleanLike,
  collectPage,
  element,
  invalid,
  isUuid,
  metadataMap,
  nextLink,
  onlyFields,
  optionalText,
  pageRequest,
  type Query,
  queryValue,
  queryValues,
  required,
} from '../cinder/parse.js';
import { availabilityZone } from '../cinder/render.js';
import { checkDeletable, snapshotStatuses } from '../cinder/snapshot-routes.js';
import { callerOf } from './auth.js';
import { evsSnapshot, evsSnapshotListItem, serviceType } from './render.js';
import * as S from '../cinder/schemas.js';

const textBytesMax = 255;
/** Snapshots the backup service makes; EVS refuses to delete or roll them back. */
const backupPrefix = 'autobk_snapshot_';
/** Metadata keys EVS keeps for itself (e.g. __system__enableActive). */
const systemMetadataPrefix = '__system__';
/** Every status EVS documents (evs_04_0041); Strata snapshots take the first five. */
const evsStatuses = [...snapshotStatuses, 'rollbacking', 'backing-up'];
const serviceTypes = ['EVS', 'DSS', 'DESS'];

function snapshotIdOf(request: FastifyRequest): string {
  const id = (request.params as { snapshot_id: string }).snapshot_id;
  if (!isUuid(id)) throw invalid(`invalid snapshot_id: ${id} is not a UUID`, 'snapshot_id');
  return id.toLowerCase();
}

function volumeIdOf(object: Record<string, unknown>): string {
  const value = required(object, 'volume_id');
  if (!isUuid(value)) throw invalid(`invalid volume id: ${JSON.stringify(value)} is not a UUID`, 'volume_id');
  return value.toLowerCase();
}

function evsMetadata(value: unknown): Record<string, string> | undefined {
  const metadata = metadataMap(value, 'metadata', { nullable: true });
  for (const key of Object.keys(metadata ?? {})) {
    if (key.startsWith(systemMetadataPrefix)) throw new StrataError('FORBIDDEN', 'metadata can not be operated.', { field: 'metadata' });
  }
  return metadata;
}

function refuseBackupSnapshot(snapshot: Snapshot, action: string): void {
  if (snapshot.name.startsWith(backupPrefix)) {
    throw invalid(`snapshot ${snapshot.id} is named ${backupPrefix}*: the backup service owns it and it cannot be ${action}.`);
  }
}

interface ListFilter {
  core: { name?: string; status?: SnapshotStatus; volumeId?: string; ids?: string[] };
  keep?: (s: Snapshot) => boolean;
  empty: boolean;
}

/** The query parameters of GET /cloudsnapshots/detail (evs_04_2021). */
function listFilter(query: Query): ListFilter {
  const filter: ListFilter = { core: {}, empty: false };
  const name = queryValue(query, 'name');
  if (name !== undefined) filter.core.name = name;
  const status = queryValue(query, 'status');
  if (status !== undefined) {
    if (!evsStatuses.includes(status)) throw invalid('Must specify a valid status.', 'status');
    if ((snapshotStatuses as readonly string[]).includes(status)) filter.core.status = status as SnapshotStatus;
    else filter.empty = true;
  }
  const volumeId = queryValue(query, 'volume_id');
  if (volumeId !== undefined) filter.core.volumeId = volumeId;
  const zone = queryValue(query, 'availability_zone');
  if (zone !== undefined && zone !== availabilityZone) filter.empty = true;
  const service = queryValue(query, 'service_type');
  const dedicated = ['dedicated_storage_id', 'dedicated_storage_name'].filter((p) => (queryValue(query, p) ?? '') !== '');
  if (service !== undefined) {
    if (!serviceTypes.includes(service)) throw invalid(`Must specify a valid service_type: ${serviceTypes.join(', ')}.`, 'service_type');
    if (service === serviceType && dedicated.length > 0) throw invalid(`${dedicated[0]} must be empty when service_type is EVS.`, dedicated[0]);
    if (service !== serviceType) filter.empty = true;
  }
  if (dedicated.length > 0) filter.empty = true;
  const enterprise = queryValue(query, 'enterprise_project_id');
  if (enterprise !== undefined && enterprise !== '0' && enterprise !== 'all_granted_eps') filter.empty = true;
  const ids = queryValues(query, 'id');
  if (ids.length > 0) {
    // Filtered by core in SQL; ids are lower-case UUIDs there.
    filter.core.ids = [...new Set(ids.map((id) => id.toLowerCase()))];
  }
  return filter;
}

export function registerCloudSnapshotRoutes(app: FastifyInstance, context: RouteContext, vendorContext: RouteContext): void {
  const { plane } = context;

  route(app, context, 'POST', '/cloudsnapshots', 'cloudsnapshot.create', async (request, reply) => {
    const caller = callerOf(request);
    const snapshot = element(request.body, 'snapshot');
    onlyFields(snapshot, ['volume_id', 'force', 'metadata', 'description', 'name']);
    const volumeId = volumeIdOf(snapshot);
    // Strata volumes have no `attaching` status, the only one force changes anything for.
    if (snapshot.force !== undefined && snapshot.force !== null) booleanLike(snapshot.force, 'force');
    const metadata = evsMetadata(snapshot.metadata);
    const name = optionalText(snapshot, 'name', { max: textBytesMax, bytes: true });
    const description = optionalText(snapshot, 'description', { max: textBytesMax, bytes: true });
    const created = await plane.snapshots.create(caller, volumeId, { name: name ?? '', description: description ?? '', metadata });
    return reply.status(202).send({ snapshot: evsSnapshot(created) });
  }, { body: S.CloudSnapshotCreateBody });

  route(app, context, 'GET', '/cloudsnapshots/detail', 'cloudsnapshot.list', async (request) => {
    const caller = callerOf(request);
    const query = request.query as Query;
    const page = pageRequest(query, { strictLimit: true });
    const filter = listFilter(query);
    const result = filter.empty
      ? { items: [], more: false, total: 0 }
      : await collectPage((options) => plane.snapshots.list(caller, { ...options, ...filter.core, sort: 'created_at', order: 'desc' }), page, {
          keep: filter.keep,
          withCount: true,
          noun: 'snapshot',
        });
    const body: Record<string, unknown> = { count: result.total ?? 0, snapshots: result.items.map(evsSnapshotListItem) };
    const last = result.items[result.items.length - 1];
    // EVS returns the link only when the caller limited the page and it was cut short.
    if (page.limitGiven && result.more && last !== undefined) {
      body.snapshots_links = [{ href: nextLink(`${context.root(request)}/cloudsnapshots/detail`, query, last.id), rel: 'next' }];
    }
    return body;
  }, { querystring: S.ListQuery });

  route(app, context, 'GET', '/cloudsnapshots/:snapshot_id', 'cloudsnapshot.show', async (request) => ({
    snapshot: evsSnapshot(await plane.snapshots.get(callerOf(request), snapshotIdOf(request))),
  }));

  route(app, context, 'PUT', '/cloudsnapshots/:snapshot_id', 'cloudsnapshot.update', async (request) => {
    const id = snapshotIdOf(request);
    const snapshot = element(request.body, 'snapshot');
    onlyFields(snapshot, ['name', 'description']);
    const name = optionalText(snapshot, 'name', { max: textBytesMax, bytes: true });
    const description = optionalText(snapshot, 'description', { max: textBytesMax, bytes: true });
    const updated = await plane.snapshots.update(callerOf(request), id, {
      name: name === undefined ? undefined : (name ?? ''),
      description: description === undefined ? undefined : (description ?? ''),
    });
    return { snapshot: evsSnapshot(updated) };
  }, { body: S.CloudSnapshotUpdateBody });

  route(app, context, 'DELETE', '/cloudsnapshots/:snapshot_id', 'cloudsnapshot.delete', async (request, reply) => {
    const caller = callerOf(request);
    const id = snapshotIdOf(request);
    refuseBackupSnapshot(await plane.snapshots.get(caller, id), 'deleted');
    await checkDeletable(context, request, id);
    await plane.snapshots.delete(caller, id);
    return reply.status(202).send();
  });

  const rollback = async (request: FastifyRequest, reply: FastifyReply) => {
    const caller = callerOf(request);
    const id = snapshotIdOf(request);
    const body = element(request.body, 'rollback');
    onlyFields(body, ['volume_id', 'name']);
    const volumeId = volumeIdOf(body);
    // `name` names the disk being rolled back; Strata identifies it by volume_id alone.
    optionalText(body, 'name', { max: textBytesMax, bytes: true });
    const snapshot = await plane.snapshots.get(caller, id);
    refuseBackupSnapshot(snapshot, 'rolled back');
    if (snapshot.volumeId !== volumeId) throw invalid(`Rollback is allowed only to the source disk of the snapshot, ${snapshot.volumeId}.`, 'rollback.volume_id');
    if (snapshot.status !== 'available') {
      throw new StrataError('INVALID_STATE', `snapshot ${id} is ${snapshot.status}`, { field: 'snapshot_id', status: snapshot.status });
    }
    const volume = await plane.volumes.get(caller, volumeId);
    if (volume.status !== 'available') {
      throw new StrataError('INVALID_STATE', `The disk must be available to roll back, but it is ${volume.status}.`, { status: volume.status });
    }
    await plane.snapshots.revert(caller, id);
    return reply.status(202).send({ rollback: { volume_id: volumeId } });
  };
  route(app, context, 'POST', '/cloudsnapshots/:snapshot_id/rollback', 'cloudsnapshot.rollback', rollback, { body: S.RollbackBody });
  route(app, vendorContext, 'POST', '/os-vendor-snapshots/:snapshot_id/rollback', 'cloudsnapshot.rollback', rollback, { body: S.RollbackBody });
}
