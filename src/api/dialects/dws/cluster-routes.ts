/** DWS clusters (Strata consistency groups): list, show, and one cluster's snapshots. */
import type { FastifyPluginAsync } from 'fastify';
import type { ControlPlane } from '../../../core/plane.js';
import { callerOf } from './auth.js';
import { cluster, clusterView, gather, type PageRequest } from './lookups.js';
import { clusterSnapshotItem, clusterWire } from './render.js';
import { checkUuid, parseClusterSnapshotQuery } from './validate.js';
import { routeSchema } from '../schemas.js';
import * as S from './schemas.js';

type ClusterParams = { Params: { project_id: string; cluster_id: string } };

export const clusterRoutes: FastifyPluginAsync<{ plane: ControlPlane }> = async (app, { plane }) => {
  app.get('/v1.0/:project_id/clusters', { schema: routeSchema({ params: S.Params, querystring: S.DwsQuery }) }, async (request) => {
    const caller = callerOf(request);
    const { items } = await gather((page) => plane.groups.list(caller, { ...page, sort: 'created_at', order: 'asc' }));
    const clusters = [];
    for (const group of items) clusters.push(clusterWire(await clusterView(plane, caller, group)));
    return { clusters, count: clusters.length };
  });

  app.get<ClusterParams>('/v1.0/:project_id/clusters/:cluster_id', { schema: routeSchema({ params: S.Params, querystring: S.DwsQuery }) }, async (request) => {
    const caller = callerOf(request);
    const group = await cluster(plane, caller, checkUuid(request.params.cluster_id, 'cluster_id'), 'cluster_id');
    return { cluster: clusterWire(await clusterView(plane, caller, group)) };
  });

  app.get<ClusterParams>('/v1.0/:project_id/clusters/:cluster_id/snapshots', { schema: routeSchema({ params: S.Params, querystring: S.DwsQuery }) }, async (request) => {
    const caller = callerOf(request);
    const clusterId = checkUuid(request.params.cluster_id, 'cluster_id');
    const query = parseClusterSnapshotQuery(request.query);
    const group = await cluster(plane, caller, clusterId, 'cluster_id');
    const list = (page: PageRequest) => plane.groups.listSnapshots(caller, { ...page, groupId: clusterId, sort: query.sort, order: query.order });
    // Without a limit DWS has one page, so any later page is empty.
    const { items, total } =
      query.limit === undefined && query.page > 0
        ? { items: [], total: (await list({ limit: 1, withCount: true })).total ?? 0 }
        : await gather(list, { limit: query.limit, skip: query.limit === undefined ? 0 : query.page * query.limit });
    return {
      snapshots: items.map((s) => clusterSnapshotItem({ ...s, groupId: clusterId }, group.name)),
      project_id: request.params.project_id,
      cluster_id: clusterId,
      count: total,
    };
  });
};
