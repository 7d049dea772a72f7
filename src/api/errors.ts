/**
 * The native API's one mapping from error codes to HTTP statuses, and its error body
 * `{"error": {"code", "message", "request_id", "field"?}}`. docs/errors.md lists the same
 * table (a test keeps them equal). Validation failures from the request schemas are mapped
 * to MISSING_FIELD / UNKNOWN_FIELD / INVALID_ARGUMENT / OUT_OF_RANGE with the field named.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AssertionError } from '../lib/assert.js';
import { clientMessage, type ErrorCode, errorCodes, isStrataError, noSpaceError, retryAfterSecondsOf } from '../lib/errors.js';

export const httpStatusOf: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  MISSING_FIELD: 400,
  UNKNOWN_FIELD: 400,
  INVALID_JSON: 400,
  OUT_OF_RANGE: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  READ_ONLY: 409,
  BUSY: 409,
  CONFLICT: 409,
  POOL_EXISTS: 409,
  ALREADY_EXISTS: 409,
  INVALID_STATE: 409,
  VOLUME_IN_USE: 409,
  HAS_DEPENDENTS: 409,
  WRONG_INSTANCE: 409,
  LIMIT_EXCEEDED: 413,
  QUOTA_EXCEEDED: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOO_MANY_ATTEMPTS: 429,
  CHECKSUM_MISMATCH: 500,
  IO_ERROR: 500,
  CORRUPT_METADATA: 500,
  INTERNAL: 500,
  CLOSED: 503,
  NO_SPACE: 507,
};

export const registeredCodes = Object.keys(errorCodes) as ErrorCode[];

export interface ErrorBody {
  error: { code: string; message: string; request_id: string; field?: string };
}

export function errorBody(code: string, message: string, requestId: string, field?: string): ErrorBody {
  return { error: { code, message, request_id: requestId, ...(field === undefined ? {} : { field }) } };
}

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** The request field an ajv error is about, as a dotted path (`metadata.key`, `volume_ids`). */
function fieldOf(error: AjvError): string {
  const path = error.instancePath.replace(/^\//, '').split('/').filter(Boolean);
  if (error.keyword === 'required') path.push(String(error.params.missingProperty));
  if (error.keyword === 'additionalProperties') path.push(String(error.params.additionalProperty));
  return path.join('.');
}

function validationCode(error: AjvError): ErrorCode {
  switch (error.keyword) {
    case 'required':
      return 'MISSING_FIELD';
    case 'additionalProperties':
      return 'UNKNOWN_FIELD';
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
    case 'multipleOf':
    case 'minLength':
    case 'maxLength':
    case 'minItems':
    case 'maxItems':
    case 'minProperties':
    case 'maxProperties':
      return 'OUT_OF_RANGE';
    default:
      return 'INVALID_ARGUMENT';
  }
}

/** Maps anything a handler or Fastify threw to the error body and status. */
export function toErrorReply(error: unknown, requestId: string): { status: number; body: ErrorBody; log: boolean } {
  if (error instanceof AssertionError) return { status: 500, body: errorBody('INTERNAL', 'internal error', requestId), log: true };
  if (isStrataError(error)) {
    const status = httpStatusOf[error.code];
    return { status, body: errorBody(error.code, clientMessage(error), requestId, error.field), log: status >= 500 };
  }
  const noSpace = noSpaceError(error);
  if (noSpace !== null) return { status: httpStatusOf.NO_SPACE, body: errorBody('NO_SPACE', clientMessage(noSpace), requestId), log: true };
  const fastifyError = error as FastifyError & { validation?: AjvError[]; validationContext?: string };
  if (Array.isArray(fastifyError.validation) && fastifyError.validation.length > 0) {
    const first = fastifyError.validation[0];
    // A key refused by `propertyNames` (a reserved name such as `constructor`): name the key.
    const badKey = (fastifyError.validation as Array<AjvError & { propertyName?: string }>).find((e) => e.propertyName !== undefined)?.propertyName;
    if (badKey !== undefined) {
      const keyField = [fieldOf(first), badKey].filter(Boolean).join('.');
      return { status: 400, body: errorBody('INVALID_ARGUMENT', `${keyField}: the key ${JSON.stringify(badKey)} is not allowed here`, requestId, keyField), log: false };
    }
    const field = fieldOf(first) || fastifyError.validationContext || '';
    const code = validationCode(first);
    const where = fastifyError.validationContext === 'body' || fastifyError.validationContext === undefined ? '' : ` (${fastifyError.validationContext})`;
    const message = code === 'MISSING_FIELD' ? `${field} is required` : code === 'UNKNOWN_FIELD' ? `${field} is not a field of this request` : `${field}${where} ${first.message ?? 'is invalid'}`;
    return { status: 400, body: errorBody(code, message, requestId, field || undefined), log: false };
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { status: 400, body: errorBody('INVALID_JSON', fastifyError.message, requestId), log: false };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { status: 415, body: errorBody('UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json', requestId), log: false };
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { status: 400, body: errorBody('INVALID_ARGUMENT', 'the URL has a malformed or oversized path parameter', requestId), log: false };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { status: 413, body: errorBody('LIMIT_EXCEEDED', fastifyError.message, requestId), log: false };
    default:
      break;
  }
  if (error instanceof SyntaxError || fastifyError.statusCode === 400) {
    return { status: 400, body: errorBody('INVALID_JSON', fastifyError.message, requestId), log: false };
  }
  if (fastifyError.statusCode === 415) return { status: 415, body: errorBody('UNSUPPORTED_MEDIA_TYPE', fastifyError.message, requestId), log: false };
  if (fastifyError.statusCode === 413) return { status: 413, body: errorBody('LIMIT_EXCEEDED', fastifyError.message, requestId), log: false };
  return { status: 500, body: errorBody('INTERNAL', 'internal error', requestId), log: true };
}

export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const { status, body, log } = toErrorReply(error, request.id);
  if (log) request.log.error({ err: error }, 'request failed');
  const retryAfter = retryAfterSecondsOf(error);
  if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
  void reply.header('x-request-id', request.id).status(status).send(body);
}
