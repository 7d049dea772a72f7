/**
 * `MemoryStorage`: an in-memory `Storage` for tests, with a precise crash model and fault
 * injection. It is deterministic: no timers, no randomness except from a caller's seed, and
 * every call takes effect synchronously, in call order, before its promise settles.
 *
 * What it keeps, per file: the current content (what reads see), the durable content (what
 * survives a power loss), and the writes and truncates issued since the file's last `sync`
 * (pending operations, in order). Per storage: the current names, the durable names (as of the
 * last `syncDirectory`), and the creations and removals since then.
 *
 * Crash modes (`crash(mode)` returns the disk after the crash as a new storage; the old one is
 * dead, and every later call on it or its files rejects with `CrashedError`):
 * - `'power-loss'`: durable names with durable content; every pending operation is lost, and a
 *   file created but not covered by `syncDirectory` is gone (a removed one comes back).
 * - `'process-kill'`: everything issued survives (the page cache outlives the process).
 * - `{ kind: 'random', seed }`: starting from the durable state, each pending creation, removal,
 *   write and truncate survives or not at random, in order; a surviving write may be torn at
 *   4 KiB boundaries of the file (some of its 4 KiB pieces applied, others not).
 *
 * A dead storage can be asked for `crash(mode)` again: each call returns a fresh image of the
 * same instant, so one stopped run can be checked under several modes.
 *
 * Fault injection:
 * - `failAtWrite(n)`: the n-th write or truncate from now does not happen; the storage dies at
 *   that instant and the call rejects with `CrashedError`.
 * - `failAtSync(n)`: the same for the n-th `sync` or `syncDirectory` from now.
 * - `failSyncOnce()`, `failWriteOnce()`, `failReadOnce()`: the next such call rejects with
 *   `StrataError('IO_ERROR')` and has no effect; the storage stays alive.
 * - `corrupt(name, offset, length)`: flips bits of stored bytes (current and durable), as a
 *   failing medium would.
 */
import { assert } from '../lib/assert.js';
import { StrataError } from '../lib/errors.js';
import { assertPlainName } from './file.js';
import type { Storage, StorageFile } from './types.js';

export type CrashMode = 'power-loss' | 'process-kill' | { kind: 'random'; seed: number };

/** The granularity at which a crash may tear a write, and the page size of the in-memory files. */
export const tearSizeBytes = 4096;

/** The error of every call on a storage (or its files) after it crashed or was stopped. */
export class CrashedError extends StrataError {
  constructor(message: string) {
    super('IO_ERROR', message, { crashed: true });
    this.name = 'CrashedError';
  }
}

/** A sparse, growable byte array in 4 KiB pages. Bytes at or past `sizeBytes` are always zero. */
class PagedBytes {
  sizeBytes = 0;
  readonly pages = new Map<number, Uint8Array>();

  read(target: Uint8Array, targetOffset: number, length: number, offset: number): number {
    if (offset >= this.sizeBytes) return 0;
    const count = Math.min(length, this.sizeBytes - offset);
    let done = 0;
    while (done < count) {
      const position = offset + done;
      const index = Math.floor(position / tearSizeBytes);
      const inPage = position - index * tearSizeBytes;
      const n = Math.min(tearSizeBytes - inPage, count - done);
      const page = this.pages.get(index);
      if (page === undefined) target.fill(0, targetOffset + done, targetOffset + done + n);
      else target.set(page.subarray(inPage, inPage + n), targetOffset + done);
      done += n;
    }
    return count;
  }

  write(data: Uint8Array, offset: number): void {
    const end = offset + data.byteLength;
    let done = 0;
    while (offset + done < end) {
      const position = offset + done;
      const index = Math.floor(position / tearSizeBytes);
      const inPage = position - index * tearSizeBytes;
      const n = Math.min(tearSizeBytes - inPage, end - position);
      let page = this.pages.get(index);
      if (page === undefined) {
        page = new Uint8Array(tearSizeBytes);
        this.pages.set(index, page);
      }
      page.set(data.subarray(done, done + n), inPage);
      done += n;
    }
    if (end > this.sizeBytes) this.sizeBytes = end;
  }

