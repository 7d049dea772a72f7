/**
 * The Huawei EVS dialect under `/evs`: the cloudsnapshots family at `/v2/{project_id}/…`
 * (with the deprecated os-vendor-snapshots rollback at v2 and v3), and the Cinder-compatible
 * volume and snapshot paths EVS shares with Cinder at `/v2/{project_id}/…` and
 * `/v3/{project_id}/…`, rendered by the Cinder dialect's code at Cinder 3.0. Faults carry EVS
 * error codes. See docs/dialects/evs.md.
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { RouteContext } from '../cinder/context.js';
import { registerSnapshotRoutes } from '../cinder/snapshot-routes.js';
import { registerVolumeRoutes } from '../cinder/volume-routes.js';
import { type DialectOptions, useDialectErrors } from '../shared.js';
import { authenticateEvs } from './auth.js';
import { registerCloudSnapshotRoutes } from './cloudsnapshot-routes.js';
import { evsFault } from './errors.js';

export const evsDialect: FastifyPluginAsync<DialectOptions> = async (app, { plane, publicUrl }) => {
  useDialectErrors(app, (error, request) => evsFault(error, request));
  app.addHook('onRequest', async (request) => authenticateEvs(plane, request));
  app.addHook('onSend', async (request, reply, payload) => {
    void reply.header('x-openstack-request-id', `req-${request.id}`);
    return payload;
  });

  const prefix = app.prefix;
  // Links point back through the API version (v2 or v3) the request came in by.
  const root = (request: FastifyRequest) => {
    const version = request.url.startsWith(`${prefix}/v3/`) ? 'v3' : 'v2';
    return `${publicUrl()}${prefix}/${version}/${(request.params as { project_id: string }).project_id}`;
  };
  const v2: RouteContext = { plane, bases: ['/v2/:project_id'], root };
  const both: RouteContext = { plane, bases: ['/v2/:project_id', '/v3/:project_id'], root };
  registerCloudSnapshotRoutes(app, v2, both);
  registerVolumeRoutes(app, both);
  registerSnapshotRoutes(app, both);
};
