/**
 * Volume snapshots: CreateVolumeSnapshot, QueryVolumeSnapshot, UpdateVolumeSnapshot and
 * RevertVolumeFromSnapshot (one action URL), DeleteVolumeSnapshot, BatchDeleteVolumeSnapshot,
 * QueryVolumeSnapshotTree.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Caller } from '../../../core/context.js';
import type { Snapshot } from '../../../core/records.js';
import { isStrataError } from '../../../lib/errors.js';
import { sessionIdOf } from './auth.js';
import { failedJob, hours, idOf, orNotFound, replyQuery, type RouteOptions, startQuery, uuidQuery } from './common.js';
import { type ErrorObject, errorObjectOf, errorObjectOfJob, platformPath, ZStackApiError } from './errors.js';
import type { Plan } from './jobs.js';
import type { Query } from './query.js';
import { actionOf, jsonBody, Params, queryValue } from './params.js';
import {
  classNames,
  snapshotInventory,
  snapshotQuery,
  snapshotRow,
  snapshotState,
  snapshotStatusOf,
  strataId,
  treeInventory,
  treeQuery,
  treeRoots,
  treeRow,
  typed,
  zuuid,
} from './render.js';
import { buildWorld, loadVolumeWorld, loadWorld, type World } from './world.js';

const messages = {
  create: 'org.zstack.header.volume.APICreateVolumeSnapshotMsg',
  update: 'org.zstack.header.storage.snapshot.APIUpdateVolumeSnapshotMsg',
  revert: 'org.zstack.header.storage.snapshot.APIRevertVolumeFromSnapshotMsg',
  delete: 'org.zstack.header.storage.snapshot.APIDeleteVolumeSnapshotMsg',
  batchDelete: 'org.zstack.header.storage.snapshot.APIBatchDeleteVolumeSnapshotMsg',
};
const snapshotType = 'VolumeSnapshotVO';
const deleteModes = ['Permissive', 'Enforcing'] as const;

/** VOLUME_SNAPSHOT.1000: the snapshot's status does not allow the message. */
function wrongStatus(snapshot: Snapshot, message: string, allowed: string[]): ZStackApiError {
  return new ZStackApiError(
    'VOLUME_SNAPSHOT.1000',
    `snapshot[uuid:${zuuid(snapshot.id)}, name:${snapshot.name}]'s status[${snapshotStatusOf(snapshot)}] is not allowed for message[${message}], allowed status[${allowed.join(', ')}]`,
  );
}

/**
 * The world a query needs: one volume's when a `volumeUuid=` condition names it (the common
 * case, and it keeps the scan small), else the whole project's.
 */
async function worldFor(options: RouteOptions, caller: Caller, query: Query): Promise<World> {
  const byVolume = query.conditions.find((c) => c.name === 'volumeUuid' && c.op === '=' && c.value !== null);
  if (byVolume === undefined) return loadWorld(options.plane, caller);
  const volumeId = strataId(byVolume.value!);
  if (volumeId === null) return buildWorld([], []);
  return loadVolumeWorld(options.plane, caller, volumeId).catch((error: unknown) => (isStrataError(error, 'NOT_FOUND') ? buildWorld([], []) : Promise.reject(error)));
}

/** The world around one snapshot, or null when the caller has no such snapshot. */
async function worldOfSnapshot(options: RouteOptions, caller: Caller, uuid: string): Promise<{ world: World; id: string } | null> {
  const id = strataId(uuid);
  if (id === null) return null;
  const snapshot = await options.plane.snapshots.get(caller, id).catch((error: unknown) => (isStrataError(error, 'NOT_FOUND') ? null : Promise.reject(error)));
  if (snapshot === null) return null;
  return { world: await loadVolumeWorld(options.plane, caller, snapshot.volumeId), id };
}