  truncate(sizeBytes: number): void {
    if (sizeBytes < this.sizeBytes) {
      const firstDropped = Math.ceil(sizeBytes / tearSizeBytes);
      for (const index of [...this.pages.keys()]) if (index >= firstDropped) this.pages.delete(index);
      const partialIndex = Math.floor(sizeBytes / tearSizeBytes);
      this.pages.get(partialIndex)?.fill(0, sizeBytes - partialIndex * tearSizeBytes);
    }
    this.sizeBytes = sizeBytes;
  }

  /** Flips every bit in [offset, offset + length), clipped to the size. */
  invert(offset: number, length: number): void {
    const end = Math.min(offset + length, this.sizeBytes);
    if (offset >= end) return;
    const bytes = new Uint8Array(end - offset);
    this.read(bytes, 0, bytes.byteLength, offset);
    for (let i = 0; i < bytes.byteLength; i++) bytes[i] ^= 0xff;
    this.write(bytes, offset);
  }

  clone(): PagedBytes {
    const copy = new PagedBytes();
    copy.sizeBytes = this.sizeBytes;
    for (const [index, page] of this.pages) copy.pages.set(index, page.slice());
    return copy;
  }

  toBytes(): Uint8Array {
    const bytes = new Uint8Array(this.sizeBytes);
    this.read(bytes, 0, bytes.byteLength, 0);
    return bytes;
  }
}

type PendingOp = { kind: 'write'; offset: number; data: Uint8Array } | { kind: 'truncate'; sizeBytes: number };

type DirOp = { kind: 'create'; name: string; node: MemoryNode } | { kind: 'remove'; name: string };

/** One file's data, independent of its name (a removed file lives on while handles use it). */
class MemoryNode {
  pending: PendingOp[] = [];

  constructor(
    readonly id: number,
    public current: PagedBytes,
    public durable: PagedBytes,
  ) {}

  apply(op: PendingOp, target: PagedBytes): void {
    if (op.kind === 'write') target.write(op.data, op.offset);
    else target.truncate(op.sizeBytes);
  }
}

let storageSerial = 0;

export class MemoryStorage implements Storage {
  readonly location: string;
  private readonly files = new Map<string, MemoryNode>();
  private durableFiles = new Map<string, MemoryNode>();
  private pendingDirOps: DirOp[] = [];
  private nextNodeId = 1;
  private deadReason: string | null = null;
  private writes = 0;
  private syncs = 0;
  private stopAtWrite = 0;
  private stopAtSync = 0;
  private syncFailures = 0;
  private writeFailures = 0;
  private readFailures = 0;

  constructor(location?: string) {
    storageSerial += 1;
    this.location = location ?? `memory:${storageSerial}`;
  }

  /** Write and truncate calls so far (including one that was stopped or failed). */
  get writeCount(): number {
    return this.writes;
  }

  /** `sync` and `syncDirectory` calls so far (including one that was stopped or failed). */
  get syncCount(): number {
    return this.syncs;
  }

  /** Whether the storage has crashed or been stopped. */
  get dead(): boolean {
    return this.deadReason !== null;
  }

  // ---- fault injection ----

  /** The n-th write or truncate from now (1-based) does not happen; the storage dies instead. */
  failAtWrite(n: number): void {
    assert(Number.isSafeInteger(n) && n >= 1, 'failAtWrite: n must be a positive integer');
    this.stopAtWrite = this.writes + n;
  }

  /** The n-th sync or syncDirectory from now (1-based) does not happen; the storage dies instead. */
  failAtSync(n: number): void {
    assert(Number.isSafeInteger(n) && n >= 1, 'failAtSync: n must be a positive integer');
    this.stopAtSync = this.syncs + n;
  }

  /** The next sync or syncDirectory rejects with IO_ERROR and makes nothing durable. */
  failSyncOnce(): void {
    this.syncFailures += 1;
  }

  /** The next write or truncate rejects with IO_ERROR and changes nothing. */
  failWriteOnce(): void {
    this.writeFailures += 1;
  }

  /** The next read rejects with IO_ERROR. */
  failReadOnce(): void {
    this.readFailures += 1;
  }

