/**
 * The web console in a real browser against a real `strata serve`: sign in, create a volume,
 * take snapshots (data written over NBD between them), revert to the older one and take
 * another, so a second branch appears in the drawn tree; clone, diff, attach read-only; a
 * refused delete shows the API's code; a cascading delete shows its job's progress; sign out
 * revokes the token; an admin switches project. No console errors, no request to another host. Screenshots of the main
 * pages go to docs/screenshots/. Skipped when Debian's chromium is not installed.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { type Browser, haveChromium, openBrowser } from './browser.js';
import { NbdClient } from './nbd-client.js';
import { api, type Server, startServe, stopServe } from './process.js';

const password = 'console-admin-password';
const screenshots = join(import.meta.dirname, '..', '..', '..', 'docs', 'screenshots');
const MiB = 1024 * 1024;

/** Writes `length` bytes of `fill` at `offset` through a short read-write attachment. */
async function writeOverNbd(server: Server, volumeId: string, offset: number, length: number, fill: number): Promise<void> {
  const attached = await api<any>(server, 'POST', `/api/v1/volumes/${volumeId}/attachments`, { mode: 'rw' });
  assert.equal(attached.status, 201, JSON.stringify(attached.body));
  const client = await NbdClient.connect(attached.body.attachment.uri);
  await client.write(offset, Buffer.alloc(length, fill), { fua: true });
  await client.disconnect();
  assert.equal((await api(server, 'DELETE', `/api/v1/attachments/${attached.body.attachment.id}`)).status, 204);
}

const node = (page: Page, name: string) => page.getByRole('button', { name: new RegExp(`^${name} `) });

