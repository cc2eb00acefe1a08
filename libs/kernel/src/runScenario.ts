import { applyOp, createHost } from './host.js';
import { processReport } from './report.js';
import type { Expectation, FailedExpectation, ProcessReport, RunReport, Scenario, StepReport } from './scenarioTypes.js';
import type { HostState } from './state.js';
import type { ProfileName } from './types.js';

export interface RunOptions {
  /** Run under this profile instead of the scenario's own. */
  profile?: ProfileName;
  /** Add the acting process's lockedVmPages/totalVmPages after each step to its step report. */
  trace?: boolean;
}

const sameSet = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((x) => b.includes(x));

function check(i: number, exp: Expectation, step: StepReport, proc: ProcessReport | undefined): FailedExpectation[] {
  const failed: FailedExpectation[] = [];
  const fail = (field: keyof Expectation, expected: unknown, actual: unknown): void => {
    failed.push({ step: i, field, expected, actual });
  };
  if (exp.errno !== undefined && exp.errno !== step.errno) fail('errno', exp.errno, step.errno);
  if (exp.signal !== undefined && exp.signal !== (step.signal ?? null)) fail('signal', exp.signal, step.signal ?? null);
  if (exp.alive !== undefined && exp.alive !== (proc?.alive ?? false)) fail('alive', exp.alive, proc?.alive ?? false);
  if (exp.lockedVmPages !== undefined && String(exp.lockedVmPages) !== String(proc?.lockedVmPages)) {
    fail('lockedVmPages', exp.lockedVmPages, proc?.lockedVmPages);
  }
  if (exp.totalVmPages !== undefined && exp.totalVmPages !== proc?.totalVmPages) {
    fail('totalVmPages', exp.totalVmPages, proc?.totalVmPages);
  }
  if (exp.defFlags !== undefined && !sameSet(exp.defFlags, proc?.defFlags ?? [])) fail('defFlags', exp.defFlags, proc?.defFlags);
  if (exp.mclInherit !== undefined && !sameSet(exp.mclInherit, proc?.mclInherit ?? [])) {
    fail('mclInherit', exp.mclInherit, proc?.mclInherit);
  }
  return failed;
}

/** Run a scenario through the model: every step, every expectation, and the final process table. */
export function runScenario(scenario: Scenario, options: RunOptions = {}): RunReport & { state: HostState } {
  const profile = options.profile ?? scenario.profile;
  const state = createHost(profile, scenario.processes);
  const steps: StepReport[] = [];
  const failedExpectations: FailedExpectation[] = [];
  scenario.steps.forEach((step, i) => {
    const r = applyOp(state, step);
    const report: StepReport = { i, op: step.op, pid: step.pid, errno: r.errno };
    if (r.signal) report.signal = r.signal;
    if (r.addr !== undefined) report.addr = '0x' + r.addr.toString(16);
    if (r.brk !== undefined) report.brk = '0x' + r.brk.toString(16);
    if (r.note) report.note = r.note;
    const task = state.tasks.get(step.pid);
    const needProc = step.expect || options.trace;
    const proc = needProc && task ? processReport(task, false) : undefined;
    if (options.trace && proc) {
      report.lockedVmPages = proc.lockedVmPages;
      report.totalVmPages = proc.totalVmPages;
    }
    steps.push(report);
    if (step.expect) failedExpectations.push(...check(i, step.expect, report, proc));
  });
  const processes: Record<string, ProcessReport> = {};
  const pids = [...state.tasks.keys()].sort((a, b) => a - b);
  for (const pid of pids) processes[String(pid)] = processReport(state.tasks.get(pid)!);
  return { name: scenario.name, profile, ok: failedExpectations.length === 0, steps, failedExpectations, processes, state };
}
