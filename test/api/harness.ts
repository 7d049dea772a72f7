/**
 * A control plane and its HTTP app for tests, without sockets: the embedded engine on an
 * in-memory disk (or, with `backend: 'rbd'`, Ceph RBD in a fresh namespace of the test pool),
 * a fresh metadata database of the requested kind, an NBD export table, and `app.inject()`.
 * `as(token)` makes requests with a token; `login` gets one.
 */
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { type AppOptions, buildApp, type HttpBounds } from '../../src/api/app.js';
import type { DialectSettings } from '../../src/api/dialects/shared.js';
import { CoreMetrics } from '../../src/core/metrics.js';
import type { IdentityOptions } from '../../src/core/identity.js';
import type { CoreDeps } from '../../src/core/context.js';
import { ControlPlane, type PlaneTiming } from '../../src/core/plane.js';
import { openDatabase, type MetadataDatabase } from '../../src/db/index.js';
import { RbdBackend } from '../../src/backends/rbd/backend.js';
import { createPool, type EngineApi } from '../../src/engine/index.js';
import { ExportTable } from '../../src/nbd/index.js';
import { MemoryStorage } from '../../src/storage/index.js';
import { cephConf, freshNamespace, testPool } from '../backend/ceph.js';
import type { BackendKind } from '../support/backends.js';
import { createTestDatabase, type DatabaseKind, type TestDatabase } from '../support/databases.js';

export const adminPassword = 'harness-admin-password';
/** scrypt at N = 2^10 keeps tests fast; production (and `strata serve`) uses N = 2^17 (test/core/passwords.test.ts checks). */
export const testPasswordCost = { N: 1024, r: 8, p: 1 };

export interface Response<T = any> {
  status: number;
  body: T;
  headers: Record<string, unknown>;
}

