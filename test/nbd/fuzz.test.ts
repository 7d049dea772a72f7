/**
 * Protocol fuzzing: random and mutated handshakes and requests against a live server.
 *
 * Each case is one connection carrying several inputs (options or requests), built from a valid
 * byte stream and then mutated, or plain random bytes. The client sends everything, half-closes
 * and reads until the server closes. What must hold:
 * - the server never crashes (an uncaught error fails the run) and closes every connection;
 * - with structured replies negotiated, everything the server sends is a well-formed stream
 *   (a prefix of valid option replies, simple replies and structured chunks);
 * - afterwards a valid client still works, no connection is left open, and memory has not grown
 *   beyond a generous bound.
 *
 * Inputs per run: STRATA_FUZZ_INPUTS (default 100,000). The seed is printed; to replay, set
 * STRATA_FUZZ_SEED (and STRATA_FUZZ_CASE to run only the failing case). A failure prints the
 * seed, the case and its input bytes in hex.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import net from 'node:net';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { codec, ExportTable, NbdServer, protocol } from '../../src/nbd/index.js';
import { MemoryDevice } from './memory-device.js';
import { RawClient } from './raw-client.js';

const {
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_OPT_GO,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_CMD_READ,
  NBD_CMD_WRITE,
} = protocol;

const inputsTarget = Number(process.env.STRATA_FUZZ_INPUTS ?? 100_000);
const seed = Number(process.env.STRATA_FUZZ_SEED ?? randomInt(2 ** 31));
const onlyCase = process.env.STRATA_FUZZ_CASE === undefined ? undefined : Number(process.env.STRATA_FUZZ_CASE);
const concurrency = 8;
const heapGrowthBytesMax = 64 * 1024 * 1024;
const rssGrowthBytesMax = 256 * 1024 * 1024;

/** Fixed names so that a seed replays the same bytes. */
const readWriteName = 'fuzz-rw-6b1f0c2e9d8a4735b0c4e1f2a3d5c7e9';
const readOnlyName = 'fuzz-ro-0f9e8d7c6b5a49382716a5b4c3d2e1f0';
const readWriteSizeBytes = 1024 * 1024;
const readOnlySizeBytes = 256 * 1024 + 123;

// ---------------------------------------------------------------------------------------------
// Seeded randomness (splitmix32 to derive per-case seeds, mulberry32 to draw).

class Random {
  #state: number;
  constructor(state: number) {
    this.#state = state >>> 0;
  }
  static forCase(runSeed: number, caseIndex: number): Random {
    let z = (runSeed ^ Math.imul(caseIndex + 1, 0x9e3779b9)) >>> 0;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return new Random(z ^ (z >>> 16));
  }
  uint32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  int(bound: number): number {
    return Math.floor((this.uint32() / 2 ** 32) * bound);
  }
  chance(probability: number): boolean {
    return this.uint32() / 2 ** 32 < probability;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(length: number): Buffer {
    const data = Buffer.alloc(length);
    for (let index = 0; index < length; index++) data[index] = this.int(256);
    return data;
  }
}

// ---------------------------------------------------------------------------------------------
// Generators of valid pieces, and mutations.

const interesting32 = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x1000, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0x02000000, 0x02000001, readWriteSizeBytes];

function mutate(random: Random, input: Buffer): Buffer {
  let data = Buffer.from(input);
  const rounds = 1 + random.int(3);
  for (let round = 0; round < rounds; round++) {
    switch (random.int(8)) {
      case 0:
        if (data.length > 0) data[random.int(data.length)]! ^= 1 << random.int(8);
        break;
      case 1:
        if (data.length > 0) data[random.int(data.length)] = random.pick([0, 0xff, 0x7f, 0x80, 1]);
        break;
      case 2:
        if (data.length >= 4) data.writeUInt32BE(random.pick(interesting32) >>> 0, random.int(data.length - 3) & ~3);
        break;
      case 3:
        data = data.subarray(0, random.int(data.length + 1));
        break;
      case 4:
        data = Buffer.concat([data, random.bytes(random.int(64))]);
        break;
      case 5: {
        const at = random.int(data.length + 1);
        data = Buffer.concat([data.subarray(0, at), random.bytes(1 + random.int(8)), data.subarray(at)]);
        break;
      }
      case 6: {
        const at = random.int(data.length + 1);
        data = Buffer.concat([data.subarray(0, at), data.subarray(Math.min(data.length, at + 1 + random.int(8)))]);
        break;
      }
      default:
        data = Buffer.concat([data, data]);
    }
  }
  return data;
}

