/** `strata fsck --data-dir DIR`: checks every invariant of a stopped pool, changing nothing. */
import { openPool } from '../engine/index.js';
import { FileStorage } from '../storage/index.js';

export async function runFsck(dataDir: string, print: (line: string) => void): Promise<number> {
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
