/**
 * End-to-end tests of the control plane against a real `strata serve` process: group snapshot
 * crash consistency under concurrent writes (read back over NBD with test/serve/nbd-client.ts),
 * revert, clone, diff, group revert and group clone, and a restart with persisted attachments
 * and a job interrupted by kill -9. Tests that need qemu-io or qemu-img skip, saying why, when
 * the tool is missing.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { NbdClient } from './nbd-client.js';
import { backendKinds, diffMayName, rbdSkipReason } from '../support/backends.js';
import { api, backendFlags, have, mainJs, type Server, startServe as startProcess, stopServe } from './process.js';

const run = promisify(execFile);
const adminPassword = 'control-plane-test-admin';
const KiB = 1024;
const MiB = 1024 * 1024;

const haveQemuIo = have('qemu-io');
const haveQemuImg = have('qemu-img');

// ---------------------------------------------------------------------------------------------
// A server process and its API.

/** `count` distinct TCP ports that were free a moment ago (for a server that must come back on the same ports). */
async function freePorts(count: number): Promise<number[]> {
  const probes = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<net.Server>((resolve, reject) => {
        const probe = net.createServer();
        probe.once('error', reject);
        probe.listen(0, '127.0.0.1', () => resolve(probe));
      }),
    ),
  );
  const ports = probes.map((probe) => (probe.address() as net.AddressInfo).port);
  await Promise.all(probes.map((probe) => new Promise((resolve) => probe.close(resolve))));
  return ports;
}

interface ApiAnswer<T> {
  status: number;
  body: T;
}

interface ErrorBody {
  error: { code: string; message: string };
}

