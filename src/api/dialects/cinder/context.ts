/**
 * What the Cinder-style route files need from the dialect that mounts them (Cinder itself, or
 * EVS's Cinder-compatible paths): the control plane, the path bases each route is mounted
 * under, and the absolute API root for links.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import type { ControlPlane } from '../../../core/plane.js';
import { routeSchema } from '../schemas.js';
import { OtherQuery, Params } from './schemas.js';

export interface RouteContext {
  plane: ControlPlane;
  /** Path bases below the dialect prefix, e.g. `/v3/:project_id` and `/v3`. */
  bases: readonly string[];
  /** The absolute API root of the request's path (`PUBLIC_URL/cinder/v3/PID`), for links. */
  root(request: FastifyRequest): string;
}

type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** What a route validates before its handler runs (schemas.ts); path parameters are always bounded. */
export interface RouteShapes {
  querystring?: TSchema;
  body?: TSchema;
}

/**
 * Registers one route under every base; `operation` names it for operation-specific faults.
 * Every route has a schema: path parameters always, and the query string (default: any
 * parameter as bounded text) and body (when the route takes one) it declares.
 */
export function route(
  app: FastifyInstance,
  context: RouteContext,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  operation: string,
  handler: Handler,
  shapes: RouteShapes = {},
): void {
  const schema = routeSchema({ params: Params, querystring: shapes.querystring ?? OtherQuery, body: shapes.body });
  for (const base of context.bases) app.route({ method, url: `${base}${path}`, config: { cinderOperation: operation }, schema, handler });
}

