/**
 * Export names are capabilities: a reader never receives the export name of a read-write
 * attachment (with it the reader could write to the volume over NBD). Readers do see that the
 * attachment exists, and see read-only attachments' URIs; members and admins see every URI of
 * their project. The native attachment routes are checked field by field, then every GET route
 * of the native API and of all six dialects is swept with the reader's token (each platform's
 * way of sending it) and no answer may contain the read-write export name.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHarness, type Harness } from './harness.js';
import { expectError, expectOk, MiB, password, show } from './native-assertions.js';

describe('attachments by role', () => {
  let h: Harness;
  let member: string;
  let reader: string;
  let projectId: string;
  let volumeId: string;
  let snapshotId: string;
  let rw: { id: string; uri: string };
  let ro: { id: string; uri: string };
  let exportName: string;

  before(async () => {
    h = await createHarness('sqlite');
    const tenant = await h.tenant('roles', 'member');
    member = tenant.token;
    projectId = tenant.projectId;
    const user = await h.request('POST', '/api/v1/users', { token: h.adminToken, body: { name: 'roles-reader', password, project_id: projectId, role: 'reader' } });
    assert.equal(user.status, 201, show(user));
    reader = await h.login('roles-reader', password);
    volumeId = expectOk(await h.request('POST', '/api/v1/volumes', { token: member, body: { name: 'data', size_bytes: 4 * MiB } }), 201).volume.id;
    snapshotId = expectOk(await h.request('POST', `/api/v1/volumes/${volumeId}/snapshots`, { token: member, body: { name: 'snap' } }), 201).snapshot.id;
    rw = expectOk(await h.request('POST', `/api/v1/volumes/${volumeId}/attachments`, { token: member, body: { mode: 'rw' } }), 201).attachment;
    ro = expectOk(await h.request('POST', `/api/v1/snapshots/${snapshotId}/attachments`, { token: member }), 201).attachment;
    exportName = new URL(rw.uri).pathname.slice(1);
    assert.ok(exportName.length >= 16, rw.uri);
  });
  after(async () => {
    await h.close();
  });

  test('native routes: the reader gets uri null for a read-write attachment, the URI of a read-only one', async () => {
    const list = expectOk(await h.request('GET', '/api/v1/attachments', { token: reader }), 200).attachments;
    const byId = new Map(list.map((a: any) => [a.id, a]));
    assert.equal((byId.get(rw.id) as any)?.uri, null, JSON.stringify(list));
    assert.equal((byId.get(rw.id) as any)?.mode, 'rw');
    assert.equal((byId.get(ro.id) as any)?.uri, ro.uri);
    assert.equal(expectOk(await h.request('GET', `/api/v1/attachments/${rw.id}`, { token: reader }), 200).attachment.uri, null);
    assert.equal(expectOk(await h.request('GET', `/api/v1/attachments/${ro.id}`, { token: reader }), 200).attachment.uri, ro.uri);
    const ofVolume = expectOk(await h.request('GET', `/api/v1/volumes/${volumeId}/attachments`, { token: reader }), 200).attachments;
    assert.deepEqual(ofVolume.map((a: any) => a.uri), [null]);
    // Members (and admins of the project) see it.
    assert.equal(expectOk(await h.request('GET', `/api/v1/attachments/${rw.id}`, { token: member }), 200).attachment.uri, rw.uri);
    assert.equal(expectOk(await h.request('GET', `/api/v1/volumes/${volumeId}/attachments`, { token: member }), 200).attachments[0].uri, rw.uri);
    // And the reader cannot make an attachment of their own.
    expectError(await h.request('POST', `/api/v1/volumes/${volumeId}/attachments`, { token: reader, body: { mode: 'ro' } }), 403, 'FORBIDDEN');
  });

  test('no GET route of the native API or any dialect gives the reader the read-write export name', async () => {
    const problems: string[] = [];
    let answered = 0;
    const fill = (url: string) =>
      url
        .replace(/:(project_id|tenant_id)\b/g, projectId)
        .replace(/:([A-Za-z_]*snapshot[A-Za-z_]*)\b/g, snapshotId)
        .replace(/:([A-Za-z_]*attachment[A-Za-z_]*)\b/g, rw.id)
        .replace(/:[A-Za-z_]+/g, volumeId)
        .replace(/\*$/, '');
    const routes = h.app.strataRoutes.filter((r) => r.method === 'GET');
    assert.ok(routes.length > 60, `the sweep sees the GET routes (${routes.length})`);
    const headerSets = [
      { authorization: `Bearer ${reader}`, 'x-auth-token': reader, 'xms-auth-token': reader },
      { authorization: `OAuth ${reader}` },
    ];
    for (const { url } of routes) {
      const path = fill(url);
      for (const headers of headerSets) {
        const response = await h.app.inject({ method: 'GET', url: path, headers });
        if (response.statusCode < 300) answered++;
        if (response.body.includes(exportName) || JSON.stringify(response.headers).includes(exportName)) problems.push(`GET ${path} (${url}) with ${Object.keys(headers).join(', ')}: ${response.statusCode} ${response.body.slice(0, 200)}`);
      }
    }
    assert.ok(answered > 40, `the reader's token was accepted on many routes (${answered})`);
    assert.deepEqual(problems, [], problems.join('\n'));
    // The member's view of the same sweep's main route does hold it (the sweep can see it when it is there).
    const memberList = await h.app.inject({ method: 'GET', url: '/api/v1/attachments', headers: { authorization: `Bearer ${member}` } });
    assert.ok(memberList.body.includes(exportName));
  });
});
