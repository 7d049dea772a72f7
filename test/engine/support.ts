/** Helpers shared by the engine's model and crash tests. */
import type { ByteRange, Extent } from '../../src/engine/types.js';
import { seededRandom } from '../../src/storage/memory.js';

/** Deterministic data for a write: all zeroes for seed 0, pseudo-random bytes otherwise. */
export function patternBytes(lengthBytes: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(lengthBytes);
  if (seed === 0) return bytes;
  const random = seededRandom(seed);
  const words = Math.floor(lengthBytes / 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < words; i++) view.setUint32(4 * i, random());
  for (let i = 4 * words; i < lengthBytes; i++) bytes[i] = random() & 0xff;
  return bytes;
}

/** Describes the first difference between two byte arrays, or returns null if they are equal. */
export function bytesMismatch(actual: Uint8Array, expected: Uint8Array, baseOffsetBytes = 0): string | null {
  if (actual.byteLength !== expected.byteLength) {
    return `length ${actual.byteLength}, expected ${expected.byteLength}`;
  }
  if (Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(
    Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength),
  )) {
    return null;
  }
  let first = 0;
  while (actual[first] === expected[first]) first++;
  let last = first;
  while (last < actual.byteLength && actual[last] !== expected[last]) last++;
  const hex = (bytes: Uint8Array) => Buffer.from(bytes.subarray(first, Math.min(first + 8, last))).toString('hex');
  return (
    `bytes differ from offset ${baseOffsetBytes + first} for ${last - first} byte(s): ` +
    `read ${hex(actual)}…, expected ${hex(expected)}…`
  );
}

/**
 * Checks a block-status answer for [offset, offset + length): contiguous, non-empty extents that
 * cover the range exactly, and every extent reported as a hole or zero reads as zeroes
 * (`firstNonZero` returns the first non-zero offset of a range, or -1).
 */
export function extentsProblem(
  extents: readonly Extent[],
  offsetBytes: number,
  lengthBytes: number,
  firstNonZero: (offsetBytes: number, lengthBytes: number) => number,
): string | null {
  let position = offsetBytes;
  for (const extent of extents) {
    if (extent.offsetBytes !== position) return `extent at ${extent.offsetBytes}, expected one at ${position}`;
    if (!(extent.lengthBytes > 0)) return `extent at ${position} has length ${extent.lengthBytes}`;
    if (extent.hole || extent.zero) {
      const nonZero = firstNonZero(extent.offsetBytes, extent.lengthBytes);
      if (nonZero >= 0) {
        return (
          `extent [${extent.offsetBytes}, +${extent.lengthBytes}) reported ` +
          `hole=${extent.hole} zero=${extent.zero} but byte ${nonZero} is not zero`
        );
      }
    }
    position += extent.lengthBytes;
  }
  if (position !== offsetBytes + lengthBytes) return `extents end at ${position}, expected ${offsetBytes + lengthBytes}`;
  return null;
}

/** Checks that diff ranges are well-formed and inside [0, limitBytes). */
export function rangesProblem(ranges: readonly ByteRange[], limitBytes: number): string | null {
  for (const range of ranges) {
    const { offsetBytes, lengthBytes } = range;
    if (!Number.isSafeInteger(offsetBytes) || !Number.isSafeInteger(lengthBytes) || offsetBytes < 0 || lengthBytes < 0) {
      return `malformed range ${JSON.stringify(range)}`;
    }
    if (offsetBytes + lengthBytes > limitBytes) return `range ${JSON.stringify(range)} ends past ${limitBytes}`;
  }
  return null;
}

/** Marks a promise's rejection as handled (it is still reported to whoever awaits it). */
export function quiet<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? ` ${code}` : ''}: ${error.message}`;
  }
  return String(error);
}
