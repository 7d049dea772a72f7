/** `strata volume|snapshot|attach|detach|attachment|job …`. */
import { type Command, Option } from 'commander';
import { ApiError, type StrataClient } from '../client/index.js';
import { act, countArg, family, jobResult, sizeArg, waitOption } from './command.js';
import { type CliEnvironment, followJob, one, rows } from './context.js';
import { drawTree } from './format.js';
import { resolve } from './resolve.js';

const volumeColumns = ['id', 'name', 'size_bytes', 'status', 'group_id', 'created_at'];
const snapshotColumns = ['id', 'name', 'volume_id', 'status', 'policy_id', 'created_at'];

export function volumeCommands(program: Command, env: CliEnvironment): void {
  const volume = family(program, 'volume', 'volumes');
  volume.command('list').description('list volumes').option('--name <name>').option('--status <status>').option('--limit <n>', 'page size', countArg)
    .action(act(env, async (c, o) => {
      const body = await c.listVolumes({ name: o.name, status: o.status, limit: o.limit });
      return { body, table: rows(body.volumes, volumeColumns) };
    }));
  volume.command('show <volume>').description('show a volume (by name or id)')
    .action(act(env, async (c, _o, [ref]) => {
      const body = await c.getVolume(await resolve(c, 'volume', ref));
      return { body, table: one(body.volume) };
    }));
  volume.command('create <name>').description('create a volume, empty (--size) or from a snapshot (--from)')
    .option('--size <size>', 'e.g. 10GiB', sizeArg).option('--from <snapshot>', 'clone of this snapshot').option('--description <text>')
    .action(act(env, async (c, o, [name]) => {
      const source = o.from === undefined ? undefined : await resolve(c, 'snapshot', o.from);
      const body = await c.createVolume({ name, size_bytes: o.size, description: o.description, source_snapshot_id: source });
      return { body, table: one(body.volume) };
    }));
  volume.command('update <volume>').description('rename, redescribe or grow a volume').option('--name <name>').option('--size <size>', 'new size', sizeArg).option('--description <text>')
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.updateVolume(await resolve(c, 'volume', ref), { name: o.name, size_bytes: o.size, description: o.description });
      return { body, table: one(body.volume) };
    }));
  volume.command('delete <volume>').description('delete a volume (a job)').option('--cascade', 'its snapshots too').addOption(waitOption())
    .action(act(env, async (c, o, [ref]) => jobResult(env, c, o, await c.deleteVolume(await resolve(c, 'volume', ref), { cascade: o.cascade }))));
  volume.command('flatten <volume>').description('stop a clone reading through its source (a job)').addOption(waitOption())
    .action(act(env, async (c, o, [ref]) => jobResult(env, c, o, await c.flattenVolume(await resolve(c, 'volume', ref)))));
  volume.command('diff <volume>').description('byte ranges changed since a snapshot').option('--from <snapshot>')
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.diffVolume(await resolve(c, 'volume', ref), { from: o.from === undefined ? undefined : await resolve(c, 'snapshot', o.from) });
      return { body, table: rows(body.extents, ['offset', 'length']) };
    }));
}

