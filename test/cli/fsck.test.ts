import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, openSync, readSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createPool } from '../../src/engine/index.js';
import { FileStorage } from '../../src/storage/index.js';

const run = promisify(execFile);
const mainJs = join(import.meta.dirname, '..', '..', 'src', 'main.js');

test('strata fsck passes a clean stopped pool and exits 1 with a report on a damaged one', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'strata-fsck-'));
  try {
    const engine = await createPool(new FileStorage(join(dataDir, 'pool')), { chunkSizeBytes: 16384 });
    const volume = await engine.createVolume({ sizeBytes: 1 << 20 });
    await engine.write(volume.id, 0, Buffer.alloc(65536, 0x61));
    await engine.createSnapshot(volume.id);
    await engine.write(volume.id, 4096, Buffer.alloc(4096, 0x62));
    await engine.close();

    const clean = await run(process.execPath, [mainJs, 'fsck', '--data-dir', dataDir]);
    assert.match(clean.stdout, /1 volumes, 1 snapshots/);
    assert.match(clean.stdout, /^ok$/m);

    // Flip one byte of stored data, as a failing disk would.
    const fd = openSync(join(dataDir, 'pool', 'data'), 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, 100);
    byte[0] ^= 0xff;
    writeSync(fd, byte, 0, 1, 100);
    closeSync(fd);

    const damaged = await run(process.execPath, [mainJs, 'fsck', '--data-dir', dataDir]).then(
      () => assert.fail('fsck exited 0 on a damaged pool'),
      (error: { code: number; stdout: string }) => error,
    );
    assert.equal(damaged.code, 1);
    assert.match(damaged.stdout, /^violation: slot \d+ sector 0: checksum mismatch$/m);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
