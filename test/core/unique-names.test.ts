/** Case-insensitive unique group snapshot names hold under concurrent creates (DWS's rule). */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHarness, type Harness } from '../api/harness.js';
import { databaseKinds } from '../support/databases.js';

for (const kind of databaseKinds()) {
  describe(`unique snapshot names on ${kind}`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness(kind);
    });
    after(async () => {
      await h.close();
    });

    test('of five concurrent creates whose names differ only in case, exactly one wins', async () => {
      const caller = await h.plane.identity.authenticate(h.adminToken);
      const volume = await h.plane.volumes.create(caller, { name: 'u', sizeBytes: 1 << 20 });
      const group = await h.plane.groups.create(caller, { name: 'g', volumeIds: [volume.id] });
      const names = ['snap-a', 'SNAP-A', 'Snap-A', 'snap-A', 'SNAP-a'];
      const results = await Promise.allSettled(names.map((name) => h.plane.groups.createSnapshot(caller, group.id, { name, uniqueNameInsensitive: true })));
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(won.length, 1, JSON.stringify(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))));
      for (const loss of lost) assert.equal((loss.reason as { code?: string }).code, 'ALREADY_EXISTS');
      const listed = await h.plane.groups.listSnapshots(caller, { nameInsensitive: 'snap-a' });
      assert.equal(listed.items.length, 1);
      const snapshots = await h.plane.snapshots.list(caller, { volumeId: volume.id });
      assert.equal(snapshots.items.length, 1, 'the losers created no member snapshots');
    });
  });
}