export function snapshotCommands(program: Command, env: CliEnvironment): void {
  const snapshot = family(program, 'snapshot', 'snapshots');
  snapshot.command('list').description('list snapshots').option('--volume <volume>').option('--policy <policy>').option('--name <name>').option('--limit <n>', 'page size', countArg)
    .action(act(env, async (c, o) => {
      const volumeId = o.volume === undefined ? undefined : await resolve(c, 'volume', o.volume);
      const policyId = o.policy === undefined ? undefined : await resolve(c, 'policy', o.policy);
      const body = await c.listSnapshots({ volume_id: volumeId, policy_id: policyId, name: o.name, limit: o.limit });
      return { body, table: rows(body.snapshots, snapshotColumns) };
    }));
  snapshot.command('show <snapshot>').description('show a snapshot')
    .action(act(env, async (c, _o, [ref]) => {
      const body = await c.getSnapshot(await resolve(c, 'snapshot', ref));
      return { body, table: one(body.snapshot) };
    }));
  snapshot.command('create <volume>').description('snapshot a volume').requiredOption('--name <name>').option('--description <text>')
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.createSnapshot(await resolve(c, 'volume', ref), { name: o.name, description: o.description });
      return { body, table: one(body.snapshot) };
    }));
  snapshot.command('update <snapshot>').description('rename or redescribe').option('--name <name>').option('--description <text>')
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.updateSnapshot(await resolve(c, 'snapshot', ref), { name: o.name, description: o.description });
      return { body, table: one(body.snapshot) };
    }));
  snapshot.command('delete <snapshot>').description('delete a snapshot (a job)').addOption(waitOption())
    .action(act(env, async (c, o, [ref]) => jobResult(env, c, o, await c.deleteSnapshot(await resolve(c, 'snapshot', ref)))));
  snapshot.command('revert <snapshot>').description('revert its volume to it (a job)').option('--force', 'even while attached read-write').addOption(waitOption())
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.revertSnapshot(await resolve(c, 'snapshot', ref), { force: o.force });
      if (o.wait !== true) return { body, table: one(body.job) };
      const job = await followJob(env, c, body.job);
      return { body: { job }, table: one(job) };
    }));
  snapshot.command('clone <snapshot>').description('a new volume from a snapshot').requiredOption('--name <name>').option('--size <size>', 'larger size', sizeArg)
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.cloneSnapshot(await resolve(c, 'snapshot', ref), { name: o.name, size_bytes: o.size });
      return { body, table: one(body.volume) };
    }));
  snapshot.command('tree <volume>').description('the snapshot tree of a volume')
    .action(act(env, async (c, _o, [ref]) => {
      const body = await c.snapshotTree(await resolve(c, 'volume', ref));
      return { body, table: () => drawTree(body) };
    }));
  snapshot.command('diff <snapshot>').description('byte ranges that differ from --from (or from empty)').option('--from <snapshot>')
    .action(act(env, async (c, o, [ref]) => {
      const body = await c.diffSnapshot(await resolve(c, 'snapshot', ref), { from: o.from === undefined ? undefined : await resolve(c, 'snapshot', o.from) });
      return { body, table: rows(body.extents, ['offset', 'length']) };
    }));
}

/** A volume, else a snapshot, of that name or id. */
async function attachTarget(c: StrataClient, ref: string): Promise<{ kind: 'volume' | 'snapshot'; id: string }> {
  try {
    const id = await resolve(c, 'volume', ref);
    await c.getVolume(id);
    return { kind: 'volume', id };
  } catch (error) {
    if (!(error instanceof ApiError && error.code === 'NOT_FOUND')) throw error;
    return { kind: 'snapshot', id: await resolve(c, 'snapshot', ref) };
  }
}

export function attachmentCommands(program: Command, env: CliEnvironment): void {
  program.command('attach <volume-or-snapshot>').description('export a volume (read-write) or snapshot (read-only) over NBD and print its URI')
    .addOption(new Option('--mode <mode>', 'a volume attachment mode').choices(['rw', 'ro']))
    .action(act(env, async (c, o, [ref]) => {
      const target = await attachTarget(c, ref);
      const body = target.kind === 'volume' ? await c.attachVolume(target.id, { mode: o.mode }) : await c.attachSnapshot(target.id);
      return { body, table: () => body.attachment.uri ?? '(hidden: a read-write export name is not shown to readers)' };
    }));
  program.command('detach <attachment>').description('end an attachment (its NBD clients are disconnected)')
    .action(act(env, async (c, _o, [id]) => ({ body: await c.deleteAttachment(id) })));
  const attachment = family(program, 'attachment', 'NBD attachments');
  attachment.command('list').description('list attachments')
    .action(act(env, async (c) => {
      const body = await c.listAttachments();
      return { body, table: rows(body.attachments, ['id', 'mode', 'volume_id', 'snapshot_id', 'uri']) };
    }));
  attachment.command('show <attachment>').action(act(env, async (c, _o, [id]) => {
    const body = await c.getAttachment(id);
    return { body, table: one(body.attachment) };
  }));
  attachment.command('delete <attachment>').action(act(env, async (c, _o, [id]) => ({ body: await c.deleteAttachment(id) })));

  const job = family(program, 'job', 'jobs (deletes, reverts, flattens, group operations)');
  job.command('list').option('--status <status>').option('--limit <n>', 'page size', countArg)
    .action(act(env, async (c, o) => {
      const body = await c.listJobs({ status: o.status, limit: o.limit });
      return { body, table: rows(body.jobs, ['id', 'kind', 'status', 'progress', 'created_at']) };
    }));
  job.command('show <job>').action(act(env, async (c, _o, [id]) => {
    const body = await c.getJob(id);
    return { body, table: one(body.job) };
  }));
  job.command('wait <job>').description('wait for a job to end (a progress bar on a terminal); exit 1 if it failed')
    .action(act(env, async (c, _o, [id]) => {
      const { job: current } = await c.getJob(id);
      const done = await followJob(env, c, current);
      return { body: { job: done }, table: one(done) };
    }));
}
