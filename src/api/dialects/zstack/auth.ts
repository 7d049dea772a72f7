/**
 * ZStack authentication over Strata identities.
 *
 * `PUT /v1/accounts/login` takes a Strata user name as `accountName` and the hex SHA-512 of the
 * password (core keeps a verifier of that digest for every user) and answers a session whose
 * uuid has ZStack's form, 32 hex characters: it is a Strata token issued in that form, stored
 * hashed like every token, so a session works on every instance sharing the database and
 * across restarts, and its expiry (12 h) and revocation are the token's.
 * `Authorization: OAuth <Strata token>` works too: any Strata token is a session.
 */
import type { FastifyRequest } from 'fastify';
import type { Caller } from '../../../core/context.js';
import type { ControlPlane } from '../../../core/plane.js';
import { isStrataError } from '../../../lib/errors.js';
import { ZStackApiError, ZStackRestError } from './errors.js';
import { type SessionFields, zuuid } from './render.js';

/**
 * The session id of a request, as RestServer reads it: a missing header or another scheme is
 * refused at the REST layer (400, plain text); the session itself is checked later (ID.1001).
 */
export function sessionIdOf(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (header === undefined) throw new ZStackRestError(400, "missing header 'Authorization'");
  const value = header.trim();
  if (!value.startsWith('OAuth')) throw new ZStackRestError(400, "Authorization type must be 'OAuth'");
  return value.replace('OAuth', '').trim();
}

export class Sessions {
  constructor(private readonly plane: ControlPlane) {}

  /** LogInByAccount: a new session for a user name and the hex SHA-512 of the password (throttled by name and `address`). */
  async login(accountName: string, passwordSha512: string, address: string): Promise<SessionFields> {
    let issued;
    try {
      issued = await this.plane.identity.issueToken({ name: accountName, passwordSha512, format: 'hex128', address });
    } catch (error) {
      if (isStrataError(error, 'UNAUTHENTICATED')) throw new ZStackApiError('ID.1000', 'wrong account name or password');
      throw error;
    }
    return { uuid: issued.token, accountUuid: zuuid(issued.project.id), userUuid: zuuid(issued.user.id), expiredDate: issued.expiresAt, createDate: new Date().toISOString() };
  }

  /** The caller of a session (or of a Strata token sent as one); ID.1001 when it is not valid. */
  async callerOf(sessionId: string): Promise<Caller> {
    if (sessionId.length === 0) throw new ZStackApiError('ID.1001', 'Session expired');
    try {
      return await this.plane.identity.authenticate(sessionId);
    } catch (error) {
      if (!isStrataError(error, 'UNAUTHENTICATED')) throw error;
      throw new ZStackApiError('ID.1001', 'Session expired');
    }
  }

  /** The caller of a request's session, or null (for answers that must not reveal anything). */
  async callerOfRequest(request: FastifyRequest): Promise<Caller | null> {
    try {
      return await this.callerOf(sessionIdOf(request));
    } catch {
      return null;
    }
  }

  /** LogOut: revokes the session's token; an unknown session is already logged out. */
  async logout(sessionId: string): Promise<void> {
    try {
      const caller = await this.callerOf(sessionId);
      await this.plane.identity.revokeToken(caller, caller.tokenId);
    } catch (error) {
      if (!(error instanceof ZStackApiError)) throw error;
    }
  }
}