export interface Harness {
  kind: DatabaseKind;
  backend: BackendKind;
  app: FastifyInstance;
  plane: ControlPlane;
  engine: EngineApi;
  exports: ExportTable;
  database: MetadataDatabase;
  /** Sends a request; `body` as an object is sent as JSON, as a string it is sent raw. */
  request<T = any>(method: string, url: string, options?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response<T>>;
  /** A token for a user name and password (asserts 201). */
  login(name: string, password: string, project?: string): Promise<string>;
  /** Creates a project and a user with that role in it; returns ids and a token. */
  tenant(name: string, role?: 'admin' | 'member' | 'reader'): Promise<{ projectId: string; userId: string; token: string }>;
  adminToken: string;
  close(): Promise<void>;
}

export async function createHarness(
  kind: DatabaseKind,
  options: {
    /** Where volumes live: the embedded engine (default) or RBD in a fresh namespace of the test pool. */
    backend?: BackendKind;
    /** The embedded engine's chunk size (RBD reports in its own diff block size). */
    chunkSizeBytes?: number;
    dialects?: DialectSettings;
    /** Share this database (another instance's); it is not dropped on close. */
    sharedDatabase?: TestDatabase;
    /** The HTTP server's timeouts and connection cap (for tests that listen). */
    http?: Partial<HttpBounds>;
    /** The app's `--public-url`. */
    publicUrl?: string;
    /** Identity options over the fast test password cost (a clock for throttling tests). */
    identity?: IdentityOptions;
    /** The app's logger (e.g. a stream to capture log lines); silent by default. */
    logger?: AppOptions['logger'];
    /**
     * Serve this pool (another harness's engine and pool id) as a second instance of a shared
     * pool: the engine is not closed on close, and the plane runs with `poolAccess: 'shared'`.
     */
    sharedPool?: { engine: EngineApi; poolId: string };
    /** The plane's lease, sweep and sync timing (tests shorten it). */
    timing?: Partial<PlaneTiming>;
    /** Default `exclusive`, or `shared` when `sharedPool` is given. */
    poolAccess?: CoreDeps['poolAccess'];
  } = {},
): Promise<Harness> {
  const testDb: TestDatabase = options.sharedDatabase ?? (await createTestDatabase(kind));
  const database = await openDatabase(testDb.url);
  const backend = options.backend ?? 'local';
  const { engine, poolId } = options.sharedPool ?? (await openTestBackend(backend, options.chunkSizeBytes));
  const exports = new ExportTable();
  const plane = new ControlPlane(
    {
      db: database.db,
      dbKind: database.kind,
      engine,
      poolId,
      // As `strata serve` runs them: a local pool is one process's alone, an RBD pool is shared.
      poolAccess: options.poolAccess ?? (options.sharedPool === undefined && backend === 'local' ? 'exclusive' : 'shared'),
      exports,
      nbdBaseUri: () => 'nbd://127.0.0.1:10809',
      metrics: new CoreMetrics({ pool: engine }),
      log: pino({ level: 'silent' }),
    },
    { identity: { passwordCost: testPasswordCost, ...options.identity }, timing: options.timing },
  );
  await plane.identity.bootstrap(adminPassword);
  await plane.start();
  const app = await buildApp({ plane, dialects: options.dialects, http: options.http, publicUrl: options.publicUrl, logger: options.logger });
  await app.ready();

  const request: Harness['request'] = async (method, url, opts = {}) => {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
    let payload: string | undefined;
    if (opts.body !== undefined) {
      payload = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await app.inject({ method: method as 'GET', url, headers, payload });
    const text = response.body;
    let body: unknown = null;
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return { status: response.statusCode, body: body as any, headers: response.headers };
  };
  const login = async (name: string, password: string, project?: string) => {
    const response = await request('POST', '/api/v1/auth/tokens', { body: project === undefined ? { name, password } : { name, password, project } });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    return response.body.token as string;
  };
  const adminToken = await login('admin', adminPassword);
  let users = 0;
  const tenant: Harness['tenant'] = async (name, role = 'member') => {
    const project = await request('POST', '/api/v1/projects', { token: adminToken, body: { name } });
    assert.equal(project.status, 201, JSON.stringify(project.body));
    const userName = `${name}-user-${++users}`;
    const user = await request('POST', '/api/v1/users', { token: adminToken, body: { name: userName, password: 'password-123', project_id: project.body.project.id, role } });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    return { projectId: project.body.project.id, userId: user.body.user.id, token: await login(userName, 'password-123') };
  };
  return {
    kind,
    backend,
    app,
    plane,
    engine,
    exports,
    database,
    request,
    login,
    tenant,
    adminToken,
    async close() {
      await plane.stop();
      await plane.jobs.idle();
      await app.close();
      if (options.sharedPool === undefined) {
        if (backend === 'rbd') await removeVolumes(engine);
        await engine.close();
      }
      await database.close();
      if (options.sharedDatabase === undefined) await testDb.drop();
    },
  };
}

async function openTestBackend(backend: BackendKind, chunkSizeBytes: number | undefined): Promise<{ engine: EngineApi; poolId: string }> {
  if (backend === 'rbd') {
    const conf = cephConf();
    if (conf === null) throw new Error('the rbd harness needs STRATA_TEST_CEPH_CONF (see scripts/start-test-ceph.sh)');
    const rbd = await RbdBackend.open({ confPath: conf, pool: testPool, namespace: freshNamespace('harness') });
    return { engine: rbd, poolId: rbd.poolId };
  }
  return { engine: await createPool(new MemoryStorage(), { chunkSizeBytes: chunkSizeBytes ?? 64 * 1024 }), poolId: crypto.randomUUID() };
}

/** Deletes every volume of an RBD harness: the test cluster keeps its data in memory, shared by every run. */
async function removeVolumes(engine: EngineApi): Promise<void> {
  for (const volume of await engine.listVolumes().catch(() => [])) {
    await Promise.resolve()
      .then(() => engine.deleteVolume(volume.id).done)
      .catch(() => undefined);
  }
}
