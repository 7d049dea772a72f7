/**
 * Pure encoders and decoders for NBD messages, both directions (the server uses one half, the
 * tests and any future client the other). No I/O and no state: each function maps bytes to
 * values or values to bytes. Decoders of variable-length data return `undefined` for input that
 * is syntactically invalid, so the caller can answer with an error instead of throwing.
 */
import {
  EXPORT_NAME_PADDING_BYTES,
  EXPORT_NAME_REPLY_BYTES,
  GREETING_BYTES,
  IHAVEOPT,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_EXPORT,
  NBD_INFO_NAME,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_ERROR_OFFSET,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REPLY_TYPE_OFFSET_HOLE,
  NBD_REP_MAGIC,
  NBD_REQUEST_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
  NBDMAGIC,
  NBD_REPLY_FLAG_DONE,
  OPTION_HEADER_BYTES,
  OPTION_REPLY_HEADER_BYTES,
  REQUEST_HEADER_BYTES,
  SIMPLE_REPLY_BYTES,
  STRUCTURED_CHUNK_HEADER_BYTES,
} from './protocol.js';

const emptyBuffer = Buffer.alloc(0);
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// ---------------------------------------------------------------------------------------------
// 64-bit fields. Offsets and sizes are JavaScript numbers: exact below 2^53, and any larger wire
// value still decodes to a number above every export size, so range checks stay correct.

function writeUint64(buffer: Buffer, value: number, offset: number): void {
  buffer.writeUInt32BE(Math.floor(value / 2 ** 32), offset);
  buffer.writeUInt32BE(value % 2 ** 32, offset + 4);
}

function readUint64(buffer: Buffer, offset: number): number {
  return buffer.readUInt32BE(offset) * 2 ** 32 + buffer.readUInt32BE(offset + 4);
}

/** An NBD string: UTF-8 without NUL. `undefined` when the bytes are not one. */
export function decodeString(bytes: Buffer): string | undefined {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
  return text.includes('\0') ? undefined : text;
}

// ---------------------------------------------------------------------------------------------
// Handshake, server side.

export function encodeGreeting(handshakeFlags: number): Buffer {
  const buffer = Buffer.alloc(GREETING_BYTES);
  buffer.writeBigUInt64BE(NBDMAGIC, 0);
  buffer.writeBigUInt64BE(IHAVEOPT, 8);
  buffer.writeUInt16BE(handshakeFlags, 16);
  return buffer;
}

export interface OptionHeader {
  magic: bigint;
  option: number;
  lengthBytes: number;
}

export function decodeOptionHeader(header: Buffer): OptionHeader {
  return {
    magic: header.readBigUInt64BE(0),
    option: header.readUInt32BE(8),
    lengthBytes: header.readUInt32BE(12),
  };
}

export function encodeOptionReply(option: number, replyType: number, data: Buffer = emptyBuffer): Buffer {
  const buffer = Buffer.alloc(OPTION_REPLY_HEADER_BYTES + data.length);
  buffer.writeBigUInt64BE(NBD_REP_MAGIC, 0);
  buffer.writeUInt32BE(option, 8);
  buffer.writeUInt32BE(replyType, 12);
  buffer.writeUInt32BE(data.length, 16);
  data.copy(buffer, OPTION_REPLY_HEADER_BYTES);
  return buffer;
}

/** NBD_REP_INFO data for NBD_INFO_EXPORT. */
export function encodeInfoExport(sizeBytes: number, transmissionFlags: number): Buffer {
  const buffer = Buffer.alloc(12);
  buffer.writeUInt16BE(NBD_INFO_EXPORT, 0);
  writeUint64(buffer, sizeBytes, 2);
  buffer.writeUInt16BE(transmissionFlags, 10);
  return buffer;
}

/** NBD_REP_INFO data for NBD_INFO_BLOCK_SIZE. */
export function encodeInfoBlockSize(minimumBytes: number, preferredBytes: number, maximumBytes: number): Buffer {
  const buffer = Buffer.alloc(14);
  buffer.writeUInt16BE(NBD_INFO_BLOCK_SIZE, 0);
  buffer.writeUInt32BE(minimumBytes, 2);
  buffer.writeUInt32BE(preferredBytes, 6);
  buffer.writeUInt32BE(maximumBytes, 10);
  return buffer;
}

/** NBD_REP_INFO data for NBD_INFO_NAME. */
export function encodeInfoName(name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const buffer = Buffer.alloc(2 + nameBytes.length);
  buffer.writeUInt16BE(NBD_INFO_NAME, 0);
  nameBytes.copy(buffer, 2);
  return buffer;
}

