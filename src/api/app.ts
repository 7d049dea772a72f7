/**
 * Builds the HTTP application (never listens: src/server.ts does). `/healthz` now; the native
 * API under /api/v1 comes with the control plane. Until then a provisional subset lets an
 * operator on this machine create volumes, snapshots and NBD attachments; it is mounted only
 * when the listener is on a loopback address, because it has no authentication yet.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Attachments } from '../core/attachments.js';
import type { Engine } from '../engine/index.js';
import { handleError } from './errors.js';
import { provisionalRoutes } from './provisional.js';

export interface AppOptions {
  engine: Engine;
  attachments: Attachments;
  /** Mount the unauthenticated provisional routes (loopback listeners only). */
  provisionalApi: boolean;
  logger?: boolean | object;
}

export function buildApp(options: AppOptions): FastifyInstance {
  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: 1024 * 1024,
    genReqId: () => crypto.randomUUID(),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url}`, request_id: request.id } });
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  if (options.provisionalApi) app.register(provisionalRoutes, { engine: options.engine, attachments: options.attachments });
  return app;
}
