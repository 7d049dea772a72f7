/** Snapshots: list, show, update, delete, revert, clone, diff, attach. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ControlPlane } from '../../core/plane.js';
import { callerOf } from './auth.js';
import { attachmentWire, jobWire, snapshotWire, volumeWire } from './render.js';
import * as S from './schemas.js';

export const snapshotRoutes: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  const tags = ['snapshots'];

  app.get('/snapshots', { schema: { tags, summary: 'List snapshots (paged, filtered, sorted)', querystring: S.SnapshotListQuery, response: { 200: S.SnapshotList, ...S.errors() } } }, async (request) => {
    const q = request.query;
    const page = await plane.snapshots.list(callerOf(request), {
      limit: q.limit,
      pageToken: q.page_token,
      sort: q.sort,
      order: q.order,
      volumeId: q.volume_id,
      status: q.status as never,
      name: q.name,
      groupSnapshotId: q.group_snapshot_id,
      policyId: q.policy_id,
      createdAfter: q.created_after,
      createdBefore: q.created_before,
    });
    return { snapshots: page.items.map(snapshotWire), next_page_token: page.nextPageToken };
  });
  app.get(
    '/snapshots/:id',
    { schema: { tags, summary: 'Show a snapshot with its parent, children and exclusive bytes', params: S.IdParams, response: { 200: S.SnapshotResponse, ...S.errors(404) } } },
    async (request) => ({ snapshot: snapshotWire(await plane.snapshots.get(callerOf(request), request.params.id)) }),
  );
  app.patch(
    '/snapshots/:id',
    { schema: { tags, summary: 'Update name, description or metadata (metadata is replaced whole)', params: S.IdParams, body: S.SnapshotUpdate, response: { 200: S.SnapshotResponse, ...S.errors(403, 404) } } },
    async (request) => ({ snapshot: snapshotWire(await plane.snapshots.update(callerOf(request), request.params.id, request.body)) }),
  );
  app.delete(
    '/snapshots/:id',
    { schema: { tags, summary: 'Delete a snapshot and reclaim its space (a job)', params: S.IdParams, response: { 202: S.JobResponse, ...S.errors(403, 404, 409) } } },
    async (request, reply) => reply.status(202).send({ job: jobWire(await plane.snapshots.delete(callerOf(request), request.params.id)) }),
  );
  app.post(
    '/snapshots/:id/revert',
    {
      schema: {
        tags,
        summary: 'Revert the volume to this snapshot (a job); 409 while attached read-write unless force',
        params: S.IdParams,
        body: S.optionalBody(S.RevertRequest),
        response: { 202: S.RevertResponse, ...S.errors(403, 404, 409) },
      },
    },
    async (request, reply) => {
      const { job, volume } = await plane.snapshots.revert(callerOf(request), request.params.id, { force: request.body?.force });
      return reply.status(202).send({ job: jobWire(job), volume: volumeWire(volume) });
    },
  );
  app.post(
    '/snapshots/:id/clone',
    { schema: { tags, summary: 'Create a writable volume from this snapshot', params: S.IdParams, body: S.CloneRequest, response: { 201: S.VolumeResponse, ...S.errors(403, 404, 409, 413) } } },
    async (request, reply) => {
      const { name, description, size_bytes: sizeBytes } = request.body;
      return reply.status(201).send({ volume: volumeWire(await plane.snapshots.clone(callerOf(request), request.params.id, { name, description, sizeBytes })) });
    },
  );
  app.get(
    '/snapshots/:id/diff',
    {
      schema: {
        tags,
        summary: 'Byte ranges that may differ between snapshot `from` (without it: an empty volume) and this snapshot',
        params: S.IdParams,
        querystring: S.DiffQuery,
        response: { 200: S.DiffResponse, ...S.errors(404, 409) },
      },
    },
    async (request) => {
      const extents = await plane.snapshots.diff(callerOf(request), request.params.id, request.query.from);
      return { extents: extents.map((e) => ({ offset: e.offsetBytes, length: e.lengthBytes })), block_size_bytes: plane.blockSizeBytes };
    },
  );
  app.post(
    '/snapshots/:id/attachments',
    {
      schema: {
        tags: ['attachments'],
        summary: 'Attach a snapshot read-only over NBD',
        params: S.IdParams,
        body: S.optionalBody(S.SnapshotAttachmentCreate),
        response: { 201: S.AttachmentResponse, ...S.errors(403, 404, 409) },
      },
    },
    async (request, reply) => reply.status(201).send({ attachment: attachmentWire(await plane.attachments.create(callerOf(request), { snapshotId: request.params.id }, 'ro')) }),
  );
};
