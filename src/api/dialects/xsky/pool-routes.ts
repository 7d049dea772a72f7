/**
 * Pools (`/v1/pools/`): the one Strata pool of this instance, id 1. Block volumes are created
 * with `pool_id: 1`. `block_volume_num` counts the caller's project's volumes.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Caller } from '../../../core/context.js';
import type { ControlPlane } from '../../../core/plane.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOf } from './auth.js';
import { parseList } from './lists.js';
import { collection } from './paths.js';
import { poolId, poolWire } from './render.js';
import * as S from './schemas.js';

const sortFields = { id: 'created_at', name: 'name' } as const;
const searchFields = ['id', 'name', 'pool_name', 'status', 'action_status'];

async function pool(plane: ControlPlane, caller: Caller) {
  const counted = await plane.volumes.list(caller, { limit: 1, withCount: true });
  return poolWire(plane, counted.total ?? 0);
}

export const poolRoutes: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  for (const path of collection('/pools')) {
    app.get(path, { schema: { hide: true, querystring: S.PoolListQuery } }, async (request) => {
      const caller = callerOf(request);
      const q = request.query;
      const plan = parseList(q, sortFields, searchFields);
      // The Strata pool has no cache tier, no stretched layout and belongs to no OSD group,
      // protection domain, storage class or backend: filters on those match nothing.
      const excluded =
        (q.pool_ids !== undefined && q.pool_ids !== poolId) ||
        q.is_cache === true ||
        q.stretched === true ||
        [q.protection_domain_id, q.osd_group_id, q.os_policy_id, q.storage_class_id, q.osp_data_backend_id, q.osp_cluster_id].some((v) => v !== undefined);
      if (excluded) return { pools: [] };
      const one = await pool(plane, caller);
      const matching = plan.match === null || plan.match(one) ? [one] : [];
      const items = matching.slice(plan.offset, plan.offset + plan.limit);
      return { pools: items };
    });
  }

  app.get('/pools/:id', { schema: { hide: true, params: S.IdParams, querystring: S.PlainQuery } }, async (request) => {
    if (request.params.id !== poolId) throw new StrataError('NOT_FOUND', `pool ${request.params.id} does not exist`);
    return { pool: await pool(plane, callerOf(request)) };
  });
};
