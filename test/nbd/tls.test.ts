/**
 * NBD over TLS: with credentials the server requires NBD_OPT_STARTTLS before anything else
 * (the spec's FORCEDTLS mode). Driven by a raw client for the protocol rules, and by nbdinfo
 * (libnbd) and qemu-io for interoperability, with certificates made by openssl at test time.
 * Tests whose tool is not installed are skipped and say so.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { codec, protocol, readTlsDirectory } from '../../src/nbd/index.js';
import { makeCertificates, makeStrangerClientDir, type TestCertificates } from './certificates.js';
import { addMemoryExport, startServer, type Harness } from './harness.js';
import { RawClient, type OptionReply } from './raw-client.js';
import { installed } from './tools.js';

const {
  NBD_CMD_READ,
  NBD_CMD_WRITE,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_OPT_ABORT,
  NBD_OPT_EXPORT_NAME,
  NBD_OPT_GO,
  NBD_OPT_INFO,
  NBD_OPT_LIST,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STARTTLS,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_INVALID,
  NBD_REP_ERR_TLS_REQD,
} = protocol;
const MiB = 1024 * 1024;

let root: string;
let certificates: TestCertificates | null = null;
let harness: Harness | null = null;

before(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'strata-nbd-tls-'));
  if (!installed('openssl')) return;
  certificates = await makeCertificates(root);
  harness = await startServer({ tls: readTlsDirectory(certificates.serverDir) });
});
after(async () => {
  await harness?.close();
  rmSync(root, { recursive: true, force: true });
});

/** The running TLS server, or null (test skipped) when openssl or a tool is missing. */
function needs(t: TestContext, ...tools: string[]): { harness: Harness; certificates: TestCertificates } | null {
  const missing = ['openssl', ...tools].filter((tool) => !installed(tool));
  if (missing.length > 0 || harness === null || certificates === null) {
    t.skip(`not installed: ${missing.join(', ')}`);
    return null;
  }
  return { harness, certificates };
}

