/**
 * What every client command of the CLI shares: where the service is and the token (flags and
 * environment are read by main.ts and handed in), the credentials `strata login` saves, the
 * output format, and how failures become exit statuses (1: the API refused, its code on
 * stderr; 2: a usage error).
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import { ApiError, type Job, StrataClient } from '../client/index.js';
import { block, table } from './format.js';

export interface CliEnvironment {
  /** STRATA_URL */
  url?: string;
  /** STRATA_TOKEN */
  token?: string;
  /** STRATA_PASSWORD, for `strata login` without a prompt. */
  password?: string;
  /** $XDG_CONFIG_HOME, or $HOME/.config. */
  configHome: string;
  stdoutIsTty: boolean;
  stderrIsTty: boolean;
  write(text: string): void;
  writeError(text: string): void;
}

export class UsageError extends Error {}

interface Credentials {
  url: string;
  token: string;
}

export function credentialsPath(env: CliEnvironment): string {
  return join(env.configHome, 'strata', 'credentials.json');
}

export function loadCredentials(env: CliEnvironment): Partial<Credentials> {
  try {
    return JSON.parse(readFileSync(credentialsPath(env), 'utf8')) as Partial<Credentials>;
  } catch {
    return {};
  }
}

/** Saves the URL and token readable by the user only (0600, in a 0700 directory). */
export function saveCredentials(env: CliEnvironment, credentials: Credentials): string {
  const dir = join(env.configHome, 'strata');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = credentialsPath(env);
  writeFileSync(path, `${JSON.stringify(credentials)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600); // an existing file keeps its mode on write
  return path;
}

export function clientOf(env: CliEnvironment, url?: string): StrataClient {
  const saved = loadCredentials(env);
  const base = url ?? env.url ?? saved.url;
  if (base === undefined) throw new UsageError('no service: set STRATA_URL or run `strata login URL`');
  return new StrataClient({ url: base, token: env.token ?? saved.token });
}

export type OutputFormat = 'table' | 'json';

/** What a command prints: the API's body as JSON, or its table form. */
export interface Printable {
  body: unknown;
  table?: () => string;
}

export function print(env: CliEnvironment, format: OutputFormat, out: Printable): void {
  if (out.body === null && out.table === undefined) return;
  if (format === 'json' || out.table === undefined) env.write(`${JSON.stringify(out.body, null, format === 'json' ? 2 : 2)}\n`);
  else env.write(`${out.table()}\n`);
}

export const rows = (items: unknown[], columns: string[]) => () => table(items as Array<Record<string, unknown>>, columns);
export const one = (object: unknown) => () => block(object as Record<string, unknown>);

/**
 * Follows a job to its end; on a terminal, a progress bar on stderr fed by the job's progress.
 * A failed job is an error (exit 1) with the job's code.
 */
export async function followJob(env: CliEnvironment, client: StrataClient, job: Job): Promise<Job> {
  const bar = env.stderrIsTty ? new SingleBar({ format: `${job.kind} [{bar}] {percentage}% | {status}`, stream: process.stderr, hideCursor: true }, Presets.shades_classic) : null;
  bar?.start(100, Math.round(job.progress * 100), { status: job.status });
  try {
    const done = await client.waitJob(job.id, (j) => bar?.update(Math.round(j.progress * 100), { status: j.status }));
    bar?.update(done.status === 'succeeded' ? 100 : Math.round(done.progress * 100), { status: done.status });
    bar?.stop();
    if (done.status === 'failed') throw new ApiError(0, done.error?.code ?? 'INTERNAL', `job ${done.id} (${done.kind}) failed: ${done.error?.message ?? ''}`);
    return done;
  } finally {
    bar?.stop();
  }
}

/** The exit status of a failure, having said what it was on stderr (anything but an API error is 2, as before). */
export function reportFailure(env: CliEnvironment, error: unknown): number {
  if (error instanceof UsageError) {
    env.writeError(`strata: ${error.message}\n`);
    return 2;
  }
  if (error instanceof ApiError) {
    env.writeError(`strata: ${error.code}: ${error.message}${error.field === undefined ? '' : ` (field ${error.field})`}\n`);
    return 1;
  }
  env.writeError(`strata: ${error instanceof Error ? error.message : String(error)}\n`);
  return 2;
}
