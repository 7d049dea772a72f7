/**
 * Sessions: LogInByAccount (`PUT /v1/accounts/login`), LogOut (`DELETE /v1/accounts/sessions/{uuid}`)
 * and ValidateSession (`GET /v1/accounts/sessions/{uuid}/valid`). All synchronous and without
 * an Authorization header (ZStack's @SuppressCredentialCheck).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { RouteOptions } from './common.js';
import { jobUuidHeaderOf, withSchema } from './jobs.js';
import { jsonBody, Params } from './params.js';
import { sessionInventory } from './render.js';

export const accountRoutes: FastifyPluginAsync<RouteOptions> = async (app, { sessions }) => {
  app.put('/v1/accounts/login', async (request, reply) => {
    const body = jsonBody(request.body);
    jobUuidHeaderOf(request);
    const params = new Params(body.logInByAccount, 'org.zstack.header.identity.APILogInByAccountMsg');
    const accountName = params.string('accountName', { required: true })!;
    const password = params.string('password', { required: true })!;
    const session = await sessions.login(accountName, password);
    return reply.send(withSchema(request, { inventory: sessionInventory(session) }));
  });

  app.delete<{ Params: { uuid: string } }>('/v1/accounts/sessions/:uuid', async (request, reply) => {
    jobUuidHeaderOf(request);
    await sessions.logout(request.params.uuid);
    return reply.send({});
  });

  app.get<{ Params: { uuid: string } }>('/v1/accounts/sessions/:uuid/valid', async (request, reply) => {
    const valid = await sessions.callerOf(request.params.uuid).then(
      () => true,
      () => false,
    );
    return reply.send({ valid });
  });
};
