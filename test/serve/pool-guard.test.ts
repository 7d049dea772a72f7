/**
 * End-to-end, on a real `strata serve` process: one process per data directory (a second serve
 * and fsck are refused with the holder's pid; kill -9 frees the pool), private files under a
 * permissive umask, and a full disk (a small tmpfs filled through NBD): ENOSPC at the client,
 * reads go on, /healthz 503, and after space is freed writes work again without a restart.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { api, have, mainJs, type Server, startServe, stopServe } from './process.js';

const run = promisify(execFile);
const adminPassword = 'pool-guard-admin';
const MiB = 1024 * 1024;

/** Runs a strata command to its end (killed after 30 s: a serve that starts never ends): exit code and both outputs. */
async function strata(args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return run(process.execPath, [mainJs, ...args], { timeout: 30_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number | null; signal: string | null; stdout: string; stderr: string }) => ({
      code: error.code ?? `killed by ${error.signal} (still running after 30 s)`,
      stdout: error.stdout,
      stderr: error.stderr,
    }),
  );
}

/** qemu-io's output whether it succeeded or not (it exits 0 after a failed command in -c mode). */
async function qemuIo(uri: string, commands: string[]): Promise<string> {
  const args = ['-f', 'raw', uri, ...commands.flatMap((command) => ['-c', command])];
  return run('qemu-io', args, { maxBuffer: 16 * MiB }).then(
    ({ stdout, stderr }) => stdout + stderr,
    (error: { stdout: string; stderr: string }) => error.stdout + error.stderr,
  );
}

async function attachNewVolume(server: Server, sizeBytes: number): Promise<string> {
  const created = await api<{ volume: { id: string } }>(server, 'POST', '/api/v1/volumes', { name: 'guard', size_bytes: sizeBytes });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const attached = await api<{ attachment: { uri: string } }>(server, 'POST', `/api/v1/volumes/${created.body.volume.id}/attachments`, {});
  assert.equal(attached.status, 201, JSON.stringify(attached.body));
  return attached.body.attachment.uri;
}

const modeOf = (path: string) => (lstatSync(path).mode & 0o7777).toString(8);

describe('one process per pool, private files', () => {
  const root = mkdtempSync(join(tmpdir(), 'strata-guard-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  test('a second serve and fsck are refused naming the holder; after kill -9 the pool is free again', async () => {
    const dataDir = join(root, 'lock');
    const first = await startServe(dataDir, adminPassword);
    try {
      const second = await strata(['serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--nbd-listen', '127.0.0.1:0']);
      assert.equal(typeof second.code, 'number', `a second serve started on a served pool: ${second.code}: ${second.stdout}`);
      assert.notEqual(second.code, 0, `a second serve started on a served pool: ${second.stdout}`);
      assert.match(second.stderr, new RegExp(`in use by process ${first.process.pid}\\b`), second.stderr);
      const fsck = await strata(['fsck', '--data-dir', dataDir]);
      assert.notEqual(fsck.code, 0, `fsck ran on a served pool: ${fsck.stdout}`);
      assert.match(fsck.stderr, new RegExp(`in use by process ${first.process.pid}\\b.*fsck checks a stopped pool`), fsck.stderr);
      assert.equal((await api(first, 'GET', '/healthz')).status, 200, 'the first server is unharmed');
    } finally {
      first.process.kill('SIGKILL');
      await first.exited;
    }
    // The kernel dropped the lock with the process: no stale lock to clear by hand.
    const fsck = await strata(['fsck', '--data-dir', dataDir]);
    assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
    const again = await startServe(dataDir, adminPassword);
    assert.equal(await stopServe(again), 0);
  });

  test('under umask 000 the data directory is 0700 and every file 0600; looser modes are tightened on start', async () => {
    const dataDir = join(root, 'private');
    const previous = process.umask(0o000);
    let server: Server;
    try {
      server = await startServe(dataDir, adminPassword);
    } finally {
      process.umask(previous);
    }
    const check = () => {
      const bad: string[] = [];
      for (const dir of [dataDir, join(dataDir, 'pool')]) {
        if (modeOf(dir) !== '700') bad.push(`${dir} ${modeOf(dir)}`);
        for (const name of readdirSync(dir)) {
          const path = join(dir, name);
          if (statSync(path).isFile() && modeOf(path) !== '600') bad.push(`${path} ${modeOf(path)}`);
        }
      }
      return bad;
    };
    try {
      const uri = await attachNewVolume(server, 4 * MiB);
      if (have('qemu-io')) await qemuIo(uri, ['write -P 0x11 0 1M', 'flush']);
      assert.deepEqual(check(), []);
      const names = readdirSync(dataDir);
      for (const name of ['lock', 'pool-id', 'metadata.db', 'metadata.db-wal']) assert.ok(names.includes(name), `${name} missing: ${names.join(' ')}`);
    } finally {
      assert.equal(await stopServe(server), 0);
    }
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'pool'), 0o777);
    chmodSync(join(dataDir, 'metadata.db'), 0o644);
    chmodSync(join(dataDir, 'pool', 'data'), 0o666);
    const restarted = await startServe(dataDir, adminPassword);
    try {
      assert.deepEqual(check(), []);
    } finally {
      assert.equal(await stopServe(restarted), 0);
    }
  });

  test('a shared directory (sticky, writable by all) is refused as a data directory and left as it was', async () => {
    const shared = join(root, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    writeFileSync(join(shared, 'someone-else'), 'x');
    chmodSync(join(shared, 'someone-else'), 0o644);
    const refused = await strata(['serve', '--data-dir', shared, '--listen', '127.0.0.1:0', '--nbd-listen', '127.0.0.1:0']);
    assert.notEqual(refused.code, 0, refused.stdout);
    assert.match(refused.stderr, /shared directory/, refused.stderr);
    assert.equal(modeOf(shared), '1777');
    assert.equal(modeOf(join(shared, 'someone-else')), '644');
  });
});