  /** Flips every bit of the stored bytes [offset, offset + length) of a file, current and durable. */
  corrupt(name: string, offset: number, length: number): void {
    const node = this.files.get(name);
    assert(node !== undefined, `corrupt: no file ${name}`);
    node.current.invert(offset, length);
    node.durable.invert(offset, length);
  }

  /** A copy of a file's content as reads see it (or as a power loss would leave it). */
  contentOf(name: string, which: 'current' | 'durable' = 'current'): Uint8Array {
    const node = which === 'current' ? this.files.get(name) : this.durableFiles.get(name);
    assert(node !== undefined, `contentOf: no ${which} file ${name}`);
    return (which === 'current' ? node.current : node.durable).toBytes();
  }

  /**
   * Kills this storage (if it is still alive) and returns the disk as a crash in `mode` leaves
   * it. On a dead storage, returns another image of the instant it died.
   */
  crash(mode: CrashMode): MemoryStorage {
    if (this.deadReason === null) this.deadReason = 'crashed';
    const image = new MemoryStorage(`${this.location}/after-crash`);
    if (mode === 'process-kill') {
      for (const [name, node] of this.files) image.adopt(name, node.current.clone());
    } else if (mode === 'power-loss') {
      for (const [name, node] of this.durableFiles) image.adopt(name, node.durable.clone());
    } else {
      assert(mode.kind === 'random' && Number.isSafeInteger(mode.seed), 'crash: unknown mode');
      this.randomImage(image, seededRandom(mode.seed));
    }
    return image;
  }

  private randomImage(image: MemoryStorage, random: () => number): void {
    const names = new Map(this.durableFiles);
    for (const op of this.pendingDirOps) {
      if (random() % 2 === 0) continue;
      if (op.kind === 'create') names.set(op.name, op.node);
      else names.delete(op.name);
    }
    for (const name of [...names.keys()].sort()) {
      const node = names.get(name)!;
      const content = node.durable.clone();
      for (const op of node.pending) applyRandomly(node, op, content, random);
      image.adopt(name, content);
    }
  }

  private adopt(name: string, content: PagedBytes): void {
    const node = new MemoryNode(this.nextNodeId++, content, content.clone());
    this.files.set(name, node);
    this.durableFiles.set(name, node);
  }

  // ---- Storage ----

  async open(name: string, options: { create: boolean }): Promise<StorageFile> {
    this.checkAlive();
    assertPlainName(name);
    let node = this.files.get(name);
    if (node === undefined) {
      if (!options.create) {
        throw new StrataError('IO_ERROR', `cannot open ${this.location}/${name} (ENOENT)`, { errno: 'ENOENT' });
      }
      node = new MemoryNode(this.nextNodeId++, new PagedBytes(), new PagedBytes());
      this.files.set(name, node);
      this.pendingDirOps.push({ kind: 'create', name, node });
    }
    return new MemoryFile(this, name, node);
  }

  async exists(name: string): Promise<boolean> {
    this.checkAlive();
    assertPlainName(name);
    return this.files.has(name);
  }

  async list(): Promise<string[]> {
    this.checkAlive();
    return [...this.files.keys()].sort();
  }

  /** Removes a file; removing a file that does not exist is not an error. */
  async remove(name: string): Promise<void> {
    this.checkAlive();
    assertPlainName(name);
    if (!this.files.delete(name)) return;
    this.pendingDirOps.push({ kind: 'remove', name });
  }

  async syncDirectory(): Promise<void> {
    this.beginSync();
    this.durableFiles = new Map(this.files);
    this.pendingDirOps = [];
  }

  // ---- called by MemoryFile ----

  /** @internal */
  checkAlive(): void {
    if (this.deadReason !== null) throw new CrashedError(`storage ${this.location} is dead (${this.deadReason})`);
  }

  /** @internal Counts a write or truncate and applies the injected faults; returns normally if it may proceed. */
  beginWrite(what: string): void {
    this.checkAlive();
    this.writes += 1;
    if (this.writes === this.stopAtWrite) {
      this.deadReason = `stopped at write ${this.writes}`;
      throw new CrashedError(`storage ${this.location} stopped at write ${this.writes} (${what})`);
    }
    if (this.writeFailures > 0) {
      this.writeFailures -= 1;
      throw new StrataError('IO_ERROR', `injected write failure (${what})`, { injected: true });
    }
  }

