/**
 * A real `strata serve` process for the end-to-end tests: start it (reading the `api:` and
 * `nbd:` lines it prints, then logging in as the bootstrap admin), call its API, stop it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { cephConf, freshNamespace, testPool } from '../backend/ceph.js';
import type { BackendKind } from '../support/backends.js';

export const mainJs = join(import.meta.dirname, '..', '..', 'src', 'main.js');

export function have(tool: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}

export interface Server {
  process: ChildProcess;
  api: string;
  nbd: string;
  token: string;
  exited: Promise<number | null>;
}

/** Starts `strata serve` on DATA_DIR (ports 0 unless given) with this admin password on first start, and any further flags. */
export async function startServe(dataDir: string, adminPassword: string, ports: { api?: number; nbd?: number } = {}, flags: string[] = []): Promise<Server> {
  const child = spawn(
    process.execPath,
    [mainJs, 'serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${ports.api ?? 0}`, '--nbd-listen', `127.0.0.1:${ports.nbd ?? 0}`, '--log-level', 'warn', ...flags],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, STRATA_ADMIN_PASSWORD: adminPassword } },
  );
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  const lines = await new Promise<{ api: string; nbd: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`strata serve printed no addresses in 20 s; output: ${output}`)), 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const api = /^api: (\S+)$/m.exec(output);
      const nbd = /^nbd: (\S+)$/m.exec(output);
      if (api !== null && nbd !== null) {
        clearTimeout(timer);
        resolve({ api: api[1], nbd: nbd[1] });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`strata serve exited with ${code}; output: ${output}`));
    });
  });
  const issued = await fetch(`${lines.api}/api/v1/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'admin', password: adminPassword }),
  });
  assert.equal(issued.status, 201, await issued.clone().text());
  const { token } = (await issued.json()) as { token: string };
  return { process: child, ...lines, token, exited };
}

/** SIGTERM (a drain), then the exit code; a process that already ended just reports it. */
export async function stopServe(server: Server): Promise<number | null> {
  if (server.process.exitCode !== null || server.process.signalCode !== null) return server.exited;
  server.process.kill('SIGTERM');
  return server.exited;
}

/** One native API call with the server's admin token; the body is parsed JSON (null when empty). */
export async function api<T>(server: Server, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${server.api}${path}`, {
    method,
    headers: { authorization: `Bearer ${server.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? null : JSON.parse(text)) as T };
}

/**
 * The `strata serve` flags that put its volumes on a backend: none for the embedded engine;
 * for RBD a fresh namespace of the test pool (fixed for the caller's suite, so a restart finds
 * its volumes again) and the test cluster's ceph.conf.
 */
export function backendFlags(backend: BackendKind, label: string): string[] {
  if (backend === 'local') return [];
  const conf = cephConf();
  if (conf === null) throw new Error('strata serve on rbd needs STRATA_TEST_CEPH_CONF (see scripts/start-test-ceph.sh)');
  return ['--backend', `rbd:${testPool}/${freshNamespace(label)}`, '--ceph-conf', conf];
}
