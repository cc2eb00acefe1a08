import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyOp } from './host.js';
import { lockedPagesOfLockableVmas } from './invariants.js';
import { processReport } from './report.js';
import type { HostState, Mm } from './state.js';
import { cloneHostState } from './state.js';
import { opArb, start } from './testing/arbitraries.js';
import { vmaEnd, vmaStart } from './vmaTable.js';

function liveMms(state: HostState): Mm[] {
  const mms = new Set<Mm>();
  for (const t of state.tasks.values()) if (t.alive && t.mm) mms.add(t.mm);
  return [...mms];
}

function vmaPagesSum(mm: Mm): number {
  let sum = 0;
  for (let i = 0; i < mm.vmas.n; i++) sum += vmaEnd(mm.vmas, i) - vmaStart(mm.vmas, i);
  return sum;
}

function wellFormed(mm: Mm): string | null {
  for (let i = 0; i < mm.vmas.n; i++) {
    if (vmaStart(mm.vmas, i) >= vmaEnd(mm.vmas, i)) return `vma ${i} is empty or inverted`;
    if (i > 0 && vmaEnd(mm.vmas, i - 1) > vmaStart(mm.vmas, i)) return `vma ${i} overlaps its predecessor`;
  }
  return null;
}

const runs = Number(process.env.LOCKLINE_PROPERTY_RUNS ?? 300);

describe('model invariants over random operation sequences', () => {
  for (const profile of ['linux-modern', 'linux-2008-patch-fixed', 'linux-2008-patch'] as const) {
    it(`${profile}: total_vm is the sum of the VMAs and VMAs never overlap`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
          const state = start(profile);
          for (const op of ops) {
            applyOp(state, op);
            for (const mm of liveMms(state)) {
              expect(wellFormed(mm)).toBeNull();
              expect(mm.totalVm).toBe(vmaPagesSum(mm));
            }
          }
        }),
        { numRuns: runs },
      );
    });
  }

  for (const profile of ['linux-modern', 'linux-2008-patch-fixed'] as const) {
    it(`${profile}: locked_vm equals the locked lockable pages and is never below zero, unless exec inherited MCL_FUTURE`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
          const state = start(profile);
          for (const op of ops) {
            applyOp(state, op);
            for (const mm of liveMms(state)) {
              if (profile === 'linux-modern') expect(mm.accountingExact).toBe(true);
              if (!mm.accountingExact) continue;
              expect(mm.lockedVm).toBe(lockedPagesOfLockableVmas(mm));
              expect(mm.lockedVm).toBeGreaterThanOrEqual(0);
            }
          }
        }),
        { numRuns: runs },
      );
    });
  }

  it('linux-2008-patch-fixed: an inexact mm comes only from an exec under inherited VM_LOCKED', () => {
    fc.assert(
      fc.property(fc.array(opArb.filter((op) => op.op !== 'exec'), { maxLength: 60 }), (ops) => {
        const state = start('linux-2008-patch-fixed');
        for (const op of ops) {
          applyOp(state, op);
          for (const mm of liveMms(state)) expect(mm.accountingExact).toBe(true);
        }
      }),
      { numRuns: runs },
    );
  });

  for (const profile of ['linux-modern', 'linux-2008-patch-fixed', 'linux-2008-patch'] as const) {
    it(`${profile}: is deterministic, and a cloned host evolves exactly like the original`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { maxLength: 40 }), fc.array(opArb, { maxLength: 20 }), (before, after) => {
          const a = start(profile);
          const b = start(profile);
          for (const op of before) expect(applyOp(b, op)).toEqual(applyOp(a, op));
          const c = cloneHostState(a);
          for (const op of after) expect(applyOp(c, op)).toEqual(applyOp(a, op));
          const report = (s: HostState) => [...s.tasks.values()].map((t) => processReport(t));
          expect(report(c)).toEqual(report(a));
        }),
        { numRuns: Math.ceil(runs / 3) },
      );
    });
  }

  it('linux-modern: no lock state ever crosses fork or exec', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const state = start('linux-modern');
        for (const op of ops) {
          const r = applyOp(state, op);
          if (r.errno !== null || r.signal) continue;
          if (op.op === 'fork' || (op.op === 'clone' && !op.shareVm) || op.op === 'exec') {
            const t = state.tasks.get(op.op === 'exec' ? op.pid : op.child)!;
            expect(t.mm!.lockedVm).toBe(0);
            expect(t.mm!.defFlags).toBe(0);
            expect(t.mm!.mclInherit).toBe(0);
          }
        }
      }),
      { numRuns: runs },
    );
  });
});
