/**
 * The OpenStack Manila dialect at /manila: consistency groups and their snapshots
 * (API 2.4–2.30, experimental), share groups and share group snapshots (2.31+), shares as
 * Strata volumes, and version discovery. Every request is authenticated by `X-Auth-Token`
 * (a Strata token), then its microversion is read (400/406), then the route checks the
 * tenant and its version window (microversion.ts), the policy (policy.ts, the operator's file
 * read here, at start), and calls core services. Faults are Manila's (errors.ts); every /v2
 * answer echoes the version headers. docs/dialects/manila.md describes it all.
 */
import type { FastifyPluginAsync } from 'fastify';
import { StrataError } from '../../../lib/errors.js';
import type { DialectOptions } from '../shared.js';
import { useDialectErrors } from '../shared.js';
import { authenticate } from './auth.js';
import { type ManilaDeps, setState, stateOf } from './context.js';
import { renderFault } from './errors.js';
import { consistencyGroups, shareGroups } from './flavors.js';
import { groupRoutes } from './group-routes.js';
import { echoHeaders, requestedVersion } from './microversion.js';
import { Policy } from './policy.js';
import { shareRoutes } from './share-routes.js';
import { snapshotRoutes } from './snapshot-routes.js';
import { typeRoutes } from './type-routes.js';
import { publicPaths, versionRoutes } from './version-routes.js';

export const manilaDialect: FastifyPluginAsync<DialectOptions> = async (app, { plane, settings, publicUrl }) => {
  const deps: ManilaDeps = { plane, policy: Policy.load(settings.manilaPolicyFile), prefix: app.prefix, publicUrl };
  const discovery = new Set(publicPaths(app.prefix));
  const v2 = `${app.prefix}/v2`;

  useDialectErrors(app, renderFault);
  // Manila reads a body only when it is JSON, ignores an empty one and any other kind (the call
  // then has no body), and answers "Malformed request body" for JSON that does not parse.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = String(body);
    if (text.trim().length === 0) return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new StrataError('INVALID_JSON', 'Malformed request body'), undefined);
    }
  });
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, _body, done) => done(null, undefined));
  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions.url;
    const path = request.url.split('?')[0];
    // Keystone's check comes first in Manila's pipeline, then the version header (/v2 only).
    const caller = route !== undefined && discovery.has(route) ? null : await authenticate(plane, request);
    setState(request, { caller, requested: null });
    if (path === v2 || path.startsWith(`${v2}/`)) setState(request, { caller, requested: requestedVersion(request.headers) });
  });
  app.addHook('onSend', async (request, reply, payload) => {
    const { requested } = stateOf(request);
    if (requested !== null) for (const [name, value] of Object.entries(echoHeaders(requested))) void reply.header(name, value);
    return payload;
  });

  versionRoutes(app, deps);
  shareRoutes(app, deps);
  typeRoutes(app, deps);
  for (const flavor of [consistencyGroups, shareGroups]) {
    groupRoutes(app, deps, flavor);
    snapshotRoutes(app, deps, flavor);
  }
};
