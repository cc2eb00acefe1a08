import type { HostEvent } from '@lockline/events';
import type { Random } from './random.js';

/**
 * How a corrupted payload fails validation. Every kind but invalid-json leaves the envelope's
 * hostId, bootId and seq readable with JSON.parse, so a dead-letter entry can say which host and
 * event it was; a truncated payload still starts with them (`"hostId":"…","bootId":"…","seq":N`).
 */
export const CORRUPTION_KINDS = ['invalid-json', 'missing-field', 'wrong-type', 'unknown-flag', 'proto-key'] as const;
export type CorruptionKind = (typeof CORRUPTION_KINDS)[number];

const BOGUS_FLAG: Readonly<Record<string, string>> = {
  'syscall.mmap': 'MAP_HUGE_2MB',
  'syscall.mlockall': 'MCL_LOCK_EVERYTHING',
  'syscall.mlock2': 'MLOCK_NOW',
};

type Json = Record<string, unknown> & { data: Record<string, unknown> };

function applicable(event: HostEvent): readonly CorruptionKind[] {
  return event.type in BOGUS_FLAG || event.type === 'syscall.madvise' ? CORRUPTION_KINDS : ['invalid-json', 'missing-field', 'wrong-type', 'proto-key'];
}

/** A payload for `event` that parseEvent rejects, and how it was broken. */
export function corruptPayload(event: HostEvent, payload: string, rng: Random): { payload: string; kind: CorruptionKind } {
  const kind = rng.pick(applicable(event));
  switch (kind) {
    case 'invalid-json': {
      // cut somewhere after the envelope's seq, never at the very end: the object never closes
      const afterSeq = payload.indexOf(',"time"');
      const from = afterSeq > 0 ? afterSeq : 1;
      return { payload: payload.slice(0, from + rng.int(payload.length - 1 - from)), kind };
    }
    case 'proto-key':
      return { payload: payload.replace('"data":{', '"data":{"__proto__":{"polluted":true},'), kind };
    default:
  }
  const json = JSON.parse(payload) as Json;
  const data = json.data;
  switch (kind) {
    case 'missing-field':
      if ('result' in data) delete data.result;
      else if ('pid' in data) delete data.pid;
      else delete json.time;
      break;
    case 'wrong-type':
      if (typeof data.pid === 'number') data.pid = String(data.pid);
      else json.time = Number(json.seq);
      break;
    case 'unknown-flag': {
      const bogus = BOGUS_FLAG[event.type];
      if (bogus !== undefined && Array.isArray(data.flags)) data.flags = [...(data.flags as unknown[]), bogus];
      else data.advice = 'MADV_FREE_PLEASE';
      break;
    }
    default: {
      const _exhaustive: never = kind;
      return _exhaustive;
    }
  }
  return { payload: JSON.stringify(json), kind };
}
