/**
 * Engine views as byte devices, in the shape the NBD server serves (src/nbd/device.ts).
 * A volume device writes to the live volume; a snapshot device is read-only.
 */
import type { Engine, Extent, ViewRef } from '../engine/index.js';
import { StrataError } from '../lib/errors.js';

export interface ViewDevice {
  readonly sizeBytes: number;
  readonly readOnly: boolean;
  read(offsetBytes: number, lengthBytes: number): Promise<Buffer>;
  write(offsetBytes: number, data: Buffer, options: { fua: boolean }): Promise<void>;
  flush(): Promise<void>;
  trim(offsetBytes: number, lengthBytes: number, options: { fua: boolean }): Promise<void>;
  writeZeroes(offsetBytes: number, lengthBytes: number, options: { fua: boolean; noHole: boolean }): Promise<void>;
  blockStatus(offsetBytes: number, lengthBytes: number): Promise<Extent[]>;
}

export function viewDevice(engine: Engine, view: ViewRef, options: { readOnly: boolean }): ViewDevice {
  const readOnly = options.readOnly || 'snapshotId' in view;
  const volumeId = 'volumeId' in view ? view.volumeId : -1;
  const refuse = () => Promise.reject(new StrataError('READ_ONLY', 'this export is read-only'));
  return {
    get sizeBytes() {
      return 'volumeId' in view ? engine.volume(view.volumeId).sizeBytes : engine.snapshot(view.snapshotId).sizeBytes;
    },
    readOnly,
    read: (offsetBytes, lengthBytes) => engine.read(view, offsetBytes, lengthBytes),
    write: (offsetBytes, data, { fua }) => (readOnly ? refuse() : engine.write(volumeId, offsetBytes, data, { fua })),
    flush: () => (readOnly ? Promise.resolve() : engine.flush()),
    trim: (offsetBytes, lengthBytes, { fua }) => (readOnly ? refuse() : engine.trim(volumeId, offsetBytes, lengthBytes, { fua })),
    writeZeroes: (offsetBytes, lengthBytes, { fua, noHole }) =>
      readOnly ? refuse() : engine.writeZeroes(volumeId, offsetBytes, lengthBytes, { fua, noHole }),
    blockStatus: async (offsetBytes, lengthBytes) => engine.blockStatus(view, offsetBytes, lengthBytes),
  };
}
