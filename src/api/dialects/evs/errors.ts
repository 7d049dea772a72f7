/**
 * The EVS dialect's one mapping from Strata error codes to EVS faults (reference §1.7).
 * The cloudsnapshots family answers `{"error": {"message", "code": "EVS.NNNN"}}`; EVS's
 * Cinder-compatible paths put the same code under the Cinder fault name instead
 * (`{"itemNotFound": {...}}`), as the EVS documentation says `error` may be. A few codes depend
 * on the operation (each route names its operation in its config).
 */
import type { FastifyRequest } from 'fastify';
import { type ErrorCode, StrataError } from '../../../lib/errors.js';
import { cinderMessage, cinderStatusOf } from '../cinder/errors.js';
import type { DialectError } from '../shared.js';

interface EvsCode {
  status: number;
  code: string;
  /** The documented message, where the code has exactly one. */
  message?: string;
}

const generic: Partial<Record<ErrorCode, EvsCode>> = {
  UNAUTHENTICATED: { status: 401, code: 'EVS.5401', message: 'Authentication required.' },
  FORBIDDEN: { status: 403, code: 'EVS.5403' },
  NOT_FOUND: { status: 404, code: 'EVS.5404' },
  QUOTA_EXCEEDED: { status: 413, code: 'EVS.5413', message: 'Insufficient volume quota.' },
  LIMIT_EXCEEDED: { status: 413, code: 'EVS.5413' },
  TOO_MANY_ATTEMPTS: { status: 429, code: 'APIG.0308', message: 'The throttling threshold has been reached.' },
  WRONG_INSTANCE: { status: 503, code: 'EVS.5503' },
  CLOSED: { status: 503, code: 'EVS.5503', message: 'Service unavailable.' },
  NO_SPACE: { status: 503, code: 'EVS.5503', message: 'No space left on the storage; writes resume once space is freed.' },
};

const badRequest: EvsCode = { status: 400, code: 'EVS.5400' };
const internal: EvsCode = { status: 500, code: 'EVS.5500', message: 'Internal server error.' };

const cinderFaultNames: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  413: 'overLimit',
  429: 'overLimit',
  503: 'serviceUnavailable',
};

function statusDetail(error: DialectError): unknown {
  return error.cause instanceof StrataError ? error.cause.details?.status : undefined;
}

/** The EVS code of an error raised by `operation` (route config `cinderOperation`). */
export function evsCodeOf(error: DialectError, operation: string | undefined): EvsCode {
  const deleting = operation === 'cloudsnapshot.delete' || operation === 'snapshot.delete';
  if (error.code === 'INVALID_STATE' && deleting) {
    if (statusDetail(error) === 'error_deleting') return { status: 500, code: 'EVS.2019', message: 'snapshot is error_deleting!' };
    return { status: 400, code: 'EVS.1047', message: 'snapshot status must be available or error when delete snapshot!' };
  }
  if (error.code === 'INVALID_STATE' && operation === 'cloudsnapshot.rollback' && error.field === 'snapshot_id') {
    return { status: 400, code: 'EVS.2043', message: 'The status of snapshot is not available or backing-up.' };
  }
  if (error.code === 'INVALID_STATE' && (operation === 'cloudsnapshot.create' || operation === 'snapshot.create') && statusDetail(error) === 'error') {
    return { status: 500, code: 'EVS.2024', message: 'volume is error!' };
  }
  if (error.field === 'volume_id' && (error.code === 'INVALID_ARGUMENT' || error.code === 'MISSING_FIELD')) {
    return { status: 400, code: 'EVS.1002', message: 'invalid volume id!' };
  }
  if (error.field === 'snapshot_id' && error.code === 'INVALID_ARGUMENT') return { status: 400, code: 'EVS.2045', message: 'invalid snapshot_id!' };
  if (error.code === 'INVALID_JSON' || error.code === 'UNSUPPORTED_MEDIA_TYPE') return { ...badRequest, message: 'Malformed request body.' };
  const known = generic[error.code];
  if (known !== undefined) return known;
  const status = cinderStatusOf[error.code];
  if (status === 400 || status === 409 || status === 415) return badRequest;
  return internal;
}

/** The request's API family: the cloudsnapshots routes, or the Cinder-compatible paths. */
function isCloudSnapshots(request: FastifyRequest): boolean {
  const path = request.url.split('?')[0];
  return /\/(cloudsnapshots|os-vendor-snapshots)(\/|$)/.test(path);
}

export function evsFault(error: DialectError, request: FastifyRequest): { status: number; body: unknown } {
  const evs = evsCodeOf(error, request.routeOptions.config?.cinderOperation);
  const message =
    evs.message ?? (evs.status >= 500 ? 'Internal server error.' : error.code === 'FORBIDDEN' ? `Policy check failed: ${error.message}` : cinderMessage(error));
  const key = isCloudSnapshots(request) ? 'error' : (cinderFaultNames[evs.status] ?? 'computeFault');
  return { status: evs.status, body: { [key]: { message, code: evs.code } } };
}
