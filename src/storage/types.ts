/**
 * The storage seam: everything the engine persists goes through these two interfaces, so a
 * test can swap the real file system for one that loses unsynced writes or stops at the N-th
 * write (src/storage/memory.ts).
 *
 * Contract (what the engine may rely on, and no more):
 * - `write` is positional and may be torn at 4 KiB boundaries of the file by a crash; a write is
 *   durable only after a later `sync` of the same file has resolved.
 * - `truncate` is durable after a later `sync` of the same file.
 * - A file created by `open(name, {create: true})` exists durably after `syncDirectory`.
 * - Reads see every write that has resolved, durable or not.
 */
export interface StorageFile {
  readonly name: string;
  /** Reads up to `length` bytes at `offset` into `buffer` at `bufferOffset`; returns bytes read (short at end of file). */
  read(buffer: Uint8Array, bufferOffset: number, length: number, offset: number): Promise<number>;
  /** Writes all of `data` at `offset`, extending the file if needed. */
  write(data: Uint8Array, offset: number): Promise<void>;
  sync(): Promise<void>;
  sizeBytes(): Promise<number>;
  truncate(sizeBytes: number): Promise<void>;
  close(): Promise<void>;
}

export interface Storage {
  /** A human-readable location, for messages. */
  readonly location: string;
  open(name: string, options: { create: boolean }): Promise<StorageFile>;
  exists(name: string): Promise<boolean>;
  list(): Promise<string[]>;
  remove(name: string): Promise<void>;
  /** Makes file creations and removals in this storage durable. */
  syncDirectory(): Promise<void>;
}
