/** `strata group|group-snapshot|policy …`. */
import type { Command } from 'commander';
import type { StrataClient } from '../client/index.js';
import { act, countArg, family, jobResult, waitOption, type Options } from './command.js';
import { type CliEnvironment, followJob, one, rows } from './context.js';
import { resolve } from './resolve.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];
const resolveAll = (c: StrataClient, kind: 'volume' | 'group', refs: string[] | undefined) =>
  refs === undefined ? Promise.resolve(undefined) : Promise.all(refs.map((ref) => resolve(c, kind, ref)));

export function groupCommands(program: Command, env: CliEnvironment): void {
  const group = family(program, 'group', 'consistency groups');
  const columns = ['id', 'name', 'status', 'volume_ids'];
  group.command('list').action(act(env, async (c) => {
    const body = await c.listGroups();
    return { body, table: rows(body.groups, columns) };
  }));
  group.command('show <group>').action(act(env, async (c, _o, [ref]) => {
    const body = await c.getGroup(await resolve(c, 'group', ref));
    return { body, table: one(body.group) };
  }));
  group.command('create <name>').option('--volume <volume>', 'a member (repeat)', collect).option('--description <text>')
    .action(act(env, async (c, o, [name]) => {
      const body = await c.createGroup({ name, description: o.description, volume_ids: await resolveAll(c, 'volume', o.volume) });
      return { body, table: one(body.group) };
    }));
  group.command('update <group>').option('--name <name>').option('--description <text>').option('--add <volume>', 'add a member (repeat)', collect).option('--remove <volume>', 'remove a member (repeat)', collect)
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.updateGroup(await resolve(c, 'group', ref), {
        name: o.name,
        description: o.description,
        add_volume_ids: await resolveAll(c, 'volume', o.add),
        remove_volume_ids: await resolveAll(c, 'volume', o.remove),
      });
      return { body, table: one(body.group) };
    }));
  group.command('delete <group>').action(act(env, async (c, _o, [ref]) => ({ body: await c.deleteGroup(await resolve(c, 'group', ref)) })));
  group.command('snapshot <group>').description('take a group snapshot (all members at one instant)').requiredOption('--name <name>').option('--description <text>')
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.createGroupSnapshot(await resolve(c, 'group', ref), { name: o.name, description: o.description });
      return { body, table: one({ ...body.group_snapshot, snapshots: body.group_snapshot.snapshots.map((s) => s.id) }) };
    }));

  const gs = family(program, 'group-snapshot', 'group snapshots');
  const gsColumns = ['id', 'name', 'group_id', 'status', 'policy_id', 'created_at'];
  gs.command('list').option('--group <group>').action(act(env, async (c, o) => {
    const body = await c.listGroupSnapshots({ group_id: o.group === undefined ? undefined : await resolve(c, 'group', o.group) });
    return { body, table: rows(body.group_snapshots, gsColumns) };
  }));
  gs.command('show <group-snapshot>').action(act(env, async (c, _o, [ref]) => {
    const body = await c.getGroupSnapshot(await resolve(c, 'group snapshot', ref));
    return { body, table: one({ ...body.group_snapshot, snapshots: body.group_snapshot.snapshots.map((s) => s.id) }) };
  }));
  gs.command('delete <group-snapshot>').description('delete it and its members (a job)').addOption(waitOption())
    .action(act(env, async (c, o, [ref]) => jobResult(env, c, o, await c.deleteGroupSnapshot(await resolve(c, 'group snapshot', ref)))));
  gs.command('revert <group-snapshot>').description('revert every member (a job)').option('--force').addOption(waitOption())
    .action(act(env, async (c, o, [ref]) => jobResult(env, c, o, await c.revertGroupSnapshot(await resolve(c, 'group snapshot', ref), { force: o.force }))));
  gs.command('clone <group-snapshot>').description('a new group of clones (a job)').requiredOption('--name <name>').addOption(waitOption())
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.cloneGroupSnapshot(await resolve(c, 'group snapshot', ref), { name: o.name });
      if (o.wait !== true) return { body, table: one(body.group) };
      const job = await followJob(env, c, body.job);
      return { body: { job, group: (await c.getGroup(body.group.id)).group }, table: one(body.group) };
    }));
}

const retentionFlags = [
  ['keep-last', 'keep_last', 'keep the n newest'],
  ['hourly', 'hourly', 'the newest of each of the n most recent hours'],
  ['daily', 'daily', '… days'],
  ['weekly', 'weekly', '… ISO weeks'],
  ['monthly', 'monthly', '… months'],
  ['yearly', 'yearly', '… years'],
] as const;

function retentionOf(o: Options): Record<string, number> | undefined {
  const rules = Object.fromEntries(retentionFlags.filter(([, key]) => o[key === 'keep_last' ? 'keepLast' : key] !== undefined).map(([, key]) => [key, o[key === 'keep_last' ? 'keepLast' : key] as number]));
  return Object.keys(rules).length === 0 ? undefined : rules;
}

function policyOptions(command: Command): Command {
  for (const [flag, , help] of retentionFlags) command.option(`--${flag} <n>`, help, countArg);
  return command.option('--timezone <zone>', 'IANA time zone (default UTC)').option('--volume <volume>', 'a covered volume (repeat)', collect).option('--group <group>', 'a covered group (repeat)', collect);
}

export function policyCommands(program: Command, env: CliEnvironment): void {
  const policy = family(program, 'policy', 'snapshot policies');
  policy.command('list').action(act(env, async (c) => {
    const body = await c.listPolicies();
    return { body, table: rows(body.policies, ['id', 'name', 'cron', 'timezone', 'retention', 'next_due_at']) };
  }));
  policy.command('show <policy>').action(act(env, async (c, _o, [ref]) => {
    const body = await c.getPolicy(await resolve(c, 'policy', ref));
    return { body, table: one(body.policy) };
  }));
  policyOptions(policy.command('create <name>').description('snapshot volumes and groups on a schedule, pruned by retention rules').requiredOption('--cron <expression>', 'five fields, or six with seconds first'))
    .action(act(env, async (c, o, [name]) => {
      const body = await c.createPolicy({
        name,
        cron: o.cron,
        timezone: o.timezone,
        retention: retentionOf(o) ?? {},
        volume_ids: await resolveAll(c, 'volume', o.volume),
        group_ids: await resolveAll(c, 'group', o.group),
      });
      return { body, table: one(body.policy) };
    }));
  policyOptions(policy.command('update <policy>').option('--name <name>').option('--cron <expression>'))
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.updatePolicy(await resolve(c, 'policy', ref), {
        name: o.name,
        cron: o.cron,
        timezone: o.timezone,
        retention: retentionOf(o),
        volume_ids: await resolveAll(c, 'volume', o.volume),
        group_ids: await resolveAll(c, 'group', o.group),
      });
      return { body, table: one(body.policy) };
    }));
  policy.command('delete <policy>').action(act(env, async (c, _o, [ref]) => ({ body: await c.deletePolicy(await resolve(c, 'policy', ref)) })));
  policy.command('runs <policy>').description('what each due time took, pruned, kept back, skipped, and its failures').option('--limit <n>', 'page size', countArg)
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.policyRuns(await resolve(c, 'policy', ref), { limit: o.limit });
      const summary = body.runs.map((r) => ({ ...r, taken: r.taken.length, pruned: r.pruned.length, skipped: r.skipped.length, failures: r.failures.map((f) => f.code) }));
      return { body, table: rows(summary, ['due_at', 'status', 'taken', 'pruned', 'skipped', 'failures', 'missed_due_times']) };
    }));
}
