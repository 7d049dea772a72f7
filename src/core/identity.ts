/**
 * Identity: projects, users (scrypt-hashed passwords, one role in one project), tokens
 * (random, stored as SHA-256, expiring, revocable), and the bootstrap admin.
 *
 * Scope rule: a token belongs to one project. Every resource route works inside that project;
 * the admin role may manage projects, users and quotas of every project and may ask for a
 * token scoped to any project (`"project"` in the token request).
 *
 * Passwords: two scrypt verifiers per user (of the password, and of its hex SHA-512, which
 * ZStack clients send), at the service's `PasswordCost` (production: N = 2^17); a verifier made
 * at a lower cost is replaced on the next successful login that can compute it. Every password
 * check (login, or the current password when changing one's own) goes through the
 * `LoginThrottle`. Expired tokens are deleted in bounded sweeps: on every token issued and by
 * `purgeExpiredTokens` (the control plane runs it periodically).
 */
import { createHash, randomBytes } from 'node:crypto';
import { StrataError } from '../lib/errors.js';
import { limits } from '../lib/limits.js';
import { type Caller, type CoreDeps, type Role, requireAdmin } from './context.js';
import { Credentials, passwordHashes, type Secret } from './credentials.js';
import { Hasher, type PasswordCost, productionPasswordCost } from './passwords.js';
import { defaultQuotas } from './quotas.js';
import { newId, notFound, nowIso } from './store.js';
import type { Db, ProjectRow, UserRow } from '../db/index.js';

export { sha512Hex } from './credentials.js';

export interface Project {
  id: string;
  name: string;
  description: string;
  createdAt: string;
}

export interface User {
  id: string;
  name: string;
  projectId: string;
  role: Role;
  createdAt: string;
}

export interface IssuedToken {
  id: string;
  token: string;
  expiresAt: string;
  user: { id: string; name: string };
  project: { id: string; name: string };
  roles: Role[];
}

const toProject = (row: ProjectRow): Project => ({ id: row.id, name: row.name, description: row.description, createdAt: row.created_at });
const toUser = (row: UserRow): User => ({ id: row.id, name: row.name, projectId: row.project_id, role: row.role, createdAt: row.created_at });

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

function checkPasswordLength(password: string, field: string): void {
  if (password.length < limits.control.passwordLengthMin || password.length > limits.control.passwordLengthMax) {
    throw new StrataError('OUT_OF_RANGE', `a password has ${limits.control.passwordLengthMin} to ${limits.control.passwordLengthMax} characters`, { field });
  }
}

export interface IdentityOptions {
  /**
   * The scrypt cost of new password hashes. Default (and what `strata serve` uses):
   * `productionPasswordCost`, N = 2^17. Tests may pass a lower one to stay fast; stored hashes
   * of another cost still verify, and weaker ones are rehashed at this cost on login.
   */
  passwordCost?: PasswordCost;
  /** The throttle's clock (milliseconds), for tests of its delays. */
  clock?: () => number;
}

/**
 * The operator's password reset (`strata set-password`): sets a user's password and revokes
 * all of that user's tokens. It takes no caller: whoever can open the metadata database is
 * trusted, as with the bootstrap admin. NOT_FOUND for an unknown user.
 */
export async function setUserPassword(db: Db, userName: string, password: string): Promise<void> {
  checkPasswordLength(password, 'password');
  const hashes = await passwordHashes(new Hasher(productionPasswordCost), password);
  await db.transaction().execute(async (tx) => {
    const user = await tx.selectFrom('users').select('id').where('name', '=', userName).executeTakeFirst();
    if (user === undefined) throw new StrataError('NOT_FOUND', `user ${userName} does not exist`, { field: 'user' });
    await tx.updateTable('users').set(hashes).where('id', '=', user.id).execute();
    await tx.updateTable('tokens').set({ revoked_at: nowIso() }).where('user_id', '=', user.id).where('revoked_at', 'is', null).execute();
  });
}

export class IdentityService {
  private readonly credentials: Credentials;

  constructor(
    private readonly deps: CoreDeps,
    options: IdentityOptions = {},
  ) {
    this.credentials = new Credentials(deps.db, deps.log, options.passwordCost ?? productionPasswordCost, options.clock);
  }

