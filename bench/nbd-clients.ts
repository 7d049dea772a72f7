/**
 * What the NBD benchmarks (nbd.bench.ts, rbd.bench.ts) share: one fio job over NBD, waiting for
 * a freshly started NBD server to answer, and the median of a round's figures.
 */
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MiB = 1024 * 1024;

export interface FioResult {
  readMiBs: number;
  writeMiBs: number;
  iops: number;
}

/** One fio job over NBD on the first `sizeBytes` of `uri`; `extra` adds or overrides options. */
export async function fio(uri: string, sizeBytes: number, extra: string[], cwd: string): Promise<FioResult> {
  const { stdout } = await run(
    'fio',
    ['--name=bench', '--ioengine=nbd', `--uri=${uri}`, `--size=${sizeBytes}`, '--output-format=json', '--randrepeat=0', ...extra],
    { cwd, maxBuffer: 64 * MiB },
  );
  const job = (JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: { read: { iops: number; bw_bytes: number }; write: { iops: number; bw_bytes: number } }[] }).jobs[0]!;
  return { readMiBs: job.read.bw_bytes / MiB, writeMiBs: job.write.bw_bytes / MiB, iops: job.read.iops + job.write.iops };
}

/** Resolves to `uri` once an NBD server answers there (nbdinfo), or throws after 5 s. */
export async function whenServing(uri: string, what: string): Promise<string> {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (spawnSync('nbdinfo', ['--size', uri], { stdio: 'ignore' }).status === 0) return uri;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not start`);
}

export function median(values: number[] | undefined): number {
  if (values === undefined) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