const interesting64 = [0, 1, 4095, readWriteSizeBytes - 1, readWriteSizeBytes, readWriteSizeBytes + 1, 2 ** 32, 2 ** 53 - 1];

/** Changes one field of a request header, keeping the stream in step unless a WRITE length changes. */
function mutateRequestField(random: Random, input: Buffer): Buffer {
  const data = Buffer.from(input);
  switch (random.int(5)) {
    case 0:
      data.writeUInt16BE(random.chance(0.5) ? 1 << random.int(16) : random.int(0x10000), 4);
      break;
    case 1:
      data.writeUInt16BE(random.chance(0.8) ? random.int(12) : random.int(0x10000), 6);
      break;
    case 2:
      data.writeUInt32BE(random.int(2 ** 32), random.pick([8, 12]));
      break;
    case 3: {
      const offset = random.chance(0.2) ? 2n ** 64n - 1n : BigInt(random.pick(interesting64));
      data.writeBigUInt64BE(offset, 16);
      break;
    }
    default:
      data.writeUInt32BE(random.pick(interesting32) >>> 0, 24);
  }
  return data;
}

function exportName(random: Random): string {
  return random.pick([readWriteName, readWriteName, readOnlyName, '', 'unknown', random.bytes(random.int(20)).toString('latin1')]);
}

function option(random: Random): Buffer {
  const name = exportName(random);
  const queries = (): string[] =>
    Array.from({ length: random.int(4) }, () => random.pick(['base:allocation', 'base:', 'qemu:dirty-bitmap:x', 'nocolon', '']));
  const infos = (): number[] => Array.from({ length: random.int(4) }, () => random.int(5));
  switch (random.int(11)) {
    case 0:
      return codec.encodeOption(NBD_OPT_EXPORT_NAME, Buffer.from(name));
    case 1:
      return codec.encodeOption(protocol.NBD_OPT_ABORT);
    case 2:
      return codec.encodeOption(protocol.NBD_OPT_LIST);
    case 3:
      return codec.encodeOption(protocol.NBD_OPT_STARTTLS);
    case 4:
      return codec.encodeOption(protocol.NBD_OPT_INFO, codec.encodeInfoRequest(name, infos()));
    case 5:
      return codec.encodeOption(NBD_OPT_GO, codec.encodeInfoRequest(name, infos()));
    case 6:
      return codec.encodeOption(NBD_OPT_STRUCTURED_REPLY);
    case 7:
      return codec.encodeOption(protocol.NBD_OPT_LIST_META_CONTEXT, codec.encodeMetaContextRequest(name, queries()));
    case 8:
      return codec.encodeOption(NBD_OPT_SET_META_CONTEXT, codec.encodeMetaContextRequest(name, queries()));
    case 9:
      return codec.encodeOption(random.uint32(), random.bytes(random.int(32)));
    default:
      return codec.encodeOption(random.int(16), random.bytes(random.int(16)));
  }
}

function request(random: Random, cookie: bigint): Buffer {
  const type = random.pick([0, 0, 1, 1, 1, 3, 4, 5, 6, 7, 7, random.int(20)]);
  const sizeBytes = readWriteSizeBytes;
  const lengthBytes = random.pick([0, 1, 512, 4096, 65_536, random.int(131_072), random.int(sizeBytes + 1)]);
  const offsetBytes = random.chance(0.8) ? random.int(Math.max(1, sizeBytes - lengthBytes)) : random.int(sizeBytes * 2);
  const flags = random.chance(0.7) ? 0 : random.pick([1, 2, 4, 8, 16, 3, 17, random.int(0x10000)]);
  const header = codec.encodeRequest({ flags, type, cookie, offsetBytes, lengthBytes: type === protocol.NBD_CMD_FLUSH ? 0 : lengthBytes });
  if (type !== NBD_CMD_WRITE) return header;
  return Buffer.concat([header, random.bytes(Math.min(lengthBytes, 4096)), Buffer.alloc(Math.max(0, lengthBytes - 4096), 0x5a)]);
}

