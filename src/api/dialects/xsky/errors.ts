/**
 * The XSKY dialect's one mapping from Strata error codes to an HTTP status and XMS error body.
 *
 * The XMS spec declares no error schema (every 4xx/5xx has `content: {}`) and the generated
 * SDK never parses error bodies, so the body is ours to choose: `{"code", "message"}`, with
 * `code` a stable PascalCase name. Statuses keep to the ones the spec declares (400, 401, 404,
 * 500): XMS has no 409, so state conflicts are 400 BadRequest like every refused request.
 * A missing resource named in the URL is 404; one named inside the request (a body field or a
 * query filter) is 400, because create operations declare no 404.
 */
import type { ErrorCode } from '../../../lib/errors.js';
import type { DialectError } from '../shared.js';

export interface XskyErrorBody {
  code: string;
  message: string;
}

const table: Record<ErrorCode, { status: number; code: string }> = {
  INVALID_ARGUMENT: { status: 400, code: 'InvalidParameter' },
  MISSING_FIELD: { status: 400, code: 'MissingParameter' },
  UNKNOWN_FIELD: { status: 400, code: 'UnknownParameter' },
  INVALID_JSON: { status: 400, code: 'MalformedRequestBody' },
  OUT_OF_RANGE: { status: 400, code: 'ParameterOutOfRange' },
  LIMIT_EXCEEDED: { status: 400, code: 'LimitExceeded' },
  QUOTA_EXCEEDED: { status: 400, code: 'QuotaExceeded' },
  READ_ONLY: { status: 400, code: 'ReadOnly' },
  BUSY: { status: 400, code: 'ResourceBusy' },
  CONFLICT: { status: 400, code: 'Conflict' },
  POOL_EXISTS: { status: 400, code: 'Conflict' },
  ALREADY_EXISTS: { status: 400, code: 'AlreadyExists' },
  INVALID_STATE: { status: 400, code: 'InvalidStatus' },
  VOLUME_IN_USE: { status: 400, code: 'VolumeInUse' },
  HAS_DEPENDENTS: { status: 400, code: 'HasDependents' },
  WRONG_INSTANCE: { status: 400, code: 'WrongInstance' },
  UNAUTHENTICATED: { status: 401, code: 'Unauthorized' },
  FORBIDDEN: { status: 403, code: 'PermissionDenied' },
  NOT_FOUND: { status: 404, code: 'NotFound' },
  TOO_MANY_ATTEMPTS: { status: 429, code: 'TooManyAttempts' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, code: 'UnsupportedMediaType' },
  NO_SPACE: { status: 500, code: 'InsufficientSpace' },
  CHECKSUM_MISMATCH: { status: 500, code: 'InternalError' },
  IO_ERROR: { status: 500, code: 'InternalError' },
  CORRUPT_METADATA: { status: 500, code: 'InternalError' },
  INTERNAL: { status: 500, code: 'InternalError' },
  CLOSED: { status: 503, code: 'ServiceUnavailable' },
};

/** Core names some request fields its own way; XSKY clients know them by the wire name. */
const wireFieldNames: Record<string, string> = {
  size_bytes: 'size',
  source_snapshot_id: 'block_snapshot_id',
  volume_ids: 'block_volume_ids',
  add_volume_ids: 'block_volume_ids',
  group_id: 'block_volume_group_id',
};

export function renderXskyError(error: DialectError): { status: number; body: XskyErrorBody } {
  const entry = table[error.code] ?? table.INTERNAL;
  if (error.code === 'NOT_FOUND' && error.field !== undefined) {
    // A reference inside the request, not the resource the URL names.
    return { status: 400, body: { code: 'InvalidParameter', message: withField(error) } };
  }
  const message = entry.status >= 500 && error.code === 'INTERNAL' ? 'internal error' : withField(error);
  return { status: entry.status, body: { code: entry.code, message } };
}

function withField(error: DialectError): string {
  if (error.field === undefined) return error.message;
  const field = Object.hasOwn(wireFieldNames, error.field) ? wireFieldNames[error.field] : error.field;
  return error.message.startsWith(field) ? error.message : `${field}: ${error.message}`;
}
