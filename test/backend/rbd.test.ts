/** The backend contract (contract.ts) on Ceph RBD, in a fresh namespace of the test cluster. */
import { RbdBackend } from '../../src/backends/rbd/backend.js';
import { backendContract } from './contract.js';
import { cephConf, cephSkipReason, freshNamespace, testPool } from './ceph.js';

backendContract(
  'rbd (Ceph)',
  async () => {
    const backend = await RbdBackend.open({ confPath: cephConf() ?? undefined, pool: testPool, namespace: freshNamespace('contract') });
    return { backend, close: () => backend.close() };
  },
  { skip: cephSkipReason() },
);