interface Flavour {
  structured: boolean;
  meta: boolean;
  exportName: boolean;
  readOnly: boolean;
}

function validHandshake(random: Random): { bytes: Buffer; flavour: Flavour } {
  const flavour: Flavour = {
    structured: random.chance(0.6),
    meta: random.chance(0.6),
    exportName: random.chance(0.2),
    readOnly: random.chance(0.2),
  };
  const name = flavour.readOnly ? readOnlyName : readWriteName;
  const parts = [codec.encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES)];
  if (flavour.structured) {
    parts.push(codec.encodeOption(NBD_OPT_STRUCTURED_REPLY));
    if (flavour.meta) parts.push(codec.encodeOption(NBD_OPT_SET_META_CONTEXT, codec.encodeMetaContextRequest(name, ['base:allocation'])));
  }
  if (flavour.exportName) parts.push(codec.encodeOption(NBD_OPT_EXPORT_NAME, Buffer.from(name)));
  else parts.push(codec.encodeOption(NBD_OPT_GO, codec.encodeInfoRequest(name, [protocol.NBD_INFO_BLOCK_SIZE])));
  return { bytes: Buffer.concat(parts), flavour };
}

interface Case {
  index: number;
  kind: string;
  bytes: Buffer;
  inputs: number;
  /** Set when the server's whole output must parse as a valid structured stream. */
  checkStructured: Flavour | null;
}

function generateCase(index: number): Case {
  const random = Random.forCase(seed, index);
  const roll = random.int(1000);
  if (roll < 2) {
    // Option flood: the per-connection option bound must end it.
    const flags = codec.encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE);
    const options = Array.from({ length: 1100 }, () => codec.encodeOption(protocol.NBD_OPT_LIST));
    return { index, kind: 'option-flood', bytes: Buffer.concat([flags, ...options]), inputs: 1100, checkStructured: null };
  }
  if (roll < 60) {
    const prefix = random.pick([Buffer.alloc(0), codec.encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES), validHandshake(random).bytes]);
    return { index, kind: 'random', bytes: Buffer.concat([prefix, random.bytes(random.int(300))]), inputs: 1, checkStructured: null };
  }
  if (roll < 400) {
    const flags = random.chance(0.9) ? codec.encodeClientFlags(random.int(4)) : mutate(random, codec.encodeClientFlags(3));
    const count = 1 + random.int(12);
    const options = Array.from({ length: count }, () => (random.chance(0.5) ? mutate(random, option(random)) : option(random)));
    const bytes = Buffer.concat([flags, ...options]);
    return { index, kind: 'handshake', bytes: random.chance(0.1) ? mutate(random, bytes) : bytes, inputs: count, checkStructured: null };
  }
  const { bytes: handshake, flavour } = validHandshake(random);
  const count = 1 + random.int(60);
  const requests = Array.from({ length: count }, (_, at) => {
    const valid = request(random, BigInt(at));
    const roll = random.int(100);
    if (roll < 25) return mutateRequestField(random, valid);
    if (roll < 30) return mutate(random, valid);
    return valid;
  });
  if (random.chance(0.3)) requests.push(codec.encodeRequest({ flags: 0, type: protocol.NBD_CMD_DISC, cookie: 0n, offsetBytes: 0, lengthBytes: 0 }));
  const wholeMutation = random.chance(0.05);
  const body = Buffer.concat(requests);
  return {
    index,
    kind: 'transmission',
    bytes: Buffer.concat([handshake, wholeMutation ? mutate(random, body) : body]),
    inputs: count,
    checkStructured: flavour.structured ? flavour : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Running a case and checking the server's output.

function runCase(port: number, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const received: Buffer[] = [];
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.once('connect', () => socket.end(bytes));
    socket.once('close', () => resolve(Buffer.concat(received)));
  });
}

