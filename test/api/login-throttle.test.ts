/**
 * Failed logins are throttled per user name and per client address, on every login route
 * (native, XSKY, ZStack) and on the current-password check of a password change: after the
 * free failures, 429 with Retry-After in the platform's own error format, and no password is
 * checked while a key is locked. The throttle's clock is the test's, so delays are stepped
 * through without waiting. Also: expired tokens are purged, a bounded batch per sweep.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { addressKey, LoginThrottle } from '../../src/core/login-throttle.js';
import { isStrataError } from '../../src/lib/errors.js';
import { limits } from '../../src/lib/limits.js';
import { createHarness, type Harness } from './harness.js';
import { password } from './native-assertions.js';

const c = limits.control;
const sha512 = (text: string) => createHash('sha512').update(text).digest('hex');

describe('login throttling', () => {
  let h: Harness;
  let now = Date.parse('2026-01-01T00:00:00Z');
  let users: Record<string, { token: string; userName: string; userId: string }> = {};
  /** A login from a given address, straight through the app (the harness's requests come from 127.0.0.1). */
  const inject = async (method: 'POST' | 'PUT' | 'PATCH', url: string, body: unknown, remoteAddress = '127.0.0.1', headers: Record<string, string> = {}) => {
    const r = await h.app.inject({ method, url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers }, remoteAddress });
    return { status: r.statusCode, headers: r.headers, body: r.body.length > 0 ? JSON.parse(r.body) : null, text: r.body };
  };
  const nativeLogin = (name: string, pw: string, address?: string) => inject('POST', '/api/v1/auth/tokens', { name, password: pw }, address);

  before(async () => {
    h = await createHarness('sqlite', { identity: { clock: () => now } });
    for (const name of ['native', 'xsky', 'zstack', 'address', 'change', 'burst']) {
      const t = await h.tenant(name);
      const user = await h.plane.identity.authenticate(t.token);
      users[name] = { token: t.token, userName: user.userName, userId: t.userId };
    }
  });
  after(async () => {
    await h.close();
  });

  test('native: free failures, then 429 TOO_MANY_ATTEMPTS with Retry-After, doubling; the right password is refused too while locked', async () => {
    const { userName } = users.native;
    for (let i = 0; i < c.loginFailuresFreePerName; i++) {
      const r = await nativeLogin(userName, 'wrong-password', `10.0.0.${i + 1}`);
      assert.equal(r.status, 401, `failure ${i + 1}: ${r.text}`);
    }
    // The first failure beyond the free ones is still answered (it was allowed to start), and locks.
    assert.equal((await nativeLogin(userName, 'wrong-password', '10.0.1.1')).status, 401);
    const locked = await nativeLogin(userName, password, '10.0.1.2');
    assert.equal(locked.status, 429, locked.text);
    assert.equal(locked.body.error.code, 'TOO_MANY_ATTEMPTS');
    assert.equal(locked.headers['retry-after'], String(c.loginDelayMsMin / 1000));
    now += c.loginDelayMsMin;
    assert.equal((await nativeLogin(userName, 'wrong-password', '10.0.1.3')).status, 401);
    const doubled = await nativeLogin(userName, password, '10.0.1.4');
    assert.equal(doubled.status, 429, doubled.text);
    assert.equal(doubled.headers['retry-after'], String((2 * c.loginDelayMsMin) / 1000));
    now += 2 * c.loginDelayMsMin;
    const ok = await nativeLogin(userName, password, '10.0.1.5');
    assert.equal(ok.status, 201, ok.text);
    // A success clears the name's count: the free failures are free again.
    for (let i = 0; i < c.loginFailuresFreePerName; i++) assert.equal((await nativeLogin(userName, 'wrong-password', '10.0.2.1')).status, 401);
    now += c.loginFailureForgetMs;
  });

  test('per address: many names from one address lock the address, not the names elsewhere', async () => {
    const attacker = '192.0.2.7';
    for (let i = 0; i < c.loginFailuresFreePerAddress + 1; i++) {
      const r = await nativeLogin(`nobody-${i}`, 'wrong-password', attacker);
      assert.equal(r.status, 401, `failure ${i + 1}: ${r.text}`);
    }
    const refused = await nativeLogin(users.address.userName, password, attacker);
    assert.equal(refused.status, 429, refused.text);
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    assert.equal((await nativeLogin(users.address.userName, password, '192.0.2.8')).status, 201, 'the same user from another address');
    // IPv6 clients are keyed by their /64.
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), addressKey('2001:DB8:1:2:bbbb:cccc:dddd:eeee'));
    assert.notEqual(addressKey('2001:db8:1:2::1'), addressKey('2001:db8:1:3::1'));
    assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
    now += c.loginFailureForgetMs;
  });

  test('XSKY: 429 {code: TooManyAttempts} with Retry-After', async () => {
    const { userName } = users.xsky;
    const body = (pw: string) => ({ auth: { identity: { password: { user: { name: userName, password: pw } } } } });
    for (let i = 0; i <= c.loginFailuresFreePerName; i++) assert.equal((await inject('POST', '/xsky/v1/auth/tokens', body('wrong-password'), '10.1.0.1')).status, 401);
    const r = await inject('POST', '/xsky/v1/auth/tokens', body(password), '10.1.0.2');
    assert.equal(r.status, 429, r.text);
    assert.equal(r.body.code, 'TooManyAttempts', r.text);
    assert.equal(r.headers['retry-after'], '1');
    now += c.loginFailureForgetMs;
  });

  test('ZStack: 429 with its API error body (ID.1000) and Retry-After', async () => {
    const { userName } = users.zstack;
    const body = (pw: string) => ({ logInByAccount: { accountName: userName, password: sha512(pw) } });
    for (let i = 0; i <= c.loginFailuresFreePerName; i++) {
      const r = await inject('PUT', '/zstack/v1/accounts/login', body('wrong-password'), '10.2.0.1');
      assert.equal(r.body?.error?.code, 'ID.1000', r.text);
    }
    const r = await inject('PUT', '/zstack/v1/accounts/login', body(password), '10.2.0.2');
    assert.equal(r.status, 429, r.text);
    assert.equal(r.body.error.code, 'ID.1000', r.text);
    assert.match(r.body.error.details, /too many failed logins/);
    assert.equal(r.headers['retry-after'], '1');
    now += c.loginFailureForgetMs;
  });

  test('a wrong current password counts as a failed login', async () => {
    const { userName, userId, token } = users.change;
    const change = (current: string) => inject('PATCH', `/api/v1/users/${userId}`, { password: 'new-password-789', current_password: current }, '10.3.0.1', { authorization: `Bearer ${token}` });
    for (let i = 0; i <= c.loginFailuresFreePerName; i++) assert.equal((await change('wrong-password')).status, 403);
    const r = await change(password);
    assert.equal(r.status, 429, r.text);
    assert.equal(r.body.error.code, 'TOO_MANY_ATTEMPTS');
    assert.equal((await nativeLogin(userName, password, '10.3.0.2')).status, 429, 'logins of that name are locked too');
    now += c.loginFailureForgetMs;
  });

  test('concurrent guesses count from the moment they start', async () => {
    const { userName } = users.burst;
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => nativeLogin(userName, 'wrong-password', `10.4.0.${i + 1}`)));
    const statuses = answers.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, c.loginFailuresFreePerName + 1, `statuses: ${statuses.join(' ')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 20 - c.loginFailuresFreePerName - 1, `statuses: ${statuses.join(' ')}`);
    now += c.loginFailureForgetMs;
  });

  test('the tracking tables are bounded: the least recently failed key is evicted', () => {
    let clock = 0;
    const throttle = new LoginThrottle(() => clock);
    for (let i = 0; i < c.loginTrackedKeysMax + 500; i++) {
      clock++;
      throttle.begin(`user-${i}`, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    }
    assert.deepEqual(throttle.trackedKeys, { names: c.loginTrackedKeysMax, addresses: c.loginTrackedKeysMax });
    // The delay is capped.
    for (let i = 0; i < 40; i++) {
      clock += c.loginDelayMsMax;
      throttle.begin('capped', undefined);
    }
    try {
      throttle.begin('capped', undefined);
      assert.fail('locked');
    } catch (error) {
      assert.ok(isStrataError(error, 'TOO_MANY_ATTEMPTS'));
      assert.equal(error.details?.retryAfterSeconds, c.loginDelayMsMax / 1000);
    }
  });
});

describe('expired tokens are purged', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness('sqlite');
  });
  after(async () => {
    await h.close();
  });

  test('issuing a token deletes expired ones, at most a batch per sweep; live and revoked-unexpired ones stay', async () => {
    const { db } = h.database;
    const admin = await h.plane.identity.authenticate(h.adminToken);
    const past = '2020-01-01T00:00:00.000Z';
    const future = '2999-01-01T00:00:00.000Z';
    const rows = (n: number, expires: string, revoked: string | null, tag: string) =>
      Array.from({ length: n }, (_, i) => ({ id: `${tag}-${i}`, token_hash: `${tag}-hash-${i}`, user_id: admin.userId, project_id: admin.projectId, expires_at: expires, revoked_at: revoked, created_at: past }));
    const expiredCount = c.tokenPurgeBatchMax + 20;
    for (const batch of [rows(expiredCount, past, null, 'expired'), rows(3, future, past, 'revoked-live')]) {
      for (let i = 0; i < batch.length; i += 100) await db.insertInto('tokens').values(batch.slice(i, i + 100)).execute();
    }
    const count = async (expired: boolean) =>
      Number((await db.selectFrom('tokens').select((eb) => eb.fn.countAll<number>().as('n')).where('expires_at', expired ? '<=' : '>', new Date().toISOString()).executeTakeFirstOrThrow()).n);
    const liveBefore = await count(false);
    await h.login('admin', 'harness-admin-password');
    assert.equal(await count(true), 20, 'one sweep deletes one batch');
    assert.equal(await count(false), liveBefore + 1, 'live tokens (and the new one) stay');
    assert.equal(await h.plane.identity.purgeExpiredTokens(), 20);
    assert.equal(await count(true), 0);
    assert.equal(await h.plane.identity.purgeExpiredTokens(), 0);
    // A revoked token that has not expired still answers "revoked".
    assert.equal((await db.selectFrom('tokens').select('id').where('id', 'like', 'revoked-live-%').execute()).length, 3);
  });
});
