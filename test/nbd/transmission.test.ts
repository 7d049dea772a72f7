/**
 * The transmission phase, driven by a raw client: each command's effect on the device, simple
 * and structured replies (sparse reads with hole chunks), refusals and their error values,
 * pipelining with out-of-order replies, flow control, multi-conn flush, export removal and
 * graceful close.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { StrataError } from '../../src/lib/errors.js';
import { codec, protocol } from '../../src/nbd/index.js';
import { addMemoryExport, startServer, type Harness } from './harness.js';
import type { MemoryDevice } from './memory-device.js';
import { RawClient, type TransmissionReply } from './raw-client.js';

const {
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_DISC,
  NBD_CMD_FLAG_DF,
  NBD_CMD_FLAG_FAST_ZERO,
  NBD_CMD_FLAG_FUA,
  NBD_CMD_FLAG_NO_HOLE,
  NBD_CMD_FLAG_REQ_ONE,
  NBD_CMD_FLUSH,
  NBD_CMD_READ,
  NBD_CMD_TRIM,
  NBD_CMD_WRITE,
  NBD_CMD_WRITE_ZEROES,
  NBD_EINVAL,
  NBD_EIO,
  NBD_ENOSPC,
  NBD_EOVERFLOW,
  NBD_EPERM,
  NBD_ESHUTDOWN,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_ERROR,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
} = protocol;

type Chunk = Extract<TransmissionReply, { kind: 'chunk' }>;

interface Request {
  type: number;
  flags?: number;
  cookie?: bigint;
  offsetBytes?: number;
  lengthBytes?: number;
  data?: Buffer;
}

let harness: Harness;
let nextCookie = 1n;

before(async () => {
  harness = await startServer();
});
after(() => harness.close());

interface Session {
  client: RawClient;
  device: MemoryDevice;
  name: string;
  flags: number;
}

async function session(
  options: { sizeBytes?: number; readOnly?: boolean; structured?: boolean; meta?: boolean; on?: Harness } = {},
): Promise<Session> {
  const on = options.on ?? harness;
  const { device, name } = addMemoryExport(on, { sizeBytes: options.sizeBytes ?? 1024 * 1024, readOnly: options.readOnly });
  const structured = options.structured ?? false;
  const metaContexts = options.meta === true ? ['base:allocation'] : undefined;
  const { client, flags } = await RawClient.open(on.port, name, { structured: structured || options.meta === true, metaContexts });
  return { client, device, name, flags };
}

function send(client: RawClient, request: Request): bigint {
  const cookie = request.cookie ?? nextCookie++;
  const lengthBytes = request.lengthBytes ?? request.data?.length ?? 0;
  client.request({ type: request.type, flags: request.flags ?? 0, cookie, offsetBytes: request.offsetBytes ?? 0, lengthBytes, data: request.data });
  return cookie;
}

/** Sends one request and reads its simple reply (with READ data when it succeeds). */
async function simple(client: RawClient, request: Request): Promise<{ errno: number; data: Buffer }> {
  const cookie = send(client, request);
  const reply = await client.reply(() => (request.type === NBD_CMD_READ ? (request.lengthBytes ?? 0) : 0));
  assert.equal(reply.kind, 'simple');
  assert.equal(reply.cookie, cookie);
  return reply.kind === 'simple' ? { errno: reply.errno, data: reply.data } : { errno: -1, data: Buffer.alloc(0) };
}

/** Sends one request with structured replies negotiated; returns its chunks (or a simple reply's errno). */
async function structured(client: RawClient, request: Request): Promise<{ errno: number; chunks: Chunk[] }> {
  const cookie = send(client, request);
  const first = await client.reply();
  assert.equal(first.cookie, cookie);
  if (first.kind === 'simple') return { errno: first.errno, chunks: [] };
  const chunks = [first];
  while ((chunks.at(-1)!.flags & NBD_REPLY_FLAG_DONE) === 0) {
    const next = await client.reply();
    assert.equal(next.kind, 'chunk');
    assert.equal(next.cookie, cookie);
    chunks.push(next as Chunk);
  }
  const error = chunks.map((chunk) => codec.decodeChunkPayload(chunk.type, chunk.payload)).find((payload) => payload?.type === 'error');
  return { errno: error?.type === 'error' ? error.errno : 0, chunks };
}

