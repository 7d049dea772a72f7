/**
 * `strata serve`: opens (or creates) the pool, starts the NBD server and the HTTP listener,
 * and on `stop()` drains: stop accepting, finish in-flight NBD requests, flush, close the store.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import pino from 'pino';
import { buildApp } from './api/app.js';
import { RbdBackend } from './backends/rbd/backend.js';
import { checkHealth } from './core/health.js';
import { CoreMetrics } from './core/metrics.js';
import { ControlPlane } from './core/plane.js';
import { openDatabase } from './db/index.js';
import { createPool, type Engine, type EngineApi, openPool } from './engine/index.js';
import { fileNames } from './engine/layout.js';
import { isStrataError } from './lib/errors.js';
import { limits } from './lib/limits.js';
import { ExportTable, NbdServer, readTlsDirectory } from './nbd/index.js';
import { lockDataDir, makePrivate, privateFileMode } from './storage/data-dir.js';
import { FileStorage } from './storage/index.js';

export interface HostPort {
  host: string;
  port: number;
}

/** Where volumes live: the embedded engine in the data directory, or a Ceph RBD pool. */
export type BackendConfig =
  | { kind: 'local' }
  | {
      kind: 'rbd';
      pool: string;
      /** A RADOS namespace inside the pool (`rbd:POOL/NAMESPACE`). */
      namespace?: string;
      /** ceph.conf; Ceph's own default search when absent. */
      cephConf?: string;
      /** Client name without `client.`. */
      cephId: string;
    };

export interface ServeConfig {
  dataDir: string;
  /** Default: local. */
  backend?: BackendConfig;
  listen: HostPort;
  nbdListen: HostPort;
  /** Directory of NBD TLS credentials (qemu's x509 layout); TLS is then required and URIs are nbds://. */
  nbdTlsDir?: string;
  /** Chunk size for a new pool (ignored when the pool exists). */
  chunkSizeBytes?: number;
  logLevel?: string;
  /** `sqlite:PATH` or `postgres://…`; default: DATA_DIR/metadata.db. */
  databaseUrl?: string;
  /** The bootstrap admin password on first start; generated (and returned once) when absent. */
  adminPassword?: string;
  /** Manila dialect policy file (JSON), replacing its built-in policy defaults. */
  manilaPolicyFile?: string;
  /** The base URL of links the API returns (`parsePublicUrl`); default: the REST listen address. */
  publicUrl?: string;
}

export interface RunningServer {
  apiUrl: string;
  nbdUrl: string;
  engine: EngineApi;
  plane: ControlPlane;
  /** Set on the first start when no admin password was given: print it once. */
  generatedAdminPassword: string | null;
  stop(): Promise<void>;
}

export function parseHostPort(value: string, what: string): HostPort {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value.trim());
  const port = match === null ? NaN : Number(match[3]);
  if (match === null || port > 65535) throw new Error(`${what} must be HOST:PORT, got "${value}"`);
  return { host: match[1] ?? match[2], port };
}

/**
 * `--public-url`: an absolute http(s) URL without credentials, query or fragment; a path is
 * kept (a proxy may mount the API below one), without its trailing slash.
 */
export function parsePublicUrl(value: string, what: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${what} must be an absolute http:// or https:// URL, got "${value}"`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new Error(`${what} must be an http:// or https:// URL without credentials, query or fragment, got "${value}"`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * `--backend`: `local`, or `rbd:POOL` / `rbd:POOL/NAMESPACE` (Ceph's rules for pool and
 * namespace names: no `/` or `@`, not empty).
 */
export function parseBackend(value: string, what: string, ceph: { cephConf?: string; cephId?: string } = {}): BackendConfig {
  if (value.trim() === 'local') return { kind: 'local' };
  const match = /^rbd:([^/@\s]+)(?:\/([^/@\s]+))?$/.exec(value.trim());
  if (match === null) throw new Error(`${what} must be local, rbd:POOL or rbd:POOL/NAMESPACE, got "${value}"`);
  const cephId = ceph.cephId ?? 'admin';
  if (!/^[A-Za-z0-9_.-]+$/.test(cephId)) throw new Error(`--ceph-id must be a Ceph client name without "client.", got "${cephId}"`);
  return { kind: 'rbd', pool: match[1], namespace: match[2], cephConf: ceph.cephConf, cephId };
}

