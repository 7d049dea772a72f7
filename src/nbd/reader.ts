import type { Readable } from 'node:stream';
import { assert } from '../lib/assert.js';

/** The peer closed its side, or the connection was torn down, before the bytes asked for arrived. */
export class EndOfStream extends Error {
  constructor(message = 'connection closed by peer') {
    super(message);
    this.name = 'EndOfStream';
  }
}

interface PendingRead {
  /** Where the bytes go; null when they are being skipped. */
  destination: Buffer | null;
  needBytes: number;
  filledBytes: number;
  resolve: (data: Buffer) => void;
  reject: (error: Error) => void;
}

const emptyBuffer = Buffer.alloc(0);

/**
 * Exact-length reads from a socket, parsed incrementally from a list of received chunks.
 *
 * Memory is bounded: at most `readAheadBytesMax` (plus one chunk) is held beyond what the caller
 * asked for; above that the socket is paused, so a caller that stops asking (because the
 * connection is at its in-flight cap) stops the kernel from delivering more. A read that cannot
 * be served from buffered chunks gets its destination allocated once and filled in place as
 * data arrives, so a large WRITE payload is never copied twice. One read at a time.
 */
export class SocketReader {
  readonly #stream: Readable;
  #readAheadBytesMax: number;
  readonly #chunks: Buffer[] = [];
  /** Bytes of `#chunks[0]` already consumed. */
  #headOffsetBytes = 0;
  #bufferedBytes = 0;
  #pending: PendingRead | null = null;
  #endError: EndOfStream | null = null;

  constructor(stream: Readable, readAheadBytesMax: number) {
    this.#stream = stream;
    this.#readAheadBytesMax = readAheadBytesMax;
    stream.on('data', this.#onDataListener);
    stream.on('end', this.#onEndListener);
    stream.on('close', this.#onEndListener);
  }

  readonly #onDataListener = (chunk: Buffer): void => this.#onData(chunk);
  readonly #onEndListener = (): void => this.close(new EndOfStream());

  /** Changes how far the reader reads ahead (small in the handshake, larger in transmission). */
  setReadAheadBytesMax(bytes: number): void {
    this.#readAheadBytesMax = bytes;
    this.#updateFlow();
  }

  /**
   * Stops reading and lets go of the stream (paused, listeners removed) so that another reader
   * can take it over; returns how many bytes had been received and not yet asked for, which
   * are dropped. No read may be pending.
   */
  detach(): number {
    assert(this.#pending === null, 'detach with no read pending');
    const unread = this.#bufferedBytes;
    this.#stream.off('data', this.#onDataListener);
    this.#stream.off('end', this.#onEndListener);
    this.#stream.off('close', this.#onEndListener);
    this.close(new EndOfStream('reader detached'));
    return unread;
  }

  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** Resolves to exactly `lengthBytes` bytes, or rejects with EndOfStream. */
  read(lengthBytes: number): Promise<Buffer> {
    if (lengthBytes <= this.#bufferedBytes) {
      const data = this.#take(lengthBytes);
      this.#updateFlow();
      return Promise.resolve(data);
    }
    return this.#wait(Buffer.allocUnsafe(lengthBytes), lengthBytes);
  }

  /** Consumes and discards `lengthBytes` bytes without holding them. */
  async skip(lengthBytes: number): Promise<void> {
    const fromBuffer = Math.min(lengthBytes, this.#bufferedBytes);
    this.#discard(fromBuffer);
    this.#updateFlow();
    if (fromBuffer < lengthBytes) await this.#wait(null, lengthBytes - fromBuffer);
  }

  /** Stops reading for good: a pending read rejects, buffered bytes are dropped. */
  close(error: EndOfStream = new EndOfStream('reader closed')): void {
    if (this.#endError === null) this.#endError = error;
    this.#chunks.length = 0;
    this.#bufferedBytes = 0;
    this.#headOffsetBytes = 0;
    const pending = this.#pending;
    this.#pending = null;
    pending?.reject(this.#endError);
    if (!this.#stream.destroyed) this.#stream.pause();
  }

  #wait(destination: Buffer | null, needBytes: number): Promise<Buffer> {
    assert(this.#pending === null, 'one read at a time');
    if (this.#endError !== null) return Promise.reject(this.#endError);
    return new Promise<Buffer>((resolve, reject) => {
      const pending: PendingRead = { destination, needBytes, filledBytes: 0, resolve, reject };
      // Move what is already buffered into the destination.
      const buffered = this.#bufferedBytes;
      if (destination !== null) {
        let at = 0;
        while (at < buffered) at += this.#copyHeadInto(destination, at, buffered - at);
      } else {
        this.#discard(buffered);
      }
      pending.filledBytes = buffered;
      this.#pending = pending;
      this.#updateFlow();
    });
  }

  #onData(chunk: Buffer): void {
    if (this.#endError !== null) return;
    const pending = this.#pending;
    let rest = chunk;
    if (pending !== null) {
      const useBytes = Math.min(pending.needBytes - pending.filledBytes, chunk.length);
      if (pending.destination !== null) chunk.copy(pending.destination, pending.filledBytes, 0, useBytes);
      pending.filledBytes += useBytes;
      rest = chunk.subarray(useBytes);
      if (pending.filledBytes === pending.needBytes) {
        this.#pending = null;
        pending.resolve(pending.destination ?? emptyBuffer);
      }
    }
    if (rest.length > 0) {
      this.#chunks.push(rest);
      this.#bufferedBytes += rest.length;
    }
    this.#updateFlow();
  }

  #updateFlow(): void {
    if (this.#endError !== null || this.#stream.destroyed) return;
    const wantMore = this.#pending !== null || this.#bufferedBytes < this.#readAheadBytesMax;
    if (wantMore && this.#stream.isPaused()) this.#stream.resume();
    if (!wantMore && !this.#stream.isPaused()) this.#stream.pause();
  }

  #take(lengthBytes: number): Buffer {
    const head = this.#chunks[0];
    if (head !== undefined && head.length - this.#headOffsetBytes >= lengthBytes) {
      const data = head.subarray(this.#headOffsetBytes, this.#headOffsetBytes + lengthBytes);
      this.#advance(lengthBytes);
      return data;
    }
    const data = Buffer.allocUnsafe(lengthBytes);
    let at = 0;
    while (at < lengthBytes) at += this.#copyHeadInto(data, at, lengthBytes - at);
    return data;
  }

  /** Copies up to `maxBytes` from the head chunk into `target` and consumes them. */
  #copyHeadInto(target: Buffer, targetOffset: number, maxBytes: number): number {
    const head = this.#chunks[0];
    assert(head !== undefined, 'copy from an empty chunk list');
    const bytes = Math.min(maxBytes, head.length - this.#headOffsetBytes);
    head.copy(target, targetOffset, this.#headOffsetBytes, this.#headOffsetBytes + bytes);
    this.#advance(bytes);
    return bytes;
  }

  #discard(lengthBytes: number): void {
    let left = lengthBytes;
    while (left > 0) {
      const head = this.#chunks[0];
      assert(head !== undefined, 'discard beyond buffered bytes');
      const bytes = Math.min(left, head.length - this.#headOffsetBytes);
      this.#advance(bytes);
      left -= bytes;
    }
  }

  #advance(bytes: number): void {
    this.#headOffsetBytes += bytes;
    this.#bufferedBytes -= bytes;
    const head = this.#chunks[0];
    if (head !== undefined && this.#headOffsetBytes === head.length) {
      this.#chunks.shift();
      this.#headOffsetBytes = 0;
    }
  }
}