/** Throws unless `output` is a prefix of a valid server stream for a structured-reply handshake. */
function checkStructuredStream(output: Buffer, flavour: Flavour): void {
  let at = 0;
  const need = (bytes: number): boolean => output.length - at >= bytes;
  if (!need(protocol.GREETING_BYTES)) return;
  assert.equal(output.readBigUInt64BE(0), protocol.NBDMAGIC);
  at = protocol.GREETING_BYTES;
  // Option replies: STRUCTURED_REPLY, maybe SET_META_CONTEXT, then GO (or EXPORT_NAME's bare reply).
  let finals = 0;
  const optionFinals = 1 + (flavour.meta ? 1 : 0) + (flavour.exportName ? 0 : 1);
  while (finals < optionFinals) {
    if (!need(protocol.OPTION_REPLY_HEADER_BYTES)) return;
    const header = codec.decodeOptionReplyHeader(output.subarray(at));
    assert.equal(header.magic, protocol.NBD_REP_MAGIC, 'option reply magic');
    assert.ok(header.replyType < 2 ** 31, `handshake option refused: 0x${header.replyType.toString(16)}`);
    at += protocol.OPTION_REPLY_HEADER_BYTES + header.lengthBytes;
    if (header.replyType === NBD_REP_ACK) finals += 1;
  }
  if (flavour.exportName) at += protocol.EXPORT_NAME_REPLY_BYTES;
  while (need(4)) {
    const magic = output.readUInt32BE(at);
    if (magic === protocol.NBD_SIMPLE_REPLY_MAGIC) {
      // With structured replies a simple reply never carries data.
      at += protocol.SIMPLE_REPLY_BYTES;
      continue;
    }
    assert.equal(magic, protocol.NBD_STRUCTURED_REPLY_MAGIC, `reply magic at byte ${at}`);
    if (!need(protocol.STRUCTURED_CHUNK_HEADER_BYTES)) return;
    const header = codec.decodeChunkHeader(output.subarray(at));
    if (!need(protocol.STRUCTURED_CHUNK_HEADER_BYTES + header.lengthBytes)) return;
    const payloadStart = at + protocol.STRUCTURED_CHUNK_HEADER_BYTES;
    const payload = codec.decodeChunkPayload(header.type, output.subarray(payloadStart, payloadStart + header.lengthBytes));
    assert.ok(payload !== undefined, `well-formed chunk of type ${header.type} at byte ${at}`);
    if (payload.type === 'blockStatus') assert.ok(flavour.meta, 'block status only with a negotiated context');
    at = payloadStart + header.lengthBytes;
  }
}

function describeCase(fuzzCase: Case): string {
  const hex = fuzzCase.bytes.length <= 65_536 ? fuzzCase.bytes.toString('hex') : `${fuzzCase.bytes.subarray(0, 65_536).toString('hex')}…`;
  return `seed=${seed} case=${fuzzCase.index} kind=${fuzzCase.kind} (replay: STRATA_FUZZ_SEED=${seed} STRATA_FUZZ_CASE=${fuzzCase.index})\ninput (${fuzzCase.bytes.length} bytes): ${hex}`;
}

