/**
 * DWS authentication: a Strata token in `X-Auth-Token` (where Huawei clients send their IAM
 * token), and the `{project_id}` of the path must be the token's project, written with or
 * without the dashes of Strata's ids (Huawei project ids are 32 hex digits without dashes).
 */
import type { FastifyRequest } from 'fastify';
import type { Caller } from '../../../core/context.js';
import type { ControlPlane } from '../../../core/plane.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOfToken } from '../shared.js';
import { sameProject } from './validate.js';

/** Kept beside the request rather than decorated on it, so the dialect shares no request field with other scopes. */
const callers = new WeakMap<FastifyRequest, Caller>();

export async function authenticate(plane: ControlPlane, request: FastifyRequest): Promise<void> {
  const header = request.headers['x-auth-token'];
  const token = typeof header === 'string' ? header.trim() : '';
  if (token.length === 0) throw new StrataError('UNAUTHENTICATED', 'x-auth-token not found; send a Strata token (POST /api/v1/auth/tokens) as X-Auth-Token');
  const caller = await callerOfToken(plane, token);
  const projectId = (request.params as { project_id?: unknown } | undefined)?.project_id;
  if (typeof projectId === 'string' && !sameProject(projectId, caller.projectId)) {
    throw new StrataError('FORBIDDEN', `project ${projectId} is not the project of the token (${caller.projectId.replace(/-/g, '')})`, { field: 'project_id' });
  }
  callers.set(request, caller);
}

/** The caller that `authenticate` accepted for this request. */
export function callerOf(request: FastifyRequest): Caller {
  const caller = callers.get(request);
  if (caller === undefined) throw new StrataError('UNAUTHENTICATED', 'x-auth-token not found');
  return caller;
}
