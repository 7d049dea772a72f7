import { AssertionError } from '../lib/assert.js';
import { isStrataError, type ErrorCode } from '../lib/errors.js';
import { NBD_EINVAL, NBD_EIO, NBD_ENOSPC, NBD_EPERM, NBD_ESHUTDOWN } from './protocol.js';

/**
 * The one mapping from internal failures to NBD error values. Every `ErrorCode` is listed so
 * that adding a code to src/lib/errors.ts forces a decision here.
 */
export function errnoForCode(code: ErrorCode): number {
  switch (code) {
    case 'READ_ONLY':
    // Control-plane codes never come from a device today; mapped so that any that does is sane.
    case 'UNAUTHENTICATED':
    case 'FORBIDDEN':
    case 'TOO_MANY_ATTEMPTS':
      return NBD_EPERM;
    case 'OUT_OF_RANGE':
    case 'INVALID_ARGUMENT':
    // The spec reserves NBD_EOVERFLOW for oversized lengths of payload-free commands and DF reads,
    // which the server checks itself before the device is called.
    case 'LIMIT_EXCEEDED':
    case 'MISSING_FIELD':
    case 'UNKNOWN_FIELD':
    case 'INVALID_JSON':
    case 'UNSUPPORTED_MEDIA_TYPE':
      return NBD_EINVAL;
    case 'NO_SPACE':
    case 'QUOTA_EXCEEDED':
      return NBD_ENOSPC;
    // The volume or the engine is gone: the client must disconnect (spec: "Terminating the
    // transmission phase").
    case 'NOT_FOUND':
    case 'CLOSED':
      return NBD_ESHUTDOWN;
    case 'CHECKSUM_MISMATCH':
    case 'IO_ERROR':
    case 'CORRUPT_METADATA':
    case 'BUSY':
    case 'CONFLICT':
    case 'POOL_EXISTS':
    case 'ALREADY_EXISTS':
    case 'INVALID_STATE':
    case 'VOLUME_IN_USE':
    case 'HAS_DEPENDENTS':
    case 'WRONG_INSTANCE':
    case 'INTERNAL':
      return NBD_EIO;
    default: {
      const unreachable: never = code;
      return unreachable;
    }
  }
}

const systemErrnos = new Map<string, number>([
  ['ENOSPC', NBD_ENOSPC],
  ['EDQUOT', NBD_ENOSPC], // the spec asks for EDQUOT and EFBIG as NBD_ENOSPC
  ['EFBIG', NBD_ENOSPC],
  ['EROFS', NBD_EPERM],
  ['EPERM', NBD_EPERM],
  ['EACCES', NBD_EPERM],
]);

/**
 * Maps what a device call threw to an NBD error value. Assertion failures are bugs, not
 * request outcomes: they are rethrown so the process stops (see src/lib/assert.ts).
 */
export function nbdErrnoFor(error: unknown): number {
  if (error instanceof AssertionError) throw error;
  if (isStrataError(error)) return errnoForCode(error.code);
  const systemCode = (error as { code?: unknown } | null)?.code;
  if (typeof systemCode === 'string') return systemErrnos.get(systemCode) ?? NBD_EIO;
  return NBD_EIO;
}
