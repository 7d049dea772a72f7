/**
 * The data path as users see it: `strata serve` beside qemu-nbd serving a qcow2 image (its
 * defaults), the same clients (fio's nbd engine, nbdcopy), the same run, alternating order each
 * round, on a volume that is filled first. Prints every figure with its ratio Strata / qemu-nbd
 * and its target, a table, and one JSON line.
 *
 *   npm run bench:nbd                  2 rounds, 8 GiB filled, 10 s fio runs, depths 500 and 5000
 *   npm run bench:nbd -- --quick       1 round, 1 GiB filled, 3 s fio runs, depth 100
 *   STRATA_BENCH_GIB=16 STRATA_BENCH_DEPTHS=500,5000 npm run bench:nbd
 *
 * Both volumes are 1 TiB (sparse); the fill and every fio job cover the first N GiB, so the
 * snapshot-create latency is measured on a 1 TiB volume holding N GiB. The depth figure: fio 4 KiB
 * random reads while a 64 KiB random writer runs at 200 IOPS, before and after D snapshots are
 * taken through the API with the writer running (qemu-nbd has no snapshots under qemu-nbd: its
 * figure is the same reads beside the same writer).
 *
 * Needs qemu-img, qemu-nbd (qemu-utils), nbdcopy (libnbd-bin) and fio.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fio as runFio, type FioResult, median, whenServing } from './nbd-clients.js';
import { api, startServe, stopServe, type Server } from '../test/serve/process.js';

const run = promisify(execFile);
const quick = process.argv.includes('--quick');
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const fillBytes = Number(process.env.STRATA_BENCH_GIB ?? (quick ? 1 : 8)) * GiB;
const volumeBytes = 1024 * GiB;
const copyBytes = (quick ? 256 : 1024) * MiB;
const fioSeconds = quick ? 3 : 10;
const rounds = Number(process.env.STRATA_BENCH_ROUNDS ?? (quick ? 1 : 2));
const depths = (process.env.STRATA_BENCH_DEPTHS ?? (quick ? '100' : '500,5000')).split(',').map(Number);
const work = mkdtempSync(join(tmpdir(), 'strata-nbd-bench-'));

for (const tool of ['qemu-img', 'qemu-nbd', 'nbdcopy', 'fio']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`bench:nbd needs ${tool}; install qemu-utils, libnbd-bin and fio (scripts/install-test-tools.sh)`);
    process.exit(2);
  }
}

interface Target {
  name: 'strata' | 'qemu-nbd';
  /** A fresh, empty export of `sizeBytes`; returns its NBD URI. */
  fresh(sizeBytes: number): Promise<string>;
  /** Takes `count` snapshots of the current export; returns each create's latency in ms. */
  snapshots(count: number): Promise<number[]>;
  stop(): Promise<void>;
}

async function startStrata(): Promise<Target> {
  const server: Server = await startServe(join(work, 'strata-data'), 'bench-password-1');
  let current: { volume: string; attachment: string } | null = null;
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const answer = await api<T>(server, method, path, body);
    if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  return {
    name: 'strata',
    async fresh(sizeBytes) {
      if (current !== null) {
        await call('DELETE', `/api/v1/attachments/${current.attachment}`);
        await call('DELETE', `/api/v1/volumes/${current.volume}?cascade=true`).catch(() => undefined);
      }
      const volume = (await call<{ volume: { id: string } }>('POST', '/api/v1/volumes', { name: `bench-${Date.now()}`, size_bytes: sizeBytes })).volume.id;
      const attachment = (await call<{ attachment: { id: string; uri: string } }>('POST', `/api/v1/volumes/${volume}/attachments`, {})).attachment;
      current = { volume, attachment: attachment.id };
      return attachment.uri;
    },
    async snapshots(count) {
      const latencies: number[] = [];
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        await call('POST', `/api/v1/volumes/${current!.volume}/snapshots`, { name: `depth-${i}` });
        latencies.push(performance.now() - t0);
      }
      return latencies;
    },
    async stop() {
      await stopServe(server);
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
      rmSync(join(work, `qemu-${serial - 1}.qcow2`), { force: true });
      const image = join(work, `qemu-${serial++}.qcow2`);
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', image, String(sizeBytes)]);
      const port = 20000 + Math.floor(Math.random() * 20000);
      child = spawn('qemu-nbd', ['-f', 'qcow2', '-b', '127.0.0.1', '-p', String(port), '-x', 'bench', '--persistent', '--shared=16', image], { stdio: 'inherit' });
      return whenServing(`nbd://127.0.0.1:${port}/bench`, 'qemu-nbd');
    },
    async snapshots() {
      return [];
    },
    stop: stopChild,
  };
}

