/**
 * The NBD server: accepts TCP connections and runs each through the handshake (handshake.ts)
 * and the transmission phase (transmission.ts) against an ExportTable.
 *
 * Invariants:
 * 1. A connection's failure never escapes it: socket errors, protocol violations and device
 *    failures end at most that connection. Assertion failures (bugs) are the exception: they
 *    propagate and stop the process.
 * 2. Every connection has a handshake deadline (`handshakeDurationMsMax`, shorter under
 *    pressure); there is no deadline once transmission starts (a VM may be idle for hours).
 *    Connections in the handshake are bounded and the oldest make room for newcomers
 *    (pressure.ts), so they cannot lock out clients that finish it.
 * 5. Payload bytes in memory are bounded per connection and across the server (budget.ts).
 * 6. With TLS credentials, every connection must start TLS before any other option
 *    (handshake.ts); the socket is upgraded in place with Node's `tls` (tls.ts).
 * 3. `close()` stops accepting, lets requests in flight finish and be answered, then closes
 *    every socket; a client that does not take its last replies within `closeLingerMsMax` is
 *    dropped.
 * 4. Removing an export drops its connections at once (ExportTable.remove).
 */
import net from 'node:net';
import type tls from 'node:tls';
import { AssertionError } from '../lib/assert.js';
import { InFlightBudget } from './budget.js';
import type { ExportAttachment, ExportTable } from './exports.js';
import { negotiate, type HandshakeIo, type HandshakeOutcome } from './handshake.js';
import { withLimits, type NbdLimits } from './limits.js';
import { HandshakeRegistry } from './pressure.js';
import { EndOfStream, SocketReader } from './reader.js';
import { secureContextFor, upgradeToTls, type NbdTlsCredentials } from './tls.js';
import { Transmission, type TransmissionCounters, type TransmissionEvent } from './transmission.js';

/** What happened on a connection. Export names are never logged: they are credentials. */
export type NbdEventBody =
  | { type: 'connection-open'; remoteAddress: string; remotePort: number }
  | { type: 'connection-close'; reason: string }
  | { type: 'handshake-refused'; reason: string }
  /** Closed in the handshake to make room for a newer connection (pressure.ts). */
  | { type: 'handshake-evicted' }
  /** Refused on accept: every slot is held by a connection in transmission. */
  | { type: 'connection-refused'; remoteAddress: string }
  | { type: 'tls-started' }
  | { type: 'protocol-error'; reason: string }
  | { type: 'connection-error'; message: string }
  | { type: 'export-removed' }
  | TransmissionEvent;

export type NbdEvent = { connectionId: number } & NbdEventBody;

export interface NbdServerOptions {
  exports: ExportTable;
  logger?: (event: NbdEvent) => void;
  /** Bounds to override; the rest come from limits.ts. */
  limits?: Partial<NbdLimits>;
  /** With credentials, TLS is required on every connection (tls.ts). */
  tls?: NbdTlsCredentials;
}

export interface NbdServerStats {
  /** Connections open now. */
  connections: number;
  /** Bytes returned by successful READs. */
  bytesRead: number;
  /** Bytes accepted by successful WRITEs. */
  bytesWritten: number;
  /** Requests answered, successful or not. */
  ops: number;
  /** Connections in the handshake now. */
  handshakes: number;
  /** Payload bytes reserved across connections now (limit `serverInFlightBytesMax`). */
  inFlightBytes: number;
}

interface ServerContext {
  readonly exports: ExportTable;
  readonly limits: NbdLimits;
  readonly counters: TransmissionCounters;
  readonly budget: InFlightBudget;
  readonly secureContext: tls.SecureContext | null;
  readonly log: (event: NbdEvent) => void;
  /** The connection entered transmission. */
  readonly onTransmitting: (connection: Connection) => void;
}

export class NbdServer {
  readonly #server: net.Server;
  readonly #context: ServerContext;
  readonly #connections = new Set<Connection>();
  readonly #transmitting = new Set<Connection>();
  readonly #handshakes: HandshakeRegistry<Connection>;
  #nextConnectionId = 1;
  #closing: Promise<void> | null = null;

