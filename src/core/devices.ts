/**
 * Engine views as block devices, the shape the NBD server serves. A volume device writes to
 * the live volume; a snapshot device is read-only.
 */
import type { EngineApi, Extent, ViewRef } from '../engine/index.js';
import { StrataError } from '../lib/errors.js';

/**
 * A byte-addressed device: what the NBD server (src/nbd) serves. Offsets and lengths are in bytes and
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
  /** False when block status costs I/O: READs are then sent as data without asking it (absent: true). */
  readonly blockStatusIsCheap?: boolean;
}

/** A view served as a device; its size is read once here and updated by `resize` when the volume grows. */
export interface ViewDevice extends BlockDevice {
  readonly view: ViewRef;
  resize(sizeBytes: number): void;
}

export async function viewDevice(engine: EngineApi, view: ViewRef, options: { readOnly: boolean }): Promise<ViewDevice> {
  const readOnly = options.readOnly || 'snapshotId' in view;
  const volumeId = 'volumeId' in view ? view.volumeId : -1;
  const refuse = () => Promise.reject(new StrataError('READ_ONLY', 'this export is read-only'));
  let sizeBytes = 'volumeId' in view ? (await engine.volume(view.volumeId)).sizeBytes : (await engine.snapshot(view.snapshotId)).sizeBytes;
  return {
    view,
    get sizeBytes() {
      return sizeBytes;
    },
    resize(grown: number) {
      sizeBytes = Math.max(sizeBytes, grown);
    },
    readOnly,
    blockStatusIsCheap: engine.blockStatusIsCheap,
    read: (offsetBytes, lengthBytes) => engine.read(view, offsetBytes, lengthBytes),
    write: (offsetBytes, data, { fua }) => (readOnly ? refuse() : engine.write(volumeId, offsetBytes, data, { fua })),
    flush: () => (readOnly ? Promise.resolve() : engine.flush()),
    trim: (offsetBytes, lengthBytes, { fua }) => (readOnly ? refuse() : engine.trim(volumeId, offsetBytes, lengthBytes, { fua })),
    writeZeroes: (offsetBytes, lengthBytes, { fua, noHole }) =>
      readOnly ? refuse() : engine.writeZeroes(volumeId, offsetBytes, lengthBytes, { fua, noHole }),
    blockStatus: (offsetBytes, lengthBytes) => engine.blockStatus(view, offsetBytes, lengthBytes),
  };
}
