/**
 * Consistency group snapshots (`/v2/{tenant_id}/cgsnapshots`, seed 003) and share group
 * snapshots (`/share-group-snapshots`, 2.31+): a Strata group snapshot, whose member
 * snapshots are the members. Follows manila/api/v2/cgsnapshots.py: create 202 (CG not found is
 * 400, a CG or member not available 409), update only name and description, delete only from
 * available or error, and the admin actions reset_status and force_delete under the policy.
 */
import type { FastifyInstance } from 'fastify';
import type { GroupSnapshot } from '../../../core/records.js';
import { StrataError } from '../../../lib/errors.js';
import { actionOf, resetStatusOf } from './actions.js';
import { type ManilaContext, type ManilaDeps, v2Route, whenNotFound } from './context.js';
import type { GroupFlavor } from './flavors.js';
import { collectionLinks, type Json, member, shareProtocol, snapshotDetail, snapshotSummary } from './render.js';
import { entity, listWindow, optionalText, plainQuery, queryText, rejectUnknownFields, requireUuid } from './requests.js';
import { routeSchema } from '../schemas.js';
import * as S from './schemas.js';

const bad = (message: string) => new StrataError('INVALID_ARGUMENT', message);
const conflict = (message: string) => new StrataError('INVALID_STATE', message);

const sortKeys: Record<string, 'created_at' | 'name'> = { created_at: 'created_at', name: 'name' };

