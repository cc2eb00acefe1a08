/**
 * Running linux-modern scenarios on the running kernel, through test/real-kernel/helper.c.
 *
 * Protocol (one fresh helper process per scenario):
 *
 *   stdin, one item per line, written by toProgram():
 *     P <pid> <rlim_cur|inf|-> <rlim_max|inf|-> <capIpcLock 0|1> <capSysResource 0|1>
 *     S <pid> <op> <args...>
 *   where the ops and their arguments are
 *     fork <child>   vfork <child>   clone <child> <shareVm 0|1>   exec   exit   check
 *     mmap <addr|-> <length> <prot> <FLAG|FLAG...|0>      munmap|mlock|munlock <addr> <length>
 *     mlock2 <addr> <length> <FLAG...|0>   mlockall <FLAG...|0>   munlockall
 *     madvise <addr> <length> <ADVICE>     mremap <addr> <oldLength> <newLength>
 *     brk abs <addr> | brk inc <increment> setrlimit <cur|inf> <max|inf>
 *     capset <ipc 0|1|-> <sysres 0|1|->    growstack <length>
 *   (numbers are decimal or 0x-hex; flags are the scenario format's names).
 *
 *   stdout, written by the helper:
 *     HELLO lockline-real 1 pagesize=4096
 *     INIT <pid> errno=OK lck=<kB> size=<kB> pid=<real> brk=0x.. rlim=<cur>,<max> capipc=<0|1>
 *     M <start> <end> <perms> [name]          the /proc/self/maps lines of the INIT/exec above
 *     STEP <i> <pid> <op> errno=<E|OK> lck=<kB> size=<kB> [addr=..] [brk=..] [child=<real>]
 *     STEP <i> <pid> <op> signal=<SIGSEGV|SIGKILL|..>     the process died during the step
 *     STEP <i> <pid> <op> dead                            the process had died before the step
 *     STEP <i> <pid> <op> unsupported=<why>               the run stops here
 *     CHILD <pid> errno=OK lck=<kB> size=<kB> pid=<real>  a forked child's state after fork
 *     DONE | FATAL <message>
 *   VmLck/VmSize are read from /proc/self/status by the acting process right after its call.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RLIM_INFINITY, type Errno, type Scenario, type Signal, type VmaSpec } from '@lockline/kernel';

const HERE = dirname(fileURLToPath(import.meta.url));
export const HELPER_SOURCE = join(HERE, 'helper.c');

// ------------------------------------------------------------------------------------------------
// Building and probing

export type BuildResult = { ok: true; path: string; warnings?: string } | { ok: false; reason: string };

function hasCommand(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/**
 * Compiles helper.c with `cc -O1 -Wall` into <tmpdir>/lockline-real-helper-<source hash>/, once
 * per source version (later calls and later runs reuse the binary).
 */
export async function buildHelper(): Promise<BuildResult> {
  if (process.platform !== 'linux') return { ok: false, reason: `not Linux (platform ${process.platform})` };
  const source = readFileSync(HELPER_SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `lockline-real-helper-${hash}`);
  const path = join(dir, 'lockline-real-helper');
  if (existsSync(path)) return { ok: true, path };
  const cc = ['cc', 'gcc'].find(hasCommand);
  if (!cc) return { ok: false, reason: 'no C compiler: neither cc nor gcc is on PATH' };
  mkdirSync(dir, { recursive: true });
  // Compile under a private name and rename, so concurrent builders never see half a binary.
  const tmp = `${path}.${process.pid}.tmp`;
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(cc, ['-O1', '-Wall', '-o', tmp, HELPER_SOURCE], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => resolve({ code: -1, stderr: String(e) }));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  if (r.code !== 0) {
    rmSync(tmp, { force: true });
    return { ok: false, reason: `${cc} failed to compile helper.c:\n${r.stderr.trim()}` };
  }
  renameSync(tmp, path);
  return r.stderr.trim() ? { ok: true, path, warnings: r.stderr.trim() } : { ok: true, path };
}

