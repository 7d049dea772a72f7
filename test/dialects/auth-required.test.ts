/**
 * Every route of every dialect and of the native API refuses a request without a token (or
 * with a wrong one), except the few that are public by the platform's design: version
 * discovery, login, docs, health and metrics. A sweep over the app's own route list, so a
 * route added later without authentication fails here.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHarness, type Harness } from '../api/harness.js';

/** Routes that answer without a token on purpose: [method, path pattern]. */
const publicRoutes: Array<[string, RegExp]> = [
  ['GET', /^\/healthz$/],
  ['GET', /^\/metrics$/],
  ['GET', /^\/docs/],
  // The console's static files; the data they show comes from the API with the user's token.
  ['GET', /^\/console(\/|$)/],
  ['GET', /^\/api\/v1\/openapi\.json$/],
  ['POST', /^\/api\/v1\/auth\/tokens$/],
  ['POST', /^\/xsky\/(api\/)?v1\/auth\/tokens\/?$/],
  ['GET', /^\/cinder\/?$/],
  ['GET', /^\/cinder\/v3\/?$/],
  ['GET', /^\/manila\/?$/],
  ['GET', /^\/manila\/v2\/?$/],
  ['PUT', /^\/zstack\/v1\/accounts\/login$/],
  // Logout names the session in the path; it reveals nothing else. (The validity check needs a session.)
  ['DELETE', /^\/zstack\/v1\/accounts\/sessions\/:/],
];

function concrete(url: string, projectId: string): string {
  return url
    .replace(/:(project_id|tenant_id)\b/g, projectId)
    .replace(/:[A-Za-z_]+/g, '1')
    .replace(/\*$/, '');
}

describe('every route needs a token', () => {
  let h: Harness;
  let projectId: string;
  before(async () => {
    h = await createHarness('sqlite');
    projectId = (await h.plane.identity.authenticate(h.adminToken)).projectId;
  });
  after(async () => {
    await h.close();
  });

  test('no route answers 2xx without a token or with a wrong one, and none answers 5xx', async () => {
    const problems: string[] = [];
    const before = await counts(h);
    const routes = h.app.strataRoutes.filter(({ method, url }) => !publicRoutes.some(([m, pattern]) => m === method && pattern.test(url)));
    assert.ok(routes.length > 150, `the sweep sees the routes (${routes.length})`);
    const wrong = {
      authorization: 'Bearer not-a-token',
      'x-auth-token': 'not-a-token',
      'xms-auth-token': 'not-a-token',
    };
    for (const { method, url } of routes) {
      const path = concrete(url, projectId);
      const body = ['POST', 'PUT', 'PATCH'].includes(method) ? {} : undefined;
      for (const [label, headers] of [
        ['no token', {}],
        ['a wrong token', wrong],
        ['a wrong ZStack session', { authorization: 'OAuth 0123456789abcdef0123456789abcdef' }],
      ] as const) {
        const response = await h.request(method, path, { headers: { ...headers }, body });
        if (path.startsWith('/zstack/') && zstackRefusal(response.status, response.body)) continue;
        if ((response.status >= 200 && response.status < 300) || response.status >= 500) {
          problems.push(`${method} ${path} (${url}) with ${label}: ${response.status} ${JSON.stringify(response.body).slice(0, 200)}`);
        }
      }
    }
    assert.deepEqual(await counts(h), before, 'nothing was created or changed');
    assert.deepEqual(problems, [], problems.join('\n'));
  });
});

/**
 * ZStack answers API errors, a bad session among them, as 503 with its error object, and its
 * async APIs answer 202 before checking the session (the job's result carries the error): both
 * are refusals there, and the state check above proves the jobs did nothing.
 */
function zstackRefusal(status: number, body: unknown): boolean {
  if (status === 202) return typeof (body as { location?: unknown })?.location === 'string';
  return status === 503 && (body as { error?: { code?: string } })?.error?.code === 'ID.1001';
}

async function counts(h: Harness): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const table of ['volumes', 'snapshots', 'groups', 'group_snapshots', 'attachments', 'jobs', 'projects', 'users'] as const) {
    const row = await h.database.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    result[table] = Number(row.n);
  }
  return result;
}
