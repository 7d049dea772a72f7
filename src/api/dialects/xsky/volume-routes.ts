/**
 * Block volumes (`/v1/block-volumes/`): create (empty, or a clone with `block_snapshot_id`),
 * list, get, patch (rename, redescribe, grow, flatten, and rollback to a snapshot with
 * `{"action": "roll_back", "block_snapshot_id": N}`), delete.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ControlPlane } from '../../../core/plane.js';
import type { Volume } from '../../../core/records.js';
import { checkVolumeSize } from '../../../core/volumes.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOf } from './auth.js';
import { listPage, parseList } from './lists.js';
import { orNone, resolve } from './refs.js';
import { poolId, poolName, Renderer, uidKey, type Wire } from './render.js';
import { collection } from './paths.js';
import * as S from './schemas.js';

const sortFields = { id: 'created_at', create: 'created_at', name: 'name', size: 'size_bytes' } as const;
const searchFields = ['id', 'name', 'description', 'uid', 'status', 'action_status', 'size', 'create', 'update'];

/** Filters on resources Strata does not have (access paths, policies, trash, …) match nothing. */
const absentFilters = ['client_group_id', 'mapping_group_id', 'access_path_id', 'dp_block_backup_policy_id', 'dp_block_async_replication_policy_id', 'rbd_client_id'] as const;

/** The XMS verb of a volume rollback (`VolumeUpdateReq_Volume.action`). */
const rollBack = 'roll_back';

