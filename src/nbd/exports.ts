import { randomBytes } from 'node:crypto';
import { StrataError } from '../lib/errors.js';
import type { BlockDevice } from './device.js';
import { limits as defaultLimits, type NbdLimits } from './limits.js';

/** Random bytes in a generated export name: 192 bits, far beyond guessing. */
const generatedNameBytes = 24;

export interface AddExportOptions {
  /**
   * Use this name instead of generating one, e.g. to restore an attachment recorded earlier.
   * The name is the only credential a client needs: give only names that were generated here
   * (or are equally unguessable).
   */
  name?: string;
}

/** A connection's hold on an export; the table calls `onRevoke` when the export is removed. */
export interface ExportAttachment {
  readonly device: BlockDevice;
  detach(): void;
}

interface ExportEntry {
  readonly device: BlockDevice;
  readonly revokers: Set<() => void>;
}

/**
 * The exports an NBD server serves, by name. Names are capabilities: whoever knows one may
 * open the export, and the server never lists them (see handshake.ts, NBD_OPT_LIST).
 * Removing an export disconnects every client connected to it.
 */
export class ExportTable {
  readonly #entries = new Map<string, ExportEntry>();
  readonly #exportCountMax: number;

  constructor(options: { limits?: Pick<NbdLimits, 'exportCountMax'> } = {}) {
    this.#exportCountMax = options.limits?.exportCountMax ?? defaultLimits.exportCountMax;
  }

  get size(): number {
    return this.#entries.size;
  }

  add(device: BlockDevice, options: AddExportOptions = {}): { name: string } {
    if (this.#entries.size >= this.#exportCountMax) {
      throw new StrataError('LIMIT_EXCEEDED', `at most ${this.#exportCountMax} exports`);
    }
    const name = options.name ?? this.#generateName();
    checkExportName(name);
    if (this.#entries.has(name)) throw new StrataError('CONFLICT', 'an export with this name exists');
    this.#entries.set(name, { device, revokers: new Set() });
    return { name };
  }

  /** Removes the export and disconnects its clients. False when there was no such export. */
  remove(name: string): boolean {
    const entry = this.#entries.get(name);
    if (entry === undefined) return false;
    this.#entries.delete(name);
    for (const revoke of [...entry.revokers]) revoke();
    entry.revokers.clear();
    return true;
  }

  resolve(name: string): BlockDevice | undefined {
    return this.#entries.get(name)?.device;
  }

  /** For the server: opens an export for one connection, which `onRevoke` disconnects. */
  attach(name: string, onRevoke: () => void): ExportAttachment | undefined {
    const entry = this.#entries.get(name);
    if (entry === undefined) return undefined;
    entry.revokers.add(onRevoke);
    return { device: entry.device, detach: () => entry.revokers.delete(onRevoke) };
  }

  /** Connections attached to an export (0 for an unknown name). */
  connectionCount(name: string): number {
    return this.#entries.get(name)?.revokers.size ?? 0;
  }

  #generateName(): string {
    for (;;) {
      const name = randomBytes(generatedNameBytes).toString('base64url');
      if (!this.#entries.has(name)) return name;
    }
  }
}

/** An export name must be a non-empty NBD string (UTF-8, no NUL, within the spec's string limit). */
function checkExportName(name: string): void {
  const bytes = Buffer.from(name, 'utf8');
  const valid =
    bytes.length > 0 &&
    bytes.length <= defaultLimits.stringBytesMax &&
    !name.includes('\0') &&
    bytes.toString('utf8') === name;
  if (!valid) {
    throw new StrataError('INVALID_ARGUMENT', `an export name is 1 to ${defaultLimits.stringBytesMax} bytes of UTF-8 without NUL`);
  }
}
