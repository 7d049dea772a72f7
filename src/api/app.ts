/**
 * Builds the HTTP application (never listens: src/server.ts does): `/healthz`, `/metrics`,
 * the native API under /api/v1 with its OpenAPI document at /api/v1/openapi.json and
 * browsable docs at /docs. Request ids (pino) are UUIDs, echoed in `X-Request-Id` and in error bodies.
 * Log lines never carry tokens: the logger redacts them from URLs, paths, headers and error
 * text (log-redaction.ts).
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyInstance, type FastifySchema } from 'fastify';
import { checkHealth, type HealthReport } from '../core/health.js';
import type { ControlPlane } from '../core/plane.js';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import { consolePlugin } from './console.js';
import { errorBody, handleError } from './errors.js';
import { redactingLoggerOptions } from './log-redaction.js';
import { registerDialects } from './dialects/index.js';
import { type DialectSettings, frameworkErrorSender } from './dialects/shared.js';
import { nativeApi } from './native/index.js';
import { optionalBodyKey } from './native/schemas.js';

declare module 'fastify' {
  interface FastifyInstance {
    strataRoutes: StrataRoute[];
  }
}

/** A route as the sweeping tests see it: method, path and the schema it validates requests with. */
export interface StrataRoute {
  method: string;
  url: string;
  readonly schema: FastifySchema | undefined;
}

export interface AppOptions {
  plane: ControlPlane;
  dialects?: DialectSettings;
  /** Pino options (level, stream, …) or true for the defaults; redaction is always added. Default: no logging. */
  logger?: boolean | object;
  /** The HTTP server's timeouts and connection cap; tests shorten them. */
  http?: Partial<HttpBounds>;
  /**
   * The base URL of links the API returns (`--public-url`). Absent: the address the app
   * listens on, or `fallbackPublicUrl` before it listens (requests injected in tests).
   * Never the request's Host header, which any client may set.
   */
  publicUrl?: string;
  /** What /healthz reports; by default only whether the metadata database answers. */
  health?: () => Promise<HealthReport>;
}

export interface HttpBounds {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  socketIdleTimeoutMs: number;
  timeoutCheckIntervalMs: number;
  connectionCountMax: number;
}

const c = limits.control;
export const httpBoundsDefault: HttpBounds = {
  headersTimeoutMs: c.httpHeadersTimeoutMs,
  requestTimeoutMs: c.httpRequestTimeoutMs,
  keepAliveTimeoutMs: c.httpKeepAliveTimeoutMs,
  socketIdleTimeoutMs: c.httpSocketIdleTimeoutMs,
  timeoutCheckIntervalMs: c.httpTimeoutCheckIntervalMs,
  connectionCountMax: c.httpConnectionCountMax,
};

/**
 * Fastify's server options for the bounds: a client that sends its headers or body slowly
 * (slowloris), or holds an idle connection, is closed; at most connectionCountMax connections.
 */
function serverOptions(bounds: HttpBounds) {
  return {
    connectionTimeout: bounds.socketIdleTimeoutMs,
    keepAliveTimeout: bounds.keepAliveTimeoutMs,
    requestTimeout: bounds.requestTimeoutMs,
    // Passed to http.createServer: the header timeout is Node's own, checked every interval.
    http: { headersTimeout: bounds.headersTimeoutMs, requestTimeout: bounds.requestTimeoutMs, connectionsCheckingInterval: bounds.timeoutCheckIntervalMs },
  };
}

/** The base URL of links of an app that neither listens nor was given one: the default `--listen`. */
export const fallbackPublicUrl = 'http://127.0.0.1:8080';

