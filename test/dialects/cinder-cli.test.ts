/**
 * Interop: the real `cinder` command (python3-cinderclient, Debian 9.1) against the Cinder
 * dialect of a listening in-process Strata, on every metadata database. It authenticates with a
 * Strata token through keystoneauth's admin_token plugin (reference §4.1 option B), negotiates
 * the microversion from the version document at /cinder/, and drives volumes, snapshots (name
 * lookup, filters, rename, metadata, admin reset and force delete), group snapshots, and errors.
 * Skipped, with the reason, when `cinder` is not installed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { AddressInfo } from 'node:net';
import type { Caller } from '../../src/core/context.js';
import { adminPassword, createHarness, type Harness } from '../api/harness.js';
import { rbdSkipReason, suiteVariants } from '../support/backends.js';
import { databaseKinds, postgresSkipReason } from '../support/databases.js';

const GiB = 1024 ** 3;
const missingId = '00000000-0000-4000-8000-000000000000';

function findCinder(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'cinder');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return null;
}
const cinderPath = findCinder();
const skip = cinderPath === null ? 'the cinder CLI is not installed (apt-get install python3-cinderclient)' : false;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** A property table's value (`| name | value |`). */
function property(output: string, name: string): string | undefined {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\|\\s*${escaped}\\s*\\|\\s*(.*?)\\s*\\|$`, 'm').exec(output)?.[1];
}

/** The rows of a list table, as arrays of cell texts. */
function rows(output: string): string[][] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .slice(1)
    .map((line) => line.split('|').slice(1, -1).map((cell) => cell.trim()));
}

for (const { database: kind, backend, label } of suiteVariants()) {
  describe(`the cinder CLI against /cinder on ${label}`, { skip }, () => {
    let h: Harness;
    let home: string;
    let endpoint: string;
    let projectId: string;
    let memberToken: string;
    let adminToken: string;
    let caller: Caller;
    let volumeId: string;
    let snapshotId: string;
    let otherSnapshotId: string;

    /** Runs `cinder` with a token; the environment carries no other OpenStack settings. */
    function cinder(token: string, ...args: string[]): Promise<Run> {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8' };
      const base = ['--os-auth-type', 'admin_token', '--os-token', token, '--os-endpoint', endpoint, '--os-project-id', projectId];
      return new Promise((resolve) => {
        execFile(cinderPath!, [...base, ...args], { env, timeout: 30_000 }, (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
          resolve({ code, stdout, stderr });
        });
      });
    }
    const ok = (run: Run) => {
      assert.equal(run.code, 0, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
      return run.stdout;
    };

    before(async () => {
      h = await createHarness(kind, { backend });
      home = await mkdtemp(join(tmpdir(), 'strata-cinder-cli-'));
      const tenant = await h.tenant('cli');
      projectId = tenant.projectId;
      memberToken = tenant.token;
      adminToken = await h.login('admin', adminPassword, projectId);
      caller = await h.plane.identity.authenticate(memberToken);
      await h.app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = h.app.server.address() as AddressInfo;
      endpoint = `http://127.0.0.1:${port}/cinder/v3/${projectId}`;
    });
    after(async () => {
      await h?.close();
      if (home !== undefined) await rm(home, { recursive: true, force: true });
    });

    test('create --name vol-1 1 creates a 1 GiB volume', async () => {
      const out = ok(await cinder(memberToken, 'create', '--name', 'vol-1', '--metadata', 'purpose=cli', '1'));
      volumeId = property(out, 'id')!;
      const volume = await h.plane.volumes.get(caller, volumeId);
      assert.equal(volume.name, 'vol-1');
      assert.equal(volume.sizeBytes, GiB);
      assert.deepEqual(volume.metadata, { purpose: 'cli' });
    });

    test('list shows the volume, show finds it by name, extend grows it', async () => {
      const listed = rows(ok(await cinder(memberToken, 'list')));
      assert.ok(listed.some((r) => r[0] === volumeId && r.includes('available') && r.includes('vol-1')), JSON.stringify(listed));
      const shown = ok(await cinder(memberToken, 'show', 'vol-1'));
      assert.equal(property(shown, 'id'), volumeId);
      assert.equal(property(shown, 'size'), '1');
      ok(await cinder(memberToken, 'extend', volumeId, '2'));
      assert.equal((await h.plane.volumes.get(caller, volumeId)).sizeBytes, 2 * GiB);
    });

    test('extend to a smaller size fails with the fault message', async () => {
      const run = await cinder(memberToken, 'extend', volumeId, '1');
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stderr, /ERROR: New size for extend must be greater than current size\..*\(HTTP 400\)/);
      assert.equal((await h.plane.volumes.get(caller, volumeId)).sizeBytes, 2 * GiB);
    });

    test('snapshot-create with name, description and metadata', async () => {
      const out = ok(await cinder(memberToken, 'snapshot-create', '--name', 'snap-001', '--description', 'Daily backup', '--metadata', 'k=v', volumeId));
      snapshotId = property(out, 'id')!;
      const snapshot = await h.plane.snapshots.get(caller, snapshotId);
      assert.equal(snapshot.name, 'snap-001');
      assert.equal(snapshot.description, 'Daily backup');
      assert.deepEqual(snapshot.metadata, { k: 'v' });
      otherSnapshotId = property(ok(await cinder(memberToken, 'snapshot-create', '--name', 'snap-002', 'vol-1')), 'id')!;
    });

    test('snapshot-list with filters lists only the matching snapshot', async () => {
      const listed = rows(ok(await cinder(memberToken, 'snapshot-list', '--name', 'snap-001', '--status', 'available', '--volume-id', volumeId)));
      assert.deepEqual(listed.map((r) => r[0]), [snapshotId]);
      assert.ok(listed[0].includes('snap-001') && listed[0].includes('2'), JSON.stringify(listed));
      const all = rows(ok(await cinder(memberToken, 'snapshot-list')));
      assert.deepEqual(new Set(all.map((r) => r[0])), new Set([snapshotId, otherSnapshotId]));
    });

    test('snapshot-show by id and by name (name lookup)', async () => {
      const byId = ok(await cinder(memberToken, 'snapshot-show', snapshotId));
      assert.equal(property(byId, 'name'), 'snap-001');
      assert.equal(property(byId, 'os-extended-snapshot-attributes:progress'), '100%');
      const byName = ok(await cinder(memberToken, 'snapshot-show', 'snap-001'));
      assert.equal(property(byName, 'id'), snapshotId);
    });

    test('snapshot-rename renames and redescribes', async () => {
      ok(await cinder(memberToken, 'snapshot-rename', 'snap-001', 'snap-renamed', '--description', 'd2'));
      const snapshot = await h.plane.snapshots.get(caller, snapshotId);
      assert.equal(snapshot.name, 'snap-renamed');
      assert.equal(snapshot.description, 'd2');
    });

    test('snapshot-metadata set merges; unset removes a key', async () => {
      const out = ok(await cinder(memberToken, 'snapshot-metadata', 'snap-renamed', 'set', 'a=1', 'b=2'));
      assert.equal(property(out, 'k'), 'v');
      ok(await cinder(memberToken, 'snapshot-metadata', snapshotId, 'unset', 'k'));
      assert.deepEqual((await h.plane.snapshots.get(caller, snapshotId)).metadata, { a: '1', b: '2' });
    });

    test('snapshot-reset-state is refused to a member with the fault message, done for an admin', async () => {
      const refused = await cinder(memberToken, 'snapshot-reset-state', '--state', 'error', snapshotId);
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, /Policy doesn't allow.*\(HTTP 403\)/);
      assert.equal((await h.plane.snapshots.get(caller, snapshotId)).status, 'available');
      ok(await cinder(adminToken, 'snapshot-reset-state', '--state', 'error', snapshotId));
      assert.equal((await h.plane.snapshots.get(caller, snapshotId)).status, 'error');
    });

    test('snapshot-delete --force as admin, and snapshot-delete by name as a member', async () => {
      ok(await cinder(adminToken, 'snapshot-delete', '--force', snapshotId));
      ok(await cinder(memberToken, 'snapshot-delete', 'snap-002'));
      await h.plane.jobs.idle();
      const left = await h.plane.snapshots.list(caller, { volumeId });
      assert.deepEqual(left.items, []);
    });

    test('snapshot-show of a missing snapshot exits 1 with the lookup error', async () => {
      const run = await cinder(memberToken, 'snapshot-show', missingId);
      assert.equal(run.code, 1, run.stdout);
      assert.match(run.stderr, new RegExp(`No snapshot with a name or ID of '${missingId}' exists`));
    });

    test('group-snapshot-list lists group snapshots (3.14+)', async () => {
      const member = await h.plane.volumes.create(caller, { name: 'member', sizeBytes: GiB });
      const group = await h.plane.groups.create(caller, { name: 'cg', volumeIds: [member.id] });
      const groupSnapshot = await h.plane.groups.createSnapshot(caller, group.id, { name: 'nightly' });
      const listed = rows(ok(await cinder(memberToken, 'group-snapshot-list')));
      assert.deepEqual(listed, [[groupSnapshot.id, 'available', 'nightly']]);
    });

    test('delete removes the volume', async () => {
      ok(await cinder(memberToken, 'delete', 'vol-1'));
      await h.plane.jobs.idle();
      await assert.rejects(h.plane.volumes.get(caller, volumeId), /does not exist/);
    });
  });
}
const postgresSkipped = postgresSkipReason();
if (postgresSkipped !== null) describe('the cinder CLI against /cinder on postgres', { skip: postgresSkipped }, () => {});
if (rbdSkipReason() !== null) describe('the cinder CLI against /cinder on rbd', { skip: rbdSkipReason()! }, () => {});
