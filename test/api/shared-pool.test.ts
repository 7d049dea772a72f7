/**
 * Several live instances serving ONE pool over one PostgreSQL (ARCHITECTURE.md, "Several
 * instances of one pool", C9–C11): job leases, takeover of a dead instance's jobs, start-up
 * reconciliation that leaves a live instance's work alone, and attachments served by every
 * instance. The instances are control planes in this process over one engine (standing in for
 * a cluster backend every instance reaches) with the same pool id; an instance "dies" by
 * stopping its timers while one of its jobs is stuck, as a killed or paused process would.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { JobContext, JobKind, JobRunner } from '../../src/core/jobs.js';
import { ControlPlane, type PlaneTiming } from '../../src/core/plane.js';
import { StrataError } from '../../src/lib/errors.js';
import { ExportTable, NbdServer } from '../../src/nbd/index.js';
import { installed } from '../nbd/tools.js';
import { createTestDatabase, postgresSkipReason, type TestDatabase } from '../support/databases.js';
import { createHarness, type Harness } from './harness.js';

const MiB = 1024 * 1024;
/** Short leases so takeovers happen within a test; the defaults are limits.ts's. */
const timing: Partial<PlaneTiming> = { jobLeaseMs: 600, jobLeaseRenewIntervalMs: 150, attachmentSyncIntervalMs: 100 };

/** Polls `check` until it returns true; fails naming `what` after `timeoutMs`. */
async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise and its resolve, to hold a runner until the test lets it go. */
function gate(): { open: () => void; opened: Promise<void> } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** Counts the runs of each job across instances, and how many ran at once. */
class RunLog {
  runs = new Map<string, string[]>();
  active = 0;
  activeMax = 0;
  /** Wraps `inner` so that each run is recorded under `instance`. */
  wrap(instance: string, inner: JobRunner, hold?: Promise<void>): JobRunner {
    return {
      run: async (context: JobContext) => {
        this.runs.set(context.job.id, [...(this.runs.get(context.job.id) ?? []), instance]);
        this.activeMax = Math.max(this.activeMax, ++this.active);
        try {
          if (hold !== undefined) await hold;
          await inner.run(context);
        } finally {
          this.active--;
        }
      },
      failed: (context, error) => inner.failed(context, error),
    };
  }
}

/** The runners each plane was built with, before a test wrapped them. */
const originalRunners = new WeakMap<ControlPlane, Map<JobKind, JobRunner>>();

function runnerOf(plane: ControlPlane, kind: JobKind): JobRunner {
  let runners = originalRunners.get(plane);
  if (runners === undefined) {
    runners = new Map((plane.jobs as unknown as { runners: Map<JobKind, JobRunner> }).runners);
    originalRunners.set(plane, runners);
  }
  const runner = runners.get(kind);
  assert.ok(runner !== undefined, kind);
  return runner;
}

