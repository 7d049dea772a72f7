/**
 * The `strata` command line: the only place that reads configuration (flags and environment).
 */
import { Command } from 'commander';
import { runFsck } from './cli/fsck.js';
import { isStrataError } from './lib/errors.js';

const program = new Command();
program.name('strata').description('Block storage with instant, crash-consistent snapshots, served over NBD');

program
  .command('fsck')
  .description('check every invariant of a stopped pool and exit non-zero on any violation')
  .option('--data-dir <dir>', 'data directory', process.env.STRATA_DATA_DIR ?? './data')
  .action(async (options: { dataDir: string }) => {
    process.exitCode = await runFsck(options.dataDir, (line) => console.log(line));
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (isStrataError(error)) {
    console.error(`strata: ${error.code}: ${error.message}`);
    process.exit(2);
  }
  throw error;
});
