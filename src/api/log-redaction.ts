/**
 * What the HTTP log never holds: tokens and session ids, wherever a client put them.
 *
 * - URLs (the `req` of every request line): the values of query parameters that carry a
 *   credential (`token`, as XSKY clients send it, and the names in `secretQueryNames`), and the
 *   session id in ZStack's session paths (`/accounts/sessions/{uuid}`, logout and validity).
 * - Headers: request and response headers are not logged by the serializers below; should
 *   any line carry them, `redactPaths` censors every token header (Authorization,
 *   X-Auth-Token, Xms-Auth-Token, Cookie, Set-Cookie).
 * - Error lines (`err`, logged for 5xx): their message and stack go through the same text
 *   redaction, and `Bearer …` / `OAuth …` credentials in text are censored.
 * Passwords only ever travel in bodies, which are never logged.
 */
import type { FastifyRequest } from 'fastify';
import pino from 'pino';

export const redacted = '[REDACTED]';

/** Query parameters whose value is a credential (compared case-insensitively). */
const secretQueryNames = ['token', 'auth_token', 'x-auth-token', 'xms-auth-token', 'session', 'session_id', 'sessionid', 'session_uuid', 'password', 'access_token'];
const secretQuery = new RegExp(`([?&](?:${secretQueryNames.join('|')})=)[^&#\\s"]*`, 'gi');
const sessionPath = /(\/accounts\/sessions\/)[^/?#\s"]+/gi;
const schemeCredential = /\b(Bearer|OAuth)(\s+)[^\s"',]+/g;

/** The text with every credential this module knows replaced by `[REDACTED]` (linear-time patterns). */
export function redactSecrets(text: string): string {
  return text.replace(secretQuery, `$1${redacted}`).replace(sessionPath, `$1${redacted}`).replace(schemeCredential, `$1$2${redacted}`);
}

const headerNames = ['authorization', '["x-auth-token"]', '["xms-auth-token"]', 'cookie', '["set-cookie"]'];

/** pino redact paths: token headers wherever a log line carries headers. */
export const redactPaths = ['', 'req.', 'res.', '*.'].flatMap((parent) => headerNames.map((name) => `${parent}headers${name.startsWith('[') ? name : `.${name}`}`));

function requestSerializer(request: FastifyRequest | Record<string, unknown>) {
  // A plain object logged as `req` by hand: its URL redacted, its headers left to `redactPaths`.
  if (typeof request !== 'object' || request === null || !('raw' in request)) {
    const plain = { ...(request as Record<string, unknown>) };
    if (typeof plain.url === 'string') plain.url = redactSecrets(plain.url);
    return plain;
  }
  return fastifyRequest(request as FastifyRequest);
}

function fastifyRequest(request: FastifyRequest) {
  return {
    method: request.method,
    url: redactSecrets(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

function errorSerializer(error: Error) {
  const serialized = pino.stdSerializers.err(error) as Record<string, unknown>;
  for (const key of ['message', 'stack']) {
    if (typeof serialized[key] === 'string') serialized[key] = redactSecrets(serialized[key]);
  }
  return serialized;
}

/** The app's logger options: the caller's (level, stream, …) with the redaction above. */
export function redactingLoggerOptions(base: object): object {
  const given = base as { serializers?: Record<string, unknown> };
  return {
    ...base,
    serializers: { ...given.serializers, req: requestSerializer, err: errorSerializer },
    redact: { paths: redactPaths, censor: redacted },
  };
}
