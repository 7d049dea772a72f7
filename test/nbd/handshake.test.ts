/**
 * The fixed newstyle handshake, driven byte by byte by a raw client: what each option answers,
 * that export names stay secret, and that every bound holds.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { codec, protocol } from '../../src/nbd/index.js';
import { addMemoryExport, startServer, type Harness } from './harness.js';
import { RawClient, type OptionReply } from './raw-client.js';

const {
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STARTTLS,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_POLICY,
  NBD_REP_ERR_TOO_BIG,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_META_CONTEXT,
} = protocol;

const sizeBytes = 1024 * 1024 + 512;
let harness: Harness;
let name: string;
let readOnlyName: string;

before(async () => {
  harness = await startServer();
  name = addMemoryExport(harness, { sizeBytes }).name;
  readOnlyName = addMemoryExport(harness, { sizeBytes: 8192, readOnly: true }).name;
});
after(() => harness.close());

/** A client past the greeting and client flags, in option haggling. */
async function haggling(clientFlags = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES, port = harness.port): Promise<RawClient> {
  const client = await RawClient.connect(port);
  await client.greeting();
  client.send(codec.encodeClientFlags(clientFlags));
  return client;
}

const types = (replies: OptionReply[]): number[] => replies.map((reply) => reply.replyType);
const infoOf = (replies: OptionReply[], infoType: number): Buffer | undefined =>
  replies.find((reply) => reply.replyType === NBD_REP_INFO && reply.data.readUInt16BE(0) === infoType)?.data;

async function goSucceeds(client: RawClient, exportName = name): Promise<void> {
  const replies = await client.option(NBD_OPT_GO, codec.encodeInfoRequest(exportName, []));
  assert.equal(replies.at(-1)?.replyType, NBD_REP_ACK);
  client.destroy();
}

describe('greeting and client flags', () => {
  it('greets with NBDMAGIC, IHAVEOPT and FIXED_NEWSTYLE | NO_ZEROES', async () => {
    const client = await RawClient.connect(harness.port);
    const greeting = await client.greeting();
    assert.equal(greeting.magic, protocol.NBDMAGIC);
    assert.equal(greeting.ihaveopt, protocol.IHAVEOPT);
    assert.equal(greeting.flags, protocol.NBD_FLAG_FIXED_NEWSTYLE | protocol.NBD_FLAG_NO_ZEROES);
    client.destroy();
  });

  it('drops a client that sets unknown client flags', async () => {
    const client = await haggling(NBD_FLAG_C_FIXED_NEWSTYLE | 0x100);
    client.send(codec.encodeOption(NBD_OPT_LIST));
    assert.equal((await client.readToEnd()).length, 0);
  });

  it('drops a client whose option magic is wrong', async () => {
    const client = await haggling();
    const option = codec.encodeOption(NBD_OPT_LIST);
    option[0] ^= 0xff;
    client.send(option);
    assert.equal((await client.readToEnd()).length, 0);
  });
});

