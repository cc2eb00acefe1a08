import { describe, expect, it } from 'vitest';
import { decodeJson, decodeLines, encodeJson, encodeLines, truncateUtf8 } from './codec.js';
import { InvalidBatch, InvalidPayload } from './errors.js';

describe('JSONL batches', () => {
  it('round-trips lines in order', () => {
    const lines = ['{"a":1}', '{"b":"two"}', '{"c":[3]}'];
    expect(decodeLines(encodeLines(lines))).toEqual(lines);
  });

  it('keeps a corrupt line to itself: the others still decode', () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('{"a":1}\n'), 0xff, 0xfe, ...new TextEncoder().encode('{oops\n{"b":2}\n')]);
    const lines = decodeLines(bytes);
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[0] ?? '')).toEqual({ a: 1 });
    expect(() => JSON.parse(lines[1] ?? '')).toThrow();
    expect(JSON.parse(lines[2] ?? '')).toEqual({ b: 2 });
  });

  it('drops empty lines and a trailing \\r', () => {
    expect(decodeLines(new TextEncoder().encode('{"a":1}\r\n\n\n{"b":2}'))).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('refuses an empty batch and a line with a line break', () => {
    expect(() => encodeLines([])).toThrow(InvalidBatch);
    expect(() => encodeLines(['{"a":1}', '{"b":\n2}'])).toThrow(/line 1 contains a line break/);
  });
});

describe('JSON', () => {
  it('round-trips and reports what is not JSON', () => {
    expect(decodeJson(encodeJson({ x: [1, 'y'] }))).toEqual({ x: [1, 'y'] });
    const error = (() => {
      try {
        decodeJson(new TextEncoder().encode('{nope'));
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InvalidPayload);
    expect((error as InvalidPayload).code).toBe('INVALID_PAYLOAD');
    expect((error as InvalidPayload).cause).toBeInstanceOf(SyntaxError);
  });
});

describe('truncateUtf8', () => {
  it('never cuts a character in half', () => {
    const text = 'ab€€€'; // € is 3 bytes
    expect(truncateUtf8(text, 100)).toEqual({ text, truncated: false, bytes: 11 });
    expect(truncateUtf8(text, 6)).toEqual({ text: 'ab€', truncated: true, bytes: 11 });
    expect(truncateUtf8(text, 7)).toEqual({ text: 'ab€', truncated: true, bytes: 11 });
    expect(truncateUtf8(text, 8)).toEqual({ text: 'ab€€', truncated: true, bytes: 11 });
  });
});
