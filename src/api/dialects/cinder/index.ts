/**
 * The OpenStack Cinder Block Storage v3 dialect under `/cinder`: version discovery at the root,
 * microversions 3.0–3.71, volumes, snapshots (with metadata and the admin actions), groups and
 * group snapshots, Cinder's fault bodies. Every resource path is served both as
 * `/v3/{project_id}/…` and, as Cinder does from 3.67, as `/v3/…` (the token's project).
 * See docs/dialects/cinder.md.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { type DialectOptions, useDialectErrors } from '../shared.js';
import { authenticateOpenStack, checkProject } from './auth.js';
import type { RouteContext } from './context.js';
import { cinderFault } from './errors.js';
import { registerGroupRoutes } from './group-routes.js';
import { echoVersion, negotiate } from './microversion.js';
import { registerSnapshotRoutes } from './snapshot-routes.js';
import { registerVersionRoutes } from './versions.js';
import { registerVolumeRoutes } from './volume-routes.js';

export const cinderDialect: FastifyPluginAsync<DialectOptions> = async (app, { plane, publicUrl }) => {
  useDialectErrors(app, (error) => cinderFault(error));

  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.cinderPublic === true) return;
    await authenticateOpenStack(plane, request);
    negotiate(request);
    checkProject(request);
  });
  app.addHook('onSend', async (request, reply, payload) => {
    // cinderclient reads the request id from x-compute-request-id and echoes x-openstack-request-id.
    void reply.header('x-openstack-request-id', `req-${request.id}`);
    void reply.header('x-compute-request-id', `req-${request.id}`);
    if (request.routeOptions.config?.cinderPublic !== true) echoVersion(request, reply);
    return payload;
  });

  registerVersionRoutes(app, publicUrl);
  const prefix = app.prefix;
  const context: RouteContext = {
    plane,
    bases: ['/v3/:project_id', '/v3'],
    root: (request: FastifyRequest) => {
      const projectId = (request.params as { project_id?: string }).project_id;
      return `${publicUrl()}${prefix}/v3${projectId === undefined ? '' : `/${projectId}`}`;
    },
  };
  registerVolumeRoutes(app, context);
  registerSnapshotRoutes(app, context);
  registerGroupRoutes(app, context);
};
