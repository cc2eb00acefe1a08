import { describe, expect, it } from 'vitest';
import {
  VmaFlag,
  cloneVmaTable,
  createVmaTable,
  findGapTopDown,
  findVma,
  insertVma,
  mergeAround,
  rangeIsFree,
  removeVmas,
  splitAt,
  vmaAt,
  vmaEnd,
  vmaFlags,
  vmaStart,
} from './vmaTable.js';
import type { VmaTable } from './vmaTable.js';

const dump = (t: VmaTable): Array<[number, number, number]> =>
  Array.from({ length: t.n }, (_, i) => [vmaStart(t, i), vmaEnd(t, i), vmaFlags(t, i)]);

function table(...vmas: Array<[number, number, number]>): VmaTable {
  const t = createVmaTable(2);
  for (const [s, e, f] of vmas) insertVma(t, t.n, s, e, f);
  return t;
}

describe('VmaTable', () => {
  it('finds the VMA containing a page, and the first one above a hole', () => {
    const t = table([10, 20, 1], [30, 40, 1]);
    expect(vmaAt(t, 10)).toBe(0);
    expect(vmaAt(t, 19)).toBe(0);
    expect(vmaAt(t, 20)).toBe(-1);
    expect(findVma(t, 20)).toBe(1);
    expect(findVma(t, 45)).toBe(2);
  });

  it('grows past its initial capacity, keeping order', () => {
    const t = createVmaTable(1);
    for (let i = 99; i >= 0; i--) insertVma(t, 0, i * 2, i * 2 + 1, 1);
    expect(t.n).toBe(100);
    expect(vmaStart(t, 0)).toBe(0);
    expect(vmaStart(t, 99)).toBe(198);
  });

  it('works the same once it is large (a Float64Array past 64 VMAs) as while small (an array)', () => {
    const low: Array<[number, number, number]> = [[0, 4, 3], [6, 10, 3], [12, 16, 3]];
    const high = Array.from({ length: 100 }, (_, i): [number, number, number] => [1000 + i * 6, 1000 + i * 6 + 4, 1]);
    const small = table(...low);
    const large = table(...low, ...high);
    expect(Array.isArray(small.d)).toBe(true);
    expect(large.d).toBeInstanceOf(Float64Array);
    for (const t of [small, large]) {
      expect(splitAt(t, 8)).toBe(2);
      expect(mergeAround(t, 1, 3)).toBe(1);
      removeVmas(t, 0, 1);
      insertVma(t, 0, 1, 2, 3);
      expect(dump(cloneVmaTable(t))).toEqual(dump(t));
    }
    expect(dump(small)).toEqual([[1, 2, 3], [6, 10, 3], [12, 16, 3]]);
    expect(dump(large)).toEqual([[1, 2, 3], [6, 10, 3], [12, 16, 3], ...high]);
  });

  it('splits a VMA at an inner page, and not at an existing boundary', () => {
    const t = table([10, 20, 3]);
    expect(splitAt(t, 15)).toBe(1);
    expect(dump(t)).toEqual([[10, 15, 3], [15, 20, 3]]);
    expect(splitAt(t, 15)).toBe(1);
    expect(t.n).toBe(2);
    expect(splitAt(t, 25)).toBe(2);
  });

  it('merges adjacent VMAs with equal flags, but never stacks or special mappings', () => {
    const t = table([10, 15, 3], [15, 20, 3], [20, 25, 3 | VmaFlag.LOCKED], [25, 30, 3 | VmaFlag.LOCKED], [30, 31, 3]);
    expect(mergeAround(t, 0, t.n)).toBe(2);
    expect(dump(t)).toEqual([[10, 20, 3], [20, 30, 3 | VmaFlag.LOCKED], [30, 31, 3]]);
    const s = table([10, 15, 3 | VmaFlag.GROWSDOWN], [15, 20, 3 | VmaFlag.GROWSDOWN], [20, 21, VmaFlag.SPECIAL], [21, 22, VmaFlag.SPECIAL]);
    expect(mergeAround(s, 0, s.n)).toBe(0);
  });

  it('does not merge across a hole', () => {
    const t = table([10, 15, 3], [16, 20, 3]);
    expect(mergeAround(t, 0, t.n)).toBe(0);
  });

  it('finds the highest free gap below a ceiling', () => {
    const t = table([10, 20, 1], [30, 40, 1], [90, 100, 1]);
    expect(findGapTopDown(t, 5, 0, 100)).toBe(85);
    expect(findGapTopDown(t, 50, 0, 100)).toBe(40);
    expect(findGapTopDown(t, 51, 0, 100)).toBe(-1);
    expect(findGapTopDown(t, 10, 0, 95)).toBe(80);
    expect(findGapTopDown(t, 10, 0, 35)).toBe(20);
    expect(findGapTopDown(t, 10, 15, 30)).toBe(20);
    expect(findGapTopDown(t, 11, 0, 30)).toBe(-1);
  });

  it('tells whether a range is free', () => {
    const t = table([10, 20, 1]);
    expect(rangeIsFree(t, 0, 10)).toBe(true);
    expect(rangeIsFree(t, 5, 11)).toBe(false);
    expect(rangeIsFree(t, 20, 30)).toBe(true);
  });
});
