import { describe, expect, it } from 'vitest';
import { parseByteValue } from './byteValue.js';

const ok = (value: number) => ({ ok: true, value });

describe('parseByteValue', () => {
  it('reads hex strings in either case', () => {
    expect(parseByteValue('0x10000000')).toEqual(ok(0x10000000));
    expect(parseByteValue('0X1F')).toEqual(ok(31));
    expect(parseByteValue('0x0')).toEqual(ok(0));
    expect(parseByteValue('0x00000000000000000000001000')).toEqual(ok(4096));
  });

  it('reads JSON numbers as they are', () => {
    expect(parseByteValue(0)).toEqual(ok(0));
    expect(parseByteValue(32768)).toEqual(ok(32768));
  });

  it('accepts (size_t)-4096 both ways: 2^64 - 4096 is exactly a double', () => {
    expect(parseByteValue('0xfffffffffffff000')).toEqual(ok(2 ** 64 - 4096));
    expect(parseByteValue(18446744073709547520)).toEqual(ok(2 ** 64 - 4096));
  });

  it('refuses a hex value that a JS number would round', () => {
    const r = parseByteValue('0x20000000000001');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toBe('"0x20000000000001" is not exactly representable as a JS number (the nearest is 0x20000000000000)');
  });

  it('refuses values beyond 64 bits, including 2^64 - 1 written as a JSON number (it rounds to 2^64)', () => {
    expect(parseByteValue('0x10000000000000000')).toEqual({ ok: false, message: '"0x10000000000000000" does not fit in 64 bits' });
    expect(parseByteValue('0x' + 'f'.repeat(40))).toMatchObject({ ok: false, message: expect.stringContaining('does not fit in 64 bits') });
    // eslint-disable-next-line no-loss-of-precision
    expect(parseByteValue(18446744073709551615)).toMatchObject({ ok: false, message: expect.stringContaining('does not fit in 64 bits') });
  });

  it('refuses negative, fractional and non-finite values unless signed', () => {
    expect(parseByteValue(-1)).toEqual({ ok: false, message: 'must not be negative, got -1' });
    expect(parseByteValue('-0x1000')).toEqual({ ok: false, message: 'must not be negative, got "-0x1000"' });
    expect(parseByteValue(1.5)).toEqual({ ok: false, message: 'expected a whole number of bytes, got number 1.5' });
    expect(parseByteValue(Number.NaN).ok).toBe(false);
    expect(parseByteValue(Number.POSITIVE_INFINITY).ok).toBe(false);
  });

  it('reads signed byte counts (sbrk increments), never producing -0', () => {
    expect(parseByteValue(-4096, { signed: true })).toEqual(ok(-4096));
    expect(parseByteValue('-0x5000', { signed: true })).toEqual(ok(-0x5000));
    const zero = parseByteValue('-0x0', { signed: true });
    expect(zero.ok && Object.is(zero.value, 0)).toBe(true);
    expect(parseByteValue('0x8000000000000000', { signed: true }).ok).toBe(false);
    expect(parseByteValue('-0x8000000000000000', { signed: true })).toEqual(ok(-(2 ** 63)));
    expect(parseByteValue(2 ** 63, { signed: true }).ok).toBe(false);
  });

  it('reads "unlimited" as RLIM_INFINITY only where a limit is expected', () => {
    expect(parseByteValue('unlimited', { unlimited: true })).toEqual(ok(Number.POSITIVE_INFINITY));
    expect(parseByteValue('unlimited').ok).toBe(false);
    const r = parseByteValue('0xffffffffffffffff', { unlimited: true });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toContain('for RLIM_INFINITY write "unlimited"');
  });

  it('explains what it expected for anything else', () => {
    expect(parseByteValue('4096')).toEqual({
      ok: false,
      message: 'expected a number or a hex string like "0x10000000", got string "4096" (write decimal values as JSON numbers)',
    });
    expect(parseByteValue('0x1g')).toEqual({ ok: false, message: 'expected a number or a hex string like "0x10000000", got string "0x1g"' });
    expect(parseByteValue(true)).toEqual({ ok: false, message: 'expected a number or a hex string like "0x10000000", got true' });
    expect(parseByteValue(null, { unlimited: true })).toEqual({
      ok: false,
      message: 'expected a number, a hex string like "0x10000" or "unlimited", got null',
    });
    expect(parseByteValue(undefined)).toEqual({ ok: false, message: 'required field is missing' });
  });
});
