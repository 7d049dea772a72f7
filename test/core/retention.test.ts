/**
 * The retention rules against the model of retention-model.ts. fast-check prints the seed and
 * the counterexample (times, rules).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { isoWeek, periodKey, retained } from '../../src/core/retention.js';
import { model, zones } from './retention-model.js';

const rulesArb = fc.record(
  { keep_last: fc.integer({ min: 0, max: 6 }), hourly: fc.integer({ min: 0, max: 6 }), daily: fc.integer({ min: 0, max: 6 }), weekly: fc.integer({ min: 0, max: 4 }), monthly: fc.integer({ min: 0, max: 4 }), yearly: fc.integer({ min: 0, max: 3 }) },
  { requiredKeys: [] },
);
const start = Date.UTC(2025, 11, 20);
/** Distinct due times spread over about two years, at whole minutes. */
const timesArb = fc.uniqueArray(fc.integer({ min: 0, max: 2 * 366 * 24 * 60 }), { maxLength: 60 }).map((minutes) => minutes.map((m, i) => ({ id: `s${i}`, at: new Date(start + m * 60_000).toISOString() })));

describe('retention rules', () => {
  test('keep exactly the model set, in fixed-offset zones', () => {
    fc.assert(
      fc.property(timesArb, rulesArb, fc.constantFrom(...zones), (items, rules, [zone, offset]) => {
        assert.deepEqual([...retained(items, rules, zone)].sort(), [...model(items, rules, offset)].sort());
      }),
      { numRuns: 500, seed: 20261203 },
    );
  });

  test('keeping what they kept keeps it all (pruning converges)', () => {
    fc.assert(
      fc.property(timesArb, rulesArb, (items, rules) => {
        const kept = retained(items, rules, 'UTC');
        const again = retained(items.filter((i) => kept.has(i.id)), rules, 'UTC');
        assert.deepEqual([...again].sort(), [...kept].sort());
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  test('periods are read in the policy time zone, across a DST change', () => {
    // 2026-03-29 01:30Z is 03:30 in Paris (after the change), 00:30Z is 01:30: two local days agree, two hours differ.
    assert.equal(periodKey('daily', new Date('2026-03-28T23:30:00Z'), 'Europe/Paris'), '2026-3-29');
    assert.equal(periodKey('daily', new Date('2026-03-28T23:30:00Z'), 'UTC'), '2026-3-28');
    assert.equal(periodKey('hourly', new Date('2026-03-29T01:30:00Z'), 'Europe/Paris'), '2026-3-29T3');
    const items = [
      { id: 'a', at: '2026-03-28T22:30:00Z' },
      { id: 'b', at: '2026-03-28T23:30:00Z' },
    ];
    assert.deepEqual([...retained(items, { daily: 2 }, 'UTC')].sort(), ['b'], 'one UTC day');
    assert.deepEqual([...retained(items, { daily: 2 }, 'Europe/Paris')].sort(), ['a', 'b'], 'two Paris days');
  });

  test('ISO weeks: the Thursday rule at year ends', () => {
    assert.deepEqual(isoWeek(2026, 12, 31), { weekYear: 2026, week: 53 });
    assert.deepEqual(isoWeek(2027, 1, 3), { weekYear: 2026, week: 53 });
    assert.deepEqual(isoWeek(2027, 1, 4), { weekYear: 2027, week: 1 });
    assert.deepEqual(isoWeek(2024, 12, 30), { weekYear: 2025, week: 1 });
  });
});
