/**
 * The console's files as the app serves them: every answer under /console carries the strict
 * Content-Security-Policy; the page loads no inline script; every module it loads is served
 * here (imports are relative, no URL names another host); only lit-html's browser modules are
 * reachable from its package; paths that escape the folder are 404, never 500.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { consoleRoot } from '../../src/api/console.js';
import { createHarness, type Harness } from './harness.js';

function consoleFiles(dir = consoleRoot): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? consoleFiles(join(dir, entry.name)) : [join(dir, entry.name)]));
}

describe('console static files', () => {
  let h: Harness;
  before(async () => {
    h = await createHarness('sqlite');
  });
  after(async () => {
    await h.close();
  });

  test('/console redirects to the page; the page has only external module scripts; every answer has the CSP', async () => {
    const redirect = await h.request('GET', '/console');
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.location, '/console/');
    const page = await h.request('GET', '/console/');
    assert.equal(page.status, 200, String(page.body));
    assert.match(String(page.headers['content-type']), /^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(directive), `CSP lacks ${directive}: ${csp}`);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/, csp);
    const scripts = [...String(page.body).matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length > 0, String(page.body));
    for (const [whole, attributes, content] of scripts) {
      assert.match(attributes, /type="module"/, whole);
      assert.match(attributes, /src="\/console\//, whole);
      assert.equal(content.trim(), '', `inline script: ${whole}`);
    }
    const missing = await h.request('GET', '/console/no-such-file.js');
    assert.equal(missing.status, 404);
    assert.ok(String(missing.headers['content-security-policy']).includes("default-src 'self'"));
  });

  test('every module the console imports is served by the app, and no file names another host', async () => {
    const files = consoleFiles().filter((file) => /\.(js|html|css)$/.test(file));
    assert.ok(files.length >= 5, files.join(', '));
    const imports = new Set<string>();
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      assert.doesNotMatch(text, /\b(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}/i, `${relative(consoleRoot, file)} names another host`);
      const url = `/console/${relative(consoleRoot, file)}`;
      for (const [, specifier] of text.matchAll(/\bfrom\s+'([^']+)'/g)) {
        assert.match(specifier, /^\.\.?\//, `${url} imports a bare specifier ${specifier}: a browser cannot load it without an import map`);
        imports.add(new URL(specifier, `http://console.test${url}`).pathname);
      }
    }
    assert.ok(imports.has('/console/vendor/lit-html/lit-html.js'), [...imports].join(', '));
    for (const path of imports) {
      const response = await h.request('GET', path);
      assert.equal(response.status, 200, `${path}: ${response.status}`);
      assert.match(String(response.headers['content-type']), /javascript/, path);
    }
    // The library's own imports are relative too, so the browser fetches them from here.
    const library = String((await h.request('GET', '/console/vendor/lit-html/lit-html.js')).body);
    assert.doesNotMatch(library, /\bfrom\s*["'][^./]/, 'lit-html imports a bare specifier');
  });

  test('only browser modules of the library; paths that leave a folder are 404, never 5xx', async () => {
    for (const path of [
      '/console/vendor/lit-html/package.json',
      '/console/vendor/lit-html/lit-html.js.map',
      '/console/vendor/lit-html/node/lit-html.js',
      '/console/vendor/lit-html/lit-html.d.ts',
      '/console/%2e%2e/package.json',
      '/console/..%2f..%2fpackage.json',
      '/console/vendor/lit-html/%2e%2e/%2e%2e/fastify/package.json',
      '/console/vendor/lit-html/..%2f..%2flit-html/package.json',
    ]) {
      const response = await h.request('GET', path);
      assert.equal(response.status, 404, `${path}: ${response.status} ${JSON.stringify(response.body)}`);
      assert.equal(response.body.error.code, 'NOT_FOUND', path);
    }
    assert.equal((await h.request('GET', '/console/vendor/lit-html/directives/repeat.js')).status, 200);
  });
});
