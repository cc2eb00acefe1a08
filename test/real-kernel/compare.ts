/**
 * The model's side of a real-kernel comparison: the same scenario, told the real layouts, and a
 * step-by-step comparison of what the model and the kernel did.
 *
 * The model is run on a rewritten scenario (toModelScenario) that
 *   - starts every process from the helper's real initial mappings (explicit `vmas` + `brk`), with
 *     the RLIMIT_MEMLOCK and CAP_IPC_LOCK the real process actually had;
 *   - gives every exec the real post-exec mappings instead of the scenario's image;
 *   - adds a `check` of each initial process before the first step and of each forked child right
 *     after its fork, so the model reports the baseline each pid's deltas start from;
 *   - is cut at the first step the helper could not perform (the rest would compare nothing).
 * compareRuns then requires, for every step the kernel performed: the same errno (or the same
 * killing signal) and the same change of locked and total pages of the acting process (real kB / 4
 * against the model's pages). Deltas rather than absolute values: they are robust against any
 * mapping the layout capture might misjudge, while a wrong layout still shows up as a wrong delta
 * of mlockall(MCL_CURRENT), fork or exec.
 */
import { PAGE_SIZE, type Errno, type RunReport, type Scenario, type ScenarioStep, type StepReport } from '@lockline/kernel';
import type { RealRun, RealStep } from './realKernel.js';

/** A StepReport of `runScenario(…, { trace: true })`: the acting pid's counters after the step. */
export type TracedStepReport = StepReport & { lockedVmPages?: number | string; totalVmPages?: number };

/** Where each step of the model scenario came from. */
export type Origin = { kind: 'step'; index: number } | { kind: 'baseline'; pid: number };

export interface ModelPlan {
  scenario: Scenario;
  origin: Origin[];
}

function withoutExpect(step: ScenarioStep): ScenarioStep {
  const copy = { ...step };
  delete copy.expect;
  return copy;
}

/** The model scenario and the origin of each of its steps (see the file comment). */
export function planModelRun(scenario: Scenario, real: RealRun): ModelPlan {
  const origin: Origin[] = [];
  const steps: ScenarioStep[] = [];
  const processes = scenario.processes.map((p) => {
    const layout = real.initial[p.pid];
    if (!layout) return { ...p };
    return {
      pid: p.pid,
      ...(p.ppid !== undefined ? { ppid: p.ppid } : {}),
      capIpcLock: layout.capIpcLock,
      capSysResource: p.capSysResource ?? false,
      rlimitMemlock: { ...layout.rlimitMemlock },
      image: { format: 'elf' as const, vmas: layout.vmas.map((v) => ({ ...v })), brk: layout.brk },
    };
  });
  for (const p of scenario.processes) {
    steps.push({ op: 'check', pid: p.pid });
    origin.push({ kind: 'baseline', pid: p.pid });
  }
  const stop = real.unsupported === undefined ? scenario.steps.length : real.unsupported.step === 'init' ? 0 : real.unsupported.step;
  for (let i = 0; i < stop && i < scenario.steps.length; i++) {
    const step = scenario.steps[i];
    if (!step) break;
    const r = real.steps[i];
    let s = withoutExpect(step);
    if (s.op === 'exec' && r?.postExecLayout) {
      const l = r.postExecLayout;
      s = { ...s, image: { format: 'elf', vmas: l.vmas.map((v) => ({ ...v })), brk: l.brk } };
    }
    steps.push(s);
    origin.push({ kind: 'step', index: i });
    if ((s.op === 'fork' || s.op === 'vfork' || s.op === 'clone') && r?.child) {
      steps.push({ op: 'check', pid: s.child });
      origin.push({ kind: 'baseline', pid: s.child });
    }
  }
  return {
    scenario: {
      name: `${scenario.name} (real layout)`,
      profile: 'linux-modern',
      pageSize: PAGE_SIZE,
      ...(scenario.description !== undefined ? { description: scenario.description } : {}),
      processes,
      steps,
    },
    origin,
  };
}

/**
 * `scenario` rewritten for the model: linux-modern, the real initial layouts and post-exec layouts,
 * baseline checks inserted (see planModelRun).
 */
export function toModelScenario(scenario: Scenario, real: RealRun): Scenario {
  return planModelRun(scenario, real).scenario;
}

export interface Mismatch {
  /** Index in the original scenario (-1 for a baseline). */
  step: number;
  op: string;
  pid: number;
  field: 'errno' | 'signal' | 'lockedPagesDelta' | 'totalPagesDelta' | 'baselineTotalPages' | 'addr' | 'trace' | 'real';
  real: unknown;
  model: unknown;
}

export interface Comparison {
  ok: boolean;
  mismatches: Mismatch[];
  /** Steps compared (performed by the kernel, in the model's run). */
  compared: number;
}

function pagesOf(v: number | string | undefined): number | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'number' ? v : Number(v) - 2 ** 64; // a wrapped locked_vm: compare as negative
}

function realErrno(r: RealStep): Errno | string | null | undefined {
  return r.otherErrno ?? r.errno;
}

/**
 * Compares the real run with the model's run of toModelScenario(realRun.scenario, realRun) (made
 * with `trace: true`). Returns every mismatch, in step order.
 */
