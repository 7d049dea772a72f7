/**
 * The clients of the soak and the torture: a verifying writer on the project's NBD client, a
 * qemu-io writer that checks its own patterns, fio with its own verification, and a sampler of
 * the server's resident memory.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { NbdClient } from '../serve/nbd-client.js';
import { blockBytes, type Content, newTag, type Region, tick } from './model.js';

const run = promisify(execFile);

export interface WriterOptions {
  /** Writes kept in flight. */
  depth: number;
  /** Largest write, in blocks. */
  maxBlocks: number;
  /** A flush after about this many writes. */
  flushEvery: number;
  /** A read-back of one idle block after about this many writes (0: never). */
  verifyEvery: number;
  random: () => number;
  /** Stop sending when this resolves or returns true. */
  stopped: () => boolean;
}

export interface WriterCounts {
  writes: number;
  flushes: number;
  verifiedReads: number;
}

/** Picks `count` blocks from a random start that have no write in flight, or null. */
function pickRun(region: Region, random: () => number, maxBlocks: number): { first: number; count: number } | null {
  for (let attempt = 0; attempt < 8; attempt++) {
    const first = Math.floor(random() * region.blocks);
    const want = 1 + Math.floor(random() * Math.min(maxBlocks, region.blocks - first));
    let count = 0;
    while (count < want && !region.isBusy(first + count)) count++;
    if (count > 0) return { first, count };
  }
  return null;
}

/**
 * Writes random runs of blocks to `region` through `client` until `stopped()`, `depth` at a time,
 * with flushes and read-backs; adds to `counts`. A failed request or a wrong read throws (the
 * caller decides whether that is expected, as after kill -9).
 */
export async function nbdWriter(
  client: NbdClient,
  region: Region,
  options: WriterOptions,
  problems: string[],
  /** Counted as the writer goes, so they survive its failure. */
  counts: WriterCounts = { writes: 0, flushes: 0, verifiedReads: 0 },
): Promise<WriterCounts> {
  const inFlight = new Set<Promise<void>>();
  let sinceFlush = 0;
  let sinceVerify = 0;
  const launch = (work: Promise<void>) => {
    inFlight.add(work);
    void work.then(() => inFlight.delete(work), () => inFlight.delete(work));
  };
  let failure: unknown = null;
  while (!options.stopped() && failure === null) {
    if (inFlight.size >= options.depth) {
      await Promise.race(inFlight).catch((error: unknown) => (failure ??= error));
      continue;
    }
    if (sinceFlush >= options.flushEvery) {
      sinceFlush = 0;
      const sentAt = tick();
      launch(client.flush().then(() => {
        region.flushed(sentAt);
        counts.flushes++;
      }));
      continue;
    }
    if (options.verifyEvery > 0 && sinceVerify >= options.verifyEvery) {
      sinceVerify = 0;
      const block = Math.floor(options.random() * region.blocks);
      launch(verifyBlock(client, region, block, problems).then(() => void counts.verifiedReads++));
      continue;
    }
    const picked = pickRun(region, options.random, options.maxBlocks);
    if (picked === null) {
      await Promise.race(inFlight).catch((error: unknown) => (failure ??= error));
      continue;
    }
    const contents: Content[] = Array.from({ length: picked.count }, () => ({ kind: 'tag', tag: newTag() }));
    const write = region.begin(picked.first, contents);
    sinceFlush++;
    sinceVerify++;
    launch(
      client.write(region.offsetBytes + picked.first * blockBytes, write.data).then(
        () => {
          write.ack();
          counts.writes++;
        },
        (error: unknown) => {
          region.abandon(picked.first, picked.count);
          throw error;
        },
      ),
    );
  }
  const settled = await Promise.allSettled([...inFlight]);
  for (const outcome of settled) if (outcome.status === 'rejected') failure ??= outcome.reason;
  if (failure !== null) throw failure;
  return counts;
}

/** Reads one block: it must hold the last version acknowledged before the read was sent, or one written while the read was in flight. */
async function verifyBlock(client: NbdClient, region: Region, block: number, problems: string[]): Promise<void> {
  const start = tick();
  const data = await client.read(region.offsetBytes + block * blockBytes, blockBytes);
  const end = tick();
  // A write sent meanwhile may have landed before or after the read: the read is an instant between start and end.
  problems.push(...region.check(block, data, (b) => region.atInstant(b, start, end), 'live read-back'));
}

/** Reads a whole region (in 1 MiB requests) and checks every block against `allowed`. */
export async function checkRegion(client: NbdClient, region: Region, allowed: (block: number) => Content[], what: string): Promise<string[]> {
  const problems: string[] = [];
  const perRead = Math.floor((1024 * 1024) / blockBytes);
  for (let first = 0; first < region.blocks; first += perRead) {
    const count = Math.min(perRead, region.blocks - first);
    const data = await client.read(region.offsetBytes + first * blockBytes, count * blockBytes);
    problems.push(...region.check(first, data, allowed, what));
  }
  return problems;
}

/**
 * qemu-io as a writer: each invocation writes one pattern over a 64 KiB run, flushes and reads
 * it back with `read -P` (qemu-io's own verification); the model learns each run once qemu-io
 * exits 0. Returns the number of invocations.
 */
