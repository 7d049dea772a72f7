/**
 * The `strata` command line: the only place that reads configuration (flags and environment).
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { registerClientCommands, reportFailure } from './cli/index.js';
import { isStrataError } from './lib/errors.js';

// The service's modules (engine, database, HTTP) load only for the commands that run them,
// so the client commands start quickly.
const service = () => import('./server.js');

// Everything Strata creates (pool files, metadata database, lock, pool-id) is private to its
// user; the code also gives explicit modes, this covers files others' code creates (SQLite's).
process.umask(0o077);

const program = new Command();
program.name('strata').description('Block storage with instant, crash-consistent snapshots, served over NBD');

program
  .command('serve')
  .description('open (or create) the pool and serve NBD and the REST API')
  .addOption(new Option('--data-dir <dir>', 'data directory').env('STRATA_DATA_DIR').default('./data'))
  .addOption(new Option('--listen <host:port>', 'REST listener').env('STRATA_LISTEN').default('127.0.0.1:8080'))
  .addOption(new Option('--nbd-listen <host:port>', 'NBD listener').env('STRATA_NBD_LISTEN').default('127.0.0.1:10809'))
  .addOption(new Option('--nbd-tls-dir <dir>', 'require TLS on NBD with ca-cert.pem, server-cert.pem, server-key.pem from DIR (attachment URIs become nbds://)').env('STRATA_NBD_TLS_DIR'))
  .addOption(new Option('--backend <backend>', 'where volumes live: local (the data dir) or rbd:POOL[/NAMESPACE] (Ceph RBD)').env('STRATA_BACKEND').default('local'))
  .addOption(new Option('--ceph-conf <file>', 'ceph.conf for --backend rbd:… (default: Ceph\'s own search)').env('CEPH_CONF'))
  .addOption(new Option('--ceph-id <name>', 'Ceph client name without "client." for --backend rbd:…').env('STRATA_CEPH_ID').default('admin'))
  .addOption(new Option('--chunk-size-bytes <n>', 'chunk size of a new pool (power of two, 4096 to 1048576)').env('STRATA_CHUNK_SIZE_BYTES'))
  .addOption(new Option('--log-level <level>', 'log level (logs go to stderr)').env('STRATA_LOG_LEVEL').default('info'))
  .addOption(new Option('--database-url <url>', 'metadata database: sqlite:PATH or postgres://… (default: SQLite in the data dir)').env('STRATA_DATABASE_URL'))
  .addOption(new Option('--manila-policy-file <path>', 'policy (JSON) of the Manila dialect, replacing its defaults').env('STRATA_MANILA_POLICY_FILE'))
  .addOption(new Option('--public-url <url>', 'base URL of the links the API returns (default: the REST listen address)').env('STRATA_PUBLIC_URL'))
  .action(
    async (options: { dataDir: string; backend: string; cephConf?: string; cephId: string; listen: string; nbdListen: string; nbdTlsDir?: string; chunkSizeBytes?: string; logLevel: string; databaseUrl?: string; manilaPolicyFile?: string; publicUrl?: string }) => {
    const { parseBackend, parseHostPort, parsePublicUrl, startServer } = await service();
    const server = await startServer({
      dataDir: options.dataDir,
      backend: parseBackend(options.backend, '--backend', { cephConf: options.cephConf || undefined, cephId: options.cephId }),
      listen: parseHostPort(options.listen, '--listen'),
      nbdListen: parseHostPort(options.nbdListen, '--nbd-listen'),
      nbdTlsDir: options.nbdTlsDir || undefined,
      chunkSizeBytes: options.chunkSizeBytes === undefined ? undefined : Number(options.chunkSizeBytes),
      logLevel: options.logLevel,
      databaseUrl: options.databaseUrl,
      manilaPolicyFile: options.manilaPolicyFile,
      publicUrl: options.publicUrl === undefined ? undefined : parsePublicUrl(options.publicUrl, '--public-url'),
      adminPassword: process.env.STRATA_ADMIN_PASSWORD || undefined,
    });
    console.log(`api: ${server.apiUrl}`);
    console.log(`docs: ${server.apiUrl}/docs`);
    console.log(`nbd: ${server.nbdUrl}`);
    if (server.generatedAdminPassword !== null) {
      console.log(`admin password: ${server.generatedAdminPassword} (user admin, project admin; shown once, stored hashed)`);
    }
    const shutdown = (signal: string) => {
      console.error(`strata: ${signal}: draining`);
      server.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error('strata: shutdown failed:', error);
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });

program
  .command('set-password')
  .description("set a user's password (e.g. a lost admin password) and revoke that user's tokens")
  .addOption(new Option('--data-dir <dir>', 'data directory').env('STRATA_DATA_DIR').default('./data'))
  .addOption(new Option('--database-url <url>', 'metadata database: sqlite:PATH or postgres://… (default: SQLite in the data dir)').env('STRATA_DATABASE_URL'))
  .addOption(new Option('--user <name>', 'the user').default('admin'))
  .action(async (options: { dataDir: string; databaseUrl?: string; user: string }) => {
    const { runSetPassword } = await import('./cli/set-password.js');
    process.exitCode = await runSetPassword({
      dataDir: options.dataDir,
      databaseUrl: options.databaseUrl,
      user: options.user,
      // From the environment, never a flag: a flag would show in the process list and shell history.
      password: process.env.STRATA_NEW_PASSWORD || undefined,
      print: (line) => console.log(line),
    });
  });

program
  .command('fsck')
  .description('check every invariant of a stopped pool and exit non-zero on any violation (refused while a server holds the pool)')
  .addOption(new Option('--data-dir <dir>', 'data directory').env('STRATA_DATA_DIR').default('./data'))
  .action(async (options: { dataDir: string }) => {
    const { runFsck } = await import('./cli/fsck.js');
    process.exitCode = await runFsck(options.dataDir, (line) => console.log(line));
  });

const client = {
  url: process.env.STRATA_URL || undefined,
  token: process.env.STRATA_TOKEN || undefined,
  password: process.env.STRATA_PASSWORD || undefined,
  configHome: process.env.XDG_CONFIG_HOME || join(process.env.HOME || homedir(), '.config'),
  stdoutIsTty: process.stdout.isTTY === true,
  stderrIsTty: process.stderr.isTTY === true,
  write: (text: string) => process.stdout.write(text),
  writeError: (text: string) => process.stderr.write(text),
};
registerClientCommands(program, client);
// Usage errors exit 2; help and version exit 0.
program.exitOverride();
for (const command of program.commands) {
  command.exitOverride();
  for (const verb of command.commands) verb.exitOverride();
}

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  if (isStrataError(error)) {
    console.error(`strata: ${error.code}: ${error.message}`);
    process.exit(2);
  }
  process.exit(reportFailure(client, error));
});
