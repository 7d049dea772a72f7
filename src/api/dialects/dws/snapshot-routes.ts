/**
 * DWS snapshots: create, list, show, delete, and restore into a new cluster. A DWS snapshot is
 * a Strata group snapshot of the cluster's group; restore clones it into a new group (a job
 * that DWS shows as the new cluster's CREATING status with RESTORING progress).
 */
import type { FastifyPluginAsync } from 'fastify';
import { requireWriter } from '../../../core/context.js';
import type { ControlPlane } from '../../../core/plane.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOf } from './auth.js';
import { cluster, dwsSnapshot, gather } from './lookups.js';
import { snapshotDetail, snapshotItem } from './render.js';
import { checkUuid, parseRestore, parseSnapshotCreate } from './validate.js';
import { routeSchema } from '../schemas.js';
import * as S from './schemas.js';

type SnapshotParams = { Params: { project_id: string; snapshot_id: string } };

export const snapshotRoutes: FastifyPluginAsync<{ plane: ControlPlane }> = async (app, { plane }) => {
  app.post('/v1.0/:project_id/snapshots', { schema: routeSchema({ params: S.Params, querystring: S.DwsQuery, body: S.SnapshotCreateBody }) }, async (request) => {
    const input = parseSnapshotCreate(request.body);
    const caller = callerOf(request);
    requireWriter(caller);
    await cluster(plane, caller, input.clusterId, 'snapshot.cluster_id');
    // DWS snapshot names are unique in the project whatever their case; core checks it inside
    // the creating transaction, so two concurrent creates cannot both take a name.
    const created = await plane.groups.createSnapshot(caller, input.clusterId, { name: input.name, description: input.description, uniqueNameInsensitive: true });
    return { snapshot: { id: created.id } };
  });

  app.get('/v1.0/:project_id/snapshots', { schema: routeSchema({ params: S.Params, querystring: S.DwsQuery }) }, async (request) => {
    const caller = callerOf(request);
    const { items } = await gather((page) => plane.groups.listSnapshots(caller, { ...page, sort: 'created_at', order: 'asc', grouped: true }));
    const snapshots = items.filter((s): s is typeof s & { groupId: string } => s.groupId !== null).map(snapshotItem);
    return { snapshots, count: snapshots.length };
  });

  app.get<SnapshotParams>('/v1.0/:project_id/snapshots/:snapshot_id', { schema: routeSchema({ params: S.Params, querystring: S.DwsQuery }) }, async (request) => {
    const caller = callerOf(request);
    const snapshot = await dwsSnapshot(plane, caller, checkUuid(request.params.snapshot_id, 'snapshot_id'));
    const group = await plane.groups.get(caller, snapshot.groupId);
    return { snapshot: snapshotDetail(snapshot, group.name) };
  });

  app.delete<SnapshotParams>('/v1.0/:project_id/snapshots/:snapshot_id', { schema: routeSchema({ params: S.Params, querystring: S.DwsQuery }) }, async (request, reply) => {
    const caller = callerOf(request);
    const id = checkUuid(request.params.snapshot_id, 'snapshot_id');
    requireWriter(caller);
    await dwsSnapshot(plane, caller, id);
    await plane.groups.deleteSnapshot(caller, id);
    return reply.status(202).send();
  });

  app.post<SnapshotParams>('/v1.0/:project_id/snapshots/:snapshot_id/actions', { schema: routeSchema({ params: S.Params, querystring: S.DwsQuery, body: S.RestoreBody }) }, async (request) => {
    const id = checkUuid(request.params.snapshot_id, 'snapshot_id');
    const input = parseRestore(request.body);
    const caller = callerOf(request);
    requireWriter(caller);
    await dwsSnapshot(plane, caller, id);
    const taken = await plane.groups.list(caller, { name: input.name, limit: 1 });
    if (taken.items.length > 0) throw new StrataError('ALREADY_EXISTS', `a cluster named ${input.name} already exists`, { field: 'restore.name' });
    const { group } = await plane.groups.cloneSnapshot(caller, id, { name: input.name });
    return { cluster: { id: group.id } };
  });
};
