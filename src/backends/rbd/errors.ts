/**
 * librados and librbd return negative errno values; every one becomes a StrataError with the
 * code a caller can act on. The message names the call and the errno so the operator's log
 * says what failed (IO_ERROR and NO_SPACE messages are not shown to API clients).
 */
import { constants } from 'node:os';
import { StrataError, type ErrorCode } from '../../lib/errors.js';

const errno = constants.errno;

const codeOfErrno = new Map<number, ErrorCode>([
  [errno.ENOENT, 'NOT_FOUND'],
  [errno.EEXIST, 'ALREADY_EXISTS'],
  [errno.EBUSY, 'BUSY'],
  [errno.EAGAIN, 'BUSY'],
  [errno.ENOTEMPTY, 'HAS_DEPENDENTS'],
  [errno.ENOSPC, 'NO_SPACE'],
  [errno.EDQUOT, 'NO_SPACE'],
  [errno.EROFS, 'READ_ONLY'],
  [errno.EINVAL, 'INVALID_ARGUMENT'],
  [errno.ERANGE, 'OUT_OF_RANGE'],
  [errno.EDOM, 'OUT_OF_RANGE'],
  // ESHUTDOWN (Linux 108, absent from Node's table): Ceph's "blocklisted", this client was fenced out.
  [108, 'CLOSED'],
]);

const nameOfErrno = new Map<number, string>(Object.entries(errno).map(([name, value]) => [value, name]));

/** The StrataError for a negative return `result` of `call`. */
export function rbdError(result: number, call: string, what?: string): StrataError {
  const positive = -result;
  const code = codeOfErrno.get(positive) ?? 'IO_ERROR';
  const name = nameOfErrno.get(positive) ?? `errno ${positive}`;
  const subject = what === undefined ? '' : ` (${what})`;
  return new StrataError(code, `${call} failed${subject}: ${name}`, { errno: positive, call });
}

/** Returns `result` when it is not negative, else throws its StrataError. */
export function check(result: number, call: string, what?: string): number {
  if (result < 0) throw rbdError(result, call, what);
  return result;
}

export const errnoValues = { ENOENT: errno.ENOENT, EEXIST: errno.EEXIST, EROFS: errno.EROFS, EBUSY: errno.EBUSY };