describe('NBD_OPT_INFO and NBD_OPT_GO', () => {
  it('INFO describes the export: size, transmission flags, block sizes', async () => {
    const client = await haggling();
    const replies = await client.option(NBD_OPT_INFO, codec.encodeInfoRequest(name, [NBD_INFO_BLOCK_SIZE]));
    assert.deepEqual(types(replies), [NBD_REP_INFO, NBD_REP_INFO, NBD_REP_ACK]);
    const exportInfo = infoOf(replies, NBD_INFO_EXPORT);
    assert.equal(Number(exportInfo?.readBigUInt64BE(2)), sizeBytes);
    const flags = exportInfo?.readUInt16BE(10) ?? 0;
    const expected =
      protocol.NBD_FLAG_HAS_FLAGS |
      protocol.NBD_FLAG_SEND_FLUSH |
      protocol.NBD_FLAG_SEND_FUA |
      protocol.NBD_FLAG_SEND_TRIM |
      protocol.NBD_FLAG_SEND_WRITE_ZEROES |
      protocol.NBD_FLAG_SEND_FAST_ZERO |
      protocol.NBD_FLAG_SEND_CACHE |
      protocol.NBD_FLAG_CAN_MULTI_CONN;
    assert.equal(flags, expected);
    const blockSize = infoOf(replies, NBD_INFO_BLOCK_SIZE);
    assert.deepEqual(
      [blockSize?.readUInt32BE(2), blockSize?.readUInt32BE(6), blockSize?.readUInt32BE(10)],
      [1, 4096, 32 * 1024 * 1024],
    );
    // INFO does not end negotiation: GO still works on the same connection.
    await goSucceeds(client);
  });

  it('a read-only export says so and does not offer writing commands', async () => {
    const client = await haggling();
    const replies = await client.option(NBD_OPT_INFO, codec.encodeInfoRequest(readOnlyName, []));
    const flags = infoOf(replies, NBD_INFO_EXPORT)?.readUInt16BE(10) ?? 0;
    assert.notEqual(flags & protocol.NBD_FLAG_READ_ONLY, 0);
    assert.equal(flags & (protocol.NBD_FLAG_SEND_TRIM | protocol.NBD_FLAG_SEND_WRITE_ZEROES | protocol.NBD_FLAG_SEND_FUA), 0);
    client.destroy();
  });

  it('answers NBD_INFO_NAME when asked', async () => {
    const client = await haggling();
    const replies = await client.option(NBD_OPT_INFO, codec.encodeInfoRequest(name, [NBD_INFO_NAME]));
    assert.equal(infoOf(replies, NBD_INFO_NAME)?.subarray(2).toString(), name);
    client.destroy();
  });

  it('refuses unknown exports with NBD_REP_ERR_UNKNOWN and no information', async () => {
    const client = await haggling();
    for (const option of [NBD_OPT_INFO, NBD_OPT_GO]) {
      for (const unknown of ['', name.slice(0, -1), `${name}x`]) {
        const replies = await client.option(option, codec.encodeInfoRequest(unknown, [NBD_INFO_BLOCK_SIZE]));
        assert.deepEqual(types(replies), [NBD_REP_ERR_UNKNOWN]);
      }
    }
    // The failed GO left the client in option haggling.
    await goSucceeds(client);
  });

  it('rejects malformed INFO/GO data with NBD_REP_ERR_INVALID', async () => {
    const client = await haggling();
    const truncated = codec.encodeInfoRequest(name, [NBD_INFO_BLOCK_SIZE]).subarray(0, 10);
    assert.deepEqual(types(await client.option(NBD_OPT_GO, truncated)), [NBD_REP_ERR_INVALID]);
    const invalidUtf8 = Buffer.from('00000002fffe0000', 'hex');
    assert.deepEqual(types(await client.option(NBD_OPT_GO, invalidUtf8)), [NBD_REP_ERR_INVALID]);
    await goSucceeds(client);
  });

  it('GO enters transmission: a READ right after the ACK is answered', async () => {
    const client = await haggling();
    const replies = await client.option(NBD_OPT_GO, codec.encodeInfoRequest(name, []));
    assert.equal(replies.at(-1)?.replyType, NBD_REP_ACK);
    client.request({ type: protocol.NBD_CMD_READ, cookie: 9n, offsetBytes: 0, lengthBytes: 16 });
    const reply = await client.reply(() => 16);
    assert.deepEqual(reply, { kind: 'simple', errno: 0, cookie: 9n, data: Buffer.alloc(16) });
    client.destroy();
  });

  it('an export removed between INFO and GO is unknown to GO', async () => {
    const { name: doomed } = addMemoryExport(harness, { sizeBytes: 4096 });
    const client = await haggling();
    assert.equal((await client.option(NBD_OPT_INFO, codec.encodeInfoRequest(doomed, []))).at(-1)?.replyType, NBD_REP_ACK);
    harness.exports.remove(doomed);
    assert.deepEqual(types(await client.option(NBD_OPT_GO, codec.encodeInfoRequest(doomed, []))), [NBD_REP_ERR_UNKNOWN]);
    client.destroy();
  });
});

describe('NBD_OPT_EXPORT_NAME', () => {
  it('answers size and flags without padding when NO_ZEROES was negotiated', async () => {
    const client = await haggling();
    client.send(codec.encodeOption(NBD_OPT_EXPORT_NAME, Buffer.from(name)));
    const reply = await client.read(10);
    assert.equal(Number(reply.readBigUInt64BE(0)), sizeBytes);
    assert.notEqual(reply.readUInt16BE(8) & protocol.NBD_FLAG_HAS_FLAGS, 0);
    // The next bytes are a transmission reply, not padding.
    client.request({ type: protocol.NBD_CMD_FLUSH, cookie: 5n, offsetBytes: 0, lengthBytes: 0 });
    assert.deepEqual(await client.reply(), { kind: 'simple', errno: 0, cookie: 5n, data: Buffer.alloc(0) });
    client.destroy();
  });

  it('pads with 124 zero bytes for a client without NO_ZEROES', async () => {
    const client = await haggling(NBD_FLAG_C_FIXED_NEWSTYLE);
    client.send(codec.encodeOption(NBD_OPT_EXPORT_NAME, Buffer.from(name)));
    const reply = await client.read(134);
    assert.ok(reply.subarray(10).every((byte) => byte === 0));
    client.request({ type: protocol.NBD_CMD_FLUSH, cookie: 6n, offsetBytes: 0, lengthBytes: 0 });
    assert.equal((await client.reply()).cookie, 6n);
    client.destroy();
  });

  it('closes the connection for an unknown export, sending nothing', async () => {
    const client = await haggling();
    client.send(codec.encodeOption(NBD_OPT_EXPORT_NAME, Buffer.from(`${name}-nope`)));
    assert.equal((await client.readToEnd()).length, 0);
  });
});

