import { hostEventSchema, type HostEvent } from './events.js';
import { isRecord, PARSE_OPTIONS, problemsFromIssues, type Problem } from './problems.js';
import { BUILT_IN_UPCASTERS, upcast, type UpcasterRegistry } from './upcast.js';

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
  try {
    let raw = input;
    if (typeof input === 'string') {
      try {
        raw = JSON.parse(input) as unknown;
      } catch (error) {
        return { ok: false, problems: [{ path: '', message: `not valid JSON: ${error instanceof Error ? error.message : String(error)}` }] };
      }
    }
    const first = hostEventSchema.safeParse(raw, PARSE_OPTIONS);
    if (first.success) return { ok: true, event: first.data };

    const raised = upcast(raw, options.upcasters ?? BUILT_IN_UPCASTERS);
    if (!raised.ok) return raised;
    if (raised.event === raw) return { ok: false, problems: problemsFromIssues(first.error.issues) };
    const second = hostEventSchema.safeParse(raised.event, PARSE_OPTIONS);
    if (second.success) return { ok: true, event: second.data };
    const from = isRecord(raw) ? String(raw.schemaVersion) : '?';
    const problems = problemsFromIssues(second.error.issues).map((p) => ({ ...p, message: `${p.message} (after upcasting from schemaVersion ${from})` }));
    return { ok: false, problems };
  } catch (error) {
    // Only a hostile value gets here (a getter or proxy that throws); report it like any bad input.
    return { ok: false, problems: [{ path: '', message: `could not be read: ${error instanceof Error ? error.message : String(error)}` }] };
  }
}
