/**
 * Start-up reconciliation (ARCHITECTURE.md, C2 and C3): what a crash leaves between the
 * database and the pool is repaired when a control plane starts on them again. The crash is
 * staged by writing the rows a crash would leave; a second ControlPlane over the same
 * database and engine then starts, as a restarted process would.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ControlPlane } from '../../src/core/plane.js';
import { createHarness, type Harness } from '../api/harness.js';
import { databaseKinds } from '../support/databases.js';

const MiB = 1024 * 1024;

for (const kind of databaseKinds()) {
  describe(`start-up recovery on ${kind}`, () => {
    let h: Harness;
    before(async () => {
      h = await createHarness(kind);
    });
    after(async () => {
      await h.close();
    });

    const restart = async () => {
      const plane = new ControlPlane(h.plane.deps);
      const report = await plane.start();
      await plane.jobs.idle();
      return { plane, report };
    };

    test('a group clone cut short resumes: every clone is created with its member data, none stays creating', async () => {
      const caller = await h.plane.identity.authenticate(h.adminToken);
      const volumes = [];
      for (const [i, name] of ['a', 'b'].entries()) {
        const volume = await h.plane.volumes.create(caller, { name, sizeBytes: 4 * MiB });
        const row = await h.database.db.selectFrom('volumes').select('engine_id').where('id', '=', volume.id).executeTakeFirstOrThrow();
        await h.engine.write(Number(row.engine_id), 0, Buffer.alloc(MiB, 0x10 + i));
        volumes.push(volume);
      }
      const group = await h.plane.groups.create(caller, { name: 'g', volumeIds: volumes.map((v) => v.id) });
      const snapshot = await h.plane.groups.createSnapshot(caller, group.id, { name: 'gs' });
      // The crash: the clone's rows and job were committed, the job never ran.
      const cloneGroupId = crypto.randomUUID();
      const now = new Date().toISOString();
      await h.database.db.insertInto('groups').values({ id: cloneGroupId, project_id: caller.projectId, name: 'clone', description: '', status: 'available', created_at: now, updated_at: now }).execute();
      for (const member of snapshot.snapshots) {
        await h.database.db
          .insertInto('volumes')
          .values({ id: crypto.randomUUID(), project_id: caller.projectId, pool_id: h.plane.deps.poolId, engine_id: null, name: `clone-${member.volumeId}`, description: '', size_bytes: member.sizeBytes, status: 'creating', source_snapshot_id: member.id, group_id: cloneGroupId, created_at: now, updated_at: now })
          .execute();
      }
      await h.database.db
        .insertInto('jobs')
        .values({ id: crypto.randomUUID(), project_id: caller.projectId, pool_id: h.plane.deps.poolId, kind: 'clone-group-snapshot', status: 'running', target_type: 'group', target_id: cloneGroupId, params: JSON.stringify({ groupSnapshotId: snapshot.id }), progress_done: 0, progress_total: 0, error_code: null, error_message: null, created_at: now, started_at: now, finished_at: null })
        .execute();

      const { report } = await restart();
      assert.equal(report.jobsResumed, 1, JSON.stringify(report));
      const clones = await h.database.db.selectFrom('volumes').selectAll().where('group_id', '=', cloneGroupId).orderBy('seq').execute();
      assert.equal(clones.length, 2);
      const firstBytes = [];
      for (const clone of clones) {
        assert.equal(clone.status, 'available', JSON.stringify(clone));
        firstBytes.push((await h.engine.read({ volumeId: Number(clone.engine_id) }, 0, 1))[0]);
      }
      assert.deepEqual(firstBytes.sort(), [0x10, 0x11]);
      const jobRow = await h.database.db.selectFrom('jobs').select('status').where('target_id', '=', cloneGroupId).executeTakeFirstOrThrow();
      assert.equal(jobRow.status, 'succeeded');
    });

    test('a creation cut short: the row becomes error and the engine volume no row names is deleted', async () => {
      const caller = await h.plane.identity.authenticate(h.adminToken);
      const now = new Date().toISOString();
      const stuckId = crypto.randomUUID();
      await h.database.db
        .insertInto('volumes')
        .values({ id: stuckId, project_id: caller.projectId, pool_id: h.plane.deps.poolId, engine_id: null, name: 'stuck', description: '', size_bytes: MiB, status: 'creating', source_snapshot_id: null, group_id: null, created_at: now, updated_at: now })
        .execute();
      const orphan = await h.engine.createVolume({ sizeBytes: MiB });
      const { report } = await restart();
      assert.ok(report.stuckMarkedError >= 1, JSON.stringify(report));
      assert.ok(report.orphanVolumesDeleted >= 1, JSON.stringify(report));
      const row = await h.database.db.selectFrom('volumes').select('status').where('id', '=', stuckId).executeTakeFirstOrThrow();
      assert.equal(row.status, 'error');
      await h.plane.jobs.idle();
      assert.ok(!(await h.engine.listVolumes()).some((v) => v.id === orphan.id && v.state === 'available'), 'the orphan is gone or going');
      const deleted = await h.plane.volumes.delete(caller, stuckId);
      await h.plane.jobs.idle();
      assert.equal((await h.plane.jobs.get(caller, deleted.id)).status, 'succeeded', 'an error volume can be deleted');
    });
  });
}