/** NBD_REP_META_CONTEXT data. */
export function encodeMetaContext(contextId: number, name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const buffer = Buffer.alloc(4 + nameBytes.length);
  buffer.writeUInt32BE(contextId, 0);
  nameBytes.copy(buffer, 4);
  return buffer;
}

/** The reply that ends a successful NBD_OPT_EXPORT_NAME. */
export function encodeExportNameReply(sizeBytes: number, transmissionFlags: number, noZeroes: boolean): Buffer {
  const buffer = Buffer.alloc(EXPORT_NAME_REPLY_BYTES + (noZeroes ? 0 : EXPORT_NAME_PADDING_BYTES));
  writeUint64(buffer, sizeBytes, 0);
  buffer.writeUInt16BE(transmissionFlags, 8);
  return buffer;
}

export interface InfoRequest {
  nameBytes: Buffer;
  infoTypes: number[];
}

/** Data of NBD_OPT_INFO and NBD_OPT_GO: name length, name, count, 16-bit info types. */
export function decodeInfoRequest(data: Buffer): InfoRequest | undefined {
  if (data.length < 6) return undefined;
  const nameLength = data.readUInt32BE(0);
  if (nameLength > data.length - 6) return undefined;
  const countOffset = 4 + nameLength;
  const count = data.readUInt16BE(countOffset);
  if (data.length !== countOffset + 2 + 2 * count) return undefined;
  const infoTypes: number[] = [];
  for (let index = 0; index < count; index++) infoTypes.push(data.readUInt16BE(countOffset + 2 + 2 * index));
  return { nameBytes: data.subarray(4, countOffset), infoTypes };
}

export interface MetaContextRequest {
  nameBytes: Buffer;
  queries: Buffer[];
}

/** Data of NBD_OPT_LIST_META_CONTEXT and NBD_OPT_SET_META_CONTEXT. */
export function decodeMetaContextRequest(data: Buffer): MetaContextRequest | undefined {
  if (data.length < 8) return undefined;
  const nameLength = data.readUInt32BE(0);
  if (nameLength > data.length - 8) return undefined;
  let offset = 4 + nameLength;
  const nameBytes = data.subarray(4, offset);
  const count = data.readUInt32BE(offset);
  offset += 4;
  // Each query needs at least its 4-byte length: reject impossible counts before looping.
  if (count > (data.length - offset) / 4) return undefined;
  const queries: Buffer[] = [];
  for (let index = 0; index < count; index++) {
    if (data.length - offset < 4) return undefined;
    const queryLength = data.readUInt32BE(offset);
    offset += 4;
    if (queryLength > data.length - offset) return undefined;
    queries.push(data.subarray(offset, offset + queryLength));
    offset += queryLength;
  }
  return offset === data.length ? { nameBytes, queries } : undefined;
}

// ---------------------------------------------------------------------------------------------
// Handshake, client side.

export function encodeClientFlags(clientFlags: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(clientFlags, 0);
  return buffer;
}

export function encodeOption(option: number, data: Buffer = emptyBuffer): Buffer {
  const buffer = Buffer.alloc(OPTION_HEADER_BYTES + data.length);
  buffer.writeBigUInt64BE(IHAVEOPT, 0);
  buffer.writeUInt32BE(option, 8);
  buffer.writeUInt32BE(data.length, 12);
  data.copy(buffer, OPTION_HEADER_BYTES);
  return buffer;
}

export function encodeInfoRequest(name: string, infoTypes: readonly number[]): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const buffer = Buffer.alloc(4 + nameBytes.length + 2 + 2 * infoTypes.length);
  buffer.writeUInt32BE(nameBytes.length, 0);
  nameBytes.copy(buffer, 4);
  buffer.writeUInt16BE(infoTypes.length, 4 + nameBytes.length);
  infoTypes.forEach((type, index) => buffer.writeUInt16BE(type, 4 + nameBytes.length + 2 + 2 * index));
  return buffer;
}

