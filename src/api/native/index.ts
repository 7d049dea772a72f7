/**
 * The native REST API under /api/v1: authentication for every route but the token endpoint,
 * and one plugin per resource family. Handlers parse, call a core service, and render.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ControlPlane } from '../../core/plane.js';
import { authenticate } from './auth.js';
import { NoBody, NoQuery } from './schemas.js';
import { groupRoutes } from './group-routes.js';
import { identityRoutes } from './identity-routes.js';
import { miscRoutes } from './misc-routes.js';
import { policyRoutes } from './policy-routes.js';
import { snapshotRoutes } from './snapshot-routes.js';
import { volumeRoutes } from './volume-routes.js';

export const nativeApi: FastifyPluginAsync<{ plane: ControlPlane }> = async (app, { plane }) => {
  app.decorateRequest('caller', null);
  // Every route refuses query keys and body fields it does not declare.
  app.addHook('onRoute', (route) => {
    route.schema ??= {};
    route.schema.querystring ??= NoQuery;
    const method = Array.isArray(route.method) ? route.method[0] : route.method;
    if (method === 'POST' || method === 'PUT' || method === 'PATCH') route.schema.body ??= NoBody;
  });
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config.public === true) return;
    request.caller = await authenticate(plane, request);
  });
  for (const routes of [identityRoutes, volumeRoutes, snapshotRoutes, groupRoutes, policyRoutes, miscRoutes]) await app.register(routes, { plane });
};
