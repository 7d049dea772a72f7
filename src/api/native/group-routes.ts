/** Consistency groups and group snapshots. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type as T } from '@sinclair/typebox';
import type { ControlPlane } from '../../core/plane.js';
import { callerOf } from './auth.js';
import { groupSnapshotWire, groupWire, jobWire } from './render.js';
import * as S from './schemas.js';

export const groupRoutes: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  const tags = ['groups'];

  app.post('/groups', { schema: { tags, summary: 'Create a consistency group', body: S.GroupCreate, response: { 201: S.GroupResponse, ...S.errors(403, 404, 409, 413) } } }, async (request, reply) => {
    const { name, description, volume_ids: volumeIds } = request.body;
    return reply.status(201).send({ group: groupWire(await plane.groups.create(callerOf(request), { name, description, volumeIds })) });
  });
  app.get('/groups', { schema: { tags, summary: 'List groups', querystring: S.GroupListQuery, response: { 200: S.GroupList, ...S.errors() } } }, async (request) => {
    const q = request.query;
    const page = await plane.groups.list(callerOf(request), { limit: q.limit, pageToken: q.page_token, sort: q.sort, order: q.order, name: q.name });
    return { groups: page.items.map(groupWire), next_page_token: page.nextPageToken };
  });
  app.get('/groups/:id', { schema: { tags, summary: 'Show a group', params: S.IdParams, response: { 200: S.GroupResponse, ...S.errors(404) } } }, async (request) => ({
    group: groupWire(await plane.groups.get(callerOf(request), request.params.id)),
  }));
  app.patch(
    '/groups/:id',
    { schema: { tags, summary: 'Rename, redescribe, add or remove members', params: S.IdParams, body: S.GroupUpdate, response: { 200: S.GroupResponse, ...S.errors(403, 404, 409, 413) } } },
    async (request) => {
      const { name, description, add_volume_ids: addVolumeIds, remove_volume_ids: removeVolumeIds } = request.body;
      return { group: groupWire(await plane.groups.update(callerOf(request), request.params.id, { name, description, addVolumeIds, removeVolumeIds })) };
    },
  );
  app.delete(
    '/groups/:id',
    { schema: { tags, summary: 'Delete a group (its volumes stay); refused while it has group snapshots', params: S.IdParams, response: { 204: T.Null(), ...S.errors(403, 404, 409) } } },
    async (request, reply) => {
      await plane.groups.delete(callerOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );
  app.post(
    '/groups/:id/volumes',
    { schema: { tags, summary: 'Add volumes to a group', params: S.IdParams, body: S.GroupMembersAdd, response: { 200: S.GroupResponse, ...S.errors(403, 404, 409, 413) } } },
    async (request) => ({ group: groupWire(await plane.groups.update(callerOf(request), request.params.id, { addVolumeIds: request.body.volume_ids })) }),
  );
  app.delete(
    '/groups/:id/volumes/:volume_id',
    { schema: { tags, summary: 'Remove a volume from a group', params: S.GroupMemberParams, response: { 200: S.GroupResponse, ...S.errors(403, 404, 409) } } },
    async (request) => ({ group: groupWire(await plane.groups.update(callerOf(request), request.params.id, { removeVolumeIds: [request.params.volume_id] })) }),
  );

  const gtags = ['group snapshots'];
  app.post(
    '/groups/:id/snapshots',
    {
      schema: {
        tags: gtags,
        summary: 'Snapshot every member at one instant (write fence)',
        params: S.IdParams,
        body: S.GroupSnapshotCreate,
        response: { 201: S.GroupSnapshotResponse, ...S.errors(403, 404, 409, 413) },
      },
    },
    async (request, reply) => reply.status(201).send({ group_snapshot: groupSnapshotWire(await plane.groups.createSnapshot(callerOf(request), request.params.id, request.body)) }),
  );
  app.get('/group-snapshots', { schema: { tags: gtags, summary: 'List group snapshots', querystring: S.GroupSnapshotListQuery, response: { 200: S.GroupSnapshotList, ...S.errors() } } }, async (request) => {
    const q = request.query;
    const page = await plane.groups.listSnapshots(callerOf(request), { limit: q.limit, pageToken: q.page_token, sort: q.sort, order: q.order, groupId: q.group_id, status: q.status });
    return { group_snapshots: page.items.map(groupSnapshotWire), next_page_token: page.nextPageToken };
  });
  app.get(
    '/group-snapshots/:id',
    { schema: { tags: gtags, summary: 'Show a group snapshot with its member snapshots', params: S.IdParams, response: { 200: S.GroupSnapshotResponse, ...S.errors(404) } } },
    async (request) => ({ group_snapshot: groupSnapshotWire(await plane.groups.getSnapshot(callerOf(request), request.params.id)) }),
  );
  app.patch(
    '/group-snapshots/:id',
    { schema: { tags: gtags, summary: 'Rename or redescribe a group snapshot', params: S.IdParams, body: S.GroupSnapshotUpdate, response: { 200: S.GroupSnapshotResponse, ...S.errors(403, 404) } } },
    async (request) => ({ group_snapshot: groupSnapshotWire(await plane.groups.updateSnapshot(callerOf(request), request.params.id, request.body)) }),
  );
  app.delete(
    '/group-snapshots/:id',
    { schema: { tags: gtags, summary: 'Delete a group snapshot and its members (a job)', params: S.IdParams, response: { 202: S.JobResponse, ...S.errors(403, 404, 409) } } },
    async (request, reply) => reply.status(202).send({ job: jobWire(await plane.groups.deleteSnapshot(callerOf(request), request.params.id)) }),
  );
  app.post(
    '/group-snapshots/:id/revert',
    {
      schema: {
        tags: gtags,
        summary: 'Revert every member volume (a job); 409 while a member is attached read-write unless force',
        params: S.IdParams,
        body: S.optionalBody(S.RevertRequest),
        response: { 202: S.JobResponse, ...S.errors(403, 404, 409) },
      },
    },
    async (request, reply) => reply.status(202).send({ job: jobWire(await plane.groups.revertSnapshot(callerOf(request), request.params.id, { force: request.body?.force })) }),
  );
  app.post(
    '/group-snapshots/:id/clone',
    {
      schema: {
        tags: gtags,
        summary: 'Clone a group snapshot into a new group of volumes (a job)',
        params: S.IdParams,
        body: S.GroupCloneRequest,
        response: { 202: S.GroupCloneResponse, ...S.errors(403, 404, 409, 413) },
      },
    },
    async (request, reply) => {
      const { job, group } = await plane.groups.cloneSnapshot(callerOf(request), request.params.id, request.body);
      return reply.status(202).send({ job: jobWire(job), group: groupWire(group) });
    },
  );
};