  constructor(options: NbdServerOptions) {
    const logger = options.logger;
    const limits = withLimits(options.limits);
    this.#handshakes = new HandshakeRegistry(limits);
    this.#context = {
      exports: options.exports,
      limits,
      counters: { bytesRead: 0, bytesWritten: 0, ops: 0 },
      budget: new InFlightBudget(limits.serverInFlightBytesMax),
      secureContext: options.tls === undefined ? null : secureContextFor(options.tls),
      onTransmitting: (connection) => {
        this.#handshakes.remove(connection);
        this.#transmitting.add(connection);
      },
      log: (event) => {
        try {
          logger?.(event);
        } catch {
          // A failing logger must not take a connection down.
        }
      },
    };
    // No `maxConnections`: the cap is enforced on accept, where idle handshakes can make room.
    this.#server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
  }

  /** Starts listening; port 0 picks a free port. Resolves to the bound address. */
  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        const address = this.#server.address() as net.AddressInfo;
        resolve({ host: address.address, port: address.port });
      });
    });
  }

  /** Stops accepting, lets in-flight requests finish, then closes every connection. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const listenerClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      await Promise.all([...this.#connections].map((connection) => connection.shutdown()));
      await listenerClosed;
    })();
    return this.#closing;
  }

  stats(): NbdServerStats {
    return {
      connections: this.#connections.size,
      ...this.#context.counters,
      handshakes: this.#handshakes.count,
      inFlightBytes: this.#context.budget.usedBytes,
    };
  }

  #accept(socket: net.Socket): void {
    if (this.#closing !== null) {
      socket.destroy();
      return;
    }
    const connection = new Connection(this.#nextConnectionId++, socket, this.#context);
    const deadlineMs = this.#handshakes.admit(connection, this.#transmitting.size);
    if (deadlineMs === null) {
      connection.refuse();
      return;
    }
    this.#connections.add(connection);
    connection.closed.then(() => {
      this.#connections.delete(connection);
      this.#transmitting.delete(connection);
      this.#handshakes.remove(connection);
    });
    connection.start(deadlineMs);
  }
}

/** One client connection, from accept to close. */
class Connection {
  readonly id: number;
  readonly remoteAddress: string;
  readonly closed: Promise<void>;
  /** The TCP socket; after STARTTLS, `#stream` is the TLS socket over it. */
  readonly #socket: net.Socket;
  #stream: net.Socket;
  readonly #context: ServerContext;
  #reader: SocketReader;
  #transmission: Transmission | null = null;
  #attachment: ExportAttachment | null = null;
  #shuttingDown = false;
  #noteClosed: () => void = () => {};

  constructor(id: number, socket: net.Socket, context: ServerContext) {
    this.id = id;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.#socket = socket;
    this.#stream = socket;
    this.#context = context;
    this.#reader = new SocketReader(socket, context.limits.handshakeReadAheadBytesMax);
    socket.setNoDelay(true);
    socket.on('error', (error) => this.#log({ type: 'connection-error', message: error.message }));
    this.closed = new Promise((resolve) => {
      this.#noteClosed = resolve;
      socket.once('close', () => resolve());
    });
    this.closed.then(() => this.#attachment?.detach());
    this.#log({ type: 'connection-open', remoteAddress: this.remoteAddress, remotePort: socket.remotePort ?? 0 });
  }

  start(handshakeDeadlineMs: number): void {
    this.#run(handshakeDeadlineMs).then(
      (reason) => this.#log({ type: 'connection-close', reason }),
      (error: unknown) => {
        if (error instanceof AssertionError) throw error;
        this.#log({ type: 'connection-error', message: error instanceof Error ? error.message : String(error) });
        this.#destroy();
      },
    );
  }

  /** Refused on accept: no slot is free. */
  refuse(): void {
    this.#log({ type: 'connection-refused', remoteAddress: this.remoteAddress });
    this.#destroy();
  }

  /** Closed while still in the handshake, to make room for a newer connection. */
  evict(): void {
    this.#log({ type: 'handshake-evicted' });
    this.#destroy();
  }

  /** For server close: ends the handshake at once, or lets in-flight requests finish first. */
  shutdown(): Promise<void> {
    this.#shuttingDown = true;
    if (this.#transmission === null) this.#destroy();
    else this.#transmission.stop();
    return this.closed;
  }

  async #run(handshakeDeadlineMs: number): Promise<string> {
    const outcome = await this.#handshake(handshakeDeadlineMs);
    if (outcome.kind === 'aborted') return this.#endGracefully('client aborted the handshake');
    if (outcome.kind === 'refused') {
      this.#log({ type: 'handshake-refused', reason: outcome.reason });
      return this.#endGracefully(`handshake refused: ${outcome.reason}`);
    }
    this.#attachment = outcome.negotiated.attachment;
    if (this.#shuttingDown || this.#stream.destroyed) {
      this.#destroy();
      return 'closed during handshake';
    }
    this.#context.onTransmitting(this);
    this.#reader.setReadAheadBytesMax(this.#context.limits.readAheadBytesMax);
    const transmission = new Transmission(this.#reader, this.#stream, outcome.negotiated, {
      limits: this.#context.limits,
      counters: this.#context.counters,
      budget: this.#context.budget,
      log: (event) => this.#log(event),
    });
    this.#transmission = transmission;
    const end = await transmission.receive();
    if (end.kind === 'protocol-error') {
      this.#log({ type: 'protocol-error', reason: end.reason });
      this.#destroy();
      return `protocol error: ${end.reason}`;
    }
    await transmission.idle();
    return this.#endGracefully(end.kind);
  }

