/**
 * Seeded random linux-modern scenarios for the real-kernel comparison.
 *
 * Deterministic: generateSequence(seed) always returns the same scenario (mulberry32, no
 * Math.random), so a failure is reproduced from its seed alone.
 *
 * Operations act on a small window of addresses (48 pages at WINDOW) so that they overlap, split
 * and merge each other's mappings, with lengths mostly of 1–16 pages and some edge cases: unaligned
 * addresses and lengths, zero lengths, ranges over holes, limits that are hit, (size_t)-4096.
 * Mappings with an address but without MAP_FIXED (which the helper turns into MAP_FIXED_NOREPLACE)
 * go to fresh addresses of their own, HINTS upward, so that the hint is always free and the model
 * and the kernel both place the mapping exactly there. MAP_SHARED mappings only go there too (see
 * the mmap case for why they are never grown).
 */
import type { InitialProcess, MadviceName, MapFlagName, MclFlagName, OpName, Scenario, ScenarioStep } from '@lockline/kernel';
// The benchmarks' PRNG: the same seed gives the same scenario, as it gives them the same workload.
import { mulberry32 } from '../bench/support.js';

const P = 4096;
export const WINDOW = 0x20000000;
export const WINDOW_PAGES = 48;
const HINTS = 0x30000000;
const MIB = 1024 * 1024;
/** The machine's RLIMIT_MEMLOCK hard limit cannot be raised (no CAP_SYS_RESOURCE): stay below it. */
const HARD_MAX = 8 * MIB;

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** integer in [lo, hi] */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    const v = items[Math.floor(this.next() * items.length)];
    if (v === undefined) throw new Error('pick from an empty list');
    return v;
  }
  /** A key of `weights`, with probability proportional to its weight. */
  weighted<K extends string>(weights: Record<K, number>): K {
    const entries = Object.entries(weights) as Array<[K, number]>;
    const sum = entries.reduce((s, [, w]) => s + w, 0);
    let x = this.next() * sum;
    for (const [k, w] of entries) {
      x -= w;
      if (x < 0) return k;
    }
    const last = entries[entries.length - 1];
    if (!last) throw new Error('no weights');
    return last[0];
  }
}

export interface GenerateOptions {
  /** Steps per sequence (default: 8–30, drawn from the seed). */
  steps?: number;
  /** Operations never to generate (for exploring past a known disagreement). */
  exclude?: readonly OpName[];
}

interface ProcState {
  pid: number;
  /** The RLIMIT_MEMLOCK hard limit as the generator knows it (setrlimit only lowers it). */
  max: number;
  alive: boolean;
  /** CAP_IPC_LOCK in the effective set. */
  cap: boolean;
  /** False after an exec without CAP_IPC_LOCK: the helper drops it from the bounding set then, and
   *  capset(2) can no longer raise it (the helper would report the step unsupported). */
  canRaise: boolean;
}

