/**
 * What a Manila route handler works with, and the one wrapper every /v2 route goes through:
 * the tenant in the path must be the token's project (400), then the route must have a
 * method for the requested version (404), in that order, as in Manila's `_process_stack`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Caller } from '../../../core/context.js';
import type { ControlPlane } from '../../../core/plane.js';
import { StrataError } from '../../../lib/errors.js';
import { checkTenant } from './auth.js';
import { requireWindow, type RequestedVersion, type VersionWindow } from './microversion.js';
import type { Policy } from './policy.js';
import type { LinkBase } from './render.js';

export interface ManilaDeps {
  plane: ControlPlane;
  policy: Policy;
  /** The dialect's mount point, `/manila`. */
  prefix: string;
  /** The base URL of returned links (never the request's Host header). */
  publicUrl: () => string;
}

/** Per-request state set by the plugin's hooks (authentication, version). */
export interface RequestState {
  caller: Caller | null;
  requested: RequestedVersion | null;
}

const states = new WeakMap<FastifyRequest, RequestState>();

export function setState(request: FastifyRequest, state: RequestState): void {
  states.set(request, state);
}

export function stateOf(request: FastifyRequest): RequestState {
  return states.get(request) ?? { caller: null, requested: null };
}

export interface ManilaContext extends ManilaDeps {
  caller: Caller;
  requested: RequestedVersion;
  base: LinkBase;
  isAdmin: boolean;
  query: Record<string, unknown>;
  params: Record<string, string>;
  body: unknown;
  reply: FastifyReply;
}

/** `PUBLIC_URL/manila`: Manila builds links from its configured public endpoint, never the Host header. */
export function rootUrl(deps: ManilaDeps): string {
  return `${deps.publicUrl()}${deps.prefix}`;
}

type Handler = (context: ManilaContext) => Promise<unknown>;

export function v2Route(deps: ManilaDeps, allowed: readonly VersionWindow[], handler: Handler) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const { caller, requested } = stateOf(request);
    if (caller === null || requested === null) throw new StrataError('UNAUTHENTICATED', 'no token');
    const params = request.params as Record<string, string>;
    checkTenant(caller, params.tenant_id);
    requireWindow(requested, allowed);
    return handler({
      ...deps,
      caller,
      requested,
      base: { root: rootUrl(deps), projectId: caller.projectId },
      isAdmin: caller.role === 'admin',
      query: (request.query ?? {}) as Record<string, unknown>,
      params,
      body: request.body,
      reply,
    });
  };
}

/** Rewrites a core NOT_FOUND as Manila words it (and with Manila's status for that call). */
export function whenNotFound(code: 'NOT_FOUND' | 'INVALID_ARGUMENT', message: string) {
  return (error: unknown): never => {
    if (error instanceof StrataError && error.code === 'NOT_FOUND') throw new StrataError(code, message);
    throw error;
  };
}
