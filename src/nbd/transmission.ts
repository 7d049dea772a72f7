/**
 * The transmission phase of one connection: requests in, replies out.
 *
 * One request path: receive → validate (pure, `validateRequest`) → dispatch (one switch over
 * the command, `dispatch`) → reply (pure encoding, `encodeReply`). Device failures become NBD
 * error values in one place (`nbdErrnoFor`, errors.ts).
 *
 * Pipelining: requests are served concurrently and answered as they complete, so replies may
 * go out of order. Each reply is written in one turn, so chunks of different replies never
 * interleave mid-chunk. Memory per connection is bounded: before each request header is read
 * the connection waits while it is at `inFlightRequestCountMax` or `inFlightBytesMax`, or while
 * the socket holds more than `socketWriteBufferBytesMax` unsent reply bytes (a client that does
 * not read its replies stops being read from); the reader then pauses the socket once its
 * read-ahead is full. Across connections, each READ and WRITE payload also holds a reservation
 * of the server's `InFlightBudget` (budget.ts) until its reply is handed to the kernel; a
 * request that does not fit waits, and its connection reads nothing meanwhile. A WRITE announcing more than `requestSizeBytesMax` is a hard disconnect;
 * a WRITE that is refused has its payload skipped without being stored.
 */
import { assert } from '../lib/assert.js';
import type { InFlightBudget, Release } from './budget.js';
import {
  encodeBlockStatusChunk,
  encodeErrorChunk,
  encodeNoneChunk,
  encodeOffsetDataHeader,
  encodeOffsetHoleChunk,
  encodeSimpleReply,
  decodeRequest,
  type BlockDescriptor,
  type Request,
} from './codec.js';
import type { BlockDevice, Extent } from './device.js';
import { nbdErrnoFor } from './errors.js';
import type { NegotiatedExport } from './handshake.js';
import type { NbdLimits } from './limits.js';
import {
  NBD_CMD_BLOCK_STATUS,
  NBD_CMD_CACHE,
  NBD_CMD_DISC,
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
  NBD_ENOSPC,
  NBD_EOVERFLOW,
  NBD_EPERM,
  NBD_REPLY_FLAG_DONE,
  NBD_REQUEST_MAGIC,
  NBD_STATE_HOLE,
  NBD_STATE_ZERO,
  REQUEST_HEADER_BYTES,
  commandName,
} from './protocol.js';
import { EndOfStream, type SocketReader } from './reader.js';

// ---------------------------------------------------------------------------------------------
// Validate.

/** Why a request is refused without reaching the device. */
export interface Refusal {
  errno: number;
  message: string;
}

/** Command flags each command accepts. FUA is accepted everywhere, as the spec requires. */
const allowedFlags = new Map<number, number>([
  [NBD_CMD_READ, NBD_CMD_FLAG_FUA],
  [NBD_CMD_WRITE, NBD_CMD_FLAG_FUA],
  [NBD_CMD_FLUSH, NBD_CMD_FLAG_FUA],
  [NBD_CMD_TRIM, NBD_CMD_FLAG_FUA],
  [NBD_CMD_CACHE, NBD_CMD_FLAG_FUA],
  [NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO],
  [NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_FUA | NBD_CMD_FLAG_REQ_ONE],
]);

const writingCommands = new Set([NBD_CMD_WRITE, NBD_CMD_TRIM, NBD_CMD_WRITE_ZEROES]);

type SessionFacts = Pick<NegotiatedExport, 'sizeBytes' | 'readOnly' | 'structuredReplies' | 'allocationContextId'>;

/**
 * Checks a request against the negotiated export; null when the device may serve it.
 * (NBD_CMD_DISC never gets here, and oversized WRITE payloads are a disconnect, not a refusal.)
 */
