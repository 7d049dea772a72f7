/**
 * Consistency groups (`/v2/{tenant_id}/consistency-groups`, 2.4–2.30, experimental) and share
 * groups (`/share-groups`, 2.31+): a Manila group is a Strata group; its shares are the
 * group's volumes. Create from a group snapshot clones it into a new group (a job: the group
 * shows `creating` until every clone exists). Validation follows manila/api/v2/
 * consistency_groups.py in order; nothing is created when a check fails.
 */
import type { FastifyInstance } from 'fastify';
import type { Group } from '../../../core/records.js';
import { StrataError } from '../../../lib/errors.js';
import { limits } from '../../../lib/limits.js';
import { type ManilaContext, type ManilaDeps, v2Route, whenNotFound } from './context.js';
import { actionOf, resetStatusOf } from './actions.js';
import { ManilaFault } from './errors.js';
import type { GroupFlavor } from './flavors.js';
import { availabilityZone, defaultShareGroupType, defaultShareType, type GroupFacts, groupDetail, groupSummary, type Json, collectionLinks } from './render.js';
import { entity, listWindow, optionalText, plainQuery, queryText, rejectUnknownFields, requireUuid, uuidLike } from './requests.js';
import { routeSchema } from '../schemas.js';
import * as S from './schemas.js';

const bad = (message: string) => new StrataError('INVALID_ARGUMENT', message);
const conflict = (message: string) => new StrataError('INVALID_STATE', message);

/** Manila's status of a group: `creating` while clones of a source snapshot are being made. */
export async function groupFacts(context: ManilaContext, group: Group): Promise<GroupFacts> {
  const { plane, caller } = context;
  const volumes = (await plane.volumes.list(caller, { groupId: group.id, limit: limits.groupVolumesMax })).items;
  const status = group.status === 'available' && volumes.some((v) => v.status === 'creating') ? 'creating' : group.status;
  let sourceSnapshotId: string | null = null;
  const cloned = volumes.find((v) => v.sourceSnapshotId !== null);
  if (cloned !== undefined) {
    const source = await plane.snapshots.get(caller, cloned.sourceSnapshotId!).catch(() => null);
    sourceSnapshotId = source?.groupSnapshotId ?? null;
  }
  return { status, sourceSnapshotId };
}

export function groupRoutes(app: FastifyInstance, deps: ManilaDeps, flavor: GroupFlavor): void {
  const base = `/v2/:tenant_id/${flavor.groupPath}`;
  const route = (handler: (context: ManilaContext) => Promise<unknown>) => v2Route(deps, flavor.windows, handler);
  const rule = (action: string) => `${flavor.groupPolicy}:${action}`;
  const missingBody = `'${flavor.groupKey}' is missing from the request body.`;

  const detail = async (context: ManilaContext, group: Group): Promise<Json> =>
    groupDetail(flavor, context.base, group, await groupFacts(context, group), context.requested, context.isAdmin);

  const find = (context: ManilaContext, id: string) =>
    context.plane.groups.get(context.caller, id).catch(whenNotFound('NOT_FOUND', `${flavor.groupNoun} ${id} not found.`));

  const list = (isDetail: boolean) =>
    route(async (context) => {
      context.policy.authorize(rule('get_all'), context.caller);
      const window = listWindow(context.query);
      const marker = queryText(context.query, 'marker');
      const page = await context.plane.groups.list(context.caller, { limit: window.limit, offset: window.offset, afterId: marker });
      const items = isDetail ? await Promise.all(page.items.map((g) => detail(context, g))) : page.items.map((g) => groupSummary(flavor, context.base, g));
      const body: Json = { [flavor.groupsKey]: items };
      const next = collectionLinks(context.base, flavor.groupLinkCollection, plainQuery(context.query), window.limitGiven, page.items.map((g) => g.id));
      if (next.length > 0) body[flavor.groupLinksKey] = next;
      return body;
    });

  app.get(base, { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) }, list(false));
  app.get(`${base}/detail`, { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) }, list(true));

  app.get(
    `${base}/:id`,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) },
    route(async (context) => {
      context.policy.authorize(rule('get'), context.caller);
      return { [flavor.groupKey]: await detail(context, await find(context, context.params.id)) };
    }),
  );

  app.post(
    base,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery, body: S.groupCreateBody(flavor) }) },
    route(async (context) => {
      context.policy.authorize(rule('create'), context.caller);
      const input = parseCreate(flavor, context.body, missingBody);
      let group: Group;
      if (input.sourceSnapshotId !== undefined) {
        const sourceId = input.sourceSnapshotId;
        const source = await context.plane.groups.getSnapshot(context.caller, sourceId).catch(whenNotFound('INVALID_ARGUMENT', flavor.snapshotNotFound(sourceId)));
        if (source.status !== 'available') throw conflict(flavor.invalidSnapshot(`${flavor.snapshotNoun} status must be available`));
        const cloned = await context.plane.groups.cloneSnapshot(context.caller, sourceId, { name: input.name ?? '', description: input.description }).catch((error: unknown) => {
          if (error instanceof StrataError && error.code === 'INVALID_STATE') throw conflict(flavor.invalidSnapshot(error.message));
          throw error;
        });
        group = cloned.group;
      } else {
        group = await context.plane.groups.create(context.caller, { name: input.name ?? '', description: input.description });
      }
      context.reply.status(202);
      return { [flavor.groupKey]: await detail(context, group) };
    }),
  );

  app.put(
    `${base}/:id`,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery, body: S.updateBody(flavor.groupKey) }) },
    route(async (context) => {
      context.policy.authorize(rule('update'), context.caller);
      const fields = entity(context.body, flavor.groupKey, missingBody);
      rejectUnknownFields(fields, ['name', 'description'], (set) => `The fields ${set} are invalid or not allowed to be updated.`);
      const name = fields.name === null ? '' : optionalText(fields, 'name');
      const description = fields.description === null ? '' : optionalText(fields, 'description');
      const id = context.params.id;
      await find(context, id);
      const group = await context.plane.groups.update(context.caller, id, { name, description });
      return { [flavor.groupKey]: await detail(context, group) };
    }),
  );

  app.delete(
    `${base}/:id`,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) },
    route(async (context) => {
      context.policy.authorize(rule('delete'), context.caller);
      const id = context.params.id;
      const group = await find(context, id);
      const facts = await groupFacts(context, group);
      if (facts.status !== 'available' && facts.status !== 'error') {
        throw conflict(flavor.invalidGroup(`${flavor.groupNoun} status must be one of ('available', 'error')`));
      }
      const snapshots = await context.plane.groups.listSnapshots(context.caller, { groupId: id, limit: 1 });
      if (snapshots.items.length > 0) throw conflict(flavor.invalidGroup(`Cannot delete a ${flavor.groupNoun.toLowerCase()} with ${flavor.kind === 'cg' ? 'cgsnapshots' : 'share group snapshots'}`));
      if (group.volumeIds.length > 0) throw conflict(flavor.invalidGroup(`Cannot delete a ${flavor.groupNoun.toLowerCase()} with shares`));
      await context.plane.groups.delete(context.caller, id);
      return context.reply.status(202).send();
    }),
  );

  app.post(
    `${base}/:id/action`,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery, body: S.actionBody(flavor) }) },
    route(async (context) => {
      const { action, value } = actionOf(flavor, context);
      context.policy.authorize(rule(action), context.caller);
      const id = context.params.id;
      if (action === 'reset_status') {
        resetStatusOf(value);
        await find(context, id);
        throw new ManilaFault(501, `Strata cannot reset the status of a ${flavor.groupNoun.toLowerCase()}; only ${flavor.snapshotNoun.toLowerCase()} status can be reset.`);
      }
      const group = await find(context, id);
      // Not while its clones are being made: the job that makes them finds them by their group.
      if ((await groupFacts(context, group)).status === 'creating') throw conflict(flavor.invalidGroup(`${flavor.groupNoun} ${id} is being created from a snapshot`));
      // Force delete skips Manila's checks for shares (they stay, no longer grouped); Strata
      // still keeps a group that has group snapshots (409).
      await context.plane.groups.delete(context.caller, id);
      return context.reply.status(202).send();
    }),
  );
}

