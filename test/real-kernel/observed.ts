/**
 * The "Observed" lines of spec section C, as checks on a real run (no model involved): the values
 * the spec quotes from its probe runs on 6.18, restated for the scenario files in ./scenarios.
 *
 * Absolute VmSize differs from the spec's probe (a different program), so sizes are checked as
 * changes, or as "VmLck = VmSize − 32 kB" (everything locked but [vvar] 16 + [vvar_vclock] 8 +
 * [vdso] 8 kB). VmLck is absolute where the spec quotes small absolute values.
 * Step numbers are indexes into the scenario file's steps.
 */
import type { Expectation } from '@lockline/kernel';
import type { RealRun } from './realKernel.js';

export interface ObservedCheck {
  step: number;
  /** VmLck after the step, kB */
  lck?: number;
  /** change of VmLck of the acting process, kB */
  lckDelta?: number;
  /** change of VmSize of the acting process, kB */
  sizeDelta?: number;
  /** VmLck = VmSize − this, kB (all lockable memory locked) */
  lckIsSizeMinus?: number;
  /** the change of VmLck equals that of this other step */
  sameLckDeltaAs?: number;
  /** fork: the child's VmLck right after the fork, kB */
  childLck?: number;
  /** fork: the child's VmSize minus the parent's, kB */
  childSizeMinusParent?: number;
}

/** Keyed by the scenario file's "C##" prefix. */
export const OBSERVED: Record<string, { source: string; checks: ObservedCheck[] }> = {
  C01: { source: 'S02', checks: [{ step: 1, lckIsSizeMinus: 32 }, { step: 2, lckDelta: 8, sizeDelta: 8 }] },
  C02: {
    source: 'S02-child',
    checks: [
      { step: 1, lckIsSizeMinus: 32 },
      { step: 2, childLck: 0, childSizeMinusParent: 0 },
      { step: 4, lckDelta: 0, sizeDelta: 8 },
      { step: 5, lck: 8 },
      { step: 7, lckDelta: 0, sizeDelta: 0 },
    ],
  },
  C07: {
    source: 'S03',
    checks: [{ step: 1, lckIsSizeMinus: 32 }, { step: 2, lck: 0 }, { step: 4, lckDelta: 0, sizeDelta: 8 }, { step: 5, lckDelta: 0, sizeDelta: 12 }, { step: 9, lck: 3072 }],
  },
  C08: { source: 'S18', checks: [{ step: 2, lck: 0 }, { step: 4, lckDelta: 0 }, { step: 5, lckDelta: 0 }, { step: 8, lck: 64 }] },
  C12: { source: 'S04', checks: [{ step: 3, lckDelta: 0 }, { step: 5, lckDelta: 4 }] },
  C13: {
    source: 'S06',
    checks: [
      { step: 1, lck: 32 },
      { step: 2, lck: 32 },
      { step: 3, lck: 64 },
      { step: 4, lck: 64 },
      { step: 5, lck: 32 },
      { step: 6, lck: 32 },
      { step: 7, lck: 48 },
      { step: 8, lck: 32 },
      { step: 9, lck: 40 },
      { step: 10, lck: 0 },
      { step: 11, lckDelta: 0 },
    ],
  },
  C16: { source: 'S07', checks: [{ step: 0, lck: 16 }, { step: 1, lck: 16 }, { step: 2, lck: 16 }, { step: 3, lck: 0 }, { step: 4, lck: 16 }, { step: 5, lck: 0 }, { step: 6, lck: 12 }] },
  C17: {
    source: 'S08',
    checks: [{ step: 0, lck: 8192 }, { step: 2, lck: 8196 }, { step: 3, lckIsSizeMinus: 32 }, { step: 8, lckDelta: -4 }, { step: 9, lck: 0 }, { step: 10, lckDelta: 0 }],
  },
  C18: {
    source: 'S09',
    checks: [{ step: 1, lck: 8 }, { step: 2, lck: 8 }, { step: 3, lck: 16 }, { step: 4, lck: 16 }, { step: 5, lck: 12 }, { step: 6, lck: 16 }, { step: 7, lck: 0 }, { step: 8, lck: 0 }],
  },
  C19: {
    source: 'S10, zl.out',
    checks: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((step, k) => ({ step, lck: [8, 0, 4, 8, 4, 0, 0, 8, 0, 4, 0][k] ?? NaN })),
  },
  C20: { source: 'S11', checks: [{ step: 2, lck: 8 }, { step: 3, lck: 0 }, { step: 9, lck: 8 }, { step: 10, lck: 0 }] },
  C22: { source: 'S12', checks: [{ step: 1, lck: 32 }, { step: 2, lck: 32 }, { step: 9, lck: 16 }] },
  C23: { source: 'S13', checks: [{ step: 0, lck: 32 }, { step: 1, lck: 20, sizeDelta: -12 }, { step: 4, lck: 16 }, { step: 5, lckDelta: 0, sizeDelta: 0 }] },
  C24: {
    source: 'S14',
    checks: [{ step: 1, lck: 8 }, { step: 2, lck: 8 }, { step: 3, lck: 12 }, { step: 4, lckIsSizeMinus: 32 }, { step: 5, lckDelta: 0 }, { step: 6, lck: 0 }],
  },
  C25: {
    source: 'S14/S16/S24',
    checks: [{ step: 1, lck: 16 }, { step: 2, lck: 16 }, { step: 3, lck: 16 }, { step: 4, lck: 16 }, { step: 5, lck: 0 }, { step: 9, sameLckDeltaAs: 7 }],
  },
  C26: { source: 'S19', checks: [{ step: 1, lckDelta: 44, sizeDelta: 44 }, { step: 2, lckDelta: -20, sizeDelta: -20 }] },
  C28: { source: 'S17', checks: [{ step: 5, childLck: 0, childSizeMinusParent: -32 }] },
  C29: { source: 'S22', checks: [{ step: 2, lck: 4 }, { step: 7, lck: 0 }] },
  C30: { source: 'S24, S07', checks: [{ step: 1, lck: 16 }, { step: 2, lck: 0 }, { step: 3, lck: 12 }] },
  C35: { source: 'S14/S15', checks: [{ step: 1, lckDelta: 16 }, { step: 6, childLck: 0 }, { step: 8, lckDelta: 0 }, { step: 10, lck: 0 }, { step: 12, lckDelta: 0 }] },
  C36: { source: 'S21', checks: [{ step: 0, lck: 8 }, { step: 1, lck: 8 }, { step: 2, lck: 16 }] },
};

