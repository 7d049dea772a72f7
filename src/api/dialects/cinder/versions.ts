/**
 * Cinder's version discovery (cinder/api/versions.py): the prefix root answers 300 Multiple
 * Choices and `/v3/` answers 200, both with the one v3 entry. cinderclient reads `version` and
 * `min_version` from it before every command, without a token.
 */
import type { FastifyInstance } from 'fastify';
import { routeSchema } from '../schemas.js';
import { maxVersion, minVersion, versionString, versionsUpdated } from './microversion.js';
import { OtherQuery } from './schemas.js';

export function versionsDocument(selfHref: string) {
  return {
    versions: [
      {
        id: 'v3.0',
        status: 'CURRENT',
        version: versionString(maxVersion),
        min_version: versionString(minVersion),
        updated: versionsUpdated,
        links: [
          { rel: 'describedby', type: 'text/html', href: 'https://docs.openstack.org/' },
          { rel: 'self', href: selfHref },
        ],
        'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.volume+json;version=3' }],
      },
    ],
  };
}

export function registerVersionRoutes(app: FastifyInstance, publicUrl: () => string): void {
  const selfOf = () => `${publicUrl()}${app.prefix}/v3/`;
  const config = { cinderPublic: true };
  const schema = routeSchema({ querystring: OtherQuery });
  app.get('/', { config, schema }, async (_request, reply) => reply.status(300).send(versionsDocument(selfOf())));
  for (const url of ['/v3', '/v3/']) app.get(url, { config, schema }, async () => versionsDocument(selfOf()));
}
