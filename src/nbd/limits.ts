/**
 * Every bound the NBD server enforces, in one place. Names carry the qualifier last
 * (`requestSizeBytesMax`). A server takes these defaults and may override any of them
 * (tests shrink timeouts and caps).
 */
import { limits as allLimits } from '../lib/limits.js';

export interface NbdLimits {
  /** NBD_INFO_BLOCK_SIZE minimum: any byte offset and length is accepted. */
  readonly blockSizeBytesMin: number;
  /** NBD_INFO_BLOCK_SIZE preferred: requests aligned to this avoid read-modify-write. */
  readonly blockSizeBytesPreferred: number;
  /**
   * Largest READ or WRITE payload, advertised as NBD_INFO_BLOCK_SIZE maximum (2^25, the size
   * the spec says clients may always use). A WRITE announcing more is a hard disconnect: its
   * payload is never buffered.
   */
  readonly requestSizeBytesMax: number;
  /** Largest option data accepted during the handshake; more is drained unread and answered NBD_REP_ERR_TOO_BIG. */
  readonly optionDataBytesMax: number;
  /** Options one connection may send before it is disconnected. */
  readonly optionCountMax: number;
  /** Longest export name or metadata context query (the spec's string limit). */
  readonly stringBytesMax: number;
  /** Time from accept to the start of transmission; then the connection is dropped. */
  readonly handshakeDurationMsMax: number;
  /** The same time for a connection accepted while more than `handshakePressureCountAbove` are in the handshake. */
  readonly handshakeUnderPressureDurationMsMax: number;
  /**
   * Connections in the handshake at once. A new connection beyond it closes the oldest
   * connection still in the handshake (from the address holding the most), never one in
   * transmission.
   */
  readonly handshakeCountMax: number;
  /** Connections in the handshake above which new ones get the shorter handshake deadline. */
  readonly handshakePressureCountAbove: number;
  /** Socket read-ahead of a connection in the handshake (options are small), so waiting connections stay cheap. */
  readonly handshakeReadAheadBytesMax: number;
  /** Requests of one connection being served at once; reading pauses at the cap. */
  readonly inFlightRequestCountMax: number;
  /** READ and WRITE payload bytes of one connection being served at once; reading pauses at the cap. */
  readonly inFlightBytesMax: number;
  /**
   * READ and WRITE payload bytes held by all connections together, from the moment a request's
   * payload is about to be read (WRITE) or its data allocated (READ) until its reply has been
   * handed to the kernel. A request that does not fit waits, in arrival order, and its
   * connection stops being read meanwhile.
   */
  readonly serverInFlightBytesMax: number;
  /** Reply bytes queued on one socket above which no further request is read. */
  readonly socketWriteBufferBytesMax: number;
  /**
   * Time a connection's queued replies may make no progress (the client does not read them)
   * before the connection is dropped: unsent replies hold their share of
   * `serverInFlightBytesMax`, and a client that stops reading must not hold it for ever.
   */
  readonly replyStallMsMax: number;
  /** Bytes read from the socket ahead of what the parser has asked for. */
  readonly readAheadBytesMax: number;
  /** Descriptors in one NBD_REPLY_TYPE_BLOCK_STATUS chunk (the spec asks for at most 2^20). */
  readonly blockStatusExtentCountMax: number;
  /** Zero runs shorter than this are sent as data in a structured READ reply. */
  readonly readHoleBytesMin: number;
  /** Data runs read separately for one sparse READ; more falls back to a single read. */
  readonly readSegmentCountMax: number;
  /** Concurrent connections per server, in the handshake or in transmission. */
  readonly connectionCountMax: number;
  /** Exports one table holds. */
  readonly exportCountMax: number;
  /** After in-flight requests finish on server close, time a client has to take its last replies. */
  readonly closeLingerMsMax: number;
}

/** The defaults live with every other limit in src/lib/limits.ts. */
export const limits: NbdLimits = Object.freeze({ ...allLimits.nbd });

/** The defaults with some bounds replaced. */
export function withLimits(overrides: Partial<NbdLimits> | undefined): NbdLimits {
  return Object.freeze({ ...limits, ...overrides });
}
