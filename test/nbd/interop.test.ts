/**
 * Real NBD clients against the server (in this process, serving memory devices): qemu-io,
 * qemu-img, nbdcopy, nbdinfo and fio. Each test checks what the tool reports and, where it
 * writes, what landed on the device. A test whose tool is not installed is skipped and says so.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { addMemoryExport, startServer, type Harness } from './harness.js';
import { installed } from './tools.js';

const MiB = 1024 * 1024;
const toolTimeoutMs = 120_000;

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool without blocking the event loop (the server under test shares it). */
function run(tool: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(tool, args, { timeout: toolTimeoutMs, maxBuffer: 16 * MiB }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Skips the test when a tool is missing; true when it may run. */
function needs(t: TestContext, ...tools: string[]): boolean {
  const missing = tools.filter((tool) => !installed(tool));
  if (missing.length > 0) t.skip(`not installed: ${missing.join(', ')}`);
  return missing.length === 0;
}

let harness: Harness;
let workDirectory: string;

before(async () => {
  harness = await startServer({ keepEvents: true });
  workDirectory = mkdtempSync(path.join(tmpdir(), 'strata-nbd-interop-'));
});
after(async () => {
  await harness.close();
  rmSync(workDirectory, { recursive: true, force: true });
});

/** A 4 MiB sparse raw image: 1 MiB of random data at 1 MiB and a few bytes near the end. */
function sparseImage(fileName: string): { file: string; content: Buffer } {
  const content = Buffer.alloc(4 * MiB);
  randomBytes(MiB).copy(content, MiB);
  const tailOffset = 3 * MiB + 512 * 1024;
  Buffer.from('strata').copy(content, tailOffset + 7);
  const file = path.join(workDirectory, fileName);
  // Write only the data regions so the file stays sparse.
  const descriptor = openSync(file, 'w');
  ftruncateSync(descriptor, content.length);
  writeSync(descriptor, content, MiB, MiB, MiB);
  writeSync(descriptor, content, tailOffset, 4096, tailOffset);
  closeSync(descriptor);
  return { file, content };
}

describe('qemu-io', () => {
  it('writes a pattern and reads it back; a wrong pattern is detected', async (t) => {
    if (!needs(t, 'qemu-io')) return;
    const { device, name } = addMemoryExport(harness, { sizeBytes: 4 * MiB });
    const uri = harness.uri(name);
    const result = await run('qemu-io', ['-f', 'raw', uri, '-c', 'write -P 0xab 0 64k', '-c', 'read -P 0xab 0 64k']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /wrote 65536\/65536 bytes at offset 0/);
    assert.match(result.stdout, /read 65536\/65536 bytes at offset 0/);
    assert.doesNotMatch(result.stdout + result.stderr, /Pattern verification failed/);
    assert.deepEqual(device.peek(0, 65_536), Buffer.alloc(65_536, 0xab));
    const wrong = await run('qemu-io', ['-f', 'raw', uri, '-c', 'read -P 0xcd 0 64k']);
    assert.match(wrong.stdout + wrong.stderr, /Pattern verification failed/);
  });

  it('cannot write to a read-only export, and reads from it', async (t) => {
    if (!needs(t, 'qemu-io')) return;
    const { device, name } = addMemoryExport(harness, { sizeBytes: MiB, readOnly: true });
    device.poke(0, Buffer.alloc(4096, 0x11));
    const write = await run('qemu-io', ['-f', 'raw', harness.uri(name), '-c', 'write -P 0x22 0 4k']);
    assert.notEqual(write.code, 0);
    assert.doesNotMatch(write.stdout, /wrote/);
    assert.deepEqual(device.peek(0, 4096), Buffer.alloc(4096, 0x11));
    assert.deepEqual(device.calls.filter((call) => call.op !== 'read' && call.op !== 'blockStatus'), []);
    const read = await run('qemu-io', ['-r', '-f', 'raw', harness.uri(name), '-c', 'read -P 0x11 0 4k']);
    assert.equal(read.code, 0, read.stderr);
    assert.match(read.stdout, /read 4096\/4096 bytes/);
  });
});

describe('qemu-img', () => {
  it('converts an image onto the export and back, and compares', async (t) => {
    if (!needs(t, 'qemu-img')) return;
    const { file, content } = sparseImage('qemu-source.img');
    const { device, name } = addMemoryExport(harness, { sizeBytes: content.length });
    const uri = harness.uri(name);
    const upload = await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', file, uri]);
    assert.equal(upload.code, 0, upload.stderr);
    assert.ok(device.peek(0, content.length).equals(content), 'export holds the image');
    const copy = path.join(workDirectory, 'qemu-copy.img');
    const download = await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', uri, copy]);
    assert.equal(download.code, 0, download.stderr);
    assert.ok(readFileSync(copy).equals(content), 'downloaded image equals the source');
    const same = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', file, uri]);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    device.poke(2 * MiB + 5, Buffer.from([0xfe]));
    const differ = await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', file, uri]);
    assert.equal(differ.code, 1, differ.stdout + differ.stderr);
  });
});

describe('nbdcopy', () => {
  it('copies an image onto the export over several connections, and back sparsely', async (t) => {
    if (!needs(t, 'nbdcopy')) return;
    const { file, content } = sparseImage('nbdcopy-source.img');
    const { device, name } = addMemoryExport(harness, { sizeBytes: content.length });
    const uri = harness.uri(name);
    const opensBefore = harness.events.filter((event) => event.type === 'connection-open').length;
    const upload = await run('nbdcopy', ['--connections=4', file, uri]);
    assert.equal(upload.code, 0, upload.stderr);
    const opens = harness.events.filter((event) => event.type === 'connection-open').length - opensBefore;
    assert.ok(opens > 1, `nbdcopy used ${opens} connection(s): multi-conn is advertised`);
    assert.ok(device.peek(0, content.length).equals(content), 'export holds the image');
    const copy = path.join(workDirectory, 'nbdcopy-copy.img');
    const download = await run('nbdcopy', [uri, copy]);
    assert.equal(download.code, 0, download.stderr);
    assert.ok(readFileSync(copy).equals(content), 'downloaded image equals the source');
    // Holes came back as holes (when the file system keeps files sparse at all).
    if (statSync(file).blocks * 512 < content.length) {
      assert.ok(statSync(copy).blocks * 512 < content.length, 'the copy is sparse');
    }
  });
});

describe('nbdinfo', () => {
  it('reports size, block sizes, flags and base:allocation', async (t) => {
    if (!needs(t, 'nbdinfo')) return;
    const { name } = addMemoryExport(harness, { sizeBytes: 4 * MiB });
    const result = await run('nbdinfo', ['--json', harness.uri(name)]);
    assert.equal(result.code, 0, result.stderr);
    const info = JSON.parse(result.stdout) as { exports: Record<string, unknown>[] };
    const [exported] = info.exports;
    assert.equal(exported?.['export-size'], 4 * MiB);
    assert.equal(exported?.['block_size_minimum'], 1);
    assert.equal(exported?.['block_size_preferred'], 4096);
    assert.equal(exported?.['block_size_maximum'], 32 * MiB);
    assert.equal(exported?.['is_read_only'], false);
    assert.equal(exported?.['can_multi_conn'], true);
    assert.equal(exported?.['can_fua'], true);
    assert.equal(exported?.['can_zero'], true);
    assert.deepEqual(exported?.['contexts'], ['base:allocation']);
  });

  it('--map shows data and holes as the device has them', async (t) => {
    if (!needs(t, 'nbdinfo')) return;
    const { device, name } = addMemoryExport(harness, { sizeBytes: 4 * MiB });
    device.poke(MiB, Buffer.alloc(MiB, 7));
    const result = await run('nbdinfo', ['--map', harness.uri(name)]);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n').map((line) => line.trim().split(/\s+/));
    assert.deepEqual(lines, [
      ['0', String(MiB), '3', 'hole,zero'],
      [String(MiB), String(MiB), '0', 'data'],
      [String(2 * MiB), String(2 * MiB), '3', 'hole,zero'],
    ]);
  });

  it('--can multi-conn is true; --is read-only tells the two kinds of export apart', async (t) => {
    if (!needs(t, 'nbdinfo')) return;
    const writable = addMemoryExport(harness, { sizeBytes: MiB }).name;
    const readOnly = addMemoryExport(harness, { sizeBytes: MiB, readOnly: true }).name;
    assert.equal((await run('nbdinfo', ['--can', 'multi-conn', harness.uri(writable)])).code, 0);
    assert.equal((await run('nbdinfo', ['--is', 'read-only', harness.uri(writable)])).code, 2);
    assert.equal((await run('nbdinfo', ['--is', 'read-only', harness.uri(readOnly)])).code, 0);
  });

  it('--list reveals no export name', async (t) => {
    if (!needs(t, 'nbdinfo')) return;
    const { name } = addMemoryExport(harness, { sizeBytes: MiB });
    const result = await run('nbdinfo', ['--list', `nbd://127.0.0.1:${harness.port}`]);
    assert.ok(!(result.stdout + result.stderr).includes(name));
  });
});

describe('fio', () => {
  it('4k random writes, then random reads that verify them; corruption is caught', async (t) => {
    if (!needs(t, 'fio')) return;
    const { device, name } = addMemoryExport(harness, { sizeBytes: 4 * MiB, recordCalls: false });
    const job = ['--name=strata', '--ioengine=nbd', `--uri=${harness.uri(name)}`, '--bs=4k', '--size=1m', '--verify=crc32c', '--verify_state_save=0', '--output-format=json'];
    const jobResult = (result: RunResult): { error: number; read: number; write: number } => {
      const report = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as {
        jobs: { error: number; read: { io_bytes: number }; write: { io_bytes: number } }[];
      };
      const [first] = report.jobs;
      return { error: first?.error ?? -1, read: first?.read.io_bytes ?? -1, write: first?.write.io_bytes ?? -1 };
    };
    const writes = await run('fio', [...job, '--rw=randwrite', '--do_verify=0']);
    assert.equal(writes.code, 0, writes.stderr);
    assert.deepEqual(jobResult(writes), { error: 0, read: 0, write: MiB });
    assert.equal(device.pages.size, MiB / 4096, 'every 4k block of the first MiB was written');
    const reads = await run('fio', [...job, '--rw=randread']);
    assert.equal(reads.code, 0, reads.stderr);
    assert.deepEqual(jobResult(reads), { error: 0, read: MiB, write: 0 });
    device.poke(8192 + 100, Buffer.from([0xff, 0x00, 0xff]));
    const corrupted = await run('fio', [...job, '--rw=randread']);
    assert.notEqual(corrupted.code, 0);
    assert.match(corrupted.stderr + corrupted.stdout, /verify/);
  });
});
