/**
 * The ZStack dialect (`/zstack/v1`): ZStack's volume-snapshot REST API over Strata's core
 * services, so ZStack clients (the Java SDK, scripts) work with only their endpoint changed.
 *
 * - auth.ts: login (SHA-512 of the password) → sessions; `Authorization: OAuth <session>`.
 * - jobs.ts: the async convention (202 + location, polling `/v1/api-jobs/{uuid}`).
 * - query.ts: the query language; world.ts: what a query reads from core; render.ts: inventories.
 * - errors.ts: the one mapping from Strata codes to ZStack's error object and statuses.
 * - params.ts: bodies and parameters with ZStack's validation messages.
 * - *-routes.ts: one plugin per API family.
 *
 * The scope has its own error and not-found handlers (plain-text REST-layer refusals, 503
 * `{"error": …}` API failures) and reads every body as text whatever its content type, as
 * ZStack's RestServer does, then as JSON for the routes that read a body; every route has a
 * schema (schemas.ts), hidden from the OpenAPI document.
 */
import type { FastifyPluginAsync } from 'fastify';
import { routeSchema } from '../schemas.js';
import { type DialectOptions, useDialectErrors } from '../shared.js';
import { accountRoutes } from './account-routes.js';
import { Sessions } from './auth.js';
import type { RouteOptions } from './common.js';
import { renderFault } from './errors.js';
import { jsonBody } from './params.js';
import { bodyOf, Params, ZStackQuery } from './schemas.js';
import { groupRoutes } from './group-routes.js';
import { jobRoutes } from './job-routes.js';
import { ApiJobs } from './jobs.js';
import { snapshotRoutes } from './snapshot-routes.js';
import { volumeRoutes } from './volume-routes.js';

export const zstackDialect: FastifyPluginAsync<DialectOptions> = async (app, { plane, publicUrl }) => {
  const prefix = app.prefix;
  useDialectErrors(app, renderFault(prefix));
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  // Every route's schema (schemas.ts), by method and path below the mount prefix.
  app.addHook('onRoute', (route) => {
    const url = route.url.startsWith(prefix) ? route.url.slice(prefix.length) : route.url;
    const body = [route.method].flat().map((method) => bodyOf(method, url)).find((schema) => schema !== undefined);
    route.schema = { ...route.schema, ...routeSchema({ params: Params, querystring: ZStackQuery, body }) };
  });
  // A route that reads a body gets it as JSON before validation (jsonBody's REST-layer 400 when it is not).
  app.addHook('preValidation', async (request) => {
    if (request.routeOptions.schema?.body !== undefined) request.body = jsonBody(request.body);
  });
  const sessions = new Sessions(plane);
  const options: RouteOptions = { plane, sessions, jobs: new ApiJobs(plane, sessions, prefix, publicUrl), mountPrefix: prefix };
  for (const routes of [accountRoutes, volumeRoutes, snapshotRoutes, groupRoutes, jobRoutes]) await app.register(routes, options);
};
