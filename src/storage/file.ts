/**
 * `FileStorage`: the `Storage` seam over real files in one directory.
 *
 * Every call maps to one or a few system calls; nothing is cached, so the durability contract
 * of src/storage/types.ts is exactly the file system's:
 * - `write` and `truncate` are durable after `sync` (fdatasync) of the same file;
 * - creations and removals are durable after `syncDirectory` (fsync of the directory).
 * Every failure of the file system is reported as `StrataError('IO_ERROR')` with the original
 * error in `details.cause` and its errno name in `details.errno`.
 */
import { mkdirSync, readSync, writeSync } from 'node:fs';
import { constants, type FileHandle, open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { assert } from '../lib/assert.js';
import { StrataError } from '../lib/errors.js';
import type { Storage, StorageFile } from './types.js';

/**
 * Reads and writes up to this size are issued inline (pread/pwrite on the calling thread)
 * rather than through libuv's thread pool: for the small, page-cache-served I/O of a block
 * device the thread-pool round trip costs more than the system call.
 */
const inlineIoBytesMax = 128 * 1024;

const openFlagsExisting = constants.O_RDWR;
const openFlagsCreate = constants.O_RDWR | constants.O_CREAT;

export class FileStorage implements Storage {
  readonly location: string;

  /** Creates `dirPath` (and its parents) if it does not exist. */
  constructor(dirPath: string) {
    this.location = dirPath;
    try {
      mkdirSync(dirPath, { recursive: true });
    } catch (error) {
      throw ioError(`cannot create directory ${dirPath}`, error);
    }
  }

  async open(name: string, options: { create: boolean }): Promise<StorageFile> {
    const path = this.pathOf(name);
    let handle: FileHandle;
    try {
      handle = await open(path, options.create ? openFlagsCreate : openFlagsExisting, 0o644);
    } catch (error) {
      throw ioError(`cannot open ${path}`, error);
    }
    return new FileStorageFile(name, path, handle);
  }

  async exists(name: string): Promise<boolean> {
    const path = this.pathOf(name);
    try {
      return (await stat(path)).isFile();
    } catch (error) {
      if (errnoOf(error) === 'ENOENT') return false;
      throw ioError(`cannot stat ${path}`, error);
    }
  }

  /** Names of the regular files in the directory, sorted. */
  async list(): Promise<string[]> {
    try {
      const entries = await readdir(this.location, { withFileTypes: true });
      const names: string[] = [];
      for (const entry of entries) if (entry.isFile()) names.push(entry.name);
      return names.sort();
    } catch (error) {
      throw ioError(`cannot list ${this.location}`, error);
    }
  }

  /** Removes a file; removing a file that does not exist is not an error. */
  async remove(name: string): Promise<void> {
    const path = this.pathOf(name);
    try {
      await rm(path, { force: true });
    } catch (error) {
      throw ioError(`cannot remove ${path}`, error);
    }
  }

  async syncDirectory(): Promise<void> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(this.location, constants.O_RDONLY);
      await handle.sync();
    } catch (error) {
      throw ioError(`cannot sync directory ${this.location}`, error);
    } finally {
      if (handle !== undefined) await handle.close().catch(() => undefined);
    }
  }

  private pathOf(name: string): string {
    assertPlainName(name);
    return join(this.location, name);
  }
}

class FileStorageFile implements StorageFile {
  readonly name: string;
  private readonly path: string;
  private readonly handle: FileHandle;

  constructor(name: string, path: string, handle: FileHandle) {
    this.name = name;
    this.path = path;
    this.handle = handle;
  }

  async read(buffer: Uint8Array, bufferOffset: number, length: number, offset: number): Promise<number> {
    assert(bufferOffset >= 0 && length >= 0 && bufferOffset + length <= buffer.byteLength, 'read: buffer range');
    assert(Number.isSafeInteger(offset) && offset >= 0, 'read: offset');
    let done = 0;
    try {
      if (length <= inlineIoBytesMax) {
        while (done < length) {
          const bytesRead = readSync(this.handle.fd, buffer, bufferOffset + done, length - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return done;
      }
      while (done < length) {
        const { bytesRead } = await this.handle.read(buffer, bufferOffset + done, length - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (error) {
      throw ioError(`cannot read ${this.path} at ${offset + done}`, error);
    }
    return done;
  }

  async write(data: Uint8Array, offset: number): Promise<void> {
    assert(Number.isSafeInteger(offset) && offset >= 0, 'write: offset');
    const length = data.byteLength;
    let done = 0;
    try {
      if (length <= inlineIoBytesMax) {
        while (done < length) done += writeSync(this.handle.fd, data, done, length - done, offset + done);
        return;
      }
      while (done < length) {
        const { bytesWritten } = await this.handle.write(data, done, length - done, offset + done);
        done += bytesWritten;
      }
    } catch (error) {
      throw ioError(`cannot write ${this.path} at ${offset + done}`, error);
    }
  }

  async sync(): Promise<void> {
    try {
      await this.handle.datasync();
    } catch (error) {
      throw ioError(`cannot sync ${this.path}`, error);
    }
  }

  async sizeBytes(): Promise<number> {
    try {
      return (await this.handle.stat()).size;
    } catch (error) {
      throw ioError(`cannot stat ${this.path}`, error);
    }
  }

  async truncate(sizeBytes: number): Promise<void> {
    assert(Number.isSafeInteger(sizeBytes) && sizeBytes >= 0, 'truncate: size');
    try {
      await this.handle.truncate(sizeBytes);
    } catch (error) {
      throw ioError(`cannot truncate ${this.path} to ${sizeBytes}`, error);
    }
  }

  async close(): Promise<void> {
    try {
      await this.handle.close();
    } catch (error) {
      throw ioError(`cannot close ${this.path}`, error);
    }
  }
}

/** Names are plain file names inside the storage directory, never paths. */
export function assertPlainName(name: string): void {
  assert(
    name.length > 0 && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\\') && !name.includes('\0'),
    `storage file name must be a plain name: ${JSON.stringify(name)}`,
  );
}

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function ioError(message: string, cause: unknown): StrataError {
  const errno = errnoOf(cause);
  const suffix = errno === undefined ? '' : ` (${errno})`;
  return new StrataError('IO_ERROR', `${message}${suffix}`, { cause, errno });
}
