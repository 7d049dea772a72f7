/**
 * The Huawei DWS (GaussDB(DWS)) dialect under /dws: cluster snapshots at
 * `/v1.0/{project_id}/snapshots…` and clusters at `/v1.0/{project_id}/clusters…`, so DWS
 * clients work against Strata with only their endpoint changed. A DWS cluster is a Strata
 * consistency group, a DWS snapshot a group snapshot. Every request needs a Strata token in
 * `X-Auth-Token` whose project is the path's `{project_id}`; faults are DWS's
 * `{"error_code", "error_msg"}` (errors.ts). See docs/dialects/dws.md.
 */
import type { FastifyPluginAsync } from 'fastify';
import { type DialectOptions, useDialectErrors } from '../shared.js';
import { authenticate } from './auth.js';
import { clusterRoutes } from './cluster-routes.js';
import { renderDwsError } from './errors.js';
import { snapshotRoutes } from './snapshot-routes.js';

export const dwsDialect: FastifyPluginAsync<DialectOptions> = async (app, { plane }) => {
  useDialectErrors(app, renderDwsError);
  // Huawei clients may send `Content-Type: application/json` on a DELETE or GET without a body;
  // an empty body is no body here (the app-wide parser refuses it), and validate.ts refuses
  // it where a body is required.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (String(body).trim() === '') done(null, undefined);
    else parseJson(request, String(body), done);
  });
  app.addHook('onRequest', async (request) => authenticate(plane, request));
  await app.register(snapshotRoutes, { plane });
  await app.register(clusterRoutes, { plane });
};
