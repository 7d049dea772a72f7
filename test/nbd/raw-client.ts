/**
 * A minimal NBD client over a raw TCP socket, for tests: it sends exactly the bytes a test
 * asks for and parses replies with the codec, so tests can speak both valid and broken protocol.
 */
import net from 'node:net';
import tls from 'node:tls';
import { codec, protocol } from '../../src/nbd/index.js';

const {
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_INFO_BLOCK_SIZE,
  NBD_OPT_GO,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REPLY_FLAG_DONE,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
  NBD_INFO_EXPORT,
  NBD_REP_INFO,
} = protocol;

export class ConnectionClosed extends Error {}

export interface OptionReply {
  option: number;
  replyType: number;
  data: Buffer;
}

export type TransmissionReply =
  | { kind: 'simple'; errno: number; cookie: bigint; data: Buffer }
  | { kind: 'chunk'; flags: number; type: number; cookie: bigint; payload: Buffer };

export interface OpenOptions {
  structured?: boolean;
  metaContexts?: string[];
  noZeroes?: boolean;
}

export class RawClient {
  readonly socket: net.Socket;
  /** Resolves when the server closed the connection (or it failed). */
  readonly closed: Promise<void>;
  #chunks: Buffer[] = [];
  #bufferedBytes = 0;
  #ended = false;
  #waiter: (() => void) | null = null;

