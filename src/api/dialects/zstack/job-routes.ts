/** `GET /v1/api-jobs/{uuid}`: the result of an async API (see jobs.ts); any other method is 405. */
import type { FastifyPluginAsync } from 'fastify';
import type { RouteOptions } from './common.js';

export const jobRoutes: FastifyPluginAsync<RouteOptions> = async (app, { jobs }) => {
  app.get<{ Params: { uuid: string } }>('/v1/api-jobs/:uuid', async (request, reply) => jobs.poll(request, reply, request.params.uuid));
  app.route({
    method: ['POST', 'PUT', 'DELETE', 'PATCH'],
    url: '/v1/api-jobs/:uuid',
    handler: async (_request, reply) => reply.status(405).type('text/plain; charset=utf-8').send('only GET method is allowed for querying job status'),
  });
};