/**
 * Rebuilds a structured READ reply, checking the spec's rules: chunks lie inside the request,
 * never overlap, cover all of it, and only the last one is marked done.
 */
function reassemble(chunks: Chunk[], offsetBytes: number, lengthBytes: number): { data: Buffer; layout: string[] } {
  const data = Buffer.alloc(lengthBytes);
  const covered = new Uint8Array(lengthBytes);
  const layout: string[] = [];
  chunks.forEach((chunk, index) => {
    assert.equal((chunk.flags & NBD_REPLY_FLAG_DONE) !== 0, index === chunks.length - 1, 'only the last chunk is done');
    const payload = codec.decodeChunkPayload(chunk.type, chunk.payload);
    assert.ok(payload !== undefined, 'chunk payload is well formed');
    if (payload.type === 'none') return;
    assert.ok(payload.type === 'data' || payload.type === 'hole', `content chunk, got ${payload.type}`);
    const length = payload.type === 'data' ? payload.data.length : payload.lengthBytes;
    const start = payload.offsetBytes - offsetBytes;
    assert.ok(start >= 0 && start + length <= lengthBytes, 'chunk inside the request');
    for (let at = start; at < start + length; at++) {
      assert.equal(covered[at], 0, 'chunks do not overlap');
      covered[at] = 1;
    }
    if (payload.type === 'data') payload.data.copy(data, start);
    layout.push(`${payload.type}@${payload.offsetBytes}+${length}`);
  });
  assert.ok(covered.every((byte) => byte === 1), 'chunks cover the whole request');
  return { data, layout };
}

function pattern(lengthBytes: number, seed: number): Buffer {
  const data = Buffer.alloc(lengthBytes);
  for (let index = 0; index < lengthBytes; index++) data[index] = (index * 31 + seed * 7 + 1) & 0xff;
  return data;
}

function blockStatusOf(chunks: Chunk[]): { contextId: number; descriptors: { lengthBytes: number; status: number }[] } {
  assert.equal(chunks.length, 1);
  const payload = codec.decodeChunkPayload(chunks[0]!.type, chunks[0]!.payload);
  assert.ok(payload?.type === 'blockStatus');
  return payload;
}

describe('reads and writes', () => {
  it('WRITE then READ returns the data, with simple replies', async () => {
    const { client, device } = await session();
    const data = pattern(10_000, 1);
    assert.equal((await simple(client, { type: NBD_CMD_WRITE, offsetBytes: 12_345, data })).errno, 0);
    const read = await simple(client, { type: NBD_CMD_READ, offsetBytes: 12_345, lengthBytes: 10_000 });
    assert.deepEqual(read, { errno: 0, data });
    assert.deepEqual(device.peek(12_345, 10_000), data);
    client.destroy();
  });

  it('a structured READ sends holes as OFFSET_HOLE chunks and data as OFFSET_DATA, and reassembles exactly', async () => {
    const { client, device } = await session({ sizeBytes: 65_536, structured: true });
    device.poke(8192, pattern(4096, 2));
    device.poke(40_000, pattern(10, 3));
    const { errno, chunks } = await structured(client, { type: NBD_CMD_READ, offsetBytes: 0, lengthBytes: 65_536 });
    assert.equal(errno, 0);
    const { data, layout } = reassemble(chunks, 0, 65_536);
    assert.deepEqual(layout, ['hole@0+8192', 'data@8192+4096', 'hole@12288+24576', 'data@36864+4096', 'hole@40960+24576']);
    assert.deepEqual(data, device.peek(0, 65_536));
    client.destroy();
  });

  it('a structured READ of a device whose block status costs I/O goes out as data without asking it', async () => {
    const { client, device } = await session({ sizeBytes: 65_536, structured: true });
    device.blockStatusIsCheap = false;
    device.poke(8192, pattern(4096, 2));
    const { errno, chunks } = await structured(client, { type: NBD_CMD_READ, offsetBytes: 0, lengthBytes: 65_536 });
    assert.equal(errno, 0);
    const { data, layout } = reassemble(chunks, 0, 65_536);
    assert.deepEqual(layout, ['data@0+65536']);
    assert.deepEqual(data, device.peek(0, 65_536));
    assert.deepEqual(device.calls.filter((call) => call.op === 'blockStatus'), [], 'block status was asked before the READ');
    client.destroy();
  });

  it('a structured READ keeps short zero runs inside data chunks and stays exact at odd offsets', async () => {
    const { client, device } = await session({ sizeBytes: 65_536, structured: true });
    device.poke(4096, pattern(100, 4));
    device.poke(12_288, pattern(100, 5));
    const { chunks } = await structured(client, { type: NBD_CMD_READ, offsetBytes: 4000, lengthBytes: 9000 });
    const { data, layout } = reassemble(chunks, 4000, 9000);
    // The zero page between the two data pages is 4096 bytes: long enough to be a hole.
    assert.deepEqual(layout, ['data@4000+4192', 'hole@8192+4096', 'data@12288+712']);
    assert.deepEqual(data, device.peek(4000, 9000));
    const small = await structured(client, { type: NBD_CMD_READ, offsetBytes: 20_000, lengthBytes: 1000 });
    assert.deepEqual(reassemble(small.chunks, 20_000, 1000).layout, ['data@20000+1000']);
    client.destroy();
  });

  it('a READ of zero bytes succeeds: empty simple reply, or a single NONE chunk', async () => {
    const plain = await session();
    assert.deepEqual(await simple(plain.client, { type: NBD_CMD_READ, offsetBytes: 0, lengthBytes: 0 }), { errno: 0, data: Buffer.alloc(0) });
    plain.client.destroy();
    const rich = await session({ structured: true });
    const { chunks } = await structured(rich.client, { type: NBD_CMD_READ, offsetBytes: 0, lengthBytes: 0 });
    assert.deepEqual(chunks.map((chunk) => [chunk.type, chunk.flags]), [[protocol.NBD_REPLY_TYPE_NONE, NBD_REPLY_FLAG_DONE]]);
    rich.client.destroy();
  });
});

