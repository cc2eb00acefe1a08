import { InvalidSimOptionError } from './errors.js';

/**
 * Simulated time. A host's clock starts at a fixed epoch and advances a few milliseconds per event,
 * so event times are reproducible and strictly increasing per host. No Date: the conversion to
 * ISO-8601 is the civil-from-days algorithm (H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
 */

/** 2025-01-01T00:00:00.000Z */
export const DEFAULT_EPOCH_MS = 1_735_689_600_000;

const MS_PER_DAY = 86_400_000;
/** UUIDv7 holds 48 bits of milliseconds. */
const MAX_MS = 2 ** 48 - 1;

function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(days: number): { y: number; m: number; d: number } {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return { y: yoe + era * 400 + (m <= 2 ? 1 : 0), m, d };
}

const pad2 = (n: number): string => (n < 10 ? '0' : '') + n;
const pad3 = (n: number): string => (n < 10 ? '00' : n < 100 ? '0' : '') + n;

let cachedDay = Number.NaN;
let cachedDate = '';

/** Milliseconds since the Unix epoch as "2025-01-01T00:00:00.000Z". */
export function isoTime(ms: number): string {
  const day = Math.floor(ms / MS_PER_DAY);
  if (day !== cachedDay) {
    const { y, m, d } = civilFromDays(day);
    cachedDate = `${String(y).padStart(4, '0')}-${pad2(m)}-${pad2(d)}T`;
    cachedDay = day;
  }
  let rest = ms - day * MS_PER_DAY;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const min = Math.floor(rest / 60_000);
  rest -= min * 60_000;
  const s = Math.floor(rest / 1000);
  return `${cachedDate}${pad2(h)}:${pad2(min)}:${pad2(s)}.${pad3(rest - s * 1000)}Z`;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * An epoch option: milliseconds since 1970, or an ISO-8601 date-time with a zone
 * ("2025-01-01T00:00:00Z", "2025-01-01T01:00:00.000+01:00").
 */
export function epochMs(value: number | string): number {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > MAX_MS) {
      throw new InvalidSimOptionError('epoch', `expected milliseconds since 1970 from 0 to 2^48 - 1, got ${value}`);
    }
    return value;
  }
  const m = ISO.exec(value);
  if (!m) throw new InvalidSimOptionError('epoch', `expected an ISO-8601 date-time like "2025-01-01T00:00:00.000Z", got ${JSON.stringify(value)}`);
  const [, y, mo, d, h, mi, s, frac, zone] = m as unknown as [string, string, string, string, string, string, string, string | undefined, string];
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31 || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) {
    throw new InvalidSimOptionError('epoch', `not a valid date-time: ${JSON.stringify(value)}`);
  }
  const days = daysFromCivil(Number(y), month, day);
  if (civilFromDays(days).d !== day) throw new InvalidSimOptionError('epoch', `not a valid date: ${JSON.stringify(value)}`);
  let offsetMin = 0;
  if (zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offsetMin = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  const ms =
    days * MS_PER_DAY + Number(h) * 3_600_000 + Number(mi) * 60_000 + Number(s) * 1000 + Number((frac ?? '0').padEnd(3, '0')) - offsetMin * 60_000;
  return epochMs(ms);
}
