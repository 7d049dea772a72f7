import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isStrataError } from '../../src/lib/errors.js';
import { FileStorage, SyncCoverage } from '../../src/storage/file.js';

describe('FileStorage', () => {
  let root: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'strata-file-storage-'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates its directory, and writes, syncs and reads back data at any offset', async () => {
    const storage = new FileStorage(join(root, 'a', 'b'));
    const file = await storage.open('data', { create: true });
    await storage.syncDirectory();
    const data = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.byteLength; i++) data[i] = (i * 31) & 0xff;
    await file.write(data, 4093);
    await file.sync();
    assert.equal(await file.sizeBytes(), 4093 + data.byteLength);
    const back = new Uint8Array(data.byteLength + 100);
    assert.equal(await file.read(back, 50, data.byteLength + 50, 4093), data.byteLength, 'short read at end of file');
    assert.deepEqual(back.subarray(50, 50 + data.byteLength), data);
    const head = new Uint8Array(4093).fill(1);
    await file.read(head, 0, 4093, 0);
    assert.deepEqual(head, new Uint8Array(4093), 'the hole before the write reads as zeroes');
    await file.close();
  });

  it('reopens existing files without truncating them, and truncates on request', async () => {
    const storage = new FileStorage(join(root, 'reopen'));
    const first = await storage.open('f', { create: true });
    await first.write(new Uint8Array([1, 2, 3, 4]), 0);
    await first.close();
    const second = await storage.open('f', { create: true });
    assert.equal(await second.sizeBytes(), 4);
    await second.truncate(2);
    await second.truncate(6);
    const bytes = new Uint8Array(6);
    assert.equal(await second.read(bytes, 0, 6, 0), 6);
    assert.deepEqual([...bytes], [1, 2, 0, 0, 0, 0]);
    await second.close();
  });

  it('lists plain file names, tells existence and removes idempotently', async () => {
    const storage = new FileStorage(join(root, 'names'));
    await (await storage.open('b', { create: true })).close();
    await (await storage.open('a', { create: true })).close();
    assert.deepEqual(await storage.list(), ['a', 'b']);
    assert.equal(await storage.exists('a'), true);
    await storage.remove('a');
    await storage.remove('a');
    await storage.syncDirectory();
    assert.equal(await storage.exists('a'), false);
    assert.deepEqual(await storage.list(), ['b']);
  });

  it('reports file system failures as IO_ERROR with the errno', async () => {
    const storage = new FileStorage(join(root, 'errors'));
    await assert.rejects(
      storage.open('missing', { create: false }),
      (error) => isStrataError(error, 'IO_ERROR') && error.details?.errno === 'ENOENT',
    );
    const file = await storage.open('f', { create: true });
    await file.close();
    await assert.rejects(file.write(new Uint8Array(1), 0), (error) => isStrataError(error, 'IO_ERROR'));
  });

  it('a full file system is NO_SPACE, not IO_ERROR, and the message names no path', async () => {
    const storage = new FileStorage(join(root, 'full'));
    // /dev/full answers every write with ENOSPC, as a full file system does.
    await symlink('/dev/full', join(root, 'full', 'device'));
    const file = await storage.open('device', { create: false });
    await assert.rejects(file.write(new Uint8Array(4096), 0), (error) => {
      assert.ok(isStrataError(error, 'NO_SPACE'), String(error));
      assert.equal(error.details?.errno, 'ENOSPC');
      assert.ok(!error.message.includes(root), `the message names a path: ${error.message}`);
      return true;
    });
    await file.close();
  });

  it('writes to guarded files stop short of the reserve; other files may use it', async () => {
    const reserve = { files: ['data'], freeBytesMin: Number.MAX_SAFE_INTEGER, checkIntervalMs: 1000 };
    const storage = new FileStorage(join(root, 'reserve'), { reserve });
    const data = await storage.open('data', { create: true });
    const journal = await storage.open('journal', { create: true });
    await assert.rejects(data.write(new Uint8Array(4096), 0), (error) => isStrataError(error, 'NO_SPACE'));
    await journal.write(new Uint8Array(4096).fill(7), 0);
    assert.equal(await journal.sizeBytes(), 4096);
    assert.equal(await data.sizeBytes(), 0, 'a refused write wrote something');
    await data.close();
    await journal.close();
    const roomy = new FileStorage(join(root, 'reserve'), { reserve: { ...reserve, freeBytesMin: 0 } });
    const again = await roomy.open('data', { create: false });
    await again.write(new Uint8Array(4096), 0);
    await again.close();
  });
});

describe('SyncCoverage (which syncs reach the disk)', () => {
  /** A sync function whose calls the test finishes by hand. */
  const controlled = () => {
    const calls: Array<() => void> = [];
    const syncNow = () => new Promise<void>((resolve) => calls.push(resolve));
    return { calls, coverage: new SyncCoverage(syncNow) };
  };

  it('skips the system call when nothing changed since the last completed sync', async () => {
    const { calls, coverage } = controlled();
    await coverage.sync();
    assert.equal(calls.length, 0, 'a sync with no change called the system');
    coverage.changed();
    const first = coverage.sync();
    assert.equal(calls.length, 1);
    calls[0]();
    await first;
    await coverage.sync();
    assert.equal(calls.length, 1, 'a second sync with no new change called the system again');
  });

  it('a change made while a sync runs gets a sync of its own: the running one does not cover it', async () => {
    const { calls, coverage } = controlled();
    coverage.changed();
    const first = coverage.sync();
    coverage.changed();
    let secondDone = false;
    const second = coverage.sync().then(() => {
      secondDone = true;
    });
    assert.equal(calls.length, 2, 'the second change did not get its own sync');
    calls[0]();
    await first;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(secondDone, false, 'the second sync resolved before its system call did');
    calls[1]();
    await second;
  });

  it('a sync called while a covering sync runs waits for that one instead of resolving at once', async () => {
    const { calls, coverage } = controlled();
    coverage.changed();
    const first = coverage.sync();
    let joinedDone = false;
    const joined = coverage.sync().then(() => {
      joinedDone = true;
    });
    assert.equal(calls.length, 1, 'a covered sync called the system again');
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(joinedDone, false, 'a joined sync resolved before the running one');
    calls[0]();
    await Promise.all([first, joined]);
  });

  it('a failed sync leaves its changes not durable: the next sync tries again', async () => {
    let fail = true;
    let count = 0;
    const coverage = new SyncCoverage(async () => {
      count++;
      if (fail) throw new Error('EIO');
    });
    coverage.changed();
    await assert.rejects(coverage.sync(), /EIO/);
    fail = false;
    await coverage.sync();
    assert.equal(count, 2, 'the sync after a failure was skipped');
  });
});
