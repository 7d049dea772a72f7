/**
 * The REST server's bounds against clients that hold connections: a client that sends its
 * headers a line at a time (slowloris), one that connects and says nothing, and an idle
 * keep-alive connection are closed by the server; beyond the connection cap a new connection
 * is closed at once while the others keep working. Real sockets against a listening server,
 * with the bounds shortened; the defaults are checked on the server `strata serve` builds.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildApp } from '../../src/api/app.js';
import { limits } from '../../src/lib/limits.js';
import { createHarness, type Harness } from './harness.js';

/** A socket and what it has received; `closed` resolves when the server closes it. */
interface Client {
  socket: Socket;
  received: () => string;
  closed: Promise<void>;
  isClosed: () => boolean;
}

async function open(port: number): Promise<Client> {
  const socket = connect(port, '127.0.0.1');
  let data = '';
  let closedFlag = false;
  socket.on('data', (chunk) => (data += chunk.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.on('close', () => ((closedFlag = true), resolve())));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => data, closed, isClosed: () => closedFlag };
}

/** Waits for the server to close `client`; fails (without waiting forever) if it never does. */
async function closedByServer(client: Client, what: string, patienceMs = 10_000): Promise<void> {
  const verdict = await Promise.race([client.closed.then(() => 'closed'), sleep(patienceMs).then(() => 'open')]);
  client.socket.destroy();
  assert.equal(verdict, 'closed', `${what}: the server left the connection open for ${patienceMs} ms`);
}

const healthz = 'GET /healthz HTTP/1.1\r\nHost: strata\r\nConnection: keep-alive\r\n\r\n';

describe('HTTP server bounds', () => {
  let h: Harness;
  let port: number;
  const connectionCountMax = 4;

  before(async () => {
    h = await createHarness('sqlite', {
      http: { headersTimeoutMs: 500, requestTimeoutMs: 1_000, keepAliveTimeoutMs: 300, socketIdleTimeoutMs: 5_000, timeoutCheckIntervalMs: 100, connectionCountMax },
    });
    await h.app.listen({ host: '127.0.0.1', port: 0 });
    const address = h.app.server.address();
    assert.ok(typeof address === 'object' && address !== null);
    port = address.port;
  });
  after(async () => {
    await h?.close();
  });

  test('a client that sends its headers one line at a time is answered 408 and closed', async () => {
    const client = await open(port);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: strata\r\n');
    // 100 header lines, one every 50 ms: the whole request would take 5 s.
    let sent = 0;
    for (; sent < 100 && !client.isClosed(); sent++) {
      client.socket.write(`X-Slow-${sent}: x\r\n`);
      await sleep(50);
    }
    await closedByServer(client, 'slow headers');
    assert.ok(sent < 100, 'the server waited for every header line');
    assert.match(client.received(), /^HTTP\/1\.1 408 /, `the server answered ${JSON.stringify(client.received().slice(0, 80))}`);
  });

  test('a client that connects and sends nothing is closed', async () => {
    const client = await open(port);
    await closedByServer(client, 'silent connection');
  });

  test('a slow body is closed by the request timeout', async () => {
    const client = await open(port);
    client.socket.write('POST /api/v1/auth/tokens HTTP/1.1\r\nHost: strata\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
    let sent = 0;
    for (; sent < 99 && !client.isClosed(); sent++) {
      client.socket.write(' ');
      await sleep(50);
    }
    await closedByServer(client, 'slow body');
    assert.ok(sent < 99, 'the server waited for the whole slow body');
  });

  test('an idle keep-alive connection is closed after its response', async () => {
    const client = await open(port);
    client.socket.write(healthz);
    await closedByServer(client, 'idle keep-alive');
    assert.match(client.received(), /^HTTP\/1\.1 200 /);
  });

  test('beyond the connection cap a new connection is closed at once; the others keep working', async () => {
    const held: Client[] = [];
    for (let i = 0; i < connectionCountMax; i++) held.push(await open(port));
    const refused = await open(port);
    await closedByServer(refused, 'connection beyond the cap');
    assert.equal(refused.received(), '');
    // The held connections are served (each one request, before the timeouts close them).
    for (const client of held) client.socket.write(healthz);
    for (const client of held) {
      await closedByServer(client, 'held connection');
      assert.match(client.received(), /^HTTP\/1\.1 200 /, 'a connection under the cap was not served');
    }
    // Once they are gone, new connections are accepted again.
    const again = await open(port);
    again.socket.write(healthz);
    await closedByServer(again, 'connection after the others closed');
    assert.match(again.received(), /^HTTP\/1\.1 200 /);
  });
});

test('the HTTP server strata serve builds has the bounds of limits.ts', async () => {
  const h = await createHarness('sqlite');
  try {
    const app = await buildApp({ plane: h.plane });
    const server = app.server;
    const c = limits.control;
    assert.equal(server.headersTimeout, c.httpHeadersTimeoutMs);
    assert.equal(server.requestTimeout, c.httpRequestTimeoutMs);
    assert.equal(server.keepAliveTimeout, c.httpKeepAliveTimeoutMs);
    assert.equal(server.timeout, c.httpSocketIdleTimeoutMs);
    assert.equal(server.maxConnections, c.httpConnectionCountMax);
    await app.close();
  } finally {
    await h.close();
  }
});
