/** The device interface the server serves is defined by core, next to the engine views that implement it. */
export type { BlockDevice } from '../core/devices.js';
export type { Extent } from '../engine/types.js';
