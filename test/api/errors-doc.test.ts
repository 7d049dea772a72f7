/**
 * docs/errors.md and the code → HTTP status registry of src/api/errors.ts must agree: the doc's
 * table (`| CODE | HTTP status | meaning |`) lists every registered code exactly once, nothing
 * else, each with the status `httpStatusOf` gives it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { httpStatusOf, registeredCodes } from '../../src/api/errors.js';

/** This file runs from dist/test/api/; the doc lives in the repository, not in dist/. */
const docPath = join(import.meta.dirname, '..', '..', '..', 'docs', 'errors.md');

interface DocRow {
  code: string;
  status: number | null;
  meaning: string;
  line: number;
}

const cellsOf = (line: string): string[] => {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split('|').map((cell) => cell.trim());
};
const isSeparator = (line: string) => /^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/.test(line.trim());
const unquote = (cell: string) => cell.replace(/^`+|`+$/g, '').trim();
const upperSnake = /^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$/;

/**
 * The rows of every table whose header names an HTTP status column and whose first cell is an
 * UPPER_SNAKE code (plain or in backticks). Other tables of the doc are ignored.
 */
function parseErrorTable(text: string): { rows: DocRow[]; tables: number } {
  const lines = text.split(/\r?\n/);
  const rows: DocRow[] = [];
  let tables = 0;
  for (let i = 0; i < lines.length; i++) {
    const header = lines[i];
    if (!header.trim().startsWith('|') || i + 1 >= lines.length || !isSeparator(lines[i + 1])) continue;
    const headerCells = cellsOf(header);
    const statusColumn = headerCells.findIndex((cell) => /status/i.test(cell));
    let j = i + 2;
    if (statusColumn >= 0) tables++;
    for (; j < lines.length && lines[j].trim().startsWith('|'); j++) {
      if (statusColumn < 0) continue;
      const cells = cellsOf(lines[j]);
      const code = unquote(cells[0] ?? '');
      if (!upperSnake.test(code)) continue;
      const statusText = unquote(cells[statusColumn] ?? '');
      const status = /^\d{3}$/.test(statusText) ? Number(statusText) : null;
      const meaning = cells.filter((_, k) => k !== 0 && k !== statusColumn).join(' | ');
      rows.push({ code, status, meaning, line: j + 1 });
    }
    i = j - 1;
  }
  return { rows, tables };
}

test('docs/errors.md lists exactly the registered error codes, each with its HTTP status', () => {
  assert.ok(existsSync(docPath), `docs/errors.md is missing (looked for ${docPath})`);
  const { rows, tables } = parseErrorTable(readFileSync(docPath, 'utf8'));
  assert.ok(tables > 0, 'docs/errors.md has no markdown table with an "HTTP status" column');
  assert.ok(rows.length > 0, 'the error table of docs/errors.md has no row whose first cell is an UPPER_SNAKE code');

  const problems: string[] = [];
  const seen = new Map<string, DocRow>();
  for (const row of rows) {
    const earlier = seen.get(row.code);
    if (earlier !== undefined) problems.push(`${row.code} is listed twice (lines ${earlier.line} and ${row.line})`);
    seen.set(row.code, row);
    if (row.status === null) problems.push(`${row.code} (line ${row.line}) has no three-digit HTTP status`);
    if (row.meaning.replace(/[|\s]/g, '').length === 0) problems.push(`${row.code} (line ${row.line}) has no meaning`);
  }
  const registered = new Set<string>(registeredCodes);
  for (const code of registeredCodes) {
    const row = seen.get(code);
    if (row === undefined) {
      problems.push(`${code} (HTTP ${httpStatusOf[code]}) is registered in src/api/errors.ts but not in docs/errors.md`);
    } else if (row.status !== null && row.status !== httpStatusOf[code]) {
      problems.push(`${code}: docs/errors.md line ${row.line} says ${row.status}, httpStatusOf says ${httpStatusOf[code]}`);
    }
  }
  for (const row of seen.values()) {
    if (!registered.has(row.code)) problems.push(`${row.code} (docs/errors.md line ${row.line}) is not a registered code`);
  }
  assert.deepEqual(problems, [], `docs/errors.md and src/api/errors.ts disagree:\n${problems.join('\n')}`);
});

test('every registered code has an HTTP status, and only registered codes have one', () => {
  assert.deepEqual(Object.keys(httpStatusOf).sort(), [...registeredCodes].sort());
  for (const code of registeredCodes) {
    const status = httpStatusOf[code];
    assert.ok(Number.isInteger(status) && status >= 400 && status <= 599, `${code} maps to ${status}, not an error status`);
  }
});

test('the doc table parser reads plain and backticked codes and skips headers and other tables', () => {
  const sample = [
    '| code | HTTP status | meaning |',
    '| --- | --- | --- |',
    '| `NOT_FOUND` | 404 | gone |',
    '| CONFLICT | `409` | no |',
    '',
    '| errno | value |',
    '| --- | --- |',
    '| EIO | 5 |',
  ].join('\n');
  const { rows, tables } = parseErrorTable(sample);
  assert.equal(tables, 1);
  assert.deepEqual(
    rows.map((r) => [r.code, r.status]),
    [
      ['NOT_FOUND', 404],
      ['CONFLICT', 409],
    ],
  );
});