export const snapshotRoutes: FastifyPluginAsync<RouteOptions> = async (app, options) => {
  const { plane, sessions, jobs, mountPrefix } = options;

  /** The inventory of a snapshot after a change, with its tree as it is now. */
  const inventoryNow = async (caller: Caller, snapshot: Snapshot) => {
    const world = await loadVolumeWorld(plane, caller, snapshot.volumeId);
    return snapshotInventory(world.snapshots.get(snapshot.id) ?? snapshot, world);
  };

  app.post<{ Params: { volumeUuid: string } }>('/v1/volumes/:volumeUuid/volume-snapshots', async (request, reply) => {
    const body = jsonBody(request.body);
    const sessionId = sessionIdOf(request);
    const { volumeUuid } = request.params;
    return jobs.submit(request, reply, { sessionId, apiTimeoutMs: hours(3) }, async (caller): Promise<Plan> => {
      const params = new Params(body.params, messages.create);
      const name = params.name(true)!;
      const description = params.description();
      params.creationExtras();
      const volumeId = idOf(volumeUuid, 'volumeUuid', 'VolumeVO');
      const snapshot = await orNotFound(() => plane.snapshots.create(caller, volumeId, { name, description }), 'volumeUuid', volumeUuid, 'VolumeVO');
      return { result: { inventory: await inventoryNow(caller, snapshot) } };
    });
  });

  app.get('/v1/volume-snapshots', async (request, reply) => {
    const { caller, query } = await startQuery(request, sessions);
    const world = await worldFor(options, caller, query);
    return replyQuery(request, reply, [...world.snapshots.values()], (s) => snapshotRow(s, world), (s) => snapshotInventory(s, world), query, snapshotQuery);
  });

  app.get('/v1/volume-snapshots/trees', async (request, reply) => {
    const { caller, query } = await startQuery(request, sessions);
    const world = await worldFor(options, caller, query);
    return replyQuery(request, reply, treeRoots(world), (id) => treeRow(id, world), (id) => treeInventory(id, world), query, treeQuery);
  });

  app.get<{ Params: { uuid: string } }>('/v1/volume-snapshots/trees/:uuid', async (request, reply) => {
    const { caller } = await startQuery(request, sessions);
    const found = await worldOfSnapshot(options, caller, request.params.uuid);
    const world = found?.world ?? buildWorld([], []);
    const roots = found !== null && world.rootOf.get(found.id) === found.id ? [found.id] : [];
    const query = uuidQuery(found === null ? request.params.uuid : zuuid(found.id));
    return replyQuery(request, reply, roots, (id) => treeRow(id, world), (id) => treeInventory(id, world), query, treeQuery);
  });

  app.get<{ Params: { uuid: string } }>('/v1/volume-snapshots/:uuid', async (request, reply) => {
    const { caller } = await startQuery(request, sessions);
    const found = await worldOfSnapshot(options, caller, request.params.uuid);
    const world = found?.world ?? buildWorld([], []);
    const items = found === null ? [] : [world.snapshots.get(found.id)!];
    const query = uuidQuery(found === null ? request.params.uuid : zuuid(found.id));
    return replyQuery(request, reply, items, (s) => snapshotRow(s, world), (s) => snapshotInventory(s, world), query, snapshotQuery);
  });

  app.put<{ Params: { uuid: string } }>('/v1/volume-snapshots/:uuid/actions', async (request, reply) => {
    const body = jsonBody(request.body);
    const action = actionOf(body, ['updateVolumeSnapshot', 'revertVolumeFromSnapshot'] as const, platformPath(request, mountPrefix));
    const sessionId = sessionIdOf(request);
    const { uuid } = request.params;
    if (action === 'updateVolumeSnapshot') {
      return jobs.submit(request, reply, { sessionId, apiTimeoutMs: hours(0.5) }, async (caller): Promise<Plan> => {
        const params = new Params(body.updateVolumeSnapshot, messages.update);
        const name = params.name(false);
        const description = params.description();
        const id = idOf(uuid, 'uuid', snapshotType);
        const snapshot = await orNotFound(() => plane.snapshots.update(caller, id, { name, description }), 'uuid', uuid, snapshotType);
        return { result: { inventory: await inventoryNow(caller, snapshot) } };
      });
    }
    return jobs.submit(request, reply, { sessionId, apiTimeoutMs: hours(24) }, (caller) => revert(caller, uuid));
  });

  /** RevertVolumeFromSnapshot: the snapshot must be Enabled and Ready, its volume without a read-write attachment. */
  const revert = async (caller: Caller, uuid: string): Promise<Plan> => {
    const id = idOf(uuid, 'uuid', snapshotType);
    const snapshot = await orNotFound(() => plane.snapshots.get(caller, id), 'uuid', uuid, snapshotType);
    if (snapshotState(snapshot) !== 'Enabled') throw new ZStackApiError('SYS.1006', `volume snapshot[uuid:${zuuid(id)}] is in state ${snapshotState(snapshot)}, cannot revert volume to it`);
    if (snapshot.status !== 'available') throw wrongStatus(snapshot, messages.revert, ['Ready']);
    let jobId: string;
    try {
      jobId = (await plane.snapshots.revert(caller, id)).job.id;
    } catch (error) {
      if (!isStrataError(error, 'VOLUME_IN_USE')) throw error;
      const volume = await plane.volumes.get(caller, snapshot.volumeId);
      const head = `unable to reset volume[uuid:${zuuid(volume.id)}] to snapshot[uuid:${zuuid(id)}]`;
      throw new ZStackApiError(
        'SYS.1006',
        volume.groupId === null
          ? `${head}, the volume has a read-write attachment; detach it first`
          : `${head}, the vm[uuid:${zuuid(volume.groupId)}] volume attached to is not in Stopped state, current state is Running`,
      );
    }
    return {
      follow: [jobId],
      finish: async ([job]) => {
        if (job.status === 'failed') throw failedJob(job);
        return {};
      },
    };
  };

  app.delete<{ Params: { uuid: string } }>('/v1/volume-snapshots/:uuid', async (request, reply) => {
    const sessionId = sessionIdOf(request);
    const { uuid } = request.params;
    return jobs.submit(request, reply, { sessionId, apiTimeoutMs: hours(6) }, async (caller): Promise<Plan> => {
      // Both modes delete the same way: nothing depends on a Strata snapshot that could stop it.
      new Params({ deleteMode: queryValue(request.url, 'deleteMode') }, messages.delete).oneOf('deleteMode', deleteModes, 'Permissive');
      const id = strataId(uuid);
      // A snapshot that does not exist is deleted already (successIfResourceNotExisting).
      const snapshot = id === null ? null : await plane.snapshots.get(caller, id).catch((error: unknown) => (isStrataError(error, 'NOT_FOUND') ? null : Promise.reject(error)));
      if (snapshot === null) return { result: {} };
      const jobId = await deleteOne(caller, snapshot);
      return {
        follow: [jobId],
        finish: async ([job]) => {
          if (job.status === 'failed') throw failedJob(job);
          return {};
        },
      };
    });
  });

  /** Starts one snapshot's delete; a status that forbids it is VOLUME_SNAPSHOT.1000. */
  const deleteOne = async (caller: Caller, snapshot: Snapshot): Promise<string> => {
    try {
      return (await plane.snapshots.delete(caller, snapshot.id)).id;
    } catch (error) {
      if (isStrataError(error, 'INVALID_STATE')) throw wrongStatus(snapshot, messages.delete, ['Ready', 'Deleted']);
      throw error;
    }
  };

  app.put('/v1/volume-snapshots/batch-delete', async (request, reply) => {
    const body = jsonBody(request.body);
    const sessionId = sessionIdOf(request);
    return jobs.submit(request, reply, { sessionId, apiTimeoutMs: hours(6) }, async (caller) => batchDelete(caller, body.batchDeleteVolumeSnapshot));
  });

  /** BatchDeleteVolumeSnapshot: every uuid must exist, all on one volume; each delete succeeds or fails on its own. */
  const batchDelete = async (caller: Caller, section: unknown): Promise<Plan> => {
    const params = new Params(section, messages.batchDelete);
    const uuids = [...new Set(params.stringList('uuids', { required: true, nonEmpty: true })!.map((u) => u.toLowerCase()))];
    const snapshots: Snapshot[] = [];
    const missing: string[] = [];
    for (const uuid of uuids) {
      const id = strataId(uuid);
      const snapshot = id === null ? null : await plane.snapshots.get(caller, id).catch((error: unknown) => (isStrataError(error, 'NOT_FOUND') ? null : Promise.reject(error)));
      if (snapshot === null) missing.push(uuid);
      else snapshots.push(snapshot);
    }
    if (missing.length > 0) throw new ZStackApiError('SYS.1003', `invalid field[uuids], resource[uuids:[${missing.join(', ')}], type:${snapshotType}] not found`);
    if (new Set(snapshots.map((s) => s.volumeId)).size > 1) throw new ZStackApiError('SYS.1006', 'not support delete snapshots on different volumes');
    const started: Array<{ snapshot: Snapshot; jobId: string | null; error: ErrorObject | null }> = [];
    for (const snapshot of snapshots) {
      try {
        started.push({ snapshot, jobId: await deleteOne(caller, snapshot), error: null });
      } catch (error) {
        started.push({ snapshot, jobId: null, error: errorObjectOf(error) });
      }
    }
    return {
      follow: started.flatMap((s) => (s.jobId === null ? [] : [s.jobId])),
      finish: async (jobs) => {
        const byId = new Map(jobs.map((j) => [j.id, j]));
        const results = started.map(({ snapshot, jobId, error }) => {
          const job = jobId === null ? undefined : byId.get(jobId);
          const failure = error ?? (job !== undefined && job.status === 'failed' ? errorObjectOfJob(job.error) : null);
          return typed({ snapshotUuid: zuuid(snapshot.id), success: failure === null, ...(failure === null ? {} : { error: failure }) }, classNames.batchDeleteResult);
        });
        const first = results.find((r) => !r.success);
        if (first !== undefined && results.every((r) => !r.success)) {
          throw new ZStackApiError('VOLUME_SNAPSHOT.1002', `none of the ${results.length} snapshots could be deleted`, first.error);
        }
        return { results };
      },
    };
  };
};
