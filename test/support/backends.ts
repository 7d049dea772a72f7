/**
 * The storage backends a suite runs against, as test/support/databases.ts does for metadata
 * databases: always 'local' (the embedded engine); 'rbd' when STRATA_TEST_CEPH_CONF names the
 * test cluster (`npm test` starts one with scripts/start-test-ceph.sh when Ceph is installed).
 * STRATA_TEST_BACKENDS=local (or rbd, or local,rbd) narrows a run.
 *
 * `suiteVariants()` crosses backends with databases: the embedded engine runs on every database
 * kind, RBD on one (PostgreSQL when there is one, as instances sharing a pool use in production;
 * else SQLite). The backend and the database meet only through the control plane's rows, which
 * the local variants already cover on both databases, so RBD on both would double the time for
 * nothing new.
 */
import { cephConf, cephSkipReason } from '../backend/ceph.js';
import { type DatabaseKind, databaseKinds } from './databases.js';

export type BackendKind = 'local' | 'rbd';

const BACKENDS_VARIABLE = 'STRATA_TEST_BACKENDS';

function requested(): Set<string> | null {
  const value = process.env[BACKENDS_VARIABLE]?.trim();
  if (!value) return null;
  return new Set(value.split(',').map((part) => part.trim()).filter((part) => part.length > 0));
}

/** The backends to run against: 'local', plus 'rbd' when the test cluster is configured. */
export function backendKinds(): BackendKind[] {
  const wanted = requested();
  const kinds: BackendKind[] = cephConf() === null ? ['local'] : ['local', 'rbd'];
  return wanted === null ? kinds : kinds.filter((kind) => wanted.has(kind));
}

/** Why the RBD variant of a suite does not run, or null when it does. */
export function rbdSkipReason(): string | null {
  const reason = cephSkipReason();
  if (reason !== undefined) return reason;
  const wanted = requested();
  if (wanted !== null && !wanted.has('rbd')) return `RBD tests skipped: ${BACKENDS_VARIABLE}=${process.env[BACKENDS_VARIABLE]}`;
  return null;
}

export interface SuiteVariant {
  backend: BackendKind;
  database: DatabaseKind;
  /** For suite names, so a failure says which: `sqlite`, `postgres on rbd`. */
  label: string;
}

/** Every (backend, database) pair a suite runs on (see the top of this file). */
export function suiteVariants(): SuiteVariant[] {
  const databases = databaseKinds();
  const variants: SuiteVariant[] = [];
  for (const backend of backendKinds()) {
    const kinds = backend === 'local' ? databases : [databases[databases.length - 1]];
    for (const database of kinds) variants.push({ backend, database, label: backend === 'local' ? `${database} on local` : `${database} on rbd` });
  }
  return variants;
}

/** RBD's object size for the images the backend creates (librbd's default, order 22). */
export const rbdObjectSizeBytes = 4 * 1024 * 1024;

/**
 * Which blocks a diff may name beyond the ones written since its base. The embedded engine
 * tracks every block, so none. RBD's diff comes from the extents the OSD keeps per RADOS
 * object, which may reach from the start of an object to its last write since the base
 * (an unwritten gap, or data older than the base, in between). What both guarantee: every
 * written block is named, and nothing past the last block written since the base in each
 * object (on the embedded engine: nothing but the written blocks).
 */
export function diffMayName(backend: BackendKind, writtenBlocks: Iterable<number>, blockBytes: number): (block: number) => boolean {
  const written = new Set(writtenBlocks);
  if (backend === 'local') return (block) => written.has(block);
  const blocksPerObject = rbdObjectSizeBytes / blockBytes;
  const lastInObject = new Map<number, number>();
  for (const block of written) {
    const object = Math.floor(block / blocksPerObject);
    lastInObject.set(object, Math.max(block, lastInObject.get(object) ?? -1));
  }
  return (block) => block <= (lastInObject.get(Math.floor(block / blocksPerObject)) ?? -1);
}
