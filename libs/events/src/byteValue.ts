import * as z from 'zod';
import { RLIM_INFINITY } from '@lockline/kernel';
import { describeValue, quote } from './problems.js';

export type ByteValueResult = { ok: true; value: number } | { ok: false; message: string };

export interface ByteValueOptions {
  /** A signed byte count (an sbrk increment): a leading "-" is allowed, |value| < 2^63. */
  signed?: boolean;
  /** RLIMIT_MEMLOCK: "unlimited" means RLIM_INFINITY. */
  unlimited?: boolean;
}

const HEX = /^(-?)0[xX]([0-9a-fA-F]+)$/;
const TWO_63 = 2n ** 63n;
const TWO_64 = 2n ** 64n;
const TWO_63_N = 2 ** 63;
const TWO_64_N = 2 ** 64;

/**
 * An address, length or limit as a scenario file writes it: a JSON number or a hex string
 * ("0x10000000"), within 64 bits. A hex string must be exactly a JS number: one that would round
 * (most values above 2^53) is refused rather than silently changed.
 */
export function parseByteValue(value: unknown, options: ByteValueOptions = {}): ByteValueResult {
  const signed = options.signed === true;
  const expected = options.unlimited === true
    ? 'a number, a hex string like "0x10000" or "unlimited"'
    : 'a number or a hex string like "0x10000000"';
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return { ok: false, message: `expected a whole number of bytes, got ${describeValue(value)}` };
    if (value < 0 && !signed) return { ok: false, message: `must not be negative, got ${value}` };
    // A JSON number is already a double when we see it, so it is exact by definition; what can still
    // be caught is the usual slip, 2^64 − 1 written in decimal, which the JSON parser rounds to 2^64.
    if (signed ? value >= TWO_63_N || value < -TWO_63_N : value >= TWO_64_N) {
      return { ok: false, message: `${value} does not fit in ${signed ? 'a signed 64-bit integer' : '64 bits'} (a JSON number this large may have been rounded up; write it as a hex string)` };
    }
    return { ok: true, value: value === 0 ? 0 : value }; // no -0
  }
  if (typeof value === 'string') {
    if (options.unlimited === true && value === 'unlimited') return { ok: true, value: RLIM_INFINITY };
    const match = HEX.exec(value);
    if (match === null) {
      const hint = /^-?[0-9]+$/.test(value) ? ' (write decimal values as JSON numbers)' : '';
      return { ok: false, message: `expected ${expected}, got ${describeValue(value)}${hint}` };
    }
    const negative = match[1] === '-';
    if (negative && !signed) return { ok: false, message: `must not be negative, got ${quote(value)}` };
    const digits = match[2] ?? '';
    // 17 hex digits already exceed 64 bits once leading zeros are gone; cap the BigInt work.
    if (digits.replace(/^0+/, '').length > 16) return { ok: false, message: `${quote(value)} does not fit in 64 bits` };
    const magnitude = BigInt(`0x${digits}`);
    if (signed ? magnitude > TWO_63 || (magnitude === TWO_63 && !negative) : magnitude >= TWO_64) {
      return { ok: false, message: `${quote(value)} does not fit in ${signed ? 'a signed 64-bit integer' : '64 bits'}` };
    }
    const n = Number(magnitude);
    if (BigInt(n) !== magnitude) {
      const infinity = options.unlimited === true && magnitude === TWO_64 - 1n ? '; for RLIM_INFINITY write "unlimited"' : '';
      return {
        ok: false,
        message: `${quote(value)} is not exactly representable as a JS number (the nearest is 0x${n.toString(16)})${infinity}`,
      };
    }
    return { ok: true, value: negative && n !== 0 ? -n : n };
  }
  if (value === undefined) return { ok: false, message: 'required field is missing' };
  return { ok: false, message: `expected ${expected}, got ${describeValue(value)}` };
}

function byteValueSchema(options: ByteValueOptions) {
  return z.unknown().transform((value, ctx): number => {
    const result = parseByteValue(value, options);
    if (result.ok) return result.value;
    ctx.issues.push({ code: 'custom', input: value, message: result.message });
    return z.NEVER;
  });
}

/** An unsigned address, length or byte count in a scenario file. */
export const byteValue = byteValueSchema({});
/** A signed byte count (brk `increment`). */
export const signedByteValue = byteValueSchema({ signed: true });
/** An RLIMIT_MEMLOCK value: bytes or "unlimited" (→ RLIM_INFINITY). */
export const rlimitByteValue = byteValueSchema({ unlimited: true });