function run(tool: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(tool, args, { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

describe('several instances of one pool over one PostgreSQL', { skip: postgresSkipReason() ?? false }, () => {
  let database: TestDatabase;
  const open: Harness[] = [];
  /** Three live instances of one pool, for the tests that kill none of them. */
  let live: Harness[];
  before(async () => {
    database = await createTestDatabase('postgres');
    live = await instances(2);
    for (const h of live) runnerOf(h.plane, 'flatten-volume');
  });
  after(async () => {
    // Second instances first: the first one's close closes the engine they share.
    for (const h of open.reverse()) await h.close();
    await database?.drop();
  });

  /** A first instance with its own engine, and `n` more serving the same pool. */
  async function instances(n: number): Promise<Harness[]> {
    const first = await createHarness('postgres', { sharedDatabase: database, poolAccess: 'shared', timing });
    open.push(first);
    const all = [first];
    for (let i = 0; i < n; i++) {
      const next = await createHarness('postgres', { sharedDatabase: database, sharedPool: { engine: first.engine, poolId: first.plane.deps.poolId }, timing });
      open.push(next);
      all.push(next);
    }
    return all;
  }

  async function jobRow(h: Harness, id: string) {
    return h.database.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  test('a job whose instance dies is taken over by another instance and finishes; the dead one cannot overwrite the result', async () => {
    const [a, b] = await instances(1);
    const created = await a.request('POST', '/api/v1/volumes', { token: a.adminToken, body: { name: 'taken-over', size_bytes: 4 * MiB } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const volumeId = created.body.volume.id as string;
    const engineId = Number((await a.database.db.selectFrom('volumes').select('engine_id').where('id', '=', volumeId).executeTakeFirstOrThrow()).engine_id);
    // A starts the delete, then hangs inside it and stops renewing: a paused or killed process.
    const held = gate();
    const started = gate();
    a.plane.jobs.register('delete-volume', {
      run: async () => {
        started.open();
        await held.opened;
        throw new StrataError('IO_ERROR', 'the paused instance wakes up and fails');
      },
      failed: (context) => a.plane.volumes.deleteFailed(context),
    });
    const deleted = await a.request('DELETE', `/api/v1/volumes/${volumeId}`, { token: a.adminToken });
    assert.equal(deleted.status, 202, JSON.stringify(deleted.body));
    const jobId = deleted.body.job.id as string;
    await started.opened;
    assert.equal((await jobRow(a, jobId)).lease_owner, a.plane.instanceId);
    await a.plane.stop();

    await until(`job ${jobId} finished by B`, async () => (await jobRow(b, jobId)).status === 'succeeded');
    const finished = await jobRow(b, jobId);
    assert.equal(finished.lease_owner, b.plane.instanceId, 'B holds the job it finished');
    assert.equal((await b.request('GET', `/api/v1/volumes/${volumeId}`, { token: b.adminToken })).status, 404);
    assert.ok(!(await a.engine.listVolumes()).some((v) => v.id === engineId), 'the engine volume is deleted');

    // A wakes up after losing its lease: its failure and cleanup must not touch B's result.
    held.open();
    await a.plane.jobs.idle();
    const untouched = await jobRow(b, jobId);
    assert.equal(untouched.status, 'succeeded', JSON.stringify(untouched));
    assert.equal(untouched.error_code, null, JSON.stringify(untouched));
  });

  test('a job whose lease is renewed is never run by another instance, not even one starting up', async () => {
    const [a, b] = live;
    const log = new RunLog();
    const held = gate();
    a.plane.jobs.register('flatten-volume', log.wrap('a', runnerOf(a.plane, 'flatten-volume'), held.opened));
    b.plane.jobs.register('flatten-volume', log.wrap('b', runnerOf(b.plane, 'flatten-volume')));
    const created = await a.request('POST', '/api/v1/volumes', { token: a.adminToken, body: { name: 'leased', size_bytes: 4 * MiB } });
    const flatten = await a.request('POST', `/api/v1/volumes/${created.body.volume.id}/flatten`, { token: a.adminToken });
    assert.equal(flatten.status, 202, JSON.stringify(flatten.body));
    const jobId = flatten.body.job.id as string;
    await until('A runs the job', () => log.runs.has(jobId));
    // A third instance starts while A holds the job: its start-up recovery must leave it alone.
    const c = new ControlPlane({ ...b.plane.deps, exports: new ExportTable() }, { timing });
    c.jobs.register('flatten-volume', log.wrap('c', runnerOf(c, 'flatten-volume')));
    const report = await c.start();
    try {
      assert.equal(report.jobsResumed, 0, JSON.stringify(report));
      // Several lease lengths pass while A renews: B's and C's takeover sweeps run all along.
      await sleep(5 * (timing.jobLeaseMs ?? 0));
      assert.deepEqual(log.runs.get(jobId), ['a'], 'only A ran the job');
      held.open();
      await until('A finishes the job', async () => (await jobRow(a, jobId)).status === 'succeeded');
      assert.equal((await jobRow(a, jobId)).lease_owner, a.plane.instanceId);
      assert.equal(log.activeMax, 1);
    } finally {
      held.open();
      await c.stop();
    }
  });

  test('of instances racing to take over expired jobs, exactly one runs each', async () => {
    const [a, b, c] = live;
    const log = new RunLog();
    // Runs are held until every takeover has returned, so a job taken twice would still be running twice.
    const held = gate();
    for (const [name, h] of [['a', a], ['b', b], ['c', c]] as const) h.plane.jobs.register('flatten-volume', log.wrap(name, runnerOf(h.plane, 'flatten-volume'), held.opened));
    const created = await a.request('POST', '/api/v1/volumes', { token: a.adminToken, body: { name: 'raced', size_bytes: 4 * MiB } });
    const caller = await a.plane.identity.authenticate(a.adminToken);
    // Jobs a dead instance left: leases that expired an hour ago.
    const ids: string[] = [];
    const now = new Date().toISOString();
    for (let i = 0; i < 30; i++) {
      const id = crypto.randomUUID();
      ids.push(id);
      await a.database.db
        .insertInto('jobs')
        .values({
          id,
          project_id: caller.projectId,
          pool_id: a.plane.deps.poolId,
          kind: 'flatten-volume',
          status: i % 2 === 0 ? 'queued' : 'running',
          target_type: 'volume',
          target_id: created.body.volume.id,
          params: '{}',
          progress_done: 0,
          progress_total: 0,
          error_code: null,
          error_message: null,
          created_at: now,
          started_at: null,
          finished_at: null,
          lease_owner: 'a-dead-instance',
          lease_expires_at: new Date(Date.now() - 3_600_000).toISOString(),
        })
        .execute();
    }
    // The timers race too; these calls add simultaneous takeovers from every instance.
    await Promise.all([a, b, c, a, b, c].map((h) => h.plane.jobs.takeOver()));
    held.open();
    await until('every job succeeded', async () => {
      const rows = await a.database.db.selectFrom('jobs').select('status').where('id', 'in', ids).execute();
      return rows.every((r) => r.status === 'succeeded');
    });
    for (const id of ids) assert.equal(log.runs.get(id)?.length, 1, `job ${id} ran on ${JSON.stringify(log.runs.get(id))}`);
  });

  test('an attachment made on one instance is served on every instance; after that instance dies, a client reattaches through another', async (t) => {
    const [a, b] = live;
    const created = await a.request('POST', '/api/v1/volumes', { token: a.adminToken, body: { name: 'attached', size_bytes: 4 * MiB } });
    const attached = await a.request('POST', `/api/v1/volumes/${created.body.volume.id}/attachments`, { token: a.adminToken, body: { mode: 'rw' } });
    assert.equal(attached.status, 201, JSON.stringify(attached.body));
    const name = new URL(attached.body.attachment.uri as string).pathname.slice(1);
    await until("B's export table serves the attachment", () => b.exports.resolve(name) !== undefined);
    assert.equal(b.exports.resolve(name)?.readOnly, false);

    if (installed('qemu-io')) {
      const nbdA = new NbdServer({ exports: a.exports });
      const nbdB = new NbdServer({ exports: b.exports });
      const portA = (await nbdA.listen('127.0.0.1', 0)).port;
      const portB = (await nbdB.listen('127.0.0.1', 0)).port;
      try {
        const written = await run('qemu-io', ['-f', 'raw', `nbd://127.0.0.1:${portA}/${name}`, '-c', 'write -P 0x5a 64k 128k', '-c', 'flush']);
        assert.equal(written.code, 0, `qemu-io write through A: ${written.stderr}${written.stdout}`);
        await nbdA.close(); // A's NBD address is gone; the same export name on B's
        const read = await run('qemu-io', ['-f', 'raw', '-r', `nbd://127.0.0.1:${portB}/${name}`, '-c', 'read -P 0x5a 64k 128k', '-c', 'read -P 0 0 64k']);
        assert.equal(read.code, 0, `qemu-io read through B: ${read.stderr}${read.stdout}`);
        assert.doesNotMatch(read.stdout + read.stderr, /Pattern verification failed/, read.stdout);
      } finally {
        await nbdA.close().catch(() => undefined);
        await nbdB.close();
      }
    } else {
      t.diagnostic('qemu-io is not installed: the export is checked through the export table only');
      const device = b.exports.resolve(name)!;
      await device.write(0, Buffer.alloc(4096, 0x5a), { fua: true });
      assert.equal((await a.exports.resolve(name)!.read(0, 4096))[0], 0x5a);
    }

    // Ended through B: A's export goes at its next sync, disconnecting A's clients.
    const ended = await b.request('DELETE', `/api/v1/attachments/${attached.body.attachment.id}`, { token: b.adminToken });
    assert.equal(ended.status, 204, JSON.stringify(ended.body));
    assert.equal(b.exports.resolve(name), undefined);
    await until("A's export table drops the ended attachment", () => a.exports.resolve(name) === undefined);
  });

  test('a volume grown through one instance is served at its new size by the others', async () => {
    const [a, b, c] = live;
    const created = await a.request('POST', '/api/v1/volumes', { token: a.adminToken, body: { name: 'grown', size_bytes: 4 * MiB } });
    const attached = await b.request('POST', `/api/v1/volumes/${created.body.volume.id}/attachments`, { token: b.adminToken, body: { mode: 'rw' } });
    assert.equal(attached.status, 201, JSON.stringify(attached.body));
    const name = new URL(attached.body.attachment.uri as string).pathname.slice(1);
    await until('every instance serves the attachment', () => [a, c].every((h) => h.exports.resolve(name) !== undefined));
    const grown = await a.request('PATCH', `/api/v1/volumes/${created.body.volume.id}`, { token: a.adminToken, body: { size_bytes: 8 * MiB } });
    assert.equal(grown.status, 200, JSON.stringify(grown.body));
    await until('every instance serves 8 MiB', () => [a, b, c].every((h) => h.exports.resolve(name)?.sizeBytes === 8 * MiB));
    assert.equal((await b.request('DELETE', `/api/v1/attachments/${attached.body.attachment.id}`, { token: b.adminToken })).status, 204);
  });

  test('start-up reconciliation leaves alone what a live instance is creating, and repairs it once abandoned', async () => {
    const [a] = live;
    const caller = await a.plane.identity.authenticate(a.adminToken);
    // A is between its engine call and its row update: a `creating` row, an engine volume no row names.
    const now = new Date().toISOString();
    const rowId = crypto.randomUUID();
    await a.database.db
      .insertInto('volumes')
      .values({ id: rowId, project_id: caller.projectId, pool_id: a.plane.deps.poolId, engine_id: null, name: 'in-flight', description: '', size_bytes: MiB, status: 'creating', source_snapshot_id: null, group_id: null, created_at: now, updated_at: now })
      .execute();
    const inFlight = await a.engine.createVolume({ sizeBytes: MiB });
    const starting = new ControlPlane({ ...a.plane.deps, exports: new ExportTable() }, { timing });
    const report = await starting.start();
    await starting.stop();
    assert.equal(report.orphanVolumesDeleted, 0, JSON.stringify(report));
    assert.equal(report.stuckMarkedError, 0, JSON.stringify(report));
    assert.equal((await a.database.db.selectFrom('volumes').select('status').where('id', '=', rowId).executeTakeFirstOrThrow()).status, 'creating');
    assert.ok((await a.engine.listVolumes()).some((v) => v.id === inFlight.id), 'the engine volume being created is kept');

    // Once older than creatingAbandonMs, nobody is creating them any more.
    await sleep(300);
    const later = new ControlPlane({ ...a.plane.deps, exports: new ExportTable() }, { timing: { ...timing, creatingAbandonMs: 200 } });
    const repaired = await later.start();
    await later.stop();
    assert.equal(repaired.orphanVolumesDeleted, 1, JSON.stringify(repaired));
    assert.equal(repaired.stuckMarkedError, 1, JSON.stringify(repaired));
    assert.equal((await a.database.db.selectFrom('volumes').select('status').where('id', '=', rowId).executeTakeFirstOrThrow()).status, 'error');
  });

  test("a starting instance leaves a live instance's policy run alone and fails an abandoned one", async () => {
    const [a, b] = live;
    const caller = await a.plane.identity.authenticate(a.adminToken);
    const insertRun = async (leaseOwner: string, leaseExpiresAt: string) => {
      const id = crypto.randomUUID();
      await a.database.db
        .insertInto('policy_runs')
        .values({ id, policy_id: crypto.randomUUID(), project_id: caller.projectId, pool_id: a.plane.deps.poolId, due_at: new Date().toISOString(), status: 'running', result: '{}', started_at: new Date().toISOString(), finished_at: null, lease_owner: leaseOwner, lease_expires_at: leaseExpiresAt })
        .execute();
      return id;
    };
    const held = await insertRun(a.plane.instanceId, new Date(Date.now() + 3_600_000).toISOString());
    const abandoned = await insertRun('a-dead-instance', new Date(Date.now() - 3_600_000).toISOString());
    await b.plane.scheduler.start();
    await b.plane.scheduler.stop();
    const status = async (id: string) => (await a.database.db.selectFrom('policy_runs').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status;
    assert.equal(await status(held), 'running');
    assert.equal(await status(abandoned), 'failed');
  });

  test('instances of different pools still refuse each other (WRONG_INSTANCE), never take over each other\'s jobs nor serve each other\'s attachments', async () => {
    const [a] = await instances(0);
    const other = await createHarness('postgres', { sharedDatabase: database, poolAccess: 'shared', timing });
    open.push(other);
    const created = await a.request('POST', '/api/v1/volumes', { token: a.adminToken, body: { name: 'pinned-to-a', size_bytes: 4 * MiB } });
    const volumeId = created.body.volume.id as string;
    const attached = await a.request('POST', `/api/v1/volumes/${volumeId}/attachments`, { token: a.adminToken, body: { mode: 'ro' } });
    const refused = await other.request('POST', `/api/v1/volumes/${volumeId}/snapshots`, { token: other.adminToken, body: { name: 's' } });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'WRONG_INSTANCE');

    const log = new RunLog();
    const held = gate();
    a.plane.jobs.register('flatten-volume', log.wrap('a', runnerOf(a.plane, 'flatten-volume'), held.opened));
    other.plane.jobs.register('flatten-volume', log.wrap('other', runnerOf(other.plane, 'flatten-volume')));
    const flatten = await a.request('POST', `/api/v1/volumes/${volumeId}/flatten`, { token: a.adminToken });
    const jobId = flatten.body.job.id as string;
    await until('A runs the job', () => log.runs.has(jobId));
    await a.plane.stop(); // A dies holding the job
    await sleep(5 * (timing.jobLeaseMs ?? 0));
    assert.deepEqual(log.runs.get(jobId), ['a'], 'an instance of another pool never takes the job');
    assert.equal(attached.status, 201, JSON.stringify(attached.body));
    const name = new URL(attached.body.attachment.uri as string).pathname.slice(1);
    assert.ok(a.exports.resolve(name) !== undefined);
    assert.equal(other.exports.resolve(name), undefined, 'an instance of another pool does not serve it');
    held.open();
    await a.plane.jobs.idle();
  });
});
