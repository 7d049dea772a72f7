/**
 * Every list has a maximum page and every pattern filter matches in bounded time, in every
 * dialect and the native API: a project with more volumes than `listLimitMax` is listed with
 * "all" (XSKY `limit=-1`, DWS without a limit) and with huge limits, and each answer holds at
 * most `listLimitMax` items (clamped or refused, as the platform's reference says); wildcard
 * queries that were exponential (a 24-character XSKY `q`, ZStack `~=`) over long volume names
 * answer, with the right volumes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { collectPage } from '../../src/api/dialects/cinder/parse.js';
import { gather } from '../../src/api/dialects/dws/lookups.js';
import { listPage, parseList } from '../../src/api/dialects/xsky/lists.js';
import type { Caller } from '../../src/core/context.js';
import type { Page } from '../../src/core/paging.js';
import { limits } from '../../src/lib/limits.js';
import { createHarness, type Harness } from '../api/harness.js';
import { databaseKinds } from '../support/databases.js';

const max = limits.control.listLimitMax;
const rows = max + 5;
/** Two long names: only the second ends with b. */
const longA = 'a'.repeat(limits.control.nameLengthMax);
const longB = `${'a'.repeat(limits.control.nameLengthMax - 1)}b`;

// SQLite only: the bounds are the dialects' and core's, the same SQL on both databases, and
// 1,005 creates on PostgreSQL would add many seconds to the suite.
for (const kind of databaseKinds().filter((k) => k === 'sqlite')) {
  describe(`bounded lists on ${kind}`, () => {
    let h: Harness;
    let token: string;
    let projectId: string;
    const openstack = () => ({ 'x-auth-token': token });
    const get = async (url: string, headers: Record<string, string>, status = 200) => {
      const response = await h.request('GET', url, { headers });
      assert.equal(response.status, status, `GET ${url} → ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`);
      return response.body;
    };

    before(async () => {
      h = await createHarness(kind);
      const tenant = await h.tenant('bounded');
      token = tenant.token;
      projectId = tenant.projectId;
      const admin: Caller = await h.plane.identity.authenticate(h.adminToken);
      await h.plane.quotas.set(admin, projectId, { volumes: rows + 10 });
      const caller: Caller = await h.plane.identity.authenticate(token);
      await h.plane.volumes.create(caller, { name: longA, sizeBytes: 4096 });
      await h.plane.volumes.create(caller, { name: longB, sizeBytes: 4096 });
      for (let i = 2; i < rows; i++) await h.plane.volumes.create(caller, { name: `v-${i}`, sizeBytes: 4096 });
    });
    after(async () => {
      await h?.close();
    });

    test('XSKY: limit=-1 ("all") and huge limits give at most listLimitMax rows', async () => {
      for (const limit of ['-1', '1000000', String(Number.MAX_SAFE_INTEGER)]) {
        const volumes = await get(`/xsky/v1/block-volumes/?limit=${limit}`, { 'xms-auth-token': token });
        assert.equal(volumes.block_volumes.length, max, `limit=${limit}`);
      }
      // offset pages on past the clamp.
      const rest = await get(`/xsky/v1/block-volumes/?limit=-1&offset=${max}`, { 'xms-auth-token': token });
      assert.equal(rest.block_volumes.length, rows - max);
    });

    test('XSKY: a 24-character q over long names answers with the right volumes', async () => {
      const q = 'name:*a*a*a*a*a*a*a*a*a*a*a*b';
      assert.equal(q.length - 'name:'.length, 24);
      const hit = await get(`/xsky/v1/block-volumes/?q=${encodeURIComponent(q)}`, { 'xms-auth-token': token });
      assert.deepEqual(hit.block_volumes.map((v: { name: string }) => v.name), [longB]);
      const both = await get(`/xsky/v1/block-volumes/?q=${encodeURIComponent('name:*A*A*A*A*A*A*A*A*A*A*A*')}&limit=-1`, { 'xms-auth-token': token });
      assert.deepEqual(both.block_volumes.map((v: { name: string }) => v.name).sort(), [longA, longB]);
      const bare = await get(`/xsky/v1/block-volumes/?q=${encodeURIComponent('aaab')}`, { 'xms-auth-token': token });
      assert.deepEqual(bare.block_volumes.map((v: { name: string }) => v.name), [longB]);
      const tooLong = await h.request('GET', `/xsky/v1/block-volumes/?q=name:${'*a'.repeat(128)}`, { headers: { 'xms-auth-token': token } });
      assert.equal(tooLong.status, 400, JSON.stringify(tooLong.body));
    });

    test('ZStack: LIKE with many wildcards over long names answers; limit is clamped to listLimitMax', async () => {
      const zstack = { authorization: `OAuth ${token}` };
      const like = await get(`/zstack/v1/volumes?q=${encodeURIComponent('name~=%a%a%a%a%a%a%a%a%a%a%a_b')}`, zstack);
      assert.deepEqual(like.inventories.map((v: { name: string }) => v.name), [longB]);
      const notLike = await get(`/zstack/v1/volumes?q=${encodeURIComponent('name!~=%a%a%a%a%a%a%a%a%a%a%a%')}&replyWithCount=true&limit=1`, zstack);
      assert.equal(notLike.total, rows - 2);
      const big = await get('/zstack/v1/volumes?limit=1000000&replyWithCount=true', zstack);
      assert.equal(big.inventories.length, max);
      assert.equal(big.total, rows);
      const tooLong = await h.request('GET', `/zstack/v1/volumes?q=${encodeURIComponent(`name~=${'%a'.repeat(128)}`)}`, { headers: zstack });
      assert.equal(tooLong.status, 503, JSON.stringify(tooLong.body));
      assert.equal(tooLong.body.error.code, 'SYS.1007');
    });

    test('Cinder and Manila clamp a huge limit to listLimitMax; EVS refuses it', async () => {
      const cinder = await get(`/cinder/v3/${projectId}/volumes?limit=1000000`, openstack());
      assert.equal(cinder.volumes.length, max);
      const manila = await get(`/manila/v2/${projectId}/shares?limit=1000000`, { ...openstack(), 'x-openstack-manila-api-version': '2.30' });
      assert.equal(manila.shares.length, max);
      await get(`/evs/v2/${projectId}/cloudsnapshots/detail?limit=1001`, openstack(), 400);
    });

    test('native API: a limit above listLimitMax is refused', async () => {
      const refused = await get('/api/v1/volumes?limit=1000000', { authorization: `Bearer ${token}` }, 400);
      assert.equal(refused.error.code, 'OUT_OF_RANGE');
      const page = await get(`/api/v1/volumes?limit=${max}`, { authorization: `Bearer ${token}` });
      assert.equal(page.volumes.length, max);
      assert.notEqual(page.next_page_token, null);
    });

    test('core never returns a page larger than listLimitMax, whatever a caller asks', async () => {
      const caller = await h.plane.identity.authenticate(token);
      const page = await h.plane.volumes.list(caller, { limit: 1_000_000 });
      assert.equal(page.items.length, max);
      const next = await h.plane.volumes.list(caller, { limit: 1_000_000, pageToken: page.nextPageToken! });
      assert.equal(next.items.length, rows - max);
    });
  });
}

