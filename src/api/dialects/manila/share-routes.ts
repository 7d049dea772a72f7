/**
 * Shares (`/v2/{tenant_id}/shares`): a share is a Strata volume, its size whole GiB, created in
 * a group with `consistency_group_id` (2.4–2.30) or `share_group_id` (2.31+) and, from a
 * snapshot (a group snapshot member is one), with `snapshot_id`. Validation follows
 * manila/api/v1/shares.py `_create` and share/api.py `create` in order. Strata has one share
 * type, one availability zone and no share networks; the protocol is recorded, not served
 * (volumes are served over NBD).
 */
import type { FastifyInstance } from 'fastify';
import type { VolumeSort } from '../../../core/volumes.js';
import type { Volume } from '../../../core/records.js';
import type { VolumeStatus } from '../../../core/transitions.js';
import { StrataError } from '../../../lib/errors.js';
import { limits } from '../../../lib/limits.js';
import { GiB } from '../shared.js';
import { type ManilaContext, type ManilaDeps, v2Route, whenNotFound } from './context.js';
import { ManilaFault } from './errors.js';
import { atLeast, between, windows } from './microversion.js';
import {
  availabilityZone,
  collectionLinks,
  defaultShareType,
  type Json,
  protocolMetadataKey,
  type ShareFacts,
  shareDetail,
  shareProtocols,
  shareStatus,
  shareSummary,
} from './render.js';
import { isObject, listWindow, plainQuery, queryText, textLengthMax } from './requests.js';
import { routeSchema } from '../schemas.js';
import * as S from './schemas.js';

const bad = (message: string) => new StrataError('INVALID_ARGUMENT', message);
const forbidden = (message: string) => new StrataError('FORBIDDEN', message);

/** Manila's share statuses → Strata's volume status to filter on. */
const statusFilter: Record<string, VolumeStatus> = { available: 'available', creating: 'creating', deleting: 'deleting', error: 'error', reverting: 'restoring' };
const sortKeys: Record<string, VolumeSort> = { created_at: 'created_at', name: 'name', display_name: 'name', size: 'size_bytes', status: 'status' };

/** Where a share was cloned from: a group snapshot member, or a plain snapshot. */
async function shareFacts(context: ManilaContext, volume: Volume): Promise<ShareFacts> {
  if (volume.sourceSnapshotId === null) return { snapshotId: null, sourceMemberId: null };
  const source = await context.plane.snapshots.get(context.caller, volume.sourceSnapshotId).catch(() => null);
  // A source deleted since: a grouped clone came from a group snapshot member.
  const fromMember = source === null ? volume.groupId !== null : source.groupSnapshotId !== null;
  return fromMember ? { snapshotId: null, sourceMemberId: volume.sourceSnapshotId } : { snapshotId: volume.sourceSnapshotId, sourceMemberId: null };
}

/** The request's name for a share's group: it changed with share groups in 2.31. */
function groupParam(context: ManilaContext): 'consistency_group_id' | 'share_group_id' | null {
  if (atLeast(context.requested, '2.31')) return 'share_group_id';
  return between(context.requested, '2.4', '2.30') ? 'consistency_group_id' : null;
}

