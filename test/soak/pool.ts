/** The API calls and checks the soak and the torture share, against a real `strata serve`. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { api, mainJs, type Server } from '../serve/process.js';

const run = promisify(execFile);

export const MiB = 1024 * 1024;
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One API call that must answer `status`; anything else throws, naming the call and the answer. */
export async function expect<T>(server: Server, method: string, path: string, status: number, body?: unknown): Promise<T> {
  const answer = await api<T>(server, method, path, body);
  if (answer.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

export async function createVolume(server: Server, name: string, sizeBytes: number): Promise<string> {
  return (await expect<{ volume: { id: string } }>(server, 'POST', '/api/v1/volumes', 201, { name, size_bytes: sizeBytes })).volume.id;
}

/** The volume's read-write attachment (made on first use; attachments outlive restarts) and its current URI. */
export async function volumeUri(server: Server, volumeId: string): Promise<string> {
  const listed = await expect<{ attachments: Array<{ uri: string; mode: string }> }>(server, 'GET', `/api/v1/attachments?volume_id=${volumeId}`, 200);
  const rw = listed.attachments.find((a) => a.mode === 'rw');
  if (rw !== undefined) return rw.uri;
  return (await expect<{ attachment: { uri: string } }>(server, 'POST', `/api/v1/volumes/${volumeId}/attachments`, 201, {})).attachment.uri;
}

/** Snapshots a volume and waits until the snapshot is available; returns its id. */
export async function snapshot(server: Server, volumeId: string, name: string): Promise<string> {
  const answer = await api<{ snapshot: { id: string; status: string } }>(server, 'POST', `/api/v1/volumes/${volumeId}/snapshots`, { name });
  if (answer.status !== 201 && answer.status !== 202) throw new Error(`create snapshot of ${volumeId}: ${answer.status} ${JSON.stringify(answer.body)}`);
  let { status } = answer.body.snapshot;
  const { id } = answer.body.snapshot;
  const deadline = Date.now() + 30_000;
  while (status === 'creating' && Date.now() < deadline) {
    await sleep(20);
    status = (await expect<{ snapshot: { status: string } }>(server, 'GET', `/api/v1/snapshots/${id}`, 200)).snapshot.status;
  }
  if (status !== 'available') throw new Error(`snapshot ${id} of ${volumeId} is ${status}`);
  return id;
}

/** Waits for a job to finish; returns its final status and error. */
export async function jobOutcome(server: Server, jobId: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { job } = await expect<{ job: { status: string; error?: unknown } }>(server, 'GET', `/api/v1/jobs/${jobId}`, 200);
    if (job.status === 'succeeded' || job.status === 'failed') return job.status === 'failed' ? `failed ${JSON.stringify(job.error)}` : 'succeeded';
    if (Date.now() > deadline) return `still ${job.status} after ${timeoutMs} ms`;
    await sleep(50);
  }
}

/** `strata fsck` on a stopped pool: its output, and whether it printed `ok`. */
export async function fsck(dataDir: string): Promise<{ ok: boolean; output: string }> {
  const outcome = await run(process.execPath, [mainJs, 'fsck', '--data-dir', dataDir]).then(
    (r) => ({ code: 0, output: r.stdout + r.stderr }),
    (e: { code?: number; stdout?: string; stderr?: string; message: string }) => ({ code: e.code ?? 1, output: `${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}` }),
  );
  return { ok: outcome.code === 0 && /^ok$/m.test(outcome.output), output: outcome.output.trim() };
}
