/**
 * The soak: one real `strata serve` process, 16 NBD clients writing and verifying at once
 * (12 on the project's NBD client against a model of their regions, 2 qemu-io checking their own
 * patterns, 2 fio with crc32c verification), and API traffic beside them: snapshots created,
 * listed, attached read-only and read back against the model at their instant, diffed,
 * re-verified and deleted. At the end every acknowledged write is read back live, then again
 * after a drain, fsck and restart; the server's RSS slope is printed.
 *
 * Normal runs last 45 s (`npm test`); STRATA_SOAK_SECONDS sets the length — long mode:
 * `STRATA_SOAK_SECONDS=600 npm run soak` (the default of that script). STRATA_SOAK_SEED
 * replays the clients' choices of a printed run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { NbdClient } from '../serve/nbd-client.js';
import { have, type Server, startServe, stopServe } from '../serve/process.js';
import { blockBytes, Region, seeded, tick } from './model.js';
import { createVolume, expect, fsck, jobOutcome, MiB, snapshot, volumeUri } from './pool.js';
import { checkRegion, fioWriter, nbdWriter, qemuIoWriter, RssSampler } from './writers.js';

const seconds = Number(process.env.STRATA_SOAK_SECONDS ?? 45);
const seed = Number(process.env.STRATA_SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));
const adminPassword = 'soak-test-admin';
const volumes = 4;
const regionBytes = 4 * MiB;
const regionsPerVolume = 4;
const clients = volumes * regionsPerVolume;
/** Snapshots kept per volume before the oldest is re-verified and deleted. */
const snapshotsKept = 3;

interface Client {
  kind: 'nbd' | 'qemu-io' | 'fio';
  volume: number;
  region: Region;
}

function plan(): Client[] {
  return Array.from({ length: clients }, (_, k) => {
    const volume = k % volumes;
    const slot = Math.floor(k / volumes);
    const kind = k >= 14 && have('fio') ? 'fio' : k >= 12 && have('qemu-io') ? 'qemu-io' : 'nbd';
    return { kind, volume, region: new Region(`client ${k} (${kind}, volume ${volume})`, slot * regionBytes, regionBytes / blockBytes, k * (regionBytes / blockBytes)) };
  });
}

interface Kept {
  id: string;
  volume: number;
  start: number;
  end: number;
}

/** Tallies printed at the end. */
const tally = { writes: 0, flushes: 0, verifiedReads: 0, qemuIoRuns: 0, fioRuns: 0, snapshots: 0, snapshotChecks: 0, diffs: 0, deletes: 0, lists: 0 };

/** Reads a snapshot through a read-only export and checks the model's regions of its volume at its instant. */
async function verifySnapshot(server: Server, kept: Kept, regions: Region[], problems: string[]): Promise<void> {
  const { attachment } = await expect<{ attachment: { id: string; uri: string } }>(server, 'POST', `/api/v1/snapshots/${kept.id}/attachments`, 201, {});
  const reader = await NbdClient.connect(attachment.uri);
  try {
    if (!reader.readOnly) problems.push(`snapshot ${kept.id}: its export is not read-only`);
    for (const region of regions) {
      problems.push(...(await checkRegion(reader, region, (b) => region.atInstant(b, kept.start, kept.end), `snapshot ${kept.id}`)));
    }
  } finally {
    await reader.disconnect();
  }
  await expect(server, 'DELETE', `/api/v1/attachments/${attachment.id}`, 204);
  tally.snapshotChecks++;
}

/** Every block written after the snapshot and acknowledged before the diff was asked must lie in the diff. */
async function verifyDiff(server: Server, volumeId: string, kept: Kept, regions: Region[], problems: string[]): Promise<void> {
  const asked = tick();
  const { extents } = await expect<{ extents: Array<{ offset: number; length: number }> }>(server, 'GET', `/api/v1/volumes/${volumeId}/diff?from=${kept.id}`, 200);
  const covered = (offset: number) => extents.some((e) => e.offset <= offset && offset + blockBytes <= e.offset + e.length);
  for (const region of regions) {
    for (let block = 0; block < region.blocks; block++) {
      if (region.writtenBetween(block, kept.end, asked) && !covered(region.offsetBytes + block * blockBytes)) {
        problems.push(`diff of volume ${volumeId} from ${kept.id}: ${region.name} block ${block} was written after the snapshot but is not in ${JSON.stringify(extents.slice(0, 20))}`);
      }
    }
  }
  tally.diffs++;
}

async function apiTraffic(server: Server, volumeIds: string[], modelled: Region[][], stopped: () => boolean, problems: string[], jobs: string[]): Promise<void> {
  const kept: Kept[] = [];
  for (let round = 0; !stopped(); round++) {
    const v = round % volumes;
    const start = tick();
    const id = await snapshot(server, volumeIds[v], `soak-${round}`);
    const taken: Kept = { id, volume: v, start, end: tick() };
    kept.push(taken);
    tally.snapshots++;
    const listed = await expect<{ snapshots: Array<{ id: string }> }>(server, 'GET', `/api/v1/snapshots?volume_id=${volumeIds[v]}&limit=100`, 200);
    if (!listed.snapshots.some((s) => s.id === id)) problems.push(`snapshot ${id} missing from the list of volume ${volumeIds[v]}`);
    await expect(server, 'GET', '/api/v1/volumes?limit=10', 200);
    await expect(server, 'GET', '/api/v1/attachments?limit=10', 200);
    tally.lists += 3;
    await verifySnapshot(server, taken, modelled[v], problems);
    await verifyDiff(server, volumeIds[v], taken, modelled[v], problems);
    const ofVolume = kept.filter((k) => k.volume === v);
    if (ofVolume.length > snapshotsKept) {
      const oldest = ofVolume[0];
      await verifySnapshot(server, oldest, modelled[v], problems); // unchanged by everything written since
      const { job } = await expect<{ job: { id: string } }>(server, 'DELETE', `/api/v1/snapshots/${oldest.id}`, 202);
      jobs.push(job.id);
      kept.splice(kept.indexOf(oldest), 1);
      tally.deletes++;
    }
    const keepFrom = Math.min(tick(), ...kept.map((k) => k.start));
    for (const regions of modelled) for (const region of regions) region.prune(keepFrom);
  }
}

