/**
 * Admission of new connections, so that connections which never finish the handshake cannot
 * lock out clients that do.
 *
 * A connection counts as "in the handshake" from accept until it enters transmission (or
 * closes). Rules, applied on every accept:
 * 1. At most `handshakeCountMax` connections are in the handshake, and at most
 *    `connectionCountMax` connections exist. When a new connection would break either bound,
 *    the oldest connection in the handshake from the address holding the most such
 *    connections is closed to make room. A connection in transmission is never closed for a
 *    newcomer: when every slot is held by one, the newcomer is refused.
 * 2. A connection accepted while more than `handshakePressureCountAbove` are in the handshake
 *    gets the shorter deadline `handshakeUnderPressureDurationMsMax`.
 * A client that completes its handshake within the time a flood needs to open
 * `handshakeCountMax` connections therefore always gets in; idle connections cost a socket,
 * a small read-ahead (`handshakeReadAheadBytesMax`) and a timer each.
 */
import { assert } from '../lib/assert.js';
import type { NbdLimits } from './limits.js';

/** What the registry needs of a connection. */
export interface Admitted {
  readonly remoteAddress: string;
  /** Closes the connection to make room for a newer one. */
  evict(): void;
}

type AdmissionLimits = Pick<
  NbdLimits,
  'connectionCountMax' | 'handshakeCountMax' | 'handshakePressureCountAbove' | 'handshakeDurationMsMax' | 'handshakeUnderPressureDurationMsMax'
>;

export class HandshakeRegistry<T extends Admitted> {
  readonly #limits: AdmissionLimits;
  /** Connections in the handshake by remote address; each set in accept order. */
  readonly #byAddress = new Map<string, Set<T>>();
  #count = 0;

  constructor(limits: AdmissionLimits) {
    assert(limits.handshakeCountMax >= 1 && limits.connectionCountMax >= 1, 'admission caps are positive');
    this.#limits = limits;
  }

  /** Connections in the handshake now. */
  get count(): number {
    return this.#count;
  }

  /**
   * Admits a new connection, closing older ones still in the handshake if needed. Returns its
   * handshake deadline in milliseconds, or null when it must be refused (every slot is held by
   * a connection in transmission).
   */
  admit(connection: T, transmittingCount: number): number | null {
    const limits = this.#limits;
    while (this.#count >= limits.handshakeCountMax || transmittingCount + this.#count >= limits.connectionCountMax) {
      const victim = this.#oldestOfBusiestAddress();
      if (victim === undefined) return null;
      this.remove(victim);
      victim.evict();
    }
    const underPressure = this.#count >= limits.handshakePressureCountAbove;
    let group = this.#byAddress.get(connection.remoteAddress);
    if (group === undefined) {
      group = new Set();
      this.#byAddress.set(connection.remoteAddress, group);
    }
    group.add(connection);
    this.#count += 1;
    return underPressure ? limits.handshakeUnderPressureDurationMsMax : limits.handshakeDurationMsMax;
  }

  /** The connection left the handshake (entered transmission or closed); idempotent. */
  remove(connection: T): void {
    const group = this.#byAddress.get(connection.remoteAddress);
    if (group === undefined || !group.delete(connection)) return;
    this.#count -= 1;
    if (group.size === 0) this.#byAddress.delete(connection.remoteAddress);
  }

  /** At most one entry per address in the handshake (bounded by `handshakeCountMax`). */
  #oldestOfBusiestAddress(): T | undefined {
    let busiest: Set<T> | undefined;
    for (const group of this.#byAddress.values()) {
      if (busiest === undefined || group.size > busiest.size) busiest = group;
    }
    return busiest?.values().next().value;
  }
}
