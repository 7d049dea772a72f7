/**
 * `strata serve` with NBD over TLS, end to end: STRATA_NBD_TLS_DIR (the environment form of
 * --nbd-tls-dir) makes attachment URIs nbds:// and the real clients reach the volume through
 * TLS; a directory without credentials stops the start with the file it misses. Skipped, saying
 * why, when openssl or a client tool is missing.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, mainJs, type Server, startServe, stopServe } from '../serve/process.js';
import { makeCertificates, type TestCertificates } from './certificates.js';
import { installed } from './tools.js';

const MiB = 1024 * 1024;
const adminPassword = 'serve-tls-admin';

function run(tool: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(tool, args, { timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

const missing = ['openssl', 'nbdinfo', 'qemu-io'].filter((tool) => !installed(tool));

describe('strata serve --nbd-tls-dir', { skip: missing.length > 0 && `not installed: ${missing.join(', ')}` }, () => {
  let root: string;
  let certificates: TestCertificates;
  let server: Server;

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'strata-serve-tls-'));
    certificates = await makeCertificates(join(root, 'certificates'));
    const previous = process.env.STRATA_NBD_TLS_DIR;
    process.env.STRATA_NBD_TLS_DIR = certificates.serverDir;
    try {
      server = await startServe(join(root, 'data'), adminPassword);
    } finally {
      if (previous === undefined) delete process.env.STRATA_NBD_TLS_DIR;
      else process.env.STRATA_NBD_TLS_DIR = previous;
    }
  });
  after(async () => {
    if (server !== undefined) await stopServe(server);
    rmSync(root, { recursive: true, force: true });
  });

  it('attachments are nbds:// URIs that nbdinfo and qemu-io use through TLS; plaintext is refused', async () => {
    assert.match(server.nbd, /^nbds:\/\/127\.0\.0\.1:\d+$/);
    const created = await api<{ volume: { id: string } }>(server, 'POST', '/api/v1/volumes', { name: 'tls', size_bytes: 8 * MiB });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const attached = await api<{ attachment: { uri: string } }>(server, 'POST', `/api/v1/volumes/${created.body.volume.id}/attachments`, {});
    assert.equal(attached.status, 201, JSON.stringify(attached.body));
    const { uri } = attached.body.attachment;
    assert.match(uri, /^nbds:\/\/127\.0\.0\.1:\d+\/.+/);
    const url = new URL(uri);
    const exportName = decodeURIComponent(url.pathname.slice(1));

    const image = `driver=raw,file.driver=nbd,file.server.type=inet,file.server.host=${url.hostname},file.server.port=${url.port},file.export=${exportName},file.tls-creds=tls0`;
    const credentials = `tls-creds-x509,id=tls0,endpoint=client,dir=${certificates.clientDir}`;
    const written = await run('qemu-io', ['--object', credentials, '--image-opts', image, '-c', 'write -P 0x6b 1M 256k', '-c', 'flush']);
    assert.equal(written.code, 0, written.stderr);
    const read = await run('qemu-io', ['--object', credentials, '--image-opts', image, '-c', 'read -P 0x6b 1M 256k', '-c', 'read -P 0 0 1M']);
    assert.equal(read.code, 0, read.stderr);
    assert.doesNotMatch(read.stdout + read.stderr, /Pattern verification failed/);

    const info = await run('nbdinfo', ['--size', `${uri}?tls-certificates=${certificates.clientDir}`]);
    assert.equal(info.code, 0, info.stderr);
    assert.equal(info.stdout.trim(), String(8 * MiB));
    const plain = await run('nbdinfo', ['--size', uri.replace(/^nbds:/, 'nbd:')]);
    assert.notEqual(plain.code, 0, plain.stdout);
    assert.match(plain.stderr, /requires TLS/);
  });

  it('a directory without credentials stops the start, naming the missing file', async () => {
    const child = spawn(process.execPath, [mainJs, 'serve', '--data-dir', join(root, 'data-2'), '--listen', '127.0.0.1:0', '--nbd-listen', '127.0.0.1:0', '--nbd-tls-dir', join(root, 'empty')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, STRATA_ADMIN_PASSWORD: adminPassword },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
    assert.notEqual(code, 0, output);
    assert.match(output, /server-cert\.pem: ENOENT/);
    assert.doesNotMatch(output, /^nbd: /m);
  });
});
