/** `strata set-password` resets a lost password and revokes the user's tokens. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { CoreDeps } from '../../src/core/context.js';
import { IdentityService } from '../../src/core/identity.js';
import { openDatabase } from '../../src/db/index.js';

const run = promisify(execFile);
const mainJs = join(import.meta.dirname, '..', '..', 'src', 'main.js');

describe('strata set-password', () => {
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'strata-set-password-'));
    const database = await openDatabase(`sqlite:${join(dataDir, 'metadata.db')}`);
    await new IdentityService({ db: database.db } as CoreDeps).bootstrap('the-old-password');
    await database.close();
  });
  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
  });

  const identity = async <T>(use: (identity: IdentityService) => Promise<T>): Promise<T> => {
    const database = await openDatabase(`sqlite:${join(dataDir, 'metadata.db')}`);
    try {
      return await use(new IdentityService({ db: database.db } as CoreDeps));
    } finally {
      await database.close();
    }
  };

  test('a new password from STRATA_NEW_PASSWORD works, the old one and the old tokens do not', async () => {
    const old = await identity((i) => i.issueToken({ name: 'admin', password: 'the-old-password' }));
    const { stdout } = await run(process.execPath, [mainJs, 'set-password', '--data-dir', dataDir], { env: { ...process.env, STRATA_NEW_PASSWORD: 'the-new-password' } });
    assert.match(stdout, /password for admin set/);
    await identity(async (i) => {
      await assert.rejects(i.issueToken({ name: 'admin', password: 'the-old-password' }), { code: 'UNAUTHENTICATED' });
      await assert.rejects(i.authenticate(old.token), { code: 'UNAUTHENTICATED' });
      const fresh = await i.issueToken({ name: 'admin', password: 'the-new-password' });
      assert.equal((await i.authenticate(fresh.token)).userName, 'admin');
    });
  });

  test('without STRATA_NEW_PASSWORD a password is generated and printed once', async () => {
    const env = { ...process.env };
    delete env.STRATA_NEW_PASSWORD;
    const { stdout } = await run(process.execPath, [mainJs, 'set-password', '--data-dir', dataDir], { env });
    const printed = /password for admin: (\S+)/.exec(stdout);
    assert.ok(printed !== null, stdout);
    await identity(async (i) => {
      const token = await i.issueToken({ name: 'admin', password: printed[1] });
      assert.ok(token.token.length > 0);
    });
  });

  test('an unknown user exits 2 with NOT_FOUND and changes nothing', async () => {
    const failed = await run(process.execPath, [mainJs, 'set-password', '--data-dir', dataDir, '--user', 'nobody'], { env: { ...process.env, STRATA_NEW_PASSWORD: 'whatever-123' } }).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    assert.ok(failed !== null, 'the command failed');
    assert.equal(failed.code, 2);
    assert.match(failed.stderr, /NOT_FOUND: user nobody does not exist/);
  });
});
