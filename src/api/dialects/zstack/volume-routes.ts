/** QueryVolume: `GET /v1/volumes` and `GET /v1/volumes/{uuid}` (synchronous). */
import type { FastifyPluginAsync } from 'fastify';
import type { Volume } from '../../../core/records.js';
import { isStrataError } from '../../../lib/errors.js';
import { replyQuery, type RouteOptions, startQuery, uuidQuery } from './common.js';
import { strataId, volumeInventory, volumeQuery, volumeRow, zuuid } from './render.js';
import { buildWorld, listVolumes, type World } from './world.js';

export const volumeRoutes: FastifyPluginAsync<RouteOptions> = async (app, { plane, sessions }) => {
  const answer = (world: World, volumes: Volume[]) => ({
    rowOf: (v: Volume) => volumeRow(v, world),
    inventoryOf: (v: Volume) => volumeInventory(v, world),
    volumes,
  });

  app.get('/v1/volumes', async (request, reply) => {
    const { caller, query } = await startQuery(request, sessions);
    const world = buildWorld(await listVolumes(plane, caller), []);
    const { rowOf, inventoryOf, volumes } = answer(world, [...world.volumes.values()]);
    return replyQuery(request, reply, volumes, rowOf, inventoryOf, query, volumeQuery);
  });

  app.get<{ Params: { uuid: string } }>('/v1/volumes/:uuid', async (request, reply) => {
    const { caller } = await startQuery(request, sessions);
    const id = strataId(request.params.uuid);
    const query = uuidQuery(id === null ? request.params.uuid : zuuid(id));
    // A uuid naming nothing is an empty answer, not an error (it is a query).
    const volume = id === null ? null : await plane.volumes.get(caller, id).catch((error: unknown) => (isStrataError(error, 'NOT_FOUND') ? null : Promise.reject(error)));
    const world = volume === null ? buildWorld([], []) : volume.groupId === null ? buildWorld([volume], []) : buildWorld(await listVolumes(plane, caller, volume.groupId), []);
    const { rowOf, inventoryOf } = answer(world, []);
    return replyQuery(request, reply, volume === null ? [] : [world.volumes.get(volume.id)!], rowOf, inventoryOf, query, volumeQuery);
  });
};
