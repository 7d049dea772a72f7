/**
 * Checking and storing passwords for identity.ts: each user has two scrypt verifiers (of the
 * password, and of its hex SHA-512, which ZStack clients send instead), made at the hasher's
 * cost. `check` runs a password check as one throttled login attempt (login-throttle.ts) and,
 * on success, replaces the verifiers weaker than the current cost that the presented secret
 * can compute: both for a password, the SHA-512 one alone for a digest.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db, UserRow } from '../db/index.js';
import { StrataError } from '../lib/errors.js';
import { LoginThrottle } from './login-throttle.js';
import { Hasher, isWeakerThan, type PasswordCost } from './passwords.js';

/** What a login presents: the password, or (ZStack) its hex SHA-512 in lower case. */
export type Secret = { password: string } | { sha512: string };

/** The digest some platform clients send instead of the password (ZStack: hex SHA-512). */
export function sha512Hex(password: string): string {
  return createHash('sha512').update(password).digest('hex');
}

/** Both verifiers of a password: scrypt of it, and scrypt of its hex SHA-512. */
export async function passwordHashes(hasher: Hasher, password: string): Promise<{ password_hash: string; password_sha512_hash: string }> {
  return { password_hash: await hasher.hash(password), password_sha512_hash: await hasher.hash(sha512Hex(password)) };
}

export class Credentials {
  readonly hasher: Hasher;
  private readonly throttle: LoginThrottle;
  private dummy: Promise<string> | null = null;

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    cost: PasswordCost,
    clock?: () => number,
  ) {
    this.hasher = new Hasher(cost);
    this.throttle = new LoginThrottle(clock);
  }

  hashes(password: string): Promise<{ password_hash: string; password_sha512_hash: string }> {
    return passwordHashes(this.hasher, password);
  }

  /**
   * A user by name and secret, as one throttled attempt from `address` (TOO_MANY_ATTEMPTS while
   * locked). Wrong user or secret: UNAUTHENTICATED, or FORBIDDEN naming `field` when the secret
   * is a request field (current_password). An unknown user costs the same hash.
   */
  async check(name: string, secret: Secret, address: string | undefined, field?: string): Promise<UserRow> {
    const attempt = this.throttle.begin(name, address);
    const user = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    const stored = 'sha512' in secret ? user?.password_sha512_hash : user?.password_hash;
    const ok = await this.hasher.verify('sha512' in secret ? secret.sha512 : secret.password, stored ?? (await this.dummyHash()));
    if (user === undefined || stored == null || !ok) {
      throw field === undefined ? new StrataError('UNAUTHENTICATED', 'wrong user name or password') : new StrataError('FORBIDDEN', `${field} is wrong`, { field });
    }
    attempt.succeeded();
    await this.rehashWeak(user, secret, stored);
    return user;
  }

  private async rehashWeak(user: UserRow, secret: Secret, stored: string): Promise<void> {
    const cost = this.hasher.cost;
    const set: { password_hash?: string; password_sha512_hash?: string } = {};
    if ('password' in secret) {
      if (isWeakerThan(user.password_hash, cost)) set.password_hash = await this.hasher.hash(secret.password);
      if (user.password_sha512_hash === null || isWeakerThan(user.password_sha512_hash, cost)) set.password_sha512_hash = await this.hasher.hash(sha512Hex(secret.password));
    } else if (isWeakerThan(stored, cost)) {
      set.password_sha512_hash = await this.hasher.hash(secret.sha512);
    }
    if (Object.keys(set).length === 0) return;
    // Only if the password has not changed meanwhile.
    await this.db.updateTable('users').set(set).where('id', '=', user.id).where('password_hash', '=', user.password_hash).execute();
    this.log.info({ user: user.id, verifiers: Object.keys(set) }, 'password verifiers rehashed at the current cost');
  }

  private dummyHash(): Promise<string> {
    this.dummy ??= this.hasher.hash(randomBytes(16).toString('hex'));
    return this.dummy;
  }
}