const CAP_IPC_LOCK = 14;

function capBit(status: string, field: string, bit: number): boolean | undefined {
  const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, 'm').exec(status);
  if (!m?.[1]) return undefined;
  return ((BigInt(`0x${m[1]}`) >> BigInt(bit)) & 1n) === 1n;
}

/**
 * Can this machine run the harness? Without a helper, looks at this process's capability sets;
 * with one, runs `helper --probe`, which really drops and raises CAP_IPC_LOCK with capset(2),
 * lowers RLIMIT_MEMLOCK, and checks MAP_FIXED_NOREPLACE, mlock2, pidfd_open, CLONE_PARENT and
 * PR_CAPBSET_DROP in a throw-away process.
 */
export function probeCapabilities(helperPath?: string): { ok: boolean; reason?: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `not Linux (platform ${process.platform})` };
  let status: string;
  try {
    status = readFileSync('/proc/self/status', 'utf8');
  } catch {
    return { ok: false, reason: 'cannot read /proc/self/status' };
  }
  if (capBit(status, 'CapBnd', CAP_IPC_LOCK) === false) {
    return { ok: false, reason: 'CAP_IPC_LOCK is not in the bounding set: capset(2) cannot turn it on' };
  }
  if (capBit(status, 'CapPrm', CAP_IPC_LOCK) === false && process.getuid?.() !== 0) {
    return { ok: false, reason: 'CAP_IPC_LOCK is not permitted (not root, no file or ambient capability)' };
  }
  if (!helperPath) return { ok: true };
  const r = spawnSync(helperPath, ['--probe'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return { ok: false, reason: `helper --probe did not run: ${r.error.message}` };
  const fail = /^fail (.*)$/m.exec(r.stdout);
  if (fail?.[1]) return { ok: false, reason: fail[1] };
  if (r.status !== 0 || !/^ok$/m.test(r.stdout)) {
    return { ok: false, reason: `helper --probe failed (status ${String(r.status)}): ${r.stdout}${r.stderr}`.trim() };
  }
  return { ok: true };
}

// ------------------------------------------------------------------------------------------------
// The result of a run

export interface RealMapping {
  start: number;
  end: number;
  perms: string;
  name: string;
}

/** A fresh image as the helper saw it: after start-up, or right after an exec. */
export interface RealLayout {
  realPid: number;
  vmLckKb: number;
  vmSizeKb: number;
  /** The mappings as the model takes them (no [vsyscall]; specials and [stack] marked). */
  vmas: VmaSpec[];
  brk: number;
  maps: RealMapping[];
  rlimitMemlock: { cur: number; max: number };
  capIpcLock: boolean;
}

export interface RealStep {
  i: number;
  op: string;
  pid: number;
  /** null for success; undefined when the process did not return (signal, dead, unsupported). */
  errno?: Errno | null;
  /** An errno name outside the model's vocabulary (e.g. EBADF), kept verbatim. */
  otherErrno?: string;
  signal?: Signal | string;
  /** The process exited (its own exit step, or an unexpected exit: see `error`). */
  exited?: number;
  vmLckKb?: number;
  vmSizeKb?: number;
  addr?: number;
  brk?: number;
  /** exec: the new image. */
  postExecLayout?: RealLayout;
  /** fork: the child right after the fork. */
  child?: { pid: number; realPid: number; vmLckKb: number; vmSizeKb: number };
  /** The acting process had died before this step. */
  dead?: boolean;
  unsupported?: string;
  error?: string;
}

export interface RealRun {
  scenario: Scenario;
  initial: Record<number, RealLayout>;
  steps: RealStep[];
  /** Set when the run stopped at an operation the helper cannot perform for real. */
  unsupported?: { step: number | 'init'; pid: number; reason: string };
  /** Set when the helper failed (timeout, crash, malformed output). */
  fatal?: string;
  durationMs: number;
  program: string;
  output: string;
}

// ------------------------------------------------------------------------------------------------
// Scenario -> program

function num(n: number): string {
  if (!Number.isFinite(n) || !Number.isInteger(n) || n < 0) throw new Error(`not a non-negative integer: ${n}`);
  return BigInt(n).toString(); // exact for values above 2^53 such as (size_t)-4096
}

function rlim(n: number | undefined): string {
  if (n === undefined) return '-';
  return n === RLIM_INFINITY ? 'inf' : num(n);
}

function flagList(flags: readonly string[]): string {
  return flags.length ? flags.join('|') : '0';
}

/** The helper's stdin for `scenario` (see the protocol above). */
export function toProgram(scenario: Scenario): string {
  const lines: string[] = [`# ${scenario.name}`];
  for (const p of scenario.processes) {
    if (p.kernelThread) throw new UnsupportedScenario(`pid ${p.pid} is a kernel thread`);
    lines.push(
      `P ${p.pid} ${rlim(p.rlimitMemlock?.cur)} ${rlim(p.rlimitMemlock?.max)} ${p.capIpcLock ? 1 : 0} ${p.capSysResource ? 1 : 0}`,
    );
  }
  for (const s of scenario.steps) {
    let args: string;
    switch (s.op) {
      case 'fork':
      case 'vfork':
        args = `${s.child}`;
        break;
      case 'clone':
        args = `${s.child} ${s.shareVm ? 1 : 0}`;
        break;
      case 'exec':
      case 'exit':
      case 'check':
      case 'munlockall':
        args = '';
        break;
      case 'mmap':
        if (!/^[rwx-]{3}$/.test(s.prot)) throw new Error(`bad prot ${s.prot}`);
        args = `${s.addr === undefined ? '-' : num(s.addr)} ${num(s.length)} ${s.prot} ${flagList(s.flags)}`;
        break;
      case 'munmap':
      case 'mlock':
      case 'munlock':
        args = `${num(s.addr)} ${num(s.length)}`;
        break;
      case 'mlock2':
        args = `${num(s.addr)} ${num(s.length)} ${flagList(s.flags)}`;
        break;
      case 'mlockall':
        args = flagList(s.flags);
        break;
      case 'madvise':
        args = `${num(s.addr)} ${num(s.length)} ${s.advice}`;
        break;
      case 'mremap':
        args = `${num(s.addr)} ${num(s.oldLength)} ${num(s.newLength)}`;
        break;
      case 'brk':
        args = s.addr !== undefined ? `abs ${num(s.addr)}` : `inc ${s.increment ?? 0}`;
        break;
      case 'setrlimit':
        args = `${rlim(s.cur)} ${rlim(s.max)}`;
        break;
      case 'capset': {
        const b = (v: boolean | undefined): string => (v === undefined ? '-' : v ? '1' : '0');
        args = `${b(s.capIpcLock)} ${b(s.capSysResource)}`;
        break;
      }
      case 'growstack':
        args = num(s.length);
        break;
    }
    lines.push(`S ${s.pid} ${s.op}${args ? ` ${args}` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

export class UnsupportedScenario extends Error {}

// ------------------------------------------------------------------------------------------------
// Output -> RealRun

const MODEL_ERRNOS = new Set<string>(['EPERM', 'ESRCH', 'EAGAIN', 'ENOMEM', 'EFAULT', 'EEXIST', 'EINVAL', 'ENOSYS']);
const SPECIAL_NAMES = new Set(['[vdso]', '[vvar]', '[vvar_vclock]', '[uprobes]']);
/** Mappings that are not VMAs of the mm (not in VmSize): the x86-64 gate area above TASK_SIZE. */
const NOT_IN_MM = new Set(['[vsyscall]']);

/** The model's view of a real process's mappings. */
export function mapsToVmas(maps: RealMapping[]): VmaSpec[] {
  return maps
    .filter((m) => !NOT_IN_MM.has(m.name))
    .map((m) => {
      const v: VmaSpec = { start: m.start, end: m.end, prot: m.perms.slice(0, 3) };
      if (SPECIAL_NAMES.has(m.name)) v.special = true;
      if (m.name === '[stack]') v.growsDown = true;
      return v;
    });
}

function fields(tokens: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of tokens) {
    const eq = t.indexOf('=');
    if (eq > 0) out[t.slice(0, eq)] = t.slice(eq + 1);
    else out[t] = '';
  }
  return out;
}

function parseRlim(s: string): number {
  return s === 'inf' ? RLIM_INFINITY : Number(s);
}

function int(s: string | undefined, what: string): number {
  if (s === undefined) throw new Error(`helper output lacks ${what}`);
  const n = s.startsWith('0x') ? Number.parseInt(s.slice(2), 16) : Number(s);
  if (!Number.isFinite(n)) throw new Error(`helper output: bad ${what}: ${s}`);
  return n;
}

function layoutOf(f: Record<string, string>): RealLayout {
  const [cur = '', max = ''] = (f.rlim ?? '').split(',');
  return {
    realPid: int(f.pid, 'pid'),
    vmLckKb: int(f.lck, 'lck'),
    vmSizeKb: int(f.size, 'size'),
    vmas: [],
    brk: int(f.brk, 'brk'),
    maps: [],
    rlimitMemlock: { cur: parseRlim(cur), max: parseRlim(max) },
    capIpcLock: f.capipc === '1',
  };
}

/** Parses the helper's stdout into a RealRun (everything but the timing and the inputs). */
export function parseOutput(scenario: Scenario, output: string): Omit<RealRun, 'durationMs' | 'program' | 'output'> {
  const run: Omit<RealRun, 'durationMs' | 'program' | 'output'> = { scenario, initial: {}, steps: [] };
  let layout: RealLayout | undefined;
  let done = false;
  for (const line of output.split('\n')) {
    if (!line) continue;
    const tokens = line.split(' ');
    const tag = tokens[0];
    if (tag === 'M') {
      if (!layout) throw new Error(`helper output: maps line outside a layout: ${line}`);
      layout.maps.push({
        start: int(tokens[1], 'start'),
        end: int(tokens[2], 'end'),
        perms: tokens[3] ?? '----',
        name: tokens.slice(4).join(' '),
      });
      continue;
    }
    if (layout) layout.vmas = mapsToVmas(layout.maps);
    layout = undefined;
    if (tag === 'HELLO') {
      if (!/pagesize=4096\b/.test(line)) throw new Error(`the harness assumes 4096-byte pages: ${line}`);
    } else if (tag === 'INIT') {
      const pid = int(tokens[1], 'pid');
      const f = fields(tokens.slice(2));
      if (f.unsupported !== undefined) {
        run.unsupported = { step: 'init', pid, reason: f.unsupported.replaceAll('_', ' ') };
      } else if (f.errno === 'OK') {
        layout = layoutOf(f);
        run.initial[pid] = layout;
      } else {
        run.fatal = `initial process ${pid} failed to start: ${line}`;
      }
    } else if (tag === 'STEP') {
      const i = int(tokens[1], 'step');
      const pid = int(tokens[2], 'pid');
      const op = tokens[3] ?? '?';
      const f = fields(tokens.slice(4));
      const step: RealStep = { i, op, pid };
      if (f.errno !== undefined) {
        if (f.errno === 'OK') step.errno = null;
        else if (MODEL_ERRNOS.has(f.errno)) step.errno = f.errno as Errno;
        else step.otherErrno = f.errno;
        if (f.lck !== undefined) step.vmLckKb = int(f.lck, 'lck');
        if (f.size !== undefined) step.vmSizeKb = int(f.size, 'size');
        if (f.addr !== undefined) step.addr = int(f.addr, 'addr');
        if (f.brk !== undefined) step.brk = int(f.brk, 'brk');
        if (op === 'exec' && f.errno === 'OK') {
          layout = layoutOf(f);
          step.postExecLayout = layout;
        }
      }
      if (f.signal !== undefined) step.signal = f.signal;
      if (f.exited !== undefined) {
        step.exited = int(f.exited, 'exit status');
        step.error = `the helper's worker exited (status ${step.exited}) during ${op}`;
      }
      if (f.dead !== undefined) step.dead = true;
      if (f.error !== undefined) step.error = f.error.replaceAll('_', ' ');
      if (f.unsupported !== undefined) {
        step.unsupported = f.unsupported.replaceAll('_', ' ');
        run.unsupported = { step: i, pid, reason: step.unsupported };
      }
      run.steps.push(step);
    } else if (tag === 'CHILD') {
      const pid = int(tokens[1], 'pid');
      const f = fields(tokens.slice(2));
      const last = run.steps[run.steps.length - 1];
      if (!last || last.op !== 'fork') throw new Error(`helper output: CHILD without a fork: ${line}`);
      if (f.errno === 'OK') {
        last.child = { pid, realPid: int(f.pid, 'pid'), vmLckKb: int(f.lck, 'lck'), vmSizeKb: int(f.size, 'size') };
      } else {
        last.error = `forked child ${pid} died before reporting: ${line}`;
      }
    } else if (tag === 'DONE') {
      done = true;
    } else if (tag === 'FATAL') {
      run.fatal = line.slice(6);
    } else {
      throw new Error(`helper output: unexpected line: ${line}`);
    }
  }
  if (layout) layout.vmas = mapsToVmas(layout.maps);
  if (!done && !run.fatal) run.fatal = 'the helper stopped without DONE';
  return run;
}

