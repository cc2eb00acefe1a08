import * as z from 'zod';
import { describe, expect, it } from 'vitest';
import { describeValue, formatPath, formatProblems, PARSE_OPTIONS, problemsFromIssues } from './problems.js';

describe('formatPath', () => {
  it('writes indexes in brackets and keys with dots', () => {
    expect(formatPath(['steps', 3, 'flags', 1])).toBe('steps[3].flags[1]');
    expect(formatPath(['data', 'result', 'errno'])).toBe('data.result.errno');
  });

  it('is empty for the whole input and starts with a bracket for a top-level array', () => {
    expect(formatPath([])).toBe('');
    expect(formatPath([0, 'pid'])).toBe('[0].pid');
  });

  it('quotes keys that are not identifiers', () => {
    expect(formatPath(['data', 'weird key'])).toBe('data["weird key"]');
    expect(formatPath(['a.b'])).toBe('["a.b"]');
  });
});

describe('formatProblems', () => {
  it('prefixes every line with the file name, then the path when there is one', () => {
    const text = formatProblems(
      [
        { path: 'steps[3].flags[1]', message: 'unknown flag "MCL_FOO"' },
        { path: '', message: 'not valid JSON: Unexpected end of JSON input' },
      ],
      'examples/x.json',
    );
    expect(text.split('\n')).toEqual([
      'examples/x.json: steps[3].flags[1]: unknown flag "MCL_FOO"',
      'examples/x.json: not valid JSON: Unexpected end of JSON input',
    ]);
  });

  it('is empty for no problems', () => {
    expect(formatProblems([], 'a.json')).toBe('');
  });
});

describe('describeValue', () => {
  it('names the kind of value and quotes short strings', () => {
    expect(describeValue('abc')).toBe('string "abc"');
    expect(describeValue(4)).toBe('number 4');
    expect(describeValue(null)).toBe('null');
    expect(describeValue([1])).toBe('an array');
    expect(describeValue({})).toBe('an object');
    expect(describeValue(undefined)).toBe('nothing');
    expect(describeValue('x'.repeat(200)).length).toBeLessThan(80);
  });
});

describe('problemsFromIssues', () => {
  it('turns one issue naming several unknown keys into one problem per key', () => {
    const r = z.strictObject({ a: z.number() }).safeParse({ a: 1, b: 2, c: 3 }, PARSE_OPTIONS);
    expect(r.success).toBe(false);
    if (r.success) return;
    expect(problemsFromIssues(r.error.issues)).toEqual([
      { path: 'b', message: 'unknown field "b"' },
      { path: 'c', message: 'unknown field "c"' },
    ]);
  });

  it('reports the closest branch of a failed plain union, with full paths', () => {
    const schema = z.object({ v: z.union([z.strictObject({ a: z.number() }), z.strictObject({ b: z.number(), c: z.number() })]) });
    const r = schema.safeParse({ v: { a: 'x' } }, PARSE_OPTIONS);
    expect(r.success).toBe(false);
    if (r.success) return;
    expect(problemsFromIssues(r.error.issues)).toEqual([{ path: 'v.a', message: 'expected a number, got string "x"' }]);
  });

  it('words missing fields, wrong types and bounds for people', () => {
    const schema = z.object({ n: z.number().int().min(1), s: z.string(), e: z.enum(['A', 'B']) });
    const r = schema.safeParse({ n: 0, e: 'C' }, PARSE_OPTIONS);
    expect(r.success).toBe(false);
    if (r.success) return;
    expect(problemsFromIssues(r.error.issues)).toEqual([
      { path: 'n', message: 'must be at least 1, got 0' },
      { path: 's', message: 'required field is missing' },
      { path: 'e', message: 'expected one of "A", "B", got string "C"' },
    ]);
  });
});
