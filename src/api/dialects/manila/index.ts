/** The Manila dialect (not yet implemented: every path answers the platform's not-found fault). */
import type { FastifyPluginAsync } from 'fastify';
import type { DialectOptions } from '../shared.js';

export const manilaDialect: FastifyPluginAsync<DialectOptions> = async () => {};
