import type { Op } from '@lockline/kernel';
import { IMG28, pages } from '@lockline/kernel/testing';
import { describe, expect, it } from 'vitest';
import { explain } from './explain.js';
import { HostProjection } from './hostProjection.js';
import { recordHost } from './testing/recordHost.js';
import { hostView, vmaViews } from './view.js';

/** A daemon locks itself with MCL_INHERIT and forks; the child maps one more page, locked by MCL_FUTURE. */
const ops: Op[] = [
  { op: 'mlockall', pid: 1, flags: ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT'] },
  { op: 'fork', pid: 1, child: 2 },
  { op: 'mmap', pid: 2, addr: 0x10000000, length: pages(1), prot: 'rw-', flags: ['MAP_PRIVATE'] },
];

function fold(): HostProjection {
  const { events } = recordHost('linux-2008-patch', [{ pid: 1, image: IMG28, capIpcLock: true }], ops);
  const p = new HostProjection('h1', 'b1');
  for (const e of events) p.apply(e);
  return p;
}

describe('vmaViews', () => {
  it("lists every VMA of the process's mm in address order: its pages, flags and the event that locked it", () => {
    const p = fold();
    for (const v of hostView(p).processes) {
      const vmas = vmaViews(p, v.pid)!;
      expect(vmas.length).toBe(v.vmaCount);
      expect(vmas.reduce((n, x) => n + x.pages, 0)).toBe(v.totalVmPages);
      const starts = vmas.map((x) => Number.parseInt(x.start, 16));
      expect(starts).toEqual([...starts].sort((a, b) => a - b));
      for (const x of vmas) expect(Number.parseInt(x.end, 16) - Number.parseInt(x.start, 16)).toBe(x.pages * 4096);
      // The locked ranges explain gives are locked VMAs here, with the same event.
      for (const r of explain(p, v.pid)!.ranges) {
        const vma = vmas.find((x) => x.start === r.start);
        expect(vma, `${v.pid} ${r.start}`).toMatchObject({ end: r.end, lockedAt: r.lockedAt });
        expect(vma!.flags).toContain('VM_LOCKED');
      }
    }
    const child = vmaViews(p, 2)!.find((x) => x.start === '0x10000000')!;
    expect(child).toEqual({ start: '0x10000000', end: '0x10001000', pages: 1, flags: ['read', 'write', 'VM_LOCKED'], lockedAt: expect.any(Number) });
  });

  it('is null for a pid the boot does not have', () => {
    expect(vmaViews(fold(), 999)).toBeNull();
  });
});