export const volumeRoutes: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  for (const path of collection('/block-volumes')) {
    app.post(path, { schema: { hide: true, body: S.VolumeCreateBody, querystring: S.PlainQuery } }, async (request, reply) => {
      const caller = callerOf(request);
      const b = request.body.block_volume;
      const replication = S.replicationFields.find((field) => b[field] !== undefined);
      if (replication !== undefined) throw new StrataError('INVALID_ARGUMENT', `block_volume.${replication}: replication is not supported`, { field: `block_volume.${replication}` });
      if (b.pool_id !== poolId) throw new StrataError('NOT_FOUND', `pool ${b.pool_id} does not exist`, { field: 'block_volume.pool_id' });
      const sourceSnapshotId = b.block_snapshot_id === undefined ? undefined : await resolve(plane, caller, 'snapshots', b.block_snapshot_id, 'block_volume.block_snapshot_id');
      if (b.size === undefined && sourceSnapshotId === undefined) throw new StrataError('MISSING_FIELD', 'block_volume.size is required unless block_snapshot_id is given', { field: 'block_volume.size' });
      if (b.size !== undefined) checkVolumeSize(b.size, 'block_volume.size');
      const created = await plane.volumes.create(caller, {
        name: b.name,
        description: b.description,
        sizeBytes: b.size,
        sourceSnapshotId,
        metadata: b.uid === undefined ? undefined : { [uidKey]: b.uid },
      });
      // A clone reads through its snapshot until flattened; `flattened: true` asks for the copy now.
      if (b.flattened === true && sourceSnapshotId !== undefined) await plane.volumes.flatten(caller, created.id);
      const volume = await plane.volumes.get(caller, created.id);
      return reply.status(202).send({ block_volume: await new Renderer(plane, caller).volume(volume) });
    });

    app.get(path, { schema: { hide: true, querystring: S.VolumeListQuery } }, async (request) => {
      const caller = callerOf(request);
      const q = request.query;
      const plan = parseList(q, sortFields, searchFields);
      const render = new Renderer(plane, caller);
      const none = { block_volumes: [] as Wire[] };
      if (absentFilters.some((f) => q[f] !== undefined) || q.passive === true || q.recycled === true) return none;
      if ((q.pool_id !== undefined && q.pool_id !== poolId) || (q.pool_name !== undefined && q.pool_name !== poolName)) return none;
      if (q.name !== undefined && q.volume_name !== undefined && q.name !== q.volume_name) return none;
      let sourceSnapshotId: string | undefined;
      if (q.block_snapshot_id !== undefined) {
        const found = await orNone(resolve(plane, caller, 'snapshots', q.block_snapshot_id, 'block_snapshot_id'));
        if (found === null) return none;
        sourceSnapshotId = found;
      }
      const keeps: Array<(v: Volume) => boolean> = [];
      if (q.pool_id !== undefined || q.pool_name !== undefined) keeps.push((v) => v.poolId === plane.deps.poolId);
      if (sourceSnapshotId !== undefined) keeps.push((v) => v.sourceSnapshotId === sourceSnapshotId);
      if (q.name_prefix !== undefined) keeps.push((v) => v.name.startsWith(q.name_prefix!));
      const wireChecks: Array<(w: Wire) => boolean> = [];
      if (q.uid !== undefined) wireChecks.push((w) => w.uid === q.uid);
      if (q.status !== undefined) wireChecks.push((w) => w.status === q.status);
      const match = plan.match;
      const all = [...(match === null ? [] : [match]), ...wireChecks];
      const items = await listPage(
        { ...plan, match: all.length === 0 ? null : (w) => all.every((check) => check(w)) },
        (page) => plane.volumes.list(caller, { ...page, sort: plan.sort, order: plan.order, name: q.name ?? q.volume_name }),
        (volumes) => render.volumes(volumes),
        keeps.length === 0 ? null : (v) => keeps.every((keep) => keep(v)),
      );
      return { block_volumes: items };
    });
  }

  app.get('/block-volumes/:id', { schema: { hide: true, params: S.IdParams, querystring: S.PlainQuery } }, async (request) => {
    const caller = callerOf(request);
    const volume = await plane.volumes.get(caller, await resolve(plane, caller, 'volumes', request.params.id));
    return { block_volume: await new Renderer(plane, caller).volume(volume) };
  });

  app.patch('/block-volumes/:id', { schema: { hide: true, params: S.IdParams, body: S.VolumeUpdateBody, querystring: S.PlainQuery } }, async (request) => {
    const caller = callerOf(request);
    const id = await resolve(plane, caller, 'volumes', request.params.id);
    const b = request.body.block_volume;
    const render = new Renderer(plane, caller);
    if (b.action !== undefined || b.block_snapshot_id !== undefined) {
      if (b.action !== rollBack) throw new StrataError('INVALID_ARGUMENT', `block_volume.action must be "${rollBack}" (with block_snapshot_id)`, { field: 'block_volume.action' });
      if (b.block_snapshot_id === undefined) throw new StrataError('MISSING_FIELD', 'block_volume.block_snapshot_id is required to roll back', { field: 'block_volume.block_snapshot_id' });
      const others = Object.keys(b).filter((k) => k !== 'action' && k !== 'block_snapshot_id');
      if (others.length > 0) throw new StrataError('INVALID_ARGUMENT', `a roll_back takes only block_snapshot_id, not ${others.join(', ')}`, { field: `block_volume.${others[0]}` });
      const snapshotId = await resolve(plane, caller, 'snapshots', b.block_snapshot_id, 'block_volume.block_snapshot_id');
      const snapshot = await plane.snapshots.get(caller, snapshotId);
      if (snapshot.volumeId !== id) {
        throw new StrataError('INVALID_ARGUMENT', `block snapshot ${b.block_snapshot_id} is not a snapshot of block volume ${request.params.id}`, { field: 'block_volume.block_snapshot_id' });
      }
      const { volume } = await plane.snapshots.revert(caller, snapshotId);
      return { block_volume: await render.volume(volume) };
    }
    if (b.qos_enabled === true || b.qos !== undefined) throw new StrataError('INVALID_ARGUMENT', 'block_volume.qos: QoS is not supported', { field: 'block_volume.qos' });
    if (b.flattened === false) throw new StrataError('INVALID_ARGUMENT', 'block_volume.flattened: a volume cannot be unflattened', { field: 'block_volume.flattened' });
    if (b.size !== undefined) checkVolumeSize(b.size, 'block_volume.size');
    if (b.name !== undefined || b.description !== undefined || b.size !== undefined) {
      await plane.volumes.update(caller, id, { name: b.name, description: b.description, sizeBytes: b.size });
    }
    if (b.flattened === true) await plane.volumes.flatten(caller, id);
    return { block_volume: await render.volume(await plane.volumes.get(caller, id)) };
  });

  app.delete('/block-volumes/:id', { schema: { hide: true, params: S.IdParams, querystring: S.VolumeDeleteQuery } }, async (request, reply) => {
    const caller = callerOf(request);
    const id = await resolve(plane, caller, 'volumes', request.params.id);
    const volume = await plane.volumes.get(caller, id);
    // XMS refuses to delete a member of a volume group; deleting the group frees its volumes.
    if (volume.groupId !== null) throw new StrataError('HAS_DEPENDENTS', `block volume ${request.params.id} belongs to a block volume group; delete the group first`);
    // There is no trash: every delete is final, so `bypass_trash` changes nothing.
    await plane.volumes.delete(caller, id);
    return reply.status(202).send({ block_volume: await new Renderer(plane, caller).volume(volume, { status: 'deleting', action_status: 'deleting' }) });
  });
};
