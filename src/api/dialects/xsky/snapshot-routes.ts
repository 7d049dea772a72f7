/**
 * Block snapshots (`/v1/block-snapshots/`): create, list (filters `block_volume_id` and
 * `consistent_snapshot_id`, the latter listing a consistent snapshot's members), get, patch
 * (name, description), delete. Rollback is a volume PATCH (volume-routes.ts).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ControlPlane } from '../../../core/plane.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOf } from './auth.js';
import { listPage, parseList } from './lists.js';
import { collection } from './paths.js';
import { orNone, resolve, resolveGroupSnapshot } from './refs.js';
import { poolId, Renderer, uidKey, type Wire } from './render.js';
import * as S from './schemas.js';

const sortFields = { id: 'created_at', create: 'created_at', name: 'name', snap_name: 'name', size: 'size_bytes' } as const;
const searchFields = ['id', 'name', 'snap_name', 'description', 'uid', 'status', 'action_status', 'size', 'create', 'update'];

export const snapshotRoutes: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  for (const path of collection('/block-snapshots')) {
    app.post(path, { schema: { hide: true, body: S.SnapshotCreateBody, querystring: S.PlainQuery } }, async (request, reply) => {
      const caller = callerOf(request);
      const b = request.body.block_snapshot;
      const volumeId = await resolve(plane, caller, 'volumes', b.block_volume_id, 'block_snapshot.block_volume_id');
      const created = await plane.snapshots.create(caller, volumeId, {
        name: b.name,
        description: b.description,
        metadata: b.uid === undefined ? undefined : { [uidKey]: b.uid },
      });
      const snapshot = await plane.snapshots.get(caller, created.id);
      return reply.status(202).send({ block_snapshot: await new Renderer(plane, caller).snapshot(snapshot) });
    });

    app.get(path, { schema: { hide: true, querystring: S.SnapshotListQuery } }, async (request) => {
      const caller = callerOf(request);
      const q = request.query;
      const plan = parseList(q, sortFields, searchFields);
      const none = { block_snapshots: [] as Wire[] };
      if (q.pool_id !== undefined && q.pool_id !== poolId) return none;
      let volumeId: string | undefined;
      if (q.block_volume_id !== undefined) {
        const found = await orNone(resolve(plane, caller, 'volumes', q.block_volume_id, 'block_volume_id'));
        if (found === null) return none;
        volumeId = found;
      }
      let groupSnapshotId: string | undefined;
      if (q.consistent_snapshot_id !== undefined) {
        const found = await orNone(resolveGroupSnapshot(plane, caller, 'consistent', q.consistent_snapshot_id, 'consistent_snapshot_id'));
        if (found === null) return none;
        groupSnapshotId = found.id;
      }
      const match = plan.match;
      const uid = q.uid;
      const render = new Renderer(plane, caller);
      const items = await listPage(
        { ...plan, match: uid === undefined ? match : (w) => w.uid === uid && (match === null || match(w)) },
        (page) => plane.snapshots.list(caller, { ...page, sort: plan.sort, order: plan.order, volumeId, groupSnapshotId }),
        (snapshots) => render.snapshots(snapshots),
      );
      return { block_snapshots: items };
    });
  }

  app.get('/block-snapshots/:id', { schema: { hide: true, params: S.IdParams, querystring: S.PlainQuery } }, async (request) => {
    const caller = callerOf(request);
    const snapshot = await plane.snapshots.get(caller, await resolve(plane, caller, 'snapshots', request.params.id));
    return { block_snapshot: await new Renderer(plane, caller).snapshot(snapshot) };
  });

  app.patch('/block-snapshots/:id', { schema: { hide: true, params: S.IdParams, body: S.SnapshotUpdateBody, querystring: S.PlainQuery } }, async (request) => {
    const caller = callerOf(request);
    const id = await resolve(plane, caller, 'snapshots', request.params.id);
    const { name, description } = request.body.block_snapshot;
    const snapshot = await plane.snapshots.update(caller, id, { name, description });
    return { block_snapshot: await new Renderer(plane, caller).snapshot(snapshot) };
  });

  app.delete('/block-snapshots/:id', { schema: { hide: true, params: S.IdParams, querystring: S.PlainQuery } }, async (request, reply) => {
    const caller = callerOf(request);
    const id = await resolve(plane, caller, 'snapshots', request.params.id);
    const snapshot = await plane.snapshots.get(caller, id);
    const render = new Renderer(plane, caller);
    if (snapshot.groupSnapshotId !== null) {
      // A member goes with its consistent (or group) snapshot, which stays whole.
      const parent = (await render.snapshot(snapshot)) as { block_consistent_snapshot?: { id: number }; block_volume_group_snapshot?: { id: number } };
      const owner = parent.block_consistent_snapshot !== undefined ? `block consistent snapshot ${parent.block_consistent_snapshot.id}` : `block volume group snapshot ${parent.block_volume_group_snapshot?.id}`;
      throw new StrataError('HAS_DEPENDENTS', `block snapshot ${request.params.id} is a member of ${owner}; delete that instead`);
    }
    await plane.snapshots.delete(caller, id);
    return reply.status(202).send({ block_snapshot: await render.snapshot(snapshot, { status: 'deleting', action_status: 'deleting' }) });
  });
};
