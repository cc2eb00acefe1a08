/**
 * linux-modern against the running kernel.
 *
 * Every scenario in ./scenarios (the [REAL] scenarios of spec section C, plus regressions found by
 * the random sequences) and a few hundred seeded random sequences are run twice: for real, by
 * helper.c (a fresh process per scenario process, real fork/exec, CAP_IPC_LOCK dropped with
 * capset(2), RLIMIT_MEMLOCK set), and through the model, started from the real processes' layouts.
 * Both must give the same errno or signal at every step and the same change of locked and total
 * pages. The scenario files' own errno/signal expectations and the spec's "Observed" values are
 * checked against the kernel too, so a disagreement says whether the spec or the model is off.
 *
 * Without a C compiler or the capability calls the whole suite is skipped, with the reason in its
 * name; it never passes without running.
 *
 * Environment: LOCKLINE_REAL_SEQUENCES (default 300), LOCKLINE_REAL_SEED (first seed, default 1).
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runScenario, type RunReport, type Scenario, type ScenarioStep } from '@lockline/kernel';
import { mulberry32 } from '../bench/support.js';
import { compareRuns, describeMismatches, toModelScenario, type Comparison } from './compare.js';
import { generateSequence, minimize } from './generate.js';
import { checkExpectations, checkObserved } from './observed.js';
import {
  buildHelper,
  layoutSizeKb,
  mapsToVmas,
  parseOutput,
  probeCapabilities,
  runOnRealKernel,
  runProgram,
  toProgram,
  type RealRun,
} from './realKernel.js';
import { loadScenarioFile, scenarioToJson } from './scenarioFile.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const SCENARIO_DIR = join(HERE, 'scenarios');
const FILES = readdirSync(SCENARIO_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();
const P = 4096;
function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
  return n;
}
const SEQUENCES = envInt('LOCKLINE_REAL_SEQUENCES', 300);
const FIRST_SEED = envInt('LOCKLINE_REAL_SEED', 1);

const built = await buildHelper();
const probe = built.ok ? probeCapabilities(built.path) : undefined;
const skipReason = !built.ok ? `cannot build the helper: ${built.reason}` : probe && !probe.ok ? `the capability calls are missing: ${probe.reason ?? ''}` : undefined;
if (skipReason) console.warn(`[real-kernel] the real-kernel suite is SKIPPED: ${skipReason}`);
const HELPER = built.ok ? built.path : '';

function runModel(scenario: Scenario, real: RealRun): RunReport {
  return runScenario(toModelScenario(scenario, real), { profile: 'linux-modern', trace: true });
}

/** Runs `scenario` for real and in the model; throws on a helper failure. */
async function both(scenario: Scenario): Promise<{ real: RealRun; model: RunReport; cmp: Comparison }> {
  const real = await runOnRealKernel(HELPER, scenario);
  if (real.fatal) throw new Error(`the helper failed on ${scenario.name}: ${real.fatal}\n--- program ---\n${real.program}`);
  const model = runModel(scenario, real);
  return { real, model, cmp: compareRuns(real, model) };
}

function assertAgreement(scenario: Scenario, real: RealRun, cmp: Comparison, specProblems: string[]): void {
  const parts: string[] = [];
  if (specProblems.length) parts.push(`the real kernel disagrees with the spec:\n${specProblems.join('\n')}`);
  if (!cmp.ok) parts.push(`the model disagrees with the real kernel:\n${describeMismatches(cmp, real)}`);
  expect(parts.join('\n\n') || 'agreement', `${scenario.name}`).toBe('agreement');
}

// ------------------------------------------------------------------------------------------------