/** A random linux-modern scenario; the same seed always gives the same scenario. */
export function generateSequence(seed: number, opts: GenerateOptions = {}): Scenario {
  const rng = new Rng(seed);
  // Tiny limits (0, 7 bytes) make most calls fail early: give them less weight.
  const limits = [0, 7, 4 * P, 16 * P, 16 * P, 64 * P, 64 * P, 256 * P, 256 * P, HARD_MAX, HARD_MAX];
  const cur = rng.pick(limits);
  const max = rng.chance(0.7) ? Math.max(cur, rng.pick(limits)) : cur;
  const first: InitialProcess = {
    pid: 1,
    capIpcLock: rng.chance(0.2),
    capSysResource: false,
    rlimitMemlock: { cur, max },
    image: { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 },
  };
  const procs: ProcState[] = [{ pid: 1, max, alive: true, cap: first.capIpcLock ?? false, canRaise: true }];
  let nextPid = 2;
  let hint = HINTS;
  const nSteps = opts.steps ?? rng.int(8, 30);
  const steps: ScenarioStep[] = [];

  const page = (): number => WINDOW + rng.int(0, WINDOW_PAGES - 1) * P;
  /** Mappings made so far (page-aligned), so that range operations mostly hit mapped memory. */
  const mapped: Array<{ addr: number; pages: number; shared: boolean }> = [];
  /** A page range inside one earlier mapping (about two times in three), else anywhere in the window. */
  const range = (privateOnly = false): { addr: number; pages: number } => {
    const pool = privateOnly ? mapped.filter((m) => !m.shared) : mapped;
    if (pool.length && rng.chance(0.65)) {
      const m = rng.pick(pool);
      const off = rng.int(0, m.pages - 1);
      return { addr: m.addr + off * P, pages: rng.int(1, m.pages - off) };
    }
    return { addr: page(), pages: pages() };
  };
  const pages = (): number => (rng.chance(0.8) ? rng.int(1, 16) : rng.int(17, 40));
  /** An address and length for mlock & co.: mostly a mapped range, sometimes unaligned, zero or absurd. */
  const addrLength = (): { addr: number; length: number } => {
    const r0 = range();
    const addr = rng.chance(0.08) ? r0.addr + rng.pick([1, 100, 2048, 4095]) : r0.addr;
    const r = rng.int(0, 99);
    if (r < 4) return { addr, length: 0 };
    if (r < 10) return { addr, length: r0.pages * P + rng.pick([1, 100, 4095]) - P };
    if (r < 11) return { addr, length: 2 ** 64 - P }; // (size_t)-4096: wraps
    return { addr, length: r0.pages * P };
  };

  for (let n = 0; n < nSteps; n++) {
    const alive = procs.filter((p) => p.alive);
    const me = rng.pick(alive);
    const pid = me.pid;
    const weights: Partial<Record<OpName, number>> = {
      mmap: 24,
      munmap: 9,
      mlock: 14,
      munlock: 8,
      mlock2: 6,
      mlockall: 6,
      munlockall: 3,
      setrlimit: 4,
      capset: 3,
      madvise: 4,
      mremap: 5,
      brk: 5,
      fork: procs.length < 3 ? 3 : 0,
      exit: alive.length > 1 && pid !== 1 ? 1 : 0,
      growstack: 1,
      exec: 1,
      check: 1,
    };
    for (const x of opts.exclude ?? []) delete weights[x];
    const op = rng.weighted(weights as Record<OpName, number>);
    switch (op) {
      case 'mmap': {
        // MAP_SHARED only at fresh hint addresses, and never grown with mremap: an anonymous shared
        // mapping is a shmem object of fixed size, and the pages of a VMA grown past it cannot be
        // populated, so mlock() of them locks but returns ENOMEM, a file-size rule the model lacks.
        const shared = rng.chance(0.15);
        const flags: MapFlagName[] = [shared ? 'MAP_SHARED' : 'MAP_PRIVATE', 'MAP_ANONYMOUS'];
        let a: number | undefined;
        if (!shared && rng.chance(0.85)) {
          a = page();
          flags.push('MAP_FIXED');
        } else {
          a = hint; // fresh: never overlaps anything
          hint += 64 * P;
        }
        if (rng.chance(0.3)) flags.push('MAP_LOCKED');
        if (rng.chance(0.05)) flags.push('MAP_POPULATE');
        const n = pages();
        const len = rng.chance(0.05) ? rng.pick([0, 1, P + 1]) : n * P;
        if (len >= P) mapped.push({ addr: a, pages: Math.ceil(len / P), shared });
        steps.push({ op: 'mmap', pid, addr: a, length: len, prot: rng.pick(['rw-', 'rw-', 'rw-', 'r--', '---']), flags });
        break;
      }
      case 'munmap':
      case 'mlock':
      case 'munlock':
        steps.push({ op, pid, ...addrLength() });
        break;
      case 'mlock2':
        steps.push({ op: 'mlock2', pid, ...addrLength(), flags: rng.chance(0.6) ? ['MLOCK_ONFAULT'] : [] });
        break;
      case 'mlockall': {
        const flags: MclFlagName[] = [];
        if (rng.chance(0.6)) flags.push('MCL_CURRENT');
        if (rng.chance(0.6)) flags.push('MCL_FUTURE');
        if (rng.chance(0.3)) flags.push('MCL_ONFAULT');
        if (rng.chance(0.05)) flags.push(rng.pick(['MCL_INHERIT', 'MCL_RECURSIVE'] as const));
        steps.push({ op: 'mlockall', pid, flags });
        break;
      }
      case 'munlockall':
        steps.push({ op: 'munlockall', pid });
        break;
      case 'setrlimit': {
        // Mostly lowering; sometimes cur > max (EINVAL) or a raised hard limit (EPERM).
        const r = rng.int(0, 9);
        let c: number;
        let m: number;
        if (r === 0) {
          m = me.max === 0 ? 0 : rng.pick(limits.filter((l) => l <= me.max));
          c = m + P;
        } else if (r === 1 && me.max < HARD_MAX) {
          m = Math.min(HARD_MAX, me.max + 4 * P);
          c = m;
        } else {
          m = rng.pick(limits.filter((l) => l <= me.max));
          c = rng.pick(limits.filter((l) => l <= m));
          me.max = m;
        }
        steps.push({ op: 'setrlimit', pid, cur: c, max: m });
        break;
      }
      case 'capset':
        me.cap = me.canRaise && rng.chance(0.4);
        steps.push({ op: 'capset', pid, capIpcLock: me.cap });
        break;
      case 'madvise': {
        const advice: MadviceName = rng.chance(0.6) ? 'MADV_DONTFORK' : 'MADV_DOFORK';
        const r = range();
        steps.push({ op: 'madvise', pid, addr: r.addr, length: r.pages * P, advice });
        break;
      }
      case 'mremap': {
        // Mostly a whole earlier mapping (or its head), grown or shrunk in place.
        const r = range(true);
        const oldLength = r.pages * P;
        const newLength = rng.chance(0.1) ? oldLength : rng.int(1, 16) * P;
        steps.push({ op: 'mremap', pid, addr: r.addr, oldLength, newLength });
        break;
      }
      case 'brk': {
        const inc = (rng.chance(0.7) ? 1 : -1) * (rng.int(1, 8) * P + (rng.chance(0.3) ? rng.int(1, P - 1) : 0));
        steps.push({ op: 'brk', pid, increment: inc });
        break;
      }
      case 'fork': {
        const child = nextPid++;
        steps.push({ op: 'fork', pid, child });
        procs.push({ pid: child, max: me.max, alive: true, cap: me.cap, canRaise: me.canRaise });
        break;
      }
      case 'exit':
        steps.push({ op: 'exit', pid });
        me.alive = false;
        break;
      case 'growstack':
        steps.push({ op: 'growstack', pid, length: rng.int(1, 4) * P });
        break;
      case 'exec':
        if (!me.cap) me.canRaise = false;
        steps.push({ op: 'exec', pid, image: { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 } });
        break;
      case 'check':
        steps.push({ op: 'check', pid });
        break;
    }
  }
  return {
    name: `random-${seed}`,
    profile: 'linux-modern',
    description: `generateSequence(${seed})`,
    processes: [first],
    steps,
  };
}

/**
 * A small scenario that still `fails`: the shortest failing prefix (bisection), then every step
 * whose removal keeps it failing removed, one at a time, in passes until none can go. `fails`
 * should be false for a scenario the harness cannot run (e.g. a step of a pid whose fork went).
 */
export async function minimize(scenario: Scenario, fails: (s: Scenario) => Promise<boolean>): Promise<Scenario> {
  let lo = 1;
  let hi = scenario.steps.length;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (await fails({ ...scenario, steps: scenario.steps.slice(0, mid) })) hi = mid;
    else lo = mid + 1;
  }
  let steps = scenario.steps.slice(0, hi);
  // Passes until nothing more can go: a step may matter only while an earlier one is still there.
  for (let pass = 0, changed = true; changed && pass < 5; pass++) {
    changed = false;
    for (let i = steps.length - 2; i >= 0; i--) {
      const without = [...steps.slice(0, i), ...steps.slice(i + 1)];
      if (await fails({ ...scenario, steps: without })) {
        steps = without;
        changed = true;
      }
    }
  }
  return { ...scenario, steps };
}
