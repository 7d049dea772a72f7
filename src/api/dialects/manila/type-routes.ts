/**
 * Share types, read-only: Strata has one kind of storage, so one share type, `default`
 * (clients look it up before creating a share). `GET /types`, `/types/default`, `/types/{id}`
 * answer Manila's view (views/types.py) with both of its keys.
 */
import type { FastifyInstance } from 'fastify';
import { StrataError } from '../../../lib/errors.js';
import { type ManilaContext, type ManilaDeps, v2Route } from './context.js';
import { atLeast, windows } from './microversion.js';
import { defaultShareType, type Json } from './render.js';
import { routeSchema } from '../schemas.js';
import * as S from './schemas.js';

function shareTypeView(context: ManilaContext): Json {
  const view: Json = {
    id: defaultShareType.id,
    name: defaultShareType.name,
    extra_specs: { driver_handles_share_servers: 'False', snapshot_support: 'True', create_share_from_snapshot_support: 'True', revert_to_snapshot_support: 'True' },
    required_extra_specs: { driver_handles_share_servers: 'False' },
  };
  view[atLeast(context.requested, '2.7') ? 'share_type_access:is_public' : 'os-share-type-access:is_public'] = true;
  if (atLeast(context.requested, '2.41')) view.description = 'Strata volumes';
  if (atLeast(context.requested, '2.46')) view.is_default = true;
  return view;
}

export function typeRoutes(app: FastifyInstance, deps: ManilaDeps): void {
  const route = (handler: (context: ManilaContext) => Promise<unknown>) => v2Route(deps, windows.shares, handler);
  app.get(
    '/v2/:tenant_id/types',
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) },
    route(async (context) => {
      context.policy.authorize('share_type:index', context.caller);
      const list = [shareTypeView(context)];
      return { volume_types: list, share_types: list };
    }),
  );
  app.get(
    '/v2/:tenant_id/types/:id',
    { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) },
    route(async (context) => {
      context.policy.authorize('share_type:show', context.caller);
      const id = context.params.id;
      if (id !== 'default' && id !== defaultShareType.id) throw new StrataError('NOT_FOUND', `Share type ${id} not found.`);
      const view = shareTypeView(context);
      return { volume_type: view, share_type: view };
    }),
  );
}
