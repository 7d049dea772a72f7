/**
 * The transmission phase of one connection: requests in, replies out.
 *
 * One request path: receive → validate → dispatch → reply, the pure steps in requests.ts.
 * Device failures become NBD error values in one place (`nbdErrnoFor`, errors.ts).
 *
 * Pipelining: requests are served concurrently and answered as they complete, so replies may
 * go out of order. Each reply is written in one turn, so chunks of different replies never
 * interleave mid-chunk. Memory per connection is bounded: before each request header is read
 * the connection waits while it is at `inFlightRequestCountMax` or `inFlightBytesMax`, or while
 * the socket holds more than `socketWriteBufferBytesMax` unsent reply bytes (a client that does
 * not read its replies stops being read from); the reader then pauses the socket once its
 * read-ahead is full. Across connections, each READ and WRITE payload also holds a reservation
 * of the server's `InFlightBudget` (budget.ts) until its reply is handed to the kernel; a
 * request that does not fit waits, and its connection reads nothing meanwhile. Replies queued
 * without progress for `replyStallMsMax` drop the connection. A WRITE announcing more than
 * `requestSizeBytesMax` is a hard disconnect; a WRITE that is refused has its payload skipped
 * without being stored.
 */
import type { InFlightBudget, Release } from './budget.js';
import { decodeRequest, type Request } from './codec.js';
import { nbdErrnoFor } from './errors.js';
import type { NegotiatedExport } from './handshake.js';
import type { NbdLimits } from './limits.js';
import { NBD_CMD_DISC, NBD_CMD_READ, NBD_CMD_WRITE, NBD_REQUEST_MAGIC, REQUEST_HEADER_BYTES, commandName } from './protocol.js';
import { EndOfStream, type SocketReader } from './reader.js';
import { dispatch, encodeReply, validateRequest, type Refusal, type Reply } from './requests.js';


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