  /** @internal */
  beginSync(what = 'directory'): void {
    this.checkAlive();
    this.syncs += 1;
    if (this.syncs === this.stopAtSync) {
      this.deadReason = `stopped at sync ${this.syncs}`;
      throw new CrashedError(`storage ${this.location} stopped at sync ${this.syncs} (${what})`);
    }
    if (this.syncFailures > 0) {
      this.syncFailures -= 1;
      throw new StrataError('IO_ERROR', `injected sync failure (${what})`, { injected: true });
    }
  }

  /** @internal */
  beginRead(what: string): void {
    this.checkAlive();
    if (this.readFailures > 0) {
      this.readFailures -= 1;
      throw new StrataError('IO_ERROR', `injected read failure (${what})`, { injected: true });
    }
  }
}

class MemoryFile implements StorageFile {
  private closed = false;

  constructor(
    private readonly storage: MemoryStorage,
    readonly name: string,
    private readonly node: MemoryNode,
  ) {}

  async read(buffer: Uint8Array, bufferOffset: number, length: number, offset: number): Promise<number> {
    this.storage.beginRead(this.name);
    this.checkOpen();
    assert(bufferOffset >= 0 && length >= 0 && bufferOffset + length <= buffer.byteLength, 'read: buffer range');
    assert(Number.isSafeInteger(offset) && offset >= 0, 'read: offset');
    return this.node.current.read(buffer, bufferOffset, length, offset);
  }

  async write(data: Uint8Array, offset: number): Promise<void> {
    assert(Number.isSafeInteger(offset) && offset >= 0, 'write: offset');
    this.storage.beginWrite(`write ${this.name} at ${offset}`);
    this.checkOpen();
    if (data.byteLength === 0) return;
    const op: PendingOp = { kind: 'write', offset, data: new Uint8Array(data) };
    this.node.current.write(op.data, offset);
    this.node.pending.push(op);
  }

  async sync(): Promise<void> {
    this.storage.beginSync(this.name);
    this.checkOpen();
    const node = this.node;
    for (const op of node.pending) node.apply(op, node.durable);
    node.pending = [];
  }

  async sizeBytes(): Promise<number> {
    this.storage.checkAlive();
    this.checkOpen();
    return this.node.current.sizeBytes;
  }

  async truncate(sizeBytes: number): Promise<void> {
    assert(Number.isSafeInteger(sizeBytes) && sizeBytes >= 0, 'truncate: size');
    this.storage.beginWrite(`truncate ${this.name} to ${sizeBytes}`);
    this.checkOpen();
    this.node.current.truncate(sizeBytes);
    this.node.pending.push({ kind: 'truncate', sizeBytes });
  }

  async close(): Promise<void> {
    this.storage.checkAlive();
    this.checkOpen();
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new StrataError('IO_ERROR', `file ${this.name} is closed (EBADF)`, { errno: 'EBADF' });
  }
}

/** Applies a pending operation to a crash image: dropped, whole, or (a write) torn at 4 KiB. */
function applyRandomly(node: MemoryNode, op: PendingOp, content: PagedBytes, random: () => number): void {
  const choice = random() % 3;
  if (choice === 0) return;
  if (choice === 1 || op.kind === 'truncate') {
    node.apply(op, content);
    return;
  }
  const end = op.offset + op.data.byteLength;
  let position = op.offset;
  while (position < end) {
    const pieceEnd = Math.min(end, (Math.floor(position / tearSizeBytes) + 1) * tearSizeBytes);
    if (random() % 2 === 1) content.write(op.data.subarray(position - op.offset, pieceEnd - op.offset), position);
    position = pieceEnd;
  }
}

/** A small seeded generator of 32-bit unsigned integers (a counter through an integer mixer). */
export function seededRandom(seed: number): () => number {
  let state = (seed ^ 0x5bd1e995) >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}
