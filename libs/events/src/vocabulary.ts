import * as z from 'zod';
import {
  ERRNO_NAMES,
  IMAGE_FORMATS,
  MADVICE_NAMES,
  MAP_FLAG_NAMES,
  MCL_FLAG_NAMES,
  MLOCK2_FLAG_NAMES,
  PAGE_SIZE,
  PROFILES,
  RLIM_INFINITY,
  SIGNAL_NAMES,
  VM_FLAG_NAMES,
  type ExplicitImage,
  type Image,
  type ImageLayout,
  type MclFlagName,
} from '@lockline/kernel';
import { describeValue, isRecord, PARSE_OPTIONS, quote } from './problems.js';

/**
 * The kernel's vocabulary as schemas, shared by scenario files and events. Flags travel as names,
 * never numbers: MCL_INHERIT is 4 in the 2008 patch and 4 is MCL_ONFAULT today.
 */

/** A name from one of the kernel's name lists; anything else is a schema error that lists them. */
export function nameSchema<const T extends readonly [string, ...string[]]>(names: T, noun: string, article = 'a') {
  const expected = names.join(', ');
  return z.enum(names, {
    error: (issue) => {
      const input = issue.input;
      if (input === undefined) return `required field is missing (expected one of ${expected})`;
      if (typeof input === 'string') return `unknown ${noun} ${quote(input)} (expected one of ${expected})`;
      const never = typeof input === 'number' && noun === 'flag' ? '; flags are names, never numbers' : '';
      return `expected ${article} ${noun} name, got ${describeValue(input)} (one of ${expected}${never})`;
    },
  });
}

export const profileSchema = nameSchema(PROFILES, 'profile');
export const errnoSchema = nameSchema(ERRNO_NAMES, 'errno', 'an');
export const signalSchema = nameSchema(SIGNAL_NAMES, 'signal');
export const imageFormatSchema = nameSchema(IMAGE_FORMATS, 'image format', 'an');
export const madviceSchema = nameSchema(MADVICE_NAMES, 'advice', 'an');
export const mapFlagsSchema = z.array(nameSchema(MAP_FLAG_NAMES, 'flag'));
export const mclFlagsSchema = z.array(nameSchema(MCL_FLAG_NAMES, 'flag'));
export const mlock2FlagsSchema = z.array(nameSchema(MLOCK2_FLAG_NAMES, 'flag'));
export const vmFlagsSchema = z.array(nameSchema(VM_FLAG_NAMES, 'flag'));

/** The bits of `mm->mcl_inherit` (the patch's inheritance state) as `lockline model run` reports them. */
export const MCL_INHERIT_NAMES = ['MCL_INHERIT', 'MCL_RECURSIVE'] as const satisfies readonly MclFlagName[];
export const mclInheritSchema = z.array(nameSchema(MCL_INHERIT_NAMES, 'flag'));

/** Protection as /proc/PID/maps prints it. */
export const protSchema = z.string().regex(/^[r-][w-][x-]$/, {
  error: (issue) => `expected a protection like "rw-" or "r-x" (r, w, x or - in that order), got ${describeValue(issue.input)}`,
});

/** PID_MAX_LIMIT on 64-bit (include/linux/threads.h): the largest pid_max the kernel accepts. */
export const PID_MAX_LIMIT = 4 * 1024 * 1024;
export const pidSchema = z.number().int().min(1).max(PID_MAX_LIMIT);
/** A parent pid; 0 for init and kthreadd, whose parent is the idle task. */
export const ppidSchema = z.number().int().min(0).max(PID_MAX_LIMIT);
/** A count of pages (image sizes, VmSize-like totals). */
export const pageCountSchema = z.number().int().min(0);

const TWO_64 = 2 ** 64;
const TWO_63 = 2 ** 63;
const UINT64_MAX = 2n ** 64n - 1n;

/**
 * An address or a length on the wire: an unsigned 64-bit integer as a JSON number. Above 2^53 only
 * the doubles are representable, which is what a JSON number is anyway, so no precision claim is made.
 */
export const u64Schema = z
  .number()
  .min(0, { error: (issue) => `must not be negative, got ${describeValue(issue.input)}` })
  .lt(TWO_64, { error: 'must fit in 64 bits (less than 2^64)' })
  .refine(Number.isInteger, { error: (issue) => `expected an integer, got ${describeValue(issue.input)}` });

/** An sbrk increment: a signed 64-bit byte count. */
export const i64Schema = z
  .number()
  .refine((n) => Number.isInteger(n) && n >= -TWO_63 && n < TWO_63, {
    error: (issue) => `expected a signed 64-bit integer, got ${describeValue(issue.input)}`,
  });

/** RLIMIT_MEMLOCK on the wire: bytes, or "unlimited" for RLIM_INFINITY (JSON has no Infinity). */
export type RlimitValue = number | 'unlimited';
export const rlimitValueSchema = z.custom<RlimitValue>(
  (v) => v === 'unlimited' || (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < TWO_64),
  {
    error: (issue) =>
      issue.input === undefined ? 'required field is missing' : `expected a number of bytes or "unlimited", got ${describeValue(issue.input)}`,
  },
);