  /** The cost new password hashes are made at. */
  get passwordCost(): PasswordCost {
    return this.credentials.hasher.cost;
  }

  /**
   * On first start (no project yet) creates project `admin`, user `admin` with role admin.
   * Returns the generated password when none was given (to be printed once), else null.
   */
  async bootstrap(adminPassword: string | undefined): Promise<{ generatedPassword: string | null }> {
    const { db } = this.deps;
    const existing = await db.selectFrom('projects').select('id').limit(1).executeTakeFirst();
    if (existing !== undefined) return { generatedPassword: null };
    const password = adminPassword ?? randomBytes(18).toString('base64url');
    const hashes = await this.credentials.hashes(password);
    const now = nowIso();
    const projectId = newId();
    try {
      await db.transaction().execute(async (tx) => {
        await tx.insertInto('projects').values({ id: projectId, name: 'admin', description: 'the bootstrap project', created_at: now }).execute();
        await tx.insertInto('quotas').values({ project_id: projectId, ...defaultQuotas }).execute();
        await tx
          .insertInto('users')
          .values({ id: newId(), name: 'admin', project_id: projectId, role: 'admin', ...hashes, created_at: now })
          .execute();
      });
    } catch (error) {
      // Another instance sharing the database bootstrapped first.
      const again = await db.selectFrom('projects').select('id').where('name', '=', 'admin').executeTakeFirst();
      if (again !== undefined) return { generatedPassword: null };
      throw error;
    }
    return { generatedPassword: adminPassword === undefined ? password : null };
  }

  /**
   * A token for a user name and password (or, for platforms whose clients send it, the hex
   * SHA-512 of the password). `project` (id or name) asks for another project: admins only.
   * `address` is the client's, for throttling (TOO_MANY_ATTEMPTS).
   */
  async issueToken(request: {
    name: string;
    password?: string;
    passwordSha512?: string;
    project?: string;
    /** `hex128`: 32 hex characters (128 random bits), for platforms whose session ids have that form (ZStack). */
    format?: 'base64url256' | 'hex128';
    address?: string;
  }): Promise<IssuedToken> {
    const { db } = this.deps;
    const secret: Secret = request.passwordSha512 !== undefined ? { sha512: request.passwordSha512.toLowerCase() } : { password: request.password ?? '' };
    const user = await this.credentials.check(request.name, secret, request.address);
    let project = await db.selectFrom('projects').selectAll().where('id', '=', user.project_id).executeTakeFirstOrThrow();
    if (request.project !== undefined && request.project !== project.id && request.project !== project.name) {
      if (user.role !== 'admin') throw new StrataError('FORBIDDEN', 'only an admin may take a token for another project');
      const other = await db
        .selectFrom('projects')
        .selectAll()
        .where((eb) => eb.or([eb('id', '=', request.project!), eb('name', '=', request.project!)]))
        .executeTakeFirst();
      if (other === undefined) throw new StrataError('NOT_FOUND', `project ${request.project} does not exist`, { field: 'project' });
      project = other;
    }
    await this.purgeExpiredTokens();
    const token = request.format === 'hex128' ? randomBytes(16).toString('hex') : randomBytes(32).toString('base64url');
    const now = new Date();
    const expiresAt = new Date(now.getTime() + limits.control.tokenLifetimeMs).toISOString();
    const id = newId();
    await db
      .insertInto('tokens')
      .values({ id, token_hash: hashToken(token), user_id: user.id, project_id: project.id, expires_at: expiresAt, revoked_at: null, created_at: now.toISOString() })
      .execute();
    return { id, token, expiresAt, user: { id: user.id, name: user.name }, project: { id: project.id, name: project.name }, roles: [user.role] };
  }

  /**
   * Deletes at most `tokenPurgeBatchMax` expired tokens (revoked ones included, once expired:
   * until then a revoked row answers "revoked"). Returns how many it deleted.
   */
  async purgeExpiredTokens(): Promise<number> {
    const { db } = this.deps;
    const expired = await db.selectFrom('tokens').select('id').where('expires_at', '<=', nowIso()).limit(limits.control.tokenPurgeBatchMax).execute();
    if (expired.length === 0) return 0;
    await db
      .deleteFrom('tokens')
      .where(
        'id',
        'in',
        expired.map((row) => row.id),
      )
      .execute();
    return expired.length;
  }

