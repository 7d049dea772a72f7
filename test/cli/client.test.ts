/**
 * The `strata` CLI against a real `strata serve`: login (token saved 0600 under
 * XDG_CONFIG_HOME), every command family with `--output json` parsed as the API's body, names
 * and ids, the snapshot tree, attach printing the NBD URI, jobs followed with --wait, the
 * progress bar seen on a pseudo-terminal (`script` from util-linux), error codes and exit
 * statuses, and bash completion.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { StrataClient } from '../../src/client/index.js';
import { have, mainJs, type Server, startServe, stopServe } from '../serve/process.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('strata CLI against strata serve', () => {
  let dir: string;
  let server: Server;
  const password = 'cli-admin-password';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'strata-cli-'));
    server = await startServe(join(dir, 'data'), password);
  });
  after(async () => {
    if (server !== undefined) await stopServe(server);
    rmSync(dir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '', HOME: dir, XDG_CONFIG_HOME: join(dir, 'config'), ...extra });
  const cli = (args: string[], extra: Record<string, string> = {}): Promise<Run> =>
    new Promise((resolve) => {
      execFile(process.execPath, [mainJs, ...args], { env: env(extra), timeout: 30_000 }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
      });
    });
  /** Runs a command that must succeed and answers JSON; the parsed body. */
  const json = async (...args: string[]): Promise<any> => {
    const r = await cli([...args, '--output', 'json']);
    assert.equal(r.code, 0, `strata ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    return r.stdout.trim() === '' ? null : JSON.parse(r.stdout);
  };

  test('login saves the URL and token readable by the user only, and later commands use them', async () => {
    const r = await cli(['login', server.api, '--name', 'admin'], { STRATA_PASSWORD: password });
    assert.equal(r.code, 0, r.stderr);
    const path = join(dir, 'config', 'strata', 'credentials.json');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'config', 'strata')).mode & 0o777, 0o700);
    const me = await json('whoami');
    assert.equal(me.user.name, 'admin');
    const wrong = await cli(['login', server.api, '--name', 'admin'], { STRATA_PASSWORD: 'not-the-password' });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^strata: UNAUTHENTICATED: /);
  });

  test('projects, users and quotas', async () => {
    const project = (await json('project', 'create', 'cli-team')).project;
    assert.equal((await json('project', 'show', 'cli-team')).project.id, project.id, 'by name');
    assert.ok((await json('project', 'list')).projects.some((p: { id: string }) => p.id === project.id));
    const created = await cli(['user', 'create', 'cli-user', '--project', 'cli-team', '--role', 'reader', '--output', 'json'], { STRATA_PASSWORD: 'cli-user-password' });
    assert.equal(created.code, 0, created.stderr);
    assert.equal(JSON.parse(created.stdout).user.role, 'reader');
    assert.equal((await json('user', 'update', 'cli-user', '--role', 'member')).user.role, 'member');
    assert.equal((await json('quota', 'set', 'cli-team', '--volumes', '3', '--snapshots', '-1')).quotas.limits.volumes, 3);
    assert.equal((await json('quota', 'show', project.id)).quotas.limits.snapshots, -1);
    assert.equal(await json('user', 'delete', 'cli-user'), null);
    assert.equal(await json('project', 'delete', 'cli-team'), null);
  });

  test('volumes and snapshots by name, the tree drawn, diffs, clone, revert and delete with --wait', async () => {
    const volume = (await json('volume', 'create', 'cli-db', '--size', '8MiB')).volume;
    assert.equal(volume.size_bytes, 8 * 1024 * 1024);
    assert.equal((await json('volume', 'update', 'cli-db', '--size', '16MiB')).volume.size_bytes, 16 * 1024 * 1024);
    const s1 = (await json('snapshot', 'create', 'cli-db', '--name', 'cli-s1')).snapshot;
    const s2 = (await json('snapshot', 'create', volume.id, '--name', 'cli-s2')).snapshot;
    assert.deepEqual((await json('snapshot', 'list', '--volume', 'cli-db')).snapshots.map((s: { id: string }) => s.id), [s1.id, s2.id]);
    const tree = await cli(['snapshot', 'tree', 'cli-db', '--output', 'table']);
    assert.equal(tree.code, 0, tree.stderr);
    assert.match(tree.stdout, new RegExp(`^cli-s1 \\(${s1.id}\\) available\\n└── cli-s2 \\(${s2.id}\\) available\\n$`), tree.stdout);
    assert.equal((await json('snapshot', 'tree', 'cli-db')).root_ids[0], s1.id, 'json is the API body');
    assert.deepEqual((await json('snapshot', 'diff', 'cli-s2', '--from', 'cli-s1')).extents, []);
    assert.deepEqual((await json('volume', 'diff', 'cli-db')).extents, []);
    const clone = (await json('snapshot', 'clone', 'cli-s1', '--name', 'cli-clone')).volume;
    assert.equal(clone.source_snapshot_id, s1.id);
    const flattened = await json('volume', 'flatten', 'cli-clone', '--wait');
    assert.equal(flattened.job.status, 'succeeded');
    const reverted = await json('snapshot', 'revert', 'cli-s1', '--wait');
    assert.equal(reverted.job.status, 'succeeded');
    const deleted = await json('snapshot', 'delete', 'cli-s2', '--wait');
    assert.equal(deleted.job.kind, 'delete-snapshot');
    assert.equal(deleted.job.status, 'succeeded');
    const job = await json('volume', 'delete', 'cli-clone');
    assert.equal((await json('job', 'wait', job.job.id)).job.status, 'succeeded');
    assert.ok((await json('job', 'list')).jobs.some((j: { id: string }) => j.id === job.job.id));
    assert.equal((await json('job', 'show', job.job.id)).job.kind, 'delete-volume');
  });

  test('attach prints the NBD URI; detach ends it', async () => {
    await json('volume', 'create', 'cli-attach', '--size', '1MiB');
    const r = await cli(['attach', 'cli-attach', '--output', 'table']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^nbd:\/\/127\.0\.0\.1:\d+\/\S+\n$/);
    const listed = (await json('attachment', 'list')).attachments.find((a: { uri: string }) => a.uri === r.stdout.trim());
    assert.ok(listed, 'the printed URI is the attachment');
    if (have('nbdinfo')) {
      const info = await new Promise<string>((resolve) => execFile('nbdinfo', ['--size', r.stdout.trim()], (_e, out) => resolve(out.trim())));
      assert.equal(info, String(1024 * 1024));
    }
    assert.equal(await json('detach', listed.id), null);
    await json('snapshot', 'create', 'cli-attach', '--name', 'cli-attach-snap');
    assert.equal((await json('attach', 'cli-attach-snap')).attachment.mode, 'ro', 'a snapshot attaches read-only');
  });

  test('groups, group snapshots and policies', async () => {
    await json('volume', 'create', 'cli-g1', '--size', '1MiB');
    await json('volume', 'create', 'cli-g2', '--size', '1MiB');
    const group = (await json('group', 'create', 'cli-group', '--volume', 'cli-g1', '--volume', 'cli-g2')).group;
    assert.equal(group.volume_ids.length, 2);
    const gs = (await json('group', 'snapshot', 'cli-group', '--name', 'cli-gs')).group_snapshot;
    assert.equal(gs.snapshots.length, 2);
    assert.equal((await json('group-snapshot', 'list', '--group', 'cli-group')).group_snapshots[0].id, gs.id);
    const cloned = await json('group-snapshot', 'clone', 'cli-gs', '--name', 'cli-group-copy', '--wait');
    assert.equal(cloned.job.status, 'succeeded');
    assert.equal((await json('group-snapshot', 'delete', 'cli-gs', '--wait')).job.status, 'succeeded');

    const policy = (await json('policy', 'create', 'cli-hourly', '--cron', '0 * * * *', '--timezone', 'Europe/Paris', '--hourly', '24', '--daily', '7', '--volume', 'cli-g1', '--group', 'cli-group')).policy;
    assert.deepEqual(policy.retention, { hourly: 24, daily: 7 });
    assert.equal(policy.group_ids[0], group.id);
    assert.equal((await json('policy', 'update', 'cli-hourly', '--keep-last', '3')).policy.retention.keep_last, 3);
    assert.deepEqual((await json('policy', 'runs', 'cli-hourly')).runs, []);
    assert.ok((await json('policy', 'list')).policies.some((p: { id: string }) => p.id === policy.id));
    assert.equal(await json('policy', 'delete', 'cli-hourly'), null);
  });

  test('strata serve runs a policy on its own clock: each second a snapshot, the older ones pruned', async () => {
    const client = new StrataClient({ url: server.api, token: server.token });
    const volume = (await client.createVolume({ name: 'cli-every-second', size_bytes: 1024 * 1024 })).volume;
    const policy = (await json('policy', 'create', 'cli-every-second', '--cron', '* * * * * *', '--keep-last', '2', '--volume', volume.id)).policy;
    const deadline = Date.now() + 30_000;
    let runs = (await client.policyRuns(policy.id)).runs;
    while (runs.filter((r) => r.status === 'succeeded').length < 4 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      runs = (await client.policyRuns(policy.id)).runs;
    }
    assert.equal(await json('policy', 'delete', policy.id), null);
    const succeeded = runs.filter((r) => r.status === 'succeeded');
    assert.ok(succeeded.length >= 4, `runs within 30 s: ${JSON.stringify(runs)}`);
    assert.ok(succeeded.every((r) => r.taken.length === 1), JSON.stringify(succeeded));
    assert.equal(new Set(runs.map((r) => r.due_at)).size, runs.length, 'each due time once');
    await new Promise((resolve) => setTimeout(resolve, 1500)); // a run in flight when the policy was deleted
    const left = (await json('snapshot', 'list', '--volume', volume.id)).snapshots.filter((s: { policy_id: string; status: string }) => s.policy_id === policy.id && s.status === 'available');
    assert.ok(left.length >= 2 && left.length <= 3, `keep_last 2 (and at most the one run after it): ${JSON.stringify(left.map((s: { name: string }) => s.name))}`);
  });

  test('errors: the registered code on stderr and exit 1; usage errors exit 2', async () => {
    const missing = await cli(['volume', 'show', 'no-such-volume']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'strata: NOT_FOUND: no volume is named "no-such-volume"\n');
    const refused = await cli(['policy', 'create', 'bad', '--cron', '* * *', '--keep-last', '1']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^strata: INVALID_ARGUMENT: .*\(field cron\)\n$/);
    for (const args of [['volume', 'frobnicate'], ['volume', 'create', 'x', '--size', 'ten'], ['volume', 'list', '--output', 'xml'], ['snapshot', 'create', 'cli-db']]) {
      const usage = await cli(args);
      assert.equal(usage.code, 2, `strata ${args.join(' ')}: ${usage.stderr}`);
      assert.ok(usage.stderr.length > 0);
    }
    const nowhere = await cli(['volume', 'list', '--url', 'http://127.0.0.1:1']);
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.stderr, /^strata: UNAVAILABLE: /);
  });

  test('a job followed on a terminal draws a progress bar', { skip: have('script') ? false : 'script (util-linux) is not installed' }, async () => {
    const volume = (await json('volume', 'create', 'cli-progress', '--size', '4MiB')).volume;
    const snapshot = (await json('snapshot', 'create', volume.id, '--name', 'cli-progress-snap')).snapshot;
    const command = [process.execPath, mainJs, 'snapshot', 'delete', snapshot.id, '--wait'].map((a) => `'${a}'`).join(' ');
    const r = await new Promise<Run>((resolve) =>
      execFile('script', ['-qec', command, '/dev/null'], { env: env({ TERM: 'xterm' }), timeout: 30_000 }, (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr }),
      ),
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /delete-snapshot \[[█░]+\] 100% \| succeeded/, JSON.stringify(r.stdout));
    assert.match(r.stdout, /status: +succeeded/, 'a terminal gets the table form');
  });

  test('bash completion completes families and verbs; zsh gets a compdef script', async () => {
    const script = await cli(['completion', 'bash']);
    assert.equal(script.code, 0);
    const complete = (words: string) =>
      new Promise<string>((resolve) =>
        execFile('bash', ['-c', `${script.stdout}\nCOMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _strata; echo "\${COMPREPLY[@]}"`], (_e, out) => resolve(out.trim())),
      );
    assert.equal(await complete('strata vol'), 'volume');
    assert.deepEqual((await complete('strata policy r')).split(' '), ['runs']);
    const zsh = await cli(['completion', 'zsh']);
    assert.match(zsh.stdout, /^#compdef strata\n/);
    assert.match(zsh.stdout, /policy\) compadd -- list show create update delete runs/);
    assert.equal((await cli(['completion', 'fish'])).code, 2);
  });

  test('logout revokes the saved token and forgets it (run last)', async () => {
    const saved = JSON.parse(readFileSync(join(dir, 'config', 'strata', 'credentials.json'), 'utf8')) as { token: string };
    assert.equal((await cli(['logout'])).code, 0);
    assert.equal(existsSync(join(dir, 'config', 'strata', 'credentials.json')), false);
    const revoked = await cli(['whoami', '--url', server.api], { STRATA_TOKEN: saved.token });
    assert.equal(revoked.code, 1);
    assert.match(revoked.stderr, /^strata: UNAUTHENTICATED: /);
    const nowhere = await cli(['volume', 'list']);
    assert.equal(nowhere.code, 2, 'no service to talk to is a usage error');
    assert.match(nowhere.stderr, /STRATA_URL/);
  });
});
