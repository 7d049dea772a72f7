/**
 * Control-plane API benchmark: the native REST API over a real socket, SQLite beside PostgreSQL
 * in the same run. Prints the machine, a table of figures (one column per database), then one
 * JSON line with every figure. It asserts nothing about time: it only measures.
 *
 *   npm run bench:api                 full run (100,000 snapshot rows, 5 s load runs)
 *   npm run bench:api -- --quick      10,000 rows, 2 s load runs
 *
 * Environment:
 *   STRATA_BENCH_SNAPSHOTS      snapshot rows bulk-inserted for the list figures (default 100000)
 *   STRATA_BENCH_SECONDS        measured seconds of each create run, after 1 s of warm-up (default 5)
 *   STRATA_BENCH_CONCURRENCY    requests in flight during create runs (default 8)
 *   STRATA_TEST_POSTGRES_URL    PostgreSQL for the second column; without it, when
 *                               `bash scripts/start-test-postgres.sh` prints no URL, the column says why
 *
 * For each database, a fresh control plane (engine on MemoryStorage, as test/api/harness.ts
 * builds it) listens on 127.0.0.1:0, and a worker thread is the HTTP client (node:http,
 * keep-alive), so the client's parsing does not share the server's event loop.
 * 1. Snapshot create: POST /api/v1/volumes/{id}/snapshots round-robin over 16 volumes with 4 MiB
 *    written each (real engine snapshots), for a fixed time, with project quotas set to -1.
 * 2. Lists with N snapshot rows bulk-inserted with Kysely (100 volume rows, created_at 30 s
 *    apart, names in scrambled order) into a second project: the first page, every page of a
 *    walk along next_page_token, one deep page repeated, a volume_id filter, sort=name desc.
 *    PostgreSQL gets ANALYZE after the load (as autovacuum would soon do); SQLite gets nothing
 *    (Strata never runs ANALYZE there).
 * 3. Snapshot create again, now in the project holding the N rows: shows what per-create work
 *    grows with the table.
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { sql } from 'kysely';
import type { DatabaseKind } from '../src/db/index.js';
import type { Harness } from '../test/api/harness.js';

const quick = process.argv.includes('--quick');
const snapshotRows = envInteger('STRATA_BENCH_SNAPSHOTS', quick ? 10_000 : 100_000);
const loadSeconds = envNumber('STRATA_BENCH_SECONDS', quick ? 2 : 5);
const concurrency = envInteger('STRATA_BENCH_CONCURRENCY', 8);
const warmupSeconds = 1;
const volumesLoaded = 16;
const volumeRows = 100;
const pageLimit = 100;
const requestsPerQuery = 200;
const walkPagesMax = 500;
if (snapshotRows < 10 * pageLimit) throw new Error(`STRATA_BENCH_SNAPSHOTS must be at least ${10 * pageLimit}, for a walk of several pages`);
const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

function envNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, not ${JSON.stringify(text)}`);
  return value;
}

function envInteger(name: string, fallback: number): number {
  const value = envNumber(name, fallback);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be a positive integer`);
  return value;
}

function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

// ---------------------------------------------------------------------------------------------
// The client, run in a worker thread.

interface Reply {
  status: number;
  text: string;
  ms: number;
}

interface LoadTask {
  task: 'load';
  baseUrl: string;
  token: string;
  volumeIds: string[];
  concurrency: number;
  warmupMs: number;
  durationMs: number;
}

interface ListTask {
  task: 'lists';
  baseUrl: string;
  token: string;
  volumeIds: string[];
  expectedRows: number;
}

interface LoadResult {
  requestsPerSecond: number;
  latenciesMs: number[];
  completed: number;
  failed: number;
  firstFailure: string | null;
}

type ListResult = Record<string, number[]>;

function httpClient(baseUrl: string, token: string, maxSockets: number) {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  const send = (method: string, path: string, body?: unknown): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string | number> = { authorization: `Bearer ${token}` };
      if (payload !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(payload);
      }
      const t0 = performance.now();
      const request = http.request({ host: url.hostname, port: url.port, method, path, agent, headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 }));
      });
      request.on('error', reject);
      request.end(payload);
    });
  return { send, close: () => agent.destroy() };
}

/** Creates snapshots round-robin over the volumes; counts replies that arrive inside the window. */
async function runLoad(task: LoadTask): Promise<LoadResult> {
  const client = httpClient(task.baseUrl, task.token, task.concurrency);
  const start = performance.now();
  const windowStart = start + task.warmupMs;
  const windowEnd = windowStart + task.durationMs;
  const latenciesMs: number[] = [];
  let sent = 0;
  let failed = 0;
  let firstFailure: string | null = null;
  const worker = async () => {
    while (performance.now() < windowEnd) {
      const n = sent++;
      const volumeId = task.volumeIds[n % task.volumeIds.length];
      const reply = await client.send('POST', `/api/v1/volumes/${volumeId}/snapshots`, { name: `bench-${n}` });
      const now = performance.now();
      if (reply.status !== 201) {
        failed++;
        firstFailure ??= `${reply.status} ${reply.text.slice(0, 300)}`;
      } else if (now >= windowStart && now <= windowEnd) {
        latenciesMs.push(reply.ms);
      }
    }
  };
  await Promise.all(Array.from({ length: task.concurrency }, worker));
  client.close();
  return { requestsPerSecond: latenciesMs.length / (task.durationMs / 1000), latenciesMs, completed: latenciesMs.length, failed, firstFailure };
}