function collectGarbage(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

test(`protocol fuzz: ${inputsTarget} inputs, seed ${seed}`, { timeout: 600_000 }, async (t) => {
  t.diagnostic(`seed ${seed}; replay with STRATA_FUZZ_SEED=${seed}`);
  const exports = new ExportTable();
  const device = new MemoryDevice({ sizeBytes: readWriteSizeBytes, recordCalls: false });
  exports.add(device, { name: readWriteName });
  exports.add(new MemoryDevice({ sizeBytes: readOnlySizeBytes, readOnly: true, recordCalls: false }), { name: readOnlyName });
  const eventCounts = new Map<string, number>();
  const server = new NbdServer({ exports, logger: (event) => eventCounts.set(event.type, (eventCounts.get(event.type) ?? 0) + 1) });
  const { port } = await server.listen('127.0.0.1', 0);
  const running = new Set<Case>();
  t.signal.addEventListener('abort', () => {
    for (const fuzzCase of running) console.error(`fuzz case still running when the test was aborted:\n${describeCase(fuzzCase)}`);
  });
  const gc = collectGarbage();
  try {
    const { inputs, cases, baseline } = await runCases(port, running, gc);
    await checkServerAfterwards(port, server);
    gc();
    const final = process.memoryUsage();
    const start = baseline ?? final;
    t.diagnostic(
      `inputs ${inputs}, cases ${cases}, server ops ${server.stats().ops}; events ${JSON.stringify(Object.fromEntries(eventCounts))}; ` +
        `heapUsed ${(start.heapUsed / 2 ** 20).toFixed(1)} → ${(final.heapUsed / 2 ** 20).toFixed(1)} MiB, ` +
        `rss ${(start.rss / 2 ** 20).toFixed(1)} → ${(final.rss / 2 ** 20).toFixed(1)} MiB`,
    );
    assert.ok(final.heapUsed - start.heapUsed < heapGrowthBytesMax, `heap grew by ${final.heapUsed - start.heapUsed} bytes (seed ${seed})`);
    assert.ok(final.rss - start.rss < rssGrowthBytesMax, `rss grew by ${final.rss - start.rss} bytes (seed ${seed})`);
  } finally {
    await server.close();
  }
});

/** Runs cases on `concurrency` connections at a time until the input target is met; stops at the first failure. */
async function runCases(
  port: number,
  running: Set<Case>,
  gc: () => void,
): Promise<{ inputs: number; cases: number; baseline: NodeJS.MemoryUsage | null }> {
  let inputs = 0;
  let nextIndex = onlyCase ?? 0;
  let failed = false;
  let baseline: NodeJS.MemoryUsage | null = null;
  const more = (): boolean => !failed && (onlyCase === undefined ? inputs < inputsTarget : nextIndex === onlyCase);
  const worker = async (): Promise<void> => {
    while (more()) {
      const fuzzCase = generateCase(nextIndex++);
      inputs += fuzzCase.inputs;
      running.add(fuzzCase);
      const output = await runCase(port, fuzzCase.bytes);
      running.delete(fuzzCase);
      try {
        if (fuzzCase.checkStructured !== null) checkStructuredStream(output, fuzzCase.checkStructured);
      } catch (error) {
        failed = true;
        throw new Error(`${(error as Error).message}\n${describeCase(fuzzCase)}\noutput: ${output.subarray(0, 4096).toString('hex')}`);
      }
      if (baseline === null && inputs >= Math.min(5_000, inputsTarget / 10)) {
        gc();
        baseline = process.memoryUsage();
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: concurrency }, () => worker().catch((error: unknown) => {
    failed = true;
    throw error;
  })));
  const failure = results.find((result) => result.status === 'rejected');
  if (failure !== undefined) throw (failure as PromiseRejectedResult).reason;
  return { inputs, cases: nextIndex, baseline };
}

/** No connection is left open on the server, and a valid client still works. */
async function checkServerAfterwards(port: number, server: NbdServer): Promise<void> {
  while (server.stats().connections > 0) await new Promise((resolve) => setTimeout(resolve, 10));
  const { client } = await RawClient.open(port, readWriteName, { structured: false });
  const data = Buffer.alloc(4096, 0x3c);
  client.request({ type: NBD_CMD_WRITE, cookie: 1n, offsetBytes: 8192, lengthBytes: 4096, data });
  assert.deepEqual(await client.reply(), { kind: 'simple', errno: 0, cookie: 1n, data: Buffer.alloc(0) });
  client.request({ type: NBD_CMD_READ, cookie: 2n, offsetBytes: 8192, lengthBytes: 4096 });
  assert.deepEqual(await client.reply(() => 4096), { kind: 'simple', errno: 0, cookie: 2n, data });
  client.destroy();
  await client.closed;
}