function urlHost(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

async function openOrCreatePool(dataDir: string, chunkSizeBytes: number | undefined): Promise<Engine> {
  // Growing the data file stops short of filling the disk: the rest keeps commits possible.
  const storage = new FileStorage(join(dataDir, 'pool'), {
    reserve: { files: [fileNames.data], freeBytesMin: limits.dataWriteFreeBytesMin, checkIntervalMs: limits.freeSpaceCheckIntervalMs },
  });
  try {
    return await openPool(storage);
  } catch (error) {
    if (isStrataError(error, 'NOT_FOUND')) return createPool(storage, { chunkSizeBytes });
    throw error;
  }
}

/** Opens the backend the configuration names: the only place that chooses one. */
async function openBackend(config: ServeConfig): Promise<{ engine: EngineApi; poolId: string; poolDir?: string }> {
  const backend = config.backend ?? { kind: 'local' };
  if (backend.kind === 'rbd') {
    const rbd = await RbdBackend.open({ confPath: backend.cephConf, id: backend.cephId, pool: backend.pool, namespace: backend.namespace });
    return { engine: rbd, poolId: rbd.poolId };
  }
  const engine = await openOrCreatePool(config.dataDir, config.chunkSizeBytes);
  return { engine, poolId: poolIdOf(config.dataDir), poolDir: join(config.dataDir, 'pool') };
}

/** The pool's identity in the metadata database, kept beside it in the data directory. */
function poolIdOf(dataDir: string): string {
  const path = join(dataDir, 'pool-id');
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const id = randomUUID();
    writeFileSync(path, `${id}\n`, { flag: 'wx', mode: privateFileMode });
    return id;
  }
}

/** Strata's files in the data directory and in `pool/`, kept 0600 (docs/security.md). */
const dataDirFiles = ['lock', 'pool-id', 'metadata.db', 'metadata.db-wal', 'metadata.db-shm'];
const poolFiles = [fileNames.superblock, fileNames.data, fileNames.journal(0), fileNames.journal(1), fileNames.checkpoint(0), fileNames.checkpoint(1)];

/**
 * Takes the data directory for this process (BUSY naming the holder's pid if another has it),
 * makes it private, then starts; the lock is released when the server stops or fails to start.
 */
export async function startServer(config: ServeConfig): Promise<RunningServer> {
  makePrivate(config.dataDir, dataDirFiles);
  const lock = lockDataDir(config.dataDir, 'one process serves a pool: stop that one first');
  try {
    makePrivate(join(config.dataDir, 'pool'), poolFiles);
    const server = await startLocked(config);
    return { ...server, stop: () => server.stop().finally(() => lock.release()) };
  } catch (error) {
    lock.release();
    throw error;
  }
}

async function startLocked(config: ServeConfig): Promise<RunningServer> {
  const logger = pino({ level: config.logLevel ?? 'info' }, pino.destination(2));
  // Read first: bad credentials stop the start before the pool is opened.
  const nbdTls = config.nbdTlsDir === undefined ? undefined : readTlsDirectory(config.nbdTlsDir);
  const { engine, poolId, poolDir } = await openBackend(config);
  const database = await openDatabase(config.databaseUrl ?? `sqlite:${join(config.dataDir, 'metadata.db')}`, {
    onIdleConnectionError: (error) => logger.warn({ err: error }, 'the metadata database closed an idle connection'),
  }).catch(async (error: unknown) => {
    await engine.close();
    throw error;
  });
  const exports = new ExportTable();
  const nbd = new NbdServer({
    exports,
    tls: nbdTls,
    logger: (event) => {
      if (event.type === 'protocol-error' || event.type === 'handshake-refused' || event.type === 'connection-error' || event.type === 'replies-stalled') {
        logger.warn({ nbd: event }, 'nbd connection problem');
      } else {
        logger.debug({ nbd: event }, 'nbd');
      }
    },
  });
  const nbdAddress = await nbd.listen(config.nbdListen.host, config.nbdListen.port);
  const nbdUrl = `${nbdTls === undefined ? 'nbd' : 'nbds'}://${urlHost(config.nbdListen.host)}:${nbdAddress.port}`;
  const metrics = new CoreMetrics({ nbd, pool: engine });
  const plane = new ControlPlane({
    db: database.db,
    dbKind: database.kind,
    engine,
    poolId,
    // A local pool is this process's alone (the data directory's lock); an RBD pool is shared
    // by every instance started on it.
    poolAccess: config.backend?.kind === 'rbd' ? 'shared' : 'exclusive',
    exports,
    nbdBaseUri: () => nbdUrl,
    metrics,
    log: logger,
  });
  const { generatedPassword } = await plane.identity.bootstrap(config.adminPassword);
  const report = await plane.start();
  const backendName = engine instanceof RbdBackend ? engine.describe() : 'local';
  logger.info({ database: database.displayUrl, backend: backendName, ...report }, 'control plane started');
  const app = await buildApp({
    plane,
    dialects: { manilaPolicyFile: config.manilaPolicyFile },
    publicUrl: config.publicUrl,
    logger: { level: config.logLevel ?? 'info', stream: pino.destination(2) },
    health: () => checkHealth({ db: database.db, engine, poolDir }),
  });
  await app.listen({ host: config.listen.host, port: config.listen.port });
  const address = app.server.address();
  const apiPort = typeof address === 'object' && address !== null ? address.port : config.listen.port;
  const apiUrl = `http://${urlHost(config.listen.host)}:${apiPort}`;
  await plane.advertise(apiUrl);
  await plane.scheduler.start();

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      await plane.stop();
      await app.close();
      await nbd.close();
      await engine.close();
      await database.close();
      logger.info('stopped');
    })();
    return stopping;
  };
  return { apiUrl, nbdUrl, engine, plane, generatedAdminPassword: generatedPassword, stop };
}
