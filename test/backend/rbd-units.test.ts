/**
 * The RBD backend's pure parts, without a cluster: ids and names (unique packing, refusal of
 * numbers no snapshot can have, the shared pool id), the extent arithmetic behind block
 * status, diff and exclusive bytes, and the `--backend` flag.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { blockStatusOf, mergeRanges, overlapBytes } from '../../src/backends/rbd/extents.js';
import { imageName, rbdPoolId, snapshotId, splitSnapshotId, volumeIdOfImage } from '../../src/backends/rbd/naming.js';
import { isStrataError } from '../../src/lib/errors.js';
import { limits } from '../../src/lib/limits.js';
import { parseBackend } from '../../src/server.js';

test('snapshot ids pack the volume id and RBD snapshot id and unpack to them; other numbers are NOT_FOUND', () => {
  const volumeMax = 2 ** limits.rbd.volumeIdBits - 1;
  const snapMax = 2 ** limits.rbd.snapIdBits - 1;
  for (const [volumeId, rbdSnapId] of [
    [1, 0],
    [1, 1],
    [12345, 678],
    [volumeMax, snapMax],
  ]) {
    const id = snapshotId(volumeId, rbdSnapId);
    assert.ok(Number.isSafeInteger(id), `snapshot id ${id} of ${volumeId}/${rbdSnapId} is not a safe integer`);
    assert.deepEqual(splitSnapshotId(id), { volumeId, rbdSnapId });
  }
  assert.notEqual(snapshotId(1, snapMax), snapshotId(2, 0));
  assert.throws(() => snapshotId(1, snapMax + 1), (error) => isStrataError(error, 'LIMIT_EXCEEDED'));
  for (const bad of [-1, 0.5, 5, 2 ** 53, Number.NaN]) {
    assert.throws(() => splitSnapshotId(bad), (error) => isStrataError(error, 'NOT_FOUND'), `splitSnapshotId(${bad})`);
  }
});

test('image names round-trip and other images are ignored', () => {
  assert.equal(volumeIdOfImage(imageName(42)), 42);
  for (const other of ['strata-volume-042', 'strata-volume-0', 'strata-volume-x', 'vm-disk-1', `strata-volume-${2 ** limits.rbd.volumeIdBits}`]) {
    assert.equal(volumeIdOfImage(other), null, other);
  }
});

test('the pool id is the same for the same cluster, pool and namespace, and differs otherwise', () => {
  const id = rbdPoolId('6f55cfaf-9efc-48ca-94a1-1155109006c6', 'rbd', '');
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(rbdPoolId('6f55cfaf-9efc-48ca-94a1-1155109006c6', 'rbd', ''), id);
  assert.notEqual(rbdPoolId('6f55cfaf-9efc-48ca-94a1-1155109006c6', 'rbd', 'a'), id);
  assert.notEqual(rbdPoolId('6f55cfaf-9efc-48ca-94a1-1155109006c7', 'rbd', ''), id);
  assert.notEqual(rbdPoolId('6f55cfaf-9efc-48ca-94a1-1155109006c6', 'rbd2', ''), id);
});

test('block status covers the range exactly: data from the allocated extents, holes between', () => {
  const extents = blockStatusOf(
    [
      { offsetBytes: 0, lengthBytes: 4096, exists: true },
      { offsetBytes: 8192, lengthBytes: 4096, exists: true },
      { offsetBytes: 12288, lengthBytes: 4096, exists: true },
      { offsetBytes: 20480, lengthBytes: 4096, exists: false },
    ],
    1000,
    30000,
  );
  assert.deepEqual(extents, [
    { offsetBytes: 1000, lengthBytes: 3096, hole: false, zero: false },
    { offsetBytes: 4096, lengthBytes: 4096, hole: true, zero: true },
    { offsetBytes: 8192, lengthBytes: 8192, hole: false, zero: false },
    { offsetBytes: 16384, lengthBytes: 14616, hole: true, zero: true },
  ]);
  assert.deepEqual(blockStatusOf([], 0, 10), [{ offsetBytes: 0, lengthBytes: 10, hole: true, zero: true }]);
});

test('diff ranges round out to the block, merge, and clamp to the size; overlap counts shared bytes', () => {
  const merged = mergeRanges(
    [
      { offsetBytes: 5000, lengthBytes: 10 },
      { offsetBytes: 100, lengthBytes: 10 },
      { offsetBytes: 4096, lengthBytes: 1 },
      { offsetBytes: 20000, lengthBytes: 0 },
      { offsetBytes: 30000, lengthBytes: 5000 },
    ],
    4096,
    32768,
  );
  assert.deepEqual(merged, [
    { offsetBytes: 0, lengthBytes: 8192 },
    { offsetBytes: 28672, lengthBytes: 4096 },
  ]);
  assert.equal(overlapBytes(merged, [{ offsetBytes: 4096, lengthBytes: 28672 }]), 4096 + 4096);
  assert.equal(overlapBytes(merged, []), 0);
});

test('--backend: local, rbd:POOL and rbd:POOL/NAMESPACE; anything else is refused with the flag named', () => {
  assert.deepEqual(parseBackend('local', '--backend'), { kind: 'local' });
  assert.deepEqual(parseBackend('rbd:volumes', '--backend', { cephConf: '/etc/ceph/ceph.conf' }), {
    kind: 'rbd',
    pool: 'volumes',
    namespace: undefined,
    cephConf: '/etc/ceph/ceph.conf',
    cephId: 'admin',
  });
  assert.equal(parseBackend('rbd:volumes/tenant-a', '--backend', { cephId: 'strata' }).kind, 'rbd');
  for (const bad of ['rbd:', 'rbd', 'ceph:volumes', 'rbd:a/b/c', 'rbd:a@b', 'rbd:/x']) {
    assert.throws(() => parseBackend(bad, '--backend'), /--backend must be local, rbd:POOL or rbd:POOL\/NAMESPACE/, bad);
  }
  assert.throws(() => parseBackend('rbd:volumes', '--backend', { cephId: 'client.admin x' }), /--ceph-id/);
});