export function validateRequest(request: Request, session: SessionFacts, limits: NbdLimits): Refusal | null {
  const { type, flags, offsetBytes, lengthBytes } = request;
  const allowed = allowedFlags.get(type);
  if (allowed === undefined) return { errno: NBD_EINVAL, message: `unknown command ${type}` };
  if ((flags & ~allowed) !== 0) return { errno: NBD_EINVAL, message: `flags 0x${flags.toString(16)} not valid for ${commandName(type)}` };
  if (writingCommands.has(type) && session.readOnly) return { errno: NBD_EPERM, message: 'the export is read-only' };
  switch (type) {
    case NBD_CMD_FLUSH:
      if (offsetBytes !== 0 || lengthBytes !== 0) return { errno: NBD_EINVAL, message: 'NBD_CMD_FLUSH takes no range' };
      break;
    case NBD_CMD_READ:
      if (lengthBytes > limits.requestSizeBytesMax) {
        // The spec allows NBD_EOVERFLOW only where structured replies could have split the read.
        return { errno: session.structuredReplies ? NBD_EOVERFLOW : NBD_EINVAL, message: 'read larger than the maximum payload' };
      }
      break;
    case NBD_CMD_BLOCK_STATUS:
      if (session.allocationContextId === null) return { errno: NBD_EINVAL, message: 'no metadata context was negotiated' };
      if (lengthBytes === 0) return { errno: NBD_EINVAL, message: 'block status of an empty range' };
      break;
  }
  if (offsetBytes + lengthBytes > session.sizeBytes) {
    // The spec asks for NBD_ENOSPC on writes past the end and NBD_EINVAL on everything else.
    const errno = type === NBD_CMD_WRITE || type === NBD_CMD_WRITE_ZEROES ? NBD_ENOSPC : NBD_EINVAL;
    return { errno, message: 'range beyond the end of the export' };
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Dispatch.

export type ReadSegment =
  | { kind: 'data'; offsetBytes: number; data: Buffer }
  | { kind: 'hole'; offsetBytes: number; lengthBytes: number };

export type Reply =
  | { kind: 'done' }
  | { kind: 'read'; segments: ReadSegment[] }
  | { kind: 'blockStatus'; contextId: number; descriptors: BlockDescriptor[] }
  | { kind: 'error'; errno: number; message: string };

const done: Reply = { kind: 'done' };

/** Serves one validated request. Device failures are thrown to the caller. */
export async function dispatch(
  request: Request,
  payload: Buffer | null,
  session: NegotiatedExport,
  limits: NbdLimits,
): Promise<Reply> {
  const { device } = session;
  const { offsetBytes, lengthBytes, flags } = request;
  const fua = (flags & NBD_CMD_FLAG_FUA) !== 0;
  switch (request.type) {
    case NBD_CMD_READ:
      return { kind: 'read', segments: await readSegments(device, offsetBytes, lengthBytes, session.structuredReplies, limits) };
    case NBD_CMD_WRITE:
      assert(payload !== null && payload.length === lengthBytes, 'WRITE payload matches its length');
      if (lengthBytes > 0) await device.write(offsetBytes, payload, { fua });
      return done;
    case NBD_CMD_FLUSH:
      await device.flush();
      return done;
    case NBD_CMD_TRIM:
      if (lengthBytes > 0) await device.trim(offsetBytes, lengthBytes, { fua });
      return done;
    case NBD_CMD_WRITE_ZEROES:
      // NBD_CMD_FLAG_FAST_ZERO: zeroing is metadata-only for our devices, so it is always fast.
      if (lengthBytes > 0) await device.writeZeroes(offsetBytes, lengthBytes, { fua, noHole: (flags & NBD_CMD_FLAG_NO_HOLE) !== 0 });
      return done;
    case NBD_CMD_BLOCK_STATUS: {
      assert(session.allocationContextId !== null, 'block status needs a metadata context');
      const extents = await device.blockStatus(offsetBytes, lengthBytes);
      const descriptors = blockDescriptors(extents, request, limits);
      return { kind: 'blockStatus', contextId: session.allocationContextId, descriptors };
    }
    case NBD_CMD_CACHE:
      // A hint with no semantic effect; the devices have no cache to warm.
      return done;
    default:
      assert(false, `validated request has a known command, got ${request.type}`);
  }
}

/** A READ as data and hole segments. Holes are used only with structured replies, where the device reports zeroes. */
async function readSegments(
  device: BlockDevice,
  offsetBytes: number,
  lengthBytes: number,
  structured: boolean,
  limits: NbdLimits,
): Promise<ReadSegment[]> {
  if (lengthBytes === 0) return [];
  const whole = async (): Promise<ReadSegment[]> => [
    { kind: 'data', offsetBytes, data: await readExactly(device, offsetBytes, lengthBytes) },
  ];
  if (!structured) return whole();
  const runs = zeroRuns(await device.blockStatus(offsetBytes, lengthBytes), offsetBytes, lengthBytes, limits.readHoleBytesMin);
  if (!runs.some((run) => run.zero) || runs.length > limits.readSegmentCountMax) return whole();
  // Every write completed before this READ arrived is reflected in the block status just taken,
  // so a range reported as zero reads as zero; writes still in flight are unordered by the spec.
  return Promise.all(
    runs.map(async (run): Promise<ReadSegment> => {
      if (run.zero) return { kind: 'hole', offsetBytes: run.offsetBytes, lengthBytes: run.lengthBytes };
      return { kind: 'data', offsetBytes: run.offsetBytes, data: await readExactly(device, run.offsetBytes, run.lengthBytes) };
    }),
  );
}

async function readExactly(device: BlockDevice, offsetBytes: number, lengthBytes: number): Promise<Buffer> {
  const data = await device.read(offsetBytes, lengthBytes);
  assert(data.length === lengthBytes, `device read returned ${data.length} bytes for ${lengthBytes}`);
  return data;
}

export interface Run {
  offsetBytes: number;
  lengthBytes: number;
  zero: boolean;
}

/**
 * Splits a range into alternating zero and data runs from the device's extents. Zero runs
 * shorter than `holeBytesMin` are counted as data, so a reply is not shredded into tiny chunks.
 */
export function zeroRuns(extents: readonly Extent[], offsetBytes: number, lengthBytes: number, holeBytesMin: number): Run[] {
  checkExtents(extents, offsetBytes, lengthBytes);
  const byZero = mergeRuns(extents.map((extent) => ({ offsetBytes: extent.offsetBytes, lengthBytes: extent.lengthBytes, zero: extent.zero })));
  return mergeRuns(byZero.map((run) => ({ ...run, zero: run.zero && run.lengthBytes >= holeBytesMin })));
}

function mergeRuns(runs: readonly Run[]): Run[] {
  const merged: Run[] = [];
  for (const run of runs) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.zero === run.zero) last.lengthBytes += run.lengthBytes;
    else merged.push({ ...run });
  }
  return merged;
}

