/**
 * The one mapping from Strata error codes to DWS faults: `{"error_code", "error_msg"}` with
 * the HTTP status DWS documents for the code (Huawei dws_02_0030 and the OTC DWS error table).
 *
 * A Strata code alone is not always enough: DWS answers a missing snapshot with 400 DWS.5149
 * but a missing cluster with 403 DWS.0015, and a bad cluster name with DWS.5057. The routes say
 * which request field an error is about (`field`), and the table below picks the DWS code from
 * the pair (code, field). Faults that a real DWS endpoint gets from Huawei's API gateway before
 * DWS sees the request (no or bad token, unknown path) carry the gateway's APIG codes.
 */
import type { FastifyRequest } from 'fastify';
import type { ErrorCode } from '../../../lib/errors.js';
import type { DialectError } from '../shared.js';

export interface DwsFault {
  status: number;
  code: string;
  /** The platform's text for the code; the error's own message follows it. */
  title: string;
}

export const faults = {
  incorrectParameter: { status: 400, code: 'DWS.0001', title: 'Incorrect parameter' },
  serverFailure: { status: 500, code: 'DWS.0005', title: 'Server failure' },
  emptyRequest: { status: 400, code: 'DWS.0006', title: 'The request is empty' },
  operationInProgress: { status: 409, code: 'DWS.0011', title: 'Another operation is in progress on the instance, or the instance is faulty' },
  notFoundOrDenied: { status: 403, code: 'DWS.0015', title: 'Resource not found or permission denied' },
  restrictedAccount: { status: 403, code: 'DWS.0020', title: 'Restricted account' },
  otherTenant: { status: 400, code: 'DWS.5045', title: 'The current tenant is not allowed to perform this operation' },
  clusterNameExists: { status: 409, code: 'DWS.5050', title: 'The cluster name already exists' },
  clusterNamePattern: { status: 400, code: 'DWS.5057', title: 'The cluster name pattern is invalid' },
  eipBindType: { status: 400, code: 'DWS.5098', title: 'Invalid EIP binding type' },
  snapshotIdInvalid: { status: 400, code: 'DWS.5149', title: 'The snapshot ID is invalid' },
  gatewayUnauthorized: { status: 401, code: 'APIG.0301', title: 'Incorrect IAM authentication information' },
  gatewayThrottled: { status: 429, code: 'APIG.0308', title: 'The throttling threshold has been reached' },
  gatewayNoSuchApi: { status: 404, code: 'APIG.0101', title: 'The API does not exist or has not been published in the environment' },
} as const satisfies Record<string, DwsFault>;

/** Request fields whose errors DWS reports with a code of their own, whatever the Strata code. */
const faultOfField: Record<string, DwsFault> = {
  body: faults.emptyRequest,
  snapshot_id: faults.snapshotIdInvalid,
  'restore.name': faults.clusterNamePattern,
  'restore.public_ip.public_bind_type': faults.eipBindType,
};

const faultOfCode: Record<ErrorCode, DwsFault> = {
  INVALID_ARGUMENT: faults.incorrectParameter,
  OUT_OF_RANGE: faults.incorrectParameter,
  MISSING_FIELD: faults.incorrectParameter,
  UNKNOWN_FIELD: faults.incorrectParameter,
  INVALID_JSON: faults.incorrectParameter,
  UNSUPPORTED_MEDIA_TYPE: faults.incorrectParameter,
  LIMIT_EXCEEDED: faults.incorrectParameter,
  // Snapshot names are unique per project; DWS has no code of its own for a taken snapshot name.
  ALREADY_EXISTS: faults.incorrectParameter,
  UNAUTHENTICATED: faults.gatewayUnauthorized,
  TOO_MANY_ATTEMPTS: faults.gatewayThrottled,
  FORBIDDEN: faults.notFoundOrDenied,
  NOT_FOUND: faults.notFoundOrDenied,
  QUOTA_EXCEEDED: faults.restrictedAccount,
  INVALID_STATE: faults.operationInProgress,
  BUSY: faults.operationInProgress,
  CONFLICT: faults.operationInProgress,
  VOLUME_IN_USE: faults.operationInProgress,
  HAS_DEPENDENTS: faults.operationInProgress,
  WRONG_INSTANCE: faults.operationInProgress,
  READ_ONLY: faults.operationInProgress,
  POOL_EXISTS: faults.serverFailure,
  NO_SPACE: faults.serverFailure,
  CHECKSUM_MISMATCH: faults.serverFailure,
  IO_ERROR: faults.serverFailure,
  CORRUPT_METADATA: faults.serverFailure,
  CLOSED: faults.serverFailure,
  INTERNAL: faults.serverFailure,
};

/** Strata codes that say something about one request field, so the field may pick the DWS code. */
const fieldCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['INVALID_ARGUMENT', 'OUT_OF_RANGE', 'MISSING_FIELD', 'UNKNOWN_FIELD', 'NOT_FOUND']);

/** The DWS fault of a Strata error (see the file comment for how `field` takes part). */
export function faultOf(error: Pick<DialectError, 'code' | 'field'>, routeMissing = false): DwsFault {
  const { code, field } = error;
  // An unknown path is the gateway's 404; a bad token on it is still the gateway's 401.
  if (routeMissing && code === 'NOT_FOUND') return faults.gatewayNoSuchApi;
  if (code === 'FORBIDDEN' && field === 'project_id') return faults.otherTenant;
  if (code === 'ALREADY_EXISTS' && field === 'restore.name') return faults.clusterNameExists;
  // Own keys only: a field named `constructor` must not find Object.prototype's.
  const byField = field === undefined || !fieldCodes.has(code) || !Object.hasOwn(faultOfField, field) ? undefined : faultOfField[field];
  return byField ?? faultOfCode[code];
}

/** The status and body of a DWS fault for `useDialectErrors`. */
export function renderDwsError(error: DialectError, request: FastifyRequest): { status: number; body: { error_code: string; error_msg: string } } {
  const fault = faultOf(error, request.is404);
  // Internal details stay in the log (useDialectErrors logs every 5xx with its cause).
  const detail = fault.status >= 500 ? '' : error.message;
  return { status: fault.status, body: { error_code: fault.code, error_msg: detail === '' ? fault.title : `${fault.title}: ${detail}` } };
}
