/**
 * Block volume groups (`/v1/block-volume-groups/`, Strata's consistency groups) with
 * `:rollback`, and their snapshots (`/v1/block-volume-group-snapshots/`, group snapshots of a
 * group). Creating a group from `block_volume_group_snapshot_id` clones that group snapshot
 * into a new group (a core job; the group shows `creating` until its volumes exist).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Group } from '../../../core/records.js';
import type { ControlPlane } from '../../../core/plane.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOf } from './auth.js';
import { listPage, parseList } from './lists.js';
import { collection } from './paths.js';
import { orNone, resolve, resolveGroupSnapshot } from './refs.js';
import { Renderer, type Wire } from './render.js';
import * as S from './schemas.js';

const groupSortFields = { id: 'created_at', create: 'created_at', name: 'name' } as const;
const groupSearchFields = ['id', 'name', 'description', 'status', 'action_status', 'block_volume_num', 'create', 'update'];
const snapshotSortFields = { id: 'created_at', create: 'created_at', name: 'name', group_snapshot_name: 'name' } as const;
const snapshotSearchFields = ['id', 'name', 'group_snapshot_name', 'description', 'status', 'action_status', 'block_snapshot_num', 'create', 'update'];

export const groupRoutes: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  for (const path of collection('/block-volume-groups')) {
    app.post(path, { schema: { hide: true, body: S.GroupCreateBody, querystring: S.ClusterQuery } }, async (request, reply) => {
      const caller = callerOf(request);
      const b = request.body.block_volume_group;
      const render = new Renderer(plane, caller);
      // `flattened` only concerns how clones read their source; Strata flattens deep clones itself.
      if (b.block_volume_group_snapshot_id !== undefined) {
        if (b.block_volume_ids !== undefined) {
          throw new StrataError('INVALID_ARGUMENT', 'give block_volume_ids or block_volume_group_snapshot_id, not both', { field: 'block_volume_group.block_volume_ids' });
        }
        const source = await resolveGroupSnapshot(plane, caller, 'group', b.block_volume_group_snapshot_id, 'block_volume_group.block_volume_group_snapshot_id');
        const { group } = await plane.groups.cloneSnapshot(caller, source.id, { name: b.name, description: b.description });
        return reply.status(202).send({ block_volume_group: await render.group(group) });
      }
      const field = 'block_volume_group.block_volume_ids';
      const seqs = b.block_volume_ids ?? [];
      if (new Set(seqs).size !== seqs.length) throw new StrataError('INVALID_ARGUMENT', `${field} has duplicates`, { field });
      const volumeIds: string[] = [];
      for (const seq of seqs) volumeIds.push(await resolve(plane, caller, 'volumes', seq, field));
      const group = await plane.groups.create(caller, { name: b.name, description: b.description, volumeIds });
      return reply.status(202).send({ block_volume_group: await render.group(group) });
    });

    app.get(path, { schema: { hide: true, querystring: S.GroupListQuery } }, async (request) => {
      const caller = callerOf(request);
      const q = request.query;
      // No group is a passive replica or has a replication policy here.
      if (q.passive === true || q.dp_volume_group_snapshot_replication_policy_id !== undefined) return { block_volume_groups: [] as Wire[] };
      const plan = parseList(q, groupSortFields, groupSearchFields);
      const render = new Renderer(plane, caller);
      const items = await listPage(
        plan,
        (page) => plane.groups.list(caller, { ...page, sort: plan.sort, order: plan.order, name: q.name }),
        (groups) => render.groups(groups),
      );
      return { block_volume_groups: items };
    });
  }

  app.get('/block-volume-groups/:id', { schema: { hide: true, params: S.IdParams, querystring: S.PlainQuery } }, async (request) => {
    const caller = callerOf(request);
    const group = await plane.groups.get(caller, await resolve(plane, caller, 'groups', request.params.id));
    return { block_volume_group: await new Renderer(plane, caller).group(group) };
  });

  app.patch('/block-volume-groups/:id', { schema: { hide: true, params: S.IdParams, body: S.GroupUpdateBody, querystring: S.PlainQuery } }, async (request) => {
    const caller = callerOf(request);
    const id = await resolve(plane, caller, 'groups', request.params.id);
    const { name, description } = request.body.block_volume_group;
    const group = await plane.groups.update(caller, id, { name, description });
    return { block_volume_group: await new Renderer(plane, caller).group(group) };
  });

  app.delete('/block-volume-groups/:id', { schema: { hide: true, params: S.IdParams, querystring: S.PlainQuery } }, async (request, reply) => {
    const caller = callerOf(request);
    const id = await resolve(plane, caller, 'groups', request.params.id);
    const group: Group = await plane.groups.get(caller, id);
    const wire = await new Renderer(plane, caller).group(group, { status: 'deleting', action_status: 'deleting' });
    await plane.groups.delete(caller, id);
    return reply.status(202).send({ block_volume_group: wire });
  });

  // `POST /block-volume-groups/{id}:rollback`: the verb shares the id's path segment.
  app.post('/block-volume-groups/:id', { schema: { hide: true, params: S.ActionParams, body: S.GroupRollbackBody, querystring: S.PlainQuery } }, async (request, reply) => {
    const caller = callerOf(request);
    const m = /^(\d{1,15}):rollback$/.exec(request.params.id);
    if (m === null) throw new StrataError('NOT_FOUND', `no route POST ${request.url.split('?')[0]}`);
    const seq = Number(m[1]);
    const id = await resolve(plane, caller, 'groups', seq);
    const snapshotSeq = request.body.block_volume_group.block_volume_group_snapshot_id;
    const field = 'block_volume_group.block_volume_group_snapshot_id';
    if (snapshotSeq === undefined) throw new StrataError('MISSING_FIELD', `${field} is required`, { field });
    const snapshot = await resolveGroupSnapshot(plane, caller, 'group', snapshotSeq, field);
    if (snapshot.groupId !== id) throw new StrataError('INVALID_ARGUMENT', `block volume group snapshot ${snapshotSeq} is not a snapshot of block volume group ${seq}`, { field });
    await plane.groups.revertSnapshot(caller, snapshot.id);
    return reply.status(202).send({ block_volume_group: await new Renderer(plane, caller).group(await plane.groups.get(caller, id)) });
  });

  for (const path of collection('/block-volume-group-snapshots')) {
    app.post(path, { schema: { hide: true, body: S.GroupSnapshotCreateBody, querystring: S.ClusterQuery } }, async (request, reply) => {
      const caller = callerOf(request);
      const b = request.body.block_volume_group_snapshot;
      const groupId = await resolve(plane, caller, 'groups', b.block_volume_group_id, 'block_volume_group_snapshot.block_volume_group_id');
      const snapshot = await plane.groups.createSnapshot(caller, groupId, { name: b.name, description: b.description });
      return reply.status(202).send({ block_volume_group_snapshot: await new Renderer(plane, caller).groupSnapshot(snapshot) });
    });

    app.get(path, { schema: { hide: true, querystring: S.GroupSnapshotListQuery } }, async (request) => {
      const caller = callerOf(request);
      const q = request.query;
      const none = { block_volume_group_snapshots: [] as Wire[] };
      if (q.passive === true) return none;
      const plan = parseList(q, snapshotSortFields, snapshotSearchFields);
      let groupId: string | undefined;
      if (q.block_volume_group_id !== undefined) {
        const found = await orNone(resolve(plane, caller, 'groups', q.block_volume_group_id, 'block_volume_group_id'));
        if (found === null) return none;
        groupId = found;
      }
      const render = new Renderer(plane, caller);
      const items = await listPage(
        plan,
        // Snapshots of an ad-hoc set of volumes are consistent snapshots, listed on their own path.
        (page) => plane.groups.listSnapshots(caller, { ...page, sort: plan.sort, order: plan.order, groupId, grouped: true, name: q.name }),
        (snapshots) => render.groupSnapshots(snapshots),
      );
      return { block_volume_group_snapshots: items };
    });
  }

  app.get('/block-volume-group-snapshots/:id', { schema: { hide: true, params: S.IdParams, querystring: S.PlainQuery } }, async (request) => {
    const caller = callerOf(request);
    const snapshot = await resolveGroupSnapshot(plane, caller, 'group', request.params.id);
    return { block_volume_group_snapshot: await new Renderer(plane, caller).groupSnapshot(snapshot) };
  });

  app.patch(
    '/block-volume-group-snapshots/:id',
    { schema: { hide: true, params: S.IdParams, body: S.GroupSnapshotUpdateBody, querystring: S.PlainQuery } },
    async (request) => {
      const caller = callerOf(request);
      const existing = await resolveGroupSnapshot(plane, caller, 'group', request.params.id);
      const { name, description } = request.body.block_volume_group_snapshot;
      const snapshot = await plane.groups.updateSnapshot(caller, existing.id, { name, description });
      return { block_volume_group_snapshot: await new Renderer(plane, caller).groupSnapshot(snapshot) };
    },
  );

  app.delete('/block-volume-group-snapshots/:id', { schema: { hide: true, params: S.IdParams, querystring: S.PlainQuery } }, async (request, reply) => {
    const caller = callerOf(request);
    const snapshot = await resolveGroupSnapshot(plane, caller, 'group', request.params.id);
    await plane.groups.deleteSnapshot(caller, snapshot.id);
    const wire = await new Renderer(plane, caller).groupSnapshot(snapshot, { status: 'deleting', action_status: 'deleting' });
    return reply.status(202).send({ block_volume_group_snapshot: wire });
  });
};