describe('DWS lists without a limit ("every row") read at most listLimitMax rows', () => {
  test('gather stops at listLimitMax with and without a limit', async () => {
    const total = 3 * max + 7;
    let asked = 0;
    const list = async (page: { limit: number; offset?: number; pageToken?: string }): Promise<Page<number>> => {
      const start = page.pageToken === undefined ? (page.offset ?? 0) : Number(page.pageToken);
      const items = Array.from({ length: Math.max(0, Math.min(page.limit, total - start)) }, (_, i) => start + i);
      asked += items.length;
      const end = start + items.length;
      return { items, nextPageToken: end < total ? String(end) : null, total };
    };
    for (const limit of [undefined, 5 * max]) {
      asked = 0;
      const result = await gather(list, { limit });
      assert.equal(result.items.length, max, `limit ${limit}`);
      assert.equal(result.total, total);
      assert.ok(asked <= max, `limit ${limit}: read ${asked} rows`);
    }
  });
});

describe('filters evaluated in a dialect read at most listScanRowsMax rows', () => {
  /** An endless collection of rows named r-N, counting the rows it hands out. */
  const endless = () => {
    const source = { read: 0 };
    const fetch = async (options: { limit: number; pageToken?: string }): Promise<Page<{ id: string; name: string }>> => {
      const start = options.pageToken === undefined ? 0 : Number(options.pageToken);
      const items = Array.from({ length: options.limit }, (_, i) => ({ id: `r-${start + i}`, name: `r-${start + i}` }));
      source.read += items.length;
      return { items, nextPageToken: String(start + items.length) };
    };
    return { source, fetch };
  };
  const scanMax = limits.control.listScanRowsMax;

  test('XSKY q that matches nothing is refused after listScanRowsMax rows', async () => {
    const { source, fetch } = endless();
    const plan = parseList({ q: 'name:nothing*' }, { id: 'created_at' }, ['name']);
    await assert.rejects(
      listPage(plan, fetch, async (items) => items),
      (error: Error & { code?: string }) => error.code === 'INVALID_ARGUMENT' && /narrow/.test(error.message),
    );
    assert.ok(source.read <= scanMax, `read ${source.read} rows`);
  });

  test('Cinder filters core cannot evaluate are refused after listScanRowsMax rows', async () => {
    const { source, fetch } = endless();
    await assert.rejects(
      collectPage(fetch, { limit: 10, limitGiven: true, offset: 0 }, { keep: () => false, withCount: false, noun: 'volume' }),
      (error: Error & { code?: string }) => error.code === 'INVALID_ARGUMENT',
    );
    assert.ok(source.read <= scanMax, `read ${source.read} rows`);
  });
});
