/** Per-sector CRC-32s: every stored chunk carries one per 4 KiB sector, and every read verifies them. */
import { crc32 } from 'node:zlib';
import { limits } from '../lib/limits.js';

const sectorBytes = limits.sectorSizeBytes;

export const zeroSectorChecksum = crc32(Buffer.alloc(sectorBytes));

/** The checksums of sectors [firstSector, endSector) of `image`. */
export function sectorChecksums(image: Buffer, firstSector: number, endSector: number): Uint32Array {
  const checksums = new Uint32Array(endSector - firstSector);
  for (let sector = firstSector; sector < endSector; sector++) {
    checksums[sector - firstSector] = crc32(image.subarray(sector * sectorBytes, (sector + 1) * sectorBytes));
  }
  return checksums;
}

/** True if each sector of `image` has the checksum at the same index of `expected`. */
export function sectorsMatch(image: Buffer, expected: Uint32Array): boolean {
  for (let i = 0; i < expected.length; i++) {
    if (crc32(image.subarray(i * sectorBytes, (i + 1) * sectorBytes)) !== expected[i]) return false;
  }
  return true;
}

/** True if `snapshot` equals `current` from `firstSector` on. */
export function sameChecksums(snapshot: Uint32Array, current: Uint32Array, firstSector: number): boolean {
  for (let i = 0; i < snapshot.length; i++) if (snapshot[i] !== current[firstSector + i]) return false;
  return true;
}
