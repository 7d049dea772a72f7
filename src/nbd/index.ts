/**
 * The NBD server module's public surface. `NbdServer` serves the devices of an `ExportTable`
 * over the NBD protocol (fixed newstyle, structured replies, base:allocation).
 */
export { NbdServer, type NbdEvent, type NbdEventBody, type NbdServerOptions, type NbdServerStats } from './server.js';
export { ExportTable, type AddExportOptions } from './exports.js';
export { readTlsDirectory, TLS_FILES, type NbdTlsCredentials } from './tls.js';
export type { BlockDevice, Extent } from './device.js';
export { limits, type NbdLimits } from './limits.js';
export { nbdErrnoFor } from './errors.js';
export { transmissionFlags } from './handshake.js';
/** Wire constants, spelled as in the NBD spec. */
export * as protocol from './protocol.js';
/** Pure encoders and decoders of NBD messages, server and client side. */
export * as codec from './codec.js';