describe('writing commands reach the device with their flags', () => {
  it('FUA makes a write durable before its reply; without FUA only FLUSH does', async () => {
    const { client, device } = await session();
    await simple(client, { type: NBD_CMD_WRITE, offsetBytes: 0, data: pattern(4096, 6) });
    assert.equal(device.durable.size, 0);
    await simple(client, { type: NBD_CMD_WRITE, flags: NBD_CMD_FLAG_FUA, offsetBytes: 8192, data: pattern(4096, 7) });
    assert.deepEqual(device.peek(8192, 4096, device.durable), pattern(4096, 7));
    assert.ok(!device.durable.has(0));
    assert.equal((await simple(client, { type: NBD_CMD_FLUSH })).errno, 0);
    assert.deepEqual(device.peek(0, 4096, device.durable), pattern(4096, 6));
    assert.deepEqual(device.calls.filter((call) => call.op === 'write').map((call) => call.fua), [false, true]);
    client.destroy();
  });

  it('TRIM and WRITE_ZEROES zero the range; NO_HOLE and FAST_ZERO are honoured', async () => {
    const { client, device } = await session();
    device.poke(0, pattern(65_536, 8));
    assert.equal((await simple(client, { type: NBD_CMD_TRIM, offsetBytes: 0, lengthBytes: 8192 })).errno, 0);
    const zeroes = { type: NBD_CMD_WRITE_ZEROES, offsetBytes: 16_384, lengthBytes: 8192 };
    assert.equal((await simple(client, { ...zeroes, flags: NBD_CMD_FLAG_NO_HOLE })).errno, 0);
    assert.equal((await simple(client, { ...zeroes, offsetBytes: 32_768, flags: NBD_CMD_FLAG_FAST_ZERO })).errno, 0);
    for (const offset of [0, 16_384, 32_768]) assert.deepEqual(device.peek(offset, 8192), Buffer.alloc(8192));
    assert.deepEqual(device.peek(8192, 8192), pattern(65_536, 8).subarray(8192, 16_384));
    // NO_HOLE keeps the pages allocated; a plain zero may punch them.
    assert.ok(device.pages.has(4) && device.pages.has(5));
    assert.ok(!device.pages.has(8) && !device.pages.has(9));
    const calls = device.calls.filter((call) => call.op === 'writeZeroes').map((call) => call.noHole);
    assert.deepEqual(calls, [true, false]);
    client.destroy();
  });

  it('CACHE succeeds without touching the device; FLUSH with a range is invalid', async () => {
    const { client, device } = await session();
    assert.equal((await simple(client, { type: NBD_CMD_CACHE, offsetBytes: 0, lengthBytes: 65_536 })).errno, 0);
    assert.equal(device.calls.length, 0);
    assert.equal((await simple(client, { type: NBD_CMD_FLUSH, offsetBytes: 1 })).errno, NBD_EINVAL);
    client.destroy();
  });
});

