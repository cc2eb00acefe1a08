/**
 * What the benchmarks share (not a benchmark itself: scripts/bench.mjs leaves this file out): their
 * `--key=value` arguments, pinning to one core, the seeded PRNG their workloads come from, the CPU
 * other processes used meanwhile (the machine may be shared), and how figures are printed.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { performance } from 'node:perf_hooks';

// ---------------------------------------------------------------------------------------------
// Arguments

/** The `--key=value` arguments by key (a bare `--key` is ''), and the keys given that are not `known`. */
export function parseArgs(known: readonly string[], argv: readonly string[] = process.argv.slice(2)): { args: Map<string, string>; unknown: string[] } {
  const args = new Map(
    argv.map((a) => {
      const [k, v] = a.replace(/^--/, '').split('=');
      return [k ?? '', v ?? ''];
    }),
  );
  return { args, unknown: [...args.keys()].filter((k) => !known.includes(k)) };
}

export const positiveInt = (n: number): boolean => Number.isSafeInteger(n) && n > 0;

// ---------------------------------------------------------------------------------------------
// One core

/** --cpu=N|all; by default the last CPU (CPU 0 takes more interrupts). */
export function cpuArg(args: ReadonlyMap<string, string>): string {
  return args.get('cpu') ?? String(cpus().length - 1);
}

/** Whether --cpu's value is `all` or a CPU of this machine. */
export function isCpuArg(cpu: string): boolean {
  return cpu === 'all' || (/^\d+$/.test(cpu) && Number(cpu) < cpus().length);
}

/**
 * Confines the benchmark to one core: unless this process already is (or `cpu` is 'all'), runs it
 * again under `taskset -c cpu` and exits with that run's status. V8 would otherwise run part of its
 * GC on helper threads on the other cores. Returns the line that says how the figures were taken.
 */
export function pinToOneCpu(cpu: string): string {
  if (cpu !== 'all' && availableParallelism() > 1) {
    const argv = [process.execPath, ...process.execArgv, process.argv[1]!, ...process.argv.slice(2)];
    const pinned = spawnSync('taskset', ['-c', cpu, ...argv], { stdio: 'inherit' });
    if (!pinned.error) process.exit(pinned.status ?? 1);
    console.error(`taskset could not run (${pinned.error.message}): measuring unpinned`);
  }
  return availableParallelism() === 1
    ? `pinned to one CPU (${cpu === 'all' ? 'by the caller' : `CPU ${cpu}, taskset`}) of ${cpus().length}`
    : `NOT pinned: V8's GC helpers may use ${availableParallelism() - 1} more CPU(s)`;
}

/** global.gc, which benchmarks that measure memory or time rounds need; exits when node lacks --expose-gc. */
export function requireGc(benchmark: string): () => void {
  const gc = globalThis.gc;
  if (!gc) {
    console.error(`global.gc is missing: run with --expose-gc (npm run bench -- ${benchmark} does)`);
    process.exit(2);
  }
  return gc;
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness (no Math.random: the same seed must give the same workload every run)

/** mulberry32: a small, fast, well-distributed 32-bit PRNG. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------------------------
// Other load on the machine

/** CPU time (ms) the whole machine spent busy so far (Linux /proc/stat, USER_HZ = 100); null elsewhere. */
export function machineBusyMs(): number | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: everything but idle and iowait (steal is time
    // the hypervisor gave to someone else: lost to us all the same)
    const busy = f.slice(0, 8).reduce((sum, v, i) => (i === 3 || i === 4 ? sum : sum + v), 0);
    return busy * 10;
  } catch {
    return null;
  }
}

/** Start a window; its end returns the cores' worth of CPU other processes used meanwhile (null off Linux). */
export function otherLoad(): () => number | null {
  const busy0 = machineBusyMs();
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const busy1 = machineBusyMs();
    if (busy0 === null || busy1 === null) return null;
    const own = process.cpuUsage(own0); // this process, all its threads (GC helpers included)
    const others = busy1 - busy0 - (own.user + own.system) / 1000;
    return Math.max(0, others) / (performance.now() - t0);
  };
}

/** What other processes used (cores' worth, as otherLoad gives it), and a warning when that was enough to matter. */
export function loadNote(cores: number | null): string {
  if (cores === null) return 'other processes: unknown off Linux';
  const note = `other processes used ${cores.toFixed(2)} cores meanwhile`;
  return cores > 0.1 ? `${note} — the machine was busy: these figures are low, rerun when it is quiet` : note;
}

// ---------------------------------------------------------------------------------------------
// Processes and services measured from outside

/** Wall-clock ms since the epoch with sub-ms precision, comparable across the bench's processes. */
export const now = (): number => performance.timeOrigin + performance.now();

/** CPU ms a process (all its threads) used so far, from /proc/<pid>/stat (USER_HZ = 100); null when gone. */
export function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return null;
  }
}

/** The values of the named metrics (summed over label sets) from a service's /metrics page; undefined when unreachable. */
export async function scrape(port: number, names: readonly string[], timeoutMs = 2000): Promise<Record<string, number> | undefined> {
  let text: string;
  try {
    text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(timeoutMs) })).text();
  } catch {
    return undefined;
  }
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (m && names.includes(m[1]!)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[3]);
  }
  return out;
}

/** Nearest-rank percentile of sorted values. */
export const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;

export interface LatencyStats {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Count, p50, p90, p99 and max of `xs` (sorted in place), to 0.1; null for none. */
export function latencyStats(xs: number[]): LatencyStats | null {
  if (xs.length === 0) return null;
  const s = xs.sort((a, b) => a - b);
  const r = (v: number): number => Number(v.toFixed(1));
  return { n: s.length, p50: r(percentile(s, 50)), p90: r(percentile(s, 90)), p99: r(percentile(s, 99)), max: r(s[s.length - 1]!) };
}

// ---------------------------------------------------------------------------------------------
// Output

export const say = (line = ''): void => void process.stdout.write(`${line}\n`);
export const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
export const pct = (f: number, digits = 1): string => `${(f * 100).toFixed(digits)}%`;
export const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');

/** A table row: the first cell left-aligned, the others right-aligned, in columns of `widths`. */
export function row(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