/** base:allocation descriptors for a block status request. */
export function blockDescriptors(extents: readonly Extent[], request: Request, limits: NbdLimits): BlockDescriptor[] {
  checkExtents(extents, request.offsetBytes, request.lengthBytes);
  const descriptors: BlockDescriptor[] = [];
  for (const extent of extents) {
    const status = (extent.hole ? NBD_STATE_HOLE : 0) | (extent.zero ? NBD_STATE_ZERO : 0);
    const last = descriptors[descriptors.length - 1];
    if (last !== undefined && last.status === status) last.lengthBytes += extent.lengthBytes;
    else descriptors.push({ lengthBytes: extent.lengthBytes, status });
  }
  const countMax = (request.flags & NBD_CMD_FLAG_REQ_ONE) !== 0 ? 1 : limits.blockStatusExtentCountMax;
  return descriptors.slice(0, countMax);
}

/** The device contract: extents are non-empty, contiguous, and cover exactly the range. */
function checkExtents(extents: readonly Extent[], offsetBytes: number, lengthBytes: number): void {
  let at = offsetBytes;
  for (const extent of extents) {
    assert(extent.offsetBytes === at && extent.lengthBytes > 0, `device extents are contiguous and non-empty at ${at}`);
    at += extent.lengthBytes;
  }
  assert(at === offsetBytes + lengthBytes, `device extents cover [${offsetBytes}, ${offsetBytes + lengthBytes})`);
}

