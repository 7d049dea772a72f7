/**
 * The server under pressure: a flood of connections that never finish the handshake cannot
 * lock out real clients, and payload bytes in memory are bounded across all connections, not
 * only per connection.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { describe, it } from 'node:test';
import { codec, limits, protocol } from '../../src/nbd/index.js';
import { InFlightBudget } from '../../src/nbd/budget.js';
import { addMemoryExport, startServer, type Harness } from './harness.js';
import { installed } from './tools.js';
import { RawClient } from './raw-client.js';

const { NBD_CMD_READ, NBD_CMD_WRITE, NBD_FLAG_C_FIXED_NEWSTYLE, NBD_FLAG_C_NO_ZEROES, NBD_OPT_GO, NBD_REP_ACK } = protocol;
const KiB = 1024;
const MiB = 1024 * KiB;

interface Silent {
  socket: net.Socket;
  /** Resolves when the server closed it. */
  closed: Promise<void>;
}

/** Opens `count` TCP connections that never send a byte, a batch at a time. */
async function flood(port: number, count: number): Promise<Silent[]> {
  const sockets: Silent[] = [];
  for (let at = 0; at < count; at += 100) {
    const batch = Array.from({ length: Math.min(100, count - at) }, () =>
      new Promise<Silent>((resolve, reject) => {
        const socket = net.connect({ port, host: '127.0.0.1' });
        socket.on('error', () => {});
        // Take the greeting, send nothing.
        socket.on('data', () => {});
        const closed = new Promise<void>((done) => socket.once('close', () => done()));
        socket.once('connect', () => resolve({ socket, closed }));
        socket.once('error', reject);
      }),
    );
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

/** Writes then reads back 64 KiB through a raw client session; returns what was read. */
async function writeAndReadBack(client: RawClient, offsetBytes: number, fill: number): Promise<Buffer> {
  const data = Buffer.alloc(64 * KiB, fill);
  client.request({ type: NBD_CMD_WRITE, cookie: 1n, offsetBytes, lengthBytes: data.length, data });
  const written = await client.reply();
  assert.equal(written.kind === 'simple' && written.errno, 0);
  client.request({ type: NBD_CMD_READ, cookie: 2n, offsetBytes, lengthBytes: data.length });
  const read = await client.reply(() => data.length);
  assert.equal(read.kind === 'simple' && read.errno, 0);
  return read.kind === 'simple' ? read.data : Buffer.alloc(0);
}

function runTool(tool: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(tool, args, { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

/** Resolves once `condition()` holds, checking after each turn of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 1));
}

describe('connections that never finish the handshake', () => {
  it(`${limits.connectionCountMax + 76} silent connections do not lock out a real client (default limits)`, { timeout: 120_000 }, async (t) => {
    const harness = await startServer({ keepEvents: false });
    const silent: Silent[] = [];
    try {
      const { device, name } = addMemoryExport(harness, { sizeBytes: 4 * MiB, recordCalls: false });
      const early = await RawClient.open(harness.port, name);
      silent.push(...(await flood(harness.port, limits.connectionCountMax + 76)));
      const late = await RawClient.open(harness.port, name);
      assert.deepEqual(await writeAndReadBack(late.client, 0, 0x5a), Buffer.alloc(64 * KiB, 0x5a));
      assert.deepEqual(device.peek(0, 64 * KiB), Buffer.alloc(64 * KiB, 0x5a));
      // A session that was in transmission before the flood is untouched.
      assert.deepEqual(await writeAndReadBack(early.client, MiB, 0xa5), Buffer.alloc(64 * KiB, 0xa5));
      if (installed('nbdinfo')) {
        const info = await runTool('nbdinfo', ['--size', harness.uri(name)]);
        assert.equal(info.code, 0, `nbdinfo during the flood: ${info.stderr}`);
        assert.equal(info.stdout.trim(), String(4 * MiB));
      } else {
        t.diagnostic('nbdinfo not installed: checked with the raw client only');
      }
      const { handshakes } = harness.server.stats();
      assert.ok(handshakes <= limits.handshakeCountMax, `${handshakes} connections in the handshake`);
      late.client.destroy();
      early.client.destroy();
    } finally {
      for (const { socket } of silent) socket.destroy();
      await harness.close();
    }
  });

  it('the oldest silent connections are closed first, and established sessions never are', { timeout: 60_000 }, async () => {
    const harness = await startServer({ limits: { handshakeCountMax: 4, handshakeDurationMsMax: 600_000 } });
    const silent: Silent[] = [];
    try {
      const { name } = addMemoryExport(harness, { sizeBytes: MiB });
      const established = await RawClient.open(harness.port, name);
      // One at a time, so the server sees them in this order.
      for (let index = 0; index < 10; index++) {
        silent.push(...(await flood(harness.port, 1)));
        await until(() => harness.events.filter((event) => event.type === 'connection-open').length === index + 2);
      }
      await Promise.all(silent.slice(0, 6).map(({ closed }) => closed));
      assert.deepEqual(silent.map(({ socket }) => socket.destroyed), [true, true, true, true, true, true, false, false, false, false]);
      assert.equal(harness.events.filter((event) => event.type === 'handshake-evicted').length, 6);
      assert.equal(harness.server.stats().handshakes, 4);
      assert.deepEqual(await writeAndReadBack(established.client, 0, 1), Buffer.alloc(64 * KiB, 1));
      established.client.destroy();
    } finally {
      for (const { socket } of silent) socket.destroy();
      await harness.close();
    }
  });

  it('under pressure, new connections get the shorter handshake deadline', { timeout: 60_000 }, async () => {
    const harness = await startServer({
      limits: { handshakeCountMax: 8, handshakePressureCountAbove: 2, handshakeDurationMsMax: 600_000, handshakeUnderPressureDurationMsMax: 50 },
    });
    try {
      const { name } = addMemoryExport(harness, { sizeBytes: MiB });
      const first = await RawClient.connect(harness.port);
      const second = await RawClient.connect(harness.port);
      await Promise.all([first.greeting(), second.greeting()]);
      const third = await RawClient.connect(harness.port);
      await third.greeting();
      await third.closed;
      const refused = await harness.waitForEvent((event) => event.type === 'handshake-refused');
      assert.equal(refused.type === 'handshake-refused' && refused.reason, 'handshake timeout');
      // The two accepted before the pressure keep their long deadline and can still finish.
      first.send(codec.encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES));
      const replies = await first.option(NBD_OPT_GO, codec.encodeInfoRequest(name, []));
      assert.equal(replies.at(-1)?.replyType, NBD_REP_ACK);
      assert.equal(second.socket.destroyed, false);
      first.destroy();
      second.destroy();
    } finally {
      await harness.close();
    }
  });
});

describe('payload bytes across connections', () => {
  it('are bounded by serverInFlightBytesMax, whatever each connection may hold', { timeout: 60_000 }, async () => {
    const budgetBytes = MiB;
    const writeBytes = 256 * KiB;
    const perConnection = 8;
    const connections = 4;
    const harness: Harness = await startServer({ limits: { serverInFlightBytesMax: budgetBytes } });
    const { device, name } = addMemoryExport(harness, { sizeBytes: connections * perConnection * writeBytes });
    const held = device.hold((call) => call.op === 'write');
    try {
      const clients = await Promise.all(Array.from({ length: connections }, () => RawClient.open(harness.port, name)));
      const dataFor = (index: number) => Buffer.alloc(writeBytes, index + 1);
      clients.forEach(({ client }, c) => {
        for (let i = 0; i < perConnection; i++) {
          const index = c * perConnection + i;
          client.request({ type: NBD_CMD_WRITE, cookie: BigInt(index), offsetBytes: index * writeBytes, lengthBytes: writeBytes, data: dataFor(index) });
        }
      });
      const writesAtDevice = () => device.calls.filter((call) => call.op === 'write').length;
      const waiting = new Set<number>();
      // Either every connection ends up waiting for the budget, or the device sees more than it allows.
      await until(() => {
        for (const event of harness.events) if (event.type === 'backpressure' && event.cause === 'server-in-flight') waiting.add(event.connectionId);
        return waiting.size === connections || writesAtDevice() > budgetBytes / writeBytes;
      });
      await until(() => writesAtDevice() >= budgetBytes / writeBytes);
      assert.equal(writesAtDevice(), budgetBytes / writeBytes, `writes held by the device at once (each connection alone may hold ${limits.inFlightBytesMax} bytes)`);
      assert.ok(harness.server.stats().inFlightBytes <= budgetBytes, `${harness.server.stats().inFlightBytes} bytes reserved`);
      held.release();
      for (const { client } of clients) {
        for (let i = 0; i < perConnection; i++) assert.equal((await client.reply()).kind === 'simple', true);
      }
      for (let index = 0; index < connections * perConnection; index++) {
        assert.deepEqual(device.peek(index * writeBytes, writeBytes), dataFor(index), `write ${index} landed`);
      }
      for (const { client } of clients) client.destroy();
    } finally {
      held.release();
      await harness.close();
    }
  });
});

describe('a client that stops reading its replies', () => {
  it('is dropped after replyStallMsMax, giving its share of the budget back to the others', { timeout: 60_000 }, async () => {
    const harness = await startServer({ limits: { serverInFlightBytesMax: 8 * MiB, replyStallMsMax: 200 } });
    try {
      const { name } = addMemoryExport(harness, { sizeBytes: 8 * MiB, recordCalls: false });
      const stalled = await RawClient.open(harness.port, name);
      const patient = await RawClient.open(harness.port, name);
      stalled.client.socket.pause();
      for (let index = 0; index < 64; index++) stalled.client.request({ type: NBD_CMD_READ, cookie: BigInt(index), offsetBytes: 0, lengthBytes: MiB });
      // Unread replies fill the kernel's buffers, then hold the whole budget.
      await harness.waitForEvent((event) => event.type === 'backpressure' && event.cause === 'server-in-flight');
      for (let index = 0; index < 16; index++) patient.client.request({ type: NBD_CMD_READ, cookie: BigInt(index), offsetBytes: 0, lengthBytes: MiB });
      for (let index = 0; index < 16; index++) {
        const reply = await patient.client.reply(() => MiB);
        assert.equal(reply.kind === 'simple' && reply.errno, 0);
      }
      const stall = await harness.waitForEvent((event) => event.type === 'replies-stalled');
      assert.ok(stall.type === 'replies-stalled' && stall.writableLengthBytes > 0);
      stalled.client.socket.resume();
      await stalled.client.closed;
      patient.client.destroy();
    } finally {
      await harness.close();
    }
  });
});

describe('InFlightBudget', () => {
  it('grants in arrival order, lets a withdrawn waiter go, and clamps to its capacity', async () => {
    const budget = new InFlightBudget(100);
    const never = new AbortController();
    const first = await budget.reserve(60, never.signal);
    const order: string[] = [];
    const big = budget.reserve(80, never.signal).then((release) => (order.push('big'), release));
    const small = budget.reserve(10, never.signal).then((release) => (order.push('small'), release));
    const withdrawn = new AbortController();
    const gone = budget.reserve(5, withdrawn.signal);
    withdrawn.abort(new Error('closed'));
    await assert.rejects(gone, /closed/);
    assert.equal(budget.waitingCount, 2);
    first();
    first();
    const releaseBig = await big;
    const releaseSmall = await small;
    assert.deepEqual(order, ['big', 'small']);
    assert.equal(budget.usedBytes, 90);
    releaseBig();
    releaseSmall();
    const whole = await budget.reserve(1000, never.signal);
    assert.equal(budget.usedBytes, 100);
    whole();
    assert.equal(budget.usedBytes, 0);
  });
});