  /** The caller a token stands for; UNAUTHENTICATED when it is unknown, expired or revoked. */
  async authenticate(token: string): Promise<Caller> {
    const row = await this.deps.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .innerJoin('projects', 'projects.id', 'tokens.project_id')
      .select([
        'tokens.id as tokenId',
        'tokens.expires_at as expiresAt',
        'tokens.revoked_at as revokedAt',
        'users.id as userId',
        'users.name as userName',
        'users.role as role',
        'projects.id as projectId',
        'projects.name as projectName',
      ])
      .where('tokens.token_hash', '=', hashToken(token))
      .executeTakeFirst();
    if (row === undefined) throw new StrataError('UNAUTHENTICATED', 'the token is not valid');
    if (row.revokedAt !== null) throw new StrataError('UNAUTHENTICATED', 'the token has been revoked');
    if (row.expiresAt <= nowIso()) throw new StrataError('UNAUTHENTICATED', 'the token has expired');
    return {
      tokenId: row.tokenId,
      userId: row.userId,
      userName: row.userName,
      projectId: row.projectId,
      projectName: row.projectName,
      role: row.role,
      expiresAt: row.expiresAt,
    };
  }

  /** Revokes one of the caller's tokens (an admin may revoke anyone's). */
  async revokeToken(caller: Caller, tokenId: string): Promise<void> {
    const row = await this.deps.db.selectFrom('tokens').select(['id', 'user_id']).where('id', '=', tokenId).executeTakeFirst();
    if (row === undefined || (row.user_id !== caller.userId && caller.role !== 'admin')) throw notFound('token', tokenId);
    await this.deps.db.updateTable('tokens').set({ revoked_at: nowIso() }).where('id', '=', tokenId).where('revoked_at', 'is', null).execute();
  }

  // Projects (admin).

  async createProject(caller: Caller, input: { name: string; description?: string }): Promise<Project> {
    requireAdmin(caller);
    const row: ProjectRow = { seq: 0, id: newId(), name: input.name, description: input.description ?? '', created_at: nowIso() };
    await this.unique('project', input.name, () =>
      this.deps.db.transaction().execute(async (tx) => {
        await tx.insertInto('projects').values({ id: row.id, name: row.name, description: row.description, created_at: row.created_at }).execute();
        await tx.insertInto('quotas').values({ project_id: row.id, ...defaultQuotas }).execute();
      }),
    );
    return toProject(row);
  }

  async listProjects(caller: Caller): Promise<Project[]> {
    const query = this.deps.db.selectFrom('projects').selectAll().orderBy('seq');
    const rows = caller.role === 'admin' ? await query.execute() : await query.where('id', '=', caller.projectId).execute();
    return rows.map(toProject);
  }

