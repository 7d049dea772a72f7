/**
 * XMS authentication over Strata's users and tokens.
 *
 * - `POST /v1/auth/tokens` takes XMS's `TokenCreateReq`: a user name (or email: Strata users
 *   have only names, so an email is looked up as a name) and password, or an existing token's
 *   `uuid`. It answers 201 `TokenResp` whose `uuid` is a Strata token.
 * - Failed logins are throttled per user name and client address: 429 `TooManyAttempts` with
 *   `Retry-After`.
 * - Every other route takes the token from the `Xms-Auth-Token` header or the `token` query
 *   parameter (the generated SDK may send both; the header wins).
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import type { Caller } from '../../../core/context.js';
import type { IssuedToken } from '../../../core/identity.js';
import type { ControlPlane } from '../../../core/plane.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOfToken } from '../shared.js';
import { TokenCreateBody, TokenQuery } from './schemas.js';

const callers = new WeakMap<FastifyRequest, Caller>();

export function tokenOf(request: FastifyRequest): string | null {
  const header = request.headers['xms-auth-token'];
  if (typeof header === 'string' && header.length > 0) return header;
  const query = (request.query ?? {}) as Record<string, unknown>;
  if (typeof query.token === 'string' && query.token.length > 0) return query.token;
  return null;
}

/** onRequest hook of the authenticated routes. */
export function authenticateHook(plane: ControlPlane) {
  return async (request: FastifyRequest): Promise<void> => {
    const token = tokenOf(request);
    if (token === null) throw new StrataError('UNAUTHENTICATED', 'send the token as the Xms-Auth-Token header or the token query parameter; get one from POST /v1/auth/tokens');
    callers.set(request, await callerOfToken(plane, token));
  };
}

export function callerOf(request: FastifyRequest): Caller {
  const caller = callers.get(request);
  if (caller === undefined) throw new StrataError('UNAUTHENTICATED', 'no token');
  return caller;
}

/** `TokenRecord` (allOf Token + roles): only the keys the spec declares. */
function tokenWire(token: { uuid: string; create?: string; expires: string; userName: string; roles: string[] }) {
  return {
    token: {
      uuid: token.uuid,
      valid: true,
      ...(token.create === undefined ? {} : { create: token.create }),
      expires: token.expires,
      roles: token.roles,
      user: { name: token.userName, enabled: true, roles: token.roles },
    },
  };
}

export const tokenRoutes: FastifyPluginAsyncTypebox<{ plane: ControlPlane }> = async (app, { plane }) => {
  app.post('/auth/tokens', { schema: { hide: true, body: TokenCreateBody, querystring: TokenQuery } }, async (request, reply) => {
    const { password, token } = request.body.auth.identity;
    if (password !== undefined && token !== undefined) {
      throw new StrataError('INVALID_ARGUMENT', 'give either auth.identity.password or auth.identity.token, not both', { field: 'auth.identity' });
    }
    if (token !== undefined) {
      // Presenting a valid token gives it back (Strata tokens are not re-issued without credentials).
      const caller = await plane.identity.authenticate(token.uuid);
      return reply.status(201).send(tokenWire({ uuid: token.uuid, expires: caller.expiresAt, userName: caller.userName, roles: [caller.role] }));
    }
    if (password === undefined) throw new StrataError('MISSING_FIELD', 'auth.identity needs password or token', { field: 'auth.identity.password' });
    const { user } = password;
    const name = user.name ?? user.email;
    if (name === undefined) {
      const message = user.id === undefined ? 'auth.identity.password.user needs name or email' : 'log in by user name or email; user ids are not accepted';
      throw new StrataError(user.id === undefined ? 'MISSING_FIELD' : 'INVALID_ARGUMENT', message, { field: 'auth.identity.password.user.name' });
    }
    // IssuedToken carries only the expiry; the token is created by this very call.
    const create = new Date().toISOString();
    const issued: IssuedToken = await plane.identity.issueToken({ name, password: user.password, address: request.ip });
    return reply.status(201).send(tokenWire({ uuid: issued.token, create, expires: issued.expiresAt, userName: issued.user.name, roles: issued.roles }));
  });
};
