/** Token authentication for the native API: `Authorization: Bearer TOKEN` or `X-Auth-Token: TOKEN`. */
import type { FastifyRequest } from 'fastify';
import type { Caller } from '../../core/context.js';
import type { ControlPlane } from '../../core/plane.js';
import { StrataError } from '../../lib/errors.js';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    /** The route answers without a token. */
    public?: boolean;
  }
}

export function tokenOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (match !== null) return match[1];
  }
  const xAuth = request.headers['x-auth-token'];
  if (typeof xAuth === 'string' && xAuth.length > 0) return xAuth;
  return null;
}

export async function authenticate(plane: ControlPlane, request: FastifyRequest): Promise<Caller> {
  const token = tokenOf(request);
  if (token === null) throw new StrataError('UNAUTHENTICATED', 'send a token as Authorization: Bearer TOKEN or X-Auth-Token; get one from POST /api/v1/auth/tokens');
  return plane.identity.authenticate(token);
}

/** The authenticated caller of a request (routes that are not public always have one). */
export function callerOf(request: FastifyRequest): Caller {
  if (request.caller === null) throw new StrataError('UNAUTHENTICATED', 'no token');
  return request.caller;
}
