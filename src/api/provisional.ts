/**
 * The provisional subset of the native API (paths and shapes as in interface.md), served until
 * the control plane with identity lands: volumes, snapshots and attachments by engine id.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Attachment, Attachments } from '../core/attachments.js';
import type { Engine, SnapshotInfo, VolumeInfo } from '../engine/index.js';
import { StrataError } from '../lib/errors.js';

interface Options {
  engine: Engine;
  attachments: Attachments;
}

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9]{1,15}$' } },
} as const;

function volumeBody(volume: VolumeInfo, attachments: Attachments) {
  const inUse = attachments.list().some((a) => 'volumeId' in a.target && a.target.volumeId === volume.id && a.mode === 'rw');
  return {
    id: String(volume.id),
    size_bytes: volume.sizeBytes,
    status: volume.state === 'deleting' ? 'deleting' : inUse ? 'in-use' : 'available',
    source_snapshot_id: volume.originSnapshotId === null ? null : String(volume.originSnapshotId),
    created_at: new Date(volume.createdAtMs).toISOString(),
  };
}

function snapshotBody(snapshot: SnapshotInfo) {
  return {
    id: String(snapshot.id),
    volume_id: String(snapshot.volumeId),
    status: snapshot.state,
    parent_id: snapshot.parentSnapshotId === null ? null : String(snapshot.parentSnapshotId),
    size_bytes: snapshot.sizeBytes,
    created_at: new Date(snapshot.createdAtMs).toISOString(),
  };
}

function attachmentBody(attachment: Attachment) {
  return {
    id: attachment.id,
    uri: attachment.uri,
    mode: attachment.mode,
    volume_id: 'volumeId' in attachment.target ? String(attachment.target.volumeId) : null,
    snapshot_id: 'snapshotId' in attachment.target ? String(attachment.target.snapshotId) : null,
    created_at: attachment.createdAt,
  };
}

export const provisionalRoutes: FastifyPluginAsync<Options> = async (app, { engine, attachments }) => {
  app.post<{ Body: { size_bytes: number; source_snapshot_id?: string } }>(
    '/api/v1/volumes',
    {
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            name: { type: 'string', maxLength: 255 },
            size_bytes: { type: 'integer', minimum: 1 },
            source_snapshot_id: { type: 'string', pattern: '^[0-9]{1,15}$' },
          },
        },
      },
    },
    async (request, reply) => {
      const { size_bytes: sizeBytes, source_snapshot_id: source } = request.body;
      let volume: VolumeInfo;
      if (source !== undefined) volume = await engine.clone(Number(source), { sizeBytes });
      else if (sizeBytes === undefined) throw new StrataError('INVALID_ARGUMENT', 'size_bytes is required');
      else volume = await engine.createVolume({ sizeBytes });
      return reply.status(201).send({ volume: volumeBody(volume, attachments) });
    },
  );

  app.get<{ Params: { id: string } }>('/api/v1/volumes/:id', { schema: { params: idParams } }, async (request) => ({
    volume: volumeBody(engine.volume(Number(request.params.id)), attachments),
  }));

  app.post<{ Params: { id: string } }>('/api/v1/volumes/:id/snapshots', { schema: { params: idParams } }, async (request, reply) => {
    const snapshot = await engine.createSnapshot(Number(request.params.id));
    return reply.status(201).send({ snapshot: snapshotBody(snapshot) });
  });

  app.get<{ Params: { id: string } }>('/api/v1/snapshots/:id', { schema: { params: idParams } }, async (request) => ({
    snapshot: snapshotBody(engine.snapshot(Number(request.params.id))),
  }));

  const modeBody = {
    type: 'object',
    additionalProperties: false,
    properties: { mode: { type: 'string', enum: ['rw', 'ro'] } },
  } as const;

  app.post<{ Params: { id: string }; Body: { mode?: 'rw' | 'ro' } | undefined }>(
    '/api/v1/volumes/:id/attachments',
    { schema: { params: idParams, body: modeBody } },
    async (request, reply) => {
      const attachment = attachments.create({ volumeId: Number(request.params.id) }, request.body?.mode ?? 'rw');
      return reply.status(201).send({ attachment: attachmentBody(attachment) });
    },
  );

  app.post<{ Params: { id: string }; Body: { mode?: 'ro' } | undefined }>(
    '/api/v1/snapshots/:id/attachments',
    { schema: { params: idParams, body: modeBody } },
    async (request, reply) => {
      const attachment = attachments.create({ snapshotId: Number(request.params.id) }, request.body?.mode ?? 'ro');
      return reply.status(201).send({ attachment: attachmentBody(attachment) });
    },
  );

  app.delete<{ Params: { id: string } }>('/api/v1/attachments/:id', async (request, reply) => {
    attachments.delete(request.params.id);
    return reply.status(204).send();
  });
};
