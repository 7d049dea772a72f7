/** The storage seam and its two implementations: real files, and memory with crash injection. */
export type { Storage, StorageFile } from './types.js';
export { FileStorage } from './file.js';
export { CrashedError, type CrashMode, MemoryStorage, seededRandom, tearSizeBytes } from './memory.js';
