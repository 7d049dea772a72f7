/**
 * The fixed newstyle handshake (server side), from the greeting to the start of transmission.
 *
 * Policy decisions, all deliberate:
 * - Export names are capabilities. NBD_OPT_LIST is answered NBD_REP_ERR_POLICY, never with
 *   names; an unknown name gets NBD_REP_ERR_UNKNOWN (INFO, GO, meta context options) or a
 *   hard disconnect (NBD_OPT_EXPORT_NAME, which cannot carry an error). There is no default
 *   export: the empty name is unknown.
 * - Hard bounds: option data above `optionDataBytesMax` is drained without being stored and
 *   answered NBD_REP_ERR_TOO_BIG (an oversized NBD_OPT_EXPORT_NAME disconnects, as it cannot
 *   be answered); a connection that sends more than `optionCountMax` options is disconnected;
 *   the server enforces `handshakeDurationMsMax` around the whole exchange.
 * - TLS is all or nothing. Without credentials (NOTLS mode) NBD_OPT_STARTTLS is an unknown
 *   option (NBD_REP_ERR_UNSUP). With them (the spec's FORCEDTLS mode) the client must speak
 *   fixed newstyle and start TLS before anything else: every other option is answered
 *   NBD_REP_ERR_TLS_REQD with its data drained unread, NBD_OPT_ABORT is acknowledged, and
 *   NBD_OPT_EXPORT_NAME (which cannot carry an error) disconnects. After STARTTLS no state from
 *   before it is kept, and a second STARTTLS is NBD_REP_ERR_INVALID.
 * - Structured replies are a precondition of NBD_OPT_SET_META_CONTEXT; `base:allocation` is the
 *   only context.
 */
import { assert } from '../lib/assert.js';
import type { BlockDevice } from './device.js';
import {
  decodeInfoRequest,
  decodeMetaContextRequest,
  decodeOptionHeader,
  decodeString,
  encodeExportNameReply,
  encodeGreeting,
  encodeInfoBlockSize,
  encodeInfoExport,
  encodeInfoName,
  encodeMetaContext,
  encodeOptionReply,
  type OptionHeader,
} from './codec.js';
import type { ExportAttachment, ExportTable } from './exports.js';
import type { NbdLimits } from './limits.js';
import {
  BASE_ALLOCATION,
  CLIENT_FLAGS_BYTES,
  IHAVEOPT,
  NBD_FLAG_CAN_MULTI_CONN,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_HAS_FLAGS,
  NBD_FLAG_NO_ZEROES,
  NBD_FLAG_READ_ONLY,
  NBD_FLAG_SEND_CACHE,
  NBD_FLAG_SEND_FAST_ZERO,
  NBD_FLAG_SEND_FLUSH,
  NBD_FLAG_SEND_FUA,
  NBD_FLAG_SEND_TRIM,
  NBD_FLAG_SEND_WRITE_ZEROES,
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
  NBD_REP_ERR_TLS_REQD,
  NBD_REP_ERR_TOO_BIG,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_INFO,
  NBD_REP_META_CONTEXT,
  OPTION_HEADER_BYTES,
} from './protocol.js';
import type { SocketReader } from './reader.js';

export const HANDSHAKE_FLAGS = NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES;
const KNOWN_CLIENT_FLAGS = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES;
/** The id this server gives `base:allocation` in NBD_REP_META_CONTEXT and block status chunks. */
export const ALLOCATION_CONTEXT_ID = 1;

/**
 * Transmission flags for an export. The device's flush is global (it covers completed writes
 * of every connection), so NBD_FLAG_CAN_MULTI_CONN is always set. Read-only exports do not
 * advertise the writing commands; the server still refuses them with NBD_EPERM.
 */
export function transmissionFlags(readOnly: boolean): number {
  const common = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_CACHE | NBD_FLAG_CAN_MULTI_CONN;
  if (readOnly) return common | NBD_FLAG_READ_ONLY;
  return common | NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_FAST_ZERO;
}

