/**
 * The shared conformance harness of the platform dialects. Each dialect has a table of cases:
 * the platform's own example request (from ../shared/seeds or ../shared/reference, named in
 * `source`) and the response it must produce (status, headers, and the shape: field names
 * and types, exactly the keys the platform declares unless the shape says `open`).
 * `runConformance` runs a table against a fresh in-process control plane per database kind and
 * storage backend (test/support/backends.ts),
 * and every failure prints the case, its source, the request and the response.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createHarness, type Harness, type Response } from '../api/harness.js';
import { rbdSkipReason, suiteVariants } from '../support/backends.js';
import { postgresSkipReason } from '../support/databases.js';

/** A type in the shape language. */
export type Shape =
  | 'string'
  | 'number'
  | 'integer'
  | 'boolean'
  | 'null'
  | 'uuid'
  | 'date-time'
  | 'any'
  | { literal: string | number | boolean | null }
  | { oneOf: Shape[] }
  | { optional: Shape }
  | { array: Shape; minItems?: number }
  | { object: Record<string, Shape>; open?: boolean }
  | { record: Shape }
  | { pattern: RegExp };

export const nullable = (shape: Shape): Shape => ({ oneOf: [shape, 'null'] });
export const optional = (shape: Shape): Shape => ({ optional: shape });
export const obj = (fields: Record<string, Shape>, open = false): Shape => ({ object: fields, open });
export const arr = (items: Shape, minItems?: number): Shape => ({ array: items, minItems });
export const lit = (value: string | number | boolean | null): Shape => ({ literal: value });
export const oneOf = (...shapes: Shape[]): Shape => ({ oneOf: shapes });

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Every way `value` does not fit `shape`, as `path: problem` lines. */
export function shapeProblems(value: unknown, shape: Shape, path = '$'): string[] {
  if (typeof shape === 'string') {
    switch (shape) {
      case 'any':
        return [];
      case 'string':
        return typeof value === 'string' ? [] : [`${path}: expected a string, got ${JSON.stringify(value)}`];
      case 'number':
        return typeof value === 'number' && Number.isFinite(value) ? [] : [`${path}: expected a number, got ${JSON.stringify(value)}`];
      case 'integer':
        return Number.isSafeInteger(value) ? [] : [`${path}: expected an integer, got ${JSON.stringify(value)}`];
      case 'boolean':
        return typeof value === 'boolean' ? [] : [`${path}: expected a boolean, got ${JSON.stringify(value)}`];
      case 'null':
        return value === null ? [] : [`${path}: expected null, got ${JSON.stringify(value)}`];
      case 'uuid':
        return typeof value === 'string' && uuidPattern.test(value) ? [] : [`${path}: expected a UUID, got ${JSON.stringify(value)}`];
      case 'date-time':
        return typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? [] : [`${path}: expected a date-time, got ${JSON.stringify(value)}`];
    }
  }
  if ('literal' in shape) return value === shape.literal ? [] : [`${path}: expected ${JSON.stringify(shape.literal)}, got ${JSON.stringify(value)}`];
  if ('pattern' in shape) return typeof value === 'string' && shape.pattern.test(value) ? [] : [`${path}: expected a string matching ${shape.pattern}, got ${JSON.stringify(value)}`];
  if ('optional' in shape) return value === undefined ? [] : shapeProblems(value, shape.optional, path);
  if ('oneOf' in shape) {
    const all = shape.oneOf.map((s) => shapeProblems(value, s, path));
    return all.some((p) => p.length === 0) ? [] : [`${path}: fits none of the alternatives: ${all.map((p) => p.join('; ')).join(' | ')}`];
  }
  if ('array' in shape) {
    if (!Array.isArray(value)) return [`${path}: expected an array, got ${JSON.stringify(value)}`];
    const problems = value.flatMap((item, i) => shapeProblems(item, shape.array, `${path}[${i}]`));
    if (shape.minItems !== undefined && value.length < shape.minItems) problems.push(`${path}: expected at least ${shape.minItems} items, got ${value.length}`);
    return problems;
  }
  if ('record' in shape) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: expected an object, got ${JSON.stringify(value)}`];
    return Object.entries(value).flatMap(([k, v]) => shapeProblems(v, shape.record, `${path}.${k}`));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: expected an object, got ${JSON.stringify(value)}`];
  const record = value as Record<string, unknown>;
  const problems: string[] = [];
  for (const [key, fieldShape] of Object.entries(shape.object)) {
    if (!(key in record) && !(typeof fieldShape === 'object' && 'optional' in fieldShape)) problems.push(`${path}.${key}: missing`);
    else problems.push(...shapeProblems(record[key], fieldShape, `${path}.${key}`));
  }
  if (shape.open !== true) {
    for (const key of Object.keys(record)) if (!(key in shape.object)) problems.push(`${path}.${key}: not a field the platform declares`);
  }
  return problems;
}

