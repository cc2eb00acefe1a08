import * as z from 'zod';
import { isRecord, quote } from './problems.js';

/**
 * Unknown keys in a hand-written file are typos until proven otherwise ("lenght", "rlimitMemLock"),
 * and a silently ignored typo changes what a scenario means. These helpers reject them one key at a
 * time, each with a suggestion, while the rest of the object is still checked: the issue code is
 * `unrecognized_keys`, which zod lets through a pipe, so one run reports every problem.
 */

/** Levenshtein distance, for "did you mean". Inputs are short field names. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The candidate a typo most likely meant, if one is close enough to suggest. */
export function closestName(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const lower = word.toLowerCase();
  for (const candidate of candidates) {
    const d = candidate.toLowerCase() === lower ? 0 : editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

export function unknownKeyMessage(key: string, allowed: readonly string[], where: string): string {
  const suggestion = closestName(key, allowed);
  return suggestion === undefined
    ? `unknown field ${quote(key)} in ${where} (expected one of ${allowed.join(', ')})`
    : `unknown field ${quote(key)} in ${where} (did you mean ${quote(suggestion)}?)`;
}

/** Reports every own key of `value` not in `allowed`; returns `value` unchanged. */
export function reportUnknownKeys(value: unknown, allowed: ReadonlySet<string>, where: string, ctx: z.core.$RefinementCtx): unknown {
  if (!isRecord(value)) return value;
  for (const key of Object.keys(value)) {
    if (!allowed.has(key)) {
      ctx.issues.push({ code: 'unrecognized_keys', keys: [key], input: value, message: unknownKeyMessage(key, [...allowed], where) });
    }
  }
  return value;
}

/** `z.object(shape)` that rejects unknown keys with a "did you mean" message naming `where`. */
export function strictWithHints<S extends z.ZodRawShape>(shape: S, where: string) {
  const allowed = new Set(Object.keys(shape));
  return z.preprocess((value, ctx) => reportUnknownKeys(value, allowed, where, ctx), z.object(shape));
}
