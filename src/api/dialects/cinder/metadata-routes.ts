/**
 * Cinder's metadata sub-resource, the same for snapshots and volumes (and on EVS's
 * Cinder-compatible paths): show all, merge (POST), replace (PUT), and one key at a time.
 * Strata stores metadata whole with its resource; merges and key changes go through core's
 * atomic `modifyMetadata`, so concurrent changes to different keys never lose one another.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Caller } from '../../../core/context.js';
import { StrataError } from '../../../lib/errors.js';
import { callerOf } from './auth.js';
import { type RouteContext, route } from './context.js';
import { element, invalid, metadataMap } from './parse.js';
import * as S from './schemas.js';

export interface MetadataStore {
  /** Path below a base, e.g. `/snapshots/:snapshot_id`. */
  path: string;
  /** The operation-name stem for faults, e.g. `snapshot`. */
  noun: string;
  idOf(request: FastifyRequest): string;
  read(caller: Caller, id: string): Promise<Record<string, string>>;
  /** Read, change and write in one transaction (a replacement ignores what it reads). */
  modify(caller: Caller, id: string, change: (current: Record<string, string>) => Record<string, string>): Promise<Record<string, string>>;
}

const itemNotFound = () => new StrataError('NOT_FOUND', 'Metadata item was not found');

function metadataBody(body: unknown): Record<string, string> {
  const wrapper = element(body, 'metadata');
  return metadataMap(wrapper, 'metadata') ?? {};
}

export function registerMetadataRoutes(app: FastifyInstance, context: RouteContext, store: MetadataStore): void {
  const at = `${store.path}/metadata`;
  const keyOf = (request: FastifyRequest) => (request.params as { key: string }).key;

  route(app, context, 'GET', at, `${store.noun}.metadata.show`, async (request) => ({
    metadata: await store.read(callerOf(request), store.idOf(request)),
  }));
  route(app, context, 'POST', at, `${store.noun}.metadata.create`, async (request) => {
    const caller = callerOf(request);
    const id = store.idOf(request);
    const changes = metadataBody(request.body);
    const metadata = await store.modify(caller, id, (current) => {
      const merged = { ...current, ...changes };
      // The merged map is held to the same bound as a replacement.
      metadataMap(merged, 'metadata');
      return merged;
    });
    return { metadata };
  }, { body: S.MetadataBody });
  route(app, context, 'PUT', at, `${store.noun}.metadata.replace`, async (request) => {
    const caller = callerOf(request);
    const id = store.idOf(request);
    const metadata = metadataBody(request.body);
    await store.read(caller, id);
    return { metadata: await store.modify(caller, id, () => metadata) };
  }, { body: S.MetadataBody });
  route(app, context, 'GET', `${at}/:key`, `${store.noun}.metadata.showKey`, async (request) => {
    const key = keyOf(request);
    const metadata = await store.read(callerOf(request), store.idOf(request));
    if (!Object.hasOwn(metadata, key)) throw itemNotFound();
    return { meta: { [key]: metadata[key] } };
  });
  route(app, context, 'PUT', `${at}/:key`, `${store.noun}.metadata.updateKey`, async (request) => {
    const caller = callerOf(request);
    const id = store.idOf(request);
    const key = keyOf(request);
    const meta = metadataMap(element(request.body, 'meta'), 'meta') ?? {};
    const keys = Object.keys(meta);
    if (keys.length > 1) throw invalid('Request body contains too many items.', 'meta');
    if (keys.length === 0 || keys[0] !== key) throw invalid('Request body and URI mismatch', 'meta');
    const written = await store.modify(caller, id, (current) => {
      const merged = { ...current, [key]: meta[key] };
      metadataMap(merged, 'metadata');
      return merged;
    });
    return { meta: { [key]: written[key] } };
  }, { body: S.MetaBody });
  route(app, context, 'DELETE', `${at}/:key`, `${store.noun}.metadata.deleteKey`, async (request, reply) => {
    const caller = callerOf(request);
    const id = store.idOf(request);
    const key = keyOf(request);
    await store.modify(caller, id, (current) => {
      if (!Object.hasOwn(current, key)) throw itemNotFound();
      const metadata = { ...current };
      delete metadata[key];
      return metadata;
    });
    return reply.status(200).send();
  });
}