/** Per step of a real run: the acting process's VmLck/VmSize changes (kB), or undefined. */
export function realDeltas(run: RealRun): Array<{ lck: number; size: number } | undefined> {
  const last = new Map<number, { lck: number; size: number }>();
  for (const [pid, l] of Object.entries(run.initial)) last.set(Number(pid), { lck: l.vmLckKb, size: l.vmSizeKb });
  return run.steps.map((r) => {
    if (r.vmLckKb === undefined || r.vmSizeKb === undefined) return undefined;
    const before = last.get(r.pid);
    last.set(r.pid, { lck: r.vmLckKb, size: r.vmSizeKb });
    if (r.child) last.set(r.child.pid, { lck: r.child.vmLckKb, size: r.child.vmSizeKb });
    return before ? { lck: r.vmLckKb - before.lck, size: r.vmSizeKb - before.size } : undefined;
  });
}

/** The spec's observed values that this real run does not reproduce (one line each). */
export function checkObserved(key: string, run: RealRun): string[] {
  const entry = OBSERVED[key];
  if (!entry) return [];
  const deltas = realDeltas(run);
  const problems: string[] = [];
  const fail = (c: ObservedCheck, what: string, expected: number, actual: number | undefined): void => {
    if (actual !== expected) problems.push(`step ${c.step}: ${what}: spec observed (${entry.source}) ${expected}, the kernel gave ${String(actual)}`);
  };
  for (const c of entry.checks) {
    const r = run.steps[c.step];
    const d = deltas[c.step];
    if (!r) {
      problems.push(`step ${c.step}: not run`);
      continue;
    }
    if (c.lck !== undefined) fail(c, 'VmLck kB', c.lck, r.vmLckKb);
    if (c.lckDelta !== undefined) fail(c, 'VmLck change kB', c.lckDelta, d?.lck);
    if (c.sizeDelta !== undefined) fail(c, 'VmSize change kB', c.sizeDelta, d?.size);
    if (c.lckIsSizeMinus !== undefined) fail(c, 'VmSize − VmLck kB', c.lckIsSizeMinus, r.vmSizeKb !== undefined && r.vmLckKb !== undefined ? r.vmSizeKb - r.vmLckKb : undefined);
    if (c.sameLckDeltaAs !== undefined) fail(c, `VmLck change kB (as step ${c.sameLckDeltaAs})`, deltas[c.sameLckDeltaAs]?.lck ?? NaN, d?.lck);
    if (c.childLck !== undefined) fail(c, "child's VmLck kB", c.childLck, r.child?.vmLckKb);
    if (c.childSizeMinusParent !== undefined) {
      fail(c, "child's VmSize − parent's kB", c.childSizeMinusParent, r.child && r.vmSizeKb !== undefined ? r.child.vmSizeKb - r.vmSizeKb : undefined);
    }
  }
  return problems;
}

/**
 * The scenario's own errno/signal/alive expectations, checked against the real run. (Page counts,
 * defFlags and mclInherit are the model's business: the real-kernel scenarios carry none.)
 */
export function checkExpectations(run: RealRun): string[] {
  const problems: string[] = [];
  run.scenario.steps.forEach((step, i) => {
    const exp: Expectation | undefined = step.expect;
    const r = run.steps[i];
    if (!exp || !r || r.unsupported) return;
    if (exp.errno !== undefined && !r.signal && !r.dead) {
      const got = r.otherErrno ?? r.errno;
      if (got !== exp.errno) problems.push(`step ${i} (${step.op}): expected errno ${String(exp.errno ?? 'success')}, the kernel gave ${String(got ?? 'success')}`);
    }
    if (exp.signal !== undefined && (r.signal ?? null) !== exp.signal) {
      problems.push(`step ${i} (${step.op}): expected signal ${String(exp.signal)}, the kernel gave ${r.signal ?? (r.errno === undefined ? 'nothing' : `errno ${r.errno ?? 'success'}`)}`);
    }
    if (exp.alive !== undefined) {
      const alive = !r.signal && !r.dead && step.op !== 'exit';
      if (alive !== exp.alive) problems.push(`step ${i} (${step.op}): expected alive ${String(exp.alive)}, the process is ${alive ? 'alive' : 'dead'}`);
    }
  });
  return problems;
}