export async function qemuIoWriter(uri: string, region: Region, random: () => number, stopped: () => boolean, problems: string[]): Promise<number> {
  const runBlocks = 16;
  let invocations = 0;
  while (!stopped()) {
    const first = Math.floor(random() * (region.blocks / runBlocks)) * runBlocks;
    const byte = 1 + Math.floor(random() * 255);
    const write = region.begin(first, Array.from({ length: runBlocks }, () => ({ kind: 'byte', byte }) as Content));
    const offset = region.offsetBytes + first * blockBytes;
    const length = runBlocks * blockBytes;
    const args = ['-f', 'raw', uri, '-c', `write -P ${byte} ${offset} ${length}`, '-c', 'flush', '-c', `read -P ${byte} ${offset} ${length}`];
    const outcome = await run('qemu-io', args).then(
      (r) => ({ ok: true, output: r.stdout + r.stderr }),
      (e: { stdout?: string; stderr?: string; message: string }) => ({ ok: false, output: `${e.message} ${e.stdout ?? ''} ${e.stderr ?? ''}` }),
    );
    if (!outcome.ok || /verification failed|error/i.test(outcome.output)) {
      region.abandon(first, runBlocks);
      problems.push(`qemu-io ${args.slice(3).join(' ')}: ${outcome.output.trim()}`);
      return invocations;
    }
    write.ack();
    region.flushed(tick());
    invocations++;
  }
  return invocations;
}

/**
 * fio through its nbd engine, over and over until `stopped()`: each run writes random 4 KiB
 * blocks of its range with crc32c verification headers and verifies them. Returns the runs.
 */
export async function fioWriter(uri: string, offsetBytes: number, sizeBytes: number, cwd: string, stopped: () => boolean, problems: string[]): Promise<number> {
  let runs = 0;
  while (!stopped()) {
    const args = [
      '--name=soak', '--ioengine=nbd', `--uri=${uri}`, '--rw=randwrite', '--bs=4k', `--offset=${offsetBytes}`, `--size=${sizeBytes}`,
      '--iodepth=8', '--verify=crc32c', '--do_verify=1', '--verify_fatal=1', '--verify_state_save=0', '--output-format=json',
    ];
    const outcome = await run('fio', args, { cwd, maxBuffer: 16 * 1024 * 1024 }).then(
      (r) => ({ ok: true, stdout: r.stdout, stderr: r.stderr }),
      (e: { stdout?: string; stderr?: string; message: string }) => ({ ok: false, stdout: e.stdout ?? '', stderr: `${e.message} ${e.stderr ?? ''}` }),
    );
    const report = outcome.ok ? (JSON.parse(outcome.stdout.slice(outcome.stdout.indexOf('{'))) as { jobs: Array<{ error: number; write: { io_bytes: number } }> }) : null;
    if (report === null || report.jobs[0].error !== 0 || report.jobs[0].write.io_bytes !== sizeBytes) {
      problems.push(`fio ${args.join(' ')}: ${outcome.stderr.trim()} ${outcome.stdout.slice(0, 2000)}`);
      return runs;
    }
    runs++;
  }
  return runs;
}

/** Samples VmRSS of a process every `everyMs` until stopped; `slope` fits a least-squares line. */
export class RssSampler {
  readonly samples: Array<{ atMs: number; kib: number }> = [];
  readonly #timer: NodeJS.Timeout;
  readonly #start = Date.now();

  constructor(
    readonly pid: number,
    everyMs: number,
  ) {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), everyMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#sample();
  }

  #sample(): void {
    try {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      if (match !== null) this.samples.push({ atMs: Date.now() - this.#start, kib: Number(match[1]) });
    } catch {
      // The process has ended.
    }
  }

  /** MiB per minute over the samples from `fromFraction` of the run on (least squares). */
  slopeMiBPerMinute(fromFraction = 0): number {
    const points = this.samples.slice(Math.floor(this.samples.length * fromFraction));
    if (points.length < 2) return 0;
    const n = points.length;
    const meanX = points.reduce((s, p) => s + p.atMs, 0) / n;
    const meanY = points.reduce((s, p) => s + p.kib, 0) / n;
    let num = 0;
    let den = 0;
    for (const p of points) {
      num += (p.atMs - meanX) * (p.kib - meanY);
      den += (p.atMs - meanX) ** 2;
    }
    return den === 0 ? 0 : ((num / den) * 60_000) / 1024;
  }

  summary(): string {
    const mib = (kib: number) => (kib / 1024).toFixed(1);
    const first = this.samples[0]?.kib ?? 0;
    const last = this.samples.at(-1)?.kib ?? 0;
    const max = Math.max(0, ...this.samples.map((s) => s.kib));
    return (
      `RSS of strata serve: first ${mib(first)} MiB, last ${mib(last)} MiB, max ${mib(max)} MiB over ${this.samples.length} samples; ` +
      `slope ${this.slopeMiBPerMinute().toFixed(2)} MiB/min (whole run), ${this.slopeMiBPerMinute(0.5).toFixed(2)} MiB/min (second half)`
    );
  }
}
