/**
 * Password hashing: `strata serve` hashes at N = 2^17 (the default of the identity service;
 * tests lower it through IdentityOptions.passwordCost), and a verifier weaker than the current
 * cost is replaced on the next successful login that can compute it: both verifiers for a
 * password login, the SHA-512 verifier alone for a ZStack login (which never sees the password).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sha512Hex } from '../../src/core/identity.js';
import { Hasher, isWeakerThan, productionPasswordCost } from '../../src/core/passwords.js';
import { ControlPlane } from '../../src/core/plane.js';
import { startServer } from '../../src/server.js';
import { createHarness, type Harness, testPasswordCost } from '../api/harness.js';
import { password } from '../api/native-assertions.js';

describe('password hashing', () => {
  test('strata serve stores the bootstrap admin at N = 2^17 (scrypt with enough maxmem)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'strata-passwords-'));
    const server = await startServer({ dataDir, listen: { host: '127.0.0.1', port: 0 }, nbdListen: { host: '127.0.0.1', port: 0 }, adminPassword: 'serve-admin-password', logLevel: 'warn' });
    try {
      assert.ok(productionPasswordCost.N >= 2 ** 17, `production N is ${productionPasswordCost.N}`);
      assert.deepEqual(server.plane.identity.passwordCost, productionPasswordCost);
      const admin = await server.plane.deps.db.selectFrom('users').select(['password_hash', 'password_sha512_hash']).where('name', '=', 'admin').executeTakeFirstOrThrow();
      assert.match(admin.password_hash, /^scrypt\$131072\$8\$1\$/);
      assert.match(admin.password_sha512_hash ?? '', /^scrypt\$131072\$8\$1\$/);
      const response = await fetch(`${server.apiUrl}/api/v1/auth/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'admin', password: 'serve-admin-password' }) });
      assert.equal(response.status, 201, await response.text());
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('stored hashes with unusable parameters never verify (and are weaker than any cost)', async () => {
    const hasher = new Hasher(testPasswordCost);
    const good = await hasher.hash('a-password');
    assert.equal(await hasher.verify('a-password', good), true);
    assert.equal(await hasher.verify('another', good), false);
    for (const bad of ['', 'scrypt$1000$8$1$aa$bb', 'scrypt$1073741824$8$1$aa$bb', 'bcrypt$1024$8$1$aa$bb', good.replace('$8$', '$x$')]) {
      assert.equal(await hasher.verify('a-password', bad), false, bad);
      assert.equal(isWeakerThan(bad, testPasswordCost), true, bad);
    }
    assert.throws(() => new Hasher({ N: 1000, r: 8, p: 1 }));
  });
});

describe('weaker hashes are rehashed on the next successful login', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness('sqlite');
  });
  after(async () => {
    await h.close();
  });
  const stronger = { N: 4 * testPasswordCost.N, r: 8, p: 1 };
  const prefix = (cost: { N: number }) => `scrypt$${cost.N}$8$1$`;
  const hashesOf = async (name: string) => h.database.db.selectFrom('users').select(['password_hash', 'password_sha512_hash']).where('name', '=', name).executeTakeFirstOrThrow();

  test('a password login rehashes both verifiers; a wrong password changes nothing', async () => {
    const { userId } = await h.tenant('rehash');
    const name = (await h.database.db.selectFrom('users').select('name').where('id', '=', userId).executeTakeFirstOrThrow()).name;
    const upgraded = new ControlPlane(h.plane.deps, { identity: { passwordCost: stronger } });
    const before = await hashesOf(name);
    assert.ok(before.password_hash.startsWith(prefix(testPasswordCost)));
    await assert.rejects(upgraded.identity.issueToken({ name, password: 'wrong-password' }));
    assert.deepEqual(await hashesOf(name), before);
    await upgraded.identity.issueToken({ name, password });
    const after = await hashesOf(name);
    assert.ok(after.password_hash.startsWith(prefix(stronger)), after.password_hash);
    assert.ok(after.password_sha512_hash?.startsWith(prefix(stronger)), after.password_sha512_hash ?? 'null');
    // Both still verify: a login by password and one by its SHA-512 (ZStack).
    await upgraded.identity.issueToken({ name, password });
    await upgraded.identity.issueToken({ name, passwordSha512: sha512Hex(password) });
  });

  test('a ZStack login rehashes its own (SHA-512) verifier', async () => {
    const { userId } = await h.tenant('rehash-zstack');
    const name = (await h.database.db.selectFrom('users').select('name').where('id', '=', userId).executeTakeFirstOrThrow()).name;
    const upgraded = new ControlPlane(h.plane.deps, { identity: { passwordCost: stronger } });
    const before = await hashesOf(name);
    await upgraded.identity.issueToken({ name, passwordSha512: sha512Hex(password), format: 'hex128' });
    const after = await hashesOf(name);
    assert.ok(after.password_sha512_hash?.startsWith(prefix(stronger)), after.password_sha512_hash ?? 'null');
    assert.equal(after.password_hash, before.password_hash, 'the password verifier needs the password itself');
    await upgraded.identity.issueToken({ name, passwordSha512: sha512Hex(password) });
  });
});
