/**
 * The web console at /console: static files from the repository's `console/` folder and the
 * one browser library it uses (lit-html), served from its installed package, so nothing is
 * fetched from another host. The pages call the native API with the signed-in user's token.
 * Every answer carries a Content-Security-Policy that allows only this origin's scripts,
 * styles and API calls (no inline script, no eval, no framing).
 */
import fastifyStatic from '@fastify/static';
import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorBody, handleError } from './errors.js';

/** The console's own files: `console/` at the repository root (this file runs as dist/src/api/console.js). */
export const consoleRoot = fileURLToPath(new URL('../../../console/', import.meta.url));
/** lit-html's installed package folder; its browser build has only relative imports. */
const litHtmlRoot = dirname(createRequire(import.meta.url).resolve('lit-html/directive.js'));

export const contentSecurityPolicy = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const consolePlugin: FastifyPluginAsync = async (app) => {
  app.addHook('onSend', async (_request, reply) => {
    void reply.header('content-security-policy', contentSecurityPolicy);
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('referrer-policy', 'no-referrer');
    void reply.header('cache-control', 'no-cache');
  });
  // The file sender refuses paths outside its root (403) or missing (404): both are "no such file" here.
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.statusCode === 403 || error.statusCode === 404) {
      return reply.status(404).send(errorBody('NOT_FOUND', `no file ${request.url.split('?')[0]}`, request.id));
    }
    return handleError(error, request, reply);
  });
  app.get('/console', async (_request, reply) => reply.redirect('/console/'));
  await app.register(fastifyStatic, { root: consoleRoot, prefix: '/console/', index: 'index.html', wildcard: true });
  // Only the library's production modules: no source maps, typings, or its Node build.
  await app.register(fastifyStatic, {
    root: litHtmlRoot,
    prefix: '/console/vendor/lit-html/',
    decorateReply: false,
    index: false,
    allowedPath: (path) => /^\/(?:[\w-]+\.js|directives\/[\w-]+\.js)$/.test(path),
  });
};
