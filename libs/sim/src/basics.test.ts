import { describe, expect, it } from 'vitest';
import { EVENT_ID_PATTERN, bootIdSchema } from '@lockline/events';
import { DEFAULT_EPOCH_MS, epochMs, isoTime } from './clock.js';
import { randomBootId, uuidV7 } from './ids.js';
import { PidAllocator } from './pids.js';
import { Random, seedOf } from './random.js';

describe('Random (sfc32 seeded by cyrb128)', () => {
  it('is a pure function of its seed', () => {
    const a = Random.of(42, 'host-001', 'workload');
    const b = Random.of(42, 'host-001', 'workload');
    const xs = Array.from({ length: 100 }, () => a.u32());
    expect(Array.from({ length: 100 }, () => b.u32())).toEqual(xs);
    expect(xs.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32)).toBe(true);
  });

  it('gives independent streams for different labels', () => {
    expect(seedOf(1, 'a')).not.toEqual(seedOf(1, 'b'));
    expect(seedOf(1, 'a')).not.toEqual(seedOf(2, 'a'));
    const a = Random.of(1, 'a');
    const b = Random.of(1, 'b');
    expect(Array.from({ length: 10 }, () => a.u32())).not.toEqual(Array.from({ length: 10 }, () => b.u32()));
  });

  it('draws uniformly enough', () => {
    const r = Random.of('uniform');
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) buckets[r.int(10)]!++;
    for (const n of buckets) expect(Math.abs(n - 10_000)).toBeLessThan(500);
    let hits = 0;
    for (let i = 0; i < 100_000; i++) if (r.chance(0.03)) hits++;
    expect(Math.abs(hits - 3000)).toBeLessThan(300);
    for (let i = 0; i < 1000; i++) {
      const v = r.between(3, 5);
      expect(v >= 3 && v <= 5).toBe(true);
    }
    expect(r.chance(0)).toBe(false);
    expect(() => r.pick([])).toThrow(RangeError);
  });
});

describe('the simulated clock', () => {
  it('formats like Date#toISOString without a Date', () => {
    const r = Random.of('clock');
    for (let i = 0; i < 2000; i++) {
      const ms = r.int(2 ** 31) * 1000 + r.int(1000) + (i % 2) * 2 ** 40;
      expect(isoTime(ms)).toBe(new Date(ms).toISOString());
    }
    expect(isoTime(DEFAULT_EPOCH_MS)).toBe('2025-01-01T00:00:00.000Z');
  });

  it('reads an epoch as ms or ISO-8601 with a zone', () => {
    expect(epochMs('2025-01-01T00:00:00Z')).toBe(DEFAULT_EPOCH_MS);
    expect(epochMs('2024-02-29T23:59:59.5+01:00')).toBe(Date.parse('2024-02-29T23:59:59.5+01:00'));
    expect(epochMs(12345)).toBe(12345);
    expect(() => epochMs('2023-02-29T00:00:00Z')).toThrow(/epoch: not a valid date/);
    expect(() => epochMs('yesterday')).toThrow(/epoch/);
    expect(() => epochMs(-1)).toThrow(/epoch/);
    expect(() => epochMs(2 ** 48)).toThrow(/epoch/);
  });
});

describe('ids', () => {
  it('makes lowercase UUIDv7s carrying the time, ordered by it', () => {
    const r = Random.of('ids');
    let prev = '';
    for (let ms = DEFAULT_EPOCH_MS; ms < DEFAULT_EPOCH_MS + 5000; ms += 7) {
      const id = uuidV7(ms, r);
      expect(id).toMatch(EVENT_ID_PATTERN);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(parseInt(id.slice(0, 8) + id.slice(9, 13), 16)).toBe(ms);
      expect(id > prev).toBe(true);
      prev = id;
    }
  });

  it('makes boot ids a boot id schema accepts', () => {
    const id = randomBootId(Random.of('boot'));
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(bootIdSchema.safeParse(id).success).toBe(true);
  });
});

describe('PidAllocator', () => {
  it('counts up, wraps to 300 at pid_max, and skips pids in use', () => {
    const pids = new PidAllocator(1024, 1020);
    pids.claim(300);
    expect([pids.alloc(), pids.alloc(), pids.alloc(), pids.alloc()]).toEqual([1021, 1022, 1023, 301]);
    pids.free(1022);
    expect(pids.live).toBe(4);
    expect(pids.isUsed(1022)).toBe(false);
    expect(pids.alloc()).toBe(302);
  });

  it('returns -1 when every pid is taken', () => {
    const pids = new PidAllocator(64, 2);
    const got: number[] = [];
    for (let p = pids.alloc(); p > 0; p = pids.alloc()) got.push(p);
    expect(got.length).toBe(61);
    expect(new Set(got).size).toBe(61);
    expect(pids.alloc()).toBe(-1);
  });
});
