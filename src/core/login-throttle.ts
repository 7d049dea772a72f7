/**
 * Failed-login throttling, kept in memory per process, in two tables: one keyed by user name,
 * one by client address (an IPv6 address by its /64, which one client usually owns whole).
 *
 * Policy (numbers in limits.control): every attempt counts as a failure from the moment it
 * starts, so concurrent guesses cannot slip past the count while their hashes run; a success
 * clears the name's count (not the address's, which only time clears, so an attacker cannot
 * reset it by logging into an account of their own). After the free failures of a key, each
 * further one locks the key for `loginDelayMsMin` · 2^(k−1) (k-th failure beyond the free ones),
 * at most `loginDelayMsMax`. A locked key is refused before any password is checked:
 * TOO_MANY_ATTEMPTS with the seconds to wait. A key with no failure for `loginFailureForgetMs`
 * starts over. Each table holds at most `loginTrackedKeysMax` keys; the least recently failed
 * key is evicted first (a Map in order of the last failure).
 *
 * Instances sharing one PostgreSQL throttle separately (the tables are not shared).
 */
import { isIPv6 } from 'node:net';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';

interface Entry {
  failures: number;
  lastFailureMs: number;
  lockedUntilMs: number;
}

class FailureTable {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly freeFailures: number,
    private readonly keysMax: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Milliseconds the key stays locked (0 when it is not). */
  lockedForMs(key: string, nowMs: number): number {
    const entry = this.current(key, nowMs);
    return entry === undefined ? 0 : Math.max(0, entry.lockedUntilMs - nowMs);
  }

  fail(key: string, nowMs: number): void {
    const entry = this.current(key, nowMs) ?? { failures: 0, lastFailureMs: nowMs, lockedUntilMs: 0 };
    entry.failures++;
    entry.lastFailureMs = nowMs;
    const beyond = entry.failures - this.freeFailures;
    if (beyond > 0) {
      const delay = Math.min(limits.control.loginDelayMsMax, limits.control.loginDelayMsMin * 2 ** Math.min(beyond - 1, 30));
      entry.lockedUntilMs = Math.max(entry.lockedUntilMs, nowMs + delay);
    }
    // Re-inserting keeps the Map ordered by last failure, so the first key is the one to evict.
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.keysMax) this.entries.delete(this.entries.keys().next().value as string);
  }

  /** Takes back one counted attempt (it succeeded). */
  undo(key: string): void {
    const entry = this.entries.get(key);
    if (entry !== undefined && entry.failures > 0) entry.failures--;
  }

  clear(key: string): void {
    this.entries.delete(key);
  }

  private current(key: string, nowMs: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined && nowMs - entry.lastFailureMs >= limits.control.loginFailureForgetMs && entry.lockedUntilMs <= nowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }
}

/** The throttling key of a client address: IPv4 as is, IPv6 by its first 64 bits. */
export function addressKey(address: string): string {
  const bare = address.startsWith('::ffff:') && !isIPv6(address.slice(7)) ? address.slice(7) : address;
  if (!isIPv6(bare)) return bare;
  const [head, tail = ''] = bare.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = bare.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** One login attempt in progress: `succeeded()` or `failed()` ends it (an attempt never ended stays counted). */
export interface LoginAttempt {
  succeeded(): void;
}

export class LoginThrottle {
  private readonly byName = new FailureTable(limits.control.loginFailuresFreePerName, limits.control.loginTrackedKeysMax);
  private readonly byAddress = new FailureTable(limits.control.loginFailuresFreePerAddress, limits.control.loginTrackedKeysMax);

  constructor(private readonly clock: () => number = Date.now) {}

  /** Keys tracked, for tests and metrics. */
  get trackedKeys(): { names: number; addresses: number } {
    return { names: this.byName.size, addresses: this.byAddress.size };
  }

  /**
   * Starts an attempt for a user name from an address (unknown when undefined): refuses with
   * TOO_MANY_ATTEMPTS while either key is locked, else counts the attempt as a failure.
   */
  begin(name: string, address: string | undefined): LoginAttempt {
    const now = this.clock();
    const addr = address === undefined ? undefined : addressKey(address);
    const waitMs = Math.max(this.byName.lockedForMs(name, now), addr === undefined ? 0 : this.byAddress.lockedForMs(addr, now));
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      throw new StrataError('TOO_MANY_ATTEMPTS', `too many failed logins for this user name or from this address; retry in ${seconds} s`, { retryAfterSeconds: seconds });
    }
    this.byName.fail(name, now);
    if (addr !== undefined) this.byAddress.fail(addr, now);
    return {
      succeeded: () => {
        this.byName.clear(name);
        if (addr !== undefined) this.byAddress.undo(addr);
      },
    };
  }
}