// ---------------------------------------------------------------------------------------------
// Reply.

/** The bytes of one reply, in order; written in one turn. */
export function encodeReply(cookie: bigint, type: number, reply: Reply, structured: boolean): Buffer[] {
  if (!structured) {
    switch (reply.kind) {
      case 'done':
        return [encodeSimpleReply(0, cookie)];
      case 'error':
        return [encodeSimpleReply(reply.errno, cookie)];
      case 'read': {
        const data = reply.segments.flatMap((segment) => (segment.kind === 'data' ? [segment.data] : []));
        assert(data.length === reply.segments.length, 'simple replies carry data only');
        return [encodeSimpleReply(0, cookie), ...data];
      }
      case 'blockStatus':
        assert(false, 'block status needs structured replies');
    }
  }
  switch (reply.kind) {
    case 'done':
      // A READ must be answered with a structured reply; other commands may use a simple one.
      return [type === NBD_CMD_READ ? encodeNoneChunk(cookie) : encodeSimpleReply(0, cookie)];
    case 'error':
      return [encodeErrorChunk(NBD_REPLY_FLAG_DONE, cookie, reply.errno, reply.message)];
    case 'blockStatus':
      return [encodeBlockStatusChunk(NBD_REPLY_FLAG_DONE, cookie, reply.contextId, reply.descriptors)];
    case 'read':
      return encodeReadChunks(cookie, reply.segments);
  }
}

function encodeReadChunks(cookie: bigint, segments: readonly ReadSegment[]): Buffer[] {
  if (segments.length === 0) return [encodeNoneChunk(cookie)];
  const buffers: Buffer[] = [];
  segments.forEach((segment, index) => {
    const flags = index === segments.length - 1 ? NBD_REPLY_FLAG_DONE : 0;
    if (segment.kind === 'hole') {
      buffers.push(encodeOffsetHoleChunk(flags, cookie, segment.offsetBytes, segment.lengthBytes));
    } else {
      buffers.push(encodeOffsetDataHeader(flags, cookie, segment.offsetBytes, segment.data.length), segment.data);
    }
  });
  return buffers;
}

// ---------------------------------------------------------------------------------------------
// The connection's request loop.