function expectStatus<T>(answer: ApiAnswer<T>, status: number, what: string): T {
  assert.equal(answer.status, status, `${what}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

interface Volume {
  id: string;
  status: string;
  size_bytes: number;
  source_snapshot_id: string | null;
  group_id: string | null;
}
interface Snapshot {
  id: string;
  volume_id: string;
  status: string;
  group_snapshot_id: string | null;
}
interface Attachment {
  id: string;
  uri: string;
}
interface Job {
  id: string;
  kind: string;
  status: 'queued' | 'running' | 'succeeded' | 'failed';
  error?: { code: string; message: string };
  finished_at: string | null;
}
interface GroupSnapshot {
  id: string;
  status: string;
  fence_held_ms: number | null;
  snapshots: Snapshot[];
}
interface Extent {
  offset: number;
  length: number;
}

async function createVolume(server: Server, sizeBytes: number, name = 'cp-test'): Promise<string> {
  return expectStatus(await api<{ volume: Volume }>(server, 'POST', '/api/v1/volumes', { name, size_bytes: sizeBytes }), 201, 'create volume').volume.id;
}

async function getVolume(server: Server, id: string): Promise<Volume> {
  return expectStatus(await api<{ volume: Volume }>(server, 'GET', `/api/v1/volumes/${id}`), 200, 'show volume').volume;
}

/** Creates a snapshot (201, or 202 while it is being created) and returns its id once available. */
async function snapshot(server: Server, volumeId: string, name = 'snap'): Promise<string> {
  const answer = await api<{ snapshot: Snapshot }>(server, 'POST', `/api/v1/volumes/${volumeId}/snapshots`, { name });
  assert.ok(answer.status === 201 || answer.status === 202, `create snapshot: ${answer.status} ${JSON.stringify(answer.body)}`);
  let { snapshot: created } = answer.body;
  const deadline = Date.now() + 20_000;
  while (created.status === 'creating' && Date.now() < deadline) {
    await sleep(10);
    created = expectStatus(await api<{ snapshot: Snapshot }>(server, 'GET', `/api/v1/snapshots/${created.id}`), 200, 'show snapshot').snapshot;
  }
  assert.equal(created.status, 'available', `snapshot ${created.id} is ${created.status}`);
  return created.id;
}

/**
 * Creates a group snapshot (201, or 202 while it is being created) and waits until it is no
 * longer creating; `onSettled` runs in the same turn as the answer that showed it settled.
 */
async function groupSnapshot(server: Server, groupId: string, name: string, onSettled: () => void = () => undefined): Promise<GroupSnapshot> {
  const answer = await api<{ group_snapshot: GroupSnapshot }>(server, 'POST', `/api/v1/groups/${groupId}/snapshots`, { name });
  assert.ok(answer.status === 201 || answer.status === 202, `create group snapshot: ${answer.status} ${JSON.stringify(answer.body)}`);
  let { group_snapshot: created } = answer.body;
  const deadline = Date.now() + 20_000;
  while (created.status === 'creating' && Date.now() < deadline) {
    await sleep(10);
    created = expectStatus(await api<{ group_snapshot: GroupSnapshot }>(server, 'GET', `/api/v1/group-snapshots/${created.id}`), 200, 'show group snapshot').group_snapshot;
  }
  onSettled();
  assert.equal(created.status, 'available', `group snapshot ${created.id} is ${created.status}`);
  return created;
}

async function attach(server: Server, kind: 'volumes' | 'snapshots', id: string, mode?: 'rw' | 'ro'): Promise<Attachment> {
  const answer = await api<{ attachment: Attachment }>(server, 'POST', `/api/v1/${kind}/${id}/attachments`, mode === undefined ? {} : { mode });
  return expectStatus(answer, 201, `attach ${kind} ${id}`).attachment;
}

async function detach(server: Server, attachmentId: string): Promise<void> {
  expectStatus(await api(server, 'DELETE', `/api/v1/attachments/${attachmentId}`), 204, 'end attachment');
}

/** Polls a job until it ends; fails if it is still queued or running after `timeoutMs`. */
async function waitJob(server: Server, jobId: string, timeoutMs = 20_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  let job: Job | undefined;
  while (Date.now() < deadline) {
    job = expectStatus(await api<{ job: Job }>(server, 'GET', `/api/v1/jobs/${jobId}`), 200, 'show job').job;
    if (job.status === 'succeeded' || job.status === 'failed') return job;
    await sleep(25);
  }
  assert.fail(`job ${jobId} did not finish in ${timeoutMs} ms: ${JSON.stringify(job)}`);
}

async function expectJobSucceeded(server: Server, answer: ApiAnswer<{ job: Job }>, what: string): Promise<Job> {
  const { job } = expectStatus(answer, 202, what);
  const done = await waitJob(server, job.id);
  assert.equal(done.status, 'succeeded', `${what}: job ${job.id} ended ${JSON.stringify(done)}`);
  return done;
}

async function listAll<T>(server: Server, path: string, key: string): Promise<T[]> {
  const items: T[] = [];
  let token: string | null = null;
  do {
    const query: string = token === null ? '?limit=1000' : `?limit=1000&page_token=${encodeURIComponent(token)}`;
    const page = expectStatus(await api<Record<string, unknown>>(server, 'GET', `${path}${query}`), 200, `list ${path}`);
    items.push(...(page[key] as T[]));
    token = page.next_page_token as string | null;
  } while (token !== null);
  return items;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// Data helpers.

/** Runs qemu-io with `-c` commands and fails on any error or pattern mismatch. */
async function qemuIo(uri: string, commands: string[], options: { readOnly?: boolean } = {}): Promise<string> {
  const args = [...(options.readOnly === true ? ['-r'] : []), '-f', 'raw', uri, ...commands.flatMap((c) => ['-c', c])];
  const { stdout, stderr } = await run('qemu-io', args).catch((error: { stdout?: string; stderr?: string; message: string }) => {
    assert.fail(`qemu-io ${args.join(' ')} failed: ${error.message}\n${error.stdout ?? ''}${error.stderr ?? ''}`);
  });
  assert.doesNotMatch(stdout + stderr, /verification failed|error|failed/i, `qemu-io ${commands.join('; ')}: ${stdout}${stderr}`);
  return stdout;
}

/** qemu-img compare's exit code: 0 identical, 1 different. */
async function qemuImgCompare(a: string, b: string): Promise<{ code: number; output: string }> {
  return run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', a, b]).then(
    ({ stdout }) => ({ code: 0, output: stdout }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: typeof error.code === 'number' ? error.code : -1, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
  );
}

/** The whole export, read with pipelined 4 MiB requests. */
async function readAll(client: NbdClient): Promise<Buffer> {
  const pieceBytes = Math.min(4 * MiB, client.maxPayloadBytes);
  const reads: Promise<Buffer>[] = [];
  for (let offset = 0; offset < client.sizeBytes; offset += pieceBytes) reads.push(client.read(offset, Math.min(pieceBytes, client.sizeBytes - offset)));
  return Buffer.concat(await Promise.all(reads));
}

function filled(lengthBytes: number, byte: number): Buffer {
  return Buffer.alloc(lengthBytes, byte);
}

/** Asserts that `data[offset, offset+length)` is all `byte`. */
function expectBytes(data: Buffer, offset: number, length: number, byte: number, what: string): void {
  const region = data.subarray(offset, offset + length);
  const bad = region.findIndex((b) => b !== byte);
  assert.equal(bad, -1, `${what}: byte ${offset + bad} is 0x${region[bad]?.toString(16)}, expected 0x${byte.toString(16)}`);
}

/** Sorts and merges touching or overlapping extents. */
function normalize(extents: Extent[]): Extent[] {
  const sorted = [...extents].filter((e) => e.length > 0).sort((x, y) => x.offset - y.offset);
  const merged: Extent[] = [];
  for (const e of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && e.offset <= last.offset + last.length) last.length = Math.max(last.length, e.offset + e.length - last.offset);
    else merged.push({ ...e });
  }
  return merged;
}

/** Byte ranges rounded out to `blockBytes` (clipped to the volume), merged. */
function aligned(ranges: Extent[], blockBytes: number, sizeBytes: number): Extent[] {
  return normalize(
    ranges.map(({ offset, length }) => {
      const start = Math.floor(offset / blockBytes) * blockBytes;
      const end = Math.min(Math.ceil((offset + length) / blockBytes) * blockBytes, sizeBytes);
      return { offset: start, length: end - start };
    }),
  );
}

// ---------------------------------------------------------------------------------------------

for (const backend of backendKinds()) {
  describe(`strata serve control plane, end to end on ${backend}`, () => {
    const flags = backendFlags(backend, 'control');
    const startServe = (dataDir: string, ports: { api?: number; nbd?: number } = {}) => startProcess(dataDir, adminPassword, ports, flags);
    let dataDir: string;
    let server: Server;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'strata-cp-'));
      server = await startServe(dataDir);
    });

    after(async () => {
      if (server !== undefined) await stopServe(server);
      rmSync(dataDir, { recursive: true, force: true });
    });

    test('group snapshots are crash-consistent: every member holds the same prefix of the acknowledged writes', { timeout: 60_000 }, async (t) => {
      // Every write waits for the one before it: RBD's round trip per write makes 16 MiB take
      // over a minute there, so it runs the same check over 2 MiB (1024 ordered writes).
      const volumeBytes = backend === 'local' ? 16 * MiB : 2 * MiB;
      const slotBytes = 4 * KiB;
      const slotsPerVolume = volumeBytes / slotBytes;
      // Write k goes to A when odd, B when even, at slot ⌊(k-1)/2⌋ of its volume: no slot is
      // written twice, so slot j of A holds exactly write 2j+1 or zeroes, slot j of B 2j+2 or zeroes.
      const writes = 2 * slotsPerVolume;
      const groupSnapshots = 5;
      const offsetOf = (k: number) => Math.floor((k - 1) / 2) * slotBytes;
      const stamp = (k: number) => {
        const block = Buffer.alloc(slotBytes);
        for (let at = 0; at < slotBytes; at += 8) block.writeBigUInt64LE(BigInt(k), at);
        return block;
      };

      const a = await createVolume(server, volumeBytes, 'cc-a');
      const b = await createVolume(server, volumeBytes, 'cc-b');
      const group = expectStatus(await api<{ group: { id: string; volume_ids: string[] } }>(server, 'POST', '/api/v1/groups', { name: 'cc', volume_ids: [a, b] }), 201, 'create group').group;
      assert.deepEqual([...group.volume_ids].sort(), [a, b].sort());
      const [attachA, attachB] = [await attach(server, 'volumes', a), await attach(server, 'volumes', b)];
      const [writerA, writerB] = await Promise.all([NbdClient.connect(attachA.uri), NbdClient.connect(attachB.uri)]);
      assert.equal(writerA.sizeBytes, volumeBytes);

      // Writes are totally ordered by acknowledgement: write k is sent only after write k-1 (to
      // either volume) was acknowledged. Two writers, one connection per volume, take turns.
      let issued = 0;
      let acked = 0;
      const waiters: Array<{ n: number; resolve: () => void }> = [];
      const untilAcked = (n: number) =>
        new Promise<void>((resolve) => {
          if (acked >= n) resolve();
          else waiters.push({ n, resolve });
        });
      const acknowledge = (k: number) => {
        acked = k;
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i].n <= k) {
            waiters[i].resolve();
            waiters.splice(i, 1);
          }
        }
      };
      const writer = async (client: NbdClient, first: number) => {
        for (let k = first; k <= writes; k += 2) {
          await untilAcked(k - 1);
          issued = k;
          await client.write(offsetOf(k), stamp(k), { fua: k % 64 === 0 });
          acknowledge(k);
        }
      };

      // Group snapshots at random points of the write sequence, while the writers run.
      const taken: Array<{ id: string; ackedBefore: number; issuedAtAnswer: number; snapshot: GroupSnapshot }> = [];
      const targets = Array.from({ length: groupSnapshots }, () => Math.floor(writes * (0.05 + 0.8 * Math.random()))).sort((x, y) => x - y);
      const snapshotter = async () => {
        for (const [i, target] of targets.entries()) {
          await untilAcked(target);
          const ackedBefore = acked;
          let issuedAtAnswer = 0;
          const created = await groupSnapshot(server, group.id, `cc-${i}`, () => (issuedAtAnswer = issued));
          taken.push({ id: created.id, ackedBefore, issuedAtAnswer, snapshot: created });
        }
      };
      const started = performance.now();
      await Promise.all([writer(writerA, 1), writer(writerB, 2), snapshotter()]);
      const elapsedMs = performance.now() - started;
      assert.equal(acked, writes);
      await Promise.all([writerA.flush(), writerB.flush()]);
      t.diagnostic(`${writes} ordered writes and ${groupSnapshots} group snapshots in ${elapsedMs.toFixed(0)} ms`);

      // The live volumes hold every write.
      const expectVolume = (data: Buffer, parity: 1 | 2, label: string) => {
        const present: number[] = [];
        for (let slot = 0; slot < slotsPerVolume; slot++) {
          const k = 2 * slot + parity;
          const block = data.subarray(slot * slotBytes, (slot + 1) * slotBytes);
          const value = block.readBigUInt64LE(0);
          if (value === 0n) {
            assert.ok(block.every((byte) => byte === 0), `${label}: slot ${slot} is partly written`);
          } else {
            assert.ok(block.equals(stamp(k)), `${label}: slot ${slot} holds ${value} (torn or misplaced), expected write ${k}`);
            present.push(k);
          }
        }
        return { present: new Set(present), max: present.length === 0 ? 0 : Math.max(...present) };
      };
      const liveA = expectVolume(await readAll(writerA), 1, 'live A');
      const liveB = expectVolume(await readAll(writerB), 2, 'live B');
      assert.equal(liveA.present.size + liveB.present.size, writes, 'the live volumes hold every acknowledged write');
      await Promise.all([writerA.disconnect(), writerB.disconnect()]);

      for (const { id, ackedBefore, issuedAtAnswer, snapshot: created } of taken) {
        const shown = expectStatus(await api<{ group_snapshot: GroupSnapshot }>(server, 'GET', `/api/v1/group-snapshots/${id}`), 200, 'show group snapshot').group_snapshot;
        assert.equal(shown.status, 'available', `group snapshot ${id} is ${shown.status}`);
        assert.equal(shown.snapshots.length, 2, `group snapshot ${id} has ${shown.snapshots.length} members`);
        const memberA = shown.snapshots.find((s) => s.volume_id === a);
        const memberB = shown.snapshots.find((s) => s.volume_id === b);
        assert.ok(memberA !== undefined && memberB !== undefined, `group snapshot ${id} members: ${JSON.stringify(shown.snapshots)}`);
        for (const member of shown.snapshots) assert.equal(member.group_snapshot_id, id);
        const [roA, roB] = [await attach(server, 'snapshots', memberA.id), await attach(server, 'snapshots', memberB.id)];
        const [readerA, readerB] = await Promise.all([NbdClient.connect(roA.uri), NbdClient.connect(roB.uri)]);
        assert.ok(readerA.readOnly && readerB.readOnly, 'snapshot exports are read-only');
        const label = `group snapshot ${id} (members ${memberA.id}, ${memberB.id})`;
        const inA = expectVolume(await readAll(readerA), 1, `${label} A`);
        const inB = expectVolume(await readAll(readerB), 2, `${label} B`);
        await Promise.all([readerA.disconnect(), readerB.disconnect()]);
        await detach(server, roA.id);
        await detach(server, roB.id);
        const m = Math.max(inA.max, inB.max);
        const missing: number[] = [];
        for (let k = 1; k <= m; k++) if (!(k % 2 === 1 ? inA : inB).present.has(k)) missing.push(k);
        const facts = `${label}: maxA=${inA.max} maxB=${inB.max} m=${m}; writes acknowledged before the request=${ackedBefore}, issued when it was answered=${issuedAtAnswer}; fence held ${created.fence_held_ms} ms`;
        t.diagnostic(facts);
        assert.deepEqual(missing.slice(0, 20), [], `${facts}; writes ≤ m missing from their member (first 20): ${missing.slice(0, 20).join(', ')} (${missing.length} in all)`);
        assert.ok(m >= ackedBefore, `${facts}: a write acknowledged before the snapshot was requested is missing`);
        assert.ok(m <= issuedAtAnswer, `${facts}: holds a write sent after the snapshot was answered`);
      }
      await detach(server, attachA.id);
      await detach(server, attachB.id);
    });

    test('revert: refused with 409 while attached read-write, a job after detaching, and forced while attached', { skip: !haveQemuIo && 'qemu-io is not installed', timeout: 60_000 }, async () => {
      const volume = await createVolume(server, 8 * MiB, 'revert');
      const live = await attach(server, 'volumes', volume);
      await qemuIo(live.uri, ['write -P 0x11 0 1M', 'write -P 0x12 2M 64k', 'flush']);
      const snap = await snapshot(server, volume, 'p1');
      await qemuIo(live.uri, ['write -P 0x22 0 1M', 'write -P 0x23 4M 64k', 'flush']);
      assert.equal((await getVolume(server, volume)).status, 'in-use');

      const refused = await api<ErrorBody>(server, 'POST', `/api/v1/snapshots/${snap}/revert`, {});
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      assert.equal(refused.body.error.code, 'VOLUME_IN_USE');
      assert.equal((await getVolume(server, volume)).status, 'in-use', 'a refused revert leaves the volume as it was');
      await qemuIo(live.uri, ['read -P 0x22 0 1M'], { readOnly: true });

      await detach(server, live.id);
      assert.equal((await getVolume(server, volume)).status, 'available');
      const reverting = await api<{ job: Job; volume: Volume }>(server, 'POST', `/api/v1/snapshots/${snap}/revert`, {});
      const job = await expectJobSucceeded(server, reverting, 'revert');
      assert.equal(job.kind, 'revert-snapshot');
      assert.equal((await getVolume(server, volume)).status, 'available', 'a reverted detached volume is available');
      const again = await attach(server, 'volumes', volume);
      await qemuIo(again.uri, ['read -P 0x11 0 1M', 'read -P 0x12 2M 64k', 'read -P 0 4M 64k'], { readOnly: true });

      // Forced, with a client connected through the read-write attachment.
      await qemuIo(again.uri, ['write -P 0x33 0 1M', 'flush']);
      const client = await NbdClient.connect(again.uri);
      expectBytes(await client.read(0, MiB), 0, MiB, 0x33, 'before the forced revert');
      const stillRefused = await api<ErrorBody>(server, 'POST', `/api/v1/snapshots/${snap}/revert`, { force: false });
      assert.equal(stillRefused.status, 409, JSON.stringify(stillRefused.body));
      await expectJobSucceeded(server, await api(server, 'POST', `/api/v1/snapshots/${snap}/revert`, { force: true }), 'forced revert');
      expectBytes(await client.read(0, MiB), 0, MiB, 0x11, 'a connected client after the forced revert');
      await client.disconnect();
      assert.equal((await getVolume(server, volume)).status, 'in-use', 'a reverted volume with a read-write attachment is in-use again');
      await qemuIo(again.uri, ['read -P 0x11 0 1M', 'read -P 0x12 2M 64k', 'read -P 0 4M 64k'], { readOnly: true });
      await detach(server, again.id);
    });

    test('clone: a new volume with the snapshot\'s data; writes to it leave the snapshot alone', { skip: !(haveQemuIo && haveQemuImg) && 'qemu-io or qemu-img is not installed', timeout: 60_000 }, async () => {
      const volume = await createVolume(server, 8 * MiB, 'clone-source');
      const live = await attach(server, 'volumes', volume);
      await qemuIo(live.uri, ['write -P 0x41 0 1M', 'write -P 0x42 3M 512k', 'write -P 0x43 8128k 64k', 'flush']);
      const snap = await snapshot(server, volume, 'before-clone');
      await qemuIo(live.uri, ['write -P 0x44 0 64k', 'write -P 0x45 6M 64k', 'flush']);

      const created = expectStatus(await api<{ volume: Volume }>(server, 'POST', `/api/v1/snapshots/${snap}/clone`, { name: 'the-clone' }), 201, 'clone');
      const clone = created.volume;
      assert.equal(clone.source_snapshot_id, snap);
      assert.equal(clone.size_bytes, 8 * MiB);
      assert.equal(clone.status, 'available');

      const frozen = await attach(server, 'snapshots', snap);
      const cloneRw = await attach(server, 'volumes', clone.id);
      const same = await qemuImgCompare(frozen.uri, cloneRw.uri);
      assert.equal(same.code, 0, `snapshot and clone differ: ${same.output}`);
      const fromLive = await qemuImgCompare(live.uri, cloneRw.uri);
      assert.equal(fromLive.code, 1, `the clone must not see writes made to its source after the snapshot: ${fromLive.output}`);

      await qemuIo(cloneRw.uri, ['write -P 0x77 0 2M', 'write -P 0x78 8128k 64k', 'flush']);
      await qemuIo(cloneRw.uri, ['read -P 0x77 0 2M', 'read -P 0x42 3M 512k', 'read -P 0x78 8128k 64k'], { readOnly: true });
      await qemuIo(frozen.uri, ['read -P 0x41 0 1M', 'read -P 0 1M 2M', 'read -P 0x42 3M 512k', 'read -P 0x43 8128k 64k'], { readOnly: true });
      const differs = await qemuImgCompare(frozen.uri, cloneRw.uri);
      assert.equal(differs.code, 1, `after writing to the clone, it must differ from the snapshot: ${differs.output}`);
      await qemuIo(live.uri, ['read -P 0x44 0 64k', 'read -P 0x41 64k 960k', 'read -P 0x45 6M 64k'], { readOnly: true });
      for (const attachment of [live, frozen, cloneRw]) await detach(server, attachment.id);
    });

    test('diff: exactly the written ranges, aligned to block_size_bytes, between snapshots and since empty', { timeout: 60_000 }, async (t) => {
      const sizeBytes = 16 * MiB;
      const volume = await createVolume(server, sizeBytes, 'diff');
      const live = await attach(server, 'volumes', volume);
      const client = await NbdClient.connect(live.uri);
      const writeRanges = async (ranges: Extent[], byte: number) => {
        await Promise.all(ranges.map(({ offset, length }) => client.write(offset, filled(length, byte))));
        await client.flush();
      };
      const diffOf = async (path: string) => expectStatus(await api<{ extents: Extent[]; block_size_bytes: number }>(server, 'GET', path), 200, `GET ${path}`);

      const empty = await diffOf(`/api/v1/volumes/${volume}/diff`);
      assert.deepEqual(empty.extents, [], 'a new volume differs from empty nowhere');
      const block = empty.block_size_bytes;
      assert.ok(Number.isInteger(block) && block >= 512 && (block & (block - 1)) === 0, `block_size_bytes ${block}`);

      const r1: Extent[] = [
        { offset: 0, length: 4096 },
        { offset: 3 * block + 100, length: block }, // straddles two blocks
        { offset: 5 * MiB, length: 1 },
        { offset: sizeBytes - 10, length: 10 }, // the last block
      ];
      const r2: Extent[] = [
        { offset: 10, length: 10 }, // rewrites a block r1 wrote
        { offset: 10 * block + 5, length: 10 },
        { offset: 8 * MiB - 10, length: 20 }, // straddles 8 MiB
        { offset: 12 * MiB, length: 3 * block }, // several whole blocks
      ];
      const r3: Extent[] = [{ offset: 2 * MiB + 7, length: 2 * block }];
      await writeRanges(r1, 0x5a);
      const s1 = await snapshot(server, volume, 's1');
      await writeRanges(r2, 0xa5);
      const s2 = await snapshot(server, volume, 's2');

      const blocksOf = (extents: Extent[]) => {
        const set = new Set<number>();
        for (const e of aligned(extents, block, sizeBytes)) for (let at = e.offset; at < e.offset + e.length; at += block) set.add(at / block);
        return set;
      };
      const expectDiff = async (path: string, written: Extent[]) => {
        const answer = await diffOf(path);
        assert.equal(answer.block_size_bytes, block);
        for (const e of answer.extents) {
          assert.equal(e.offset % block, 0, `${path}: extent ${JSON.stringify(e)} is not aligned to ${block}`);
          assert.ok(e.length % block === 0 || e.offset + e.length === sizeBytes, `${path}: extent ${JSON.stringify(e)} has an unaligned length`);
        }
        if (backend === 'local') assert.deepEqual(normalize(answer.extents), aligned(written, block, sizeBytes), `${path}: ${JSON.stringify(answer.extents)}`);
        else {
          // RBD names what the OSD's object extents span (diffMayName): every written block, nothing past an object's last write.
          const got = blocksOf(answer.extents);
          const writtenBlocks = blocksOf(written);
          const may = diffMayName(backend, writtenBlocks, block);
          assert.deepEqual([...writtenBlocks].filter((b) => !got.has(b)), [], `${path}: written blocks not listed (${JSON.stringify(answer.extents)})`);
          assert.deepEqual([...got].filter((b) => !may(b)), [], `${path}: blocks listed that rbd may not name (${JSON.stringify(answer.extents)})`);
        }
      };
      await expectDiff(`/api/v1/snapshots/${s2}/diff?from=${s1}`, r2);
      await expectDiff(`/api/v1/snapshots/${s1}/diff`, r1);
      await expectDiff(`/api/v1/snapshots/${s2}/diff`, [...r1, ...r2]);
      await expectDiff(`/api/v1/volumes/${volume}/diff`, [...r1, ...r2]);
      await expectDiff(`/api/v1/volumes/${volume}/diff?from=${s2}`, []);
      await writeRanges(r3, 0x3c);
      await expectDiff(`/api/v1/volumes/${volume}/diff?from=${s2}`, r3);
      await expectDiff(`/api/v1/volumes/${volume}/diff?from=${s1}`, [...r2, ...r3]);
      await expectDiff(`/api/v1/volumes/${volume}/diff`, [...r1, ...r2, ...r3]);
      // "May differ between the two" is symmetric: the older snapshot against the newer one.
      await expectDiff(`/api/v1/snapshots/${s1}/diff?from=${s2}`, r2);
      await expectDiff(`/api/v1/volumes/${volume}/diff?from=${s1}`, [...r2, ...r3]);

      // After reverting to s1 the live volume equals s1 again, and differs from s2 where r2 wrote.
      await client.disconnect();
      await detach(server, live.id);
      await expectJobSucceeded(server, await api(server, 'POST', `/api/v1/snapshots/${s1}/revert`, {}), 'revert to s1');
      // A revert writes nothing through NBD, so here the contract ("may differ") is all there is
      // to hold the answer to: it covers every block whose content differs, and no block that
      // was never written since the base.
      const expectDiffBetween = async (path: string, differs: Extent[], written: Extent[]) => {
        const { extents } = await diffOf(path);
        const got = blocksOf(extents);
        const must = blocksOf(differs);
        const writtenBlocks = blocksOf(written);
        const may = new Set([...got].filter(diffMayName(backend, writtenBlocks, block)));
        const uncovered = [...must].filter((b) => !got.has(b));
        const unwritten = [...got].filter((b) => !may.has(b));
        assert.deepEqual(uncovered, [], `${path}: blocks that differ but are not listed (${JSON.stringify(extents)})`);
        assert.deepEqual(unwritten, [], `${path}: blocks listed that were never written (${JSON.stringify(extents)})`);
        if (got.size > must.size) t.diagnostic(`${path} lists ${got.size - must.size} blocks beyond the ${must.size} that differ: ${JSON.stringify(extents)}`);
      };
      await expectDiffBetween(`/api/v1/volumes/${volume}/diff?from=${s1}`, [], [...r2, ...r3]);
      await expectDiffBetween(`/api/v1/volumes/${volume}/diff?from=${s2}`, r2, [...r2, ...r3]);
      await expectDiffBetween(`/api/v1/volumes/${volume}/diff`, r1, [...r1, ...r2, ...r3]);
      await expectDiff(`/api/v1/snapshots/${s2}/diff?from=${s1}`, r2);
      // And the content is s1's.
      const check = await attach(server, 'volumes', volume, 'ro');
      const reader = await NbdClient.connect(check.uri);
      const content = await readAll(reader);
      const expected = Buffer.alloc(sizeBytes);
      for (const { offset, length } of r1) expected.fill(0x5a, offset, offset + length);
      assert.ok(content.equals(expected), 'after the revert to s1 the volume holds exactly what r1 wrote');
      await reader.disconnect();
      await detach(server, check.id);

      const other = await createVolume(server, 4 * MiB, 'diff-other');
      const foreign = await snapshot(server, other, 'foreign');
      const mismatched = await api<ErrorBody>(server, 'GET', `/api/v1/snapshots/${s2}/diff?from=${foreign}`);
      assert.equal(mismatched.status, 400, `diff from another volume's snapshot: ${JSON.stringify(mismatched.body)}`);
    });

    test('group revert and group clone give members with the group snapshot\'s data', { timeout: 60_000 }, async () => {
      const sizeBytes = 4 * MiB;
      const a = await createVolume(server, sizeBytes, 'g-a');
      const b = await createVolume(server, sizeBytes, 'g-b');
      const group = expectStatus(await api<{ group: { id: string } }>(server, 'POST', '/api/v1/groups', { name: 'grp', volume_ids: [a, b] }), 201, 'create group').group;
      const attachments = new Map([[a, await attach(server, 'volumes', a)], [b, await attach(server, 'volumes', b)]]);
      const pattern = new Map([[a, 0xa1], [b, 0xb1]]);
      for (const [volume, attachment] of attachments) {
        const client = await NbdClient.connect(attachment.uri);
        await client.write(0, filled(MiB, pattern.get(volume)!));
        await client.flush();
        await client.disconnect();
      }
      const gs = await groupSnapshot(server, group.id, 'g1');
      for (const [volume, attachment] of attachments) {
        const client = await NbdClient.connect(attachment.uri);
        await client.write(0, filled(64 * KiB, pattern.get(volume)! + 1));
        await client.write(3 * MiB, filled(64 * KiB, pattern.get(volume)! + 2), { fua: true });
        await client.disconnect();
      }
      /** The group snapshot's content: pattern in the first MiB, zeroes elsewhere. */
      const expectSnapshotData = (data: Buffer, byte: number, what: string) => {
        assert.equal(data.length, sizeBytes);
        expectBytes(data, 0, MiB, byte, what);
        expectBytes(data, MiB, sizeBytes - MiB, 0, what);
      };

      // Clone into a new group.
      const cloning = await api<{ job: Job; group: { id: string; volume_ids: string[] } }>(server, 'POST', `/api/v1/group-snapshots/${gs.id}/clone`, { name: 'grp-clone' });
      const cloned = expectStatus(cloning, 202, 'group clone');
      const cloneJob = await waitJob(server, cloned.job.id);
      assert.equal(cloneJob.status, 'succeeded', JSON.stringify(cloneJob));
      const newGroup = expectStatus(await api<{ group: { id: string; volume_ids: string[] } }>(server, 'GET', `/api/v1/groups/${cloned.group.id}`), 200, 'show cloned group').group;
      assert.equal(newGroup.volume_ids.length, 2);
      const sourceOf = new Map(gs.snapshots.map((s) => [s.id, s.volume_id]));
      const seenSources = new Set<string>();
      for (const id of newGroup.volume_ids) {
        const volume = await getVolume(server, id);
        assert.equal(volume.status, 'available', `cloned volume ${id} is ${volume.status}`);
        assert.equal(volume.group_id, newGroup.id);
        const source = sourceOf.get(volume.source_snapshot_id ?? '');
        assert.ok(source !== undefined, `cloned volume ${id} has source ${volume.source_snapshot_id}, not a member of ${gs.id}`);
        seenSources.add(source);
        const attachment = await attach(server, 'volumes', id);
        const client = await NbdClient.connect(attachment.uri);
        expectSnapshotData(await readAll(client), pattern.get(source)!, `clone ${id} of ${source}`);
        await client.write(0, filled(4096, 0xee)); // writes to a clone stay in it
        await client.disconnect();
        await detach(server, attachment.id);
      }
      assert.equal(seenSources.size, 2, 'one clone per member');

      // Revert: refused while a member is attached read-write, then a job.
      const refused = await api<ErrorBody>(server, 'POST', `/api/v1/group-snapshots/${gs.id}/revert`, {});
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      assert.equal(refused.body.error.code, 'VOLUME_IN_USE');
      for (const volume of [a, b]) assert.equal((await getVolume(server, volume)).status, 'in-use', 'a refused group revert leaves members as they were');
      for (const attachment of attachments.values()) await detach(server, attachment.id);
      const revertJob = await expectJobSucceeded(server, await api(server, 'POST', `/api/v1/group-snapshots/${gs.id}/revert`, {}), 'group revert');
      assert.equal(revertJob.kind, 'revert-group-snapshot');
      const after = expectStatus(await api<{ group_snapshot: GroupSnapshot }>(server, 'GET', `/api/v1/group-snapshots/${gs.id}`), 200, 'show group snapshot').group_snapshot;
      assert.equal(after.status, 'available');
      for (const volume of [a, b]) {
        assert.equal((await getVolume(server, volume)).status, 'available');
        const attachment = await attach(server, 'volumes', volume);
        const client = await NbdClient.connect(attachment.uri);
        expectSnapshotData(await readAll(client), pattern.get(volume)!, `reverted member ${volume}`);
        await client.disconnect();
        await detach(server, attachment.id);
      }
      // The clones' writes did not reach the members' snapshots.
      for (const member of gs.snapshots) {
        const attachment = await attach(server, 'snapshots', member.id);
        const client = await NbdClient.connect(attachment.uri);
        expectSnapshotData(await readAll(client), pattern.get(member.volume_id)!, `member snapshot ${member.id}`);
        await client.disconnect();
        await detach(server, attachment.id);
      }
    });
  });
}
if (rbdSkipReason() !== null) describe('strata serve control plane, end to end on rbd', { skip: rbdSkipReason()! }, () => {});

