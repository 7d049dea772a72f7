/**
 * Tokens never reach the log: real requests through the app with its real logger (the pino
 * options `strata serve` passes, writing into a buffer) carry a token in each place a client
 * may put one: the query string (XSKY `?token=`), the path (ZStack session ids), and headers
 * (Authorization: Bearer and OAuth, X-Auth-Token, Xms-Auth-Token). The test asserts the
 * requests were logged (their URLs are there) and that no token appears in any line.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { redactingLoggerOptions, redactSecrets } from '../../src/api/log-redaction.js';
import { createHarness, type Harness } from './harness.js';
import { password } from './native-assertions.js';

describe('secrets are never logged', () => {
  let h: Harness;
  const lines: string[] = [];
  before(async () => {
    h = await createHarness('sqlite', { logger: { level: 'debug', stream: { write: (line: string) => lines.push(line) } } });
  });
  after(async () => {
    await h.close();
  });

  test('tokens in query strings, paths and headers are redacted from every line', async () => {
    const tenant = await h.tenant('logs');
    const userName = (await h.plane.identity.authenticate(tenant.token)).userName;
    const login = await h.request('PUT', '/zstack/v1/accounts/login', { body: { logInByAccount: { accountName: userName, password: createHash('sha512').update(password).digest('hex') } } });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const session: string = login.body.inventory.uuid;
    const other: string = (await h.request('PUT', '/zstack/v1/accounts/login', { body: { logInByAccount: { accountName: userName, password: createHash('sha512').update(password).digest('hex') } } })).body.inventory.uuid;
    const token = tenant.token;
    const secrets = [token, session, other, password];
    lines.length = 0;

    const sent = [
      await h.app.inject({ method: 'GET', url: `/xsky/v1/block-volumes/?token=${encodeURIComponent(token)}&limit=5` }),
      await h.app.inject({ method: 'GET', url: `/xsky/v1/block-volumes/?limit=5&token=${encodeURIComponent(token)}` }),
      await h.app.inject({ method: 'GET', url: `/zstack/v1/accounts/sessions/${session}/valid`, headers: { authorization: `OAuth ${session}` } }),
      await h.app.inject({ method: 'DELETE', url: `/zstack/v1/accounts/sessions/${other}` }),
      await h.app.inject({ method: 'GET', url: '/api/v1/volumes', headers: { authorization: `Bearer ${token}` } }),
      await h.app.inject({ method: 'GET', url: `/cinder/v3/${tenant.projectId}/volumes`, headers: { 'x-auth-token': token } }),
      await h.app.inject({ method: 'GET', url: '/xsky/v1/block-volumes/', headers: { 'xms-auth-token': token } }),
      await h.app.inject({ method: 'POST', url: '/api/v1/auth/tokens', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ name: userName, password }) }),
    ];
    assert.deepEqual(
      sent.map((r) => r.statusCode),
      [200, 200, 200, 200, 200, 200, 200, 201],
      sent.map((r) => r.body.slice(0, 200)).join('\n'),
    );
    const log = lines.join('');
    assert.ok(log.includes('/xsky/v1/block-volumes/?token=[REDACTED]&limit=5'), `the query request was logged, redacted:\n${log}`);
    assert.ok(log.includes('/zstack/v1/accounts/sessions/[REDACTED]/valid'), 'the session path was logged, redacted');
    assert.ok(log.includes('/api/v1/volumes'), 'the header requests were logged');
    for (const secret of secrets) assert.ok(!log.includes(secret), `a secret (${secret.slice(0, 4)}…) is in the log:\n${log}`);
  });

  test('headers logged by any line are censored; error text is redacted', () => {
    const captured: string[] = [];
    const logger = pino(redactingLoggerOptions({ level: 'info' }) as pino.LoggerOptions, { write: (line: string) => captured.push(line) });
    const headers = { authorization: 'Bearer sekrit-1', 'x-auth-token': 'sekrit-2', 'xms-auth-token': 'sekrit-3', cookie: 'sekrit-4', accept: 'application/json' };
    logger.info({ headers }, 'top level');
    logger.info({ req: { method: 'GET', url: '/x?token=sekrit-7', headers } }, 'request');
    logger.info({ upstream: { headers } }, 'nested');
    logger.error({ err: new Error('failed GET /xsky/v1/block-volumes?token=sekrit-5 with OAuth sekrit-6') }, 'failed');
    const text = captured.join('');
    assert.equal(captured.length, 4);
    for (let i = 1; i <= 7; i++) assert.ok(!text.includes(`sekrit-${i}`), `sekrit-${i} is in:\n${text}`);
    assert.ok(text.includes('application/json'), 'other headers stay');
    assert.equal(redactSecrets('/v1/accounts/sessions/abc/valid?x=1&session_id=def'), '/v1/accounts/sessions/[REDACTED]/valid?x=1&session_id=[REDACTED]');
  });
});
