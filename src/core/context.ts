/**
 * What every core service works with: the metadata database, this instance's pool (engine),
 * the NBD export table, metrics, a logger; and who is calling.
 */
import type { Logger } from 'pino';
import type { Db, DatabaseKind } from '../db/index.js';
import type { EngineApi } from '../engine/index.js';
import { StrataError } from '../lib/errors.js';
import type { ExportRegistry } from './attachments.js';
import type { CoreMetrics } from './metrics.js';

export type Role = 'admin' | 'member' | 'reader';
export const roles: readonly Role[] = ['admin', 'member', 'reader'];

/** An authenticated request's identity, taken from its token. */
export interface Caller {
  tokenId: string;
  userId: string;
  userName: string;
  projectId: string;
  projectName: string;
  role: Role;
  expiresAt: string;
}

export interface CoreDeps {
  db: Db;
  dbKind: DatabaseKind;
  /** Core depends on the interface only: the composition root picks the implementation. */
  engine: EngineApi;
  /** This instance's pool; resources with another pool_id live in another instance. */
  poolId: string;
  /**
   * Whether this process holds its pool alone (`exclusive`: the embedded engine, behind the
   * data directory's lock) or other live instances may serve the same pool id at the same time
   * (`shared`: a cluster backend). Start-up reconciliation treats everything as abandoned only
   * for an exclusive pool; in a shared one, only what leases and ages prove abandoned
   * (ARCHITECTURE.md, C9–C11).
   */
  poolAccess: 'exclusive' | 'shared';
  exports: ExportRegistry;
  /** `nbd://HOST:PORT` (`nbds://` when NBD requires TLS), without a trailing slash. */
  nbdBaseUri: () => string;
  metrics: CoreMetrics;
  log: Logger;
}

/** Readers can look, never change. */
export function requireWriter(caller: Caller): void {
  if (caller.role === 'reader') throw new StrataError('FORBIDDEN', 'the reader role cannot change anything');
}

export function requireAdmin(caller: Caller): void {
  if (caller.role !== 'admin') throw new StrataError('FORBIDDEN', 'only the admin role may do this');
}
