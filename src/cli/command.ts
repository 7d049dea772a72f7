/** The glue between commander and the client: options, output, and jobs followed with --wait. */
import { type Command, Option } from 'commander';
import type { Job, StrataClient } from '../client/index.js';
import { type CliEnvironment, clientOf, followJob, type OutputFormat, one, type Printable, print, UsageError } from './context.js';
import { parseSize } from './format.js';

export type Options = Record<string, any>;
export type Body = (client: StrataClient, options: Options, args: string[]) => Promise<Printable>;

/** A command action: a client for the service, the command's options with the global ones, its printed result. */
export function act(env: CliEnvironment, body: Body) {
  return async (...params: unknown[]) => {
    const command = params[params.length - 1] as Command;
    const options = command.optsWithGlobals();
    const format: OutputFormat = options.output ?? (env.stdoutIsTty ? 'table' : 'json');
    const client = clientOf(env, options.url);
    print(env, format, await body(client, options, command.args));
  };
}

export const waitOption = () => new Option('--wait', 'wait for the job to end (a progress bar on a terminal)');

/** A job the API answered: printed as is, or followed to its end with --wait. */
export async function jobResult(env: CliEnvironment, client: StrataClient, options: Options, body: { job: Job }): Promise<Printable> {
  if (options.wait !== true) return { body, table: one(body.job) };
  const job = await followJob(env, client, body.job);
  return { body: { job }, table: one(job) };
}

export function sizeArg(text: string): number {
  const bytes = parseSize(text);
  if (bytes === null) throw new UsageError(`${JSON.stringify(text)} is not a size (e.g. 10GiB, 512MiB, 4096)`);
  return bytes;
}

export function countArg(text: string): number {
  if (!/^\d{1,9}$/.test(text)) throw new UsageError(`${JSON.stringify(text)} is not a count`);
  return Number(text);
}

/** Adds a subcommand group (`strata volume …`). */
export function family(program: Command, name: string, description: string): Command {
  return program.command(name).description(description);
}
