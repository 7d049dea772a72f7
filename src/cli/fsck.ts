/**
 * `strata fsck --data-dir DIR`: checks every invariant of a stopped pool, changing nothing.
 *
 * It holds the data directory's lock while it runs, so it refuses a pool that `strata serve`
 * is serving (BUSY, naming the server's pid) and no server starts on the pool meanwhile. A live
 * pool's files change under the reader (unsynced data, a journal being appended, a checkpoint
 * being swapped), so a check of them would report violations that are not there, or miss some.
 */
import { openPool } from '../engine/index.js';
import { lockDataDir } from '../storage/data-dir.js';
import { FileStorage } from '../storage/index.js';

export async function runFsck(dataDir: string, print: (line: string) => void): Promise<number> {
  const lock = lockDataDir(dataDir, 'fsck checks a stopped pool: stop the server first');
  try {
    return await checkLocked(dataDir, print);
  } finally {
    lock.release();
  }
}

async function checkLocked(dataDir: string, print: (line: string) => void): Promise<number> {
  const storage = new FileStorage(`${dataDir}/pool`);
  const engine = await openPool(storage, { readOnly: true });
  try {
    const report = await engine.fsck();
    const { stats } = report;
    print(
      `pool ${storage.location}: ${stats.volumes} volumes, ${stats.snapshots} snapshots, ${stats.entries} map entries, ` +
        `${stats.chunksReferenced} chunks in use, ${stats.chunksFree} free, ${stats.bytesVerified} bytes verified`,
    );
    for (const violation of report.violations) print(`violation: ${violation}`);
    print(report.ok ? 'ok' : `${report.violations.length} violations`);
    return report.ok ? 0 : 1;
  } finally {
    await engine.close();
  }
}