export function shareRoutes(app: FastifyInstance, deps: ManilaDeps): void {
  const base = '/v2/:tenant_id/shares';
  const route = (handler: (context: ManilaContext) => Promise<unknown>) => v2Route(deps, windows.shares, handler);
  const detail = async (context: ManilaContext, volume: Volume): Promise<Json> =>
    shareDetail(context.base, volume, await shareFacts(context, volume), context.requested, context.isAdmin);
  const find = (context: ManilaContext, id: string) => context.plane.volumes.get(context.caller, id).catch(whenNotFound('NOT_FOUND', 'The resource could not be found.'));

  const list = (isDetail: boolean) =>
    route(async (context) => {
      context.policy.authorize('share:get_all', context.caller);
      const { query } = context;
      const window = listWindow(query);
      const sortKey = queryText(query, 'sort_key') ?? 'created_at';
      const sortDir = queryText(query, 'sort_dir') ?? 'desc';
      if (!Object.hasOwn(sortKeys, sortKey)) throw bad(`Wrong sorting key provided - '${sortKey}'.`);
      if (sortDir !== 'asc' && sortDir !== 'desc') throw bad(`Wrong sorting data provided: sort key is '${sortKey}' and sort direction is '${sortDir}'.`);
      const status = queryText(query, 'status');
      const group = groupParam(context);
      const page = await context.plane.volumes.list(context.caller, {
        limit: window.limit,
        offset: window.offset,
        afterId: queryText(query, 'marker'),
        sort: sortKeys[sortKey],
        order: sortDir,
        name: queryText(query, 'name') ?? queryText(query, 'display_name'),
        // An unknown status matches nothing, as in Manila.
        status: status === undefined ? undefined : Object.hasOwn(statusFilter, status) ? statusFilter[status] : ('unknown' as VolumeStatus),
        groupId: group === null ? undefined : queryText(query, group),
      });
      const items = isDetail ? await Promise.all(page.items.map((v) => detail(context, v))) : page.items.map((v) => shareSummary(context.base, v));
      const body: Json = { shares: items };
      const next = collectionLinks(context.base, 'shares', plainQuery(query), window.limitGiven, page.items.map((v) => v.id));
      if (next.length > 0) body.shares_links = next;
      return body;
    });

  app.get(base, { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) }, list(false));
  app.get(`${base}/detail`, { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) }, list(true));

  app.get(
    `${base}/:id`,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) },
    route(async (context) => {
      context.policy.authorize('share:get', context.caller);
      return { share: await detail(context, await find(context, context.params.id)) };
    }),
  );

  app.post(
    base,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery, body: S.ShareCreateBody }) },
    route(async (context) => {
      context.policy.authorize('share:create', context.caller);
      const input = await parseCreate(context);
      const volume = await context.plane.volumes
        .create(context.caller, {
          name: input.name ?? '',
          description: input.description,
          sizeBytes: input.sizeGib * GiB,
          sourceSnapshotId: input.snapshotId,
          groupId: input.groupId,
          metadata: { ...input.metadata, [protocolMetadataKey]: input.protocol },
        })
        .catch((error: unknown) => {
          if (!(error instanceof StrataError)) throw error;
          const groupNoun = input.groupParam === 'share_group_id' ? 'Share group' : 'ConsistencyGroup';
          if (error.field === 'group_id' && error.code === 'NOT_FOUND') throw bad(`${groupNoun} ${input.groupId} could not be found.`);
          if (error.field === 'group_id' && error.code === 'INVALID_STATE') {
            const status = / is (\S+)$/.exec(error.message)?.[1] ?? error.message;
            throw bad(`${input.groupParam === 'share_group_id' ? 'Share group' : 'Consistency group'} status must be available, got ${status}.`);
          }
          if (error.field === 'source_snapshot_id' && error.code === 'INVALID_STATE') throw bad("Invalid share snapshot: status must be 'available'");
          throw error;
        });
      return { share: await detail(context, volume) };
    }),
  );

  app.delete(
    `${base}/:id`,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) },
    route(async (context) => {
      context.policy.authorize('share:delete', context.caller);
      const id = context.params.id;
      const volume = await find(context, id);
      const param = groupParam(context) ?? 'consistency_group_id';
      if (volume.groupId !== null) {
        const given = queryText(context.query, param);
        const noun = param === 'share_group_id' ? 'share group' : 'consistency group';
        if (!given) throw bad(`Must provide '${param}' as a request parameter when deleting a share in a ${noun}.`);
        if (given !== volume.groupId) throw bad(`The specified '${param}' does not match the ${noun} id of the share.`);
      }
      const status = shareStatus(volume);
      if (status !== 'available' && status !== 'error') throw forbidden("Invalid share: Share status must be one of ('available', 'error', 'inactive')");
      const snapshots = (await context.plane.snapshots.list(context.caller, { volumeId: id, limit: limits.control.listLimitMax })).items;
      const plain = snapshots.filter((s) => s.groupSnapshotId === null).length;
      if (plain > 0) throw forbidden(`Invalid share: Share still has ${plain} dependent snapshots`);
      if (snapshots.length > 0) throw forbidden(`Invalid share: Share still has ${snapshots.length} dependent cgsnapshot members`);
      await context.plane.volumes.delete(context.caller, id);
      return context.reply.status(202).send();
    }),
  );
}

interface CreateInput {
  name?: string;
  description?: string;
  sizeGib: number;
  protocol: string;
  metadata: Record<string, string>;
  snapshotId?: string;
  groupId?: string;
  groupParam: 'consistency_group_id' | 'share_group_id' | null;
}

const truthy = (value: unknown) => value !== undefined && value !== null && value !== '' && value !== false && value !== 0;

function text(share: Record<string, unknown>, keys: string[]): string | undefined {
  for (const key of keys) {
    const value = share[key];
    if (!truthy(value)) continue;
    if (typeof value !== 'string') throw bad(`'${key}' must be a string.`);
    if (value.length > textLengthMax) throw bad(`'${key}' is longer than ${textLengthMax} characters.`);
    return value;
  }
  return undefined;
}