describe('block status', () => {
  it('reports data and hole|zero extents of base:allocation', async () => {
    const { client, device } = await session({ sizeBytes: 65_536, meta: true });
    device.poke(8192, pattern(5000, 9));
    const { errno, chunks } = await structured(client, { type: NBD_CMD_BLOCK_STATUS, offsetBytes: 0, lengthBytes: 65_536 });
    assert.equal(errno, 0);
    const status = blockStatusOf(chunks);
    assert.notEqual(status.contextId, 0);
    const holeZero = NBD_STATE_HOLE | NBD_STATE_ZERO;
    assert.deepEqual(status.descriptors, [
      { lengthBytes: 8192, status: holeZero },
      { lengthBytes: 8192, status: 0 },
      { lengthBytes: 49_152, status: holeZero },
    ]);
    assert.equal(chunks[0]!.flags & NBD_REPLY_FLAG_DONE, NBD_REPLY_FLAG_DONE);
    client.destroy();
  });

  it('REQ_ONE returns exactly one extent no longer than the request', async () => {
    const { client } = await session({ sizeBytes: 65_536, meta: true });
    const { chunks } = await structured(client, { type: NBD_CMD_BLOCK_STATUS, flags: NBD_CMD_FLAG_REQ_ONE, offsetBytes: 100, lengthBytes: 1000 });
    assert.deepEqual(blockStatusOf(chunks).descriptors, [{ lengthBytes: 1000, status: NBD_STATE_HOLE | NBD_STATE_ZERO }]);
    client.destroy();
  });

  it('is refused without a negotiated context, or with a context set for another export', async () => {
    const plain = await session({ structured: true });
    assert.equal((await structured(plain.client, { type: NBD_CMD_BLOCK_STATUS, lengthBytes: 4096 })).errno, NBD_EINVAL);
    plain.client.destroy();
    const other = addMemoryExport(harness, { sizeBytes: 4096 });
    const { name } = addMemoryExport(harness, { sizeBytes: 4096 });
    const client = await RawClient.connect(harness.port);
    await client.greeting();
    client.send(codec.encodeClientFlags(protocol.NBD_FLAG_C_FIXED_NEWSTYLE | protocol.NBD_FLAG_C_NO_ZEROES));
    await client.option(protocol.NBD_OPT_STRUCTURED_REPLY);
    await client.option(protocol.NBD_OPT_SET_META_CONTEXT, codec.encodeMetaContextRequest(other.name, ['base:allocation']));
    await client.option(protocol.NBD_OPT_GO, codec.encodeInfoRequest(name, []));
    assert.equal((await structured(client, { type: NBD_CMD_BLOCK_STATUS, lengthBytes: 4096 })).errno, NBD_EINVAL);
    client.destroy();
  });
});

