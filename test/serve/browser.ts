/**
 * Debian's chromium driven by playwright-core for the console tests: headless, no sandbox (the
 * tests run as root), no background traffic, a fresh profile each time. Every request the page
 * makes is routed: those to the server's own origin go through, any other host is refused and
 * recorded; console errors and uncaught page errors are recorded too.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const chromiumPath = '/usr/bin/chromium';
export const haveChromium = () => existsSync(chromiumPath);

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** URLs of requests to any host other than the server's. */
  foreign: string[];
  /** Console errors and page errors, as text. */
  errors: string[];
  close(): Promise<void>;
}

export async function openBrowser(origin: string, viewport = { width: 1280, height: 800 }): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'strata-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const foreign: string[] = [];
  const errors: string[] = [];
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) await route.continue();
    else {
      foreign.push(url);
      await route.abort('blockedbyclient');
    }
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()} at ${message.location().url}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.stack ?? error.message}`));
  return {
    context,
    page,
    foreign,
    errors,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
