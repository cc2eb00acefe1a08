import type * as z from 'zod';

/**
 * One thing wrong with an input: where (`steps[3].flags[1]`, `data.addr`, "" for the whole input)
 * and what, in words a person fixing a scenario file or reading a dead-letter entry can act on.
 */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `["steps", 3, "flags", 1]` → `steps[3].flags[1]`; keys that are not identifiers are quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && IDENTIFIER.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${typeof segment === 'string' ? JSON.stringify(segment) : String(segment)}]`;
  }
  return out;
}

/** One line per problem: `examples/x.json: steps[3].flags[1]: unknown flag "MCL_FOO" (…)`. */
export function formatProblems(problems: readonly Problem[], fileName: string): string {
  return problems.map((p) => (p.path === '' ? `${fileName}: ${p.message}` : `${fileName}: ${p.path}: ${p.message}`)).join('\n');
}

/** A short, quoted rendering of a value for a message: `string "abc"`, `number 4`, `an array`. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `string ${quote(value)}`;
    case 'number':
      return `number ${String(value)}`;
    case 'boolean':
      return String(value);
    case 'bigint':
      return `bigint ${String(value)}`;
    case 'object':
      return 'an object';
    default:
      return `a ${typeof value}`;
  }
}

export function quote(text: string): string {
  const json = JSON.stringify(text);
  return json.length > 60 ? `${json.slice(0, 56)}…"` : json;
}

const EXPECTED: Readonly<Record<string, string>> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  boolean: 'true or false',
  object: 'an object',
  array: 'an array',
  null: 'null',
};

function listValues(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? quote(v) : String(v))).join(', ');
}

function bound(origin: string, limit: number | bigint, inclusive: boolean | undefined, side: 'min' | 'max'): string {
  const n = String(limit);
  if (origin === 'string') return side === 'min' ? (n === '1' ? 'must not be empty' : `must be at least ${n} characters`) : `must be at most ${n} characters`;
  if (origin === 'array') return side === 'min' ? `must have at least ${n} item${n === '1' ? '' : 's'}` : `must have at most ${n} items`;
  if (side === 'min') return inclusive === false ? `must be greater than ${n}` : `must be at least ${n}`;
  return inclusive === false ? `must be less than ${n}` : `must be at most ${n}`;
}

/**
 * Our wording for zod's issues. Passed as the contextual error map of every parse, so schema-level
 * messages (flag names, hex numbers) still win and nothing falls back to zod's generic English.
 */
function errorMap(issue: z.core.$ZodRawIssue): string | undefined {
  const input = issue.input;
  switch (issue.code) {
    case 'invalid_type': {
      if (input === undefined) return 'required field is missing';
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      return `expected ${expected}, got ${describeValue(input)}`;
    }
    case 'invalid_value': {
      const expected = issue.values.length === 1 ? listValues(issue.values) : `one of ${listValues(issue.values)}`;
      if (input === undefined) return `required field is missing (expected ${expected})`;
      return `expected ${expected}, got ${describeValue(input)}`;
    }
    case 'too_small':
      return `${bound(issue.origin, issue.minimum, issue.inclusive, 'min')}${typeof input === 'number' ? `, got ${input}` : ''}`;
    case 'too_big':
      return `${bound(issue.origin, issue.maximum, issue.inclusive, 'max')}${typeof input === 'number' ? `, got ${input}` : ''}`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    case 'invalid_format':
      return issue.format === 'datetime'
        ? `expected an ISO-8601 date-time like "2025-01-31T12:00:00.000Z", got ${describeValue(input)}`
        : `invalid ${issue.format}, got ${describeValue(input)}`;
    case 'unrecognized_keys':
      return `unknown field ${quote(issue.keys[0] ?? '')}`;
    case 'invalid_union': {
      if (issue.discriminator === undefined) return undefined;
      const value = isRecord(input) ? input[issue.discriminator] : undefined;
      const options = 'options' in issue && Array.isArray(issue.options) ? ` (expected one of ${issue.options.join(', ')})` : '';
      if (value === undefined) return `required field is missing${options}`;
      if (typeof value !== 'string') return `expected a name, got ${describeValue(value)}${options}`;
      return `unknown ${issue.discriminator} ${quote(value)}${options}`;
    }
    default:
      return undefined;
  }
}

/** The options every parse in this package passes to `safeParse`. */
export const PARSE_OPTIONS: z.core.ParseContext<z.core.$ZodIssue> = Object.freeze({ error: errorMap });

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * zod's issues as problems: every issue, each with its full path. An issue naming several unknown
 * keys becomes one problem per key (the path ends at the key). A failed plain union reports the
 * branch that came closest (fewest issues), not every branch.
 */
export function problemsFromIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): Problem[] {
  const problems: Problem[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push({ path: formatPath([...path, key]), message: issue.keys.length === 1 ? issue.message : `unknown field ${quote(key)}` });
      }
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      let closest = issue.errors[0] ?? [];
      for (const branch of issue.errors) if (branch.length < closest.length) closest = branch;
      problems.push(...problemsFromIssues(closest, path));
    } else {
      problems.push({ path: formatPath(path), message: issue.message });
    }
  }
  return problems;
}
