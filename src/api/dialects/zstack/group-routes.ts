/**
 * Volume snapshot groups: CreateVolumeSnapshotGroup, QueryVolumeSnapshotGroup,
 * RevertVmFromSnapshotGroup and UpdateVolumeSnapshotGroup (one action URL),
 * DeleteVolumeSnapshotGroup, CheckVolumeSnapshotGroupAvailability.
 *
 * A ZStack VM is a Strata consistency group and a snapshot group is a group snapshot: all
 * members taken at one instant behind core's write fence. `rootVolumeUuid` names any volume of
 * the VM; a volume in no group is snapshotted alone (a one-volume "VM").
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Caller } from '../../../core/context.js';
import type { GroupSnapshot } from '../../../core/records.js';
import { isStrataError } from '../../../lib/errors.js';
import { sessionIdOf } from './auth.js';
import { hours, idOf, orNotFound, replyQuery, type RouteOptions, startQuery, uuidQuery } from './common.js';
import { type ErrorObject, errorObjectOfJob, platformPath, ZStackApiError } from './errors.js';
import { type Plan, withSchema } from './jobs.js';
import { actionOf, jsonBody, Params, queryList, queryValue } from './params.js';
import { classNames, groupInventory, groupQuery, groupRow, strataId, typed, zuuid } from './render.js';
import { buildWorld, listGroupSnapshots, listVolumes, loadVolumesWorld } from './world.js';

const messages = {
  create: 'org.zstack.header.volume.APICreateVolumeSnapshotGroupMsg',
  update: 'org.zstack.header.storage.snapshot.group.APIUpdateVolumeSnapshotGroupMsg',
  delete: 'org.zstack.header.storage.snapshot.group.APIDeleteVolumeSnapshotGroupMsg',
  availability: 'org.zstack.header.storage.snapshot.group.APICheckVolumeSnapshotGroupAvailabilityMsg',
};
const groupType = 'VolumeSnapshotGroupVO';

const notFoundAsNull = (error: unknown) => (isStrataError(error, 'NOT_FOUND') ? null : Promise.reject(error));

export const groupRoutes: FastifyPluginAsync<RouteOptions> = async (app, { plane, sessions, jobs, mountPrefix }) => {
  const inventoryNow = async (caller: Caller, group: GroupSnapshot) =>
    groupInventory(group, await loadVolumesWorld(plane, caller, group.snapshots.map((s) => s.volumeId)));

  /** Per-member results of a group revert or delete: one failure of the job fails every member. */
  const memberResults = (group: GroupSnapshot, failure: ErrorObject | null, className: string) =>
    group.snapshots.map((member) =>
      typed({ snapshotUuid: zuuid(member.id), volumeUuid: zuuid(member.volumeId), success: failure === null, ...(failure === null ? {} : { error: failure }) }, className),
    );

  app.post('/v1/volume-snapshots/group', async (request, reply) => {
    const body = jsonBody(request.body);
    const sessionId = sessionIdOf(request);
    return jobs.submit(request, reply, { sessionId, apiTimeoutMs: hours(3) }, async (caller): Promise<Plan> => {
      const params = new Params(body.params, messages.create);
      const rootVolumeUuid = params.string('rootVolumeUuid', { required: true })!;
      const name = params.name(true)!;
      const description = params.description();
      const withMemory = params.boolean('withMemory');
      params.creationExtras();
      if (withMemory === true) throw new ZStackApiError('SYS.1014', 'withMemory is not supported: Strata snapshots volumes, a VM has no memory to save here');
      const volumeId = idOf(rootVolumeUuid, 'rootVolumeUuid', 'VolumeVO');
      const volume = await orNotFound(() => plane.volumes.get(caller, volumeId), 'rootVolumeUuid', rootVolumeUuid, 'VolumeVO');
      const group =
        volume.groupId === null
          ? await plane.groups.createSnapshotOfVolumes(caller, [volume.id], { name, description })
          : await plane.groups.createSnapshot(caller, volume.groupId, { name, description });
      return { result: { inventory: await inventoryNow(caller, group) } };
    });
  });

  app.get('/v1/volume-snapshots/group', async (request, reply) => {
    const { caller, query } = await startQuery(request, sessions);
    const [groups, volumes] = await Promise.all([listGroupSnapshots(plane, caller), listVolumes(plane, caller)]);
    const world = buildWorld(volumes, []);
    return replyQuery(request, reply, groups, (g) => groupRow(g, world), (g) => groupInventory(g, world), query, groupQuery);
  });

  app.get<{ Params: { uuid: string } }>('/v1/volume-snapshots/group/:uuid', async (request, reply) => {
    const { caller } = await startQuery(request, sessions);
    const id = strataId(request.params.uuid);
    const group = id === null ? null : await plane.groups.getSnapshot(caller, id).catch(notFoundAsNull);
    const world = group === null ? buildWorld([], []) : await loadVolumesWorld(plane, caller, group.snapshots.map((s) => s.volumeId));
    const query = uuidQuery(id === null ? request.params.uuid : zuuid(id));
    return replyQuery(request, reply, group === null ? [] : [group], (g) => groupRow(g, world), (g) => groupInventory(g, world), query, groupQuery);
  });

  app.put<{ Params: { uuid: string } }>('/v1/volume-snapshots/group/:uuid/actions', async (request, reply) => {
    const body = jsonBody(request.body);
    const action = actionOf(body, ['revertVmFromSnapshotGroup', 'updateVolumeSnapshotGroup'] as const, platformPath(request, mountPrefix));
    const sessionId = sessionIdOf(request);
    const { uuid } = request.params;
    if (action === 'updateVolumeSnapshotGroup') {
      return jobs.submit(request, reply, { sessionId, apiTimeoutMs: hours(0.5) }, async (caller): Promise<Plan> => {
        const params = new Params(body.updateVolumeSnapshotGroup, messages.update);
        const name = params.name(false);
        const description = params.description();
        const id = idOf(uuid, 'uuid', groupType);
        const group = await orNotFound(() => plane.groups.updateSnapshot(caller, id, { name, description }), 'uuid', uuid, groupType);
        return { result: { inventory: await inventoryNow(caller, group) } };
      });
    }
    return jobs.submit(request, reply, { sessionId, apiTimeoutMs: hours(24) }, async (caller): Promise<Plan> => {
      const id = idOf(uuid, 'uuid', groupType);
      const group = await orNotFound(() => plane.groups.getSnapshot(caller, id), 'uuid', uuid, groupType);
      let jobId: string;
      try {
        jobId = (await plane.groups.revertSnapshot(caller, id)).id;
      } catch (error) {
        if (!isStrataError(error, 'VOLUME_IN_USE')) throw error;
        const vm = group.groupId === null ? zuuid(group.snapshots[0]?.volumeId ?? id) : zuuid(group.groupId);
        throw new ZStackApiError('SYS.1006', `unable to revert vm[uuid:${vm}] from snapshot group[uuid:${zuuid(id)}], the vm is not in Stopped state, current state is Running (a member volume has a read-write attachment)`);
      }
      return {
        follow: [jobId],
        finish: async ([job]) => ({ results: memberResults(group, job.status === 'failed' ? errorObjectOfJob(job.error) : null, classNames.revertGroupResult) }),
      };
    });
  });

  app.delete<{ Params: { uuid: string } }>('/v1/volume-snapshots/group/:uuid', async (request, reply) => {
    const sessionId = sessionIdOf(request);
    const { uuid } = request.params;
    return jobs.submit(request, reply, { sessionId, apiTimeoutMs: hours(6) }, async (caller): Promise<Plan> => {
      new Params({ deleteMode: queryValue(request.url, 'deleteMode') }, messages.delete).oneOf('deleteMode', ['Permissive', 'Enforcing'] as const, 'Permissive');
      const id = strataId(uuid);
      const group = id === null ? null : await plane.groups.getSnapshot(caller, id).catch(notFoundAsNull);
      // A group that does not exist is deleted already.
      if (group === null) return { result: { results: [] } };
      const jobId = (await plane.groups.deleteSnapshot(caller, group.id)).id;
      return {
        follow: [jobId],
        finish: async ([job]) => ({ results: memberResults(group, job.status === 'failed' ? errorObjectOfJob(job.error) : null, classNames.deleteGroupResult) }),
      };
    });
  });

  app.get('/v1/volume-snapshots/groups/availabilities', async (request, reply) => {
    const { caller } = await startQuery(request, sessions);
    const listed = queryList(request.url, 'uuids');
    const uuids = new Params({ uuids: listed.length === 0 ? undefined : listed }, messages.availability).stringList('uuids', { required: true, nonEmpty: true })!;
    const results = [];
    for (const uuid of uuids) {
      const id = idOf(uuid, 'uuids', groupType);
      const group = await orNotFound(() => plane.groups.getSnapshot(caller, id), 'uuids', uuid, groupType);
      const unusable = group.snapshots.find((s) => s.status !== 'available');
      const reason =
        group.status !== 'available'
          ? `snapshot group[uuid:${zuuid(group.id)}] is ${group.status}`
          : group.snapshots.length === 0
            ? `snapshot group[uuid:${zuuid(group.id)}] has no snapshots left`
            : unusable !== undefined
              ? `snapshot[uuid:${zuuid(unusable.id)}] of the group is ${unusable.status}`
              : null;
      results.push(typed({ uuid: zuuid(group.id), available: reason === null, ...(reason === null ? {} : { reason }) }, classNames.groupAvailability));
    }
    return reply.send(withSchema(request, { results }));
  });
};