/** Each list query, sequentially (one request in flight), after a few untimed warm-up requests. */
async function runLists(task: ListTask): Promise<ListResult> {
  const client = httpClient(task.baseUrl, task.token, 1);
  const get = async (path: string, expectedItems: number | null): Promise<{ ms: number; body: { snapshots: unknown[]; next_page_token: string | null } }> => {
    const reply = await client.send('GET', path);
    if (reply.status !== 200) throw new Error(`GET ${path}: ${reply.status} ${reply.text.slice(0, 300)}`);
    const body = JSON.parse(reply.text);
    if (expectedItems !== null && body.snapshots.length !== expectedItems) throw new Error(`GET ${path}: ${body.snapshots.length} items, expected ${expectedItems}`);
    return { ms: reply.ms, body };
  };
  const repeat = async (paths: (i: number) => string, expectedItems: (i: number) => number): Promise<number[]> => {
    for (let i = 0; i < 10; i++) await get(paths(i), expectedItems(i));
    const samples: number[] = [];
    for (let i = 0; i < requestsPerQuery; i++) samples.push((await get(paths(i), expectedItems(i))).ms);
    return samples;
  };
  const full = () => Math.min(pageLimit, task.expectedRows);
  const result: ListResult = {};
  result.first = await repeat(() => `/api/v1/snapshots?limit=${pageLimit}`, full);

  // Walk along next_page_token; every page after the first is timed.
  const pages = Math.max(2, Math.min(walkPagesMax, Math.floor(task.expectedRows / pageLimit)));
  let token: string | null = null;
  const walk: number[] = [];
  let deepPath = '';
  for (let page = 1; page <= pages; page++) {
    const path = `/api/v1/snapshots?limit=${pageLimit}${token === null ? '' : `&page_token=${encodeURIComponent(token)}`}`;
    const { ms, body } = await get(path, null);
    if (page > 1) walk.push(ms);
    if (page === pages) deepPath = path;
    token = body.next_page_token;
    if (token === null) break;
  }
  result.walk = walk;
  result.walkPages = [pages];
  result.deep = await repeat(() => deepPath, full);

  // Row i of the load belongs to volume i % volumes (see bulkInsert).
  const volumes = task.volumeIds.length;
  const perVolume = (i: number) => Math.min(pageLimit, Math.floor(task.expectedRows / volumes) + (i % volumes < task.expectedRows % volumes ? 1 : 0));
  result.volume = await repeat((i) => `/api/v1/snapshots?volume_id=${task.volumeIds[i % volumes]}&limit=${pageLimit}`, perVolume);
  result.nameDesc = await repeat(() => `/api/v1/snapshots?sort=name&order=desc&limit=${pageLimit}`, full);
  client.close();
  return result;
}

function inWorker<T>(task: LoadTask | ListTask): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), { workerData: task });
    let result: T | undefined;
    worker.once('message', (message: T) => (result = message));
    worker.once('error', reject);
    worker.once('exit', (code) => (result === undefined ? reject(new Error(`client worker exited with ${code} and no result`)) : resolve(result)));
  });
}

// ---------------------------------------------------------------------------------------------
// The server side, in the main thread.

interface LoadFigures {
  requestsPerSecond: number;
  latencyMsP50: number;
  latencyMsP99: number;
  completed: number;
  failed: number;
}

interface KindResult {
  databaseUrl: string;
  databaseVersion: string;
  create: LoadFigures;
  /** Snapshot rows in the database after the first create run (it starts from none). */
  createRowsAfter: number;
  bulkRowsPerSecond: number;
  lists: Record<string, { latencyMsP50: number; latencyMsP99: number; samples: number }>;
  walkPages: number;
  createLoaded: LoadFigures;
}