/** The socket side the loop writes replies to. */
export interface ReplySink {
  write(data: Buffer, callback?: (error?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
  readonly writable: boolean;
  readonly destroyed: boolean;
  destroy(): void;
  on(event: 'drain' | 'close', listener: () => void): unknown;
}

/** Totals kept across connections by the server. */
export interface TransmissionCounters {
  bytesRead: number;
  bytesWritten: number;
  ops: number;
}

export type TransmissionEvent =
  | { type: 'request-error'; command: string; errno: number; message: string }
  | { type: 'replies-stalled'; writableLengthBytes: number }
  | {
      type: 'backpressure';
      cause: 'in-flight' | 'write-buffer' | 'server-in-flight';
      inFlightRequestCount: number;
      inFlightBytes: number;
      writableLengthBytes: number;
    };

export type TransmissionEnd =
  | { kind: 'disconnect' }
  | { kind: 'end-of-stream' }
  | { kind: 'stopped' }
  | { kind: 'protocol-error'; reason: string };

export interface TransmissionOptions {
  readonly limits: NbdLimits;
  readonly counters: TransmissionCounters;
  /** Payload bytes of all connections of the server. */
  readonly budget: InFlightBudget;
  readonly log: (event: TransmissionEvent) => void;
}

export class Transmission {
  readonly #reader: SocketReader;
  readonly #sink: ReplySink;
  readonly #session: NegotiatedExport;
  readonly #options: TransmissionOptions;
  #inFlightCount = 0;
  #inFlightBytes = 0;
  #stopping = false;
  #wake: (() => void) | null = null;
  #corked = false;
  readonly #idleWaiters: (() => void)[] = [];
  /** Aborted when the connection stops reading: withdraws a wait for the budget. */
  readonly #abort = new AbortController();
  /** Budget reservations whose replies are not yet handed to the kernel. */
  readonly #held = new Set<Release>();
  /** Armed while queued replies wait for the client to read; drops the connection when it fires. */
  #stallTimer: NodeJS.Timeout | null = null;

  constructor(reader: SocketReader, sink: ReplySink, session: NegotiatedExport, options: TransmissionOptions) {
    this.#reader = reader;
    this.#sink = sink;
    this.#session = session;
    this.#options = options;
    sink.on('drain', () => {
      this.#disarmStall();
      this.#notify();
    });
    sink.on('close', () => {
      this.#disarmStall();
      this.#abort.abort(new EndOfStream());
      // Replies that will never be written give their reservations back.
      for (const release of [...this.#held]) release();
      this.#held.clear();
      this.#notify();
    });
  }

  get inFlightCount(): number {
    return this.#inFlightCount;
  }

  /** Reads and starts requests until the client disconnects, the stream ends, or `stop()`. */
  async receive(): Promise<TransmissionEnd> {
    try {
      return await this.#receiveLoop();
    } catch (error) {
      if (error instanceof EndOfStream) return this.#stopping ? { kind: 'stopped' } : { kind: 'end-of-stream' };
      throw error;
    }
  }

  /** Stops reading requests; those in flight still complete. */
  stop(): void {
    this.#stopping = true;
    this.#abort.abort(new EndOfStream('server closing'));
    this.#reader.close(new EndOfStream('server closing'));
    this.#notify();
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    if (this.#inFlightCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async #receiveLoop(): Promise<TransmissionEnd> {
    const { limits } = this.#options;
    for (;;) {
      await this.#admission();
      if (this.#stopping) return { kind: 'stopped' };
      const request = decodeRequest(await this.#reader.read(REQUEST_HEADER_BYTES));
      if (request.magic !== NBD_REQUEST_MAGIC) return { kind: 'protocol-error', reason: 'bad request magic' };
      if (request.type === NBD_CMD_DISC) return { kind: 'disconnect' };
      const refusal = validateRequest(request, this.#session, limits);
      if (request.type === NBD_CMD_WRITE && request.lengthBytes > limits.requestSizeBytesMax) {
        return { kind: 'protocol-error', reason: 'WRITE payload above the maximum' };
      }
      const payloadBytes = refusal === null && (request.type === NBD_CMD_READ || request.type === NBD_CMD_WRITE) ? request.lengthBytes : 0;
      const release = await this.#reserve(payloadBytes);
      let payload: Buffer | null = null;
      try {
        if (request.type === NBD_CMD_WRITE) {
          if (refusal !== null) await this.#reader.skip(request.lengthBytes);
          else payload = await this.#reader.read(request.lengthBytes);
        }
      } catch (error) {
        release();
        throw error;
      }
      this.#start(request, refusal, payload, release);
    }
  }

  /** Reserves a request's payload bytes in the server's budget, waiting if they do not fit. */
  async #reserve(bytes: number): Promise<Release> {
    const { budget } = this.#options;
    if (bytes === 0) return () => {};
    if (!budget.fits(bytes)) {
      this.#options.log({
        type: 'backpressure',
        cause: 'server-in-flight',
        inFlightRequestCount: this.#inFlightCount,
        inFlightBytes: this.#inFlightBytes,
        writableLengthBytes: this.#sink.writableLength,
      });
    }
    const release = await budget.reserve(bytes, this.#abort.signal);
    this.#held.add(release);
    return () => {
      this.#held.delete(release);
      release();
    };
  }

  /** Waits while the connection is at a cap; then the next request may be read. */
  async #admission(): Promise<void> {
    const { limits } = this.#options;
    for (;;) {
      if (this.#stopping) return;
      if (this.#sink.destroyed) throw new EndOfStream();
      const atInFlightCap = this.#inFlightCount >= limits.inFlightRequestCountMax || this.#inFlightBytes >= limits.inFlightBytesMax;
      const atWriteCap = this.#sink.writableLength > limits.socketWriteBufferBytesMax;
      if (!atInFlightCap && !atWriteCap) return;
      this.#options.log({
        type: 'backpressure',
        cause: atInFlightCap ? 'in-flight' : 'write-buffer',
        inFlightRequestCount: this.#inFlightCount,
        inFlightBytes: this.#inFlightBytes,
        writableLengthBytes: this.#sink.writableLength,
      });
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #start(request: Request, refusal: Refusal | null, payload: Buffer | null, release: Release): void {
    const costBytes = request.type === NBD_CMD_READ || payload !== null ? request.lengthBytes : 0;
    this.#inFlightCount += 1;
    this.#inFlightBytes += costBytes;
    void this.#serve(request, refusal, payload, release).finally(() => {
      this.#inFlightCount -= 1;
      this.#inFlightBytes -= costBytes;
      this.#notify();
      if (this.#inFlightCount === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
    });
  }

  async #serve(request: Request, refusal: Refusal | null, payload: Buffer | null, release: Release): Promise<void> {
    let reply: Reply;
    if (refusal !== null) {
      reply = { kind: 'error', ...refusal };
    } else {
      try {
        reply = await dispatch(request, payload, this.#session, this.#options.limits);
      } catch (error) {
        const errno = nbdErrnoFor(error);
        const message = error instanceof Error ? error.message : String(error);
        this.#options.log({ type: 'request-error', command: commandName(request.type), errno, message });
        reply = { kind: 'error', errno, message };
      }
    }
    this.#count(request, reply);
    this.#send(encodeReply(request.cookie, request.type, reply, this.#session.structuredReplies), release);
  }

  #count(request: Request, reply: Reply): void {
    const { counters } = this.#options;
    counters.ops += 1;
    if (reply.kind === 'error') return;
    if (request.type === NBD_CMD_READ) counters.bytesRead += request.lengthBytes;
    if (request.type === NBD_CMD_WRITE) counters.bytesWritten += request.lengthBytes;
  }

  /**
   * Queues one reply. Replies finished in the same turn of the event loop leave in one writev:
   * the socket is corked at the first and uncorked once the turn's work is done.
   */
  #send(buffers: Buffer[], release: Release): void {
    const sink = this.#sink;
    if (sink.destroyed || !sink.writable) {
      release();
      return;
    }
    if (!this.#corked) {
      this.#corked = true;
      sink.cork();
      process.nextTick(() => {
        this.#corked = false;
        sink.uncork();
      });
    }
    // The reservation is given back once the last buffer has gone to the kernel (or failed).
    let flowing = true;
    buffers.forEach((buffer, index) => {
      flowing = sink.write(buffer, index === buffers.length - 1 ? () => release() : undefined);
    });
    if (!flowing) this.#armStall();
  }

  /** Replies are queued beyond the socket's high-water mark: 'drain' must come in time. */
  #armStall(): void {
    if (this.#stallTimer !== null) return;
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = null;
      this.#options.log({ type: 'replies-stalled', writableLengthBytes: this.#sink.writableLength });
      this.#sink.destroy();
    }, this.#options.limits.replyStallMsMax);
  }

  #disarmStall(): void {
    if (this.#stallTimer !== null) clearTimeout(this.#stallTimer);
    this.#stallTimer = null;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
