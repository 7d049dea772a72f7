/**
 * The throwaway Ceph cluster of the tests (scripts/start-test-ceph.sh, started by `npm test`):
 * its ceph.conf comes in STRATA_TEST_CEPH_CONF; without it the RBD tests skip and say why.
 * Each suite works in a RADOS namespace of its own in the pool strata-test.
 */
import { randomBytes } from 'node:crypto';

export const cephConfVariable = 'STRATA_TEST_CEPH_CONF';

export function cephConf(): string | null {
  return process.env[cephConfVariable] || null;
}

export function cephSkipReason(): string | undefined {
  if (cephConf() !== null) return undefined;
  return `Ceph tests skipped: ${cephConfVariable} is not set (\`npm test\` sets it when Ceph is installed; see scripts/start-test-ceph.sh)`;
}

export const testPool = process.env.STRATA_TEST_CEPH_POOL || 'strata-test';

export function freshNamespace(label: string): string {
  return `${label}-${process.pid}-${randomBytes(4).toString('hex')}`;
}
