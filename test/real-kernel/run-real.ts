/**
 * Runs scenario files on the real kernel and prints what it did, step by step (no model involved).
 *
 *   npx tsx --conditions=lockline-source test/real-kernel/run-real.ts [FILE.json ...]
 *   npx tsx --conditions=lockline-source test/real-kernel/run-real.ts --seed N   (a random sequence)
 *
 * With no file, runs every scenario in test/real-kernel/scenarios/.
 */
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Scenario } from '@lockline/kernel';
import { generateSequence } from './generate.js';
import { buildHelper, layoutSizeKb, probeCapabilities, runOnRealKernel, type RealRun } from './realKernel.js';
import { loadScenarioFile, scenarioToJson } from './scenarioFile.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');

function describeStep(run: RealRun, i: number, prev: Map<number, { lck: number; size: number }>): string {
  const r = run.steps[i];
  const s = run.scenario.steps[i];
  if (!r || !s) return `${i}: (not run)`;
  const what = JSON.stringify(s, (k, v: unknown) => (k === 'expect' || k === 'image' || k === 'pid' || k === 'op' ? undefined : typeof v === 'number' && (k === 'addr') ? `0x${v.toString(16)}` : v));
  let out = `${String(i).padStart(3)} P${s.pid} ${s.op.padEnd(10)} ${what.padEnd(60)} `;
  if (r.unsupported) return `${out}UNSUPPORTED ${r.unsupported}`;
  if (r.dead) return `${out}(process already dead)`;
  if (r.signal) return `${out}killed by ${r.signal}`;
  if (r.error) return `${out}ERROR ${r.error}`;
  const before = prev.get(s.pid);
  const lck = r.vmLckKb ?? NaN;
  const size = r.vmSizeKb ?? NaN;
  out += `${String(r.otherErrno ?? r.errno ?? 'OK').padEnd(7)} VmLck ${lck} kB (${before ? fmtDelta(lck - before.lck) : '?'}) VmSize ${size} kB (${before ? fmtDelta(size - before.size) : '?'})`;
  if (s.expect?.errno !== undefined && s.expect.errno !== (r.errno ?? null)) out += `   <-- expected ${String(s.expect.errno ?? 'OK')}`;
  prev.set(s.pid, { lck, size });
  if (r.child) {
    out += `  child P${r.child.pid}: VmLck ${r.child.vmLckKb} VmSize ${r.child.vmSizeKb}`;
    prev.set(r.child.pid, { lck: r.child.vmLckKb, size: r.child.vmSizeKb });
  }
  if (r.postExecLayout) out += `  (new image: ${r.postExecLayout.vmas.length} VMAs, Σ ${layoutSizeKb(r.postExecLayout.vmas)} kB)`;
  return out;
}

function fmtDelta(d: number): string {
  return d >= 0 ? `+${d}` : `${d}`;
}

async function main(): Promise<void> {
  const built = await buildHelper();
  if (!built.ok) throw new Error(`cannot build the helper: ${built.reason}`);
  const probe = probeCapabilities(built.path);
  if (!probe.ok) throw new Error(`this machine cannot run the harness: ${probe.reason ?? ''}`);
  const args = process.argv.slice(2);
  const scenarios: Scenario[] = [];
  if (args[0] === '--seed') {
    const s = generateSequence(Number(args[1]));
    console.log(scenarioToJson(s));
    scenarios.push(s);
  } else {
    const files = args.length ? args : readdirSync(DIR).filter((f) => f.endsWith('.json')).sort().map((f) => join(DIR, f));
    for (const f of files) scenarios.push(loadScenarioFile(f));
  }
  for (const scenario of scenarios) {
    const run = await runOnRealKernel(built.path, scenario);
    console.log(`\n== ${scenario.name}  (${run.durationMs.toFixed(0)} ms)`);
    const prev = new Map<number, { lck: number; size: number }>();
    for (const [pid, l] of Object.entries(run.initial)) {
      console.log(`    P${pid} starts: VmLck ${l.vmLckKb} kB, VmSize ${l.vmSizeKb} kB (Σ maps ${layoutSizeKb(l.vmas)} kB), ${l.vmas.length} VMAs, brk 0x${l.brk.toString(16)}, rlimit ${l.rlimitMemlock.cur}/${l.rlimitMemlock.max}, CAP_IPC_LOCK ${l.capIpcLock ? 'on' : 'off'}`);
      prev.set(Number(pid), { lck: l.vmLckKb, size: l.vmSizeKb });
    }
    if (run.unsupported?.step === 'init') console.log(`    UNSUPPORTED: ${run.unsupported.reason}`);
    for (let i = 0; i < run.steps.length; i++) console.log(describeStep(run, i, prev));
    if (run.fatal) console.log(`    FATAL: ${run.fatal}`);
  }
}

await main();