export function encodeMetaContextRequest(name: string, queries: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  const nameBytes = Buffer.from(name, 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(nameBytes.length, 0);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(queries.length, 0);
  parts.push(header, nameBytes, count);
  for (const query of queries) {
    const queryBytes = Buffer.from(query, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(queryBytes.length, 0);
    parts.push(length, queryBytes);
  }
  return Buffer.concat(parts);
}

export interface OptionReplyHeader {
  magic: bigint;
  option: number;
  replyType: number;
  lengthBytes: number;
}

export function decodeOptionReplyHeader(header: Buffer): OptionReplyHeader {
  return {
    magic: header.readBigUInt64BE(0),
    option: header.readUInt32BE(8),
    replyType: header.readUInt32BE(12),
    lengthBytes: header.readUInt32BE(16),
  };
}

// ---------------------------------------------------------------------------------------------
// Transmission: requests.

export interface Request {
  magic: number;
  flags: number;
  type: number;
  cookie: bigint;
  offsetBytes: number;
  lengthBytes: number;
}

export function decodeRequest(header: Buffer): Request {
  return {
    magic: header.readUInt32BE(0),
    flags: header.readUInt16BE(4),
    type: header.readUInt16BE(6),
    cookie: header.readBigUInt64BE(8),
    offsetBytes: readUint64(header, 16),
    lengthBytes: header.readUInt32BE(24),
  };
}

export function encodeRequest(request: Omit<Request, 'magic'> & { magic?: number }): Buffer {
  const buffer = Buffer.alloc(REQUEST_HEADER_BYTES);
  buffer.writeUInt32BE(request.magic ?? NBD_REQUEST_MAGIC, 0);
  buffer.writeUInt16BE(request.flags, 4);
  buffer.writeUInt16BE(request.type, 6);
  buffer.writeBigUInt64BE(request.cookie, 8);
  writeUint64(buffer, request.offsetBytes, 16);
  buffer.writeUInt32BE(request.lengthBytes, 24);
  return buffer;
}

// ---------------------------------------------------------------------------------------------
// Transmission: simple replies.

export function encodeSimpleReply(errno: number, cookie: bigint): Buffer {
  const buffer = Buffer.alloc(SIMPLE_REPLY_BYTES);
  buffer.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
  buffer.writeUInt32BE(errno, 4);
  buffer.writeBigUInt64BE(cookie, 8);
  return buffer;
}

export interface SimpleReply {
  magic: number;
  errno: number;
  cookie: bigint;
}

export function decodeSimpleReply(header: Buffer): SimpleReply {
  return { magic: header.readUInt32BE(0), errno: header.readUInt32BE(4), cookie: header.readBigUInt64BE(8) };
}

// ---------------------------------------------------------------------------------------------
// Transmission: structured reply chunks.

export interface ChunkHeader {
  magic: number;
  flags: number;
  type: number;
  cookie: bigint;
  lengthBytes: number;
}

function chunk(flags: number, type: number, cookie: bigint, payloadBytes: number, extraBytes: number): Buffer {
  const buffer = Buffer.alloc(STRUCTURED_CHUNK_HEADER_BYTES + extraBytes);
  buffer.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, 0);
  buffer.writeUInt16BE(flags, 4);
  buffer.writeUInt16BE(type, 6);
  buffer.writeBigUInt64BE(cookie, 8);
  buffer.writeUInt32BE(payloadBytes, 16);
  return buffer;
}

export function decodeChunkHeader(header: Buffer): ChunkHeader {
  return {
    magic: header.readUInt32BE(0),
    flags: header.readUInt16BE(4),
    type: header.readUInt16BE(6),
    cookie: header.readBigUInt64BE(8),
    lengthBytes: header.readUInt32BE(16),
  };
}

/** NBD_REPLY_TYPE_NONE, always final. */
export function encodeNoneChunk(cookie: bigint): Buffer {
  return chunk(NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_NONE, cookie, 0, 0);
}

/** Header and offset of an NBD_REPLY_TYPE_OFFSET_DATA chunk; the `dataBytes` of data follow it on the wire. */
export function encodeOffsetDataHeader(flags: number, cookie: bigint, offsetBytes: number, dataBytes: number): Buffer {
  const buffer = chunk(flags, NBD_REPLY_TYPE_OFFSET_DATA, cookie, 8 + dataBytes, 8);
  writeUint64(buffer, offsetBytes, STRUCTURED_CHUNK_HEADER_BYTES);
  return buffer;
}

export function encodeOffsetHoleChunk(flags: number, cookie: bigint, offsetBytes: number, lengthBytes: number): Buffer {
  const buffer = chunk(flags, NBD_REPLY_TYPE_OFFSET_HOLE, cookie, 12, 12);
  writeUint64(buffer, offsetBytes, STRUCTURED_CHUNK_HEADER_BYTES);
  buffer.writeUInt32BE(lengthBytes, STRUCTURED_CHUNK_HEADER_BYTES + 8);
  return buffer;
}

export interface BlockDescriptor {
  lengthBytes: number;
  /** NBD_STATE_* bits of the metadata context. */
  status: number;
}

export function encodeBlockStatusChunk(
  flags: number,
  cookie: bigint,
  contextId: number,
  descriptors: readonly BlockDescriptor[],
): Buffer {
  const payloadBytes = 4 + 8 * descriptors.length;
  const buffer = chunk(flags, NBD_REPLY_TYPE_BLOCK_STATUS, cookie, payloadBytes, payloadBytes);
  buffer.writeUInt32BE(contextId, STRUCTURED_CHUNK_HEADER_BYTES);
  descriptors.forEach((descriptor, index) => {
    const at = STRUCTURED_CHUNK_HEADER_BYTES + 4 + 8 * index;
    buffer.writeUInt32BE(descriptor.lengthBytes, at);
    buffer.writeUInt32BE(descriptor.status, at + 4);
  });
  return buffer;
}

/** NBD_REPLY_TYPE_ERROR; the message is cut to the spec's 4096-byte string limit. */
export function encodeErrorChunk(flags: number, cookie: bigint, errno: number, message: string): Buffer {
  const messageBytes = Buffer.from(message, 'utf8').subarray(0, 4096);
  const payloadBytes = 6 + messageBytes.length;
  const buffer = chunk(flags, NBD_REPLY_TYPE_ERROR, cookie, payloadBytes, payloadBytes);
  buffer.writeUInt32BE(errno, STRUCTURED_CHUNK_HEADER_BYTES);
  buffer.writeUInt16BE(messageBytes.length, STRUCTURED_CHUNK_HEADER_BYTES + 4);
  messageBytes.copy(buffer, STRUCTURED_CHUNK_HEADER_BYTES + 6);
  return buffer;
}

export type ChunkPayload =
  | { type: 'none' }
  | { type: 'data'; offsetBytes: number; data: Buffer }
  | { type: 'hole'; offsetBytes: number; lengthBytes: number }
  | { type: 'blockStatus'; contextId: number; descriptors: BlockDescriptor[] }
  | { type: 'error'; errno: number; message: string; offsetBytes?: number };

/** Interprets a chunk's payload; `undefined` when it breaks the length rules of its type or the type is unknown. */
export function decodeChunkPayload(type: number, payload: Buffer): ChunkPayload | undefined {
  switch (type) {
    case NBD_REPLY_TYPE_NONE:
      return payload.length === 0 ? { type: 'none' } : undefined;
    case NBD_REPLY_TYPE_OFFSET_DATA:
      return payload.length >= 9 ? { type: 'data', offsetBytes: readUint64(payload, 0), data: payload.subarray(8) } : undefined;
    case NBD_REPLY_TYPE_OFFSET_HOLE: {
      if (payload.length !== 12) return undefined;
      const lengthBytes = payload.readUInt32BE(8);
      return lengthBytes > 0 ? { type: 'hole', offsetBytes: readUint64(payload, 0), lengthBytes } : undefined;
    }
    case NBD_REPLY_TYPE_BLOCK_STATUS:
      return decodeBlockStatusPayload(payload);
    case NBD_REPLY_TYPE_ERROR:
    case NBD_REPLY_TYPE_ERROR_OFFSET:
      return decodeErrorPayload(type, payload);
    default:
      return undefined;
  }
}

function decodeBlockStatusPayload(payload: Buffer): ChunkPayload | undefined {
  if (payload.length < 12 || (payload.length - 4) % 8 !== 0) return undefined;
  const descriptors: BlockDescriptor[] = [];
  for (let at = 4; at < payload.length; at += 8) {
    const lengthBytes = payload.readUInt32BE(at);
    if (lengthBytes === 0) return undefined;
    descriptors.push({ lengthBytes, status: payload.readUInt32BE(at + 4) });
  }
  return { type: 'blockStatus', contextId: payload.readUInt32BE(0), descriptors };
}

function decodeErrorPayload(type: number, payload: Buffer): ChunkPayload | undefined {
  const fixedBytes = type === NBD_REPLY_TYPE_ERROR_OFFSET ? 14 : 6;
  if (payload.length < fixedBytes) return undefined;
  const errno = payload.readUInt32BE(0);
  const messageBytes = payload.readUInt16BE(4);
  if (errno === 0 || messageBytes > payload.length - fixedBytes) return undefined;
  const message = payload.subarray(6, 6 + messageBytes).toString('utf8');
  if (type === NBD_REPLY_TYPE_ERROR) return { type: 'error', errno, message };
  return { type: 'error', errno, message, offsetBytes: readUint64(payload, 6 + messageBytes) };
}