describe('export names stay secret', () => {
  it('NBD_OPT_LIST is refused by policy and the reply carries no export name', async () => {
    const client = await haggling();
    const replies = await client.option(NBD_OPT_LIST);
    assert.deepEqual(types(replies), [NBD_REP_ERR_POLICY]);
    const bytes = Buffer.concat(replies.map((reply) => reply.data)).toString('latin1');
    for (const secret of [name, readOnlyName]) assert.ok(!bytes.includes(secret));
    assert.deepEqual(types(await client.option(NBD_OPT_LIST, Buffer.from('x'))), [NBD_REP_ERR_INVALID]);
    await goSucceeds(client);
  });
});

describe('other options', () => {
  it('unknown options and STARTTLS get NBD_REP_ERR_UNSUP and negotiation continues', async () => {
    const client = await haggling();
    assert.deepEqual(types(await client.option(0x1234, Buffer.from('payload'))), [NBD_REP_ERR_UNSUP]);
    assert.deepEqual(types(await client.option(NBD_OPT_STARTTLS)), [NBD_REP_ERR_UNSUP]);
    await goSucceeds(client);
  });

  it('NBD_OPT_STRUCTURED_REPLY is acknowledged, and refused with data', async () => {
    const client = await haggling();
    assert.deepEqual(types(await client.option(NBD_OPT_STRUCTURED_REPLY, Buffer.from('x'))), [NBD_REP_ERR_INVALID]);
    assert.deepEqual(types(await client.option(NBD_OPT_STRUCTURED_REPLY)), [NBD_REP_ACK]);
    client.destroy();
  });

  it('NBD_OPT_ABORT is acknowledged and the server closes', async () => {
    const client = await haggling();
    client.send(codec.encodeOption(NBD_OPT_ABORT));
    const rest = await client.readToEnd();
    const header = codec.decodeOptionReplyHeader(rest);
    assert.equal(rest.length, protocol.OPTION_REPLY_HEADER_BYTES);
    assert.deepEqual([header.option, header.replyType], [NBD_OPT_ABORT, NBD_REP_ACK]);
  });
});

describe('metadata contexts', () => {
  const metaNames = (replies: OptionReply[]): string[] =>
    replies.filter((reply) => reply.replyType === NBD_REP_META_CONTEXT).map((reply) => reply.data.subarray(4).toString());

  it('LIST with no query, or with base:, offers base:allocation', async () => {
    const client = await haggling();
    for (const queries of [[], ['base:'], ['base:allocation']]) {
      const replies = await client.option(NBD_OPT_LIST_META_CONTEXT, codec.encodeMetaContextRequest(name, queries));
      assert.deepEqual(metaNames(replies), ['base:allocation'], JSON.stringify(queries));
      assert.equal(replies.at(-1)?.replyType, NBD_REP_ACK);
    }
    const foreign = await client.option(NBD_OPT_LIST_META_CONTEXT, codec.encodeMetaContextRequest(name, ['qemu:dirty-bitmap:b']));
    assert.deepEqual(types(foreign), [NBD_REP_ACK]);
    client.destroy();
  });

  it('SET requires structured replies first', async () => {
    const client = await haggling();
    const replies = await client.option(NBD_OPT_SET_META_CONTEXT, codec.encodeMetaContextRequest(name, ['base:allocation']));
    assert.deepEqual(types(replies), [NBD_REP_ERR_INVALID]);
    client.destroy();
  });

  it('SET selects base:allocation with a nonzero id, ignores base: and unknown namespaces', async () => {
    const client = await haggling();
    await client.option(NBD_OPT_STRUCTURED_REPLY);
    const selected = await client.option(NBD_OPT_SET_META_CONTEXT, codec.encodeMetaContextRequest(name, ['base:allocation', 'x-foo:bar']));
    assert.deepEqual(types(selected), [NBD_REP_META_CONTEXT, NBD_REP_ACK]);
    assert.notEqual(selected[0]?.data.readUInt32BE(0), 0);
    assert.deepEqual(metaNames(selected), ['base:allocation']);
    const none = await client.option(NBD_OPT_SET_META_CONTEXT, codec.encodeMetaContextRequest(name, ['base:', 'x-foo:bar']));
    assert.deepEqual(types(none), [NBD_REP_ACK]);
    client.destroy();
  });

  it('SET and LIST refuse unknown exports and malformed data', async () => {
    const client = await haggling();
    await client.option(NBD_OPT_STRUCTURED_REPLY);
    for (const option of [NBD_OPT_LIST_META_CONTEXT, NBD_OPT_SET_META_CONTEXT]) {
      const unknown = await client.option(option, codec.encodeMetaContextRequest('nope', ['base:allocation']));
      assert.deepEqual(types(unknown), [NBD_REP_ERR_UNKNOWN]);
      const overflowing = Buffer.from('00000000 00000001 00000fff 61'.replace(/ /g, ''), 'hex');
      assert.deepEqual(types(await client.option(option, overflowing)), [NBD_REP_ERR_INVALID]);
    }
    client.destroy();
  });
});

