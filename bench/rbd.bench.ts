/**
 * The data path on Ceph RBD: `strata serve --backend rbd:POOL/NS` (librbd through koffi) beside
 * qemu-nbd with qemu's rbd driver on an image of the same cluster and pool, driven by the same
 * clients (fio's nbd engine, nbdcopy) in the same run, alternating order each round; then
 * snapshot and group-snapshot latency: Strata's API beside the `rbd` command a qemu-nbd user
 * would run (`rbd snap create`, `rbd group snap create`). Prints a table side by side and one
 * JSON line. Small by default: the cluster is the tests' single memstore OSD.
 *
 *   npm run bench:rbd                    2 rounds, 256 MiB filled, 3 s fio runs
 *   STRATA_BENCH_MIB=1024 STRATA_BENCH_ROUNDS=3 STRATA_BENCH_SECONDS=10 npm run bench:rbd
 *
 * Uses the cluster of STRATA_TEST_CEPH_CONF, or starts scripts/start-test-ceph.sh. Needs
 * qemu-nbd with block-rbd (qemu-utils, qemu-block-extra), nbdcopy, fio and rbd.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fio as runFio, type FioResult, median, whenServing } from './nbd-clients.js';
import { api, startServe, stopServe, type Server } from '../test/serve/process.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const fillBytes = Number(process.env.STRATA_BENCH_MIB ?? 256) * MiB;
const volumeBytes = 4 * fillBytes;
const fioSeconds = Number(process.env.STRATA_BENCH_SECONDS ?? 3);
const rounds = Number(process.env.STRATA_BENCH_ROUNDS ?? 2);
const snapshotCount = 20;
const pool = process.env.STRATA_TEST_CEPH_POOL || 'strata-test';
const work = mkdtempSync(join(tmpdir(), 'strata-rbd-bench-'));

for (const tool of ['qemu-nbd', 'nbdcopy', 'nbdinfo', 'fio', 'rbd']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`bench:rbd needs ${tool}; install qemu-utils, qemu-block-extra, libnbd-bin, fio and ceph-common (scripts/install-test-tools.sh)`);
    process.exit(2);
  }
}
const cephConf = process.env.STRATA_TEST_CEPH_CONF || spawnSync('bash', ['scripts/start-test-ceph.sh'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).stdout.trim();
if (cephConf === '') {
  console.error('bench:rbd needs a Ceph cluster: set STRATA_TEST_CEPH_CONF or install Ceph (scripts/install-test-tools.sh)');
  process.exit(2);
}
const namespace = `bench-${randomBytes(4).toString('hex')}`;
const rbd = (...args: string[]) => run('rbd', ['--conf', cephConf, ...args]);

interface Target {
  name: 'strata' | 'qemu-nbd';
  /** A fresh, empty export of `sizeBytes`; returns its NBD URI. */
  fresh(sizeBytes: number): Promise<string>;
  /** One snapshot of the current export; one group snapshot of it and a second volume. */
  snapshot(): Promise<void>;
  groupSnapshot(): Promise<void>;
  stop(): Promise<void>;
}

async function startStrata(): Promise<Target> {
  const server: Server = await startServe(join(work, 'strata-data'), 'bench-password-1', {}, ['--backend', `rbd:${pool}/${namespace}`, '--ceph-conf', cephConf]);
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const answer = await api<T>(server, method, path, body);
    if (answer.status >= 300) throw new Error(`${method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  };
  const volume = async (sizeBytes: number) => (await call<{ volume: { id: string } }>('POST', '/api/v1/volumes', { name: `bench-${randomBytes(4).toString('hex')}`, size_bytes: sizeBytes })).volume.id;
  let current: { volume: string; attachment: string; group: string | null } | null = null;
  return {
    name: 'strata',
    async fresh(sizeBytes) {
      if (current !== null) await call('DELETE', `/api/v1/attachments/${current.attachment}`);
      const id = await volume(sizeBytes);
      const attachment = (await call<{ attachment: { id: string; uri: string } }>('POST', `/api/v1/volumes/${id}/attachments`, {})).attachment;
      current = { volume: id, attachment: attachment.id, group: null };
      return attachment.uri;
    },
    async snapshot() {
      await call('POST', `/api/v1/volumes/${current!.volume}/snapshots`, { name: `s-${randomBytes(4).toString('hex')}` });
    },
    async groupSnapshot() {
      current!.group ??= (await call<{ group: { id: string } }>('POST', '/api/v1/groups', { name: `g-${randomBytes(4).toString('hex')}`, volume_ids: [current!.volume, await volume(volumeBytes)] })).group.id;
      await call('POST', `/api/v1/groups/${current!.group}/snapshots`, { name: `gs-${randomBytes(4).toString('hex')}` });
    },
    stop: async () => void (await stopServe(server)),
  };
}

async function startQemuNbd(): Promise<Target> {
  let child: ChildProcess | null = null;
  let image = '';
  let group: string | null = null;
  const stopChild = async (): Promise<void> => {
    if (child === null) return;
    const exiting = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exiting;
    child = null;
  };
  const spec = (name: string) => `${pool}/${namespace}/${name}`;
  return {
    name: 'qemu-nbd',
    async fresh(sizeBytes) {
      await stopChild();
      image = `qemu-${randomBytes(4).toString('hex')}`;
      group = null;
      await rbd('create', '--size', `${sizeBytes / MiB}M`, spec(image));
      const port = 20000 + Math.floor(Math.random() * 20000);
      const opts = `driver=rbd,pool=${pool},namespace=${namespace},image=${image},conf=${cephConf}`;
      child = spawn('qemu-nbd', ['--image-opts', opts, '-b', '127.0.0.1', '-p', String(port), '-x', 'bench', '--persistent', '--shared=16', '--cache=writeback'], { stdio: 'inherit' });
      return whenServing(`nbd://127.0.0.1:${port}/bench`, 'qemu-nbd');
    },
    async snapshot() {
      await rbd('snap', 'create', `${spec(image)}@s-${randomBytes(4).toString('hex')}`);
    },
    async groupSnapshot() {
      if (group === null) {
        group = `g-${randomBytes(4).toString('hex')}`;
        const other = `other-${randomBytes(4).toString('hex')}`;
        await rbd('create', '--size', `${volumeBytes / MiB}M`, spec(other));
        await rbd('group', 'create', spec(group));
        await rbd('group', 'image', 'add', spec(group), spec(image));
        await rbd('group', 'image', 'add', spec(group), spec(other));
      }
      await rbd('group', 'snap', 'create', `${spec(group)}@gs-${randomBytes(4).toString('hex')}`);
    },
    stop: stopChild,
  };
}