/** oslo `bool_from_string(strict=True)`. */
function strictBool(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  const text = String(value).trim().toLowerCase();
  if (['1', 't', 'true', 'on', 'y', 'yes'].includes(text)) return true;
  if (['0', 'f', 'false', 'off', 'n', 'no'].includes(text)) return false;
  throw bad(`Unrecognized value '${String(value)}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'`);
}

function metadataOf(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isObject(value)) throw bad('Invalid share metadata: metadata must be a dict of strings.');
  const entries = Object.entries(value);
  if (entries.length > limits.control.metadataEntriesMax) throw bad(`Invalid share metadata: at most ${limits.control.metadataEntriesMax} items.`);
  for (const [key, item] of entries) {
    if (key.length === 0) throw bad('Invalid share metadata: Metadata property key is blank.');
    if (key === protocolMetadataKey) throw bad(`Invalid share metadata: the key ${protocolMetadataKey} is reserved.`);
    if (typeof item !== 'string') throw bad(`Invalid share metadata: the value of ${key} must be a string.`);
    if (key.length > 255 || item.length > 1023) throw bad('Invalid share metadata size: Metadata property key or value is too long (255 and 1023 characters at most).');
  }
  return value as Record<string, string>;
}

async function parseCreate(context: ManilaContext): Promise<CreateInput> {
  const body = context.body;
  if (!isObject(body) || !isObject(body.share)) throw new ManilaFault(422, 'Unable to process the contained instructions');
  const share = body.share;
  const name = text(share, ['name', 'display_name']);
  const description = text(share, ['description', 'display_description']);
  if (truthy(share.availability_zone) && share.availability_zone !== availabilityZone) {
    throw new StrataError('NOT_FOUND', `Availability zone ${String(share.availability_zone)} could not be found.`);
  }
  let snapshotSizeBytes = 0;
  let snapshotId: string | undefined;
  let snapshotStatus = 'available';
  if (truthy(share.snapshot_id)) {
    snapshotId = String(share.snapshot_id);
    const snapshot = await context.plane.snapshots.get(context.caller, snapshotId).catch(whenNotFound('NOT_FOUND', `Snapshot ${snapshotId} could not be found.`));
    snapshotSizeBytes = snapshot.sizeBytes;
    snapshotStatus = snapshot.status;
  }
  if (truthy(share.share_network_id)) throw new StrataError('NOT_FOUND', `Share network ${String(share.share_network_id)} could not be found.`);
  if ('share_type' in share && 'volume_type' in share) throw bad('Cannot specify both share_type and volume_type');
  const shareType = share.share_type ?? share.volume_type;
  if (truthy(shareType) && shareType !== defaultShareType.id && shareType !== defaultShareType.name) throw new StrataError('NOT_FOUND', 'Share type not found.');
  const metadata = metadataOf(share.metadata);
  if (snapshotStatus !== 'available') throw bad("Invalid share snapshot: status must be 'available'");
  const size = share.size;
  const sizeGib = typeof size === 'string' && /^\s*[-+]?\d+\s*$/.test(size) ? Number(size) : size;
  if (typeof sizeGib !== 'number' || !Number.isSafeInteger(sizeGib) || sizeGib <= 0) {
    throw bad(`Share size '${size === undefined || size === null ? 'None' : String(size)}' must be an integer and greater than 0`);
  }
  if (sizeGib * GiB < snapshotSizeBytes) throw bad(`Share size '${sizeGib}' must be equal or greater than snapshot size`);
  const protocol = typeof share.share_proto === 'string' ? share.share_proto.toUpperCase() : '';
  if (!(shareProtocols as readonly string[]).includes(protocol)) {
    const provided = share.share_proto === undefined || share.share_proto === null ? 'None' : String(share.share_proto);
    throw bad(`Invalid share protocol provided: ${provided}. It is either disabled or unsupported. Available protocols: [${shareProtocols.map((p) => `'${p}'`).join(', ')}]`);
  }
  if (share.is_public !== undefined && strictBool(share.is_public)) throw bad('Invalid parameter: Strata shares are never public; is_public must be false.');
  const param = groupParam(context);
  const groupValue = param === null ? undefined : share[param];
  const groupId = truthy(groupValue) ? String(groupValue).toLowerCase() : undefined;
  return { name, description, sizeGib, protocol, metadata, snapshotId, groupId, groupParam: param };
}