describe('refusals', () => {
  it('a read-only export refuses WRITE, TRIM and WRITE_ZEROES with EPERM and stays in sync', async () => {
    for (const mode of ['simple', 'structured'] as const) {
      const { client, device } = await session({ readOnly: true, structured: mode === 'structured' });
      device.poke(0, pattern(4096, 10));
      const call = mode === 'simple' ? simple : structured;
      assert.equal((await call(client, { type: NBD_CMD_WRITE, offsetBytes: 0, data: Buffer.alloc(4096, 0xee) })).errno, NBD_EPERM);
      assert.equal((await call(client, { type: NBD_CMD_TRIM, offsetBytes: 0, lengthBytes: 4096 })).errno, NBD_EPERM);
      assert.equal((await call(client, { type: NBD_CMD_WRITE_ZEROES, offsetBytes: 0, lengthBytes: 4096 })).errno, NBD_EPERM);
      assert.deepEqual(device.peek(0, 4096), pattern(4096, 10));
      assert.deepEqual(device.calls.map((c) => c.op).filter((op) => op !== 'read' && op !== 'blockStatus'), []);
      // The refused WRITE's payload was skipped, not parsed as requests.
      if (mode === 'simple') assert.deepEqual(await simple(client, { type: NBD_CMD_READ, lengthBytes: 4096 }), { errno: 0, data: pattern(4096, 10) });
      else assert.deepEqual(reassemble((await structured(client, { type: NBD_CMD_READ, lengthBytes: 4096 })).chunks, 0, 4096).data, pattern(4096, 10));
      client.destroy();
    }
  });

  it('structured errors are ERROR chunks with a message', async () => {
    const { client } = await session({ readOnly: true, structured: true });
    const { chunks } = await structured(client, { type: NBD_CMD_WRITE, offsetBytes: 0, data: Buffer.alloc(1) });
    assert.equal(chunks.length, 1);
    assert.equal(chunks[0]!.type, NBD_REPLY_TYPE_ERROR);
    const payload = codec.decodeChunkPayload(chunks[0]!.type, chunks[0]!.payload);
    assert.ok(payload?.type === 'error' && payload.errno === NBD_EPERM && payload.message.length > 0);
    client.destroy();
  });

  it('ranges beyond the end: ENOSPC for writes, EINVAL otherwise; the stream stays in sync', async () => {
    const sizeBytes = 65_536;
    const { client, device } = await session({ sizeBytes });
    const past = { offsetBytes: sizeBytes - 100, lengthBytes: 101 };
    assert.equal((await simple(client, { type: NBD_CMD_WRITE, offsetBytes: past.offsetBytes, data: Buffer.alloc(101, 1) })).errno, NBD_ENOSPC);
    assert.equal((await simple(client, { type: NBD_CMD_WRITE_ZEROES, ...past })).errno, NBD_ENOSPC);
    assert.equal((await simple(client, { type: NBD_CMD_READ, ...past })).errno, NBD_EINVAL);
    assert.equal((await simple(client, { type: NBD_CMD_TRIM, ...past })).errno, NBD_EINVAL);
    assert.equal((await simple(client, { type: NBD_CMD_CACHE, ...past })).errno, NBD_EINVAL);
    assert.equal((await simple(client, { type: NBD_CMD_READ, offsetBytes: 2 ** 62, lengthBytes: 1 })).errno, NBD_EINVAL);
    // The last byte is still reachable.
    assert.equal((await simple(client, { type: NBD_CMD_WRITE, offsetBytes: sizeBytes - 1, data: Buffer.from([7]) })).errno, 0);
    assert.equal(device.peek(sizeBytes - 1, 1)[0], 7);
    client.destroy();
  });

  it('a READ above the maximum payload is EINVAL (simple) or EOVERFLOW (structured)', async () => {
    const sizeBytes = 64 * 1024 * 1024;
    const plain = await session({ sizeBytes });
    assert.equal((await simple(plain.client, { type: NBD_CMD_READ, lengthBytes: 32 * 1024 * 1024 + 1 })).errno, NBD_EINVAL);
    plain.client.destroy();
    const rich = await session({ sizeBytes, structured: true });
    assert.equal((await structured(rich.client, { type: NBD_CMD_READ, lengthBytes: 32 * 1024 * 1024 + 1 })).errno, NBD_EOVERFLOW);
    rich.client.destroy();
  });

  it('unknown commands and flags not valid for a command are EINVAL', async () => {
    const { client } = await session();
    assert.equal((await simple(client, { type: 99 })).errno, NBD_EINVAL);
    assert.equal((await simple(client, { type: NBD_CMD_READ, flags: NBD_CMD_FLAG_DF, lengthBytes: 1 })).errno, NBD_EINVAL);
    assert.equal((await simple(client, { type: NBD_CMD_READ, flags: NBD_CMD_FLAG_NO_HOLE, lengthBytes: 1 })).errno, NBD_EINVAL);
    assert.equal((await simple(client, { type: NBD_CMD_WRITE, flags: NBD_CMD_FLAG_REQ_ONE, data: Buffer.alloc(3) })).errno, NBD_EINVAL);
    assert.equal((await simple(client, { type: NBD_CMD_READ, flags: 0x8000, lengthBytes: 1 })).errno, NBD_EINVAL);
    // FUA is accepted on any command.
    assert.equal((await simple(client, { type: NBD_CMD_READ, flags: NBD_CMD_FLAG_FUA, lengthBytes: 1 })).errno, 0);
    client.destroy();
  });

  it('a WRITE announcing more than the maximum payload is a hard disconnect', async () => {
    const { client } = await session();
    send(client, { type: NBD_CMD_WRITE, lengthBytes: 32 * 1024 * 1024 + 1 });
    assert.equal((await client.readToEnd()).length, 0);
    await harness.waitForEvent((event) => event.type === 'protocol-error' && event.reason.includes('WRITE'));
  });

  it('a bad request magic is a hard disconnect', async () => {
    const { client } = await session();
    client.send(codec.encodeRequest({ magic: 0x12345678, flags: 0, type: NBD_CMD_READ, cookie: 1n, offsetBytes: 0, lengthBytes: 1 }));
    assert.equal((await client.readToEnd()).length, 0);
  });
});