const fio = (uri: string, extra: string[]): Promise<FioResult> => runFio(uri, fillBytes, extra, work);

async function latencies(count: number, body: () => Promise<void>): Promise<number[]> {
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await body();
    values.push(performance.now() - t0);
  }
  return values.sort((a, b) => a - b);
}

type Results = Map<string, number[]>;

async function measure(target: Target, source: string, results: Results): Promise<void> {
  const push = (figure: string, value: number): void => {
    const key = `${target.name}|${figure}`;
    results.set(key, [...(results.get(key) ?? []), value]);
    console.error(`  ${target.name.padEnd(8)} ${figure}: ${value.toFixed(1)}`);
  };
  const timed = ['--time_based', `--runtime=${fioSeconds}`];
  const uri = await target.fresh(volumeBytes);
  push('fill 1M qd8 MiB/s', (await fio(uri, ['--rw=write', '--bs=1M', '--iodepth=8', '--end_fsync=1'])).writeMiBs);
  push('seq read 1M qd8 MiB/s', (await fio(uri, ['--rw=read', '--bs=1M', '--iodepth=8'])).readMiBs);
  push('4k randwrite qd16 IOPS', (await fio(uri, ['--rw=randwrite', '--bs=4k', '--iodepth=16', ...timed])).iops);
  push('4k randwrite fsync/16 IOPS', (await fio(uri, ['--rw=randwrite', '--bs=4k', '--iodepth=16', '--fsync=16', ...timed])).iops);
  push('4k randread qd16 IOPS', (await fio(uri, ['--rw=randread', '--bs=4k', '--iodepth=16', ...timed])).iops);
  push('64k 70/30 qd16 IOPS', (await fio(uri, ['--rw=randrw', '--rwmixread=70', '--bs=64k', '--iodepth=16', ...timed])).iops);
  const read = await latencies(1, async () => void (await run('nbdcopy', [uri, 'null:'])));
  push('nbdcopy read MiB/s', fillBytes / MiB / (read[0]! / 1000));
  const copyUri = await target.fresh(volumeBytes);
  const write = await latencies(1, async () => void (await run('nbdcopy', ['--flush', source, copyUri])));
  push('nbdcopy write MiB/s', fillBytes / MiB / (write[0]! / 1000));
  const snaps = await latencies(snapshotCount, () => target.snapshot());
  push('snapshot create p50 ms', snaps[Math.floor(snaps.length / 2)]!);
  push('snapshot create max ms', snaps[snaps.length - 1]!);
  const groups = await latencies(5, () => target.groupSnapshot());
  push('group snapshot (2) p50 ms', groups[Math.floor(groups.length / 2)]!);
}


async function main(): Promise<void> {
  console.error(`strata (librbd) vs qemu-nbd (rbd driver) on ${cephConf}, pool ${pool}/${namespace}: ${rounds} round(s), ${fillBytes / MiB} MiB filled, ${fioSeconds} s fio runs`);
  const source = join(work, 'source.raw');
  await run('dd', ['if=/dev/urandom', `of=${source}`, 'bs=1M', `count=${fillBytes / MiB}`, 'status=none']);
  const strata = await startStrata();
  const qemu = await startQemuNbd();
  const results: Results = new Map();
  try {
    for (let round = 0; round < rounds; round++) {
      for (const target of round % 2 === 0 ? [strata, qemu] : [qemu, strata]) await measure(target, source, results);
    }
  } finally {
    await strata.stop();
    await qemu.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const figures = [...new Set([...results.keys()].map((key) => key.split('|')[1]!))];
  const rows = figures.map((figure) => {
    const ours = median(results.get(`strata|${figure}`));
    const theirs = median(results.get(`qemu-nbd|${figure}`));
    return { figure, strata: ours, peer: theirs, ratio: ours / theirs };
  });
  const fmt = (value: number): string => (Number.isNaN(value) ? '-' : value.toFixed(value < 100 ? 2 : 0));
  console.log(`${'figure'.padEnd(30)} ${'strata'.padStart(9)} ${'qemu-nbd'.padStart(9)} ${'ratio'.padStart(6)}`);
  for (const row of rows) console.log(`${row.figure.padEnd(30)} ${fmt(row.strata).padStart(9)} ${fmt(row.peer).padStart(9)} ${fmt(row.ratio).padStart(6)}`);
  console.log('(snapshot rows: Strata through its API; qemu-nbd users through the rbd command, which starts a process each time)');
  console.log(JSON.stringify({ bench: 'rbd', fillBytes, fioSeconds, rounds, figures: rows }));
}

await main();
