/**
 * Snapshot policies through the native API, with the scheduler driven by a fake clock
 * (`plane.scheduler.tick(now)`): due times, one catch-up after downtime, retention of the
 * policy's own snapshots only, skipped volumes, quota refusals counted in /metrics, clones
 * keeping a snapshot back, group policies; and retention against its model over random
 * sequences of due times, manual snapshots and deletions.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { databaseKinds } from '../support/databases.js';
import { model } from '../core/retention-model.js';
import { createHarness, type Harness } from './harness.js';

const API = '/api/v1';
const MiB = 1024 * 1024;
const HOUR = 3_600_000;

/** A whole hour some days after now: due times of policies created now, far from the real clock. */
function futureHour(daysAhead: number): number {
  return Math.ceil(Date.now() / HOUR) * HOUR + daysAhead * 24 * HOUR;
}

for (const kind of databaseKinds()) {
  describe(`snapshot policies (${kind})`, () => {
    let h: Harness;
    let token: string;

    before(async () => {
      h = await createHarness(kind);
      ({ token } = await h.tenant('policies'));
    });
    after(async () => h?.close());

    const call = async (method: string, url: string, body?: unknown, as = token) => h.request(method, `${API}${url}`, { token: as, body });
    const ok = async (method: string, url: string, body?: unknown, status = method === 'POST' ? 201 : 200) => {
      const response = await call(method, url, body);
      assert.equal(response.status, status, `${method} ${url}: ${JSON.stringify(response.body)}`);
      return response.body;
    };
    const volume = async (name: string) => (await ok('POST', '/volumes', { name, size_bytes: MiB })).volume.id as string;
    const snapshotsOf = async (volumeId: string) => ((await ok('GET', `/volumes/${volumeId}/snapshots?limit=1000`)).snapshots as Array<{ id: string; name: string; policy_id: string | null; status: string }>);
    /** One scheduler tick at a fake time; the runs it made for this policy (other tests' policies run too). */
    const tick = async (policyId: string, atMs: number) => {
      const runs = await h.plane.scheduler.tick(new Date(atMs));
      await h.plane.jobs.idle();
      return runs.filter((run) => run.policyId === policyId);
    };

    test('create, list, show, update and delete; bad schedules and targets are refused naming the field', async () => {
      const v = await volume('crud');
      const created = await ok('POST', '/policies', { name: 'hourly', cron: '0 * * * *', timezone: 'Europe/Paris', retention: { keep_last: 24, daily: 7 }, volume_ids: [v] });
      const policy = created.policy;
      assert.equal(policy.timezone, 'Europe/Paris');
      assert.deepEqual(policy.retention, { keep_last: 24, daily: 7 });
      assert.deepEqual(policy.volume_ids, [v]);
      assert.equal(new Date(policy.next_due_at).getUTCMinutes(), 0, policy.next_due_at);
      assert.ok(Date.parse(policy.next_due_at) > Date.now());
      assert.equal((await ok('GET', `/policies/${policy.id}`)).policy.name, 'hourly');
      assert.ok((await ok('GET', '/policies')).policies.some((p: { id: string }) => p.id === policy.id));
      const updated = await ok('PATCH', `/policies/${policy.id}`, { cron: '*/30 * * * * *', retention: { keep_last: 1 } });
      assert.equal(updated.policy.cron, '*/30 * * * * *');
      assert.deepEqual(updated.policy.retention, { keep_last: 1 });
      assert.deepEqual((await ok('GET', `/policies/${policy.id}/runs`)).runs, []);

      for (const [body, field, code, status] of [
        [{ name: 'p', cron: '0 * * *', retention: { keep_last: 1 } }, 'cron', 'INVALID_ARGUMENT', 400],
        [{ name: 'p', cron: '0 0 0 * * * *', retention: { keep_last: 1 } }, 'cron', 'INVALID_ARGUMENT', 400],
        [{ name: 'p', cron: '99 * * * *', retention: { keep_last: 1 } }, 'cron', 'INVALID_ARGUMENT', 400],
        [{ name: 'p', cron: '0 * * * *', timezone: 'Mars/Olympus', retention: { keep_last: 1 } }, 'timezone', 'INVALID_ARGUMENT', 400],
        [{ name: 'p', cron: '0 * * * *', retention: {} }, 'retention', 'INVALID_ARGUMENT', 400],
        [{ name: 'p', cron: '0 * * * *', retention: { keep_last: 1 }, volume_ids: [crypto.randomUUID()] }, 'volume_ids', 'NOT_FOUND', 404],
        [{ name: 'p', cron: '0 * * * *', retention: { keep_last: 1 }, volume_ids: [v, v] }, 'volume_ids', 'INVALID_ARGUMENT', 400],
        [{ name: 'p', cron: '0 * * * *', retention: { keep_last: 1 }, group_ids: [crypto.randomUUID()] }, 'group_ids', 'NOT_FOUND', 404],
      ] as const) {
        const refused = await call('POST', '/policies', body);
        assert.equal(refused.status, status, `${JSON.stringify(body)}: ${JSON.stringify(refused.body)}`);
        assert.equal(refused.body.error.code, code, JSON.stringify(refused.body));
        assert.equal(refused.body.error.field, field, JSON.stringify(refused.body));
      }
      const reader = await h.tenant('policies-reader', 'reader');
      assert.equal((await call('POST', '/policies', { name: 'r', cron: '0 * * * *', retention: { keep_last: 1 } }, reader.token)).status, 403);
      assert.equal((await call('GET', `/policies/${policy.id}`, undefined, h.adminToken)).status, 404, "another project's policy is not found");

      assert.equal((await call('PATCH', `/policies/${policy.id}`, { timezone: 'Nowhere/Land' })).body.error.field, 'timezone');
      assert.equal((await call('GET', '/policies?limit=0')).status, 400);
      assert.equal((await call('GET', `/policies/${crypto.randomUUID()}/runs`)).status, 404);
      assert.equal((await call('DELETE', `/policies/${policy.id}`)).status, 204);
      assert.equal((await call('GET', `/policies/${policy.id}`)).status, 404);
      assert.equal((await call('DELETE', `/policies/${policy.id}`)).status, 404);
    });

    test('one run per due time; after downtime one catch-up; retention prunes only the policy snapshots', async () => {
      const v = await volume('hourly');
      const manual = (await ok('POST', `/volumes/${v}/snapshots`, { name: 'by-hand' })).snapshot.id;
      const { policy } = await ok('POST', '/policies', { name: 'every-hour', cron: '0 * * * *', retention: { keep_last: 2 }, volume_ids: [v] });
      const base = futureHour(2);

      const first = await tick(policy.id, base + 5 * 60_000);
      assert.equal(first.length, 1, JSON.stringify(first));
      assert.equal(first[0].dueAt, new Date(base).toISOString());
      assert.deepEqual(await tick(policy.id, base + 6 * 60_000), [], 'the same due time runs once');
      await tick(policy.id, base + HOUR);
      await tick(policy.id, base + HOUR + 30_000);
      const afterTwo = (await snapshotsOf(v)).filter((s) => s.policy_id === policy.id);
      assert.equal(afterTwo.length, 2, JSON.stringify(afterTwo));

      const late = await tick(policy.id, base + 10 * HOUR + 17 * 60_000);
      assert.equal(late.length, 1, 'one catch-up, not a burst');
      assert.equal(late[0].dueAt, new Date(base + 10 * HOUR).toISOString());
      assert.equal(late[0].missedDueTimes, 8);
      assert.equal(late[0].pruned.length, 1, JSON.stringify(late[0]));

      const remaining = await snapshotsOf(v);
      const own = remaining.filter((s) => s.policy_id === policy.id).map((s) => s.name).sort();
      const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').replace('.000Z', 'Z');
      assert.deepEqual(own, [`every-hour-${stamp(base + HOUR)}`, `every-hour-${stamp(base + 10 * HOUR)}`]);
      assert.ok(remaining.some((s) => s.id === manual && s.policy_id === null), 'the manual snapshot stays');

      const runs = (await ok('GET', `/policies/${policy.id}/runs`)).runs;
      assert.deepEqual(
        runs.map((r: { due_at: string }) => r.due_at),
        [base + 10 * HOUR, base + HOUR, base].map((ms) => new Date(ms).toISOString()),
      );
      assert.equal(runs[0].status, 'succeeded');
      assert.equal(runs[0].taken[0].target_id, v);
      assert.equal(runs[0].pruned[0].snapshot_id, first[0].taken[0].snapshotId);
    });

    test('volumes in error or deleting are skipped and the run says so', async () => {
      const good = await volume('good');
      const broken = await volume('broken');
      const going = await volume('going');
      const { policy } = await ok('POST', '/policies', { name: 'skipper', cron: '30 * * * *', retention: { keep_last: 5 }, volume_ids: [good, broken, going] });
      await h.database.db.updateTable('volumes').set({ status: 'error' }).where('id', '=', broken).execute();
      await h.database.db.updateTable('volumes').set({ status: 'deleting' }).where('id', '=', going).execute();
      const [run] = await tick(policy.id, futureHour(3) + 31 * 60_000);
      assert.equal(run.status, 'succeeded');
      assert.deepEqual(run.taken.map((t) => t.targetId), [good]);
      assert.deepEqual(run.skipped, [
        { targetType: 'volume', targetId: broken, reason: 'volume is error' },
        { targetType: 'volume', targetId: going, reason: 'volume is deleting' },
      ]);
    });

    test('a snapshot refused by quota is a failed run, counted in /metrics; a snapshot a clone was made from is kept back', async () => {
      const tenant = await h.tenant('policy-quota');
      const v = (await h.request('POST', `${API}/volumes`, { token: tenant.token, body: { name: 'q', size_bytes: MiB } })).body.volume.id as string;
      const created = await h.request('POST', `${API}/policies`, { token: tenant.token, body: { name: 'quota', cron: '15 * * * *', retention: { keep_last: 1 }, volume_ids: [v] } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const policyId = created.body.policy.id as string;
      const base = futureHour(4) + 15 * 60_000;
      const [taken] = await tick(policyId, base);
      assert.equal(taken.taken.length, 1);
      const clone = await h.request('POST', `${API}/snapshots/${taken.taken[0].snapshotId}/clone`, { token: tenant.token, body: { name: 'from-policy' } });
      assert.equal(clone.status, 201, JSON.stringify(clone.body));

      assert.equal((await h.request('PUT', `${API}/projects/${tenant.projectId}/quotas`, { token: h.adminToken, body: { snapshots: 1 } })).status, 200);
      const [refused] = await tick(policyId, base + HOUR);
      assert.equal(refused.status, 'failed');
      assert.equal(refused.failures[0].code, 'QUOTA_EXCEEDED', JSON.stringify(refused));
      const metrics = (await h.request('GET', '/metrics')).body as string;
      assert.match(metrics, /strata_policy_failures_total\{code="QUOTA_EXCEEDED"\} 1/);
      assert.match(metrics, /strata_policy_runs_total\{status="failed"\} 1/);

      assert.equal((await h.request('PUT', `${API}/projects/${tenant.projectId}/quotas`, { token: h.adminToken, body: { snapshots: 10 } })).status, 200);
      const [next] = await tick(policyId, base + 2 * HOUR);
      assert.equal(next.status, 'succeeded');
      assert.deepEqual(next.pruned, []);
      assert.deepEqual(next.keptBack, [{ targetType: 'volume', targetId: v, snapshotId: taken.taken[0].snapshotId, reason: `volume ${clone.body.volume.id} was cloned from it` }]);
    });

    test('a group gets group snapshots carrying policy_id, pruned as units', async () => {
      const members = [await volume('g1'), await volume('g2')];
      const group = (await ok('POST', '/groups', { name: 'db', volume_ids: members })).group.id;
      const { policy } = await ok('POST', '/policies', { name: 'grouped', cron: '45 * * * *', retention: { keep_last: 1 }, group_ids: [group] });
      const base = futureHour(5) + 45 * 60_000;
      const [one] = await tick(policy.id, base);
      const [two] = await tick(policy.id, base + HOUR);
      assert.equal(two.pruned[0].snapshotId, one.taken[0].snapshotId, JSON.stringify(two));
      const listed = (await ok('GET', `/group-snapshots?group_id=${group}`)).group_snapshots;
      assert.deepEqual(listed.map((g: { id: string }) => g.id), [two.taken[0].snapshotId]);
      assert.equal(listed[0].policy_id, policy.id);
      assert.ok(listed[0].snapshots.every((s: { policy_id: string }) => s.policy_id === policy.id));
    });

    test('retention against its model: random due times, manual snapshots and deletions', async () => {
      const rules = { keep_last: 2, hourly: 3, daily: 2, weekly: 1 };
      const step = fc.oneof(
        fc.record({ type: fc.constant('due' as const), hours: fc.constantFrom(1, 2, 7, 30) }),
        fc.record({ type: fc.constant('manual' as const) }),
        fc.record({ type: fc.constant('delete' as const), pick: fc.nat() }),
      );
      let runNo = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
          const v = await volume(`model-${++runNo}`);
          const { policy } = await ok('POST', '/policies', { name: `m${runNo}`, cron: '0 * * * *', timezone: 'Etc/GMT-5', retention: rules, volume_ids: [v] });
          let clock = futureHour(10);
          let kept: Array<{ id: string; at: string }> = [];
          const manual: string[] = [];
          for (const s of steps) {
            if (s.type === 'due') {
              clock += s.hours * HOUR;
              const [run] = await tick(policy.id, clock);
              kept.push({ id: run.taken[0].snapshotId!, at: new Date(clock).toISOString() });
              const keep = model(kept, rules, 5);
              kept = kept.filter((k) => keep.has(k.id));
            } else if (s.type === 'manual') {
              manual.push((await ok('POST', `/volumes/${v}/snapshots`, { name: 'manual' })).snapshot.id);
            } else if (kept.length > 0) {
              const [gone] = kept.splice(s.pick % kept.length, 1);
              assert.equal((await call('DELETE', `/snapshots/${gone.id}`)).status, 202);
              await h.plane.jobs.idle();
            }
            const present = await snapshotsOf(v);
            assert.deepEqual(present.filter((p) => p.policy_id === policy.id).map((p) => p.id).sort(), kept.map((k) => k.id).sort());
            assert.deepEqual(present.filter((p) => p.policy_id === null).map((p) => p.id).sort(), [...manual].sort());
          }
          await ok('DELETE', `/policies/${policy.id}`, undefined, 204);
        }),
        { numRuns: kind === 'sqlite' ? 12 : 4, seed: 20261203 },
      );
    });

    test('every policy route answered a 2xx and a 4xx, and none a 5xx', async () => {
      const doc = (await h.request('GET', `${API}/openapi.json`)).body as { paths: Record<string, Record<string, { tags?: string[] }>> };
      const routes = Object.entries(doc.paths).flatMap(([path, operations]) =>
        Object.entries(operations)
          .filter(([, operation]) => operation.tags?.includes('policies'))
          .map(([method]) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      );
      assert.equal(routes.length, 6, JSON.stringify(routes));
      const answered = new Map<string, Set<string>>();
      for (const { labels } of (await h.plane.deps.metrics.httpRequests.get()).values) {
        const key = `${String(labels.method)} ${String(labels.route)}`;
        answered.set(key, (answered.get(key) ?? new Set<string>()).add(`${String(labels.status_code)[0]}xx`));
      }
      const missing = routes.filter((route) => !answered.get(route)?.has('2xx') || !answered.get(route)?.has('4xx'));
      assert.deepEqual(missing, [], JSON.stringify(missing.map((r) => [r, [...(answered.get(r) ?? [])]])));
      assert.ok([...answered.values()].every((classes) => !classes.has('5xx')), JSON.stringify([...answered]));
    });
  });
}