export function rlimitFromWire(value: RlimitValue): number {
  return value === 'unlimited' ? RLIM_INFINITY : value;
}

export function rlimitToWire(value: number): RlimitValue {
  return value === RLIM_INFINITY ? 'unlimited' : value;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * `locked_vm` in pages: a number, or a decimal string for a value the kernel wrapped below zero
 * (unsigned 64-bit, e.g. "18446744073709551615"). A string that fits a safe integer becomes a number,
 * so that comparisons with the model's output do not depend on how the value was spelled.
 */
export const lockedVmPagesSchema = z.unknown().transform((value, ctx): number | string => {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    ctx.issues.push({
      code: 'custom',
      input: value,
      message: Number.isInteger(value) && value > 0
        ? `${value} is beyond 2^53 and not exact as a JSON number; write it as a decimal string`
        : `expected a non-negative integer or a decimal string, got ${describeValue(value)}`,
    });
    return z.NEVER;
  }
  if (typeof value === 'string' && DECIMAL.test(value) && value.length <= 20 && BigInt(value) <= UINT64_MAX) {
    const n = Number(value);
    return Number.isSafeInteger(n) ? n : value;
  }
  ctx.issues.push({
    code: 'custom',
    input: value,
    message: value === undefined
      ? 'required field is missing'
      : typeof value === 'string'
        ? `expected a decimal string of at most 2^64 − 1 without leading zeros, got ${describeValue(value)}`
        : `expected a non-negative integer or a decimal string, got ${describeValue(value)}`,
  });
  return z.NEVER;
});

/** `0x…` rendering for messages: addresses read best the way /proc/PID/maps prints them. */
export function hex(n: number): string {
  return n < 0 ? `-0x${(-n).toString(16)}` : `0x${n.toString(16)}`;
}

/** Cross-field rules of one VMA: page-aligned bounds, end above start. Safe on a half-parsed value. */
export function checkVma(vma: unknown, ctx: z.core.$RefinementCtx): void {
  if (!isRecord(vma)) return;
  const { start, end } = vma;
  for (const [key, value] of [['start', start], ['end', end]] as const) {
    if (typeof value === 'number' && value % PAGE_SIZE !== 0) {
      ctx.issues.push({ code: 'custom', input: value, path: [key], message: `must be page aligned (a multiple of 4096), got ${hex(value)}` });
    }
  }
  if (typeof start === 'number' && typeof end === 'number' && end <= start) {
    ctx.issues.push({ code: 'custom', input: end, path: ['end'], message: `must be above start (${hex(start)}), got ${hex(end)}` });
  }
}

/** Mappings of one address space never overlap; the later one in address order is reported. */
export function checkVmaList(vmas: unknown, ctx: z.core.$RefinementCtx): void {
  if (!Array.isArray(vmas)) return;
  const spans: Array<{ i: number; start: number; end: number }> = [];
  vmas.forEach((vma: unknown, i) => {
    if (isRecord(vma) && typeof vma.start === 'number' && typeof vma.end === 'number' && vma.end > vma.start) {
      spans.push({ i, start: vma.start, end: vma.end });
    }
  });
  spans.sort((a, b) => a.start - b.start || a.i - b.i);
  for (let k = 1; k < spans.length; k++) {
    const prev = spans[k - 1];
    const cur = spans[k];
    if (prev !== undefined && cur !== undefined && cur.start < prev.end) {
      ctx.issues.push({
        code: 'custom',
        input: vmas[cur.i],
        path: [cur.i],
        message: `overlaps vmas[${prev.i}] (${hex(prev.start)}-${hex(prev.end)})`,
      });
    }
  }
}

/** A copy that shares no arrays or objects with the original (events and ops are handed on). */
export function copyImage(image: Image): Image {
  return 'vmas' in image ? { ...image, vmas: image.vmas.map((v) => ({ ...v })) } : { ...image };
}

/** Run a check even when other fields of the same value already failed, so every problem is reported. */
export const ALWAYS = { when: () => true } as const;

/**
 * An image in either form: explicit mappings when the object has `vmas` or `brk`, otherwise the
 * fixed layout. Choosing by shape (rather than trying both) keeps the problems about the form meant.
 */
export function eitherImage(layout: z.ZodType<ImageLayout>, explicit: z.ZodType<ExplicitImage>): z.ZodType<Image, unknown> {
  return z.unknown().transform((value, ctx): Image => {
    const isExplicit = isRecord(value) && (Object.hasOwn(value, 'vmas') || Object.hasOwn(value, 'brk'));
    const result = (isExplicit ? explicit : layout).safeParse(value, PARSE_OPTIONS);
    if (result.success) return result.data;
    for (const issue of result.error.issues) ctx.issues.push({ ...issue, input: undefined } as z.core.$ZodRawIssue);
    return z.NEVER;
  });
}