describe('device failures map to NBD errors', () => {
  const cases = [
    { code: 'NO_SPACE', errno: NBD_ENOSPC },
    { code: 'CHECKSUM_MISMATCH', errno: NBD_EIO },
    { code: 'NOT_FOUND', errno: NBD_ESHUTDOWN },
    { code: 'READ_ONLY', errno: NBD_EPERM },
    { code: 'OUT_OF_RANGE', errno: NBD_EINVAL },
  ] as const;

  it('in simple and structured replies, and the connection keeps working', async () => {
    for (const mode of ['simple', 'structured'] as const) {
      const { client, device } = await session({ structured: mode === 'structured' });
      for (const { code, errno } of cases) {
        device.fault = () => new StrataError(code);
        const call = mode === 'simple' ? simple : structured;
        assert.equal((await call(client, { type: NBD_CMD_WRITE, data: Buffer.alloc(8) })).errno, errno, `${mode} write ${code}`);
        assert.equal((await call(client, { type: NBD_CMD_READ, lengthBytes: 8 })).errno, errno, `${mode} read ${code}`);
      }
      device.fault = null;
      assert.equal((await (mode === 'simple' ? simple : structured)(client, { type: NBD_CMD_FLUSH })).errno, 0);
      client.destroy();
    }
    const errors = harness.events.filter((event) => event.type === 'request-error');
    assert.ok(errors.length >= cases.length * 4);
  });
});

describe('pipelining', () => {
  it('answers out of order: a held READ is overtaken by a later one', async () => {
    const { client, device } = await session();
    device.poke(0, pattern(4096, 11));
    device.poke(4096, pattern(4096, 12));
    const held = device.hold((call) => call.op === 'read' && call.offsetBytes === 0);
    const first = send(client, { type: NBD_CMD_READ, offsetBytes: 0, lengthBytes: 4096 });
    const second = send(client, { type: NBD_CMD_READ, offsetBytes: 4096, lengthBytes: 4096 });
    await held.reached;
    const early = await client.reply(() => 4096);
    assert.deepEqual([early.cookie, early.kind === 'simple' && early.data], [second, pattern(4096, 12)]);
    held.release();
    const late = await client.reply(() => 4096);
    assert.deepEqual([late.cookie, late.kind === 'simple' && late.data], [first, pattern(4096, 11)]);
    client.destroy();
  });

  it('serves hundreds of requests sent at once, each answered once with the right data', async () => {
    const { client, device } = await session({ sizeBytes: 4 * 1024 * 1024, structured: true });
    const count = 400;
    const expected = new Map<bigint, { offsetBytes: number; data: Buffer }>();
    for (let index = 0; index < count; index++) {
      const offsetBytes = index * 8192;
      const data = pattern(8192, index);
      send(client, { type: NBD_CMD_WRITE, offsetBytes, data, cookie: BigInt(index) });
    }
    for (let index = 0; index < count; index++) {
      expected.set(BigInt(count + index), { offsetBytes: index * 8192, data: pattern(8192, index) });
    }
    const replies = new Map<bigint, number>();
    for (let index = 0; index < count; index++) {
      const reply = await client.reply();
      replies.set(reply.cookie, (replies.get(reply.cookie) ?? 0) + 1);
      assert.equal(reply.kind === 'simple' && reply.errno, 0);
    }
    assert.equal(replies.size, count);
    for (const [cookie, { offsetBytes }] of expected) send(client, { type: NBD_CMD_READ, offsetBytes, lengthBytes: 8192, cookie });
    for (let index = 0; index < count; index++) {
      const chunks: Chunk[] = [];
      const first = await client.reply();
      assert.equal(first.kind, 'chunk');
      chunks.push(first as Chunk);
      const entry = expected.get(first.cookie);
      assert.ok(entry !== undefined, 'reply to a cookie that was sent');
      assert.ok((first.kind === 'chunk' && first.flags & NBD_REPLY_FLAG_DONE) !== 0, 'a data read is one chunk');
      assert.deepEqual(reassemble(chunks, entry.offsetBytes, 8192).data, entry.data);
      expected.delete(first.cookie);
    }
    assert.equal(expected.size, 0);
    assert.deepEqual(device.peek(0, 8192), pattern(8192, 0));
    client.destroy();
  });

  it('NBD_CMD_DISC lets requests in flight finish before the server closes', async () => {
    const { client, device } = await session();
    const held = device.hold((call) => call.op === 'write');
    const cookie = send(client, { type: NBD_CMD_WRITE, offsetBytes: 0, data: pattern(512, 13) });
    send(client, { type: NBD_CMD_DISC });
    await held.reached;
    held.release();
    const rest = await client.readToEnd();
    assert.equal(rest.length, protocol.SIMPLE_REPLY_BYTES);
    assert.deepEqual(codec.decodeSimpleReply(rest), { magic: protocol.NBD_SIMPLE_REPLY_MAGIC, errno: 0, cookie });
    assert.deepEqual(device.peek(0, 512), pattern(512, 13));
  });

  it('a client that half-closes still gets its replies', async () => {
    const { client, device } = await session();
    device.poke(0, pattern(100, 14));
    const cookie = send(client, { type: NBD_CMD_READ, offsetBytes: 0, lengthBytes: 100 });
    client.end();
    const rest = await client.readToEnd();
    assert.equal(codec.decodeSimpleReply(rest).cookie, cookie);
    assert.deepEqual(rest.subarray(protocol.SIMPLE_REPLY_BYTES), pattern(100, 14));
  });
});

