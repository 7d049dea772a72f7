/**
 * The Manila dialect's one mapping from Strata error codes to Manila faults
 * (manila/api/openstack/wsgi.py `Fault`): `{"<faultName>": {"code": <status>, "message": "..."}}`,
 * the name chosen by status, `computeFault` for any status without a name, and `retryAfter`
 * on 413. Routes throw StrataErrors with Manila's own messages; the only statuses no Strata
 * code can express (406 for an unsupported version, 501 for what Strata cannot do) are
 * ManilaFaults, which carry their status.
 */
import type { FastifyRequest } from 'fastify';
import { type ErrorCode, retryAfterSecondsOf } from '../../../lib/errors.js';
import type { DialectError } from '../shared.js';

export class ManilaFault extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ManilaFault';
  }
}

export const statusOfCode: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  MISSING_FIELD: 400,
  UNKNOWN_FIELD: 400,
  INVALID_JSON: 400,
  OUT_OF_RANGE: 400,
  // Manila ignores a body of another content type, and the call then lacks its body: 400.
  UNSUPPORTED_MEDIA_TYPE: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  INVALID_STATE: 409,
  CONFLICT: 409,
  BUSY: 409,
  READ_ONLY: 409,
  ALREADY_EXISTS: 409,
  VOLUME_IN_USE: 409,
  HAS_DEPENDENTS: 409,
  WRONG_INSTANCE: 409,
  POOL_EXISTS: 409,
  LIMIT_EXCEEDED: 413,
  QUOTA_EXCEEDED: 413,
  TOO_MANY_ATTEMPTS: 429,
  NO_SPACE: 413,
  CHECKSUM_MISMATCH: 500,
  IO_ERROR: 500,
  CORRUPT_METADATA: 500,
  INTERNAL: 500,
  CLOSED: 503,
};

export const faultNames: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

/** Texts that replace Strata's own for some codes (webob's defaults, as Manila answers). */
function messageOf(code: ErrorCode, status: number, message: string): string {
  if (code === 'UNAUTHENTICATED') return 'The request you have made requires authentication.';
  if (code === 'INVALID_JSON') return 'Malformed request body';
  if (code === 'UNSUPPORTED_MEDIA_TYPE') return 'Unsupported Content-Type';
  if (status === 500) return 'The server has either erred or is incapable of performing the requested operation.';
  return message;
}

export function faultBody(status: number, message: string, retryAfter = '0'): Record<string, Record<string, unknown>> {
  const name = faultNames[status] ?? 'computeFault';
  const fault: Record<string, unknown> = { code: status, message };
  if (status === 413 || status === 429) fault.retryAfter = retryAfter;
  return { [name]: fault };
}

export function renderFault(error: DialectError, _request: FastifyRequest): { status: number; body: unknown; headers?: Record<string, string> } {
  if (error.cause instanceof ManilaFault) return { status: error.cause.status, body: faultBody(error.cause.status, error.cause.message) };
  // A route the dialect does not have: Manila's router answers webob's 404.
  if (error.code === 'NOT_FOUND' && error.cause === null) return { status: 404, body: faultBody(404, 'The resource could not be found.') };
  const status = statusOfCode[error.code];
  const retryAfter = String(retryAfterSecondsOf(error.cause) ?? 0);
  const headers = status === 413 || status === 429 ? { 'Retry-After': retryAfter } : undefined;
  return { status, body: faultBody(status, messageOf(error.code, status, error.message), retryAfter), headers };
}
