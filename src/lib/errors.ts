/**
 * The closed set of failure codes that cross module boundaries.
 *
 * Three kinds of failure are kept apart (see ARCHITECTURE.md):
 * - bugs: `assert` (src/lib/assert.ts) throws AssertionError and the process should crash;
 * - expected outcomes and I/O faults: a `StrataError` with one of the codes below.
 * Each edge (NBD, native API, dialects) maps these codes to its own error format in one place.
 */
export const errorCodes = {
  INVALID_ARGUMENT: 'a request argument is malformed or out of range',
  NOT_FOUND: 'the volume, snapshot or pool does not exist',
  OUT_OF_RANGE: 'a number, length or byte range lies outside its allowed range',
  READ_ONLY: 'the view is read-only (a snapshot)',
  LIMIT_EXCEEDED: 'a configured limit (src/lib/limits.ts) would be exceeded',
  BUSY: 'the object is being changed by another operation',
  CONFLICT: 'the object is in a state that forbids the operation',
  NO_SPACE: 'no space left on the storage of the pool or of the metadata database; writes resume once space is freed',
  CHECKSUM_MISMATCH: 'stored data failed its checksum; it is not returned',
  IO_ERROR: 'the storage layer failed',
  CORRUPT_METADATA: 'the pool metadata is damaged',
  POOL_EXISTS: 'a pool already exists in this data directory',
  CLOSED: 'the engine has been closed',
  // Control plane (src/core): identity, state and quota outcomes.
  UNAUTHENTICATED: 'no valid token, or wrong name or password',
  FORBIDDEN: 'the role of the token does not allow this',
  TOO_MANY_ATTEMPTS: 'too many failed logins for this user name or client address; retry after the delay given',
  MISSING_FIELD: 'a required field is absent',
  UNKNOWN_FIELD: 'the request has a field this operation does not take',
  INVALID_JSON: 'the request body is not valid JSON',
  UNSUPPORTED_MEDIA_TYPE: 'the request body is not application/json',
  ALREADY_EXISTS: 'a resource with this unique name already exists',
  INVALID_STATE: 'the resource status does not allow this operation now',
  VOLUME_IN_USE: 'the volume has a read-write attachment',
  HAS_DEPENDENTS: 'the resource still has snapshots, members or volumes that depend on it',
  QUOTA_EXCEEDED: 'the project quota would be exceeded',
  WRONG_INSTANCE: 'the volume lives in the pool of another Strata instance',
  INTERNAL: 'an unexpected internal error',
} as const;

export type ErrorCode = keyof typeof errorCodes;

export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  /** The request field the error is about, when there is one. */
  get field(): string | undefined {
    const field = this.details?.field;
    return typeof field === 'string' ? field : undefined;
  }

  constructor(code: ErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? errorCodes[code]);
    this.name = 'StrataError';
    this.code = code;
    this.details = details;
  }
}

/** The seconds a TOO_MANY_ATTEMPTS error asks the client to wait (each edge sends them as `Retry-After`). */
export function retryAfterSecondsOf(error: unknown): number | undefined {
  if (!isStrataError(error, 'TOO_MANY_ATTEMPTS')) return undefined;
  const seconds = error.details?.retryAfterSeconds;
  return typeof seconds === 'number' && seconds >= 1 ? Math.ceil(seconds) : 1;
}

export function isStrataError(error: unknown, code?: ErrorCode): error is StrataError {
  return error instanceof StrataError && (code === undefined || error.code === code);
}

/**
 * Codes whose messages are written for the operator's log and may carry server details (file
 * paths, driver text): clients are given the registry's description instead, and the full
 * error is logged with the request id.
 */
const operatorOnlyMessageCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['IO_ERROR', 'CORRUPT_METADATA', 'INTERNAL', 'NO_SPACE']);

/** The message a client may see for `error`. */
export function clientMessage(error: StrataError): string {
  return operatorOnlyMessageCodes.has(error.code) ? errorCodes[error.code] : error.message;
}

/** Errno names and database error codes that mean "the file system or database is full". */
const noSpaceSystemCodes: ReadonlySet<string> = new Set([
  'ENOSPC',
  'EDQUOT',
  'SQLITE_FULL', // better-sqlite3: database or disk is full
  '53100', // PostgreSQL disk_full
]);

/**
 * A full disk met outside the pool (the metadata database, a file) as NO_SPACE; null for any
 * other error. The edges call it before falling back to INTERNAL.
 */
export function noSpaceError(error: unknown): StrataError | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !noSpaceSystemCodes.has(code)) return null;
  return new StrataError('NO_SPACE', errorCodes.NO_SPACE, { cause: error });
}
