/**
 * What the Cinder-style route files need from the dialect that mounts them (Cinder itself, or
 * EVS's Cinder-compatible paths): the control plane, the path bases each route is mounted
 * under, and the absolute API root for links.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ControlPlane } from '../../../core/plane.js';

export interface RouteContext {
  plane: ControlPlane;
  /** Path bases below the dialect prefix, e.g. `/v3/:project_id` and `/v3`. */
  bases: readonly string[];
  /** The absolute API root the request came through (`http://host/cinder/v3/PID`), for links. */
  root(request: FastifyRequest): string;
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** Registers one route under every base; `operation` names it for operation-specific faults. */
export function route(app: FastifyInstance, context: RouteContext, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, operation: string, handler: Handler): void {
  for (const base of context.bases) app.route({ method, url: `${base}${path}`, config: { cinderOperation: operation }, handler });
}

/** The origin of a request as the client addressed it (for absolute links). */
export function originOf(request: FastifyRequest): string {
  return `${request.protocol}://${request.headers.host ?? 'localhost'}`;
}
