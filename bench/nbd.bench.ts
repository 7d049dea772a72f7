/**
 * Strata over NBD beside qemu-nbd serving a qcow2 file: the same clients, the same machine, the
 * same run, alternating. Prints each figure, the ratio Strata / qemu-nbd (higher is better for
 * Strata), a table, and one JSON line.
 *
 *   npm run bench:nbd               3 rounds, 1 GiB copies, 10 s fio runs
 *   npm run bench:nbd -- --quick    1 round, 256 MiB copies, 3 s fio runs
 *
 * Needs qemu-img, qemu-nbd (qemu-utils), nbdcopy (libnbd-bin) and fio. Both servers use their
 * default cache modes (qemu-nbd: writeback; Strata: durable on FLUSH/FUA), and both get a
 * fresh, empty image for every copy-in so neither is measured on the other's leftovers.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const quick = process.argv.includes('--quick');
const MiB = 1024 * 1024;
const copyBytes = (quick ? 256 : 1024) * MiB;
const fioSeconds = quick ? 3 : 10;
const rounds = quick ? 1 : 3;
const mainJs = join(import.meta.dirname, '..', 'src', 'main.js');
const work = mkdtempSync(join(tmpdir(), 'strata-nbd-bench-'));

for (const tool of ['qemu-img', 'qemu-nbd', 'nbdcopy', 'fio']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`bench:nbd needs ${tool}; install qemu-utils, libnbd-bin and fio (scripts/install-test-tools.sh)`);
    process.exit(2);
  }
}

interface Target {
  name: string;
  /** A fresh, empty export of `sizeBytes`; returns its NBD URI. */
  fresh(sizeBytes: number): Promise<string>;
  stop(): Promise<void>;
}

async function startStrata(): Promise<Target> {
  const dataDir = join(work, 'strata-data');
  const child = spawn(
    process.execPath,
    [mainJs, 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--nbd-listen', '127.0.0.1:0', '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...(process.env.STRATA_BENCH_CPU_PROF ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.STRATA_BENCH_CPU_PROF}` } : {}) },
    },
  );
  const api = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /^api: (\S+)$/m.exec(output);
      if (match !== null) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`strata serve exited with ${code}`)));
  });
  let previous: { volume: string; attachment: string } | null = null;
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${api}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return response.status === 204 ? (null as T) : ((await response.json()) as T);
  };
  return {
    name: 'strata',
    async fresh(sizeBytes) {
      if (previous !== null) await call('DELETE', `/api/v1/attachments/${previous.attachment}`);
      const volume = (await call<{ volume: { id: string } }>('POST', '/api/v1/volumes', { size_bytes: sizeBytes })).volume.id;
      const attachment = (await call<{ attachment: { id: string; uri: string } }>('POST', `/api/v1/volumes/${volume}/attachments`, {})).attachment;
      previous = { volume, attachment: attachment.id };
      return attachment.uri;
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

async function startQemuNbd(): Promise<Target> {
  let child: ChildProcess | null = null;
  let serial = 0;
  const stopChild = async (): Promise<void> => {
    if (child === null) return;
    const exiting = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exiting;
    child = null;
  };
  return {
    name: 'qemu-nbd',
    async fresh(sizeBytes) {
      await stopChild();
      const image = join(work, `qemu-${serial++}.qcow2`);
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(sizeBytes)]);
      const port = 20000 + Math.floor(Math.random() * 20000);
      child = spawn('qemu-nbd', ['-f', 'qcow2', '-b', '127.0.0.1', '-p', String(port), '-x', 'bench', '--persistent', '--shared=16', image], { stdio: 'inherit' });
      const uri = `nbd://127.0.0.1:${port}/bench`;
      for (let attempt = 0; attempt < 100; attempt++) {
        if (spawnSync('nbdinfo', ['--size', uri], { stdio: 'ignore' }).status === 0) return uri;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error('qemu-nbd did not start');
    },
    stop: stopChild,
  };
}

/** A source file of non-zero, incompressible-looking data, so neither side can skip it. */
function makeSource(): string {
  const path = join(work, 'source.raw');
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(MiB);
  let state = 0x12345678;
  for (let written = 0; written < copyBytes; written += MiB) {
    for (let i = 0; i < block.length; i += 4) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      block.writeInt32LE(state | 1, i);
    }
    writeSync(fd, block);
  }
  closeSync(fd);
  return path;
}

async function timed(body: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await body();
  return (performance.now() - t0) / 1000;
}

async function fio(uri: string, rw: 'randwrite' | 'randread'): Promise<number> {
  const { stdout } = await run(
    'fio',
    ['--name=bench', '--ioengine=nbd', `--uri=${uri}`, `--rw=${rw}`, '--bs=4k', '--iodepth=16', `--size=${copyBytes}`, '--time_based', `--runtime=${fioSeconds}`, '--output-format=json'],
    { cwd: work, maxBuffer: 16 * MiB },
  );
  const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: { read: { iops: number }; write: { iops: number } }[] };
  return rw === 'randwrite' ? report.jobs[0]!.write.iops : report.jobs[0]!.read.iops;
}

async function measure(target: Target, source: string, results: Map<string, number[]>): Promise<void> {
  const push = (figure: string, value: number): void => {
    const key = `${target.name}|${figure}`;
    results.set(key, [...(results.get(key) ?? []), value]);
    console.error(`  ${target.name.padEnd(8)} ${figure}: ${value.toFixed(1)}`);
  };
  const uri = await target.fresh(copyBytes);
  push('nbdcopy write MiB/s', copyBytes / MiB / (await timed(() => run('nbdcopy', ['--flush', source, uri]))));
  push('nbdcopy read MiB/s', copyBytes / MiB / (await timed(() => run('nbdcopy', [uri, 'null:']))));
  push('fio 4k randwrite qd16 IOPS', await fio(uri, 'randwrite'));
  push('fio 4k randread qd16 IOPS', await fio(uri, 'randread'));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  console.error(`strata vs qemu-nbd (qcow2), ${rounds} round(s), ${copyBytes / MiB} MiB copies, ${fioSeconds} s fio runs`);
  const source = makeSource();
  const strata = await startStrata();
  const qemu = await startQemuNbd();
  const results = new Map<string, number[]>();
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? [strata, qemu] : [qemu, strata];
      for (const target of order) await measure(target, source, results);
    }
  } finally {
    await strata.stop();
    await qemu.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const figures = ['nbdcopy write MiB/s', 'nbdcopy read MiB/s', 'fio 4k randwrite qd16 IOPS', 'fio 4k randread qd16 IOPS'];
  const rows = figures.map((figure) => {
    const ours = median(results.get(`strata|${figure}`)!);
    const theirs = median(results.get(`qemu-nbd|${figure}`)!);
    return { figure, strata: ours, qemuNbd: theirs, ratio: ours / theirs, goal: '>= 1.0', met: ours / theirs >= 1 };
  });
  console.log(`${'figure'.padEnd(28)} ${'strata'.padStart(10)} ${'qemu-nbd'.padStart(10)} ${'ratio'.padStart(7)}  goal`);
  for (const row of rows) {
    console.log(
      `${row.figure.padEnd(28)} ${row.strata.toFixed(1).padStart(10)} ${row.qemuNbd.toFixed(1).padStart(10)} ${row.ratio.toFixed(2).padStart(7)}  ${row.goal} ${row.met ? 'met' : 'NOT met'}`,
    );
  }
  console.log(JSON.stringify({ bench: 'nbd', quick, copyBytes, fioSeconds, rounds, figures: rows }));
}

await main();