function listenUrl(app: FastifyInstance): string | null {
  const address = app.server.address();
  if (address === null || typeof address === 'string') return null;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/** Bodies are validated strictly (no coercion); query strings and params are coerced from text. */
function validators() {
  const make = (coerceTypes: boolean) => {
    const ajv = new Ajv({ coerceTypes, useDefaults: true, removeAdditional: false, allErrors: false, strict: false });
    addFormats.default(ajv);
    return ajv;
  };
  return { body: make(false), other: make(true) };
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { plane } = options;
  const bounds: HttpBounds = { ...httpBoundsDefault, ...options.http };
  const app = Fastify({
    ...serverOptions(bounds),
    logger: options.logger === undefined || options.logger === false ? false : redactingLoggerOptions(options.logger === true ? {} : options.logger),
    bodyLimit: limits.control.httpBodyBytesMax,
    // Long path parameters reach the schema (and its field-named error) instead of a bare 414.
    routerOptions: { maxParamLength: 1024 },
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,128}$/.test(given) ? given : crypto.randomUUID();
    },
    // URL errors Fastify raises before routing get the same error body as everything else.
    frameworkErrors: (error, request, reply) => (frameworkErrorSender(request.url) ?? handleError)(error, request, reply),
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.server.maxConnections = bounds.connectionCountMax;
  // JSON only: a text/plain body is refused with 415 instead of failing validation as a string.
  app.removeContentTypeParser('text/plain');
  // A JSON body of `null` is refused here: Fastify uses null for "no body", which optional bodies accept.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parseJson(request, String(body), (error: Error | null, value?: unknown) => {
      if (error !== null) done(error, undefined);
      else if (value === null) done(new StrataError('INVALID_ARGUMENT', 'the body must be a JSON object, not null', { field: 'body' }), undefined);
      else done(null, value);
    });
  });

  const ajv = validators();
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (httpPart !== 'body') return ajv.other.compile(schema);
    const validate = ajv.body.compile(schema);
    if ((schema as Record<string, unknown>)[optionalBodyKey] !== true) return validate;
    // No body at all (Fastify gives null) is valid for an optional body; a present one must match.
    const optional = (data: unknown) => {
      if (data === undefined || data === null) {
        optional.errors = null;
        return true;
      }
      const ok = validate(data) as boolean;
      optional.errors = validate.errors;
      return ok;
    };
    optional.errors = null as typeof validate.errors;
    return optional;
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(errorBody('NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`, request.id));
  });

  // Every route's method, path and schema, for tests that sweep all routes ("each needs a token",
  // "each refuses invalid input"). The schema is read late: a scope's own onRoute hook may set it after this one.
  const routes: StrataRoute[] = [];
  app.decorate('strataRoutes', routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD') routes.push({ method, url: route.url, get schema() { return route.schema; } });
    }
  });

  const { metrics } = plane.deps;
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ method: request.method, route, status_code: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Strata native API',
        version: '1.0.0',
        description:
          'Volumes, crash-consistent snapshots, consistency groups, NBD attachments and jobs. Authenticate with POST /api/v1/auth/tokens, then send `Authorization: Bearer TOKEN` or `X-Auth-Token: TOKEN`. Errors are `{"error": {"code", "message", "request_id", "field"?}}`; the codes are in docs/errors.md.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' }, xAuthToken: { type: 'apiKey', in: 'header', name: 'X-Auth-Token' } } },
      security: [{ bearer: [] }, { xAuthToken: [] }],
    },
    hideUntagged: true,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { url: '/api/v1/openapi.json' } as never, staticCSP: false });

  const health = options.health ?? (() => checkHealth({ db: plane.deps.db }));
  // 200 {"status":"ok"}, or 503 {"status":"degraded","reasons":[...]} while writes cannot be taken.
  app.get('/healthz', async (_request, reply) => {
    const report = await health();
    if (report.status === 'ok') return { status: 'ok' };
    return reply.status(503).send(report);
  });
  app.get('/metrics', async (_request, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
  app.get('/api/v1/openapi.json', async () => app.swagger());
  await app.register(nativeApi, { prefix: '/api/v1', plane });
  const publicUrl = () => options.publicUrl ?? listenUrl(app) ?? fallbackPublicUrl;
  await registerDialects(app, plane, options.dialects ?? {}, publicUrl);
  await app.register(consolePlugin);
  return app;
}