/** Mounts a tmpfs of `sizeMiB` at a new directory, or says why it cannot. */
function mountTmpfs(sizeMiB: number): { mountPoint: string; unmount(): void } | string {
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  const mountPoint = mkdtempSync(join(tmpdir(), 'strata-full-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', mountPoint], { encoding: 'utf8' });
  if (mounted.status !== 0) {
    rmSync(mountPoint, { recursive: true, force: true });
    return `mount -t tmpfs is not permitted here: ${mounted.stderr.trim()}`;
  }
  return {
    mountPoint,
    unmount() {
      spawnSync('umount', [mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    },
  };
}

describe('a full disk under a real strata serve', () => {
  test('ENOSPC at the NBD client, reads go on, /healthz 503; after space is freed writes resume without a restart and fsck is clean', {
    skip: !have('qemu-io') && 'qemu-io is not installed',
  }, async (t) => {
    // 160 MiB: the server keeps 64 MiB free for metadata, so data fills about 90 MiB of it.
    const fs = mountTmpfs(160);
    if (typeof fs === 'string') return t.skip(fs);
    const dataDir = join(fs.mountPoint, 'data');
    mkdirSync(dataDir);
    // Space an operator can free later: a filler file beside the data directory.
    const filler = join(fs.mountPoint, 'filler');
    writeFileSync(filler, Buffer.alloc(32 * MiB, 1));
    let server: Server | null = null;
    try {
      server = await startServe(dataDir, adminPassword);
      const uri = await attachNewVolume(server, 256 * MiB);
      const writes = Array.from({ length: 160 }, (_, i) => `write -P 0x5a ${i}M 1M`);
      const filled = await qemuIo(uri, [...writes, 'flush']);
      assert.match(filled, /No space left on device/, `no ENOSPC while filling: ${filled.slice(-2000)}`);
      assert.doesNotMatch(filled, /Input\/output error/, filled.slice(-2000));

      const read = await qemuIo(uri, ['read -P 0x5a 0 1M']);
      assert.doesNotMatch(read, /failed|error/i, `reads stopped on a full disk: ${read}`);
      const degraded = await api<{ status: string; reasons: string[] }>(server, 'GET', '/healthz');
      assert.equal(degraded.status, 503, JSON.stringify(degraded.body));
      assert.equal(degraded.body.status, 'degraded');
      assert.ok(degraded.body.reasons.some((reason) => /disk full/.test(reason)), JSON.stringify(degraded.body));
      const refused = await qemuIo(uri, ['write -P 0x66 200M 1M']);
      assert.match(refused, /No space left on device/, refused);
      const created = await api<{ error: { code: string; message: string } }>(server, 'POST', '/api/v1/volumes', { name: 'more', size_bytes: MiB });
      assert.ok(created.status === 201 || created.status === 507, JSON.stringify(created.body));
      assert.doesNotMatch(JSON.stringify(created.body), new RegExp(fs.mountPoint), 'an answer names a server path');

      unlinkSync(filler);
      const resumed = await qemuIo(uri, ['write -P 0x77 200M 1M', 'flush', 'read -P 0x77 200M 1M', 'read -P 0x5a 0 1M']);
      assert.doesNotMatch(resumed, /failed|error/i, `writes did not resume after space was freed: ${resumed}`);
      const healthy = await api<{ status: string }>(server, 'GET', '/healthz');
      assert.equal(healthy.status, 200, JSON.stringify(healthy.body));
      assert.deepEqual(healthy.body, { status: 'ok' });
      assert.equal(await stopServe(server), 0);
      server = null;
      const fsck = await strata(['fsck', '--data-dir', dataDir]);
      assert.equal(fsck.code, 0, fsck.stdout + fsck.stderr);
      assert.match(fsck.stdout, /^ok$/m);
    } finally {
      if (server !== null) {
        server.process.kill('SIGKILL');
        await server.exited;
      }
      fs.unmount();
    }
  });
});
