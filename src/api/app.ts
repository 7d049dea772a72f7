/**
 * Builds the HTTP application (never listens: src/server.ts does): `/healthz`, `/metrics`,
 * the native API under /api/v1 with its OpenAPI document at /api/v1/openapi.json and
 * browsable docs at /docs. Request ids (pino) are UUIDs, echoed in `X-Request-Id` and in error bodies.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyInstance } from 'fastify';
import { checkHealth, type HealthReport } from '../core/health.js';
import type { ControlPlane } from '../core/plane.js';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import { errorBody, handleError } from './errors.js';
import { registerDialects } from './dialects/index.js';
import { type DialectSettings, frameworkErrorSender } from './dialects/shared.js';
import { nativeApi } from './native/index.js';
import { optionalBodyKey } from './native/schemas.js';

declare module 'fastify' {
  interface FastifyInstance {
    strataRoutes: Array<{ method: string; url: string }>;
  }
}

export interface AppOptions {
  plane: ControlPlane;
  dialects?: DialectSettings;
  logger?: boolean | object;
  /** What /healthz reports; by default only whether the metadata database answers. */
  health?: () => Promise<HealthReport>;
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
  const app = Fastify({
    logger: options.logger ?? false,
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

  // Every route's method and path, for tests that sweep all routes (e.g. "each needs a token").
  const routes: Array<{ method: string; url: string }> = [];
  app.decorate('strataRoutes', routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
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
  await registerDialects(app, plane, options.dialects);
  return app;
}
