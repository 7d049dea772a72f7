/** Cinder's user_id (volumes; snapshots from 3.41) is the Strata user who created the resource. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHarness, type Harness } from '../api/harness.js';

describe('cinder user_id', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness('sqlite');
  });
  after(async () => {
    await h.close();
  });

  test('volumes and snapshots name their creator', async () => {
    const tenant = await h.tenant('creator');
    const headers = { 'x-auth-token': tenant.token, 'openstack-api-version': 'volume 3.41' };
    const volume = await h.request('POST', `/cinder/v3/${tenant.projectId}/volumes`, { headers, body: { volume: { size: 1, name: 'v' } } });
    assert.ok(volume.status < 300, JSON.stringify(volume.body));
    const shown = await h.request('GET', `/cinder/v3/${tenant.projectId}/volumes/${volume.body.volume.id}`, { headers });
    assert.equal(shown.body.volume.user_id, tenant.userId, JSON.stringify(shown.body));
    const snapshot = await h.request('POST', `/cinder/v3/${tenant.projectId}/snapshots`, { headers, body: { snapshot: { volume_id: volume.body.volume.id, name: 's' } } });
    assert.ok(snapshot.status < 300, JSON.stringify(snapshot.body));
    assert.equal(snapshot.body.snapshot.user_id, tenant.userId, JSON.stringify(snapshot.body));
    const old = await h.request('GET', `/cinder/v3/${tenant.projectId}/snapshots/${snapshot.body.snapshot.id}`, { headers: { ...headers, 'openstack-api-version': 'volume 3.40' } });
    assert.ok(!('user_id' in old.body.snapshot), 'before 3.41 a snapshot has no user_id');
  });
});
