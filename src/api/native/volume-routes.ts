/** Volumes, their snapshots, attachments, diff and snapshot tree. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ControlPlane } from '../../core/plane.js';
import { callerOf } from './auth.js';
import { attachmentWire, jobWire, snapshotWire, treeWire, volumeWire } from './render.js';
import * as S from './schemas.js';

export const volumeRoutes: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  const tags = ['volumes'];
  const chunk = () => plane.blockSizeBytes;

  app.post(
    '/volumes',
    {
      schema: {
        tags,
        summary: 'Create a volume, empty or as a writable clone of a snapshot',
        body: S.VolumeCreate,
        response: { 201: S.VolumeResponse, ...S.errors(403, 404, 409, 413) },
      },
    },
    async (request, reply) => {
      const { name, description, size_bytes: sizeBytes, source_snapshot_id: sourceSnapshotId, metadata } = request.body;
      const volume = await plane.volumes.create(callerOf(request), { name, description, sizeBytes, sourceSnapshotId, metadata });
      return reply.status(201).send({ volume: volumeWire(volume) });
    },
  );
  app.get('/volumes', { schema: { tags, summary: 'List volumes (paged, filtered, sorted)', querystring: S.VolumeListQuery, response: { 200: S.VolumeList, ...S.errors() } } }, async (request) => {
    const q = request.query;
    const page = await plane.volumes.list(callerOf(request), { limit: q.limit, pageToken: q.page_token, sort: q.sort, order: q.order, status: q.status as never, name: q.name, groupId: q.group_id });
    return { volumes: page.items.map(volumeWire), next_page_token: page.nextPageToken };
  });
  app.get('/volumes/:id', { schema: { tags, summary: 'Show a volume', params: S.IdParams, response: { 200: S.VolumeResponse, ...S.errors(404) } } }, async (request) => ({
    volume: volumeWire(await plane.volumes.get(callerOf(request), request.params.id)),
  }));
  app.patch(
    '/volumes/:id',
    { schema: { tags, summary: 'Rename, redescribe or grow a volume (never shrink)', params: S.IdParams, body: S.VolumeUpdate, response: { 200: S.VolumeResponse, ...S.errors(403, 404, 409, 413) } } },
    async (request) => {
      const { name, description, size_bytes: sizeBytes, metadata } = request.body;
      return { volume: volumeWire(await plane.volumes.update(callerOf(request), request.params.id, { name, description, sizeBytes, metadata })) };
    },
  );
  app.delete(
    '/volumes/:id',
    {
      schema: {
        tags,
        summary: 'Delete a volume (a job); refused while it has snapshots unless cascade=true, and while attached read-write',
        params: S.IdParams,
        querystring: S.VolumeDeleteQuery,
        response: { 202: S.JobResponse, ...S.errors(403, 404, 409) },
      },
    },
    async (request, reply) => reply.status(202).send({ job: jobWire(await plane.volumes.delete(callerOf(request), request.params.id, { cascade: request.query.cascade })) }),
  );
  app.post(
    '/volumes/:id/flatten',
    { schema: { tags, summary: 'Stop a clone from reading through its source snapshot (a job)', params: S.IdParams, response: { 202: S.JobResponse, ...S.errors(403, 404, 409) } } },
    async (request, reply) => reply.status(202).send({ job: jobWire(await plane.volumes.flatten(callerOf(request), request.params.id)) }),
  );
  app.get(
    '/volumes/:id/diff',
    {
      schema: {
        tags,
        summary: 'Byte ranges of the live volume that may differ from snapshot `from` (without it: from an empty volume)',
        params: S.IdParams,
        querystring: S.DiffQuery,
        response: { 200: S.DiffResponse, ...S.errors(404, 409) },
      },
    },
    async (request) => {
      const extents = await plane.volumes.diff(callerOf(request), request.params.id, request.query.from);
      return { extents: extents.map((e) => ({ offset: e.offsetBytes, length: e.lengthBytes })), block_size_bytes: chunk() };
    },
  );
  app.get(
    '/volumes/:id/snapshot-tree',
    { schema: { tags, summary: 'The snapshot tree of a volume', params: S.IdParams, response: { 200: S.SnapshotTree, ...S.errors(404) } } },
    async (request) => treeWire(request.params.id, await plane.snapshots.tree(callerOf(request), request.params.id)),
  );

  app.post(
    '/volumes/:id/snapshots',
    {
      schema: {
        tags: ['snapshots'],
        summary: 'Snapshot a volume (crash-consistent; allowed while attached)',
        params: S.IdParams,
        body: S.SnapshotCreate,
        response: { 201: S.SnapshotResponse, ...S.errors(403, 404, 409, 413) },
      },
    },
    async (request, reply) => reply.status(201).send({ snapshot: snapshotWire(await plane.snapshots.create(callerOf(request), request.params.id, request.body)) }),
  );
  app.get(
    '/volumes/:id/snapshots',
    { schema: { tags: ['snapshots'], summary: 'List the snapshots of a volume', params: S.IdParams, querystring: S.VolumeSnapshotListQuery, response: { 200: S.SnapshotList, ...S.errors(404) } } },
    async (request) => {
      const caller = callerOf(request);
      await plane.volumes.row(caller, request.params.id);
      const q = request.query;
      const page = await plane.snapshots.list(caller, {
        limit: q.limit,
        pageToken: q.page_token,
        sort: q.sort,
        order: q.order,
        volumeId: request.params.id,
        status: q.status as never,
        name: q.name,
        groupSnapshotId: q.group_snapshot_id,
        policyId: q.policy_id,
        createdAfter: q.created_after,
        createdBefore: q.created_before,
      });
      return { snapshots: page.items.map(snapshotWire), next_page_token: page.nextPageToken };
    },
  );

  app.post(
    '/volumes/:id/attachments',
    {
      schema: {
        tags: ['attachments'],
        summary: 'Attach a volume over NBD (rw by default); returns the nbd:// (or nbds://) URI',
        params: S.IdParams,
        body: S.optionalBody(S.VolumeAttachmentCreate),
        response: { 201: S.AttachmentResponse, ...S.errors(403, 404, 409) },
      },
    },
    async (request, reply) =>
      reply.status(201).send({ attachment: attachmentWire(await plane.attachments.create(callerOf(request), { volumeId: request.params.id }, request.body?.mode ?? 'rw')) }),
  );
  app.get(
    '/volumes/:id/attachments',
    { schema: { tags: ['attachments'], summary: 'List the attachments of a volume', params: S.IdParams, response: { 200: S.AttachmentList, ...S.errors(404) } } },
    async (request) => {
      const caller = callerOf(request);
      await plane.volumes.row(caller, request.params.id);
      const page = await plane.attachments.list(caller, { volumeId: request.params.id, limit: 1000 });
      return { attachments: page.items.map(attachmentWire), next_page_token: page.nextPageToken };
    },
  );
};
