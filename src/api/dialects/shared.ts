/**
 * What every platform dialect shares: how it is mounted (its own scope, error handler and
 * not-found handler, so its faults never look like the native API's), token authentication
 * through the platform's own header, and unit conversions. A dialect is a thin translation:
 * parse the platform's request, call core services (`ControlPlane`), render the platform's
 * response; it never touches the engine or the database.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Caller } from '../../core/context.js';
import type { ControlPlane } from '../../core/plane.js';
import { clientMessage, type ErrorCode, isStrataError, noSpaceError, retryAfterSecondsOf, StrataError } from '../../lib/errors.js';
import { AssertionError } from '../../lib/assert.js';
import { isReservedKey, reservedKeys } from '../reserved-keys.js';

export interface DialectOptions {
  plane: ControlPlane;
  settings: DialectSettings;
  /** The base URL of links the dialect returns (`--public-url`, else the REST listen address); never the request's Host header. */
  publicUrl: () => string;
}

/** Operator settings of the dialects (read by src/main.ts, passed down; dialects read no configuration). */
export interface DialectSettings {
  /** Manila's policy file (JSON, rule name → rule), replacing the built-in defaults; see docs/dialects/manila.md. */
  manilaPolicyFile?: string;
}

/** An error as a dialect sees it: a Strata code (or a framework/validation failure mapped to one), a message, a field. */
export interface DialectError {
  code: ErrorCode;
  message: string;
  field?: string;
  /** The original error, for logging 5xx. */
  cause: unknown;
}

interface ValidationIssue {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
  /** Set by Ajv on errors inside `propertyNames`: the key at fault. */
  propertyName?: string;
}

/** A schema refusal (Ajv's first error) as a code, a message naming the field, and the field. */
function validationError(issues: ValidationIssue[]): Omit<DialectError, 'cause'> {
  const first = issues[0];
  const path = first.instancePath.replace(/^\//, '').split('/').filter(Boolean);
  const badKey = issues.find((issue) => issue.propertyName !== undefined)?.propertyName;
  if (badKey !== undefined) {
    const field = [...path, badKey].join('.');
    const why = isReservedKey(badKey) ? 'is a reserved name' : 'is not an allowed name';
    return { code: 'INVALID_ARGUMENT', message: `${field}: the key ${JSON.stringify(badKey)} ${why}`, field };
  }
  if (first.keyword === 'required') path.push(String(first.params.missingProperty));
  if (first.keyword === 'additionalProperties') path.push(String(first.params.additionalProperty));
  const field = path.join('.');
  const code: ErrorCode = first.keyword === 'required' ? 'MISSING_FIELD' : first.keyword === 'additionalProperties' ? 'UNKNOWN_FIELD' : 'INVALID_ARGUMENT';
  // `not` is only used to refuse reserved names (schemas.ts).
  const detail = first.keyword === 'not' ? `must not be any of ${reservedKeys.join(', ')}` : (first.message ?? 'is invalid');
  return { code, message: `${field || 'request'} ${detail}`, field: field || undefined };
}

/** Brings anything a handler or Fastify threw to a Strata code, so each dialect maps codes in one place. */
export function toDialectError(error: unknown): DialectError {
  if (error instanceof AssertionError) return { code: 'INTERNAL', message: 'internal error', cause: error };
  if (isStrataError(error)) return { code: error.code, message: clientMessage(error), field: error.field, cause: error };
  const noSpace = noSpaceError(error);
  if (noSpace !== null) return { code: 'NO_SPACE', message: clientMessage(noSpace), cause: error };
  const e = error as { code?: string; statusCode?: number; message?: string; validation?: ValidationIssue[] };
  if (Array.isArray(e.validation) && e.validation.length > 0) return { ...validationError(e.validation), cause: error };
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { code: 'INVALID_JSON', message: e.message ?? 'invalid JSON', cause: error };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'send the body as application/json', cause: error };
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'LIMIT_EXCEEDED', message: e.message ?? 'body too large', cause: error };
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return { code: 'INVALID_ARGUMENT', message: 'malformed URL', cause: error };
    default:
      break;
  }
  if (error instanceof SyntaxError || e.statusCode === 400) return { code: 'INVALID_JSON', message: e.message ?? 'bad request', cause: error };
  return { code: 'INTERNAL', message: 'internal error', cause: error };
}

/**
 * Gives a dialect scope its own error and not-found handlers: `render` turns a DialectError
 * into the platform's status and fault body.
 */
type DialectErrorRenderer = (error: DialectError, request: FastifyRequest) => { status: number; body: unknown; headers?: Record<string, string> };

/**
 * Renderers by mount prefix, for errors Fastify raises before routing (a malformed URL), which
 * no scope's error handler sees: app.ts asks `frameworkErrorSender` for the URL's dialect.
 * Keyed by prefix, the same for every app built in a process.
 */
const renderersByPrefix = new Map<string, DialectErrorRenderer>();

export function frameworkErrorSender(url: string): ((error: unknown, request: FastifyRequest, reply: FastifyReply) => void) | null {
  for (const [prefix, render] of renderersByPrefix) {
    if (url === prefix || url.startsWith(`${prefix}/`)) {
      return (error, request, reply) => {
        const { status, body, headers } = render(toDialectError(error), request);
        for (const [name, value] of Object.entries(headers ?? {})) void reply.header(name, value);
        void reply.status(status).send(body);
      };
    }
  }
  return null;
}

export function useDialectErrors(app: FastifyInstance, render: DialectErrorRenderer): void {
  if (app.prefix !== '') renderersByPrefix.set(app.prefix, render);
  const send = (error: DialectError, request: FastifyRequest, reply: FastifyReply) => {
    const { status, body, headers } = render(error, request);
    if (status >= 500) request.log.error({ err: error.cause }, 'dialect request failed');
    // A throttled login says when to retry, in every dialect (each maps the code to its own 429 body).
    const retryAfter = retryAfterSecondsOf(error.cause);
    if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
    for (const [name, value] of Object.entries(headers ?? {})) void reply.header(name, value);
    void reply.status(status).send(body);
  };
  app.setErrorHandler((error, request, reply) => send(toDialectError(error), request, reply));
  app.setNotFoundHandler((request, reply) =>
    send({ code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}`, cause: null }, request, reply),
  );
}

/** The caller of a platform token (the same Strata tokens, sent the platform's way). */
export async function callerOfToken(plane: ControlPlane, token: string | undefined | null): Promise<Caller> {
  if (token === undefined || token === null || token.length === 0) throw new StrataError('UNAUTHENTICATED', 'no token');
  return plane.identity.authenticate(token);
}

export const GiB = 1024 * 1024 * 1024;

/** Whole GiB of a byte size (platforms that count in GB round up). */
export function gibOfBytes(sizeBytes: number): number {
  return Math.ceil(sizeBytes / GiB);
}
