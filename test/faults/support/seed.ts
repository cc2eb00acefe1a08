/**
 * The suite's one seed: LOCKLINE_FAULT_SEED when given (to replay a run), a fresh random one
 * otherwise. Every fault draws its own stream from it (seed, fault name), so running one fault alone
 * makes the same choices as in the whole suite. Timing still varies between runs: the seed replays
 * which process is hit and after how long, not where each process happens to be at that moment.
 */
import { randomInt } from 'node:crypto';

function suiteSeed(): number {
  const given = process.env.LOCKLINE_FAULT_SEED;
  if (given === undefined || given === '') return randomInt(1, 2 ** 31);
  const n = Number(given);
  if (!Number.isSafeInteger(n) || n <= 0 || n >= 2 ** 31) throw new Error(`LOCKLINE_FAULT_SEED must be an integer from 1 to 2^31-1, got ${JSON.stringify(given)}`);
  return n;
}

export const SEED = suiteSeed();

/** FNV-1a of the text, mixed with the seed: a fault's own 32-bit seed. */
export function faultSeed(name: string, seed = SEED): number {
  let h = 0x811c9dc5 ^ seed;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0 || 1;
}

/** A small seeded PRNG (mulberry32): the fault schedule's choices. */
export class Prng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    const item = items[Math.floor(this.next() * items.length)];
    if (item === undefined) throw new RangeError('pick from an empty list');
    return item;
  }
}
