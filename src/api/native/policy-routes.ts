/** Snapshot policies and their runs. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import type { ControlPlane } from '../../core/plane.js';
import { callerOf } from './auth.js';
import { policyRunWire, policyWire } from './render.js';
import * as S from './schemas.js';

export const policyRoutes: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  const tags = ['policies'];

  app.post(
    '/policies',
    { schema: { tags, summary: 'Create a snapshot policy (schedule, retention, volumes and groups)', body: S.PolicyCreate, response: { 201: S.PolicyResponse, ...S.errors(403, 404, 413) } } },
    async (request, reply) => {
      const { name, cron, timezone, retention, volume_ids: volumeIds, group_ids: groupIds } = request.body;
      return reply.status(201).send({ policy: policyWire(await plane.policies.create(callerOf(request), { name, cron, timezone, retention, volumeIds, groupIds })) });
    },
  );
  app.get('/policies', { schema: { tags, summary: 'List snapshot policies', querystring: S.PolicyListQuery, response: { 200: S.PolicyList, ...S.errors() } } }, async (request) => {
    const q = request.query;
    const page = await plane.policies.list(callerOf(request), { limit: q.limit, pageToken: q.page_token, sort: q.sort, order: q.order, name: q.name });
    return { policies: page.items.map(policyWire), next_page_token: page.nextPageToken };
  });
  app.get('/policies/:id', { schema: { tags, summary: 'Show a snapshot policy', params: S.IdParams, response: { 200: S.PolicyResponse, ...S.errors(404) } } }, async (request) => ({
    policy: policyWire(await plane.policies.get(callerOf(request), request.params.id)),
  }));
  app.patch(
    '/policies/:id',
    {
      schema: {
        tags,
        summary: 'Change a policy (a new cron or time zone starts its schedule afresh; lists are replaced whole)',
        params: S.IdParams,
        body: S.PolicyUpdate,
        response: { 200: S.PolicyResponse, ...S.errors(403, 404, 413) },
      },
    },
    async (request) => {
      const { name, cron, timezone, retention, volume_ids: volumeIds, group_ids: groupIds } = request.body;
      return { policy: policyWire(await plane.policies.update(callerOf(request), request.params.id, { name, cron, timezone, retention, volumeIds, groupIds })) };
    },
  );
  app.delete(
    '/policies/:id',
    { schema: { tags, summary: 'Delete a policy and its runs; the snapshots it took stay', params: S.IdParams, response: { 204: T.Null(), ...S.errors(403, 404) } } },
    async (request, reply) => {
      await plane.policies.delete(callerOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );
  app.get(
    '/policies/:id/runs',
    {
      schema: {
        tags,
        summary: 'A policy runs, newest due time first: what each took, pruned, kept back, skipped, and its failures',
        params: S.IdParams,
        querystring: S.PolicyRunListQuery,
        response: { 200: S.PolicyRunList, ...S.errors(404) },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await plane.policies.runs(callerOf(request), request.params.id, { limit: q.limit, pageToken: q.page_token, order: q.order });
      return { runs: page.items.map(policyRunWire), next_page_token: page.nextPageToken };
    },
  );
};
