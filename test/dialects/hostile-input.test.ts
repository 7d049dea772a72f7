/**
 * Two classes of hostile input every dialect must withstand:
 *
 * - A Host header of the client's choosing is never reflected into returned links (Cinder and
 *   Manila version documents and resource links, Cinder and EVS paging links, ZStack's job
 *   location): links start with `--public-url` (buildApp's `publicUrl`), else the address the
 *   app listens on, else the default listen address.
 * - Names of Object.prototype's members (`constructor`, `__proto__`, `prototype`, and through
 *   own-key lookups `toString`, `valueOf`, …) as sort keys, filter values, metadata keys, action
 *   names or body keys get the platform's own 400 (ZStack: its REST-layer 400), never a 500.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fallbackPublicUrl } from '../../src/api/app.js';
import { parsePublicUrl } from '../../src/server.js';
import { createHarness, type Harness, type Response } from '../api/harness.js';

const MiB = 1024 * 1024;
const attacker = 'attacker.example';
const hex = (uuid: string) => uuid.replace(/-/g, '');

interface World {
  h: Harness;
  token: string;
  projectId: string;
  volumeId: string;
  groupId: string;
}

async function world(options: { publicUrl?: string } = {}): Promise<World> {
  const h = await createHarness('sqlite', options);
  const token = h.adminToken;
  const post = async (url: string, body: unknown) => (await h.request('POST', `/api/v1${url}`, { token, body })).body;
  const projectId = (await h.request('GET', '/api/v1/auth/tokens/current', { token })).body.project.id as string;
  const volume = (await post('/volumes', { name: 'v1', size_bytes: MiB })).volume;
  await post('/volumes', { name: 'v2', size_bytes: MiB });
  await post(`/volumes/${volume.id}/snapshots`, { name: 's1' });
  await post(`/volumes/${volume.id}/snapshots`, { name: 's2' });
  const group = (await post('/groups', { name: 'g1' })).group;
  return { h, token, projectId, volumeId: volume.id, groupId: group.id };
}

/** Every link-bearing answer, each requested with a hostile Host header; returns the hrefs found. */
async function linksOf(w: World): Promise<Array<{ what: string; href: string; raw: string }>> {
  const { h, token, projectId, volumeId } = w;
  const hostile = { host: attacker, 'x-forwarded-host': attacker };
  const os = { ...hostile, 'x-auth-token': token };
  const found: Array<{ what: string; href: string; raw: string }> = [];
  const get = async (what: string, url: string, headers: Record<string, string>, pick: (r: Response) => unknown) => {
    const r = await h.request('GET', url, { headers });
    assert.ok(r.status < 400, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
    found.push({ what, href: String(pick(r)), raw: JSON.stringify(r.body) });
  };
  await get('Cinder version document', '/cinder/', hostile, (r) => r.body.versions[0].links.find((l: { rel: string }) => l.rel === 'self').href);
  await get('Cinder volume links', `/cinder/v3/${projectId}/volumes/${volumeId}`, os, (r) => r.body.volume.links[0].href);
  await get('Cinder next page', `/cinder/v3/${projectId}/volumes?limit=1`, os, (r) => r.body.volumes_links?.[0]?.href);
  await get('EVS next page', `/evs/v2/${projectId}/cloudsnapshots/detail?limit=1`, os, (r) => r.body.snapshots_links?.[0]?.href);
  await get('Manila version document', '/manila/', hostile, (r) => r.body.versions[0].links.find((l: { rel: string }) => l.rel === 'self').href);
  const manila = { ...os, 'x-openstack-manila-api-version': '2.55' };
  await get('Manila share group links', `/manila/v2/${projectId}/share-groups/${w.groupId}`, manila, (r) => r.body.share_group.links[0].href);
  const created = await h.request('POST', `/zstack/v1/volumes/${hex(volumeId)}/volume-snapshots`, {
    headers: { ...hostile, authorization: `OAuth ${token}`, 'content-type': 'application/json' },
    body: { params: { name: 'z1' } },
  });
  assert.equal(created.status, 202, JSON.stringify(created.body));
  found.push({ what: 'ZStack job location', href: String(created.body.location), raw: `${JSON.stringify(created.body)} ${String(created.headers.location)}` });
  return found;
}

function expectLinksUnder(links: Array<{ what: string; href: string; raw: string }>, base: string): void {
  const problems = links.flatMap(({ what, href, raw }) => [
    ...(href.startsWith(`${base}/`) ? [] : [`${what}: ${href} does not start with ${base}/`]),
    ...(raw.includes(attacker) ? [`${what}: the Host header is reflected: ${raw.slice(0, 300)}`] : []),
  ]);
  assert.deepEqual(problems, [], problems.join('\n'));
}

describe('returned links never reflect the Host header', () => {
  test('without --public-url: the default listen address, then the address the app listens on', async () => {
    const w = await world();
    try {
      expectLinksUnder(await linksOf(w), fallbackPublicUrl);
      await w.h.app.listen({ host: '127.0.0.1', port: 0 });
      const port = (w.h.app.server.address() as AddressInfo).port;
      expectLinksUnder(await linksOf(w), `http://127.0.0.1:${port}`);
    } finally {
      await w.h.close();
    }
  });

  test('with --public-url: links start with it, path included', async () => {
    const w = await world({ publicUrl: 'https://storage.example:8443/strata' });
    try {
      expectLinksUnder(await linksOf(w), 'https://storage.example:8443/strata');
    } finally {
      await w.h.close();
    }
  });

  test('--public-url must be an absolute http(s) URL without credentials, query or fragment', () => {
    assert.equal(parsePublicUrl('https://storage.example/strata/', '--public-url'), 'https://storage.example/strata');
    assert.equal(parsePublicUrl('http://[::1]:8080', '--public-url'), 'http://[::1]:8080');
    for (const bad of ['storage.example', 'ftp://storage.example', 'http://user:secret@storage.example', 'http://storage.example/?a=1', 'http://storage.example/#top', '']) {
      assert.throws(() => parsePublicUrl(bad, '--public-url'), /--public-url must be/, bad);
    }
  });
});

describe('names of Object.prototype members are refused with the platform fault', () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(async () => {
    await w.h.close();
  });

  const os = () => ({ 'x-auth-token': w.token });
  const manila = () => ({ ...os(), 'x-openstack-manila-api-version': '2.55' });
  const json = { 'content-type': 'application/json' };
  const openStackFault = (status: number) => (r: Response) => r.status === status && typeof Object.values(r.body ?? {})[0] === 'object' && (Object.values(r.body)[0] as { code?: number }).code === status;
  const dwsFault = (code: string) => (r: Response) => r.status === 400 && r.body?.error_code === code;
  const xskyFault = (r: Response) => r.status === 400 && r.body?.code === 'InvalidParameter';
  const zstackRest = (r: Response) => r.status === 400 && typeof r.body === 'string' && r.body.length > 0;
  const nativeFault = (r: Response) => r.status === 400 && r.body?.error?.code === 'INVALID_ARGUMENT';

  const cases: Array<{ name: string; send: () => Promise<Response>; ok: (r: Response) => boolean }> = [
    ...['constructor', 'toString', '__proto__'].map((key) => ({
      name: `DWS cluster snapshots sort_key=${key}`,
      send: () => w.h.request('GET', `/dws/v1.0/${w.projectId}/clusters/${w.groupId}/snapshots?sort_key=${key}`, { headers: os() }),
      ok: dwsFault('DWS.0001'),
    })),
    {
      name: 'DWS body with a top-level key named constructor',
      send: () => w.h.request('POST', `/dws/v1.0/${w.projectId}/snapshots`, { headers: { ...os(), ...json }, body: '{"constructor": 1, "snapshot": {"name": "snap-one", "cluster_id": "x"}}' }),
      ok: dwsFault('DWS.0001'),
    },
    ...['constructor', 'valueOf'].map((key) => ({
      name: `Manila shares sort_key=${key}`,
      send: () => w.h.request('GET', `/manila/v2/${w.projectId}/shares?sort_key=${key}`, { headers: manila() }),
      ok: openStackFault(400),
    })),
    {
      name: 'Manila share group snapshots sort_key=hasOwnProperty',
      send: () => w.h.request('GET', `/manila/v2/${w.projectId}/share-group-snapshots?sort_key=hasOwnProperty`, { headers: manila() }),
      ok: openStackFault(400),
    },
    {
      name: 'Manila shares status=constructor matches nothing',
      send: () => w.h.request('GET', `/manila/v2/${w.projectId}/shares?status=constructor`, { headers: manila() }),
      ok: (r) => r.status === 200 && Array.isArray(r.body.shares) && r.body.shares.length === 0,
    },
    ...['constructor', 'toString'].map((key) => ({
      name: `Manila share group action named ${key}`,
      send: () => w.h.request('POST', `/manila/v2/${w.projectId}/share-groups/${w.groupId}/action`, { headers: { ...manila(), ...json }, body: `{"${key}": {}}` }),
      ok: openStackFault(400),
    })),
    {
      name: 'Manila share metadata key constructor',
      send: () =>
        w.h.request('POST', `/manila/v2/${w.projectId}/shares`, { headers: manila(), body: { share: { size: 1, share_proto: 'NFS', metadata: { constructor: 'x' } } } }),
      ok: openStackFault(400),
    },
    ...['constructor', 'toString', '-constructor'].map((sort) => ({
      name: `XSKY block volumes sort=${sort}`,
      send: () => w.h.request('GET', `/xsky/v1/block-volumes/?sort=${sort}`, { headers: { 'xms-auth-token': w.token } }),
      ok: xskyFault,
    })),
    {
      name: 'Cinder volume metadata key constructor',
      send: () => w.h.request('POST', `/cinder/v3/${w.projectId}/volumes/${w.volumeId}/metadata`, { headers: os(), body: { metadata: { constructor: 'x' } } }),
      ok: openStackFault(400),
    },
    {
      name: 'Cinder metadata key prototype in the path',
      send: () => w.h.request('PUT', `/cinder/v3/${w.projectId}/volumes/${w.volumeId}/metadata/prototype`, { headers: os(), body: { meta: { prototype: 'x' } } }),
      ok: openStackFault(400),
    },
    {
      name: "Cinder metadata filter {'constructor': 'x'}",
      send: () => w.h.request('GET', `/cinder/v3/${w.projectId}/volumes?metadata=${encodeURIComponent("{'constructor': 'x'}")}`, { headers: os() }),
      ok: openStackFault(400),
    },
    {
      name: "Cinder metadata filter {'__proto__': 'x'}",
      send: () => w.h.request('GET', `/cinder/v3/${w.projectId}/volumes?metadata=${encodeURIComponent("{'__proto__': 'x'}")}`, { headers: os() }),
      ok: openStackFault(400),
    },
    {
      name: 'Cinder query parameter named constructor',
      send: () => w.h.request('GET', `/cinder/v3/${w.projectId}/volumes?constructor=1`, { headers: os() }),
      ok: openStackFault(400),
    },
    {
      name: 'EVS cloudsnapshot metadata key constructor',
      send: () => w.h.request('POST', `/evs/v2/${w.projectId}/cloudsnapshots`, { headers: os(), body: { snapshot: { volume_id: w.volumeId, metadata: { constructor: 'x' } } } }),
      ok: (r) => r.status === 400 && typeof r.body?.error?.message === 'string',
    },
    {
      name: 'ZStack query sort=constructor',
      send: () => w.h.request('GET', '/zstack/v1/volume-snapshots?sort=constructor', { headers: { authorization: `OAuth ${w.token}` } }),
      ok: zstackRest,
    },
    {
      name: 'ZStack create with a params key named constructor',
      send: () =>
        w.h.request('POST', `/zstack/v1/volumes/${hex(w.volumeId)}/volume-snapshots`, { headers: { authorization: `OAuth ${w.token}`, ...json }, body: '{"params": {"name": "z", "constructor": "x"}}' }),
      ok: zstackRest,
    },
    {
      name: 'native API volume metadata key constructor',
      send: () => w.h.request('POST', '/api/v1/volumes', { token: w.token, body: { name: 'n', size_bytes: MiB, metadata: { constructor: 'x' } } }),
      ok: (r) => nativeFault(r) && r.body.error.field === 'metadata.constructor',
    },
  ];

  for (const entry of cases) {
    test(entry.name, async () => {
      const before = await w.h.plane.volumes.list(await w.h.plane.identity.authenticate(w.token), { limit: 1000 });
      const r = await entry.send();
      assert.ok(entry.ok(r), `${entry.name}: ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
      const after = await w.h.plane.volumes.list(await w.h.plane.identity.authenticate(w.token), { limit: 1000 });
      assert.equal(after.items.length, before.items.length, 'a volume was created');
    });
  }
});
