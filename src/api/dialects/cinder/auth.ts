/**
 * OpenStack-style authentication, shared with the EVS dialect: a Strata token in `X-Auth-Token`
 * (what keystoneauth's admin_token plugin and Huawei's SDKs send). The `{project_id}` of the path
 * must be the token's project; another project's id answers as not found, so a path never tells
 * whether some other project exists (the product's isolation rule).
 */
import type { FastifyRequest } from 'fastify';
import type { Caller } from '../../../core/context.js';
import type { ControlPlane } from '../../../core/plane.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOfToken } from '../shared.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers without a token (version discovery). */
    cinderPublic?: boolean;
    /** What the route does, for operation-specific fault codes (see each dialect's errors.ts). */
    cinderOperation?: string;
  }
}

const callers = new WeakMap<FastifyRequest, Caller>();

function tokenOf(request: FastifyRequest): string | undefined {
  const header = request.headers['x-auth-token'];
  return typeof header === 'string' ? header.trim() : undefined;
}

/** Authenticates the request (its route must not be public). */
export async function authenticateOpenStack(plane: ControlPlane, request: FastifyRequest): Promise<void> {
  const caller = await callerOfToken(plane, tokenOf(request)).catch((error: unknown) => {
    if (error instanceof StrataError && error.code === 'UNAUTHENTICATED') {
      throw new StrataError('UNAUTHENTICATED', 'The request you have made requires authentication.');
    }
    throw error;
  });
  callers.set(request, caller);
}

/** Refuses a path whose `{project_id}` is not the token's project, as not found. */
export function checkProject(request: FastifyRequest): void {
  const caller = callerOf(request);
  const params = request.params as Record<string, string | undefined> | undefined;
  const projectId = params?.project_id;
  if (projectId !== undefined && projectId !== caller.projectId) {
    throw new StrataError('NOT_FOUND', `Project ${projectId} could not be found.`, { resource: 'project' });
  }
}

/** The authenticated caller of a request. */
export function callerOf(request: FastifyRequest): Caller {
  const caller = callers.get(request);
  if (caller === undefined) throw new StrataError('UNAUTHENTICATED', 'The request you have made requires authentication.');
  return caller;
}