describe('real-kernel harness, pure parts', () => {
  it('generates the same sequence for the same seed, and different ones for different seeds', () => {
    expect(scenarioToJson(generateSequence(42))).toBe(scenarioToJson(generateSequence(42)));
    expect(scenarioToJson(generateSequence(42))).not.toBe(scenarioToJson(generateSequence(43)));
    const r = mulberry32(1);
    const xs = Array.from({ length: 1000 }, () => r());
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
  });

  it('writes every op of a sequence into the helper program', () => {
    const s = generateSequence(7);
    const program = toProgram(s);
    expect(program.split('\n').filter((l) => l.startsWith('S ')).length).toBe(s.steps.length);
    expect(toProgram({ ...s, steps: [{ op: 'mlock', pid: 1, addr: 0x10000000, length: 2 ** 64 - P }] })).toContain(
      'S 1 mlock 268435456 18446744073709547520',
    );
  });

  it('turns /proc/self/maps into the model layout: [vsyscall] dropped, specials and [stack] marked', () => {
    const vmas = mapsToVmas([
      { start: 0x1000, end: 0x3000, perms: 'r-xp', name: '/bin/x' },
      { start: 0x7000, end: 0x9000, perms: 'r--p', name: '[vvar]' },
      { start: 0x9000, end: 0xb000, perms: 'r-xp', name: '[vdso]' },
      { start: 0x10000, end: 0x20000, perms: 'rw-p', name: '[stack]' },
      { start: 0xffffffffff600000, end: 0xffffffffff601000, perms: '--xp', name: '[vsyscall]' },
    ]);
    expect(vmas).toEqual([
      { start: 0x1000, end: 0x3000, prot: 'r-x' },
      { start: 0x7000, end: 0x9000, prot: 'r--', special: true },
      { start: 0x9000, end: 0xb000, prot: 'r-x', special: true },
      { start: 0x10000, end: 0x20000, prot: 'rw-', growsDown: true },
    ]);
  });

  it('compareRuns reports a different errno and a different change of locked pages', () => {
    const scenario: Scenario = {
      name: 'synthetic',
      profile: 'linux-modern',
      processes: [{ pid: 1, rlimitMemlock: { cur: 16 * P, max: 16 * P } }],
      steps: [
        { op: 'mmap', pid: 1, addr: 0x10000000, length: 4 * P, prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'] },
        { op: 'mlock', pid: 1, addr: 0x10000000, length: 4 * P },
      ],
    };
    const output = [
      'HELLO lockline-real 1 pagesize=4096',
      'INIT 1 errno=OK lck=0 size=8 pid=100 brk=0x600000 rlim=65536,65536 capipc=0',
      'M 0x400000 0x402000 r-xp /bin/x',
      'STEP 0 1 mmap errno=OK lck=0 size=24 addr=0x10000000',
      'STEP 1 1 mlock errno=OK lck=16 size=24',
      'DONE',
    ].join('\n');
    const real: RealRun = { ...parseOutput(scenario, output), durationMs: 0, program: '', output };
    expect(real.initial[1]?.vmas).toEqual([{ start: 0x400000, end: 0x402000, prot: 'r-x' }]);
    const model = runModel(scenario, real);
    expect(compareRuns(real, model).mismatches).toEqual([]);
    // The same run, but the kernel "refused" the mlock, or counted one page too many.
    const refused = { ...real, steps: real.steps.map((s, i) => (i === 1 ? { ...s, errno: 'ENOMEM' as const, vmLckKb: 0 } : s)) };
    expect(compareRuns(refused, model).mismatches.map((m) => m.field)).toEqual(['errno', 'lockedPagesDelta']);
    const overCounted = { ...real, steps: real.steps.map((s, i) => (i === 1 ? { ...s, vmLckKb: 20 } : s)) };
    expect(compareRuns(overCounted, model).mismatches).toEqual([
      { step: 1, op: 'mlock', pid: 1, field: 'lockedPagesDelta', real: 5, model: 4 },
    ]);
  });
});

// ------------------------------------------------------------------------------------------------

describe.skipIf(skipReason !== undefined)(`linux-modern against the real kernel${skipReason ? ` — SKIPPED: ${skipReason}` : ''}`, () => {
  it('captures layouts that add up to VmSize, before and after exec', async () => {
    const s: Scenario = {
      name: 'layout',
      profile: 'linux-modern',
      processes: [{ pid: 1 }],
      steps: [{ op: 'exec', pid: 1, image: { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 } }],
    };
    const real = await runOnRealKernel(HELPER, s);
    expect(real.fatal).toBeUndefined();
    const init = real.initial[1];
    const post = real.steps[0]?.postExecLayout;
    expect(init && post).toBeTruthy();
    if (!init || !post) return;
    for (const l of [init, post]) {
      expect(layoutSizeKb(l.vmas)).toBe(l.vmSizeKb);
      expect(l.vmas.filter((v) => v.special).reduce((kb, v) => kb + (v.end - v.start) / 1024, 0)).toBe(32);
      expect(l.vmas.filter((v) => v.growsDown)).toHaveLength(1);
    }
  });

  for (const file of FILES) {
    it(file.replace(/\.json$/, ''), async (ctx) => {
      const scenario = loadScenarioFile(join(SCENARIO_DIR, file));
      const { real, cmp } = await both(scenario);
      if (real.unsupported) ctx.skip(`cannot run for real: step ${String(real.unsupported.step)}: ${real.unsupported.reason}`);
      const key = /^(C\d\d)-/.exec(file)?.[1] ?? '';
      assertAgreement(scenario, real, cmp, [...checkExpectations(real), ...checkObserved(key, real)]);
      expect(cmp.compared).toBe(scenario.steps.length);
    });
  }

  it('C12, exact boundary: total_vm == lim passes mlockall(MCL_CURRENT), lim + 1 page does not', async () => {
    // The filler that brings VmSize to exactly 2048 pages depends on the real image: measure it
    // first (layouts repeat exactly: the helper runs without address-space randomization).
    const proc = { pid: 1, capIpcLock: false, rlimitMemlock: { cur: 2048 * P, max: 2048 * P } };
    const calib = await runOnRealKernel(HELPER, { name: 'calibration', profile: 'linux-modern', processes: [proc], steps: [] });
    const startKb = calib.initial[1]?.vmSizeKb ?? NaN;
    const filler = 2048 - startKb / 4;
    expect(filler).toBeGreaterThan(0);
    const mmap = (addr: number, pages: number): ScenarioStep => ({ op: 'mmap', pid: 1, addr, length: pages * P, prot: '---', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'] });
    const scenario: Scenario = {
      name: 'C12 boundary (built from a calibration run)',
      profile: 'linux-modern',
      processes: [proc],
      steps: [
        mmap(0x10000000, filler),
        { op: 'mlockall', pid: 1, flags: ['MCL_CURRENT'], expect: { errno: null } },
        { op: 'munlockall', pid: 1 },
        mmap(0x18000000, 1),
        { op: 'mlockall', pid: 1, flags: ['MCL_CURRENT'], expect: { errno: 'ENOMEM' } },
      ],
    };
    const { real, cmp } = await both(scenario);
    expect(real.initial[1]?.vmSizeKb, 'the layout changed between the calibration and the run').toBe(startKb);
    const observed = real.steps[1]?.vmLckKb === 8160 ? [] : [`step 1: spec observed (S04) VmLck 8160 kB at VmSize 8192 kB, the kernel gave ${String(real.steps[1]?.vmLckKb)}`];
    assertAgreement(scenario, real, cmp, [...checkExpectations(real), ...observed]);
  });

  it('C27, exact headroom: lim = locked + 4 p lets the locked stack grow by 4 pages, not 5', async () => {
    const proc = { pid: 1, capIpcLock: true, rlimitMemlock: { cur: 2048 * P, max: 2048 * P } };
    const lockAll: ScenarioStep = { op: 'mlockall', pid: 1, flags: ['MCL_CURRENT', 'MCL_FUTURE'] };
    const calib = await runOnRealKernel(HELPER, { name: 'calibration', profile: 'linux-modern', processes: [proc], steps: [lockAll] });
    const lockedKb = calib.steps[0]?.vmLckKb ?? NaN;
    expect(lockedKb).toBeGreaterThan(0);
    const lim = lockedKb * 1024 + 4 * P;
    const scenario: Scenario = {
      name: 'C27 exact headroom (built from a calibration run)',
      profile: 'linux-modern',
      processes: [proc],
      steps: [
        lockAll,
        { op: 'capset', pid: 1, capIpcLock: false },
        { op: 'setrlimit', pid: 1, cur: lim, max: lim, expect: { errno: null } },
        { op: 'growstack', pid: 1, length: 4 * P, expect: { errno: null } },
        { op: 'growstack', pid: 1, length: P, expect: { signal: 'SIGSEGV' } },
      ],
    };
    const { real, cmp } = await both(scenario);
    expect(real.steps[0]?.vmLckKb, 'the layout changed between the calibration and the run').toBe(lockedKb);
    assertAgreement(scenario, real, cmp, checkExpectations(real));
  });

  it('C11/C14, values no flag name spells: mlockall 0x2000, -1, 8-15; mlock2 2, 3, -1 (kernel only)', async () => {
    // The scenario format names flags, so these numbers cannot reach the model; the helper takes
    // raw numbers for exactly this check of the spec's observed matrix (S15, S05).
    const mlockall = [0x2000, -1, 8, 9, 10, 11, 12, 13, 14, 15, 16, 4, 0];
    const program = [
      'P 1 - - 1 0',
      'P 2 0 0 0 0',
      ...mlockall.map((v) => `S 1 mlockall ${v}`),
      'S 1 mlockall 6',
      'S 1 mlockall 7',
      'S 1 munlockall',
      'S 1 mmap 0x10000000 4096 rw- MAP_PRIVATE|MAP_ANONYMOUS',
      'S 1 mlock2 0x10000000 4096 2',
      'S 1 mlock2 0x10000000 4096 3',
      'S 1 mlock2 0x10000000 4096 -1',
      'S 2 mlock2 0x10000000 4096 2',
      'S 2 mlockall 8',
      '',
    ].join('\n');
    const { output } = await runProgram(HELPER, program);
    const run = parseOutput({ name: 'raw', profile: 'linux-modern', processes: [], steps: [] }, output);
    const got = run.steps.map((s) => s.errno ?? 'OK');
    expect(got).toEqual([...mlockall.map(() => 'EINVAL'), 'OK', 'OK', 'OK', 'OK', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL', 'EINVAL']);
  });

  it(`${SEQUENCES} random sequences from seed ${FIRST_SEED}`, { timeout: 60_000 + SEQUENCES * 500 }, async () => {
    const failures: Array<{ seed: number; scenario: Scenario; real: RealRun; cmp: Comparison }> = [];
    const problems: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < SEQUENCES) {
        const seed = FIRST_SEED + next++;
        const scenario = generateSequence(seed);
        const real = await runOnRealKernel(HELPER, scenario);
        if (real.fatal) {
          problems.push(`seed ${seed}: the helper failed: ${real.fatal}`);
          continue;
        }
        const cmp = compareRuns(real, runModel(scenario, real));
        if (!cmp.ok) failures.push({ seed, scenario, real, cmp });
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(problems, problems.join('\n')).toEqual([]);
    if (failures.length === 0) return;
    failures.sort((a, b) => a.seed - b.seed);
    const first = failures[0];
    if (!first) return;
    const stillFails = async (s: Scenario): Promise<boolean> => {
      const real = await runOnRealKernel(HELPER, s);
      return !real.fatal && !real.unsupported && !compareRuns(real, runModel(s, real)).ok;
    };
    const repro = await minimize(first.scenario, stillFails);
    const reproReal = await runOnRealKernel(HELPER, repro);
    const reproCmp = compareRuns(reproReal, runModel(repro, reproReal));
    const kinds = new Map<string, number[]>();
    for (const f of failures) {
      const m = f.cmp.mismatches[0];
      const k = m ? `${m.op} ${m.field}: real ${JSON.stringify(m.real)}, model ${JSON.stringify(m.model)}` : '?';
      kinds.set(k, [...(kinds.get(k) ?? []), f.seed]);
    }
    const message = [
      `${failures.length} of ${SEQUENCES} random sequences disagree with the model (seeds ${FIRST_SEED}..${FIRST_SEED + SEQUENCES - 1}).`,
      `First failing seed ${first.seed} (generateSequence(${first.seed})):`,
      describeMismatches(first.cmp, first.real).split('\n').slice(0, 5).join('\n'),
      '',
      'First disagreement of each failing seed, by kind:',
      ...[...kinds.entries()].map(([k, seeds]) => `  ${seeds.length} x ${k}  (seeds ${seeds.slice(0, 10).join(', ')}${seeds.length > 10 ? ', …' : ''})`),
      '',
      `Reproduce: LOCKLINE_REAL_SEED=${first.seed} LOCKLINE_REAL_SEQUENCES=1 npx vitest run test/real-kernel -t random`,
      `      or: npx tsx --conditions=lockline-source test/real-kernel/run-real.ts --seed ${first.seed}`,
      `Minimal repro (${repro.steps.length} of ${first.scenario.steps.length} steps; save as a .json and run with run-real.ts):`,
      describeMismatches(reproCmp, reproReal),
      scenarioToJson({ ...repro, name: `random-${first.seed}-minimal` }),
    ].join('\n');
    expect.fail(message);
  });
});