function loadFigures(result: LoadResult, label: string): LoadFigures {
  if (result.failed > 0) console.error(`  ${label}: ${result.failed} requests failed; the first: ${result.firstFailure}`);
  return {
    requestsPerSecond: result.requestsPerSecond,
    latencyMsP50: percentile(result.latenciesMs, 50),
    latencyMsP99: percentile(result.latenciesMs, 99),
    completed: result.completed,
    failed: result.failed,
  };
}

/** A project whose member token is returned, with unlimited quotas and `count` real volumes. */
async function projectWithVolumes(harness: Harness, name: string, count: number): Promise<{ projectId: string; token: string; volumeIds: string[] }> {
  const { projectId, token } = await harness.tenant(name, 'member');
  const quotas = await harness.request('PUT', `/api/v1/projects/${projectId}/quotas`, {
    token: harness.adminToken,
    body: { volumes: -1, snapshots: -1, gigabytes: -1, snapshots_per_volume: -1 },
  });
  if (quotas.status !== 200) throw new Error(`setting quotas: ${quotas.status} ${JSON.stringify(quotas.body)}`);
  const volumeIds: string[] = [];
  const data = Buffer.alloc(MiB, 0x5a);
  for (let i = 0; i < count; i++) {
    const created = await harness.request('POST', '/api/v1/volumes', { token, body: { name: `${name}-volume-${i}`, size_bytes: GiB } });
    if (created.status !== 201) throw new Error(`creating a volume: ${created.status} ${JSON.stringify(created.body)}`);
    const id: string = created.body.volume.id;
    const row = await harness.database.db.selectFrom('volumes').select(['engine_id', 'status']).where('id', '=', id).executeTakeFirstOrThrow();
    if (row.status !== 'available' || row.engine_id === null) throw new Error(`volume ${id} is ${row.status}`);
    for (let j = 0; j < 4; j++) await harness.engine.write(Number(row.engine_id), j * 64 * MiB, data);
    volumeIds.push(id);
  }
  await harness.engine.flush();
  return { projectId, token, volumeIds };
}

/** Inserts `volumeRows` volume rows and `rows` snapshot rows into a project; returns rows per second. */
async function bulkInsert(harness: Harness, projectId: string, rows: number): Promise<{ volumeIds: string[]; rowsPerSecond: number }> {
  const { db } = harness.database;
  const poolId = harness.plane.deps.poolId;
  const base = Date.parse('2025-01-01T00:00:00.000Z');
  const iso = (ms: number) => new Date(ms).toISOString();
  const volumeIds = Array.from({ length: volumeRows }, () => crypto.randomUUID());
  const t0 = performance.now();
  await db
    .insertInto('volumes')
    .values(
      volumeIds.map((id, i) => ({
        id,
        project_id: projectId,
        pool_id: poolId,
        engine_id: 2_000_000_000 + i, // never a real engine id: lists do not touch the engine
        name: `listed-volume-${i}`,
        description: '',
        size_bytes: GiB,
        status: 'available',
        source_snapshot_id: null,
        group_id: null,
        created_at: iso(base),
        updated_at: iso(base),
      })),
    )
    .execute();
  const batchRows = 1000; // 15 columns: 15,000 parameters, under SQLite's 32,766 and PostgreSQL's 65,535
  const transactionRows = 10_000;
  for (let start = 0; start < rows; start += transactionRows) {
    await db.transaction().execute(async (tx) => {
      for (let batch = start; batch < Math.min(rows, start + transactionRows); batch += batchRows) {
        const values = [];
        for (let i = batch; i < Math.min(rows, batch + batchRows); i++) {
          const at = iso(base + 1000 + i * 30_000);
          values.push({
            id: crypto.randomUUID(),
            project_id: projectId,
            pool_id: poolId,
            volume_id: volumeIds[i % volumeRows],
            engine_id: 1_000_000_000 + i,
            // A scrambled but unique name, so sort=name is not the insertion order.
            name: `snapshot-${(Math.imul(i, 2654435761) >>> 0).toString(16).padStart(8, '0')}-${i}`,
            description: '',
            metadata: '{}',
            size_bytes: GiB,
            status: 'available',
            parent_id: null,
            group_snapshot_id: null,
            created_at: at,
            updated_at: at,
          });
        }
        await tx.insertInto('snapshots').values(values).execute();
      }
    });
  }
  const rowsPerSecond = rows / ((performance.now() - t0) / 1000);
  if (harness.database.kind === 'postgres') await sql`analyze volumes, snapshots`.execute(db);
  return { volumeIds, rowsPerSecond };
}