  readonly #onData = (chunk: Buffer): void => {
    this.#chunks.push(chunk);
    this.#bufferedBytes += chunk.length;
    this.#wake();
  };

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', this.#onData);
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#ended = true;
        this.#wake();
        resolve();
      }),
    );
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host, noDelay: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawClient(socket));
      });
    });
  }

  /** Connects and completes a handshake with NBD_OPT_GO. */
  static async open(port: number, name: string, options: OpenOptions = {}): Promise<{ client: RawClient; sizeBytes: number; flags: number }> {
    const client = await RawClient.connect(port);
    await client.greeting();
    client.send(codec.encodeClientFlags(NBD_FLAG_C_FIXED_NEWSTYLE | (options.noZeroes === false ? 0 : NBD_FLAG_C_NO_ZEROES)));
    if (options.structured ?? false) {
      const [reply] = await client.option(NBD_OPT_STRUCTURED_REPLY);
      if (reply?.replyType !== NBD_REP_ACK) throw new Error('structured replies refused');
    }
    if (options.metaContexts !== undefined) {
      await client.option(NBD_OPT_SET_META_CONTEXT, codec.encodeMetaContextRequest(name, options.metaContexts));
    }
    const replies = await client.option(NBD_OPT_GO, codec.encodeInfoRequest(name, [NBD_INFO_BLOCK_SIZE]));
    const last = replies[replies.length - 1];
    if (last?.replyType !== NBD_REP_ACK) throw new Error(`GO refused with 0x${last?.replyType.toString(16)}`);
    const info = replies.find((reply) => reply.replyType === NBD_REP_INFO && reply.data.readUInt16BE(0) === NBD_INFO_EXPORT);
    if (info === undefined) throw new Error('no NBD_INFO_EXPORT');
    return { client, sizeBytes: Number(info.data.readBigUInt64BE(2)), flags: info.data.readUInt16BE(10) };
  }

  /**
   * Sends NBD_OPT_STARTTLS and, if it is acknowledged, runs the TLS handshake as the client;
   * returns the client that speaks over TLS from now on. Rejects with the reply type otherwise.
   */
  async startTls(options: tls.ConnectionOptions): Promise<RawClient> {
    const [reply] = await this.option(protocol.NBD_OPT_STARTTLS);
    if (reply?.replyType !== protocol.NBD_REP_ACK) throw new Error(`STARTTLS answered 0x${reply?.replyType.toString(16)}`);
    if (this.#bufferedBytes !== 0) throw new Error('bytes after the STARTTLS reply');
    this.socket.off('data', this.#onData);
    const secure = tls.connect({ ...options, socket: this.socket });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', () => resolve());
      secure.once('error', reject);
    });
    return new RawClient(secure);
  }

  send(data: Buffer): void {
    this.socket.write(data);
  }

  /** Exactly `lengthBytes` bytes; rejects with ConnectionClosed if the server closes first. */
  async read(lengthBytes: number): Promise<Buffer> {
    while (this.#bufferedBytes < lengthBytes) {
      if (this.#ended) throw new ConnectionClosed(`closed with ${this.#bufferedBytes} of ${lengthBytes} bytes`);
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
    this.#bufferedBytes -= lengthBytes;
    const head = this.#chunks[0];
    if (head !== undefined && head.length >= lengthBytes) {
      this.#chunks[0] = head.subarray(lengthBytes);
      if (this.#chunks[0].length === 0) this.#chunks.shift();
      return head.subarray(0, lengthBytes);
    }
    const data = Buffer.alloc(lengthBytes);
    let at = 0;
    while (at < lengthBytes) {
      const chunk = this.#chunks[0]!;
      const bytes = Math.min(chunk.length, lengthBytes - at);
      chunk.copy(data, at, 0, bytes);
      at += bytes;
      this.#chunks[0] = chunk.subarray(bytes);
      if (this.#chunks[0].length === 0) this.#chunks.shift();
    }
    return data;
  }

  /** Everything until the server closes. */
  async readToEnd(): Promise<Buffer> {
    await this.closed;
    const all = Buffer.concat(this.#chunks);
    this.#chunks = [];
    this.#bufferedBytes = 0;
    return all;
  }

  async greeting(): Promise<{ magic: bigint; ihaveopt: bigint; flags: number }> {
    const data = await this.read(protocol.GREETING_BYTES);
    return { magic: data.readBigUInt64BE(0), ihaveopt: data.readBigUInt64BE(8), flags: data.readUInt16BE(16) };
  }

  async readOptionReply(): Promise<OptionReply> {
    const header = codec.decodeOptionReplyHeader(await this.read(protocol.OPTION_REPLY_HEADER_BYTES));
    if (header.magic !== protocol.NBD_REP_MAGIC) throw new Error('bad option reply magic');
    return { option: header.option, replyType: header.replyType, data: await this.read(header.lengthBytes) };
  }

  /** Sends an option and reads replies up to the final one (ACK or an error). */
  async option(option: number, data?: Buffer): Promise<OptionReply[]> {
    this.send(codec.encodeOption(option, data));
    const replies: OptionReply[] = [];
    for (;;) {
      const reply = await this.readOptionReply();
      replies.push(reply);
      if (reply.replyType === NBD_REP_ACK || reply.replyType >= 2 ** 31) return replies;
    }
  }

  request(request: { type: number; flags?: number; cookie: bigint; offsetBytes: number; lengthBytes: number; data?: Buffer }): void {
    const header = codec.encodeRequest({ flags: 0, ...request });
    this.send(request.data === undefined ? header : Buffer.concat([header, request.data]));
  }

  /**
   * The next reply message. `readLengthFor` tells how many data bytes follow a successful simple
   * reply with a given cookie (simple replies are not self-describing).
   */
  async reply(readLengthFor: (cookie: bigint) => number = () => 0): Promise<TransmissionReply> {
    const magic = (await this.peek(4)).readUInt32BE(0);
    if (magic === NBD_SIMPLE_REPLY_MAGIC) {
      const header = codec.decodeSimpleReply(await this.read(protocol.SIMPLE_REPLY_BYTES));
      const data = header.errno === 0 ? await this.read(readLengthFor(header.cookie)) : Buffer.alloc(0);
      return { kind: 'simple', errno: header.errno, cookie: header.cookie, data };
    }
    if (magic === NBD_STRUCTURED_REPLY_MAGIC) {
      const header = codec.decodeChunkHeader(await this.read(protocol.STRUCTURED_CHUNK_HEADER_BYTES));
      return { kind: 'chunk', flags: header.flags, type: header.type, cookie: header.cookie, payload: await this.read(header.lengthBytes) };
    }
    throw new Error(`bad reply magic 0x${magic.toString(16)}`);
  }

  /** All chunks of one structured reply (assumes no other reply interleaves). */
  async structuredReply(): Promise<Extract<TransmissionReply, { kind: 'chunk' }>[]> {
    const chunks: Extract<TransmissionReply, { kind: 'chunk' }>[] = [];
    for (;;) {
      const reply = await this.reply();
      if (reply.kind !== 'chunk') throw new Error('expected a structured chunk');
      chunks.push(reply);
      if ((reply.flags & NBD_REPLY_FLAG_DONE) !== 0) return chunks;
    }
  }

  async peek(lengthBytes: number): Promise<Buffer> {
    const data = await this.read(lengthBytes);
    this.#chunks.unshift(data);
    this.#bufferedBytes += lengthBytes;
    return data;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }
}
