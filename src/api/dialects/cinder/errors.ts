/**
 * The Cinder dialect's one mapping from Strata error codes to Cinder faults:
 * `{"<faultName>": {"code": <status>, "message": "..."}}` (cinder/api/openstack/wsgi.py Fault).
 * Cinder reports wrong states ("Invalid*" exceptions) as 400 badRequest, quota as 413 overLimit,
 * and a version outside the supported range as 406 computeFault.
 */
import { type ErrorCode, retryAfterSecondsOf } from '../../../lib/errors.js';
import type { DialectError } from '../shared.js';
import { VersionNotAcceptable } from './microversion.js';

const faultNames: Record<number, string> = {
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

export const cinderStatusOf: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  MISSING_FIELD: 400,
  UNKNOWN_FIELD: 400,
  INVALID_JSON: 400,
  OUT_OF_RANGE: 400,
  INVALID_STATE: 400,
  VOLUME_IN_USE: 400,
  HAS_DEPENDENTS: 400,
  READ_ONLY: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  BUSY: 409,
  CONFLICT: 409,
  ALREADY_EXISTS: 409,
  POOL_EXISTS: 409,
  LIMIT_EXCEEDED: 413,
  QUOTA_EXCEEDED: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOO_MANY_ATTEMPTS: 429,
  WRONG_INSTANCE: 503,
  CLOSED: 503,
  NO_SPACE: 503, // the storage is full: try again once space is freed
  CHECKSUM_MISMATCH: 500,
  IO_ERROR: 500,
  CORRUPT_METADATA: 500,
  INTERNAL: 500,
};

/** Cinder's class names for resources in "X <id> could not be found." */
const nouns: Record<string, string> = {
  volume: 'Volume',
  snapshot: 'Snapshot',
  group: 'Group',
  'group snapshot': 'GroupSnapshot',
};

/** Core's "snapshot <id> does not exist" in Cinder's words; other messages pass unchanged. */
export function cinderMessage(error: DialectError): string {
  if (error.code === 'NOT_FOUND') {
    const match = /^(volume|snapshot|group snapshot|group) (\S+) does not exist$/.exec(error.message);
    if (match !== null) return `${nouns[match[1]]} ${match[2]} could not be found.`;
    if (error.message.startsWith('no route ')) return 'The resource could not be found.';
  }
  if (error.code === 'INVALID_JSON') return `Malformed request body: ${error.message}`;
  if (error.code === 'FORBIDDEN') return `Policy doesn't allow this operation to be performed: ${error.message}`;
  if (cinderStatusOf[error.code] >= 500 && error.code !== 'WRONG_INSTANCE' && error.code !== 'CLOSED' && error.code !== 'NO_SPACE') {
    return 'The server has either erred or is incapable of performing the requested operation.';
  }
  return error.message;
}

export function cinderFault(error: DialectError): { status: number; body: unknown } {
  if (error.cause instanceof VersionNotAcceptable) {
    return { status: 406, body: { computeFault: { code: 406, message: error.cause.message } } };
  }
  const status = cinderStatusOf[error.code];
  const name = faultNames[status] ?? 'computeFault';
  // Cinder's Fault adds retryAfter to 413 and 429 bodies when the exception carries Retry-After.
  const retryAfter = retryAfterSecondsOf(error.cause);
  return { status, body: { [name]: { code: status, message: cinderMessage(error), ...(retryAfter === undefined ? {} : { retryAfter: String(retryAfter) }) } } };
}
