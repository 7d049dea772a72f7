/**
 * Password hashing with scrypt (node:crypto): `scrypt$N$r$p$salt$hash`, salt and hash base64url.
 *
 * The cost is a `PasswordCost`; production uses `productionPasswordCost` (N = 2^17, r = 8:
 * 128 MiB of memory per hash). A `Hasher` runs at most `passwordHashConcurrencyMax` hashes at
 * once, so concurrent logins cannot take more than that many times 128 MiB, and queues at most
 * `passwordHashQueueMax` more (beyond that the caller is told to retry: TOO_MANY_ATTEMPTS).
 * A stored hash weaker than the hasher's cost verifies, and `isWeakerThan` tells the caller to
 * store a new hash (identity.ts does it on the next successful login).
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';

export interface PasswordCost {
  /** CPU/memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelisation. */
  p: number;
}

export const productionPasswordCost: PasswordCost = { N: 2 ** 17, r: 8, p: 1 };

const keyBytes = 32;
/** scrypt needs 128 · N · r bytes; stored hashes with more than this are refused (hostile rows cannot exhaust memory). */
const storedCostBytesMax = 256 * 2 ** 20;

function memoryBytesOf(cost: PasswordCost): number {
  return 128 * cost.N * cost.r;
}

function derive(password: string, salt: Buffer, cost: PasswordCost): Promise<Buffer> {
  // maxmem must exceed the 128·N·r working set (node refuses at exactly the default 32 MiB).
  const maxmem = memoryBytesOf(cost) + 2 ** 20;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyBytes, { N: cost.N, r: cost.r, p: cost.p, maxmem }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function costOf(stored: string): PasswordCost | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = parts.slice(1, 4).map(Number);
  const valid = [N, r, p].every((v) => Number.isSafeInteger(v) && v >= 1) && N > 1 && (N & (N - 1)) === 0;
  if (!valid || memoryBytesOf({ N, r, p }) > storedCostBytesMax || p > 16) return null;
  return { N, r, p };
}

/** True when a stored hash was made with less work than `cost` (or cannot be read): store a new one. */
export function isWeakerThan(stored: string, cost: PasswordCost): boolean {
  const own = costOf(stored);
  return own === null || own.N * own.r * own.p < cost.N * cost.r * cost.p;
}

export class Hasher {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly cost: PasswordCost = productionPasswordCost) {
    if (costOf(`scrypt$${cost.N}$${cost.r}$${cost.p}$$`) === null) throw new StrataError('INVALID_ARGUMENT', `scrypt cost N=${cost.N} r=${cost.r} p=${cost.p} is not usable`);
  }

  async hash(password: string): Promise<string> {
    const salt = randomBytes(16);
    const key = await this.bounded(() => derive(password, salt, this.cost));
    return `scrypt$${this.cost.N}$${this.cost.r}$${this.cost.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
  }

  /** Checks a password against a stored hash, at the stored hash's own cost. */
  async verify(password: string, stored: string): Promise<boolean> {
    const cost = costOf(stored);
    if (cost === null) return false;
    const parts = stored.split('$');
    const salt = Buffer.from(parts[4], 'base64url');
    const expected = Buffer.from(parts[5], 'base64url');
    const key = await this.bounded(() => derive(password, salt, cost));
    return key.length === expected.length && timingSafeEqual(key, expected);
  }

  private async bounded<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= limits.control.passwordHashConcurrencyMax) {
      if (this.waiting.length >= limits.control.passwordHashQueueMax) {
        throw new StrataError('TOO_MANY_ATTEMPTS', 'too many password checks are in progress; retry shortly', { retryAfterSeconds: 1 });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await work();
    } finally {
      // The slot passes straight to the next waiter, so `running` stays counted for it.
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.running--;
    }
  }
}