export interface ConformanceRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  /** An object is sent as JSON; a string is sent as it is. */
  body?: unknown;
}

export interface ConformanceCase<C> {
  /** What the case proves, in the platform's words. */
  name: string;
  /** Where the example comes from: `seed 000`, `reference xsky.md §2.1`, … */
  source: string;
  request: (context: C) => ConformanceRequest | Promise<ConformanceRequest>;
  expect: {
    status: number;
    shape?: Shape;
    headers?: Record<string, string | RegExp>;
    /** Further checks on the response (and the state it left); return problems. */
    check?: (response: Response, context: C, harness: Harness) => string[] | Promise<string[]>;
  };
}

export interface ConformanceTable<C> {
  dialect: string;
  /** Builds what the cases need (tokens, volumes, …) in a fresh harness. */
  setup: (harness: Harness) => Promise<C>;
  cases: ConformanceCase<C>[];
}

/** Runs one request of a case and returns every problem found. */
export async function runCase<C>(harness: Harness, context: C, entry: ConformanceCase<C>): Promise<string[]> {
  const request = await entry.request(context);
  const response = await harness.request(request.method, request.url, { body: request.body, headers: request.headers });
  const problems: string[] = [];
  if (response.status !== entry.expect.status) problems.push(`status ${response.status}, expected ${entry.expect.status}`);
  if (entry.expect.shape !== undefined && response.status === entry.expect.status) problems.push(...shapeProblems(response.body, entry.expect.shape));
  for (const [name, expected] of Object.entries(entry.expect.headers ?? {})) {
    const actual = response.headers[name.toLowerCase()];
    const ok = typeof expected === 'string' ? actual === expected : typeof actual === 'string' && expected.test(actual);
    if (!ok) problems.push(`header ${name}: ${JSON.stringify(actual)}, expected ${String(expected)}`);
  }
  if (entry.expect.check !== undefined && problems.length === 0) problems.push(...(await entry.expect.check(response, context, harness)));
  if (problems.length === 0) return [];
  return [
    `${entry.name} [${entry.source}]`,
    `  request: ${request.method} ${request.url} ${request.body === undefined ? '' : typeof request.body === 'string' ? request.body : JSON.stringify(request.body)}`,
    `  response: ${response.status} ${JSON.stringify(response.body)}`,
    ...problems.map((p) => `  - ${p}`),
  ];
}

/** Registers one node:test test per case, for every database kind and backend the run has. */
export function runConformance<C>(table: ConformanceTable<C>): void {
  for (const variant of suiteVariants()) {
    describe(`${table.dialect} conformance on ${variant.label}`, () => {
      let harness: Harness;
      let context: C;
      before(async () => {
        harness = await createHarness(variant.database, { backend: variant.backend });
        context = await table.setup(harness);
      });
      after(async () => {
        await harness.close();
      });
      for (const entry of table.cases) {
        test(`${entry.name} [${entry.source}]`, async () => {
          const problems = await runCase(harness, context, entry);
          assert.deepEqual(problems, [], problems.join('\n'));
        });
      }
    });
  }
  const skipped = postgresSkipReason();
  if (skipped !== null) describe(`${table.dialect} conformance on postgres`, { skip: skipped }, () => {});
  const noRbd = rbdSkipReason();
  if (noRbd !== null) describe(`${table.dialect} conformance on rbd`, { skip: noRbd }, () => {});
}
