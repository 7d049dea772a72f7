/**
 * The NBD server: accepts TCP connections and runs each through the handshake (handshake.ts)
 * and the transmission phase (transmission.ts) against an ExportTable.
 *
 * Invariants:
 * 1. A connection's failure never escapes it: socket errors, protocol violations and device
 *    failures end at most that connection. Assertion failures (bugs) are the exception: they
 *    propagate and stop the process.
 * 2. Every connection has a handshake deadline (`handshakeDurationMsMax`); there is no
 *    deadline once transmission starts (a VM may be idle for hours).
 * 3. `close()` stops accepting, lets requests in flight finish and be answered, then closes
 *    every socket; a client that does not take its last replies within `closeLingerMsMax` is
 *    dropped.
 * 4. Removing an export drops its connections at once (ExportTable.remove).
 */
import net from 'node:net';
import { AssertionError } from '../lib/assert.js';
import type { ExportAttachment, ExportTable } from './exports.js';
import { negotiate, type HandshakeOutcome } from './handshake.js';
import { withLimits, type NbdLimits } from './limits.js';
import { EndOfStream, SocketReader } from './reader.js';
import { Transmission, type TransmissionCounters, type TransmissionEvent } from './transmission.js';

/** What happened on a connection. Export names are never logged: they are credentials. */
export type NbdEventBody =
  | { type: 'connection-open'; remoteAddress: string; remotePort: number }
  | { type: 'connection-close'; reason: string }
  | { type: 'handshake-refused'; reason: string }
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
}

interface ServerContext {
  readonly exports: ExportTable;
  readonly limits: NbdLimits;
  readonly counters: TransmissionCounters;
  readonly log: (event: NbdEvent) => void;
}

export class NbdServer {
  readonly #server: net.Server;
  readonly #context: ServerContext;
  readonly #connections = new Set<Connection>();
  #nextConnectionId = 1;
  #closing: Promise<void> | null = null;

  constructor(options: NbdServerOptions) {
    const logger = options.logger;
    this.#context = {
      exports: options.exports,
      limits: withLimits(options.limits),
      counters: { bytesRead: 0, bytesWritten: 0, ops: 0 },
      log: (event) => {
        try {
          logger?.(event);
        } catch {
          // A failing logger must not take a connection down.
        }
      },
    };
    this.#server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
    this.#server.maxConnections = this.#context.limits.connectionCountMax;
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
    return { connections: this.#connections.size, ...this.#context.counters };
  }

  #accept(socket: net.Socket): void {
    if (this.#closing !== null) {
      socket.destroy();
      return;
    }
    const connection = new Connection(this.#nextConnectionId++, socket, this.#context);
    this.#connections.add(connection);
    connection.closed.then(() => this.#connections.delete(connection));
    connection.start();
  }
}

/** One client connection, from accept to close. */
class Connection {
  readonly id: number;
  readonly closed: Promise<void>;
  readonly #socket: net.Socket;
  readonly #context: ServerContext;
  readonly #reader: SocketReader;
  #transmission: Transmission | null = null;
  #attachment: ExportAttachment | null = null;
  #shuttingDown = false;

  constructor(id: number, socket: net.Socket, context: ServerContext) {
    this.id = id;
    this.#socket = socket;
    this.#context = context;
    this.#reader = new SocketReader(socket, context.limits.readAheadBytesMax);
    socket.setNoDelay(true);
    socket.on('error', (error) => this.#log({ type: 'connection-error', message: error.message }));
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    this.closed.then(() => this.#attachment?.detach());
    this.#log({ type: 'connection-open', remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0 });
  }

  start(): void {
    this.#run().then(
      (reason) => this.#log({ type: 'connection-close', reason }),
      (error: unknown) => {
        if (error instanceof AssertionError) throw error;
        this.#log({ type: 'connection-error', message: error instanceof Error ? error.message : String(error) });
        this.#socket.destroy();
      },
    );
  }

  /** For server close: ends the handshake at once, or lets in-flight requests finish first. */
  shutdown(): Promise<void> {
    this.#shuttingDown = true;
    if (this.#transmission === null) this.#socket.destroy();
    else this.#transmission.stop();
    return this.closed;
  }

  async #run(): Promise<string> {
    const outcome = await this.#handshake();
    if (outcome.kind === 'aborted') return this.#endGracefully('client aborted the handshake');
    if (outcome.kind === 'refused') {
      this.#log({ type: 'handshake-refused', reason: outcome.reason });
      return this.#endGracefully(`handshake refused: ${outcome.reason}`);
    }
    this.#attachment = outcome.negotiated.attachment;
    if (this.#shuttingDown || this.#socket.destroyed) {
      this.#socket.destroy();
      return 'closed during handshake';
    }
    const transmission = new Transmission(this.#reader, this.#socket, outcome.negotiated, {
      limits: this.#context.limits,
      counters: this.#context.counters,
      log: (event) => this.#log(event),
    });
    this.#transmission = transmission;
    const end = await transmission.receive();
    if (end.kind === 'protocol-error') {
      this.#log({ type: 'protocol-error', reason: end.reason });
      this.#socket.destroy();
      return `protocol error: ${end.reason}`;
    }
    await transmission.idle();
    return this.#endGracefully(end.kind);
  }

  async #handshake(): Promise<HandshakeOutcome | { kind: 'refused'; reason: string }> {
    const timer = setTimeout(() => {
      this.#log({ type: 'handshake-refused', reason: 'handshake timeout' });
      this.#socket.destroy();
    }, this.#context.limits.handshakeDurationMsMax);
    try {
      return await negotiate(
        { reader: this.#reader, send: (data) => this.#send(data) },
        { exports: this.#context.exports, limits: this.#context.limits, onRevoke: () => this.#revoke() },
      );
    } catch (error) {
      if (error instanceof EndOfStream) return { kind: 'refused', reason: 'client closed the connection during the handshake' };
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Sends our FIN after pending replies and waits for the client's; drops the socket if the
   * client does not close within the linger time. Input is read and discarded meanwhile: a
   * paused socket would never see the client's FIN.
   */
  async #endGracefully(reason: string): Promise<string> {
    if (!this.#socket.destroyed) {
      const linger = setTimeout(() => this.#socket.destroy(), this.#context.limits.closeLingerMsMax);
      this.#reader.close();
      this.#socket.resume();
      this.#socket.end();
      await this.closed;
      clearTimeout(linger);
    }
    return reason;
  }

  #revoke(): void {
    this.#log({ type: 'export-removed' });
    this.#transmission?.stop();
    this.#socket.destroy();
  }

  #send(data: Buffer): void {
    if (!this.#socket.destroyed && this.#socket.writable) this.#socket.write(data);
  }

  #log(event: NbdEventBody): void {
    this.#context.log({ connectionId: this.id, ...event });
  }
}
