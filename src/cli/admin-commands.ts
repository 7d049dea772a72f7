/** `strata login|logout|whoami|project|user|quota …`. */
import { readFileSync, rmSync } from 'node:fs';
import type { Command } from 'commander';
import { StrataClient } from '../client/index.js';
import { act, countArg, family } from './command.js';
import { type CliEnvironment, credentialsPath, one, rows, saveCredentials, UsageError } from './context.js';
import { resolve } from './resolve.js';

/** The password: STRATA_PASSWORD, else the first line of standard input (never a flag: it would show in `ps`). */
function passwordOf(env: CliEnvironment): string {
  if (env.password !== undefined) return env.password;
  const line = readFileSync(0, 'utf8').split('\n')[0] ?? '';
  if (line === '') throw new UsageError('give the password in STRATA_PASSWORD or on standard input');
  return line;
}

export function adminCommands(program: Command, env: CliEnvironment): void {
  program.command('login [url]').description(`get a token and save it with the URL (readable by you only) under ${'$XDG_CONFIG_HOME'}/strata`)
    .requiredOption('--name <user>').option('--project <project>', 'another project (admins)')
    .action(async (url: string | undefined, o: { name: string; project?: string }, command: Command) => {
      const base = url ?? command.optsWithGlobals().url ?? env.url;
      if (base === undefined) throw new UsageError('give the service URL: strata login URL --name USER');
      const client = new StrataClient({ url: base });
      const issued = await client.login({ name: o.name, password: passwordOf(env), project: o.project });
      const path = saveCredentials(env, { url: base, token: issued.token });
      env.writeError(`logged in as ${issued.user.name} in project ${issued.project.name}; token saved in ${path}\n`);
    });
  program.command('logout').description('revoke the saved token and forget it')
    .action(act(env, async (c) => {
      await c.revokeToken('current').catch(() => undefined);
      rmSync(credentialsPath(env), { force: true });
      return { body: null };
    }));
  program.command('whoami').description('the current token: user, project, role').action(act(env, async (c) => {
    const body = await c.currentToken();
    return { body, table: one({ user: body.user.name, project: body.project.name, roles: body.roles, expires_at: body.expires_at }) };
  }));
}

export function tenancyCommands(program: Command, env: CliEnvironment): void {
  const project = family(program, 'project', 'projects (admin)');
  project.command('list').action(act(env, async (c) => {
    const body = await c.listProjects();
    return { body, table: rows(body.projects, ['id', 'name', 'description', 'created_at']) };
  }));
  project.command('show <project>').action(act(env, async (c, _o, [ref]) => {
    const body = await c.getProject(await resolve(c, 'project', ref));
    return { body, table: one(body.project) };
  }));
  project.command('create <name>').option('--description <text>').action(act(env, async (c, o, [name]) => {
    const body = await c.createProject({ name, description: o.description });
    return { body, table: one(body.project) };
  }));
  project.command('update <project>').option('--name <name>').option('--description <text>').action(act(env, async (c, o, [ref]) => {
    const body = await c.updateProject(await resolve(c, 'project', ref), { name: o.name, description: o.description });
    return { body, table: one(body.project) };
  }));
  project.command('delete <project>').action(act(env, async (c, _o, [ref]) => ({ body: await c.deleteProject(await resolve(c, 'project', ref)) })));

  const user = family(program, 'user', 'users (admin)');
  user.command('list').option('--project <project>').action(act(env, async (c, o) => {
    const body = await c.listUsers({ project_id: o.project === undefined ? undefined : await resolve(c, 'project', o.project) });
    return { body, table: rows(body.users, ['id', 'name', 'project_id', 'role', 'created_at']) };
  }));
  user.command('show <user>').action(act(env, async (c, _o, [ref]) => {
    const body = await c.getUser(await resolve(c, 'user', ref));
    return { body, table: one(body.user) };
  }));
  user.command('create <name>').description('the password is read from STRATA_PASSWORD or standard input').requiredOption('--project <project>').option('--role <role>', 'admin, member or reader', 'member')
    .action(act(env, async (c, o, [name]) => {
      const body = await c.createUser({ name, password: passwordOf(env), project_id: await resolve(c, 'project', o.project), role: o.role });
      return { body, table: one(body.user) };
    }));
  user.command('update <user>').option('--role <role>').option('--password', 'set a new password from STRATA_PASSWORD or standard input')
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.updateUser(await resolve(c, 'user', ref), { role: o.role, password: o.password === true ? passwordOf(env) : undefined });
      return { body, table: one(body.user) };
    }));
  user.command('delete <user>').action(act(env, async (c, _o, [ref]) => ({ body: await c.deleteUser(await resolve(c, 'user', ref)) })));

  const quota = family(program, 'quota', 'project quotas (-1 is unlimited)');
  quota.command('show <project>').action(act(env, async (c, _o, [ref]) => {
    const body = await c.getQuotas(await resolve(c, 'project', ref));
    return { body, table: one({ ...body.quotas.limits, usage: body.quotas.usage }) };
  }));
  const limit = (text: string) => (text === '-1' ? -1 : countArg(text));
  quota.command('set <project>').option('--volumes <n>', '', limit).option('--snapshots <n>', '', limit).option('--gigabytes <n>', '', limit).option('--snapshots-per-volume <n>', '', limit)
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.setQuotas(await resolve(c, 'project', ref), { volumes: o.volumes, snapshots: o.snapshots, gigabytes: o.gigabytes, snapshots_per_volume: o.snapshotsPerVolume });
      return { body, table: one({ ...body.quotas.limits, usage: body.quotas.usage }) };
    }));
}
