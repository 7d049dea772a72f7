/**
 * The wildcard matcher behind XSKY's `q` and ZStack's LIKE (src/lib/wildcard.ts): it agrees
 * with a regular-expression translation of the same pattern on every small input, and its
 * work, counted in character comparisons, stays within the bound the module states on inputs
 * that make a backtracking regular expression exponential.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type MatchWork, Wildcard, type WildcardSyntax } from '../../src/lib/wildcard.js';

const glob: WildcardSyntax = { anyRun: '*' };
const like: WildcardSyntax = { anyRun: '%', anyOne: '_', escape: '\\' };

/** The reference: the pattern as an anchored, case-insensitive regular expression (fine on small inputs). */
function reference(pattern: string, syntax: WildcardSyntax, text: string): boolean {
  const escape = (c: string) => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  const characters = Array.from(pattern);
  let source = '';
  for (let i = 0; i < characters.length; i++) {
    const c = characters[i];
    if (c === syntax.escape && i + 1 < characters.length) source += escape(characters[++i]);
    else if (c === syntax.anyRun) source += '[\\s\\S]*';
    else if (c === syntax.anyOne) source += '[\\s\\S]';
    else source += escape(c);
  }
  return new RegExp(`^${source}$`, 'iu').test(text);
}

/** The documented bound on comparisons: linear without one-character wildcards, text × pattern with. */
function workBound(pattern: string, syntax: WildcardSyntax, text: string): number {
  const n = Array.from(text).length;
  const m = Array.from(pattern).length;
  const hasOne = syntax.anyOne !== undefined && pattern.includes(syntax.anyOne);
  return hasOne ? (n + 1) * (m + 1) + 2 * (n + m) : 2 * (n + m);
}

function check(pattern: string, syntax: WildcardSyntax, text: string): void {
  const work: MatchWork = { comparisons: 0 };
  const got = Wildcard.compile(pattern, syntax).matches(text, work);
  const want = reference(pattern, syntax, text);
  const replay = `pattern ${JSON.stringify(pattern)} text ${JSON.stringify(text)}`;
  assert.equal(got, want, `${replay}: matcher says ${got}, reference says ${want}`);
  assert.ok(work.comparisons <= workBound(pattern, syntax, text), `${replay}: ${work.comparisons} comparisons, bound ${workBound(pattern, syntax, text)}`);
}

const textOf = (alphabet: string[], maxLength: number) => fc.array(fc.constantFrom(...alphabet), { maxLength }).map((cs) => cs.join(''));

describe('wildcard: agrees with the regular-expression reference', () => {
  test('glob (`*`) patterns on small texts', () => {
    fc.assert(
      fc.property(textOf(['a', 'b', 'A', '*', '.', 'é'], 10), textOf(['a', 'b', 'B', '.', '\n', 'É'], 14), (pattern, text) => check(pattern, glob, text)),
      { numRuns: 2000 },
    );
  });

  test('LIKE (`%`, `_`, `\\`) patterns on small texts', () => {
    fc.assert(
      fc.property(textOf(['a', 'b', 'A', '%', '_', '\\'], 10), textOf(['a', 'b', 'B', '%', '_', '\\', '😀'], 14), (pattern, text) => check(pattern, like, text)),
      { numRuns: 2000 },
    );
  });

  test('substring finds the needle anywhere, every character literal', () => {
    fc.assert(
      fc.property(textOf(['a', 'b', '*', '%'], 5), textOf(['a', 'b', 'A', '*', '%'], 14), (needle, text) => {
        assert.equal(Wildcard.substring(needle).matches(text), text.toLowerCase().includes(needle.toLowerCase()), `needle ${JSON.stringify(needle)} text ${JSON.stringify(text)}`);
      }),
      { numRuns: 3000 },
    );
  });

  test('examples from the dialects', () => {
    assert.equal(Wildcard.compile('cs*', glob).matches('CS-daily'), true);
    assert.equal(Wildcard.compile('cs*', glob).matches('xcs'), false);
    assert.equal(Wildcard.compile('%snap%', like).matches('my-SNAP-1'), true);
    assert.equal(Wildcard.compile('100\\%', like).matches('100%'), true);
    assert.equal(Wildcard.compile('100\\%', like).matches('1000'), false);
    assert.equal(Wildcard.compile('a_c', like).matches('a😀c'), true, 'one character is one code point');
    assert.equal(Wildcard.compile('a\\', like).matches('a\\'), true, 'a trailing escape is literal');
  });
});

describe('wildcard: bounded work where a regular expression backtracks', () => {
  const longName = 'a'.repeat(10_000);

  test('the 24-character star pattern over a long name: no match, linear comparisons', () => {
    const pattern = '*a*a*a*a*a*a*a*a*a*a*a*b';
    assert.equal(pattern.length, 24);
    const work: MatchWork = { comparisons: 0 };
    assert.equal(Wildcard.compile(pattern, glob).matches(longName, work), false);
    assert.ok(work.comparisons <= 2 * (longName.length + pattern.length), `${work.comparisons} comparisons`);
    const hit: MatchWork = { comparisons: 0 };
    assert.equal(Wildcard.compile(pattern, glob).matches(`${longName}b`, hit), true);
    assert.ok(hit.comparisons <= 2 * (longName.length + 1 + pattern.length), `${hit.comparisons} comparisons`);
  });

  test('LIKE with many % and _ over a long name stays within text × pattern', () => {
    for (const pattern of ['%a%a%a%a%a%a%a%a%a%a%a%b', '%a_a_a_a_a_a_a_a_a_a_a_b%', '%aaaaaaaaaaab%', '_%_%_%_%_%_%_%_%_%_%_%b']) {
      const work: MatchWork = { comparisons: 0 };
      assert.equal(Wildcard.compile(pattern, like).matches(longName, work), false, pattern);
      assert.ok(work.comparisons <= workBound(pattern, like, longName), `${pattern}: ${work.comparisons} comparisons, bound ${workBound(pattern, like, longName)}`);
    }
  });

  test('periodic needles (KMP fallbacks) stay linear', () => {
    const text = 'ab'.repeat(5_000) + 'aab';
    const pattern = '*abababababab*aab';
    const work: MatchWork = { comparisons: 0 };
    assert.equal(Wildcard.compile(pattern, glob).matches(text, work), true);
    assert.ok(work.comparisons <= 2 * (text.length + pattern.length), `${work.comparisons} comparisons`);
  });
});