// ------------------------------------------------------------------------------------------------
// Running

export interface RunOptions {
  /** The helper's own hard timeout; the helper is also killed 5 s after it. Default 20 s. */
  timeoutMs?: number;
}

/** Runs a raw program (see the protocol) and returns the helper's stdout; for probes and tests. */
export function runProgram(helperPath: string, program: string, opts: RunOptions = {}): Promise<{ output: string; stderr: string; code: number | null }> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  return new Promise((resolve, reject) => {
    const child = spawn(helperPath, [String(timeoutMs)], { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs + 5_000, killSignal: 'SIGKILL' });
    let output = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ output, stderr, code }));
    child.stdin.on('error', () => undefined); // the helper may stop reading early (FATAL)
    child.stdin.end(program);
  });
}

/** Runs `scenario` for real: a fresh helper, a fresh process per scenario process. */
export async function runOnRealKernel(helperPath: string, scenario: Scenario, opts: RunOptions = {}): Promise<RealRun> {
  const started = performance.now();
  let program: string;
  try {
    program = toProgram(scenario);
  } catch (e) {
    if (e instanceof UnsupportedScenario) {
      return { scenario, initial: {}, steps: [], unsupported: { step: 'init', pid: 0, reason: e.message }, durationMs: 0, program: '', output: '' };
    }
    throw e;
  }
  const { output, stderr, code } = await runProgram(helperPath, program, opts);
  let run: Omit<RealRun, 'durationMs' | 'program' | 'output'>;
  try {
    run = parseOutput(scenario, output);
  } catch (e) {
    run = { scenario, initial: {}, steps: [], fatal: `${(e as Error).message}\n--- output ---\n${output}` };
  }
  if (code !== 0 && !run.fatal) run.fatal = `the helper exited with status ${String(code)}`;
  if (run.fatal && stderr.trim()) run.fatal += `\n--- stderr ---\n${stderr.trim()}`;
  return { ...run, durationMs: performance.now() - started, program, output };
}

/** Σ pages of a layout's VMAs, in kB: must equal the VmSize the process reported. */
export function layoutSizeKb(vmas: readonly VmaSpec[]): number {
  return vmas.reduce((kb, v) => kb + (v.end - v.start) / 1024, 0);
}
