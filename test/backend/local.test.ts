/** The backend contract (contract.ts) on the embedded engine, over an in-memory disk. */
import { createPool } from '../../src/engine/index.js';
import { MemoryStorage } from '../../src/storage/index.js';
import { backendContract } from './contract.js';

backendContract('local (embedded engine)', async () => {
  const engine = await createPool(new MemoryStorage(), { chunkSizeBytes: 64 * 1024 });
  return { backend: engine, close: () => engine.close() };
});
