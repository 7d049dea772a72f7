/**
 * The platform dialects, each mounted under its own prefix on the REST port
 * (../shared/design/interface.md, "Dialects: where each lives").
 */
import type { FastifyInstance } from 'fastify';
import type { ControlPlane } from '../../core/plane.js';
import type { DialectSettings } from './shared.js';
import { cinderDialect } from './cinder/index.js';
import { dwsDialect } from './dws/index.js';
import { evsDialect } from './evs/index.js';
import { manilaDialect } from './manila/index.js';
import { xskyDialect } from './xsky/index.js';
import { zstackDialect } from './zstack/index.js';

export const dialects = [
  { prefix: '/xsky', plugin: xskyDialect },
  { prefix: '/evs', plugin: evsDialect },
  { prefix: '/cinder', plugin: cinderDialect },
  { prefix: '/manila', plugin: manilaDialect },
  { prefix: '/dws', plugin: dwsDialect },
  { prefix: '/zstack', plugin: zstackDialect },
] as const;

export async function registerDialects(app: FastifyInstance, plane: ControlPlane, settings: DialectSettings, publicUrl: () => string): Promise<void> {
  for (const { prefix, plugin } of dialects) await app.register(plugin, { prefix, plane, settings, publicUrl });
}
