/**
 * A minimal, strict NBD client for end-to-end tests (NetworkBlockDevice/nbd, doc/proto.md):
 * fixed newstyle handshake ending in NBD_OPT_GO, then pipelined READ, WRITE (optionally FUA),
 * FLUSH and DISC with simple replies only (structured replies are never negotiated, so every
 * reply is a 16-byte simple reply, followed by the data for a successful READ).
 *
 * Each request returns a promise settled by the reply carrying its cookie; replies may arrive in
 * any order. A protocol violation by the server, or the connection closing, rejects every
 * request still in flight.
 */
import net from 'node:net';
import { codec, protocol } from '../../src/nbd/index.js';

const P = protocol;

/** The server answered a request with a non-zero NBD error value. */
export class NbdError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = 'NbdError';
  }
}

/** The connection ended (or broke) before the answer arrived. */
export class NbdConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NbdConnectionError';
  }
}

interface Pending {
  command: string;
  /** Bytes of data that follow a successful reply (READ length; 0 otherwise). */
  dataBytes: number;
  resolve(data: Buffer): void;
  reject(error: Error): void;
}

/** Splits `nbd://HOST[:PORT]/EXPORT` (the export name is the percent-decoded path without its leading slash). */
export function parseNbdUri(uri: string): { host: string; port: number; exportName: string } {
  const url = new URL(uri);
  if (url.protocol !== 'nbd:') throw new Error(`not an nbd:// URI: ${uri}`);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? 10809 : Number(url.port);
  return { host, port, exportName: decodeURIComponent(url.pathname.replace(/^\//, '')) };
}

export class NbdClient {
  /** Export size announced by NBD_INFO_EXPORT. */
  sizeBytes = 0;
  /** Transmission flags announced by NBD_INFO_EXPORT. */
  transmissionFlags = 0;
  /** Largest request payload the server accepts (NBD_INFO_BLOCK_SIZE maximum; 32 MiB if not sent). */
  maxPayloadBytes = 32 * 1024 * 1024;

  readonly #socket: net.Socket;
  readonly #closed: Promise<void>;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #waiter: (() => void) | null = null;
  #failure: Error | null = null;
  #nextCookie = 1n;
  #pending = new Map<bigint, Pending>();
  /** Every request promise not yet settled, for `disconnect`. */
  #requests = new Set<Promise<Buffer>>();
  #disconnecting = false;

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      this.#wake();
    });
    socket.on('error', (error) => this.#fail(new NbdConnectionError(`socket error: ${error.message}`)));
    this.#closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#fail(new NbdConnectionError('the connection closed'));
        resolve();
      }),
    );
  }

  /** Connects to an nbd:// URI and negotiates the export it names. */
  static async connect(uri: string): Promise<NbdClient> {
    const { host, port, exportName } = parseNbdUri(uri);
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port, noDelay: true });
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
    });
    const client = new NbdClient(socket);
    try {
      await client.#handshake(exportName);
    } catch (error) {
      socket.destroy();
      throw error;
    }
    void client.#replyLoop();
    return client;
  }

  get readOnly(): boolean {
    return (this.transmissionFlags & P.NBD_FLAG_READ_ONLY) !== 0;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#pending.size;
  }

  read(offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    this.#checkRange(offsetBytes, lengthBytes);
    return this.#request(P.NBD_CMD_READ, 0, offsetBytes, lengthBytes, null);
  }

  async write(offsetBytes: number, data: Buffer, options: { fua?: boolean } = {}): Promise<void> {
    this.#checkRange(offsetBytes, data.length);
    if (this.readOnly) throw new Error('the export is read-only (NBD_FLAG_READ_ONLY); a client must not write');
    let flags = 0;
    if (options.fua === true) {
      if ((this.transmissionFlags & P.NBD_FLAG_SEND_FUA) === 0) throw new Error('the server did not advertise NBD_FLAG_SEND_FUA');
      flags |= P.NBD_CMD_FLAG_FUA;
    }
    await this.#request(P.NBD_CMD_WRITE, flags, offsetBytes, data.length, data);
  }

  async flush(): Promise<void> {
    if ((this.transmissionFlags & P.NBD_FLAG_SEND_FLUSH) === 0) throw new Error('the server did not advertise NBD_FLAG_SEND_FLUSH');
    await this.#request(P.NBD_CMD_FLUSH, 0, 0, 0, null);
  }

  /**
   * Waits for requests in flight, sends NBD_CMD_DISC (which has no reply), closes the write
   * side and waits for the server to close the connection.
   */
  async disconnect(): Promise<void> {
    if (this.#disconnecting) return this.#closed;
    this.#disconnecting = true;
    await Promise.allSettled([...this.#requests]);
    if (this.#failure === null) {
      this.#socket.write(codec.encodeRequest({ flags: 0, type: P.NBD_CMD_DISC, cookie: this.#nextCookie++, offsetBytes: 0, lengthBytes: 0 }));
      this.#socket.end();
    }
    await this.#closed;
  }

  /** Drops the connection without NBD_CMD_DISC. */
  destroy(): void {
    this.#socket.destroy();
  }

  // -------------------------------------------------------------------------------------------

  #checkRange(offsetBytes: number, lengthBytes: number): void {
    if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || !Number.isSafeInteger(lengthBytes) || lengthBytes < 0) {
      throw new RangeError(`bad range ${offsetBytes}+${lengthBytes}`);
    }
    if (lengthBytes > this.maxPayloadBytes) throw new RangeError(`${lengthBytes} bytes is above the server's maximum payload ${this.maxPayloadBytes}`);
  }

  #request(type: number, flags: number, offsetBytes: number, lengthBytes: number, payload: Buffer | null): Promise<Buffer> {
    if (this.#failure !== null) return Promise.reject(this.#failure);
    if (this.#disconnecting) return Promise.reject(new NbdConnectionError('disconnecting'));
    const cookie = this.#nextCookie++;
    const promise = new Promise<Buffer>((resolve, reject) => {
      this.#pending.set(cookie, { command: P.commandName(type), dataBytes: type === P.NBD_CMD_READ ? lengthBytes : 0, resolve, reject });
    });
    this.#requests.add(promise);
    const forget = () => void this.#requests.delete(promise);
    promise.then(forget, forget);
    // Header and payload in one synchronous turn: requests never interleave on the wire.
    this.#socket.write(codec.encodeRequest({ flags, type, cookie, offsetBytes, lengthBytes }));
    if (payload !== null && payload.length > 0) this.#socket.write(payload);
    return promise;
  }

  async #handshake(exportName: string): Promise<void> {
    const greeting = await this.#read(P.GREETING_BYTES);
    if (greeting.readBigUInt64BE(0) !== P.NBDMAGIC) throw new Error('bad NBDMAGIC in the greeting');
    if (greeting.readBigUInt64BE(8) !== P.IHAVEOPT) throw new Error('not a newstyle server (no IHAVEOPT)');
    const handshakeFlags = greeting.readUInt16BE(16);
    if ((handshakeFlags & P.NBD_FLAG_FIXED_NEWSTYLE) === 0) throw new Error('the server does not speak fixed newstyle');
    const noZeroes = (handshakeFlags & P.NBD_FLAG_NO_ZEROES) !== 0;
    this.#socket.write(codec.encodeClientFlags(P.NBD_FLAG_C_FIXED_NEWSTYLE | (noZeroes ? P.NBD_FLAG_C_NO_ZEROES : 0)));
    // Asking for NBD_INFO_BLOCK_SIZE promises to honour the limits; this client does (maxPayloadBytes).
    this.#socket.write(codec.encodeOption(P.NBD_OPT_GO, codec.encodeInfoRequest(exportName, [P.NBD_INFO_BLOCK_SIZE])));
    let haveExport = false;
    for (;;) {
      const header = codec.decodeOptionReplyHeader(await this.#read(P.OPTION_REPLY_HEADER_BYTES));
      if (header.magic !== P.NBD_REP_MAGIC) throw new Error('bad option reply magic');
      if (header.option !== P.NBD_OPT_GO) throw new Error(`option reply for option ${header.option}, expected NBD_OPT_GO`);
      if (header.lengthBytes > 64 * 1024) throw new Error(`option reply of ${header.lengthBytes} bytes`);
      const data = await this.#read(header.lengthBytes);
      if (header.replyType === P.NBD_REP_ACK) {
        if (!haveExport) throw new Error('NBD_OPT_GO acknowledged without NBD_INFO_EXPORT');
        return;
      }
      if (header.replyType >= 2 ** 31) {
        throw new Error(`NBD_OPT_GO for "${exportName}" refused: error 0x${header.replyType.toString(16)} ${data.toString('utf8')}`);
      }
      if (header.replyType !== P.NBD_REP_INFO) throw new Error(`unexpected option reply type ${header.replyType}`);
      if (data.length < 2) throw new Error('NBD_REP_INFO without an information type');
      const infoType = data.readUInt16BE(0);
      if (infoType === P.NBD_INFO_EXPORT) {
        if (data.length !== 12) throw new Error(`NBD_INFO_EXPORT of ${data.length} bytes`);
        this.sizeBytes = Number(data.readBigUInt64BE(2));
        this.transmissionFlags = data.readUInt16BE(10);
        haveExport = true;
      } else if (infoType === P.NBD_INFO_BLOCK_SIZE) {
        if (data.length !== 14) throw new Error(`NBD_INFO_BLOCK_SIZE of ${data.length} bytes`);
        this.maxPayloadBytes = data.readUInt32BE(10);
      }
      // Other information types are ignored, as the spec asks of clients.
    }
  }

  async #replyLoop(): Promise<void> {
    try {
      for (;;) {
        const reply = codec.decodeSimpleReply(await this.#read(P.SIMPLE_REPLY_BYTES));
        if (reply.magic !== P.NBD_SIMPLE_REPLY_MAGIC) {
          throw new NbdConnectionError(`reply magic 0x${reply.magic.toString(16)}: only simple replies were negotiated`);
        }
        const pending = this.#pending.get(reply.cookie);
        if (pending === undefined) throw new NbdConnectionError(`reply for unknown cookie ${reply.cookie}`);
        this.#pending.delete(reply.cookie);
        if (reply.errno !== 0) {
          // Simple replies carry READ data only when the error is zero.
          pending.reject(new NbdError(reply.errno, `${pending.command} failed with NBD error ${reply.errno}`));
        } else {
          pending.resolve(pending.dataBytes > 0 ? await this.#read(pending.dataBytes) : Buffer.alloc(0));
        }
      }
    } catch (error) {
      this.#fail(error instanceof Error ? error : new NbdConnectionError(String(error)));
      this.#socket.destroy();
    }
  }

  #fail(error: Error): void {
    if (this.#failure === null) this.#failure = error;
    for (const pending of this.#pending.values()) pending.reject(this.#failure);
    this.#pending.clear();
    this.#wake();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }

  /** Exactly `lengthBytes` bytes from the stream (one reader at a time). */
  async #read(lengthBytes: number): Promise<Buffer> {
    while (this.#buffered < lengthBytes) {
      if (this.#failure !== null) throw this.#failure;
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
    this.#buffered -= lengthBytes;
    const head = this.#chunks[0];
    if (head !== undefined && head.length >= lengthBytes) {
      if (head.length === lengthBytes) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(lengthBytes);
      return head.subarray(0, lengthBytes);
    }
    const out = Buffer.allocUnsafe(lengthBytes);
    let at = 0;
    while (at < lengthBytes) {
      const chunk = this.#chunks[0];
      const bytes = Math.min(chunk.length, lengthBytes - at);
      chunk.copy(out, at, 0, bytes);
      at += bytes;
      if (bytes === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(bytes);
    }
    return out;
  }
}