for (const backend of backendKinds()) {
  describe(`strata serve restarts on ${backend}`, () => {
    const flags = backendFlags(backend, 'restarts');
    const startServe = (dataDir: string, ports: { api?: number; nbd?: number } = {}) => startProcess(dataDir, adminPassword, ports, flags);
    let dataDir: string;
    let server: Server | undefined;

    before(() => {
      dataDir = mkdtempSync(join(tmpdir(), 'strata-cp-restart-'));
    });

    after(async () => {
      if (server !== undefined) await stopServe(server);
      rmSync(dataDir, { recursive: true, force: true });
    });

    test('attachments survive SIGTERM and kill -9; jobs interrupted by kill -9 finish after the restart', { skip: !haveQemuIo && 'qemu-io is not installed', timeout: 90_000 }, async (t) => {
      // Attachment URIs name the NBD port, so the server comes back on the same ports.
      const [apiPort, nbdPort] = await freePorts(2);
      const ports = { api: apiPort, nbd: nbdPort };
      server = await startServe(dataDir, ports);
      const volume = await createVolume(server, 8 * MiB, 'persist');
      const rw = await attach(server, 'volumes', volume);
      await qemuIo(rw.uri, ['write -P 0x5c 0 1M', 'write -P 0x5d 7M 64k', 'flush']);
      const snap = await snapshot(server, volume, 'persist-snap');
      const ro = await attach(server, 'snapshots', snap);
      await qemuIo(rw.uri, ['write -P 0x5e 0 64k', 'flush']);

      assert.equal(await stopServe(server), 0, 'SIGTERM exits 0');
      server = await startServe(dataDir, ports);
      await qemuIo(rw.uri, ['read -P 0x5e 0 64k', 'read -P 0x5c 64k 960k', 'read -P 0x5d 7M 64k'], { readOnly: true });
      await qemuIo(ro.uri, ['read -P 0x5c 0 1M', 'read -P 0x5d 7M 64k'], { readOnly: true });
      const shown = expectStatus(await api<{ attachment: Attachment }>(server, 'GET', `/api/v1/attachments/${rw.id}`), 200, 'show attachment after restart');
      assert.equal(shown.attachment.uri, rw.uri);
      assert.equal((await getVolume(server, volume)).status, 'in-use', 'the read-write attachment still makes the volume in-use');
      await qemuIo(rw.uri, ['write -P 0x5f 1M 64k', 'flush']);

      // A large written volume whose snapshot owns every chunk: deleting it reclaims them all.
      const bigBytes = 128 * MiB;
      const big = await createVolume(server, bigBytes, 'big');
      const bigRw = await attach(server, 'volumes', big);
      const writer = await NbdClient.connect(bigRw.uri);
      const fill = async (byte: number) => {
        const piece = filled(4 * MiB, byte);
        for (let offset = 0; offset < bigBytes; offset += 32 * MiB) {
          const writes: Promise<void>[] = [];
          for (let at = offset; at < offset + 32 * MiB; at += piece.length) writes.push(writer.write(at, piece));
          await Promise.all(writes);
        }
        await writer.flush();
      };
      await fill(0x61);
      const bigSnap = await snapshot(server, big, 'big-snap');
      await fill(0x62);
      await writer.disconnect();
      await detach(server, bigRw.id);
      // A second job: a revert of a detached volume.
      const small = await createVolume(server, 8 * MiB, 'revert-killed');
      const smallRw = await attach(server, 'volumes', small);
      await qemuIo(smallRw.uri, ['write -P 0x71 0 1M', 'flush']);
      const smallSnap = await snapshot(server, small, 'small-snap');
      await qemuIo(smallRw.uri, ['write -P 0x72 0 1M', 'flush']);
      await detach(server, smallRw.id);

      const [deleting, reverting] = await Promise.all([
        api<{ job: Job }>(server, 'DELETE', `/api/v1/snapshots/${bigSnap}`),
        api<{ job: Job }>(server, 'POST', `/api/v1/snapshots/${smallSnap}/revert`, {}),
      ]);
      server.process.kill('SIGKILL');
      await server.exited;
      const deleteJob = expectStatus(deleting, 202, 'delete snapshot').job;
      const revertJob = expectStatus(reverting, 202, 'revert').job;
      t.diagnostic(`killed with delete job ${deleteJob.id} (${deleteJob.status}) and revert job ${revertJob.id} (${revertJob.status}) just answered`);

      const restartedAt = new Date().toISOString();
      server = await startServe(dataDir, ports);
      for (const job of [deleteJob, revertJob]) {
        const ended = await waitJob(server, job.id, 30_000);
        const resumed = ended.finished_at !== null && ended.finished_at >= restartedAt;
        t.diagnostic(
          `after the restart, job ${job.id} (${ended.kind}) ended ${ended.status}${ended.error === undefined ? '' : ` ${JSON.stringify(ended.error)}`}` +
            ` (${resumed ? 'interrupted by the kill and finished by the restarted server' : 'had finished before the kill'})`,
        );
        assert.ok(ended.status === 'succeeded' || ended.status === 'failed');
      }
      const volumes = await listAll<Volume>(server, '/api/v1/volumes', 'volumes');
      const snapshots = await listAll<Snapshot>(server, '/api/v1/snapshots', 'snapshots');
      const groupSnapshots = await listAll<GroupSnapshot>(server, '/api/v1/group-snapshots', 'group_snapshots');
      const stuck = [
        ...volumes.filter((v) => ['creating', 'deleting', 'restoring'].includes(v.status)).map((v) => `volume ${v.id} ${v.status}`),
        ...snapshots.filter((s) => ['creating', 'deleting'].includes(s.status)).map((s) => `snapshot ${s.id} ${s.status}`),
        ...groupSnapshots.filter((g) => ['creating', 'deleting', 'restoring'].includes(g.status)).map((g) => `group snapshot ${g.id} ${g.status}`),
      ];
      assert.deepEqual(stuck, [], 'nothing is left in a transitional status');
      const finalDelete = await waitJob(server, deleteJob.id);
      if (finalDelete.status === 'succeeded') {
        assert.ok(!snapshots.some((s) => s.id === bigSnap), 'a deleted snapshot is gone from the list');
      }
      const finalRevert = await waitJob(server, revertJob.id);
      if (finalRevert.status === 'succeeded') {
        const check = await attach(server, 'volumes', small);
        await qemuIo(check.uri, ['read -P 0x71 0 1M'], { readOnly: true });
        await detach(server, check.id);
      }
      // The attachments made before both restarts still work, with every write.
      await qemuIo(rw.uri, ['read -P 0x5e 0 64k', 'read -P 0x5f 1M 64k', 'read -P 0x5d 7M 64k'], { readOnly: true });
      await qemuIo(ro.uri, ['read -P 0x5c 0 1M'], { readOnly: true });

      assert.equal(await stopServe(server), 0, 'SIGTERM exits 0');
      server = undefined;
      // fsck checks the embedded engine's pool; on RBD the cluster keeps its own consistency.
      if (backend === 'local') {
        const fsck = await run(process.execPath, [mainJs, 'fsck', '--data-dir', dataDir]).catch((error: { stdout: string }) => error);
        assert.match(fsck.stdout, /^ok$/m, `fsck after the restarts: ${fsck.stdout}`);
      }
    });
  });
}
if (rbdSkipReason() !== null) describe('strata serve restarts on rbd', { skip: rbdSkipReason()! }, () => {});