interface CreateInput {
  name?: string;
  description?: string;
  sourceSnapshotId?: string;
}

/** consistency_groups.py `create` (and share_groups.py `_create`), check by check. */
function parseCreate(flavor: GroupFlavor, body: unknown, missingBody: string): CreateInput {
  const fields = entity(body, flavor.groupKey, missingBody);
  const source = flavor.sourceSnapshotField;
  const valid =
    flavor.kind === 'cg'
      ? ['name', 'description', 'share_types', source, 'share_network_id']
      : ['name', 'description', 'share_types', 'share_group_type_id', source, 'share_network_id', 'availability_zone'];
  rejectUnknownFields(fields, valid, (set) => `The fields ${set} are invalid.`);
  if ('share_types' in fields && source in fields) throw bad(`Cannot supply both 'share_types' and '${source}' attributes.`);
  const input: CreateInput = { name: optionalText(fields, 'name'), description: optionalText(fields, 'description') };
  const shareTypes = fields.share_types;
  if (shareTypes !== undefined && shareTypes !== null && shareTypes !== '' && !(Array.isArray(shareTypes) && shareTypes.length === 0)) {
    const ids = Array.isArray(shareTypes) ? shareTypes.map(uuidLike) : [null];
    if (ids.some((id) => id === null)) throw bad("The 'share_types' attribute must be a list of uuids");
    const unknown = ids.find((id) => id !== defaultShareType.id);
    if (unknown !== undefined) throw bad(`Share type with id ${unknown} could not be found`);
  }
  if ('share_network_id' in fields && source in fields) {
    throw bad(`Cannot supply both 'share_network_id' and '${source}' attributes as the share network is inherited from the source.`);
  }
  if (flavor.kind === 'sg' && fields.availability_zone) {
    if (source in fields) {
      throw bad(`Cannot supply both 'availability_zone' and '${source}' attributes as the availability zone is inherited from the source.`);
    }
    if (fields.availability_zone !== availabilityZone) throw new StrataError('NOT_FOUND', `Availability zone ${String(fields.availability_zone)} could not be found.`);
  }
  if (source in fields) {
    input.sourceSnapshotId = requireUuid(fields[source], `The '${source}' attribute must be a uuid.`);
  } else if ('share_network_id' in fields) {
    requireUuid(fields.share_network_id, "The 'share_network_id' attribute must be a uuid.");
    // Strata has no share networks, so none can be found.
    throw bad('Invalid input received: The specified share network does not exist.');
  }
  if (flavor.kind === 'sg' && 'share_group_type_id' in fields) {
    const typeId = requireUuid(fields.share_group_type_id, "The 'share_group_type_id' attribute must be a uuid.");
    if (typeId !== defaultShareGroupType.id) throw bad(`Share group type ${typeId} could not be found.`);
  }
  return input;
}
