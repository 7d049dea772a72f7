/**
 * `strata serve --backend rbd:POOL/NAMESPACE` end to end, driven by real clients: qemu-io over
 * NBD for data, the native API for snapshots, group snapshots, revert and clone. With
 * PostgreSQL (STRATA_TEST_POSTGRES_URL), two instances share the database and the pool:
 * instance A writes, snapshots and is killed with -9; instance B serves the volume, the
 * snapshot, a revert and a clone with every flushed byte intact, and the RBD images and
 * snapshots exist in the cluster. Skips, saying why, without Ceph, PostgreSQL or qemu-io.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { createTestDatabase, databaseKinds, postgresSkipReason, type TestDatabase } from '../support/databases.js';
import { api, have, type Server, startServe, stopServe } from '../serve/process.js';
import { cephConf, cephSkipReason, freshNamespace, testPool } from './ceph.js';

const run = promisify(execFile);
const adminPassword = 'rbd-serve-test-admin';
const MiB = 1024 * 1024;

function skipReason(): string | undefined {
  if (cephSkipReason() !== undefined) return cephSkipReason();
  if (!databaseKinds().includes('postgres')) return postgresSkipReason() ?? 'PostgreSQL is not available';
  if (!have('qemu-io')) return 'qemu-io is not installed (apt-get install qemu-utils)';
  return undefined;
}

function expectStatus<T>(answer: { status: number; body: T }, statuses: number[], what: string): T {
  assert.ok(statuses.includes(answer.status), `${what}: expected ${statuses.join(' or ')}, got ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

async function qemuIo(uri: string, commands: string[], readOnly = false): Promise<void> {
  const args = [...(readOnly ? ['-r'] : []), '-f', 'raw', uri, ...commands.flatMap((c) => ['-c', c])];
  const { stdout, stderr } = await run('qemu-io', args).catch((error: { stdout?: string; stderr?: string; message: string }) =>
    assert.fail(`qemu-io ${args.join(' ')} failed: ${error.message}\n${error.stdout ?? ''}${error.stderr ?? ''}`),
  );
  assert.doesNotMatch(stdout + stderr, /verification failed|error|failed/i, `qemu-io ${commands.join('; ')}: ${stdout}${stderr}`);
}

async function waitJob(server: Server, jobId: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { job } = expectStatus(await api<{ job: { status: string; error?: unknown } }>(server, 'GET', `/api/v1/jobs/${jobId}`), [200], 'show job');
    if (job.status === 'succeeded') return;
    assert.notEqual(job.status, 'failed', `job ${jobId} failed: ${JSON.stringify(job)}`);
    assert.ok(Date.now() < deadline, `job ${jobId} still ${job.status} after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function waitAvailable(server: Server, path: string, key: string): Promise<{ id: string; status: string }> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const body = expectStatus(await api<Record<string, { id: string; status: string }>>(server, 'GET', path), [200], `show ${path}`);
    if (body[key].status !== 'creating') return body[key];
    assert.ok(Date.now() < deadline, `${path} still creating after 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function rbd(args: string[]): Promise<string> {
  const { stdout } = await run('rbd', ['--conf', cephConf()!, ...args]);
  return stdout;
}

const cleanup: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
});

test('two instances on one RBD pool: B serves what A wrote, snapshotted and flushed before kill -9', { skip: skipReason() }, async () => {
  const namespace = freshNamespace('serve');
  const database: TestDatabase = await createTestDatabase('postgres');
  cleanup.push(() => database.drop());
  const flags = ['--backend', `rbd:${testPool}/${namespace}`, '--ceph-conf', cephConf()!, '--database-url', database.url];
  const dirA = mkdtempSync(join(tmpdir(), 'strata-rbd-a-'));
  const dirB = mkdtempSync(join(tmpdir(), 'strata-rbd-b-'));
  cleanup.push(async () => rmSync(dirA, { recursive: true, force: true }), async () => rmSync(dirB, { recursive: true, force: true }));

  const a = await startServe(dirA, adminPassword, {}, flags);
  cleanup.push(() => stopServe(a));
  const health = await fetch(`${a.api}/healthz`);
  assert.equal(health.status, 200, `healthz of A: ${await health.text()}`);
  const volume = expectStatus(await api<{ volume: { id: string } }>(a, 'POST', '/api/v1/volumes', { name: 'rbd-data', size_bytes: 64 * MiB }), [201], 'create volume').volume.id;
  const other = expectStatus(await api<{ volume: { id: string } }>(a, 'POST', '/api/v1/volumes', { name: 'rbd-other', size_bytes: 64 * MiB }), [201], 'create volume').volume.id;
  const attachment = expectStatus(await api<{ attachment: { id: string; uri: string } }>(a, 'POST', `/api/v1/volumes/${volume}/attachments`, {}), [201], 'attach').attachment;
  await qemuIo(attachment.uri, ['write -P 0xab 0 1M', 'flush']);
  const snap = expectStatus(await api<{ snapshot: { id: string } }>(a, 'POST', `/api/v1/volumes/${volume}/snapshots`, { name: 'before' }), [201, 202], 'snapshot').snapshot.id;
  assert.equal((await waitAvailable(a, `/api/v1/snapshots/${snap}`, 'snapshot')).status, 'available');
  const group = expectStatus(await api<{ group: { id: string } }>(a, 'POST', '/api/v1/groups', { name: 'pair', volume_ids: [volume, other] }), [201], 'create group').group.id;
  const groupSnap = expectStatus(await api<{ group_snapshot: { id: string } }>(a, 'POST', `/api/v1/groups/${group}/snapshots`, { name: 'pair-1' }), [201, 202], 'group snapshot').group_snapshot.id;
  assert.equal((await waitAvailable(a, `/api/v1/group-snapshots/${groupSnap}`, 'group_snapshot')).status, 'available');
  await qemuIo(attachment.uri, ['write -P 0xcd 0 512k', 'flush']);

  a.process.kill('SIGKILL');
  await a.exited;

  const b = await startServe(dirB, adminPassword, {}, flags);
  cleanup.push(() => stopServe(b));
  expectStatus(await api(b, 'GET', `/api/v1/volumes/${volume}`), [200], 'B shows the volume');
  const exportName = new URL(attachment.uri).pathname.slice(1);
  await qemuIo(`${b.nbd}/${exportName}`, ['read -P 0xcd 0 512k', 'read -P 0xab 512k 512k'], true);
  const snapAttachment = expectStatus(await api<{ attachment: { uri: string } }>(b, 'POST', `/api/v1/snapshots/${snap}/attachments`, {}), [201], 'attach snapshot').attachment;
  await qemuIo(snapAttachment.uri, ['read -P 0xab 0 1M'], true);

  expectStatus(await api(b, 'DELETE', `/api/v1/attachments/${attachment.id}`), [204], 'B ends the attachment A made');
  const revert = expectStatus(await api<{ job: { id: string } }>(b, 'POST', `/api/v1/snapshots/${snap}/revert`, {}), [202], 'revert');
  await waitJob(b, revert.job.id);
  const again = expectStatus(await api<{ attachment: { uri: string } }>(b, 'POST', `/api/v1/volumes/${volume}/attachments`, {}), [201], 'attach after revert').attachment;
  await qemuIo(again.uri, ['read -P 0xab 0 1M']);
  const clone = expectStatus(await api<{ volume: { id: string } }>(b, 'POST', `/api/v1/snapshots/${snap}/clone`, { name: 'rbd-clone' }), [201], 'clone').volume.id;
  const cloneAttachment = expectStatus(await api<{ attachment: { uri: string } }>(b, 'POST', `/api/v1/volumes/${clone}/attachments`, {}), [201], 'attach clone').attachment;
  await qemuIo(cloneAttachment.uri, ['read -P 0xab 0 1M', 'read -P 0 1M 1M']);

  const images = (await rbd(['ls', '--pool', testPool, '--namespace', namespace])).split('\n').filter((line) => line.startsWith('strata-volume-'));
  assert.equal(images.length, 3, `RBD images for two volumes and a clone: ${images.join(', ')}`);
  let snapshotsInCluster = 0;
  for (const image of images) snapshotsInCluster += (await rbd(['snap', 'ls', '--pool', testPool, '--namespace', namespace, image])).split('\n').filter((l) => l.includes('strata-snapshot-')).length;
  assert.equal(snapshotsInCluster, 3, 'one RBD snapshot for the snapshot and one per member of the group snapshot');
  assert.equal(await stopServe(b), 0);
});