export function snapshotRoutes(app: FastifyInstance, deps: ManilaDeps, flavor: GroupFlavor): void {
  const base = `/v2/:tenant_id/${flavor.snapshotPath}`;
  const route = (handler: (context: ManilaContext) => Promise<unknown>) => v2Route(deps, flavor.windows, handler);
  const rule = (action: string) => `${flavor.snapshotPolicy}:${action}`;
  // Manila's two controllers word this differently.
  const missingBody = flavor.kind === 'cg' ? `'${flavor.snapshotKey}' is missing from the request body` : `'${flavor.snapshotKey}' is missing from the request body.`;

  /** Show, update, delete: the controller's own not-found text. */
  const find = (context: ManilaContext, id: string) =>
    context.plane.groups.getSnapshot(context.caller, id).catch(whenNotFound('NOT_FOUND', `${flavor.snapshotNoun} ${id} not found.`));

  const list = (isDetail: boolean) =>
    route(async (context) => {
      context.policy.authorize(rule('get_all'), context.caller);
      const window = listWindow(context.query);
      const filters = flavor.kind === 'sg' ? shareGroupFilters(context.query) : {};
      const page = await context.plane.groups.listSnapshots(context.caller, {
        limit: window.limit,
        offset: window.offset,
        afterId: queryText(context.query, 'marker'),
        ...filters,
      });
      const render = (s: GroupSnapshot) => (isDetail ? snapshotDetail(flavor, context.base, s) : snapshotSummary(flavor, context.base, s));
      const body: Json = { [flavor.snapshotsKey]: page.items.map(render) };
      const next = collectionLinks(context.base, flavor.snapshotLinkCollection, plainQuery(context.query), window.limitGiven, page.items.map((s) => s.id));
      if (next.length > 0) body[flavor.snapshotLinksKey] = next;
      return body;
    });

  app.get(base, { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) }, list(false));
  app.get(`${base}/detail`, { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) }, list(true));

  app.get(
    `${base}/:id`,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) },
    route(async (context) => {
      context.policy.authorize(rule(flavor.snapshotGetRule), context.caller);
      return { [flavor.snapshotKey]: snapshotDetail(flavor, context.base, await find(context, context.params.id)) };
    }),
  );

  app.get(
    `${base}/:id/members`,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) },
    route(async (context) => {
      context.policy.authorize(rule(flavor.snapshotGetRule), context.caller);
      const window = listWindow(context.query);
      const snapshot = await find(context, context.params.id);
      const page = snapshot.snapshots.slice(window.offset, window.offset + window.limit);
      const members = await Promise.all(
        page.map(async (m) => {
          const volume = await context.plane.volumes.get(context.caller, m.volumeId).catch(() => null);
          return member(flavor, snapshot, m, volume === null ? 'NFS' : shareProtocol(volume));
        }),
      );
      const body: Json = { [flavor.membersKey]: members };
      const next = collectionLinks(context.base, flavor.snapshotLinkCollection, plainQuery(context.query), window.limitGiven, page.map(() => snapshot.id));
      if (next.length > 0) body[flavor.membersLinksKey] = next;
      return body;
    }),
  );

  app.post(
    base,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery, body: S.snapshotCreateBody(flavor) }) },
    route(async (context) => {
      context.policy.authorize(rule('create'), context.caller);
      const fields = entity(context.body, flavor.snapshotKey, missingBody);
      if (!fields[flavor.groupIdField]) throw bad(`Must supply '${flavor.groupIdField}' attribute.`);
      const groupId = requireUuid(fields[flavor.groupIdField], `The '${flavor.groupIdField}' attribute must be a uuid.`);
      const name = optionalText(fields, 'name');
      const description = optionalText(fields, 'description');
      const snapshot = await context.plane.groups.createSnapshot(context.caller, groupId, { name: name ?? '', description }).catch((error: unknown) => {
        if (error instanceof StrataError && error.code === 'NOT_FOUND') throw bad(flavor.groupNotFound(groupId));
        if (error instanceof StrataError && error.code === 'INVALID_STATE') throw conflict(flavor.invalidGroup(error.message));
        throw error;
      });
      context.reply.status(202);
      return { [flavor.snapshotKey]: snapshotDetail(flavor, context.base, snapshot) };
    }),
  );

  app.put(
    `${base}/:id`,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery, body: S.updateBody(flavor.snapshotKey) }) },
    route(async (context) => {
      context.policy.authorize(rule('update'), context.caller);
      const fields = entity(context.body, flavor.snapshotKey, missingBody);
      rejectUnknownFields(fields, ['name', 'description'], (set) => `The fields ${set} are invalid or not allowed to be updated.`);
      const name = fields.name === null ? '' : optionalText(fields, 'name');
      const description = fields.description === null ? '' : optionalText(fields, 'description');
      const id = context.params.id;
      await find(context, id);
      const snapshot = await context.plane.groups.updateSnapshot(context.caller, id, { name, description });
      return { [flavor.snapshotKey]: snapshotDetail(flavor, context.base, snapshot) };
    }),
  );

  app.delete(
    `${base}/:id`,
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) },
    route(async (context) => {
      context.policy.authorize(rule('delete'), context.caller);
      const id = context.params.id;
      const snapshot = await find(context, id);
      if (snapshot.status !== 'available' && snapshot.status !== 'error') {
        throw conflict(flavor.invalidSnapshot(`${flavor.snapshotNoun} status must be one of ('available', 'error')`));
      }
      await context.plane.groups.deleteSnapshot(context.caller, id);
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
      // The policy allowed it: core's own admin-only check gives way to the operator's policy.
      const byPolicy = { authorizedByPolicy: true };
      const notFound = whenNotFound('NOT_FOUND', flavor.snapshotNotFound(id));
      if (action === 'reset_status') {
        const status = resetStatusOf(value);
        await context.plane.groups.resetSnapshotStatus(context.caller, id, status, byPolicy).catch(notFound);
        return context.reply.status(202).send();
      }
      const snapshot = await context.plane.groups.getSnapshot(context.caller, id).catch(notFound);
      // Manila force-deletes whatever the status; one already being deleted is on its way.
      if (snapshot.status !== 'deleting') await context.plane.groups.forceDeleteSnapshot(context.caller, id, byPolicy);
      return context.reply.status(202).send();
    }),
  );
}

/** The share group snapshot list's filters (manilaclient sends them; CG lists take none). */
function shareGroupFilters(query: Record<string, unknown>): { name?: string; status?: string; groupId?: string; sort?: 'created_at' | 'name'; order?: 'asc' | 'desc' } {
  const sortKey = queryText(query, 'sort_key');
  const sortDir = queryText(query, 'sort_dir');
  if (sortKey !== undefined && !Object.hasOwn(sortKeys, sortKey)) throw bad(`Wrong sorting key provided - '${sortKey}'.`);
  if (sortDir !== undefined && sortDir !== 'asc' && sortDir !== 'desc') throw bad(`Wrong sorting data provided: sort key is '${sortKey ?? 'created_at'}' and sort direction is '${sortDir}'.`);
  return {
    name: queryText(query, 'name'),
    status: queryText(query, 'status'),
    groupId: queryText(query, 'share_group_id'),
    sort: sortKey === undefined ? undefined : sortKeys[sortKey],
    order: sortDir === undefined ? 'desc' : sortDir,
  };
}
