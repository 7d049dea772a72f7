/** The storage engine's public surface. */
import type { Storage } from '../storage/types.js';
import { Engine, type EngineOptions } from './engine.js';

export { Engine, type EngineOptions } from './engine.js';
export type * from './types.js';

/** Creates a new pool in `storage` (refused with POOL_EXISTS if one is there) and opens it. */
export function createPool(storage: Storage, options: { chunkSizeBytes?: number } & EngineOptions = {}): Promise<Engine> {
  return Engine.create(storage, options);
}

/** Opens an existing pool, recovering from a crash if it was not closed cleanly. */
export function openPool(storage: Storage, options: EngineOptions = {}): Promise<Engine> {
  return Engine.open(storage, options);
}
