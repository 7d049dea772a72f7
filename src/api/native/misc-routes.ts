/** Attachments (list, show, delete) and jobs. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import type { ControlPlane } from '../../core/plane.js';
import { callerOf } from './auth.js';
import { attachmentWire, jobWire } from './render.js';
import * as S from './schemas.js';

export const miscRoutes: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  const tags = ['attachments'];
  app.get('/attachments', { schema: { tags, summary: 'List attachments', querystring: S.AttachmentListQuery, response: { 200: S.AttachmentList, ...S.errors() } } }, async (request) => {
    const q = request.query;
    const page = await plane.attachments.list(callerOf(request), { limit: q.limit, pageToken: q.page_token, order: q.order, volumeId: q.volume_id, snapshotId: q.snapshot_id });
    return { attachments: page.items.map(attachmentWire), next_page_token: page.nextPageToken };
  });
  app.get('/attachments/:id', { schema: { tags, summary: 'Show an attachment', params: S.IdParams, response: { 200: S.AttachmentResponse, ...S.errors(404) } } }, async (request) => ({
    attachment: attachmentWire(await plane.attachments.get(callerOf(request), request.params.id)),
  }));
  app.delete(
    '/attachments/:id',
    { schema: { tags, summary: 'End an attachment: its NBD clients are disconnected', params: S.IdParams, response: { 204: T.Null(), ...S.errors(403, 404, 409) } } },
    async (request, reply) => {
      await plane.attachments.delete(callerOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get('/jobs', { schema: { tags: ['jobs'], summary: 'List jobs', querystring: S.JobListQuery, response: { 200: S.JobList, ...S.errors() } } }, async (request) => {
    const q = request.query;
    const page = await plane.jobs.list(callerOf(request), { limit: q.limit, pageToken: q.page_token, order: q.order, status: q.status, kind: q.kind, targetId: q.target_id });
    return { jobs: page.items.map(jobWire), next_page_token: page.nextPageToken };
  });
  app.get('/jobs/:id', { schema: { tags: ['jobs'], summary: 'Show a job: status, progress, error', params: S.IdParams, response: { 200: S.JobResponse, ...S.errors(404) } } }, async (request) => ({
    job: jobWire(await plane.jobs.get(callerOf(request), request.params.id)),
  }));
};
