/** What the route plugins share: their options, the query reply, and ZStack's resource-not-found failure. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Caller } from '../../../core/context.js';
import type { Job } from '../../../core/jobs.js';
import type { ControlPlane } from '../../../core/plane.js';
import { isStrataError } from '../../../lib/errors.js';
import type { Sessions } from './auth.js';
import { sessionIdOf } from './auth.js';
import { errorObjectOfJob, ZStackApiError, ZStackRestError } from './errors.js';
import { type ApiJobs, withSchema } from './jobs.js';
import { parseQuery, projectFields, type Query, type QueryRow, type QuerySpec, QueryArgumentError, QuerySyntaxError, runQuery } from './query.js';
import { queryEntries } from './params.js';
import { strataId } from './render.js';

export interface RouteOptions {
  plane: ControlPlane;
  sessions: Sessions;
  jobs: ApiJobs;
  /** The dialect's mount prefix, `/zstack` (not `prefix`: Fastify would take that as a route prefix). */
  mountPrefix: string;
}

/** ApiMessageProcessorImpl's failure for a uuid parameter naming nothing (SYS.1003). */
export function resourceNotFound(field: string, uuid: string, type: string): ZStackApiError {
  return new ZStackApiError('SYS.1003', `invalid field[${field}], resource[uuid:${uuid}, type:${type}] not found`);
}

/** The Strata id a uuid parameter names; SYS.1003 when it cannot name anything. */
export function idOf(uuid: string, field: string, type: string): string {
  const id = strataId(uuid);
  if (id === null) throw resourceNotFound(field, uuid, type);
  return id;
}

/** Runs `load`, turning core's NOT_FOUND for the named resource into ZStack's SYS.1003. */
export async function orNotFound<T>(load: () => Promise<T>, field: string, uuid: string, type: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isStrataError(error, 'NOT_FOUND')) throw resourceNotFound(field, uuid, type);
    throw error;
  }
}

/** A query API's session and query: REST-layer failures throw (400), the session's caller is resolved (ID.1001). */
export async function startQuery(request: FastifyRequest, sessions: Sessions): Promise<{ caller: Caller; query: Query }> {
  const sessionId = sessionIdOf(request);
  let query: Query;
  try {
    query = parseQuery(queryEntries(request.url));
  } catch (error) {
    if (error instanceof QuerySyntaxError) throw new ZStackRestError(400, error.message);
    throw error;
  }
  return { caller: await sessions.callerOf(sessionId), query };
}

/** The query whose only condition is `uuid=` (GET /resource/{uuid}); other parameters are ignored, as ZStack does. */
export function uuidQuery(uuid: string): Query {
  return parseQuery([['q', `uuid=${uuid}`]]);
}

/** Answers a query API: `{"inventories": […]}` (with `total` when asked), or `{"total": N}` for count, always with the schema map. */
export function replyQuery<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  items: T[],
  rowOf: (item: T) => QueryRow,
  inventoryOf: (item: T) => Record<string, unknown>,
  query: Query,
  spec: QuerySpec,
): FastifyReply {
  let result;
  try {
    result = runQuery(items, rowOf, query, spec);
  } catch (error) {
    if (error instanceof QueryArgumentError) throw new ZStackApiError('SYS.1007', error.message);
    throw error;
  }
  if (query.count) return reply.send(withSchema(request, { total: result.total }, true));
  const inventories = result.items.map((item) => projectFields(inventoryOf(item), query.fields));
  return reply.send(withSchema(request, query.replyWithCount ? { inventories, total: result.total } : { inventories }, true));
}

/** A core job's failure as the ZStack failure of the API that followed it. */
export function failedJob(job: Job): ZStackApiError {
  const error = errorObjectOfJob(job.error);
  return new ZStackApiError(error.code, error.details);
}

export const hours = (n: number) => n * 60 * 60 * 1000;
