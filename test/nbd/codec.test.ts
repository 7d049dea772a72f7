/**
 * The codec writes and reads the exact byte layouts of the NBD spec. Expected bytes are written
 * out by hand from doc/proto.md, so an encoder and decoder that agree with each other but not
 * with the spec still fail.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { codec, protocol } from '../../src/nbd/index.js';

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');
const cookie = 0x0102030405060708n;

describe('codec: handshake messages match the spec layout', () => {
  it('greeting is NBDMAGIC, IHAVEOPT and 16-bit handshake flags', () => {
    assert.deepEqual(codec.encodeGreeting(3), hex('4e42444d41474943 49484156454f5054 0003'));
  });

  it('option reply is reply magic, option, reply type, length, data', () => {
    assert.deepEqual(codec.encodeOptionReply(protocol.NBD_OPT_GO, protocol.NBD_REP_ACK), hex('0003e889045565a9 00000007 00000001 00000000'));
    assert.deepEqual(
      codec.encodeOptionReply(protocol.NBD_OPT_LIST, protocol.NBD_REP_ERR_POLICY, Buffer.from('no')),
      hex('0003e889045565a9 00000003 80000002 00000002 6e6f'),
    );
  });

  it('NBD_INFO_EXPORT and NBD_INFO_BLOCK_SIZE payloads', () => {
    assert.deepEqual(codec.encodeInfoExport(0x123456789, 0x0103), hex('0000 0000000123456789 0103'));
    assert.deepEqual(codec.encodeInfoBlockSize(1, 4096, 32 * 1024 * 1024), hex('0003 00000001 00001000 02000000'));
    assert.deepEqual(codec.encodeInfoName('ab'), hex('0001 6162'));
  });

  it('NBD_OPT_EXPORT_NAME reply has 124 zero bytes unless NO_ZEROES was negotiated', () => {
    assert.deepEqual(codec.encodeExportNameReply(4096, 0x0001, true), hex('0000000000001000 0001'));
    const padded = codec.encodeExportNameReply(4096, 0x0001, false);
    assert.equal(padded.length, 134);
    assert.deepEqual(padded.subarray(0, 10), hex('0000000000001000 0001'));
    assert.ok(padded.subarray(10).every((byte) => byte === 0));
  });

  it('NBD_REP_META_CONTEXT payload is a 32-bit id then the name', () => {
    assert.deepEqual(codec.encodeMetaContext(1, 'base:allocation'), Buffer.concat([hex('00000001'), Buffer.from('base:allocation')]));
  });

  it('client option and requests for INFO/GO and meta contexts', () => {
    assert.deepEqual(codec.encodeOption(7, hex('aa')), hex('49484156454f5054 00000007 00000001 aa'));
    assert.deepEqual(codec.encodeInfoRequest('ab', [3]), hex('00000002 6162 0001 0003'));
    assert.deepEqual(
      codec.encodeMetaContextRequest('e', ['base:']),
      hex('00000001 65 00000001 00000005 626173653a'),
    );
  });
});

describe('codec: option data decoders reject what the spec calls invalid', () => {
  it('decodes a valid INFO/GO request', () => {
    const decoded = codec.decodeInfoRequest(hex('00000002 6162 0002 0003 0001'));
    assert.deepEqual(decoded, { nameBytes: Buffer.from('ab'), infoTypes: [3, 1] });
  });

  it('rejects a name longer than the data, a wrong count and trailing bytes', () => {
    assert.equal(codec.decodeInfoRequest(hex('00000009 6162 0000')), undefined);
    assert.equal(codec.decodeInfoRequest(hex('00000002 6162 0002 0003')), undefined);
    assert.equal(codec.decodeInfoRequest(hex('00000002 6162 0000 ff')), undefined);
    assert.equal(codec.decodeInfoRequest(hex('0000')), undefined);
  });

  it('decodes meta context requests and rejects overflowing lengths and counts', () => {
    const valid = codec.encodeMetaContextRequest('export', ['base:allocation', 'x-y:z']);
    const decoded = codec.decodeMetaContextRequest(valid);
    assert.equal(decoded?.nameBytes.toString(), 'export');
    assert.deepEqual(decoded?.queries.map((query) => query.toString()), ['base:allocation', 'x-y:z']);
    // Query length beyond the data.
    assert.equal(codec.decodeMetaContextRequest(hex('00000000 00000001 000000ff 61')), undefined);
    // A count no data could hold: must be refused without looping over it.
    assert.equal(codec.decodeMetaContextRequest(hex('00000000 ffffffff')), undefined);
    // Trailing bytes after the last query.
    assert.equal(codec.decodeMetaContextRequest(hex('00000000 00000000 00')), undefined);
    // Name length beyond the data.
    assert.equal(codec.decodeMetaContextRequest(hex('00000010 00000000')), undefined);
  });

  it('strings must be UTF-8 without NUL', () => {
    assert.equal(codec.decodeString(Buffer.from('nbd-export')), 'nbd-export');
    assert.equal(codec.decodeString(hex('ff fe')), undefined);
    assert.equal(codec.decodeString(hex('61 00 62')), undefined);
  });
});

describe('codec: transmission messages match the spec layout', () => {
  it('decodes a request header, including a 64-bit offset', () => {
    const request = codec.decodeRequest(hex('25609513 0001 0001 0102030405060708 0000010000000000 00001000'));
    assert.deepEqual(request, {
      magic: protocol.NBD_REQUEST_MAGIC,
      flags: protocol.NBD_CMD_FLAG_FUA,
      type: protocol.NBD_CMD_WRITE,
      cookie,
      offsetBytes: 2 ** 40,
      lengthBytes: 4096,
    });
    assert.deepEqual(codec.encodeRequest({ flags: 1, type: 1, cookie, offsetBytes: 2 ** 40, lengthBytes: 4096 }), hex('25609513 0001 0001 0102030405060708 0000010000000000 00001000'));
  });

  it('an offset near 2^64 decodes to a number above any export size', () => {
    const request = codec.decodeRequest(hex('25609513 0000 0000 0000000000000000 ffffffffffffffff 00000001'));
    assert.ok(request.offsetBytes > Number.MAX_SAFE_INTEGER);
  });

  it('simple reply is magic, error, cookie', () => {
    assert.deepEqual(codec.encodeSimpleReply(22, cookie), hex('67446698 00000016 0102030405060708'));
  });

  it('structured chunks: NONE, OFFSET_DATA, OFFSET_HOLE, BLOCK_STATUS, ERROR', () => {
    assert.deepEqual(codec.encodeNoneChunk(cookie), hex('668e33ef 0001 0000 0102030405060708 00000000'));
    assert.deepEqual(codec.encodeOffsetDataHeader(0, cookie, 512, 10), hex('668e33ef 0000 0001 0102030405060708 00000012 0000000000000200'));
    assert.deepEqual(codec.encodeOffsetHoleChunk(1, cookie, 8192, 4096), hex('668e33ef 0001 0002 0102030405060708 0000000c 0000000000002000 00001000'));
    assert.deepEqual(
      codec.encodeBlockStatusChunk(1, cookie, 1, [{ lengthBytes: 4096, status: 0 }, { lengthBytes: 8192, status: 3 }]),
      hex('668e33ef 0001 0005 0102030405060708 00000014 00000001 00001000 00000000 00002000 00000003'),
    );
    assert.deepEqual(codec.encodeErrorChunk(1, cookie, 5, 'x'), hex('668e33ef 0001 8001 0102030405060708 00000007 00000005 0001 78'));
  });

  it('error chunk messages are cut to the 4096-byte string limit', () => {
    const encoded = codec.encodeErrorChunk(1, cookie, 5, 'm'.repeat(10_000));
    const header = codec.decodeChunkHeader(encoded);
    assert.equal(header.lengthBytes, 6 + 4096);
    const payload = codec.decodeChunkPayload(header.type, encoded.subarray(protocol.STRUCTURED_CHUNK_HEADER_BYTES));
    assert.equal(payload?.type, 'error');
  });

  it('chunk payload decoder enforces each type\'s length rules', () => {
    assert.deepEqual(codec.decodeChunkPayload(protocol.NBD_REPLY_TYPE_OFFSET_HOLE, hex('0000000000002000 00001000')), {
      type: 'hole',
      offsetBytes: 8192,
      lengthBytes: 4096,
    });
    assert.equal(codec.decodeChunkPayload(protocol.NBD_REPLY_TYPE_OFFSET_HOLE, hex('0000000000002000 00000000')), undefined);
    assert.equal(codec.decodeChunkPayload(protocol.NBD_REPLY_TYPE_OFFSET_DATA, hex('0000000000002000')), undefined);
    assert.equal(codec.decodeChunkPayload(protocol.NBD_REPLY_TYPE_BLOCK_STATUS, hex('00000001 00001000')), undefined);
    assert.equal(codec.decodeChunkPayload(protocol.NBD_REPLY_TYPE_BLOCK_STATUS, hex('00000001 00000000 00000000')), undefined);
    assert.equal(codec.decodeChunkPayload(protocol.NBD_REPLY_TYPE_ERROR, hex('00000005 0009 78')), undefined);
    assert.equal(codec.decodeChunkPayload(protocol.NBD_REPLY_TYPE_NONE, hex('00')), undefined);
    assert.equal(codec.decodeChunkPayload(77, hex('')), undefined);
  });
});
