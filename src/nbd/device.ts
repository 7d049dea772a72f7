import type { Extent } from '../engine/types.js';

export type { Extent };

/**
 * What the NBD server serves: a byte-addressed device. Offsets and lengths are in bytes and
 * have already been checked against `sizeBytes` (as read at handshake time) by the server.
 * Failures are `StrataError`s (src/lib/errors.ts); the server maps their codes to NBD errors.
 *
 * Durability follows NBD: `write`, `trim` and `writeZeroes` are durable once a later `flush`
 * resolves, or when they resolve if `fua` is set. `flush` covers every write that resolved
 * before it was called, whichever connection sent it; the server relies on this to advertise
 * NBD_FLAG_CAN_MULTI_CONN.
 */
export interface BlockDevice {
  /** May grow between connections; a connection uses the size it saw during its handshake. */
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  /** Resolves to exactly `lengthBytes` bytes. */
  read(offsetBytes: number, lengthBytes: number): Promise<Buffer>;
  write(offsetBytes: number, data: Buffer, options: { fua: boolean }): Promise<void>;
  flush(): Promise<void>;
  /** Discards a range; it reads as zeroes afterwards. */
  trim(offsetBytes: number, lengthBytes: number, options: { fua: boolean }): Promise<void>;
  /** Zeroes a range; with `noHole` the range stays allocated. Zeroing is assumed to be fast (metadata only). */
  writeZeroes(offsetBytes: number, lengthBytes: number, options: { fua: boolean; noHole: boolean }): Promise<void>;
  /** Contiguous extents covering exactly [offset, offset + length). */
  blockStatus(offsetBytes: number, lengthBytes: number): Promise<Extent[]>;
}