/** A source file of incompressible-looking data, so neither side can skip it. */
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


const fio = (uri: string, extra: string[]): Promise<FioResult> => runFio(uri, fillBytes, extra, work);

const timeBased = (): string[] => ['--time_based', `--runtime=${fioSeconds}`];

/** A 64 KiB random writer at 200 IOPS, running until stopped. */
function backgroundWriter(uri: string): { stop(): Promise<void> } {
  const child = spawn('fio', ['--name=writer', '--ioengine=nbd', `--uri=${uri}`, `--size=${fillBytes}`, '--rw=randwrite', '--bs=64k', '--iodepth=4', '--rate_iops=200', '--time_based', '--runtime=3600'], {
    cwd: work,
    stdio: 'ignore',
  });
  return {
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function timed(body: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await body();
  return (performance.now() - t0) / 1000;
}

type Results = Map<string, number[]>;

async function measure(target: Target, source: string, results: Results): Promise<void> {
  const push = (figure: string, value: number): void => {
    const key = `${target.name}|${figure}`;
    results.set(key, [...(results.get(key) ?? []), value]);
    console.error(`  ${target.name.padEnd(8)} ${figure}: ${value.toFixed(1)}`);
  };
  const uri = await target.fresh(volumeBytes);
  push('fill 1M qd8 MiB/s', (await fio(uri, ['--rw=write', '--bs=1M', '--iodepth=8', '--end_fsync=1'])).writeMiBs);
  push('seq read 1M qd8 MiB/s', (await fio(uri, ['--rw=read', '--bs=1M', '--iodepth=8'])).readMiBs);
  push('4k randwrite qd16 IOPS', (await fio(uri, ['--rw=randwrite', '--bs=4k', '--iodepth=16', ...timeBased()])).iops);
  push('4k randwrite fsync/16 IOPS', (await fio(uri, ['--rw=randwrite', '--bs=4k', '--iodepth=16', '--fsync=16', ...timeBased()])).iops);
  push('4k randread qd16 IOPS', (await fio(uri, ['--rw=randread', '--bs=4k', '--iodepth=16', ...timeBased()])).iops);
  push('64k 70/30 qd16 IOPS', (await fio(uri, ['--rw=randrw', '--rwmixread=70', '--bs=64k', '--iodepth=16', ...timeBased()])).iops);
  const writer = backgroundWriter(uri);
  try {
    await new Promise((resolve) => setTimeout(resolve, 500));
    push('4k randread +writer d0 IOPS', (await fio(uri, ['--rw=randread', '--bs=4k', '--iodepth=16', ...timeBased()])).iops);
    let taken = 0;
    for (const depth of depths) {
      const latencies = await target.snapshots(depth - taken);
      taken = depth;
      if (latencies.length > 0) {
        latencies.sort((a, b) => a - b);
        push(`snapshot create p50 ms (to d${depth})`, latencies[Math.floor(latencies.length * 0.5)]!);
        push(`snapshot create p99 ms (to d${depth})`, latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]!);
      }
      push(`4k randread +writer d${depth} IOPS`, (await fio(uri, ['--rw=randread', '--bs=4k', '--iodepth=16', ...timeBased()])).iops);
    }
  } finally {
    await writer.stop();
  }
  const copyUri = await target.fresh(2 * copyBytes);
  push('nbdcopy write MiB/s', copyBytes / MiB / (await timed(() => run('nbdcopy', ['--flush', source, copyUri]))));
  push('nbdcopy read MiB/s', copyBytes / MiB / (await timed(() => run('nbdcopy', [copyUri, 'null:']))));
}

/** The disk's own sequential write speed: dd of 1 GiB with an fsync at the end. */
async function diskFigure(results: Results): Promise<void> {
  const path = join(work, 'dd.raw');
  const seconds = await timed(() => run('dd', ['if=/dev/zero', `of=${path}`, 'bs=1M', 'count=1024', 'conv=fsync']));
  rmSync(path, { force: true });
  results.set('disk|dd MiB/s', [...(results.get('disk|dd MiB/s') ?? []), 1024 / seconds]);
  console.error(`  disk     dd 1M conv=fsync MiB/s: ${(1024 / seconds).toFixed(1)}`);
}


interface Row {
  figure: string;
  strata: number;
  peer: number;
  ratio: number;
  goal: string;
  met: boolean;
}

function rowsOf(results: Results): Row[] {
  const rows: Row[] = [];
  const figures = [...new Set([...results.keys()].filter((key) => key.startsWith('strata|')).map((key) => key.slice('strata|'.length)))];
  const disk = median(results.get('disk|dd MiB/s')!);
  const d0 = median(results.get('strata|4k randread +writer d0 IOPS')!);
  for (const figure of figures) {
    const ours = median(results.get(`strata|${figure}`)!);
    if (figure.startsWith('snapshot create p99')) {
      rows.push({ figure, strata: ours, peer: NaN, ratio: NaN, goal: '<= 10 ms', met: ours <= 10 });
      continue;
    }
    if (figure.startsWith('snapshot create')) {
      rows.push({ figure, strata: ours, peer: NaN, ratio: NaN, goal: '-', met: true });
      continue;
    }
    const theirs = median(results.get(`qemu-nbd|${figure}`) ?? results.get('qemu-nbd|4k randread +writer d0 IOPS')!);
    rows.push({ figure, strata: ours, peer: theirs, ratio: ours / theirs, goal: '>= 1.0 x qemu-nbd', met: ours / theirs >= 1 });
    if (figure === 'fill 1M qd8 MiB/s') rows.push({ figure: 'fill / disk dd', strata: ours, peer: disk, ratio: ours / disk, goal: '>= 0.9 x disk', met: ours / disk >= 0.9 });
    if (/^4k randread \+writer d[1-9]/.test(figure)) rows.push({ figure: `${figure} / d0`, strata: ours, peer: d0, ratio: ours / d0, goal: '>= 0.95 x depth 0', met: ours / d0 >= 0.95 });
  }
  return rows;
}

async function main(): Promise<void> {
  console.error(`strata vs qemu-nbd (qcow2): ${rounds} round(s), ${fillBytes / GiB} GiB filled of 1 TiB, ${fioSeconds} s fio runs, depths ${depths.join(',')}`);
  const source = makeSource();
  const strata = await startStrata();
  const qemu = await startQemuNbd();
  const results: Results = new Map();
  try {
    for (let round = 0; round < rounds; round++) {
      await diskFigure(results);
      const order = round % 2 === 0 ? [strata, qemu] : [qemu, strata];
      for (const target of order) await measure(target, source, results);
    }
  } finally {
    await strata.stop();
    await qemu.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const rows = rowsOf(results);
  const fmt = (value: number): string => (Number.isNaN(value) ? '-' : value.toFixed(value < 100 ? 2 : 0));
  console.log(`${'figure'.padEnd(36)} ${'strata'.padStart(9)} ${'peer'.padStart(9)} ${'ratio'.padStart(6)}  target`);
  for (const row of rows) {
    console.log(`${row.figure.padEnd(36)} ${fmt(row.strata).padStart(9)} ${fmt(row.peer).padStart(9)} ${fmt(row.ratio).padStart(6)}  ${row.goal} ${row.met ? 'met' : 'NOT met'}`);
  }
  console.log(JSON.stringify({ bench: 'nbd', quick, fillBytes, fioSeconds, rounds, depths, figures: rows }));
}

await main();
