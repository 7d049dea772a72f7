/**
 * /healthz reports what keeps the service from taking writes, and error answers never carry
 * server details: an I/O error's message (with its file path) stays in the log, a full
 * database is NO_SPACE, in the native format and in every dialect's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toDialectError } from '../../src/api/dialects/shared.js';
import { toErrorReply } from '../../src/api/errors.js';
import { StrataError } from '../../src/lib/errors.js';
import { createHarness } from './harness.js';

test('/healthz answers 200 ok, then 503 degraded naming the reason when the metadata database is gone', async () => {
  const harness = await createHarness('sqlite');
  const healthy = await harness.request('GET', '/healthz');
  assert.equal(healthy.status, 200);
  assert.deepEqual(healthy.body, { status: 'ok' });
  await harness.database.close();
  const degraded = await harness.request('GET', '/healthz');
  assert.equal(degraded.status, 503, JSON.stringify(degraded.body));
  assert.deepEqual(degraded.body, { status: 'degraded', reasons: ['metadata database unreachable'] });
  await harness.app.close();
});

test('an I/O error answers without its path; a full disk or database answers NO_SPACE 507 without paths', () => {
  const io = toErrorReply(new StrataError('IO_ERROR', 'cannot write /srv/strata/pool/data at 65536 (EIO)'), 'req-1');
  assert.equal(io.status, 500);
  assert.equal(io.body.error.code, 'IO_ERROR');
  assert.doesNotMatch(io.body.error.message, /\/srv/);
  assert.equal(io.log, true, 'the detail must reach the log');

  const sqliteFull = Object.assign(new Error('database or disk is full: /srv/strata/metadata.db'), { code: 'SQLITE_FULL' });
  const postgresFull = Object.assign(new Error('could not extend file "base/16384/2619": No space left on device'), { code: '53100' });
  for (const error of [sqliteFull, postgresFull, new StrataError('NO_SPACE', 'cannot write /srv/strata/pool/data')]) {
    const reply = toErrorReply(error, 'req-2');
    assert.equal(reply.status, 507, String(error));
    assert.equal(reply.body.error.code, 'NO_SPACE');
    assert.doesNotMatch(reply.body.error.message, /\/srv|base\//);
    const dialect = toDialectError(error);
    assert.equal(dialect.code, 'NO_SPACE');
    assert.doesNotMatch(dialect.message, /\/srv|base\//);
  }
});
