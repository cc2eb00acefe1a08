import * as z from 'zod';
import { hostEventSchema, type HostEvent } from './events.js';
import { isRecord, PARSE_OPTIONS, problemsFromIssues, type Problem } from './problems.js';
import { sameJsonValue } from './sameJsonValue.js';
import { BUILT_IN_UPCASTERS, upcast, type UpcasterRegistry } from './upcast.js';

/**
 * hostEventSchema compiled by zod (`z.compile`) into one generated function that checks a valid
 * event and builds its copy in a single pass, without the parse context and per-node bookkeeping of
 * zod's interpreter: well under half the interpreter's cost per event. It decides nothing on its own:
 * whatever it does not accept is parsed again by the interpreter (with our error map), so every
 * problem is the interpreter's, word for word. The schema stays the one source of truth, and
 * parseEvent.test.ts holds the two to the same answers and values on valid and invalid input.
 *
 * Compiled on first use: it takes ~10 ms, which a process that never parses an event need not pay.
 */
export function compiledHostEventSchema(): typeof hostEventSchema {
  return (compiled ??= z.compile(hostEventSchema));
}
let compiled: typeof hostEventSchema | undefined;

export type ParseEventResult = { ok: true; event: HostEvent } | { ok: false; problems: Problem[] };

export interface ParseEventOptions {
  /** Upcasters to raise older schema versions; this package's own by default. */
  upcasters?: UpcasterRegistry;
}

/**
 * Parses one event: JSON text or an already decoded value. Older schema versions are upcast first.
 * Returns the typed event, or every problem with its path (`data.flags[0]`), in words fit for a
 * dead-letter entry. Never throws, whatever the input.
 *
 * A valid current event costs exactly one `safeParse`: upcasting is only looked at when that fails.
 */
export function parseEvent(input: unknown, options: ParseEventOptions = {}): ParseEventResult {
  if (typeof input !== 'string') return parseValue(input, options);
  let raw: unknown;
  try {
    raw = JSON.parse(input);
  } catch (error) {
    return notJson(error);
  }
  return parseValue(raw, options);
}

export type ParseEventLineResult = { ok: true; event: HostEvent; json: string } | { ok: false; problems: Problem[] };

/**
 * parseEvent for a JSON line whose event is kept as JSON again (ingest stores it). The result also
 * carries the event as JSON text: the line itself when it reads back as exactly the parsed event
 * (sameJsonValue: no value changed by the schema or an upcaster, keys in the schema's order, no -0),
 * `JSON.stringify(event)` otherwise. Events written the way this package builds them (buildEvent,
 * syscallEventBody) are their own line, which spares serialising them again.
 */
export function parseEventLine(line: string, options: ParseEventOptions = {}): ParseEventLineResult {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (error) {
    return notJson(error);
  }
  const parsed = parseValue(raw, options);
  if (!parsed.ok) return parsed;
  const event = parsed.event;
  return { ok: true, event, json: sameJsonValue(raw, event) ? line : JSON.stringify(event) };
}

function notJson(error: unknown): { ok: false; problems: Problem[] } {
  return { ok: false, problems: [{ path: '', message: `not valid JSON: ${error instanceof Error ? error.message : String(error)}` }] };
}

function parseValue(raw: unknown, options: ParseEventOptions): ParseEventResult {
  try {
    const schema = compiledHostEventSchema();
    const first = schema.safeParse(raw, PARSE_OPTIONS);
    if (first.success) return { ok: true, event: first.data };

    const raised = upcast(raw, options.upcasters ?? BUILT_IN_UPCASTERS);
    if (!raised.ok) return raised;
    if (raised.event === raw) return { ok: false, problems: problemsFromIssues(first.error.issues) };
    const second = schema.safeParse(raised.event, PARSE_OPTIONS);
    if (second.success) return { ok: true, event: second.data };
    const from = isRecord(raw) ? String(raw.schemaVersion) : '?';
    const problems = problemsFromIssues(second.error.issues).map((p) => ({ ...p, message: `${p.message} (after upcasting from schemaVersion ${from})` }));
    return { ok: false, problems };
  } catch (error) {
    // Only a hostile value gets here (a getter or proxy that throws); report it like any bad input.
    return { ok: false, problems: [{ path: '', message: `could not be read: ${error instanceof Error ? error.message : String(error)}` }] };
  }
}