  async getProject(caller: Caller, id: string): Promise<Project> {
    if (caller.role !== 'admin' && id !== caller.projectId) throw notFound('project', id);
    const row = await this.deps.db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) throw notFound('project', id);
    return toProject(row);
  }

  async updateProject(caller: Caller, id: string, input: { name?: string; description?: string }): Promise<Project> {
    requireAdmin(caller);
    await this.getProject(caller, id);
    if (input.name !== undefined || input.description !== undefined) {
      await this.unique('project', input.name ?? '', () =>
        this.deps.db.updateTable('projects').set({ name: input.name, description: input.description }).where('id', '=', id).execute(),
      );
    }
    return this.getProject(caller, id);
  }

  /** Deletes an empty project (no volumes, groups or users); its quotas and tokens go with it. */
  async deleteProject(caller: Caller, id: string): Promise<void> {
    requireAdmin(caller);
    await this.getProject(caller, id);
    if (id === caller.projectId) throw new StrataError('INVALID_STATE', 'a token cannot delete its own project');
    const { db } = this.deps;
    await db.transaction().execute(async (tx) => {
      for (const table of ['volumes', 'groups', 'users'] as const) {
        const used = await tx.selectFrom(table).select('id').where('project_id', '=', id).limit(1).executeTakeFirst();
        if (used !== undefined) throw new StrataError('HAS_DEPENDENTS', `project ${id} still has ${table}`);
      }
      await tx.deleteFrom('tokens').where('project_id', '=', id).execute();
      await tx.deleteFrom('jobs').where('project_id', '=', id).execute();
      await tx.deleteFrom('quotas').where('project_id', '=', id).execute();
      await tx.deleteFrom('projects').where('id', '=', id).execute();
    });
  }

  // Users (admin; anyone may read their own).

  async createUser(caller: Caller, input: { name: string; password: string; project_id: string; role: Role }): Promise<User> {
    requireAdmin(caller);
    await this.getProject(caller, input.project_id).catch((error: unknown) => {
      if (error instanceof StrataError && error.code === 'NOT_FOUND') throw new StrataError('NOT_FOUND', error.message, { field: 'project_id' });
      throw error;
    });
    const row: UserRow = {
      seq: 0,
      id: newId(),
      name: input.name,
      project_id: input.project_id,
      role: input.role,
      ...(await this.credentials.hashes(input.password)),
      created_at: nowIso(),
    };
    const { seq: _seq, ...values } = row;
    await this.unique('user', input.name, () => this.deps.db.insertInto('users').values(values).execute());
    return toUser(row);
  }

  async listUsers(caller: Caller, filter: { projectId?: string }): Promise<User[]> {
    let query = this.deps.db.selectFrom('users').selectAll().orderBy('seq');
    if (caller.role !== 'admin') query = query.where('id', '=', caller.userId);
    else if (filter.projectId !== undefined) query = query.where('project_id', '=', filter.projectId);
    return (await query.execute()).map(toUser);
  }

  async getUser(caller: Caller, id: string): Promise<User> {
    if (caller.role !== 'admin' && id !== caller.userId) throw notFound('user', id);
    const row = await this.deps.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    if (row === undefined) throw notFound('user', id);
    return toUser(row);
  }

  /**
   * Admins change anything; a user may change only their own password. Changing one's own
   * password (admins included) needs the current one, `current_password`, checked like a login
   * (throttled by user name and `address`; wrong: FORBIDDEN); an admin resetting another user's
   * does not. Changing a password revokes the user's other tokens.
   */
  async updateUser(caller: Caller, id: string, input: { password?: string; current_password?: string; role?: Role }, context: { address?: string } = {}): Promise<User> {
    await this.getUser(caller, id);
    if (caller.role !== 'admin' && input.role !== undefined) throw new StrataError('FORBIDDEN', 'only an admin may change a role');
    if (caller.role === 'reader') throw new StrataError('FORBIDDEN', 'the reader role cannot change anything');
    if (input.password !== undefined && id === caller.userId) {
      if (input.current_password === undefined) throw new StrataError('MISSING_FIELD', 'changing your own password needs current_password', { field: 'current_password' });
      await this.credentials.check(caller.userName, { password: input.current_password }, context.address, 'current_password');
    }
    const set: { role?: Role; password_hash?: string; password_sha512_hash?: string } = {};
    if (input.role !== undefined) set.role = input.role;
    if (input.password !== undefined) Object.assign(set, await this.credentials.hashes(input.password));
    if (Object.keys(set).length > 0) {
      await this.deps.db.transaction().execute(async (tx) => {
        await tx.updateTable('users').set(set).where('id', '=', id).execute();
        if (set.password_hash !== undefined || set.role !== undefined) {
          await tx.updateTable('tokens').set({ revoked_at: nowIso() }).where('user_id', '=', id).where('revoked_at', 'is', null).where('id', '!=', caller.tokenId).execute();
        }
      });
    }
    return this.getUser(caller, id);
  }

  async deleteUser(caller: Caller, id: string): Promise<void> {
    requireAdmin(caller);
    await this.getUser(caller, id);
    if (id === caller.userId) throw new StrataError('INVALID_STATE', 'a user cannot delete themselves');
    await this.deps.db.transaction().execute(async (tx) => {
      await tx.deleteFrom('tokens').where('user_id', '=', id).execute();
      await tx.deleteFrom('users').where('id', '=', id).execute();
    });
  }

  private async unique(noun: string, name: string, write: () => Promise<unknown>): Promise<void> {
    try {
      await write();
    } catch (error) {
      const message = error instanceof Error ? error.message : '';
      if (/unique|duplicate/i.test(message)) throw new StrataError('ALREADY_EXISTS', `a ${noun} named ${name} already exists`, { field: 'name' });
      throw error;
    }
  }
}