export interface HandshakeIo {
  /** Read afresh for every option: it changes when TLS starts. */
  readonly reader: SocketReader;
  send(data: Buffer): void;
  /**
   * Present when TLS is required. Sends `acknowledgement` (the NBD_REP_ACK of NBD_OPT_STARTTLS)
   * and runs the TLS handshake on the connection; resolves to null once TLS is up, or to why
   * the connection must end.
   */
  readonly startTls?: (acknowledgement: Buffer) => Promise<string | null>;
}

export interface HandshakeContext {
  readonly exports: ExportTable;
  readonly limits: NbdLimits;
  /** Called if the export this connection chose is removed. */
  readonly onRevoke: () => void;
}

/** What the handshake agreed on; fixed for the rest of the connection. */
export interface NegotiatedExport {
  readonly attachment: ExportAttachment;
  readonly device: BlockDevice;
  /** The device size when the handshake ended; requests are checked against it. */
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  readonly transmissionFlags: number;
  readonly structuredReplies: boolean;
  /** Set when the client selected base:allocation for this export. */
  readonly allocationContextId: number | null;
}

export type HandshakeOutcome =
  | { kind: 'transmission'; negotiated: NegotiatedExport }
  | { kind: 'aborted' }
  | { kind: 'refused'; reason: string };

type OptionOutcome = HandshakeOutcome | { kind: 'continue' };

interface OptionState {
  readonly noZeroes: boolean;
  /** TLS is up on this connection. */
  tls: boolean;
  structuredReplies: boolean;
  /** What the last NBD_OPT_SET_META_CONTEXT selected, and for which export. */
  metaContext: { exportName: string; allocation: boolean } | null;
}

const proceed: OptionOutcome = { kind: 'continue' };

/** Runs the handshake; rejects with EndOfStream if the client goes away. */
export async function negotiate(io: HandshakeIo, context: HandshakeContext): Promise<HandshakeOutcome> {
  io.send(encodeGreeting(HANDSHAKE_FLAGS));
  const clientFlags = (await io.reader.read(CLIENT_FLAGS_BYTES)).readUInt32BE(0);
  if ((clientFlags & ~KNOWN_CLIENT_FLAGS) !== 0) return refused(`unknown client flags 0x${clientFlags.toString(16)}`);
  const tlsRequired = io.startTls !== undefined;
  if (tlsRequired && (clientFlags & NBD_FLAG_C_FIXED_NEWSTYLE) === 0) return refused('TLS is required and the client does not use fixed newstyle');
  const state: OptionState = {
    noZeroes: (clientFlags & NBD_FLAG_C_NO_ZEROES) !== 0,
    tls: false,
    structuredReplies: false,
    metaContext: null,
  };
  for (let count = 1; ; count++) {
    if (count > context.limits.optionCountMax) return refused(`more than ${context.limits.optionCountMax} options`);
    const header = decodeOptionHeader(await io.reader.read(OPTION_HEADER_BYTES));
    if (header.magic !== IHAVEOPT) return refused('bad option magic');
    const outcome = tlsRequired && !state.tls ? await beforeTls(header, io, state) : await handleOption(header, io, state, context);
    if (outcome.kind !== 'continue') return outcome;
  }
}

/** An option while TLS is required and not yet up: only STARTTLS and ABORT are served. */
async function beforeTls(header: OptionHeader, io: HandshakeIo, state: OptionState): Promise<OptionOutcome> {
  const { option, lengthBytes } = header;
  if (option === NBD_OPT_EXPORT_NAME) return refused('NBD_OPT_EXPORT_NAME before TLS');
  // Nothing sent in plaintext is parsed or kept.
  await io.reader.skip(lengthBytes);
  switch (option) {
    case NBD_OPT_ABORT:
      io.send(encodeOptionReply(option, NBD_REP_ACK));
      return { kind: 'aborted' };
    case NBD_OPT_STARTTLS: {
      if (lengthBytes !== 0) return replyError(io, option, NBD_REP_ERR_INVALID, 'NBD_OPT_STARTTLS takes no data');
      assert(io.startTls !== undefined, 'TLS is required only with a way to start it');
      const failure = await io.startTls(encodeOptionReply(option, NBD_REP_ACK));
      if (failure !== null) return refused(failure);
      // The spec: no negotiation state from before STARTTLS survives it.
      state.tls = true;
      state.structuredReplies = false;
      state.metaContext = null;
      return proceed;
    }
    default:
      return replyError(io, option, NBD_REP_ERR_TLS_REQD, 'TLS is required: send NBD_OPT_STARTTLS first');
  }
}

