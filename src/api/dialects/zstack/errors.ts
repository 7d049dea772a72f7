/**
 * ZStack's two kinds of failure, and the one mapping from Strata codes to them.
 *
 * - REST-layer refusals (no Authorization header, a body that is not JSON, an action URL whose
 *   body names no action, a malformed query parameter): a status (400, 404, 405, 413) and a
 *   plain-text body, as ZStack's RestServer answers them.
 * - API-layer failures: `{"error": ErrorCode}` with HTTP 503, both for synchronous APIs and as
 *   the result of an async job. ErrorCode is `{code, description, details, cause?}`; null fields
 *   are omitted, as ZStack's Gson does.
 */
import type { FastifyRequest } from 'fastify';
import { type ErrorCode, isStrataError } from '../../../lib/errors.js';
import type { DialectError } from '../shared.js';
import { classNames, typed } from './render.js';

/** The ZStack error codes this dialect answers (conf/errorCodes/{sys,identity,volumeSnapshot}.xml). */
export const descriptions = {
  'SYS.1000': 'An internal error happened in system',
  'SYS.1003': 'A resource can not be found',
  'SYS.1006': 'An operation failed',
  'SYS.1007': 'One or more API argument is invalid',
  'SYS.1010': 'Management server is not ready to serve',
  'SYS.1014': 'The operation is not implemented or not supported yet',
  'ID.1000': 'Unable to authenticate a user',
  'ID.1001': 'The session is invalid, either wrong session id or the session has been expired',
  'ID.1002': "The user doesn't have permission to perform the operation",
  'ID.1003': 'The user exceeds a quota of a resource',
  'VOLUME_SNAPSHOT.1000': 'Snapshot is not in correct status for operation.',
  'VOLUME_SNAPSHOT.1002': 'Failed to delete volume snapshots in batch.',
} as const;

export type ZStackCode = keyof typeof descriptions;

/** Every Strata code, as the ZStack code a client sees. */
export const zstackCodeOf: Record<ErrorCode, ZStackCode> = {
  INVALID_ARGUMENT: 'SYS.1007',
  MISSING_FIELD: 'SYS.1007',
  UNKNOWN_FIELD: 'SYS.1007',
  OUT_OF_RANGE: 'SYS.1007',
  INVALID_JSON: 'SYS.1007',
  UNSUPPORTED_MEDIA_TYPE: 'SYS.1007',
  NOT_FOUND: 'SYS.1003',
  UNAUTHENTICATED: 'ID.1001',
  TOO_MANY_ATTEMPTS: 'ID.1000',
  FORBIDDEN: 'ID.1002',
  QUOTA_EXCEEDED: 'ID.1003',
  INVALID_STATE: 'SYS.1006',
  VOLUME_IN_USE: 'SYS.1006',
  BUSY: 'SYS.1006',
  CONFLICT: 'SYS.1006',
  READ_ONLY: 'SYS.1006',
  HAS_DEPENDENTS: 'SYS.1006',
  ALREADY_EXISTS: 'SYS.1006',
  WRONG_INSTANCE: 'SYS.1006',
  POOL_EXISTS: 'SYS.1006',
  LIMIT_EXCEEDED: 'SYS.1006',
  NO_SPACE: 'SYS.1006',
  CLOSED: 'SYS.1010',
  CHECKSUM_MISMATCH: 'SYS.1000',
  IO_ERROR: 'SYS.1000',
  CORRUPT_METADATA: 'SYS.1000',
  INTERNAL: 'SYS.1000',
};

export interface ErrorObject {
  code: ZStackCode;
  description: string;
  details: string;
  cause?: ErrorObject;
}

/** An API-layer failure with an explicit ZStack code (503 `{"error": …}`). */
export class ZStackApiError extends Error {
  constructor(
    readonly zstackCode: ZStackCode,
    details: string,
    readonly causeObject?: ErrorObject,
  ) {
    super(details);
    this.name = 'ZStackApiError';
  }
}

