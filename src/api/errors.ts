/** The native API's one mapping from StrataError codes to HTTP statuses and its error body. */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, isStrataError } from '../lib/errors.js';

export const httpStatusOf: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  OUT_OF_RANGE: 400,
  READ_ONLY: 409,
  LIMIT_EXCEEDED: 413,
  BUSY: 409,
  CONFLICT: 409,
  NO_SPACE: 507,
  CHECKSUM_MISMATCH: 500,
  IO_ERROR: 500,
  CORRUPT_METADATA: 500,
  POOL_EXISTS: 409,
  CLOSED: 503,
};

export function errorBody(code: string, message: string, requestId: string) {
  return { error: { code, message, request_id: requestId } };
}

export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void {
  if (isStrataError(error)) {
    const status = httpStatusOf[error.code];
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    void reply.status(status).send(errorBody(error.code, error.message, request.id));
    return;
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation !== undefined || fastifyError.statusCode === 400) {
    void reply.status(400).send(errorBody('INVALID_ARGUMENT', error.message, request.id));
    return;
  }
  if (fastifyError.statusCode === 413) {
    void reply.status(413).send(errorBody('LIMIT_EXCEEDED', error.message, request.id));
    return;
  }
  if (fastifyError.statusCode === 415) {
    void reply.status(415).send(errorBody('INVALID_ARGUMENT', error.message, request.id));
    return;
  }
  request.log.error({ err: error }, 'unexpected error');
  void reply.status(500).send(errorBody('INTERNAL', 'internal error', request.id));
}
