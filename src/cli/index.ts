/**
 * The client side of the `strata` command: `strata <resource> <verb>` for every native
 * operation, over the typed client. main.ts reads flags and environment and calls
 * `registerClientCommands`; failures reach main.ts, which turns them into exit statuses
 * with `reportFailure` (0 success, 1 API error with its code on stderr, 2 usage).
 */
import { type Command, Option } from 'commander';
import { adminCommands, tenancyCommands } from './admin-commands.js';
import { bashCompletion, zshCompletion } from './completion.js';
import { type CliEnvironment, UsageError } from './context.js';
import { groupCommands, policyCommands } from './group-commands.js';
import { attachmentCommands, snapshotCommands, volumeCommands } from './storage-commands.js';

export { type CliEnvironment, reportFailure, UsageError } from './context.js';

export function registerClientCommands(program: Command, env: CliEnvironment): void {
  program
    .addOption(new Option('--output <format>', 'table (default on a terminal) or json (exactly the API body)').choices(['table', 'json']))
    .addOption(new Option('--url <url>', 'the service (default: STRATA_URL, or what `strata login` saved)'));
  adminCommands(program, env);
  tenancyCommands(program, env);
  volumeCommands(program, env);
  snapshotCommands(program, env);
  groupCommands(program, env);
  policyCommands(program, env);
  attachmentCommands(program, env);
  program
    .command('completion')
    .description('print a shell completion script')
    .argument('[shell]', 'bash or zsh', 'bash')
    .action((which: string) => {
      if (which !== 'bash' && which !== 'zsh') throw new UsageError(`completion for ${which} is not available; bash or zsh`);
      env.write(which === 'zsh' ? zshCompletion(program) : bashCompletion(program));
    });
}