describe('flow control', () => {
  it('stops reading requests at the in-flight request cap and resumes as they complete', async () => {
    const capped = await startServer({ limits: { inFlightRequestCountMax: 16 } });
    try {
      const { client, device } = await session({ on: capped });
      const held = device.hold((call) => call.op === 'read');
      for (let index = 0; index < 200; index++) send(client, { type: NBD_CMD_READ, offsetBytes: index, lengthBytes: 1, cookie: BigInt(index) });
      await capped.waitForEvent((event) => event.type === 'backpressure' && event.cause === 'in-flight');
      assert.equal(device.calls.length, 16);
      held.release();
      const cookies = new Set<bigint>();
      for (let index = 0; index < 200; index++) cookies.add((await client.reply(() => 1)).cookie);
      assert.equal(cookies.size, 200);
      client.destroy();
    } finally {
      await capped.close();
    }
  });

  it('stops reading requests at the in-flight byte cap', async () => {
    const capped = await startServer({ limits: { inFlightBytesMax: 1024 * 1024 } });
    try {
      const { client, device } = await session({ on: capped, sizeBytes: 8 * 1024 * 1024 });
      const held = device.hold((call) => call.op === 'read');
      for (let index = 0; index < 20; index++) send(client, { type: NBD_CMD_READ, offsetBytes: 0, lengthBytes: 256 * 1024, cookie: BigInt(index) });
      await capped.waitForEvent((event) => event.type === 'backpressure' && event.cause === 'in-flight');
      assert.equal(device.calls.length, 4);
      held.release();
      for (let index = 0; index < 20; index++) await client.reply(() => 256 * 1024);
      client.destroy();
    } finally {
      await capped.close();
    }
  });

  it('a client that does not read its replies makes the server stop, not buffer without bound', async () => {
    const writeBufferBytesMax = 1024 * 1024;
    const capped = await startServer({ limits: { socketWriteBufferBytesMax: writeBufferBytesMax } });
    try {
      const { client } = await session({ on: capped, sizeBytes: 1024 * 1024 });
      client.socket.pause();
      const count = 256; // 256 MiB of replies if the server kept going
      for (let index = 0; index < count; index++) send(client, { type: NBD_CMD_READ, offsetBytes: 0, lengthBytes: 1024 * 1024, cookie: BigInt(index) });
      const event = await capped.waitForEvent((e) => e.type === 'backpressure' && e.cause === 'write-buffer');
      assert.ok(event.type === 'backpressure');
      // Queued reply bytes: the cap plus at most what the requests in flight could add.
      assert.ok(event.writableLengthBytes <= writeBufferBytesMax + 64 * 1024 * 1024 + 4096, `${event.writableLengthBytes}`);
      assert.ok(capped.server.stats().ops < count);
      client.socket.resume();
      const cookies = new Set<bigint>();
      for (let index = 0; index < count; index++) cookies.add((await client.reply(() => 1024 * 1024)).cookie);
      assert.equal(cookies.size, count);
      assert.equal(capped.server.stats().ops, count);
      client.destroy();
    } finally {
      await capped.close();
    }
  });
});

