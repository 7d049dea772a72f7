/** Tokens, projects, users and quotas. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ControlPlane } from '../../core/plane.js';
import { callerOf } from './auth.js';
import { callerWire, projectWire, quotaWire, tokenWire, userWire } from './render.js';
import * as S from './schemas.js';
import { Type as T } from '@sinclair/typebox';

export const identityRoutes: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  const tags = ['identity'];

  app.post(
    '/auth/tokens',
    {
      config: { public: true },
      schema: {
        tags,
        summary: 'Get a token for a user name and password',
        description: 'Failed logins are throttled per user name and per client address: 429 TOO_MANY_ATTEMPTS with Retry-After.',
        body: S.TokenRequest,
        response: { 201: S.TokenResponse, ...S.errors(403, 404, 429) },
      },
    },
    async (request, reply) => reply.status(201).send(tokenWire(await plane.identity.issueToken({ ...request.body, address: request.ip }))),
  );
  app.get('/auth/tokens/current', { schema: { tags, summary: 'Who this token is', response: { 200: S.CurrentTokenResponse, ...S.errors() } } }, async (request) =>
    callerWire(callerOf(request)),
  );
  app.delete(
    '/auth/tokens/:id',
    { schema: { tags, summary: 'Revoke a token (`current` for this one)', params: T.Object({ id: T.Union([S.Id, T.Literal('current')]) }, { additionalProperties: false }), response: { 204: T.Null(), ...S.errors(404) } } },
    async (request, reply) => {
      const caller = callerOf(request);
      await plane.identity.revokeToken(caller, request.params.id === 'current' ? caller.tokenId : request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post('/projects', { schema: { tags, summary: 'Create a project (admin)', body: S.ProjectCreate, response: { 201: S.ProjectResponse, ...S.errors(403, 409) } } }, async (request, reply) =>
    reply.status(201).send({ project: projectWire(await plane.identity.createProject(callerOf(request), request.body)) }),
  );
  app.get('/projects', { schema: { tags, summary: 'List projects (admins see all)', response: { 200: S.ProjectList, ...S.errors() } } }, async (request) => ({
    projects: (await plane.identity.listProjects(callerOf(request))).map(projectWire),
  }));
  app.get('/projects/:id', { schema: { tags, summary: 'Show a project', params: S.IdParams, response: { 200: S.ProjectResponse, ...S.errors(404) } } }, async (request) => ({
    project: projectWire(await plane.identity.getProject(callerOf(request), request.params.id)),
  }));
  app.patch(
    '/projects/:id',
    { schema: { tags, summary: 'Rename or redescribe a project (admin)', params: S.IdParams, body: S.ProjectUpdate, response: { 200: S.ProjectResponse, ...S.errors(403, 404, 409) } } },
    async (request) => ({ project: projectWire(await plane.identity.updateProject(callerOf(request), request.params.id, request.body)) }),
  );
  app.delete(
    '/projects/:id',
    { schema: { tags, summary: 'Delete an empty project (admin)', params: S.IdParams, response: { 204: T.Null(), ...S.errors(403, 404, 409) } } },
    async (request, reply) => {
      await plane.identity.deleteProject(callerOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );
  app.get('/projects/:id/quotas', { schema: { tags, summary: 'Quotas and usage of a project', params: S.IdParams, response: { 200: S.QuotaResponse, ...S.errors(404) } } }, async (request) =>
    quotaWire(await plane.quotas.get(callerOf(request), request.params.id)),
  );
  app.put(
    '/projects/:id/quotas',
    { schema: { tags, summary: 'Set quotas of a project (admin); -1 is unlimited', params: S.IdParams, body: S.QuotaUpdate, response: { 200: S.QuotaResponse, ...S.errors(403, 404) } } },
    async (request) => quotaWire(await plane.quotas.set(callerOf(request), request.params.id, request.body)),
  );

  app.post('/users', { schema: { tags, summary: 'Create a user (admin)', body: S.UserCreate, response: { 201: S.UserResponse, ...S.errors(403, 404, 409) } } }, async (request, reply) =>
    reply.status(201).send({ user: userWire(await plane.identity.createUser(callerOf(request), request.body)) }),
  );
  app.get('/users', { schema: { tags, summary: 'List users (admins see all; others themselves)', querystring: S.UserListQuery, response: { 200: S.UserList, ...S.errors() } } }, async (request) => ({
    users: (await plane.identity.listUsers(callerOf(request), { projectId: request.query.project_id })).map(userWire),
  }));
  app.get('/users/:id', { schema: { tags, summary: 'Show a user', params: S.IdParams, response: { 200: S.UserResponse, ...S.errors(404) } } }, async (request) => ({
    user: userWire(await plane.identity.getUser(callerOf(request), request.params.id)),
  }));
  app.patch(
    '/users/:id',
    {
      schema: {
        tags,
        summary: "Change a password (own, with current_password; or any user's, admin) or a role (admin); revokes the user's other tokens",
        params: S.IdParams,
        body: S.UserUpdate,
        response: { 200: S.UserResponse, ...S.errors(403, 404, 429) },
      },
    },
    async (request) => ({ user: userWire(await plane.identity.updateUser(callerOf(request), request.params.id, request.body, { address: request.ip })) }),
  );
  app.delete('/users/:id', { schema: { tags, summary: 'Delete a user (admin)', params: S.IdParams, response: { 204: T.Null(), ...S.errors(403, 404, 409) } } }, async (request, reply) => {
    await plane.identity.deleteUser(callerOf(request), request.params.id);
    return reply.status(204).send(null);
  });
};
