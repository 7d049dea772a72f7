/**
 * Authentication the OpenStack way: a Strata token in `X-Auth-Token` (what keystonemiddleware
 * would have validated in front of Manila). The `{tenant_id}` of every /v2 path must be the
 * token's project: Manila answers any other with 400 "Malformed request url" (wsgi.py,
 * `_process_stack`), which also never reveals whether that project exists.
 */
import type { FastifyRequest } from 'fastify';
import type { Caller } from '../../../core/context.js';
import type { ControlPlane } from '../../../core/plane.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOfToken } from '../shared.js';

export function tokenOf(request: FastifyRequest): string | null {
  const value = request.headers['x-auth-token'];
  const token = Array.isArray(value) ? value[0] : value;
  return typeof token === 'string' && token.trim().length > 0 ? token.trim() : null;
}

export function authenticate(plane: ControlPlane, request: FastifyRequest): Promise<Caller> {
  return callerOfToken(plane, tokenOf(request));
}

export function checkTenant(caller: Caller, tenantId: string): void {
  if (tenantId !== caller.projectId) throw new StrataError('INVALID_ARGUMENT', 'Malformed request url');
}