export function compareRuns(real: RealRun, model: RunReport): Comparison {
  const { origin } = planModelRun(real.scenario, real);
  const mismatches: Mismatch[] = [];
  const realLck = new Map<number, number>();
  const realSize = new Map<number, number>();
  const modelLck = new Map<number, number>();
  const modelTotal = new Map<number, number>();
  let compared = 0;
  for (const [pid, l] of Object.entries(real.initial)) {
    realLck.set(Number(pid), l.vmLckKb / 4);
    realSize.set(Number(pid), l.vmSizeKb / 4);
  }
  const steps = model.steps as TracedStepReport[];
  for (let m = 0; m < origin.length; m++) {
    const o = origin[m];
    const ms = steps[m];
    if (!o) break;
    if (!ms) {
      mismatches.push({ step: o.kind === 'step' ? o.index : -1, op: 'model', pid: 0, field: 'trace', real: 'a step', model: 'no step report' });
      break;
    }
    const locked = pagesOf(ms.lockedVmPages);
    const total = ms.totalVmPages;
    if (o.kind === 'baseline') {
      if (locked === undefined || total === undefined) {
        mismatches.push({ step: -1, op: 'check', pid: o.pid, field: 'trace', real: 'counters', model: 'runScenario(…, { trace: true }) gave no lockedVmPages/totalVmPages' });
        break;
      }
      modelLck.set(o.pid, locked);
      modelTotal.set(o.pid, total);
      // The layout is right if the model's total is the real VmSize (a cheap, strong check).
      const rs = realSize.get(o.pid);
      if (rs !== undefined && rs !== total) {
        mismatches.push({ step: -1, op: 'check', pid: o.pid, field: 'baselineTotalPages', real: rs, model: total });
      }
      continue;
    }
    const r = real.steps[o.index];
    const step = real.scenario.steps[o.index];
    if (!r || !step) break;
    const at = { step: o.index, op: step.op, pid: step.pid };
    if (r.error) {
      mismatches.push({ ...at, field: 'real', real: r.error, model: null });
      break;
    }
    if (r.dead || r.unsupported) continue; // nothing happened for real
    compared++;
    const rSig = r.signal ?? null;
    const mSig = ms.signal ?? null;
    if (rSig !== mSig) mismatches.push({ ...at, field: 'signal', real: rSig, model: mSig });
    if (rSig === null && step.op !== 'exit') {
      const re = realErrno(r);
      if (re !== ms.errno) mismatches.push({ ...at, field: 'errno', real: re, model: ms.errno });
    }
    if (rSig !== null || mSig !== null || step.op === 'exit') continue;
    if (locked === undefined || total === undefined) {
      mismatches.push({ ...at, field: 'trace', real: 'counters', model: 'no lockedVmPages/totalVmPages in the step report' });
      continue;
    }
    const rl = (r.vmLckKb ?? NaN) / 4;
    const rt = (r.vmSizeKb ?? NaN) / 4;
    const dRealL = rl - (realLck.get(step.pid) ?? NaN);
    const dRealT = rt - (realSize.get(step.pid) ?? NaN);
    const dModelL = locked - (modelLck.get(step.pid) ?? NaN);
    const dModelT = total - (modelTotal.get(step.pid) ?? NaN);
    if (dRealL !== dModelL) mismatches.push({ ...at, field: 'lockedPagesDelta', real: dRealL, model: dModelL });
    if (dRealT !== dModelT) mismatches.push({ ...at, field: 'totalPagesDelta', real: dRealT, model: dModelT });
    realLck.set(step.pid, rl);
    realSize.set(step.pid, rt);
    modelLck.set(step.pid, locked);
    modelTotal.set(step.pid, total);
    if (step.op === 'mmap' && step.addr !== undefined && r.addr !== undefined && ms.addr !== undefined) {
      if (Number(ms.addr) !== r.addr) mismatches.push({ ...at, field: 'addr', real: `0x${r.addr.toString(16)}`, model: ms.addr });
    }
    if (r.child) {
      realLck.set(r.child.pid, r.child.vmLckKb / 4);
      realSize.set(r.child.pid, r.child.vmSizeKb / 4);
    }
  }
  return { ok: mismatches.length === 0, mismatches, compared };
}

/** One line per mismatch, for assertion messages. */
export function describeMismatches(c: Comparison, real: RealRun): string {
  return c.mismatches
    .map((m) => {
      const step = m.step >= 0 ? `step ${m.step} (${m.op} by pid ${m.pid})` : `baseline of pid ${m.pid}`;
      const raw = m.step >= 0 ? real.steps[m.step] : undefined;
      const detail = raw ? `; real: errno=${String(raw.otherErrno ?? raw.errno)} VmLck=${String(raw.vmLckKb)} kB VmSize=${String(raw.vmSizeKb)} kB` : '';
      return `${step}: ${m.field}: real ${JSON.stringify(m.real)}, model ${JSON.stringify(m.model)}${detail}`;
    })
    .join('\n');
}

/** Page count of a byte length, as the kernel rounds it. */
export function pagesOfBytes(n: number): number {
  return Math.ceil(n / PAGE_SIZE);
}
