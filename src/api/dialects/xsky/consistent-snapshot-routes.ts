/**
 * Block consistent snapshots (`/v1/block-consistent-snapshots/`), the seed's API: one
 * crash-consistent snapshot of a set of block volumes taken behind core's write fence
 * (`groups.createSnapshotOfVolumes`). Create and list answer `ConsistentSnapshot` records;
 * GET and DELETE answer `{"block_snapshot": Snapshot}`, as the spec (and so the Go SDK) says.
 * The members are block snapshots, listed with `GET /block-snapshots/?consistent_snapshot_id=N`.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Caller } from '../../../core/context.js';
import type { ControlPlane } from '../../../core/plane.js';
import type { GroupSnapshot } from '../../../core/records.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOf } from './auth.js';
import { listPage, parseList } from './lists.js';
import { collection } from './paths.js';
import { resolve, resolveGroupSnapshot } from './refs.js';
import { Renderer, uidKey } from './render.js';
import * as S from './schemas.js';

const sortFields = { id: 'created_at', create: 'created_at', snap_name: 'name', name: 'name' } as const;
const searchFields = ['id', 'snap_name', 'description', 'status', 'create'];

/** XMS names a consistent snapshot when the request does not; so does Strata, the same way each time. */
function defaultName(now: Date): string {
  return `consistent-snapshot-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
}

export const consistentSnapshotRoutes: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  for (const path of collection('/block-consistent-snapshots')) {
    // `cluster_id` names the one cluster there is, so it changes nothing.
    app.post(path, { schema: { hide: true, body: S.ConsistentSnapshotCreateBody, querystring: S.ClusterQuery } }, async (request, reply) => {
      const caller = callerOf(request);
      const b = request.body.block_consistent_snapshot;
      const field = 'block_consistent_snapshot.block_volume_ids';
      if (b.snap_uids !== undefined && b.snap_uids.length !== b.block_volume_ids.length) {
        throw new StrataError('INVALID_ARGUMENT', 'block_consistent_snapshot.snap_uids must give one uid per block volume id, in the same order', { field: 'block_consistent_snapshot.snap_uids' });
      }
      if (new Set(b.block_volume_ids).size !== b.block_volume_ids.length) throw new StrataError('INVALID_ARGUMENT', `${field} has duplicates`, { field });
      const volumeIds: string[] = [];
      for (const seq of b.block_volume_ids) volumeIds.push(await resolve(plane, caller, 'volumes', seq, field));
      let created = await plane.groups.createSnapshotOfVolumes(caller, volumeIds, { name: b.name ?? defaultName(new Date()), description: b.description });
      if (b.snap_uids !== undefined) created = await labelMembers(plane, caller, created, volumeIds, b.snap_uids);
      return reply.status(202).send({ block_consistent_snapshot: new Renderer(plane, caller).consistentSnapshot(created) });
    });

    app.get(path, { schema: { hide: true, querystring: S.ConsistentSnapshotListQuery } }, async (request) => {
      const caller = callerOf(request);
      const plan = parseList(request.query, sortFields, searchFields, 'snap_name');
      const render = new Renderer(plane, caller);
      const items = await listPage(
        plan,
        // Snapshots of a block volume group are volume group snapshots, listed on their own path.
        (page) => plane.groups.listSnapshots(caller, { ...page, sort: plan.sort, order: plan.order, grouped: false }),
        async (snapshots) => snapshots.map((s) => render.consistentSnapshot(s)),
      );
      return { block_consistent_snapshots: items };
    });
  }

  app.get('/block-consistent-snapshots/:id', { schema: { hide: true, params: S.IdParams, querystring: S.PlainQuery } }, async (request) => {
    const caller = callerOf(request);
    const snapshot = await resolveGroupSnapshot(plane, caller, 'consistent', request.params.id);
    return { block_snapshot: new Renderer(plane, caller).consistentSnapshotAsSnapshot(snapshot) };
  });

  app.delete('/block-consistent-snapshots/:id', { schema: { hide: true, params: S.IdParams, querystring: S.PlainQuery } }, async (request, reply) => {
    const caller = callerOf(request);
    const snapshot = await resolveGroupSnapshot(plane, caller, 'consistent', request.params.id);
    await plane.groups.deleteSnapshot(caller, snapshot.id);
    return reply.status(202).send({ block_snapshot: new Renderer(plane, caller).consistentSnapshotAsSnapshot(snapshot, { status: 'deleting', action_status: 'deleting' }) });
  });
};

/** Gives each member snapshot the `uid` the client chose for its volume (`snap_uids[i]` ↔ `block_volume_ids[i]`). */
async function labelMembers(plane: ControlPlane, caller: Caller, created: GroupSnapshot, volumeIds: string[], uids: string[]): Promise<GroupSnapshot> {
  const uidOfVolume = new Map(volumeIds.map((id, i) => [id, uids[i]]));
  for (const member of created.snapshots) {
    const uid = uidOfVolume.get(member.volumeId);
    if (uid !== undefined) await plane.snapshots.update(caller, member.id, { metadata: { ...member.metadata, [uidKey]: uid } });
  }
  return plane.groups.getSnapshot(caller, created.id);
}