async function databaseVersion(harness: Harness): Promise<string> {
  const { db, kind } = harness.database;
  if (kind === 'sqlite') {
    const row = await sql<{ v: string }>`select sqlite_version() as v`.execute(db);
    return `SQLite ${row.rows[0].v}`;
  }
  const row = await sql<{ v: string }>`show server_version`.execute(db);
  return `PostgreSQL ${Object.values(row.rows[0])[0]}`;
}

async function benchDatabase(kind: DatabaseKind): Promise<KindResult> {
  const { createHarness } = await import('../test/api/harness.js');
  const harness = await createHarness(kind);
  try {
    await harness.app.listen({ host: '127.0.0.1', port: 0 });
    const address = harness.app.server.address();
    if (address === null || typeof address === 'string') throw new Error('the app is not listening on TCP');
    const baseUrl = `http://127.0.0.1:${address.port}`;
    const load = (token: string, volumeIds: string[]): LoadTask => ({
      task: 'load',
      baseUrl,
      token,
      volumeIds,
      concurrency,
      warmupMs: warmupSeconds * 1000,
      durationMs: loadSeconds * 1000,
    });

    console.error(`${kind}: ${harness.database.displayUrl}`);
    const creating = await projectWithVolumes(harness, 'bench-create', volumesLoaded);
    console.error(`  snapshot create over ${volumesLoaded} volumes, ${concurrency} in flight, ${warmupSeconds} s + ${loadSeconds} s`);
    const create = loadFigures(await inWorker<LoadResult>(load(creating.token, creating.volumeIds)), 'snapshot create');
    console.error(`    ${create.requestsPerSecond.toFixed(1)} req/s`);
    const counted = await harness.database.db.selectFrom('snapshots').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();

    const listing = await projectWithVolumes(harness, 'bench-list', volumesLoaded);
    console.error(`  bulk insert of ${snapshotRows} snapshot rows`);
    const bulk = await bulkInsert(harness, listing.projectId, snapshotRows);
    console.error(`    ${bulk.rowsPerSecond.toFixed(0)} rows/s`);
    console.error(`  lists, ${requestsPerQuery} requests per query`);
    const samples = await inWorker<ListResult>({ task: 'lists', baseUrl, token: listing.token, volumeIds: bulk.volumeIds, expectedRows: snapshotRows });
    const lists: KindResult['lists'] = {};
    for (const [name, ms] of Object.entries(samples)) {
      if (name !== 'walkPages') lists[name] = { latencyMsP50: percentile(ms, 50), latencyMsP99: percentile(ms, 99), samples: ms.length };
    }

    console.error(`  snapshot create with ${snapshotRows} rows in the project`);
    const createLoaded = loadFigures(await inWorker<LoadResult>(load(listing.token, listing.volumeIds)), 'snapshot create, loaded');
    console.error(`    ${createLoaded.requestsPerSecond.toFixed(1)} req/s`);
    return {
      databaseUrl: harness.database.displayUrl,
      databaseVersion: await databaseVersion(harness),
      create,
      createRowsAfter: Number(counted.n),
      bulkRowsPerSecond: bulk.rowsPerSecond,
      lists,
      walkPages: samples.walkPages[0],
      createLoaded,
    };
  } finally {
    await harness.close();
  }
}

