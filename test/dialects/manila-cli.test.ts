/**
 * The Manila dialect with the real client, python3-manilaclient 4.1.1 (reference part C),
 * against a listening Strata. That client has no CG commands any more, so:
 * - the `manila` CLI drives share group snapshots (list, create, show, members, delete), after
 *   its own version discovery, and creates a share with the default share type;
 * - cgsnapshots (list, show, members, create, delete) go through the client's own HTTP layer
 *   at 2.30 with the experimental header, as the reference did, including its NotFound.
 * Skips, saying why, when the client is not installed.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { createHarness, type Harness } from '../api/harness.js';
import { backendKinds, rbdSkipReason } from '../support/backends.js';

const run = promisify(execFile);

/** The Python the manila CLI runs with (its shebang), which is the one that has manilaclient. */
function clientPython(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v manila'], { encoding: 'utf8' });
  if (found.status !== 0) return null;
  const shebang = /^#!\s*(\S+)/.exec(readFileSync(found.stdout.trim(), 'utf8').split('\n')[0]);
  return shebang?.[1] ?? null;
}
const python = clientPython();

function skipReason(): string | false {
  if (python === null) return 'the manila CLI (python3-manilaclient) is not installed';
  if (spawnSync(python, ['-c', 'import manilaclient'], { encoding: 'utf8' }).status !== 0) return `${python} cannot import manilaclient`;
  return false;
}

/** Drives cgsnapshots through manilaclient's HTTP layer; prints one JSON object. */
const cgScript = `
import json, sys
from manilaclient import api_versions, client, exceptions
url, token, cg = sys.argv[1:4]
c = client.Client(api_versions.APIVersion('2.30'), input_auth_token=token, service_catalog_url=url)
h = {'X-OpenStack-Manila-API-Experimental': 'True'}
out = {}
resp, body = c.client.post('/cgsnapshots', body={'cgsnapshot': {'consistency_group_id': cg, 'name': 'from-client', 'description': 'made by manilaclient'}}, headers=h)
out['create'] = [resp.status_code, body, resp.headers.get('X-OpenStack-Manila-API-Version')]
sid = body['cgsnapshot']['id']
resp, body = c.client.get('/cgsnapshots/detail?limit=10&offset=0', headers=h)
out['list'] = [resp.status_code, body]
resp, body = c.client.get('/cgsnapshots/%s' % sid, headers=h)
out['show'] = [resp.status_code, body]
resp, body = c.client.get('/cgsnapshots/%s/members' % sid, headers=h)
out['members'] = [resp.status_code, body]
resp, body = c.client.delete('/cgsnapshots/%s' % sid, headers=h)
out['delete'] = [resp.status_code]
try:
    c.client.get('/cgsnapshots/00000000-0000-4000-8000-000000000000', headers=h)
    out['missing'] = 'no error'
except exceptions.NotFound as e:
    out['missing'] = [e.http_status, str(e)]
print(json.dumps(out))
`;

for (const backend of backendKinds()) {
  describe(`manila with python3-manilaclient on ${backend}`, { skip: skipReason() }, () => {
    let h: Harness;
    let url: string;
    let projectId: string;
    let token: string;
    let shareGroupId: string;

    before(async () => {
      h = await createHarness('sqlite', { backend });
      ({ projectId, token } = await h.tenant('manila-cli', 'member'));
      await h.app.listen({ host: '127.0.0.1', port: 0 });
      url = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}/manila/v2/${projectId}`;
      const headers = { 'x-auth-token': token, 'X-OpenStack-Manila-API-Version': '2.55' };
      const group = await h.request('POST', `/manila/v2/${projectId}/share-groups`, { headers, body: { share_group: { name: 'sg1' } } });
      assert.equal(group.status, 202, JSON.stringify(group.body));
      shareGroupId = group.body.share_group.id;
      const share = await h.request('POST', `/manila/v2/${projectId}/shares`, { headers, body: { share: { share_proto: 'NFS', size: 1, name: 's1', share_group_id: shareGroupId } } });
      assert.equal(share.status, 200, JSON.stringify(share.body));
    });
    after(async () => {
      await h?.close();
    });

    const manila = async (...args: string[]) => (await run('manila', ['--os-token', token, '--bypass-url', url, ...args], { encoding: 'utf8' })).stdout;

    test('share-group-snapshot create, list, show, list-members, delete with the manila CLI', async () => {
      const created = await manila('share-group-snapshot-create', shareGroupId, '--name', 'cli-snap', '--description', 'from the CLI');
      assert.match(created, /\| name\s+\| cli-snap\s+\|/);
      assert.match(created, new RegExp(`\\| share_group_id\\s+\\| ${shareGroupId}`));
      assert.match(await manila('share-group-snapshot-list'), /cli-snap\s+\| available/);
      assert.match(await manila('share-group-snapshot-show', 'cli-snap'), /\| status\s+\| available/);
      assert.match(await manila('share-group-snapshot-list-members', 'cli-snap'), /\|\s+1\s+\|/);
      await manila('share-group-snapshot-delete', 'cli-snap');
      await h.plane.jobs.idle();
      assert.doesNotMatch(await manila('share-group-snapshot-list'), /cli-snap/);
    });

    test('create and list a share with the manila CLI (default share type)', async () => {
      assert.match(await manila('create', 'NFS', '2', '--name', 'cli-share'), /\| size\s+\| 2\s+\|/);
      assert.match(await manila('list'), /cli-share\s+\| 2\s+\| NFS\s+\| available/);
    });

    test('cgsnapshots list, show, members, create, delete through manilaclient at 2.30 (experimental)', async () => {
      const { stdout } = await run(python!, ['-c', cgScript, url, token, shareGroupId], { encoding: 'utf8' });
      const out = JSON.parse(stdout);
      assert.equal(out.create[0], 202);
      assert.equal(out.create[1].cgsnapshot.consistency_group_id, shareGroupId);
      assert.equal(out.create[2], '2.30');
      assert.equal(out.list[0], 200);
      assert.ok(out.list[1].cgsnapshots.some((s: { name: string }) => s.name === 'from-client'));
      assert.equal(out.show[1].cgsnapshot.description, 'made by manilaclient');
      assert.equal(out.members[1].cgsnapshot_members.length, 1);
      assert.equal(out.members[1].cgsnapshot_members[0].size, 1);
      assert.equal(out.delete[0], 202);
      assert.equal(out.missing[0], 404);
      assert.match(out.missing[1], /not found/);
    });
  });
}
if (rbdSkipReason() !== null) describe('manila with python3-manilaclient on rbd', { skip: rbdSkipReason()! }, () => {});
