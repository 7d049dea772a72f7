/**
 * End-to-end: a real `strata serve` process, driven by real NBD clients (qemu-io, qemu-img,
 * nbdcopy, nbdinfo, fio) through attachments made with the HTTP API. Each test skips, saying
 * why, when its tool is missing; `npm test` installs them. Runs on every backend
 * (test/support/backends.ts); the fsck steps check the embedded engine's pool only.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { backendKinds, rbdSkipReason } from '../support/backends.js';
import { api, backendFlags, have, mainJs, type Server, startServe as startProcess, stopServe } from './process.js';

const run = promisify(execFile);
const adminPassword = 'serve-test-admin';
const MiB = 1024 * 1024;

async function createVolume(server: Server, sizeBytes: number): Promise<string> {
  const created = await api<{ volume: { id: string } }>(server, 'POST', '/api/v1/volumes', { name: 'serve-test', size_bytes: sizeBytes });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.volume.id;
}

async function attach(server: Server, kind: 'volumes' | 'snapshots', id: string, mode?: 'rw' | 'ro'): Promise<{ id: string; uri: string }> {
  const created = await api<{ attachment: { id: string; uri: string } }>(server, 'POST', `/api/v1/${kind}/${id}/attachments`, mode === undefined ? {} : { mode });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.attachment;
}

for (const backend of backendKinds()) {
  describe(`strata serve with real NBD clients on ${backend}`, () => {
    const flags = backendFlags(backend, 'serve');
    const startServe = (dataDir: string) => startProcess(dataDir, adminPassword, {}, flags);
    let dataDir: string;
    let work: string;
    let server: Server;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'strata-serve-'));
      work = mkdtempSync(join(tmpdir(), 'strata-serve-work-'));
      server = await startServe(dataDir);
    });

    after(async () => {
      if (server.process.exitCode === null) await stopServe(server);
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    });

    test('GET /healthz answers 200', async () => {
      const health = await api<{ status: string }>(server, 'GET', '/healthz');
      assert.equal(health.status, 200);
    });

    test('qemu-io writes patterns and reads them back; unwritten space reads as zeroes', { skip: !have('qemu-io') && 'qemu-io is not installed' }, async () => {
      const volume = await createVolume(server, 64 * MiB);
      const { uri } = await attach(server, 'volumes', volume);
      const { stdout } = await run('qemu-io', ['-f', 'raw', uri, '-c', 'write -P 0xab 0 1M', '-c', 'write -P 0xcd 3M 64k', '-c', 'read -P 0xab 0 1M', '-c', 'read -P 0xcd 3M 64k', '-c', 'read -P 0 1M 2M', '-c', 'flush']);
      assert.doesNotMatch(stdout, /Pattern verification failed|error/i, stdout);
      const { stdout: map } = await run('nbdinfo', ['--map', uri]).catch(() => ({ stdout: '' }));
      if (map !== '') assert.match(map, /hole,zero/, map);
    });

    test('qemu-img convert both ways and qemu-img compare agree', { skip: !have('qemu-img') && 'qemu-img is not installed' }, async () => {
      const source = join(work, 'source.raw');
      const image = Buffer.alloc(8 * MiB);
      for (let i = 0; i < image.length; i += 4096) image.fill((i / 4096) % 251, i, i + 1024);
      writeFileSync(source, image);
      const volume = await createVolume(server, 8 * MiB);
      const { uri } = await attach(server, 'volumes', volume);
      await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', source, uri]);
      await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', source, uri]);
      const back = join(work, 'back.qcow2');
      await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', uri, back]);
      await run('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', source, back]);
    });

    test('nbdcopy copies in both directions and nbdinfo reports size and block sizes', { skip: !(have('nbdcopy') && have('nbdinfo')) && 'libnbd-bin is not installed' }, async () => {
      const source = join(work, 'copy.raw');
      const image = Buffer.alloc(16 * MiB);
      for (let i = 0; i < 4 * MiB; i++) image[i] = (i * 7) & 0xff;
      writeFileSync(source, image);
      const volume = await createVolume(server, 16 * MiB);
      const { uri } = await attach(server, 'volumes', volume);
      await run('nbdcopy', [source, uri]);
      const out = join(work, 'copy-back.raw');
      await run('nbdcopy', [uri, out]);
      assert.ok(readFileSync(out).equals(image), 'nbdcopy round trip changed the data');
      const { stdout } = await run('nbdinfo', ['--json', uri]);
      const info = JSON.parse(stdout) as { exports: Array<Record<string, unknown>> };
      assert.equal(info.exports[0]['export-size'], 16 * MiB);
      assert.equal(info.exports[0]['block_size_preferred'], 4096);
      const { stdout: map } = await run('nbdinfo', ['--map', uri]);
      assert.match(map, /data/);
    });

    test('fio writes and verifies 4 KiB random blocks through its nbd engine', { skip: !have('fio') && 'fio is not installed' }, async () => {
      const volume = await createVolume(server, 32 * MiB);
      const { uri } = await attach(server, 'volumes', volume);
      const { stdout } = await run('fio', [
        '--name=verify', '--ioengine=nbd', `--uri=${uri}`, '--rw=randwrite', '--bs=4k', '--size=8M', '--iodepth=16',
        '--verify=crc32c', '--do_verify=1', '--verify_state_save=0', '--output-format=json',
      ], { cwd: work });
      const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: Array<{ error: number; write: { io_bytes: number } }> };
      assert.equal(report.jobs[0].error, 0);
      assert.equal(report.jobs[0].write.io_bytes, 8 * MiB);
    });

    test('a snapshot export reads the frozen data and refuses writes', { skip: !have('qemu-io') && 'qemu-io is not installed' }, async () => {
      const volume = await createVolume(server, 8 * MiB);
      const live = await attach(server, 'volumes', volume);
      await run('qemu-io', ['-f', 'raw', live.uri, '-c', 'write -P 0x11 0 1M']);
      const snapshot = await api<{ snapshot: { id: string } }>(server, 'POST', `/api/v1/volumes/${volume}/snapshots`, { name: 'frozen' });
      assert.equal(snapshot.status, 201);
      await run('qemu-io', ['-f', 'raw', live.uri, '-c', 'write -P 0x22 0 1M']);
      const frozen = await attach(server, 'snapshots', snapshot.body.snapshot.id);
      const { stdout } = await run('qemu-io', ['-r', '-f', 'raw', frozen.uri, '-c', 'read -P 0x11 0 1M']);
      assert.doesNotMatch(stdout, /verification failed/i, stdout);
      const write = await run('qemu-io', ['-f', 'raw', frozen.uri, '-c', 'write -P 0x33 0 4k']).then(
        (result) => result.stdout + result.stderr,
        (error: { stdout: string; stderr: string }) => error.stdout + error.stderr,
      );
      assert.match(write, /Operation not permitted|read-only|Permission denied/i, write);
      const refused = await api(server, 'POST', `/api/v1/snapshots/${snapshot.body.snapshot.id}/attachments`, { mode: 'rw' });
      assert.equal(refused.status, 400);
    });

    test('ending an attachment disconnects it; its export name is refused afterwards', { skip: !have('nbdinfo') && 'nbdinfo is not installed' }, async () => {
      const volume = await createVolume(server, 4 * MiB);
      const attachment = await attach(server, 'volumes', volume);
      await run('nbdinfo', [attachment.uri]);
      const ended = await api(server, 'DELETE', `/api/v1/attachments/${attachment.id}`);
      assert.equal(ended.status, 204);
      await assert.rejects(run('nbdinfo', [attachment.uri]));
    });

    test('after kill -9 under write load, every flushed write is there and the pool passes fsck', { skip: !(have('qemu-io') && have('fio')) && 'qemu-io or fio is not installed' }, async () => {
      const volume = await createVolume(server, 64 * MiB);
      const { uri } = await attach(server, 'volumes', volume);
      // Durable: each pattern is followed by a flush that completed before the kill.
      const durable = Array.from({ length: 8 }, (_, i) => ({ offset: i * MiB, pattern: 0x40 + i }));
      for (const { offset, pattern } of durable) {
        await run('qemu-io', ['-f', 'raw', uri, '-c', `write -P ${pattern} ${offset} 1M`, '-c', 'flush']);
      }
      // Load on the rest of the volume while the server is killed.
      const load = run('fio', ['--name=load', '--ioengine=nbd', `--uri=${uri}`, '--rw=randwrite', '--bs=4k', '--iodepth=16',
        '--offset=16M', '--size=48M', '--time_based', '--runtime=30', '--verify_state_save=0'], { cwd: work }).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      server.process.kill('SIGKILL');
      await server.exited;
      await load;
      // fsck checks the embedded engine's pool; on RBD the cluster keeps its own consistency.
      if (backend === 'local') {
        const fsckAfterKill = await run(process.execPath, [mainJs, 'fsck', '--data-dir', dataDir]).catch((error: { stdout: string }) => error);
        assert.match(fsckAfterKill.stdout, /^ok$/m, `fsck after kill -9 (before recovery): ${fsckAfterKill.stdout}`);
      }
      server = await startServe(dataDir);
      const again = await attach(server, 'volumes', volume);
      const reads = durable.flatMap(({ offset, pattern }) => ['-c', `read -P ${pattern} ${offset} 1M`]);
      const { stdout } = await run('qemu-io', ['-r', '-f', 'raw', again.uri, ...reads]);
      assert.doesNotMatch(stdout, /verification failed/i, stdout);
    });

    test('data survives SIGTERM and a restart, and the stopped pool passes fsck', { skip: !have('qemu-io') && 'qemu-io is not installed' }, async () => {
      const volume = await createVolume(server, 8 * MiB);
      const before = await attach(server, 'volumes', volume);
      await run('qemu-io', ['-f', 'raw', before.uri, '-c', 'write -P 0x5a 4M 2M']);
      assert.equal(await stopServe(server), 0);
      if (backend === 'local') {
        const fsck = await run(process.execPath, [mainJs, 'fsck', '--data-dir', dataDir]);
        assert.match(fsck.stdout, /^ok$/m, fsck.stdout);
      }
      server = await startServe(dataDir);
      const again = await attach(server, 'volumes', volume);
      const { stdout } = await run('qemu-io', ['-r', '-f', 'raw', again.uri, '-c', 'read -P 0x5a 4M 2M', '-c', 'read -P 0 0 4M']);
      assert.doesNotMatch(stdout, /verification failed/i, stdout);
    });
  });
}
if (rbdSkipReason() !== null) describe('strata serve with real NBD clients on rbd', { skip: rbdSkipReason()! }, () => {});
