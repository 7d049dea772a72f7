/**
 * Sessions: LogInByAccount (`PUT /v1/accounts/login`), LogOut (`DELETE /v1/accounts/sessions/{uuid}`)
 * and ValidateSession (`GET /v1/accounts/sessions/{uuid}/valid`). All synchronous. Login and
 * logout take no Authorization header (the password, or the session in the path, is the
 * credential). ValidateSession needs a session (`Authorization: OAuth …`, else 400 / ID.1001),
 * so it is no oracle for guessing sessions: it answers `valid: true` only for a live session of
 * the caller's own user (an admin's: of any user), `false` for anything else.
 * Login failures are throttled per account name and client address (429, Retry-After).
 */
import type { FastifyPluginAsync } from 'fastify';
import type { RouteOptions } from './common.js';
import { sessionIdOf } from './auth.js';
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
    const session = await sessions.login(accountName, password, request.ip);
    return reply.send(withSchema(request, { inventory: sessionInventory(session) }));
  });

  app.delete<{ Params: { uuid: string } }>('/v1/accounts/sessions/:uuid', async (request, reply) => {
    jobUuidHeaderOf(request);
    await sessions.logout(request.params.uuid);
    return reply.send({});
  });

  app.get<{ Params: { uuid: string } }>('/v1/accounts/sessions/:uuid/valid', async (request, reply) => {
    const caller = await sessions.callerOf(sessionIdOf(request));
    const valid = await sessions.callerOf(request.params.uuid).then(
      (owner) => owner.userId === caller.userId || caller.role === 'admin',
      () => false,
    );
    return reply.send({ valid });
  });
};
