/**
 * The XSKY dialect: XMS block storage REST API (auth tokens, pools, block volumes, block
 * snapshots, block consistent snapshots, block volume groups and their snapshots), served
 * under `/xsky/v1` (and `/xsky/api/v1`, where XMS answers behind its web console) so that
 * XMS clients, such as the generated Go SDK, work with only their endpoint changed.
 * See docs/dialects/xsky.md.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ControlPlane } from '../../../core/plane.js';
import { type DialectOptions, useDialectErrors } from '../shared.js';
import { authenticateHook, tokenRoutes } from './auth.js';
import { consistentSnapshotRoutes } from './consistent-snapshot-routes.js';
import { renderXskyError } from './errors.js';
import { groupRoutes } from './group-routes.js';
import { poolRoutes } from './pool-routes.js';
import { snapshotRoutes } from './snapshot-routes.js';
import { volumeRoutes } from './volume-routes.js';

const api: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  await app.register(tokenRoutes, { plane });
  await app.register(async (secured) => {
    secured.addHook('onRequest', authenticateHook(plane));
    for (const routes of [poolRoutes, volumeRoutes, snapshotRoutes, consistentSnapshotRoutes, groupRoutes]) await secured.register(routes, { plane });
  });
};

export const xskyDialect: FastifyPluginAsync<DialectOptions> = async (app, { plane }) => {
  useDialectErrors(app, (error) => renderXskyError(error));
  for (const prefix of ['/v1', '/api/v1']) await app.register(api, { prefix, plane });
};
