import { InvalidBatch, InvalidPayload } from './errors.js';

/**
 * Payload codecs. A batch travels as JSONL: one event per line, so a corrupt line spoils only itself
 * (ingest parses each line on its own and dead-letters the bad ones).
 */

const encoder = new TextEncoder();
// Not fatal: invalid UTF-8 becomes U+FFFD in the line it is in, which then fails to parse alone.
const decoder = new TextDecoder('utf-8', { fatal: false });

export function encodeText(text: string): Uint8Array {
  return encoder.encode(text);
}

export function decodeText(data: Uint8Array): string {
  return decoder.decode(data);
}

export function encodeJson(value: unknown): Uint8Array {
  const text = JSON.stringify(value);
  if (text === undefined) throw new InvalidPayload(`cannot encode ${typeof value} as JSON`);
  return encoder.encode(text);
}

/** Parses a JSON payload; throws InvalidPayload (with the parser's error as cause) when it is not JSON. */
export function decodeJson(data: Uint8Array): unknown {
  const text = decoder.decode(data);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new InvalidPayload(`payload is not JSON (${data.length} bytes)`, { cause: error });
  }
}

/**
 * One JSONL payload from event lines (each already JSON text, without newline). Throws InvalidBatch
 * for an empty batch or a line holding "\n" or "\r" (it would split into two corrupt lines).
 */
export function encodeLines(lines: readonly string[]): Uint8Array {
  if (lines.length === 0) throw new InvalidBatch('a batch needs at least one line');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (typeof line !== 'string') throw new InvalidBatch(`line ${i} is not a string`);
    if (line.includes('\n') || line.includes('\r')) throw new InvalidBatch(`line ${i} contains a line break; serialize each event with JSON.stringify`);
  }
  return encoder.encode(`${lines.join('\n')}\n`);
}

/**
 * The lines of a JSONL payload, in order. Empty lines are dropped and a trailing "\r" is cut, so a
 * payload written by hand (or on Windows) reads the same; the lines themselves are not parsed here.
 */
export function decodeLines(data: Uint8Array): string[] {
  const lines: string[] = [];
  for (const raw of decoder.decode(data).split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.length > 0) lines.push(line);
  }
  return lines;
}

/**
 * `text` cut to at most `maxBytes` UTF-8 bytes, never in the middle of a character.
 */
export function truncateUtf8(text: string, maxBytes: number): { text: string; truncated: boolean; bytes: number } {
  const bytes = encoder.encode(text);
  if (bytes.length <= maxBytes) return { text, truncated: false, bytes: bytes.length };
  let end = maxBytes;
  // Step back over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--;
  return { text: decoder.decode(bytes.subarray(0, end)), truncated: true, bytes: bytes.length };
}
