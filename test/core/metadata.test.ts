/** Key-level metadata changes are atomic: concurrent changes to different keys all survive. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHarness, type Harness } from '../api/harness.js';
import { databaseKinds } from '../support/databases.js';

for (const kind of databaseKinds()) {
  describe(`metadata changes on ${kind}`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness(kind);
    });
    after(async () => {
      await h.close();
    });

    test('twenty concurrent one-key changes to a snapshot and a volume all land', async () => {
      const caller = await h.plane.identity.authenticate(h.adminToken);
      const volume = await h.plane.volumes.create(caller, { name: 'm', sizeBytes: 1 << 20 });
      const snapshot = await h.plane.snapshots.create(caller, volume.id, { name: 's' });
      const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
      await Promise.all(keys.map((key) => h.plane.snapshots.modifyMetadata(caller, snapshot.id, (current) => ({ ...current, [key]: key }))));
      await Promise.all(keys.map((key) => h.plane.volumes.modifyMetadata(caller, volume.id, (current) => ({ ...current, [key]: key }))));
      assert.deepEqual(Object.keys((await h.plane.snapshots.get(caller, snapshot.id)).metadata).sort(), [...keys].sort());
      assert.deepEqual(Object.keys((await h.plane.volumes.get(caller, volume.id)).metadata).sort(), [...keys].sort());
    });

    test('lists filter by metadata pairs and by ids in the database, whatever the keys hold', async () => {
      const caller = await h.plane.identity.authenticate(h.adminToken);
      const odd = 'a "quoted".key\\with $.path';
      const volume = await h.plane.volumes.create(caller, { name: 'f', sizeBytes: 1 << 20, metadata: { tier: 'gold', [odd]: 'x' } });
      const other = await h.plane.volumes.create(caller, { name: 'f2', sizeBytes: 1 << 20, metadata: { tier: 'silver' } });
      const ids = (page: { items: Array<{ id: string }> }) => page.items.map((v) => v.id).sort();
      assert.deepEqual(ids(await h.plane.volumes.list(caller, { metadata: { tier: 'gold' } })), [volume.id]);
      assert.deepEqual(ids(await h.plane.volumes.list(caller, { metadata: { [odd]: 'x' } })), [volume.id]);
      assert.deepEqual(ids(await h.plane.volumes.list(caller, { metadata: { tier: 'gold', [odd]: 'y' } })), []);
      assert.deepEqual(ids(await h.plane.volumes.list(caller, { ids: [other.id, crypto.randomUUID()] })), [other.id]);
      assert.deepEqual(ids(await h.plane.volumes.list(caller, { ids: [] })), []);
      const snapshot = await h.plane.snapshots.create(caller, volume.id, { name: 'fs', metadata: { k: 'v' } });
      await h.plane.snapshots.create(caller, other.id, { name: 'fs2', metadata: { k: 'w' } });
      assert.deepEqual(ids(await h.plane.snapshots.list(caller, { metadata: { k: 'v' } })), [snapshot.id]);
      assert.deepEqual(ids(await h.plane.snapshots.list(caller, { ids: [snapshot.id] })), [snapshot.id]);
    });

    test('a refused change writes nothing, and another project cannot change it', async () => {
      const caller = await h.plane.identity.authenticate(h.adminToken);
      const volume = await h.plane.volumes.create(caller, { name: 'r', sizeBytes: 1 << 20, metadata: { a: '1' } });
      await assert.rejects(
        h.plane.volumes.modifyMetadata(caller, volume.id, () => {
          throw new Error('refused');
        }),
        /refused/,
      );
      const other = await h.tenant('metadata-other');
      const stranger = await h.plane.identity.authenticate(other.token);
      await assert.rejects(h.plane.volumes.modifyMetadata(stranger, volume.id, () => ({})), (error: { code?: string }) => error.code === 'NOT_FOUND');
      assert.deepEqual((await h.plane.volumes.get(caller, volume.id)).metadata, { a: '1' });
    });
  });
}