async function handleOption(
  header: OptionHeader,
  io: HandshakeIo,
  state: OptionState,
  context: HandshakeContext,
): Promise<OptionOutcome> {
  const { option, lengthBytes } = header;
  if (lengthBytes > context.limits.optionDataBytesMax) {
    if (option === NBD_OPT_EXPORT_NAME) return refused('export name too long');
    await io.reader.skip(lengthBytes);
    return replyError(io, option, NBD_REP_ERR_TOO_BIG, 'option data too large');
  }
  const data = await io.reader.read(lengthBytes);
  switch (option) {
    case NBD_OPT_EXPORT_NAME:
      return exportName(io, data, state, context);
    case NBD_OPT_ABORT:
      io.send(encodeOptionReply(option, NBD_REP_ACK));
      return { kind: 'aborted' };
    case NBD_OPT_LIST:
      if (data.length !== 0) return replyError(io, option, NBD_REP_ERR_INVALID, 'NBD_OPT_LIST takes no data');
      return replyError(io, option, NBD_REP_ERR_POLICY, 'export names are capabilities and are not listed');
    case NBD_OPT_INFO:
    case NBD_OPT_GO:
      return infoOrGo(io, option, data, state, context);
    case NBD_OPT_STRUCTURED_REPLY:
      if (data.length !== 0) return replyError(io, option, NBD_REP_ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
      state.structuredReplies = true;
      io.send(encodeOptionReply(option, NBD_REP_ACK));
      return proceed;
    case NBD_OPT_LIST_META_CONTEXT:
    case NBD_OPT_SET_META_CONTEXT:
      return metaContext(io, option, data, state, context);
    case NBD_OPT_STARTTLS:
      if (state.tls) return replyError(io, option, NBD_REP_ERR_INVALID, 'TLS is already in use');
      return replyError(io, option, NBD_REP_ERR_UNSUP, 'unsupported option');
    default:
      return replyError(io, option, NBD_REP_ERR_UNSUP, 'unsupported option');
  }
}

function exportName(io: HandshakeIo, data: Buffer, state: OptionState, context: HandshakeContext): OptionOutcome {
  const name = data.length <= context.limits.stringBytesMax ? decodeString(data) : undefined;
  const attachment = name === undefined ? undefined : context.exports.attach(name, context.onRevoke);
  if (name === undefined || attachment === undefined) return refused('unknown export');
  const negotiated = negotiatedExport(attachment, name, state);
  io.send(encodeExportNameReply(negotiated.sizeBytes, negotiated.transmissionFlags, state.noZeroes));
  return { kind: 'transmission', negotiated };
}

function infoOrGo(
  io: HandshakeIo,
  option: number,
  data: Buffer,
  state: OptionState,
  context: HandshakeContext,
): OptionOutcome {
  const request = decodeInfoRequest(data);
  if (request === undefined) return replyError(io, option, NBD_REP_ERR_INVALID, 'malformed request');
  const name = exportNameFrom(request.nameBytes, context);
  if (name === undefined) return replyError(io, option, NBD_REP_ERR_INVALID, 'export name is not a valid string');
  const device = context.exports.resolve(name);
  if (device === undefined) return replyError(io, option, NBD_REP_ERR_UNKNOWN, 'unknown export');
  const sizeBytes = device.sizeBytes;
  const { limits } = context;
  io.send(encodeOptionReply(option, NBD_REP_INFO, encodeInfoExport(sizeBytes, transmissionFlags(device.readOnly))));
  const blockSize = encodeInfoBlockSize(limits.blockSizeBytesMin, limits.blockSizeBytesPreferred, limits.requestSizeBytesMax);
  io.send(encodeOptionReply(option, NBD_REP_INFO, blockSize));
  if (request.infoTypes.includes(NBD_INFO_NAME)) io.send(encodeOptionReply(option, NBD_REP_INFO, encodeInfoName(name)));
  if (option === NBD_OPT_INFO) {
    io.send(encodeOptionReply(option, NBD_REP_ACK));
    return proceed;
  }
  // Attach in the same turn as the lookup, so a concurrent remove cannot slip between them.
  const attachment = context.exports.attach(name, context.onRevoke);
  if (attachment === undefined) return replyError(io, option, NBD_REP_ERR_UNKNOWN, 'unknown export');
  io.send(encodeOptionReply(option, NBD_REP_ACK));
  return { kind: 'transmission', negotiated: negotiatedExport(attachment, name, state, sizeBytes) };
}

function metaContext(
  io: HandshakeIo,
  option: number,
  data: Buffer,
  state: OptionState,
  context: HandshakeContext,
): OptionOutcome {
  const selecting = option === NBD_OPT_SET_META_CONTEXT;
  // A SET replaces the previous selection even when it fails.
  if (selecting) state.metaContext = null;
  if (selecting && !state.structuredReplies) {
    return replyError(io, option, NBD_REP_ERR_INVALID, 'negotiate NBD_OPT_STRUCTURED_REPLY first');
  }
  const request = decodeMetaContextRequest(data);
  if (request === undefined) return replyError(io, option, NBD_REP_ERR_INVALID, 'malformed request');
  const name = exportNameFrom(request.nameBytes, context);
  if (name === undefined) return replyError(io, option, NBD_REP_ERR_INVALID, 'export name is not a valid string');
  const queries: string[] = [];
  for (const queryBytes of request.queries) {
    const query = queryBytes.length <= context.limits.stringBytesMax ? decodeString(queryBytes) : undefined;
    if (query === undefined) return replyError(io, option, NBD_REP_ERR_INVALID, 'query is not a valid string');
    queries.push(query);
  }
  if (context.exports.resolve(name) === undefined) return replyError(io, option, NBD_REP_ERR_UNKNOWN, 'unknown export');
  const allocation = selecting
    ? queries.includes(BASE_ALLOCATION)
    : queries.length === 0 || queries.some((query) => query === 'base:' || query === BASE_ALLOCATION);
  if (allocation) io.send(encodeOptionReply(option, NBD_REP_META_CONTEXT, encodeMetaContext(ALLOCATION_CONTEXT_ID, BASE_ALLOCATION)));
  if (selecting) state.metaContext = { exportName: name, allocation };
  io.send(encodeOptionReply(option, NBD_REP_ACK));
  return proceed;
}

function negotiatedExport(
  attachment: ExportAttachment,
  name: string,
  state: OptionState,
  sizeBytes = attachment.device.sizeBytes,
): NegotiatedExport {
  const { device } = attachment;
  assert(Number.isSafeInteger(sizeBytes) && sizeBytes >= 0, `device size ${sizeBytes} is a whole number of bytes`);
  const selected = state.metaContext !== null && state.metaContext.exportName === name && state.metaContext.allocation;
  return {
    attachment,
    device,
    sizeBytes,
    readOnly: device.readOnly,
    transmissionFlags: transmissionFlags(device.readOnly),
    structuredReplies: state.structuredReplies,
    allocationContextId: selected ? ALLOCATION_CONTEXT_ID : null,
  };
}

function exportNameFrom(nameBytes: Buffer, context: HandshakeContext): string | undefined {
  return nameBytes.length <= context.limits.stringBytesMax ? decodeString(nameBytes) : undefined;
}

function replyError(io: HandshakeIo, option: number, replyType: number, message: string): OptionOutcome {
  io.send(encodeOptionReply(option, replyType, Buffer.from(message, 'utf8')));
  return proceed;
}

function refused(reason: string): HandshakeOutcome {
  return { kind: 'refused', reason };
}
