import { InvalidFaultSpecError } from './errors.js';

/**
 * Faults a simulated host can inject, each a probability per event, all 0 by default.
 *  - drop: the event is never delivered (its seq is used: a gap follows);
 *  - duplicate: the same payload is delivered twice (same id);
 *  - reorder: the event is delivered after the next one;
 *  - corrupt: the payload is made invalid (see corrupt.ts);
 *  - reboot: before an event, the host reboots: a new bootId, seq from 1, a fresh kernel model;
 *  - kernelBugResult: a syscall's reported result is not what the host's model returned
 *    (per syscall event; a result with a signal is never touched);
 *  - kernelBugCounter: a counters.sampled value is off by 1 to 64 pages (per counters event).
 * An event suffers at most one fault: a kernel bug, if one is drawn, else one of drop, duplicate,
 * reorder and corrupt (one draw, so their probabilities must add up to at most 1).
 */
export interface Faults {
  drop?: number;
  duplicate?: number;
  reorder?: number;
  corrupt?: number;
  reboot?: number;
  kernelBugResult?: number;
  kernelBugCounter?: number;
}

export const FAULT_NAMES = ['drop', 'duplicate', 'reorder', 'corrupt', 'reboot', 'kernelBugResult', 'kernelBugCounter'] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

/** The rate a fault named without a value gets (`--faults reboot`). */
export const DEFAULT_FAULT_RATES: Readonly<Required<Faults>> = Object.freeze({
  drop: 0.01,
  duplicate: 0.01,
  reorder: 0.01,
  corrupt: 0.01,
  reboot: 0.0002,
  kernelBugResult: 0.005,
  kernelBugCounter: 0.05,
});

export const NO_FAULTS: Readonly<Required<Faults>> = Object.freeze({
  drop: 0,
  duplicate: 0,
  reorder: 0,
  corrupt: 0,
  reboot: 0,
  kernelBugResult: 0,
  kernelBugCounter: 0,
});

const ALIASES: ReadonlyMap<string, FaultName> = new Map(
  FAULT_NAMES.flatMap((name) => [
    [name.toLowerCase(), name],
    [name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), name],
    [name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), name],
  ]),
);

const NUMBER = /^(?:0|[1-9]\d*)?(?:\.\d+)?(?:e-?\d+)?$/i;

/**
 * `drop=0.01,duplicate=0.02,reboot` → { drop: 0.01, duplicate: 0.02, reboot: 0.0002 }. Names may be
 * camelCase or kebab-case (kernel-bug-result); a name alone gets DEFAULT_FAULT_RATES. An empty
 * spec (or "none") is no faults. Throws InvalidFaultSpecError naming the bad item.
 */
export function parseFaults(spec: string): Faults {
  const faults: Faults = {};
  const trimmed = spec.trim();
  if (trimmed === '' || trimmed === 'none') return faults;
  for (const raw of trimmed.split(',')) {
    const item = raw.trim();
    if (item === '') throw new InvalidFaultSpecError(raw, `empty item in ${JSON.stringify(spec)}`);
    const eq = item.indexOf('=');
    const nameText = (eq < 0 ? item : item.slice(0, eq)).trim();
    const name = ALIASES.get(nameText) ?? ALIASES.get(nameText.toLowerCase());
    if (name === undefined) {
      throw new InvalidFaultSpecError(item, `unknown fault ${JSON.stringify(nameText)} (expected one of ${FAULT_NAMES.join(', ')})`);
    }
    if (faults[name] !== undefined) throw new InvalidFaultSpecError(item, `${name} is given twice`);
    let rate = DEFAULT_FAULT_RATES[name];
    if (eq >= 0) {
      const valueText = item.slice(eq + 1).trim();
      rate = Number(valueText);
      if (valueText === '' || !NUMBER.test(valueText) || !(rate >= 0 && rate <= 1)) {
        throw new InvalidFaultSpecError(item, `the probability must be a number from 0 to 1, got ${JSON.stringify(valueText)}`);
      }
    }
    faults[name] = rate;
  }
  checkFaults(faults);
  return faults;
}

/** Every rate, validated; throws InvalidFaultSpecError on a bad one. */
export function checkFaults(faults: Faults): Required<Faults> {
  const out = { ...NO_FAULTS };
  for (const [key, value] of Object.entries(faults)) {
    if (!(FAULT_NAMES as readonly string[]).includes(key)) {
      throw new InvalidFaultSpecError(key, `unknown fault (expected one of ${FAULT_NAMES.join(', ')})`);
    }
    if (value === undefined) continue;
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
      throw new InvalidFaultSpecError(`${key}=${String(value)}`, 'the probability must be a number from 0 to 1');
    }
    out[key as FaultName] = value;
  }
  if (out.drop >= 1) throw new InvalidFaultSpecError(`drop=${out.drop}`, 'a host that drops every event never delivers anything; use less than 1');
  if (out.reboot >= 1) throw new InvalidFaultSpecError(`reboot=${out.reboot}`, 'a host that reboots before every event never gets past booting; use less than 1');
  const transport = out.drop + out.duplicate + out.reorder + out.corrupt;
  if (transport > 1 + 1e-12) {
    throw new InvalidFaultSpecError(
      `drop+duplicate+reorder+corrupt=${transport}`,
      'an event suffers at most one of drop, duplicate, reorder and corrupt: their probabilities must add up to at most 1',
    );
  }
  return out;
}