/** Why PostgreSQL cannot be benchmarked here, or null when it can (the URL is then in the environment). */
function postgresUnavailable(): string | null {
  if (process.env.STRATA_TEST_POSTGRES_URL) return null;
  try {
    const url = execFileSync('bash', [fileURLToPath(new URL('../../scripts/start-test-postgres.sh', import.meta.url))], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
    if (url === '') return 'PostgreSQL is not installed (scripts/start-test-postgres.sh printed no URL)';
    process.env.STRATA_TEST_POSTGRES_URL = url;
    return null;
  } catch (error) {
    return `scripts/start-test-postgres.sh failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
  }
}

function printTable(results: Map<DatabaseKind, KindResult | string>): void {
  const kinds: DatabaseKind[] = ['sqlite', 'postgres'];
  const headings: Record<DatabaseKind, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' };
  const walkPages = [...results.values()].find((r): r is KindResult => typeof r !== 'string')?.walkPages ?? walkPagesMax;
  const rowsText = snapshotRows.toLocaleString('en-US');
  const rate = (pick: (r: KindResult) => number) => (r: KindResult) => pick(r).toFixed(1);
  const pair = (pick: (r: KindResult) => { latencyMsP50: number; latencyMsP99: number }) => (r: KindResult) =>
    `${pick(r).latencyMsP50.toFixed(2)} / ${pick(r).latencyMsP99.toFixed(2)}`;
  const lines: Array<[string, ((r: KindResult) => string) | null]> = [
    [`snapshot create, ${concurrency} in flight, ${volumesLoaded} volumes, empty database at start`, null],
    ['  requests per second', rate((r) => r.create.requestsPerSecond)],
    ['  latency p50 / p99 (ms)', pair((r) => r.create)],
    ['  failed requests', (r) => String(r.create.failed)],
    ['  snapshot rows in the database at the end', (r) => r.createRowsAfter.toLocaleString('en-US')],
    [`bulk insert of ${rowsText} snapshot rows (rows/s)`, rate((r) => r.bulkRowsPerSecond)],
    [`list pages, ${rowsText} snapshots in the project: p50 / p99 (ms)`, null],
    [`  first page (limit=${pageLimit})`, pair((r) => r.lists.first)],
    [`  walk along next_page_token, pages 2-${walkPages}`, pair((r) => r.lists.walk)],
    [`  page ${walkPages} repeated (rows ${((walkPages - 1) * pageLimit).toLocaleString('en-US')}+)`, pair((r) => r.lists.deep)],
    [`  volume_id=X (${volumeRows} volumes)`, pair((r) => r.lists.volume)],
    ['  sort=name&order=desc', pair((r) => r.lists.nameDesc)],
    [`snapshot create with ${rowsText} snapshots in the project`, null],
    ['  requests per second', rate((r) => r.createLoaded.requestsPerSecond)],
    ['  latency p50 / p99 (ms)', pair((r) => r.createLoaded)],
    ['  failed requests', (r) => String(r.createLoaded.failed)],
  ];
  const cells = lines.map(([name, pick]) => [name, ...kinds.map((kind) => {
    const result = results.get(kind);
    if (pick === null) return '';
    return typeof result === 'object' ? pick(result) : result?.startsWith('failed: ') ? 'failed' : 'skipped';
  })]);
  const header = ['figure', ...kinds.map((kind) => headings[kind])];
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i].length)));
  const format = (row: string[]) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  console.log(format(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of cells) console.log(format(row));
  for (const kind of kinds) {
    const result = results.get(kind);
    if (typeof result === 'string') console.log(`${headings[kind]} ${result.startsWith('failed: ') ? '' : 'skipped: '}${result}`);
    else if (result !== undefined) console.log(`${headings[kind]}: ${result.databaseVersion} at ${result.databaseUrl}`);
  }
}

async function main(): Promise<void> {
  const cpus = os.cpus();
  console.log(`strata API benchmark${quick ? ' (quick)' : ''}`);
  console.log(`machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / GiB).toFixed(1)} GiB RAM, ${os.platform()} ${os.release()}`);
  console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other work on the machine skews every figure)`);
  console.log(`node ${process.version}; ${snapshotRows} snapshot rows, ${loadSeconds} s load runs after ${warmupSeconds} s warm-up, ${concurrency} in flight`);
  const results = new Map<DatabaseKind, KindResult | string>();
  results.set('sqlite', await benchDatabase('sqlite'));
  const reason = postgresUnavailable();
  if (reason !== null) {
    console.error(`postgres: skipped: ${reason}`);
    results.set('postgres', reason);
  } else {
    try {
      results.set('postgres', await benchDatabase('postgres'));
    } catch (error) {
      // Still print the SQLite column, but do not let a failed run pass for a skipped one.
      console.error(error);
      results.set('postgres', `failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      process.exitCode = 1;
    }
  }
  console.log(`load average at the end: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  printTable(results);
  const figures = Object.fromEntries([...results].map(([kind, result]) => [kind, typeof result !== 'string' ? result : result.startsWith('failed: ') ? { failed: result.slice('failed: '.length) } : { skipped: result }]));
  console.log(JSON.stringify({ bench: 'api', quick, snapshotRows, loadSeconds, concurrency, node: process.version, cpu: cpus[0]?.model, cores: cpus.length, figures }));
}

if (isMainThread) {
  await main();
} else {
  const task = workerData as LoadTask | ListTask;
  parentPort!.postMessage(task.task === 'load' ? await runLoad(task) : await runLists(task));
}