/** A REST-layer refusal: a status and a plain-text body. */
export class ZStackRestError extends Error {
  constructor(
    readonly status: number,
    text: string,
  ) {
    super(text);
    this.name = 'ZStackRestError';
  }
}

const dashedUuid = /\b([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\b/gi;

/** Core messages name resources by dashed UUIDs; ZStack clients know them without dashes. */
export function hexUuidsIn(text: string): string {
  return text.replace(dashedUuid, (_m, a: string, b: string, c: string, d: string, e: string) => `${a}${b}${c}${d}${e}`.toLowerCase());
}

/** The details text of a Strata failure; an unexpected one tells the client nothing about the internals. */
function detailsOf(code: ErrorCode, message: string): string {
  return code === 'INTERNAL' ? 'internal error' : hexUuidsIn(message);
}

export function errorObject(code: ZStackCode, details: string, cause?: ErrorObject): ErrorObject {
  return typed({ code, description: descriptions[code], details, ...(cause === undefined ? {} : { cause }) }, classNames.errorCode);
}

/** The error object of anything a handler or a job threw. */
export function errorObjectOf(error: unknown): ErrorObject {
  if (error instanceof ZStackApiError) return errorObject(error.zstackCode, error.message, error.causeObject);
  if (isStrataError(error)) return errorObject(zstackCodeOf[error.code], detailsOf(error.code, error.message));
  return errorObject('SYS.1000', 'internal error');
}

/** The error object of a failed core job (its stored code and message). */
export function errorObjectOfJob(error: { code: string; message: string } | null): ErrorObject {
  const code = error !== null && error.code in zstackCodeOf ? zstackCodeOf[error.code as ErrorCode] : 'SYS.1000';
  return errorObject(code, hexUuidsIn(error?.message ?? 'the job failed'));
}

const plainText = { 'content-type': 'text/plain; charset=utf-8' };

/** The platform's path of a request: without the mount prefix and the query string. */
export function platformPath(request: FastifyRequest, prefix: string): string {
  const path = request.url.split('?')[0];
  return path.startsWith(prefix) ? path.slice(prefix.length) || '/' : path;
}

/** The fault renderer of the dialect scope (see useDialectErrors). */
export function renderFault(prefix: string) {
  return (error: DialectError, request: FastifyRequest): { status: number; body: unknown; headers?: Record<string, string> } => {
    const cause = error.cause as { code?: string } | null;
    if (cause instanceof ZStackRestError) return { status: cause.status, body: cause.message, headers: plainText };
    if (cause instanceof ZStackApiError) return { status: 503, body: { error: errorObjectOf(cause) } };
    // The not-found handler reports a route miss with no cause.
    if (error.code === 'NOT_FOUND' && cause === null) return { status: 404, body: `no api mapping to ${platformPath(request, prefix)}`, headers: plainText };
    switch (cause?.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE':
        return { status: 413, body: error.message, headers: plainText };
      case 'FST_ERR_BAD_URL':
      case 'FST_ERR_MAX_PARAM_LENGTH':
        return { status: 400, body: 'malformed URL', headers: plainText };
      default:
        break;
    }
    // A request its route's schema refuses is one RestServer cannot read into the API message.
    if (Array.isArray((cause as { validation?: unknown } | null)?.validation)) return { status: 400, body: error.message, headers: plainText };
    if (error.code === 'INVALID_JSON' || error.code === 'UNSUPPORTED_MEDIA_TYPE') return { status: 400, body: error.message, headers: plainText };
    // ZStack has no throttling of its own: a throttled login is 429 (Retry-After, set by
    // useDialectErrors) with the API-layer body of a failed authentication.
    if (error.code === 'TOO_MANY_ATTEMPTS') return { status: 429, body: { error: errorObject('ID.1000', error.message) } };
    return { status: 503, body: { error: errorObject(zstackCodeOf[error.code], detailsOf(error.code, error.message)) } };
  };
}