  async #handshake(deadlineMs: number): Promise<HandshakeOutcome | { kind: 'refused'; reason: string }> {
    const timer = setTimeout(() => {
      this.#log({ type: 'handshake-refused', reason: 'handshake timeout' });
      this.#destroy();
    }, deadlineMs);
    const connection = this;
    const io: HandshakeIo = {
      get reader() {
        return connection.#reader;
      },
      send: (data) => this.#send(data),
      ...(this.#context.secureContext === null ? {} : { startTls: (acknowledgement: Buffer) => this.#startTls(acknowledgement) }),
    };
    try {
      return await negotiate(io, { exports: this.#context.exports, limits: this.#context.limits, onRevoke: () => this.#revoke() });
    } catch (error) {
      if (error instanceof EndOfStream) return { kind: 'refused', reason: 'client closed the connection during the handshake' };
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Upgrades the connection to TLS after NBD_OPT_STARTTLS: resolves to null once TLS is up, or
   * to why the connection must end. Bytes that arrived after the option and before our
   * acknowledgement break the protocol (and would be plaintext injected into the TLS
   * session), so they end the connection. The acknowledgement and the wrapping happen in one
   * turn, so the client's first TLS bytes can only reach the TLS layer.
   */
  async #startTls(acknowledgement: Buffer): Promise<string | null> {
    const secureContext = this.#context.secureContext;
    if (secureContext === null || this.#stream !== this.#socket) return 'TLS is not available';
    const socket = this.#socket;
    // Earlier replies leave first, in plaintext.
    if (socket.writableLength > 0) await new Promise<void>((resolve) => socket.write(Buffer.alloc(0), () => resolve()));
    if (socket.destroyed) return 'connection closed before TLS started';
    const unread = this.#reader.detach() + socket.readableLength;
    if (unread > 0) return 'client sent data after NBD_OPT_STARTTLS before the reply';
    socket.write(acknowledgement);
    const { secure, ready } = upgradeToTls(socket, secureContext);
    secure.on('error', (error) => this.#log({ type: 'connection-error', message: error.message }));
    secure.once('close', () => this.#noteClosed());
    this.#stream = secure;
    this.#reader = new SocketReader(secure, this.#context.limits.handshakeReadAheadBytesMax);
    try {
      await ready;
    } catch (error) {
      return `TLS handshake failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    this.#log({ type: 'tls-started' });
    return null;
  }

  /**
   * Sends our FIN after pending replies and waits for the client's; drops the socket if the
   * client does not close within the linger time. Input is read and discarded meanwhile: a
   * paused socket would never see the client's FIN.
   */
  async #endGracefully(reason: string): Promise<string> {
    const stream = this.#stream;
    if (!stream.destroyed) {
      const linger = setTimeout(() => this.#destroy(), this.#context.limits.closeLingerMsMax);
      this.#reader.close();
      stream.resume();
      stream.end();
      await this.closed;
      clearTimeout(linger);
    }
    return reason;
  }

  #revoke(): void {
    this.#log({ type: 'export-removed' });
    this.#transmission?.stop();
    this.#destroy();
  }

  #destroy(): void {
    this.#stream.destroy();
    this.#socket.destroy();
  }

  #send(data: Buffer): void {
    const stream = this.#stream;
    if (!stream.destroyed && stream.writable) stream.write(data);
  }

  #log(event: NbdEventBody): void {
    this.#context.log({ connectionId: this.id, ...event });
  }
}
