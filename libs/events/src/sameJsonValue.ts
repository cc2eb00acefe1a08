/**
 * Whether `raw` (a value JSON.parse made) is, as JSON, the same value as `value`: the same object
 * keys in the same order, the same array lengths, and equal strings, booleans, nulls and numbers.
 * A `-0` in `raw` never counts as equal: JSON.stringify writes `value`'s zero as `0`, so a text that
 * holds `-0` would not read back as the serialised `value`. A key whose value is undefined in
 * `value` (which JSON.stringify would leave out) makes the answer false; false is always safe.
 *
 * This is what lets the JSON line an event came in stand for the parsed event: when it holds, the
 * line reads back as exactly what JSON.stringify(event) would read back as.
 */
export function sameJsonValue(raw: unknown, value: unknown): boolean {
  if (!isObject(raw)) return raw === value && !isNegativeZero(raw);
  return isObject(value) && sameContainer(raw, value);
}

function sameContainer(raw: object, value: object): boolean {
  if (Array.isArray(raw)) {
    if (!Array.isArray(value) || raw.length !== value.length) return false;
    for (let i = 0; i < raw.length; i++) if (!sameJsonValue(raw[i], value[i])) return false;
    return true;
  }
  if (Array.isArray(value)) return false;
  // One key list, not two: `raw`'s keys are walked in order against `value`'s.
  const keys = Object.keys(value);
  const r = raw as Record<string, unknown>;
  const v = value as Record<string, unknown>;
  let i = 0;
  for (const key in r) {
    if (key !== keys[i++] || !sameJsonValue(r[key], v[key])) return false;
  }
  return i === keys.length;
}

function isObject(x: unknown): x is object {
  return typeof x === 'object' && x !== null;
}

function isNegativeZero(x: unknown): boolean {
  return x === 0 && 1 / x < 0;
}
