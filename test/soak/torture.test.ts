/**
 * The torture: one data directory, round after round of `strata serve` killed with SIGKILL at a
 * random moment while 4 NBD clients write and flush and snapshots are created and deleted.
 * After each kill `strata fsck` checks the stopped pool; the next start must recover it, and
 * every block must hold its last flushed version or one written after that flush (the model in
 * model.ts); what it holds becomes its only version for the next round.
 *
 * Normal runs do 3 rounds (`npm test`); STRATA_TORTURE_ROUNDS sets the count — long mode:
 * `STRATA_TORTURE_ROUNDS=1000 npm run torture` (the default of that script). A failure prints
 * the seed and the round; STRATA_TORTURE_SEED=SEED STRATA_TORTURE_ROUNDS=ROUND+1 replays the
 * same choices (kill delays, writes), though not the same thread timing.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { NbdClient, NbdConnectionError } from '../serve/nbd-client.js';
import { type Server, startServe, stopServe } from '../serve/process.js';
import { blockBytes, Region, seeded } from './model.js';
import { createVolume, expect, fsck, MiB, sleep, snapshot, volumeUri } from './pool.js';
import { nbdWriter } from './writers.js';

const rounds = Number(process.env.STRATA_TORTURE_ROUNDS ?? 3);
const seed = Number(process.env.STRATA_TORTURE_SEED ?? Math.floor(Math.random() * 2 ** 31));
const adminPassword = 'torture-test-admin';
const writers = 4;
const regionBytes = 2 * MiB;
/** A kill comes this long after the load starts, at random in [min, min + spread). */
const killAfterMinMs = 100;
const killAfterSpreadMs = 1900;

const tally = { writes: 0, flushes: 0, verifiedReads: 0, snapshots: 0, deletes: 0, expectedFailures: 0 };

/** Whether an error is what a client sees when the server dies under it. */
function fromTheKill(error: unknown): boolean {
  if (error instanceof NbdConnectionError) return true;
  const text = String((error as Error)?.message ?? error) + String((error as { cause?: unknown })?.cause ?? '');
  return /ECONNRESET|ECONNREFUSED|EPIPE|fetch failed|socket hang up|other side closed|the connection closed/i.test(text);
}

/** Reads every region after a restart and settles the model on what survived. */
async function verifyAfterCrash(uri: string, regions: Region[], what: string): Promise<string[]> {
  const reader = await NbdClient.connect(uri);
  const problems: string[] = [];
  try {
    for (const region of regions) {
      for (let first = 0; first < region.blocks; first += 256) {
        const count = Math.min(256, region.blocks - first);
        const data = await reader.read(region.offsetBytes + first * blockBytes, count * blockBytes);
        problems.push(...region.settleAfterCrash(first, data, what));
      }
    }
  } finally {
    await reader.disconnect();
  }
  return problems;
}

/** Creates snapshots and deletes the oldest beyond four, until the server dies (or `stopped()`). */
async function snapshotChurn(server: Server, volumeId: string, round: number, stopped: () => boolean): Promise<void> {
  for (let i = 0; !stopped(); i++) {
    await snapshot(server, volumeId, `t-${round}-${i}`);
    tally.snapshots++;
    const { snapshots } = await expect<{ snapshots: Array<{ id: string; status: string }> }>(server, 'GET', `/api/v1/snapshots?volume_id=${volumeId}&limit=100&sort=created_at&order=asc`, 200);
    const available = snapshots.filter((s) => s.status === 'available');
    if (available.length > 4) {
      await expect(server, 'DELETE', `/api/v1/snapshots/${available[0].id}`, 202);
      tally.deletes++;
    }
    await sleep(20);
  }
}

/** One round's load on a running server, ended by SIGKILL; returns problems that are not the kill's doing. */
async function loadAndKill(server: Server, volumeId: string, regions: Region[], round: number, random: () => number): Promise<string[]> {
  const problems: string[] = [];
  const uri = await volumeUri(server, volumeId);
  let killed = false;
  const stopped = () => killed;
  const load = regions.map(async (region, k) => {
    const client = await NbdClient.connect(uri);
    try {
      await nbdWriter(client, region, { depth: 8, maxBlocks: 16, flushEvery: 16, verifyEvery: 32, random: seeded(seed + round * 64 + k), stopped }, problems, tally);
    } finally {
      client.destroy();
    }
  });
  load.push(snapshotChurn(server, volumeId, round, stopped));
  // Settled from the start: a client cut off by the kill must not be an unhandled rejection while the kill is awaited.
  const outcomes = Promise.allSettled(load);
  await sleep(killAfterMinMs + Math.floor(random() * killAfterSpreadMs));
  killed = true;
  server.process.kill('SIGKILL');
  await server.exited;
  for (const outcome of await outcomes) {
    if (outcome.status === 'fulfilled') continue;
    if (fromTheKill(outcome.reason)) tally.expectedFailures++;
    else problems.push(`round ${round}: a client failed before the kill: ${String((outcome.reason as Error)?.stack ?? outcome.reason)}`);
  }
  return problems;
}

test(`torture: ${rounds} rounds of kill -9 under write load, fsck and verified recovery`, { timeout: rounds * 60_000 + 60_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'strata-torture-'));
  const random = seeded(seed);
  let server = await startServe(dataDir, adminPassword);
  const volumeId = await createVolume(server, 'torture', writers * regionBytes);
  const regions = Array.from({ length: writers }, (_, k) => new Region(`writer ${k}`, k * regionBytes, regionBytes / blockBytes, k * (regionBytes / blockBytes)));
  let ran = 0;
  let failure: string | null = null;
  try {
    for (let round = 0; round < rounds && failure === null; round++) {
      const problems = await loadAndKill(server, volumeId, regions, round, random);
      const checked = await fsck(dataDir);
      if (!checked.ok) problems.push(`round ${round}: fsck of the pool after kill -9: ${checked.output}`);
      if (problems.length === 0) {
        try {
          server = await startServe(dataDir, adminPassword);
          problems.push(...(await verifyAfterCrash(await volumeUri(server, volumeId), regions, `round ${round}: after restart`)));
        } catch (error) {
          problems.push(`round ${round}: restart after kill -9: ${String((error as Error)?.stack ?? error)}`);
        }
      }
      ran++;
      if (problems.length > 0) failure = `${problems.length} problems; round ${round} failed (seed ${seed}; STRATA_TORTURE_SEED=${seed} STRATA_TORTURE_ROUNDS=${round + 1} replays its choices):\n${problems.slice(0, 30).join('\n')}`;
      if (ran % 10 === 0) console.log(`torture: ${ran} rounds so far, no failure, seed ${seed}`);
    }
    if (failure === null) {
      const code = await stopServe(server);
      const checked = await fsck(dataDir);
      if (code !== 0 || !checked.ok) failure = `after ${ran} rounds: SIGTERM exit ${code}, fsck: ${checked.output} (seed ${seed})`;
    }
  } finally {
    await stopServe(server);
    console.log(
      `torture: rounds run ${ran} of ${rounds}, failures ${failure === null ? 0 : 1}, seed ${seed}; ` +
        `${tally.writes} writes and ${tally.flushes} flushes acknowledged, ${tally.snapshots} snapshots, ${tally.deletes} deletes, ` +
        `${tally.expectedFailures} clients cut off by the kills`,
    );
    if (failure === null) rmSync(dataDir, { recursive: true, force: true });
    else console.log(`torture: ${failure}\ntorture: the pool is kept at ${dataDir}`);
  }
  assert.equal(failure, null, failure ?? '');
});
