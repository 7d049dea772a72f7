/**
 * ZStack's async job convention (src/api/dialects/zstack/jobs.ts) with a core job whose status
 * the test controls: 202 `{}` while the core job is queued or running, then the API's result
 * once it succeeded, or 503 with the error object once it failed; the result is kept, and
 * another project's session cannot read it. (The conformance run in zstack.test.ts drives
 * the same convention end to end, where core jobs finish too fast to be seen running.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Caller } from '../../src/core/context.js';
import type { Job, JobStatus } from '../../src/core/jobs.js';
import type { ControlPlane } from '../../src/core/plane.js';
import type { Sessions } from '../../src/api/dialects/zstack/auth.js';
import { failedJob } from '../../src/api/dialects/zstack/common.js';
import { ApiJobs } from '../../src/api/dialects/zstack/jobs.js';

const caller = (projectId: string): Caller => ({ tokenId: 't', userId: 'u', userName: 'n', projectId, projectName: 'p', role: 'member', expiresAt: '2999-01-01T00:00:00Z' });

describe('zstack async jobs: polling a core job', () => {
  let app: FastifyInstance;
  let status: JobStatus = 'queued';
  const coreJob = (): Job => ({
    id: 'core-job',
    projectId: 'p1',
    kind: 'revert-snapshot',
    status,
    targetType: 'snapshot',
    targetId: 's',
    progress: { done: 0, total: 0 },
    error: status === 'failed' ? { code: 'INVALID_STATE', message: 'volume 11111111-2222-3333-4444-555555555555 is restoring' } : null,
    createdAt: '',
    startedAt: null,
    finishedAt: null,
  });
  const plane = { jobs: { get: async () => coreJob() } } as unknown as ControlPlane;
  const sessionCallers: Record<string, Caller> = { a: caller('p1'), b: caller('p2') };
  const sessions = {
    callerOf: async (id: string) => sessionCallers[id],
    callerOfRequest: async (request: { headers: Record<string, string> }) => sessionCallers[request.headers.authorization.replace('OAuth ', '')] ?? null,
  } as unknown as Sessions;

  before(async () => {
    const jobs = new ApiJobs(plane, sessions, '/zstack', () => 'http://mn.example:8080');
    app = Fastify();
    app.post('/zstack/v1/work', (request, reply) =>
      jobs.submit(request, reply, { sessionId: 'a', apiTimeoutMs: 1000 }, async () => ({
        follow: ['core-job'],
        finish: async ([job]) => {
          if (job.status === 'failed') throw failedJob(job);
          return { results: ['done'] };
        },
      })),
    );
    app.get<{ Params: { uuid: string } }>('/zstack/v1/api-jobs/:uuid', (request, reply) => jobs.poll(request, reply, request.params.uuid));
    await app.ready();
  });
  after(() => app.close());

  const submit = async () => {
    const r = await app.inject({ method: 'POST', url: '/zstack/v1/work', headers: { host: 'attacker.example' } });
    assert.equal(r.statusCode, 202);
    // The location is built from the public URL, never from the Host header the client sent.
    const body = r.json() as { location: string; apiTimeout: number };
    assert.match(body.location, /^http:\/\/mn\.example:8080\/zstack\/v1\/api-jobs\/[0-9a-f]{32}$/);
    assert.equal(r.headers.location, body.location);
    assert.equal(body.apiTimeout, 1000);
    return new URL(body.location).pathname;
  };
  const poll = (path: string, session = 'a') => app.inject({ method: 'GET', url: path, headers: { authorization: `OAuth ${session}` } });

  test('202 {} while queued or running, then 200 with the result, which stays', async () => {
    status = 'queued';
    const path = await submit();
    let r = await poll(path);
    assert.equal(r.statusCode, 202);
    assert.deepEqual(r.json(), {});
    status = 'running';
    assert.equal((await poll(path)).statusCode, 202);
    status = 'succeeded';
    r = await poll(path);
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { results: ['done'] });
    status = 'failed';
    assert.equal((await poll(path)).statusCode, 200, 'a finished job keeps its result');
  });

  test('503 with the error object when the core job failed; uuids without dashes', async () => {
    status = 'running';
    const path = await submit();
    status = 'failed';
    const r = await poll(path);
    assert.equal(r.statusCode, 503);
    assert.deepEqual(r.json(), { error: { code: 'SYS.1006', description: 'An operation failed', details: 'volume 11111111222233334444555555555555 is restoring' } });
  });

  test("another project's session reads the job as expired", async () => {
    status = 'succeeded';
    const path = await submit();
    const r = await poll(path, 'b');
    assert.equal(r.statusCode, 404);
    assert.equal(r.body, 'the job has been expired');
  });
});
