/**
 * Scenario files for the real-kernel harness: read with the project's parser (@lockline/events),
 * and written back out (for the "minimal repro" of a failing random sequence).
 */
import { readFileSync } from 'node:fs';
import { formatProblems, parseScenario } from '@lockline/events';
import { RLIM_INFINITY, type Scenario } from '@lockline/kernel';

/** Fields written back as hex addresses. */
const ADDRESS_FIELDS = new Set(['addr', 'start', 'end', 'brk']);

export function loadScenarioFile(path: string): Scenario {
  const r = parseScenario(readFileSync(path, 'utf8'));
  if (!r.ok) throw new Error(`${path}: not a valid scenario:\n${formatProblems(r.problems, path)}`);
  return r.scenario;
}

/** A scenario as file text: addresses as hex strings, RLIM_INFINITY as "unlimited". */
export function scenarioToJson(s: Scenario): string {
  return JSON.stringify(
    s,
    (key, value: unknown) => {
      if (typeof value === 'number') {
        if (value === RLIM_INFINITY) return 'unlimited';
        if (ADDRESS_FIELDS.has(key) && value >= 0) return `0x${value.toString(16)}`;
        if (value > Number.MAX_SAFE_INTEGER) return `0x${BigInt(value).toString(16)}`;
      }
      return value;
    },
    2,
  );
}