function run(tool: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(tool, args, { timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

async function haggling(port: number, clientFlags = NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES): Promise<RawClient> {
  const client = await RawClient.connect(port);
  await client.greeting();
  client.send(codec.encodeClientFlags(clientFlags));
  return client;
}

const types = (replies: OptionReply[]): number[] => replies.map((reply) => reply.replyType);

describe('plaintext clients', () => {
  it('get NBD_REP_ERR_TLS_REQD for every option but STARTTLS and ABORT, and learn nothing', async (t) => {
    const setup = needs(t);
    if (setup === null) return;
    const { name } = addMemoryExport(setup.harness, { sizeBytes: MiB });
    const client = await haggling(setup.harness.port);
    const replies: OptionReply[] = [];
    for (const [option, data] of [
      [NBD_OPT_LIST, undefined],
      [NBD_OPT_STRUCTURED_REPLY, undefined],
      [NBD_OPT_INFO, codec.encodeInfoRequest(name, [])],
      [NBD_OPT_GO, codec.encodeInfoRequest(name, [])],
      [NBD_OPT_SET_META_CONTEXT, codec.encodeMetaContextRequest(name, ['base:allocation'])],
      [0x7777, Buffer.alloc(100)],
    ] as const) {
      const answer = await client.option(option, data);
      assert.deepEqual(types(answer), [NBD_REP_ERR_TLS_REQD], `option ${option}`);
      replies.push(...answer);
    }
    assert.ok(!Buffer.concat(replies.map((reply) => reply.data)).toString('latin1').includes(name));
    assert.deepEqual(types(await client.option(NBD_OPT_ABORT)), [NBD_REP_ACK]);
    await client.closed;
  });

  it('are dropped by NBD_OPT_EXPORT_NAME before TLS, or without fixed newstyle', async (t) => {
    const setup = needs(t);
    if (setup === null) return;
    const { name } = addMemoryExport(setup.harness, { sizeBytes: MiB });
    const exporting = await haggling(setup.harness.port);
    exporting.send(codec.encodeOption(NBD_OPT_EXPORT_NAME, Buffer.from(name)));
    assert.equal((await exporting.readToEnd()).length, 0);
    const oldStyle = await haggling(setup.harness.port, 0);
    oldStyle.send(codec.encodeOption(NBD_OPT_STARTTLS));
    assert.equal((await oldStyle.readToEnd()).length, 0);
  });

  it('cannot smuggle bytes after NBD_OPT_STARTTLS: the connection ends without an acknowledgement', async (t) => {
    const setup = needs(t);
    if (setup === null) return;
    const client = await haggling(setup.harness.port);
    assert.deepEqual(types(await client.option(NBD_OPT_STARTTLS, Buffer.from('x'))), [NBD_REP_ERR_INVALID]);
    client.send(Buffer.concat([codec.encodeOption(NBD_OPT_STARTTLS), codec.encodeOption(NBD_OPT_LIST)]));
    assert.equal((await client.readToEnd()).length, 0);
    const refused = await setup.harness.waitForEvent((event) => event.type === 'handshake-refused' && /after NBD_OPT_STARTTLS/.test(event.reason));
    assert.ok(refused.type === 'handshake-refused');
  });
});

describe('after STARTTLS', () => {
  it('the handshake and I/O run over TLS; a second STARTTLS is invalid', async (t) => {
    const setup = needs(t);
    if (setup === null) return;
    const { device, name } = addMemoryExport(setup.harness, { sizeBytes: MiB });
    const plain = await haggling(setup.harness.port);
    const ca = readFileSync(path.join(setup.certificates.clientDir, 'ca-cert.pem'));
    const client = await plain.startTls({ ca, servername: 'localhost' });
    assert.deepEqual(types(await client.option(NBD_OPT_STARTTLS)), [NBD_REP_ERR_INVALID]);
    assert.deepEqual(types(await client.option(NBD_OPT_STRUCTURED_REPLY)), [NBD_REP_ACK]);
    assert.equal((await client.option(NBD_OPT_GO, codec.encodeInfoRequest(name, []))).at(-1)?.replyType, NBD_REP_ACK);
    const data = Buffer.alloc(8192, 0x3c);
    client.request({ type: NBD_CMD_WRITE, cookie: 1n, offsetBytes: 4096, lengthBytes: data.length, data });
    assert.deepEqual(await client.reply(), { kind: 'simple', errno: 0, cookie: 1n, data: Buffer.alloc(0) });
    assert.deepEqual(device.peek(4096, data.length), data);
    client.request({ type: NBD_CMD_READ, cookie: 2n, offsetBytes: 4096, lengthBytes: data.length });
    const chunks = await client.structuredReply();
    const payload = codec.decodeChunkPayload(chunks[0]!.type, chunks[0]!.payload);
    assert.ok(payload?.type === 'data');
    assert.deepEqual(payload.data, data);
    client.destroy();
  });

  it('a failed TLS handshake ends that connection only', async (t) => {
    const setup = needs(t);
    if (setup === null) return;
    const client = await haggling(setup.harness.port);
    const [reply] = await client.option(NBD_OPT_STARTTLS);
    assert.equal(reply?.replyType, NBD_REP_ACK);
    client.send(Buffer.from('this is not a TLS ClientHello, it is plain text'));
    await client.closed;
    const refused = await setup.harness.waitForEvent((event) => event.type === 'handshake-refused' && /TLS handshake failed/.test(event.reason));
    assert.ok(refused.type === 'handshake-refused');
    const again = await haggling(setup.harness.port);
    await again.startTls({ ca: readFileSync(path.join(setup.certificates.clientDir, 'ca-cert.pem')), servername: 'localhost' });
    again.socket.destroy();
  });
});

describe('nbdinfo (libnbd)', () => {
  it('reads the export over nbds:// with the CA; a plaintext nbd:// client is refused', async (t) => {
    const setup = needs(t, 'nbdinfo');
    if (setup === null) return;
    const { name } = addMemoryExport(setup.harness, { sizeBytes: 4 * MiB });
    const uri = `${setup.harness.uri(name)}?tls-certificates=${setup.certificates.clientDir}`;
    assert.match(uri, /^nbds:\/\//);
    const result = await run('nbdinfo', ['--json', uri]);
    assert.equal(result.code, 0, result.stderr);
    const info = JSON.parse(result.stdout) as { TLS: boolean; exports: { 'export-size': number }[] };
    assert.equal(info.TLS, true);
    assert.equal(info.exports[0]?.['export-size'], 4 * MiB);
    const plain = await run('nbdinfo', ['--size', `nbd://127.0.0.1:${setup.harness.port}/${name}`]);
    assert.notEqual(plain.code, 0, plain.stdout);
    assert.match(plain.stderr, /requires TLS/, 'libnbd reads NBD_REP_ERR_TLS_REQD');
  });

  it('refuses a server its CA did not sign', async (t) => {
    const setup = needs(t, 'nbdinfo');
    if (setup === null) return;
    const stranger = await makeStrangerClientDir(root);
    const { name } = addMemoryExport(setup.harness, { sizeBytes: MiB });
    const result = await run('nbdinfo', ['--size', `${setup.harness.uri(name)}?tls-certificates=${stranger}`]);
    assert.notEqual(result.code, 0, result.stdout);
    assert.match(result.stderr, /certificate verification/);
  });
});

describe('qemu-io (tls-creds-x509)', () => {
  const image = (port: number, name: string) =>
    `driver=raw,file.driver=nbd,file.server.type=inet,file.server.host=127.0.0.1,file.server.port=${port},file.export=${name},file.tls-creds=tls0`;

  it('writes a pattern over TLS and reads it back', async (t) => {
    const setup = needs(t, 'qemu-io');
    if (setup === null) return;
    const { device, name } = addMemoryExport(setup.harness, { sizeBytes: 4 * MiB });
    const credentials = `tls-creds-x509,id=tls0,endpoint=client,dir=${setup.certificates.clientDir}`;
    const result = await run('qemu-io', ['--object', credentials, '--image-opts', image(setup.harness.port, name), '-c', 'write -P 0xab 64k 64k', '-c', 'read -P 0xab 64k 64k']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /wrote 65536\/65536 bytes at offset 65536/);
    assert.match(result.stdout, /read 65536\/65536 bytes at offset 65536/);
    assert.doesNotMatch(result.stdout + result.stderr, /Pattern verification failed/);
    assert.deepEqual(device.peek(64 * 1024, 64 * 1024), Buffer.alloc(64 * 1024, 0xab));
  });

  it('fails without TLS credentials, and with a CA that did not sign the server', async (t) => {
    const setup = needs(t, 'qemu-io');
    if (setup === null) return;
    const { device, name } = addMemoryExport(setup.harness, { sizeBytes: MiB });
    const plain = await run('qemu-io', ['-f', 'raw', `nbd://127.0.0.1:${setup.harness.port}/${name}`, '-c', 'write -P 0x11 0 4k']);
    assert.notEqual(plain.code, 0);
    assert.doesNotMatch(plain.stdout, /wrote/);
    const stranger = path.join(root, 'stranger-qemu');
    await makeStrangerClientDir(stranger);
    const credentials = `tls-creds-x509,id=tls0,endpoint=client,dir=${path.join(stranger, 'stranger')}`;
    const wrong = await run('qemu-io', ['--object', credentials, '--image-opts', image(setup.harness.port, name), '-c', 'write -P 0x11 0 4k']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /certificate/);
    assert.doesNotMatch(wrong.stdout, /wrote/);
    assert.equal(device.pages.size, 0, 'nothing was written');
  });
});

describe('credentials', () => {
  it('a missing file, a certificate from another CA, or a key that does not match are refused with the reason', async (t) => {
    const setup = needs(t);
    if (setup === null) return;
    assert.throws(() => readTlsDirectory(path.join(root, 'nowhere')), /cannot read .*server-cert\.pem: ENOENT/);
    const mixed = path.join(root, 'mixed');
    const stranger = await makeStrangerClientDir(mixed);
    await makeCertificates(path.join(root, 'other'));
    const serverDir = setup.certificates.serverDir;
    const copy = (from: string, file: string, as = file) => copyFileSync(path.join(from, file), path.join(mixed, as));
    copy(serverDir, 'server-cert.pem');
    copy(serverDir, 'server-key.pem');
    copy(stranger, 'ca-cert.pem');
    assert.throws(() => readTlsDirectory(mixed), /server-cert\.pem is not signed by ca-cert\.pem/);
    copy(serverDir, 'ca-cert.pem');
    copy(path.join(root, 'other', 'server'), 'server-key.pem');
    assert.throws(() => readTlsDirectory(mixed), /unusable together/);
  });
});
