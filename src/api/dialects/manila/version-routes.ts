/**
 * Version discovery (manila/api/versions.py): `GET /` lists every version with 300 Multiple
 * Choices and needs no token (clients call it before anything else); `GET /v2/` lists v2.
 */
import type { FastifyInstance } from 'fastify';
import { type ManilaDeps, rootUrl } from './context.js';
import { versionEntries } from './render.js';
import { routeSchema } from '../schemas.js';
import * as S from './schemas.js';

/** The discovery paths, which answer without a token. */
export const publicPaths = (prefix: string): string[] => [prefix, `${prefix}/`, `${prefix}/v2`, `${prefix}/v2/`];

export function versionRoutes(app: FastifyInstance, deps: ManilaDeps): void {
  app.get('/', { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) }, async (_request, reply) => {
    const { v1, v2 } = versionEntries(rootUrl(deps));
    return reply.status(300).send({ versions: [v1, v2] });
  });
  const v2Root = async () => ({ versions: [versionEntries(rootUrl(deps)).v2] });
  app.get('/v2', { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) }, v2Root);
  app.get('/v2/', { schema: routeSchema({ params: S.Params, querystring: S.ManilaQuery }) }, v2Root);
}
