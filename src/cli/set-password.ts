/**
 * `strata set-password`: sets a user's password in the metadata database (for a lost
 * bootstrap admin password) and revokes that user's tokens. The password comes from
 * STRATA_NEW_PASSWORD, or is generated and printed once. The service may keep running: it
 * reads passwords and tokens from the database on every login and request.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setUserPassword } from '../core/identity.js';
import { openDatabase } from '../db/index.js';

export async function runSetPassword(options: {
  dataDir: string;
  databaseUrl?: string;
  user: string;
  password?: string;
  print: (line: string) => void;
}): Promise<number> {
  const database = await openDatabase(options.databaseUrl ?? `sqlite:${join(options.dataDir, 'metadata.db')}`);
  try {
    const password = options.password ?? randomBytes(18).toString('base64url');
    await setUserPassword(database.db, options.user, password);
    if (options.password === undefined) options.print(`password for ${options.user}: ${password} (shown once, stored hashed)`);
    else options.print(`password for ${options.user} set`);
    options.print(`the tokens of ${options.user} are revoked`);
    return 0;
  } finally {
    await database.close();
  }
}