describe('handshake bounds', () => {
  it('drains oversized option data unread, answers NBD_REP_ERR_TOO_BIG and keeps negotiating', async () => {
    const client = await haggling();
    const replies = await client.option(0x4242, Buffer.alloc(64 * 1024 + 1));
    assert.deepEqual(types(replies), [NBD_REP_ERR_TOO_BIG]);
    const go = await client.option(NBD_OPT_GO, Buffer.concat([codec.encodeInfoRequest(name, [])]));
    assert.equal(go.at(-1)?.replyType, NBD_REP_ACK);
    client.destroy();
  });

  it('an oversized NBD_OPT_EXPORT_NAME disconnects', async () => {
    const client = await haggling();
    client.send(codec.encodeOption(NBD_OPT_EXPORT_NAME, Buffer.alloc(64 * 1024 + 1, 0x61)));
    assert.equal((await client.readToEnd()).length, 0);
  });

  it('answers 1024 options, then disconnects on the next', async () => {
    const client = await haggling();
    const options = Array.from({ length: 1025 }, () => codec.encodeOption(0x7777));
    client.send(Buffer.concat(options));
    const rest = await client.readToEnd();
    assert.equal(rest.length, 1024 * (protocol.OPTION_REPLY_HEADER_BYTES + 'unsupported option'.length));
    for (let at = 0; at < rest.length; at += protocol.OPTION_REPLY_HEADER_BYTES + 'unsupported option'.length) {
      assert.equal(codec.decodeOptionReplyHeader(rest.subarray(at)).replyType, NBD_REP_ERR_UNSUP);
    }
  });

  it('at the connection cap, a newcomer closes the oldest connection still in the handshake', async () => {
    const small = await startServer({ limits: { connectionCountMax: 2 } });
    try {
      const exported = addMemoryExport(small, { sizeBytes: 4096 }).name;
      const first = await RawClient.connect(small.port);
      const second = await RawClient.connect(small.port);
      await Promise.all([first.greeting(), second.greeting()]);
      const third = await RawClient.connect(small.port);
      await third.greeting();
      await first.closed;
      assert.equal(second.socket.destroyed, false, 'only the oldest is closed');
      assert.equal(small.events.filter((event) => event.type === 'handshake-evicted').length, 1);
      third.send(codec.encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES));
      await goSucceeds(third, exported);
      second.destroy();
    } finally {
      await small.close();
    }
  });

  it('refuses connections beyond the connection cap when every slot is in transmission', async () => {
    const small = await startServer({ limits: { connectionCountMax: 2 } });
    try {
      const exported = addMemoryExport(small, { sizeBytes: 4096 }).name;
      const first = await RawClient.open(small.port, exported);
      const second = await RawClient.open(small.port, exported);
      const third = await RawClient.connect(small.port);
      assert.equal((await third.readToEnd()).length, 0, 'no greeting for the third connection');
      await small.waitForEvent((event) => event.type === 'connection-refused');
      first.client.destroy();
      second.client.destroy();
    } finally {
      await small.close();
    }
  });

  it('drops a client that does not finish the handshake in time', async () => {
    const quick = await startServer({ limits: { handshakeDurationMsMax: 50 } });
    try {
      const client = await RawClient.connect(quick.port);
      await client.greeting();
      // Never sends client flags: the deadline closes the connection.
      await client.closed;
      const refused = await quick.waitForEvent((event) => event.type === 'handshake-refused');
      assert.equal(refused.type === 'handshake-refused' && refused.reason, 'handshake timeout');
    } finally {
      await quick.close();
    }
  });
});
