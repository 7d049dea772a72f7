/**
 * NBD server throughput and latency, side by side with nbdkit's memory plugin, measured by fio
 * (libnbd engine). Both serve RAM, so the numbers compare the servers, not the storage.
 *
 *   npm run bench:nbd-server -- [runtimeSeconds]
 *
 * Needs fio; the nbdkit column is skipped when nbdkit is not installed.
 */
import { execFile, spawn } from 'node:child_process';
import net from 'node:net';
import { ExportTable, NbdServer, type BlockDevice, type Extent } from '../src/nbd/index.js';

const sizeBytes = 256 * 1024 * 1024;
const runtimeSeconds = Number(process.argv[2] ?? 5);

/** A flat RAM device: keeps the device out of the measurement. */
class FlatMemoryDevice implements BlockDevice {
  readonly sizeBytes = sizeBytes;
  readonly readOnly = false;
  readonly #data = Buffer.alloc(sizeBytes);
  async read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    return Buffer.from(this.#data.subarray(offsetBytes, offsetBytes + lengthBytes));
  }
  async write(offsetBytes: number, data: Buffer): Promise<void> {
    data.copy(this.#data, offsetBytes);
  }
  async flush(): Promise<void> {}
  async trim(offsetBytes: number, lengthBytes: number): Promise<void> {
    this.#data.fill(0, offsetBytes, offsetBytes + lengthBytes);
  }
  async writeZeroes(offsetBytes: number, lengthBytes: number): Promise<void> {
    this.#data.fill(0, offsetBytes, offsetBytes + lengthBytes);
  }
  async blockStatus(offsetBytes: number, lengthBytes: number): Promise<Extent[]> {
    return [{ offsetBytes, lengthBytes, hole: false, zero: false }];
  }
}

interface Workload {
  name: string;
  args: string[];
}

const workloads: Workload[] = [
  { name: '4k randread qd16', args: ['--rw=randread', '--bs=4k', '--iodepth=16'] },
  { name: '4k randwrite qd16', args: ['--rw=randwrite', '--bs=4k', '--iodepth=16'] },
  { name: '1M read qd4', args: ['--rw=read', '--bs=1m', '--iodepth=4'] },
  { name: '1M write qd4', args: ['--rw=write', '--bs=1m', '--iodepth=4'] },
];

interface Result {
  iops: number;
  mibPerSecond: number;
  latencyUsP99: number;
}

function fio(uri: string, workload: Workload): Promise<Result> {
  const args = [
    '--name=bench',
    '--ioengine=nbd',
    `--uri=${uri}`,
    `--size=${sizeBytes}`,
    '--time_based',
    `--runtime=${runtimeSeconds}`,
    '--output-format=json',
    ...workload.args,
  ];
  return new Promise((resolve, reject) => {
    execFile('fio', args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout) => {
      if (error !== null) return reject(error);
      const report = JSON.parse(stdout.slice(stdout.indexOf('{'))) as {
        jobs: { read: FioSide; write: FioSide }[];
      };
      const job = report.jobs[0]!;
      const side = job.read.io_bytes > 0 ? job.read : job.write;
      resolve({
        iops: side.iops,
        mibPerSecond: side.bw_bytes / 2 ** 20,
        latencyUsP99: (side.clat_ns.percentile?.['99.000000'] ?? 0) / 1000,
      });
    });
  });
}

interface FioSide {
  io_bytes: number;
  iops: number;
  bw_bytes: number;
  clat_ns: { percentile?: Record<string, number> };
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

async function startNbdkit(): Promise<{ uri: string; stop: () => void } | null> {
  const port = await freePort();
  const child = spawn('nbdkit', ['-f', '-i', '127.0.0.1', '-p', String(port), 'memory', String(sizeBytes)], { stdio: 'ignore' });
  const started = await new Promise<boolean>((resolve) => {
    child.once('error', () => resolve(false));
    const attempt = (left: number): void => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => (left > 0 ? setTimeout(() => attempt(left - 1), 100) : resolve(false)));
    };
    attempt(50);
  });
  if (!started) return null;
  return { uri: `nbd://127.0.0.1:${port}/`, stop: () => child.kill() };
}

async function main(): Promise<void> {
  const exports = new ExportTable();
  const { name } = exports.add(new FlatMemoryDevice());
  const server = new NbdServer({ exports });
  const { port } = await server.listen('127.0.0.1', 0);
  const strataUri = `nbd://127.0.0.1:${port}/${name}`;
  const nbdkit = await startNbdkit();
  const rows: Record<string, string>[] = [];
  try {
    for (const workload of workloads) {
      const ours = await fio(strataUri, workload);
      const peer = nbdkit === null ? null : await fio(nbdkit.uri, workload);
      const format = (result: Result | null): string =>
        result === null ? 'n/a' : `${Math.round(result.iops)} IOPS, ${result.mibPerSecond.toFixed(0)} MiB/s, p99 ${result.latencyUsP99.toFixed(0)} µs`;
      rows.push({ workload: workload.name, strata: format(ours), 'nbdkit memory': format(peer) });
    }
  } finally {
    nbdkit?.stop();
    await server.close();
  }
  console.table(rows);
}

await main();