describe('web console', { skip: haveChromium() ? false : 'chromium is not installed (apt-get install chromium)' }, () => {
  let dataDir: string;
  let server: Server;
  let browser: Browser;
  let origin: string;
  /** Console lines the test provokes on purpose (the browser logs each non-2xx fetch). */
  const expected: RegExp[] = [];

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'strata-console-'));
    server = await startServe(dataDir, password);
    origin = new URL(server.api).origin;
    browser = await openBrowser(origin);
    mkdirSync(screenshots, { recursive: true });
  });
  after(async () => {
    await browser?.close();
    if (server !== undefined) await stopServe(server);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('sign in, snapshot tree with a branch, clone, diff, an error, delete with progress, sign out', async () => {
    const { page } = browser;
    assert.equal((await api(server, 'POST', '/api/v1/projects', { name: 'team-b' })).status, 201);
    // The guard refuses and records a request to another host (then the record starts empty).
    assert.equal(await page.evaluate(() => fetch('http://foreign.test/probe').then(() => 'fetched', () => 'refused')), 'refused');
    assert.deepEqual(browser.foreign, ['http://foreign.test/probe']);
    browser.foreign.length = 0;
    browser.errors.length = 0;
    await page.goto(`${origin}/console`);
    await page.getByLabel('Name').fill('admin');
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.screenshot({ path: join(screenshots, 'sign-in.png') });
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Volumes' }).waitFor();

    // Create a volume from the list page; its name links to its page.
    await page.getByLabel('Volume name').fill('db-data');
    await page.getByLabel('Size').fill('64');
    await page.getByLabel('Unit').selectOption('MiB');
    await page.getByRole('button', { name: 'Create volume' }).click();
    const link = page.getByRole('table').getByRole('link', { name: 'db-data' });
    await link.waitFor();
    const volumeId = (await link.getAttribute('href'))!.split('/').pop()!;

    await link.click();
    await page.getByRole('heading', { name: 'Volume db-data' }).waitFor();
    const snapshot = async (name: string) => {
      await page.getByLabel('Snapshot name').fill(name);
      await page.getByRole('button', { name: 'Take snapshot' }).click();
      await node(page, name).waitFor();
    };
    await writeOverNbd(server, volumeId, 0, 4 * MiB, 0xa1);
    await snapshot('nightly-1');
    await writeOverNbd(server, volumeId, 8 * MiB, 2 * MiB, 0xb2);
    await snapshot('nightly-2');

    // Revert to the older snapshot (a job), write, snapshot again: a second branch under nightly-1.
    await node(page, 'nightly-1').click();
    await page.getByRole('button', { name: 'Revert to this snapshot' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Revert', exact: true }).click();
    await page.getByRole('listitem').filter({ hasText: 'Revert db-data to nightly-1' }).getByText('succeeded').waitFor();
    await writeOverNbd(server, volumeId, 16 * MiB, 1 * MiB, 0xc3);
    await snapshot('after-revert');
    const branches = page.getByRole('listitem').filter({ has: node(page, 'nightly-1') }).last().locator(':scope > ul > li > button.node');
    assert.deepEqual(await branches.allInnerTexts().then((texts) => texts.map((t) => t.split('\n')[0])), ['nightly-2', 'after-revert']);
    // The live volume hangs under the newest snapshot of the new branch.
    assert.equal(await page.getByRole('listitem').filter({ has: node(page, 'after-revert') }).last().getByText('live volume').count(), 1);
    const tree = (await api<any>(server, 'GET', `/api/v1/volumes/${volumeId}/snapshot-tree`)).body;
    const byName = new Map<string, any>(tree.snapshots.map((s: any) => [s.name, s]));
    assert.equal(byName.get('after-revert').parent_id, byName.get('nightly-1').id, JSON.stringify(tree));
    // nightly-2 alone holds its 2 MiB written after nightly-1, and the tree says so.
    await node(page, 'nightly-2').getByText('2 MiB alone').waitFor();

    // The tree is reachable by keyboard: the arrow keys move between snapshots.
    await node(page, 'nightly-1').focus();
    await page.keyboard.press('ArrowDown');
    assert.match(await page.evaluate(() => document.activeElement?.textContent ?? ''), /nightly-2/);

    // Diff two snapshots on different branches, attach one read-only, clone one.
    await node(page, 'nightly-2').click();
    await page.getByLabel('Compare with').selectOption({ label: 'after-revert' });
    await page.getByRole('button', { name: 'Diff' }).click();
    await page.getByText(/^3 MiB changed between nightly-2 and after-revert/).waitFor();
    await page.getByRole('button', { name: 'Attach read-only' }).click();
    assert.match(await page.getByLabel('NBD URI').inputValue(), /^nbd:\/\/127\.0\.0\.1:\d+\/\S+$/);
    await page.getByLabel('Clone as').fill('db-data-copy');
    await page.getByRole('button', { name: 'Clone', exact: true }).click();
    await page.getByRole('link', { name: 'db-data-copy' }).waitFor();
    await node(page, 'nightly-2').click();
    await node(page, 'nightly-2').click();
    await page.screenshot({ path: join(screenshots, 'volume.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(screenshots, 'volume-phone.png') });
    await page.setViewportSize({ width: 1280, height: 800 });

    // A refused request shows the API's code and message.
    expected.push(/status of 409/);
    await page.getByRole('button', { name: 'Delete volume' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete volume' }).click();
    await page.getByRole('alert').getByText('HAS_DEPENDENTS').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /has 3 snapshots/);

    await page.getByRole('link', { name: 'Volumes' }).click();
    await page.getByRole('table').getByRole('link', { name: 'db-data-copy' }).waitFor();
    await page.screenshot({ path: join(screenshots, 'volumes.png') });

    // Delete with its snapshots: the job's progress bar runs to the end, then the list no longer has it.
    await page.getByRole('table').getByRole('link', { name: 'db-data', exact: true }).click();
    await page.getByRole('button', { name: 'Delete volume' }).click();
    await page.getByLabel('Also delete its 3 snapshots').check();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete volume' }).click();
    const job = page.getByRole('complementary').getByRole('listitem').filter({ hasText: 'Delete volume db-data' });
    await job.getByRole('progressbar').waitFor();
    await job.getByText('succeeded 100%').waitFor();
    assert.equal(await job.getByRole('progressbar').getAttribute('value'), '1');
    await page.getByRole('heading', { name: 'Volumes' }).waitFor();
    // (The list shown on arrival is the one loaded before; the fresh one replaces it.)
    await page.getByRole('table').getByRole('link', { name: 'db-data', exact: true }).waitFor({ state: 'detached' });
    await page.getByRole('table').getByRole('link', { name: 'db-data-copy' }).waitFor();
    assert.equal((await api(server, 'GET', `/api/v1/volumes/${volumeId}`)).status, 404);
    await page.getByRole('link', { name: 'Jobs' }).click();
    await page.getByText(/^delete-volume/).first().waitFor();
    await page.screenshot({ path: join(screenshots, 'jobs.png') });

    // Groups: a group snapshot taken and deleted from the groups page; quotas show the usage.
    const copyId = (await api<any>(server, 'GET', '/api/v1/volumes?name=db-data-copy')).body.volumes[0].id;
    assert.equal((await api(server, 'POST', '/api/v1/groups', { name: 'app', volume_ids: [copyId] })).status, 201);
    await page.getByRole('link', { name: 'Groups' }).click();
    await page.getByLabel('Group snapshot name').fill('consistent-1');
    await page.getByRole('button', { name: 'Take group snapshot' }).click();
    const row = page.getByRole('row').filter({ hasText: 'consistent-1' });
    await row.waitFor();
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.getByRole('alertdialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('complementary').getByRole('listitem').filter({ hasText: 'Delete group snapshot consistent-1' }).getByText('succeeded').waitFor();
    await row.waitFor({ state: 'detached' });
    await page.getByRole('link', { name: 'Quotas' }).click();
    await page.getByRole('row').filter({ hasText: 'admin' }).getByRole('meter').first().waitFor();

    // An admin switches project: a token for team-b replaces (and revokes) the first one.
    const first = await page.evaluate(() => sessionStorage.getItem('strata.token'));
    await page.getByRole('button', { name: 'Switch project' }).click();
    await page.getByLabel('Project').selectOption({ label: 'team-b' });
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Switch', exact: true }).click();
    await page.getByTitle('project').getByText('team-b').waitFor();
    await page.getByRole('link', { name: 'Volumes' }).click();
    await page.getByText('No volumes.').waitFor();
    assert.equal((await fetch(`${origin}/api/v1/auth/tokens/current`, { headers: { authorization: `Bearer ${first}` } })).status, 401);

    // Sign out revokes the token the tab held.
    const token = await page.evaluate(() => sessionStorage.getItem('strata.token'));
    assert.ok(token);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.getByText('Signed out.').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('strata.token')), null);
    const revoked = await fetch(`${origin}/api/v1/auth/tokens/current`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(revoked.status, 401, await revoked.text());

    assert.deepEqual(browser.foreign, [], 'requests to another host');
    // The refused delete was logged by the browser: the collector sees console errors at all.
    assert.ok(browser.errors.some((line) => expected[0].test(line)), `no 409 among the console lines: ${JSON.stringify(browser.errors)}`);
    const unexpected = browser.errors.filter((line) => !expected.some((pattern) => pattern.test(line)));
    assert.deepEqual(unexpected, [], 'console errors');
  });
});