test(`soak: 16 NBD clients and API traffic against strata serve for ${seconds} s`, { timeout: (seconds + 300) * 1000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'strata-soak-'));
  const work = mkdtempSync(join(tmpdir(), 'strata-soak-work-'));
  const problems: string[] = [];
  const random = seeded(seed);
  let server = await startServe(dataDir, adminPassword);
  try {
    const volumeIds: string[] = [];
    for (let v = 0; v < volumes; v++) volumeIds.push(await createVolume(server, `soak-${v}`, regionsPerVolume * regionBytes));
    const uris = await Promise.all(volumeIds.map((id) => volumeUri(server, id)));
    const all = plan();
    const modelled = volumeIds.map((_, v) => all.filter((c) => c.volume === v && c.kind !== 'fio').map((c) => c.region));
    const rss = new RssSampler(server.process.pid!, 1000);
    const deadline = Date.now() + seconds * 1000;
    const stopped = () => Date.now() >= deadline || problems.length > 0;
    const jobs: string[] = [];
    const nbdClients: NbdClient[] = [];

    const work$ = all.map(async (c, k) => {
      const uri = uris[c.volume];
      if (c.kind === 'fio') tally.fioRuns += await fioWriter(uri, c.region.offsetBytes, regionBytes, work, stopped, problems);
      else if (c.kind === 'qemu-io') tally.qemuIoRuns += await qemuIoWriter(uri, c.region, seeded(seed + k), stopped, problems);
      else {
        const client = await NbdClient.connect(uri);
        nbdClients.push(client);
        const counts = await nbdWriter(client, c.region, { depth: 4, maxBlocks: 16, flushEvery: 64, verifyEvery: 16, random: seeded(seed + k), stopped }, problems);
        tally.writes += counts.writes;
        tally.flushes += counts.flushes;
        tally.verifiedReads += counts.verifiedReads;
      }
    });
    work$.push(apiTraffic(server, volumeIds, modelled, stopped, problems, jobs));
    for (const outcome of await Promise.allSettled(work$)) {
      if (outcome.status === 'rejected') problems.push(`a client failed: ${String((outcome.reason as Error)?.stack ?? outcome.reason)}`);
    }
    rss.stop();

    for (const jobId of jobs) {
      const outcome = await jobOutcome(server, jobId, 60_000);
      if (outcome !== 'succeeded') problems.push(`snapshot delete job ${jobId}: ${outcome}`);
    }
    // Every acknowledged write, live, through the clients that wrote them.
    await Promise.all(nbdClients.map((client) => client.flush()));
    const readBack = async (label: string) => {
      const currentUris = await Promise.all(volumeIds.map((id) => volumeUri(server, id)));
      for (const [v, regions] of modelled.entries()) {
        const reader = await NbdClient.connect(currentUris[v]);
        for (const region of regions) problems.push(...(await checkRegion(reader, region, (b) => [region.live(b)], label)));
        await reader.disconnect();
      }
    };
    await readBack('final live read-back');
    await Promise.all(nbdClients.map((client) => client.disconnect()));
    const code = await stopServe(server);
    if (code !== 0) problems.push(`strata serve exited with ${code} on SIGTERM`);
    const checked = await fsck(dataDir);
    if (!checked.ok) problems.push(`fsck after the soak: ${checked.output}`);
    server = await startServe(dataDir, adminPassword);
    await readBack('read-back after drain and restart');

    console.log(
      `soak: ${seconds} s, seed ${seed}, ${clients} clients (${all.filter((c) => c.kind === 'nbd').length} project NBD client, ` +
        `${all.filter((c) => c.kind === 'qemu-io').length} qemu-io, ${all.filter((c) => c.kind === 'fio').length} fio): ` +
        `${tally.writes} writes, ${tally.flushes} flushes, ${tally.verifiedReads} live read-backs, ${tally.qemuIoRuns} qemu-io runs, ${tally.fioRuns} fio runs; ` +
        `${tally.snapshots} snapshots, ${tally.snapshotChecks} snapshot read-backs, ${tally.diffs} diffs, ${tally.deletes} deletes, ${tally.lists} lists; ` +
        `errors: ${problems.length}`,
    );
    console.log(`soak: ${rss.summary()}`);
    assert.equal(problems.length, 0, `seed ${seed} (STRATA_SOAK_SEED=${seed} STRATA_SOAK_SECONDS=${seconds} replays the choices):\n${problems.slice(0, 30).join('\n')}`);
  } finally {
    await stopServe(server);
    if (problems.length === 0) rmSync(dataDir, { recursive: true, force: true });
    else console.log(`soak: the pool is kept at ${dataDir}`);
    rmSync(work, { recursive: true, force: true });
  }
});