describe('multiple connections', () => {
  it('advertises CAN_MULTI_CONN: a FLUSH on one connection makes another connection\'s completed writes durable', async () => {
    const { client: writer, device, name, flags } = await session();
    assert.notEqual(flags & protocol.NBD_FLAG_CAN_MULTI_CONN, 0);
    const { client: flusher } = await RawClient.open(harness.port, name);
    assert.equal((await simple(writer, { type: NBD_CMD_WRITE, offsetBytes: 4096, data: pattern(8192, 15) })).errno, 0);
    assert.equal(device.peek(4096, 8192, device.durable).equals(pattern(8192, 15)), false);
    assert.equal((await simple(flusher, { type: NBD_CMD_FLUSH })).errno, 0);
    assert.deepEqual(device.peek(4096, 8192, device.durable), pattern(8192, 15));
    // And the data is visible to the other connection.
    assert.deepEqual((await simple(flusher, { type: NBD_CMD_READ, offsetBytes: 4096, lengthBytes: 8192 })).data, pattern(8192, 15));
    writer.destroy();
    flusher.destroy();
  });

  it('removing an export disconnects its clients only; its name becomes unknown', async () => {
    const doomed = await session();
    const second = await RawClient.open(harness.port, doomed.name);
    const bystander = await session();
    assert.equal(harness.exports.connectionCount(doomed.name), 2);
    assert.equal(harness.exports.remove(doomed.name), true);
    await doomed.client.closed;
    await second.client.closed;
    assert.equal(harness.exports.connectionCount(doomed.name), 0);
    assert.equal((await simple(bystander.client, { type: NBD_CMD_READ, lengthBytes: 1 })).errno, 0);
    await assert.rejects(RawClient.open(harness.port, doomed.name), /GO refused/);
    bystander.client.destroy();
  });
});

describe('server lifecycle', () => {
  it('close() lets an in-flight request finish and be answered, then closes and refuses new connections', async () => {
    const closing = await startServer();
    const { client, device } = await session({ on: closing });
    device.poke(0, pattern(4096, 16));
    const held = device.hold((call) => call.op === 'read');
    const cookie = send(client, { type: NBD_CMD_READ, offsetBytes: 0, lengthBytes: 4096 });
    await held.reached;
    let closed = false;
    const closePromise = closing.close().then(() => (closed = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(closed, false, 'close waits for the request in flight');
    held.release();
    const rest = await client.readToEnd();
    assert.equal(codec.decodeSimpleReply(rest).cookie, cookie);
    assert.deepEqual(rest.subarray(protocol.SIMPLE_REPLY_BYTES), pattern(4096, 16));
    await closePromise;
    assert.equal(closing.server.stats().connections, 0);
    await assert.rejects(
      new Promise((resolve, reject) => net.connect(closing.port, '127.0.0.1').once('connect', resolve).once('error', reject)),
      /ECONNREFUSED/,
    );
  });

  it('stats count connections, operations and payload bytes', async () => {
    const counted = await startServer();
    try {
      const { client } = await session({ on: counted });
      await simple(client, { type: NBD_CMD_WRITE, data: Buffer.alloc(3000) });
      await simple(client, { type: NBD_CMD_READ, lengthBytes: 1000 });
      await simple(client, { type: NBD_CMD_READ, offsetBytes: 2 ** 40, lengthBytes: 1000 });
      const { inFlightBytes, ...stats } = counted.server.stats();
      assert.deepEqual(stats, { connections: 1, bytesRead: 1000, bytesWritten: 3000, ops: 3, handshakes: 0 });
      assert.ok(inFlightBytes <= 1000, `${inFlightBytes} bytes reserved after every reply arrived`);
      client.destroy();
      await client.closed;
    } finally {
      await counted.close();
    }
    assert.equal(counted.server.stats().connections, 0);
    assert.equal(counted.server.stats().inFlightBytes, 0, 'a closed connection holds no reservation');
  });
});
