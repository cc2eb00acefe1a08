/**
 * Benchmark of the kernel model (@lockline/kernel): how many operations per second applyOp sustains
 * on one host, and how much heap a process costs. Run it with `npm run bench -- kernel`
 * (scripts/bench.mjs builds the workspace first and passes --expose-gc).
 *
 *   (a) a realistic mix on a few thousand processes with ~20-VMA mms, under each profile;
 *   (b) the same with ~1,000 VMAs per process and a mix dominated by mlock/munlock/mmap/munmap;
 *   (c) bytes per process (its own 20-VMA mm) and per thread (a shared mm).
 *
 * What is measured is the compiled libs/kernel/dist (what the services run), on ONE core: the model
 * is synchronous JS, so one core is what a host's projection gets from it, whatever the machine has.
 * V8 would run part of its GC on helper threads on the other cores, so the script re-runs itself
 * under `taskset` on one CPU (--cpu=N to choose it, --cpu=all not to pin).
 *
 * Method: a workload is generated up front by applying each operation to a scratch host as it is
 * chosen (so the generator knows the real layout: which pids live, where mmap put a region, whether
 * a lock succeeded). The timed rounds then replay the same operation array on fresh copies of the
 * starting host; the model is deterministic, so every round does exactly the same work, and the
 * errno count of each round is checked against the generator's.
 *
 * Options: --seconds=N (timed seconds per measurement, default 2), --only=a,b,c, --profile=NAME,
 * --cpu=N|all.
 *
 * The machine may be shared: the CPU time other processes used during each section is read from
 * /proc/stat and printed, so a noisy figure can be told from a slow one.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

import { PAGE_SIZE, PROFILES, applyOp, cloneHostState, createHost, processReport } from '@lockline/kernel';
import type { HostState, ImageLayout, MapFlagName, MclFlagName, Op, OpResult, ProfileName, Prot } from '@lockline/kernel';
import { cpuArg, fmt, isCpuArg, loadNote, median, mulberry32, otherLoad, parseArgs, pct, pinToOneCpu, requireGc, row, verdict } from './support.js';

// ---------------------------------------------------------------------------------------------
// Settings

const AIM_OPS_PER_SEC = 2_000_000;
const AIM_BYTES_PER_PROCESS = 2048;

const { args, unknown } = parseArgs(['seconds', 'only', 'profile', 'cpu']);
const SECONDS = Number(args.get('seconds') ?? 2);
const ONLY = new Set((args.get('only') ?? 'a,b,c').split(','));
const PROFILE_LIST: readonly ProfileName[] = PROFILES.filter((p) => (args.get('profile') ?? p) === p);
const CPU = cpuArg(args);
if (
  !(SECONDS > 0) ||
  [...ONLY].some((p) => !['a', 'b', 'c'].includes(p)) ||
  PROFILE_LIST.length === 0 ||
  !isCpuArg(CPU) ||
  unknown.length > 0
) {
  console.error(`usage: npm run bench -- kernel [--seconds=N] [--only=a,b,c] [--profile=${PROFILES.join('|')}] [--cpu=N|all]`);
  process.exit(2);
}

const CORES_NOTE = pinToOneCpu(CPU);
/** Rounds are short enough that ≥ SECONDS of timing is several of them; the median is reported. */
const MIN_ROUNDS = 5;
const MAX_ROUNDS = 40;

const gc = requireGc('kernel');

const PAGE = PAGE_SIZE;
const ANON: readonly MapFlagName[] = ['MAP_PRIVATE', 'MAP_ANONYMOUS'];
const ANON_LOCKED: readonly MapFlagName[] = ['MAP_PRIVATE', 'MAP_ANONYMOUS', 'MAP_LOCKED'];

/** A small program (the layout scenario files default to) and two bigger ones, for exec to pick from. */
const IMAGES: readonly ImageLayout[] = [
  { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 },
  { format: 'elf', argPages: 2, textPages: 48, dataPages: 6, bssPages: 2, vdsoPages: 1 },
  { format: 'elf', argPages: 1, textPages: 16, dataPages: 3, bssPages: 1, vdsoPages: 2 },
];

/**
 * mlockall flag sets a program would pass. The 2008 patch's MCL_INHERIT (and RECURSIVE) are what
 * makes its fork/exec paths do work; linux-modern has no MCL_INHERIT (EINVAL), but MCL_ONFAULT.
 */
const MLOCKALL_2008: readonly (readonly MclFlagName[])[] = [
  ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT'],
  ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT', 'MCL_RECURSIVE'],
  ['MCL_FUTURE', 'MCL_INHERIT'],
  ['MCL_CURRENT'],
  ['MCL_CURRENT', 'MCL_FUTURE'],
];
const MLOCKALL_MODERN: readonly (readonly MclFlagName[])[] = [
  ['MCL_CURRENT', 'MCL_FUTURE'],
  ['MCL_CURRENT'],
  ['MCL_FUTURE'],
  ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_ONFAULT'],
  ['MCL_CURRENT', 'MCL_ONFAULT'],
];

// ---------------------------------------------------------------------------------------------
// Deterministic randomness (mulberry32: the same seed gives the same workload every run)

class Rng {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  /** an integer in [0, n) */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** an integer in [lo, hi] */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
}

/** A set of small integers with O(1) add, remove and uniform random pick (live pids, free pids). */
class IntSet {
  private readonly items: number[] = [];
  private readonly pos: Int32Array;
  constructor(max: number) {
    this.pos = new Int32Array(max + 1).fill(-1);
  }
  get size(): number {
    return this.items.length;
  }
  has(x: number): boolean {
    return this.pos[x]! >= 0;
  }
  add(x: number): void {
    if (this.has(x)) return;
    this.pos[x] = this.items.length;
    this.items.push(x);
  }
  delete(x: number): void {
    const i = this.pos[x]!;
    if (i < 0) return;
    const last = this.items.pop()!;
    if (last !== x) {
      this.items[i] = last;
      this.pos[last] = i;
    }
    this.pos[x] = -1;
  }
  pick(rng: Rng): number {
    return this.items[rng.int(this.items.length)]!;
  }
}

// ---------------------------------------------------------------------------------------------
// Workload generation

/** A range the generator knows to be mapped in a process (immutable: a fork copies the array). */
interface Region {
  readonly addr: number;
  readonly pages: number;
  readonly prot: Prot;
  /** text/data of the executable: locked and unlocked, never unmapped */
  readonly fromImage: boolean;
}

/** What the generator knows of a process's mm. */
interface Shadow {
  regions: Region[];
  heapPages: number;
  /** (b) only: which fixed slots are mapped */
  slots?: Uint8Array;
}

interface OpStats {
  count: number;
  errors: number;
}

/**
 * A workload under construction: a scratch host that every chosen op is applied to, the ops
 * recorded so far, and what the generator knows of each live process.
 */
class Workload {
  readonly state: HostState;
  readonly rng: Rng;
  readonly ops: Op[] = [];
  readonly live: IntSet;
  readonly free: IntSet;
  readonly shadows = new Map<number, Shadow>();
  readonly byOp = new Map<string, OpStats>();
  errors = 0;
  signals = 0;
  /** false while building the starting population: those ops are part of the setup, not timed */
  recording = false;
  private readonly imageRegions = new Map<ImageLayout, Region[]>();

  constructor(
    readonly profile: ProfileName,
    seed: number,
    readonly pidMax: number,
    readonly population: number,
    memlockBytes: number,
    /** every Nth starting process gets the old 64 KiB RLIMIT_MEMLOCK instead (0: none) */
    smallLimitEvery = 0,
  ) {
    this.rng = new Rng(seed);
    this.live = new IntSet(pidMax);
    this.free = new IntSet(pidMax);
    const image = IMAGES[0]!;
    const usual = { cur: memlockBytes, max: memlockBytes };
    const small = { cur: SMALL_MEMLOCK, max: SMALL_MEMLOCK };
    const processes = [];
    for (let pid = 1; pid <= population; pid++) {
      processes.push({ pid, rlimitMemlock: smallLimitEvery > 0 && pid % smallLimitEvery === 0 ? small : usual, image });
    }
    this.state = createHost(profile, processes);
    for (let pid = 1; pid <= pidMax; pid++) {
      if (pid <= population) {
        this.live.add(pid);
        this.shadows.set(pid, { regions: this.regionsOfImage(image), heapPages: 0 });
      } else this.free.add(pid);
    }
  }

  get mlockallFlags(): readonly (readonly MclFlagName[])[] {
    return this.profile === 'linux-modern' ? MLOCKALL_MODERN : MLOCKALL_2008;
  }

  /** Apply `op` to the scratch host, record it (when recording) and keep the bookkeeping right. */
  emit(op: Op): OpResult {
    const r = applyOp(this.state, op);
    if (this.recording) {
      this.ops.push(op);
      let s = this.byOp.get(op.op);
      if (!s) this.byOp.set(op.op, (s = { count: 0, errors: 0 }));
      s.count++;
      if (r.errno !== null) {
        s.errors++;
        this.errors++;
      }
      if (r.signal) this.signals++;
    }
    if (r.signal) this.died(op.pid); // exec whose locked layout failed: SIGKILL/SIGSEGV
    return r;
  }

  died(pid: number): void {
    this.live.delete(pid);
    this.free.add(pid);
    this.shadows.delete(pid);
  }

  /** The executable's own text and data ranges, read once per image from a throwaway host. */
  regionsOfImage(image: ImageLayout): Region[] {
    let regions = this.imageRegions.get(image);
    if (!regions) {
      const host = createHost(this.profile, [{ pid: 1, image }]);
      regions = processReport(host.tasks.get(1)!)
        .vmas.filter((v) => !v.special && !v.growsDown)
        .map((v) => {
          const addr = Number.parseInt(v.start, 16);
          return { addr, pages: (Number.parseInt(v.end, 16) - addr) / PAGE, prot: v.prot, fromImage: true };
        });
      this.imageRegions.set(image, regions);
    }
    return regions.slice();
  }

  mmap(pid: number, pages: number, prot: Prot, locked = false): void {
    const r = this.emit({ op: 'mmap', pid, length: pages * PAGE, prot, flags: locked ? ANON_LOCKED : ANON });
    if (r.errno === null && r.addr !== undefined) {
      this.shadows.get(pid)!.regions.push({ addr: r.addr, pages, prot, fromImage: false });
    }
  }

  /**
   * What ld.so and libc do right after exec: map four shared libraries (text, relro, data: three
   * prots side by side, so they stay three VMAs), a thread stack with its guard page, a malloc
   * arena, and a first heap. With the image's stack, text, data and vDSO that is ~20 VMAs.
   */
  startProgram(pid: number): void {
    for (let lib = 0; lib < 4; lib++) {
      this.mmap(pid, this.rng.between(2, 16), 'r-x');
      this.mmap(pid, this.rng.between(1, 2), 'r--');
      this.mmap(pid, this.rng.between(1, 2), 'rw-');
    }
    // top-down placement: the thread stack, then its guard page below it, then the arena below that
    this.mmap(pid, 64, 'rw-');
    this.mmap(pid, 1, '---');
    this.mmap(pid, 32, 'rw-');
    this.brk(pid, 4);
  }

  brk(pid: number, deltaPages: number): void {
    const r = this.emit({ op: 'brk', pid, increment: deltaPages * PAGE });
    if (r.errno === null) this.shadows.get(pid)!.heapPages += deltaPages;
  }

  fork(parent: number): number {
    const child = this.free.pick(this.rng);
    const r = this.emit({ op: 'fork', pid: parent, child });
    if (r.errno !== null) throw new Error(`fork into free pid ${child} failed: ${r.errno}`);
    this.free.delete(child);
    this.live.add(child);
    const p = this.shadows.get(parent)!;
    const shadow: Shadow = { regions: p.regions.slice(), heapPages: p.heapPages };
    if (p.slots) shadow.slots = p.slots.slice();
    this.shadows.set(child, shadow);
    return child;
  }

  exit(pid: number): void {
    this.emit({ op: 'exit', pid });
    this.died(pid);
  }

  exec(pid: number): void {
    const image = this.rng.pick(IMAGES);
    const r = this.emit({ op: 'exec', pid, image });
    if (r.signal) return;
    this.shadows.set(pid, { regions: this.regionsOfImage(image), heapPages: 0 });
    this.startProgram(pid);
  }

  /** fork or exit, whichever brings the population back toward its target. */
  lifecycle(forkExec: number): void {
    const pFork = Math.min(1, Math.max(0, 0.5 + (this.population - this.live.size) / 100));
    if (this.rng.chance(pFork)) {
      const child = this.fork(this.live.pick(this.rng));
      if (this.rng.chance(forkExec)) this.exec(child); // the shell's fork + exec
    } else this.exit(this.live.pick(this.rng));
  }

  /** mlock or munlock a random sub-range of a random known region of `pid`. */
  lockRegion(pid: number, lock: boolean): void {
    const regions = this.shadows.get(pid)!.regions;
    if (regions.length === 0) return;
    const reg = this.rng.pick(regions);
    // mlock of a PROT_NONE guard page fails to populate (ENOMEM) — no program does it on purpose.
    if (lock && reg.prot === '---') return;
    const off = this.rng.int(reg.pages);
    const len = this.rng.between(1, reg.pages - off);
    this.emit({ op: lock ? 'mlock' : 'munlock', pid, addr: reg.addr + off * PAGE, length: len * PAGE });
  }

  lockall(pid: number): void {
    if (this.rng.chance(0.5)) this.emit({ op: 'mlockall', pid, flags: this.rng.pick(this.mlockallFlags) });
    else this.emit({ op: 'munlockall', pid });
  }

  heap(pid: number): void {
    const s = this.shadows.get(pid)!;
    // grow by 1–8 pages, or give some back; a heap past 64 pages always shrinks
    if (s.heapPages < 64 && (s.heapPages === 0 || this.rng.chance(0.6))) this.brk(pid, this.rng.between(1, 8));
    else this.brk(pid, -this.rng.between(1, s.heapPages));
  }

  opMix(): string {
    const total = this.ops.length;
    return [...this.byOp.entries()]
      .sort((a, b) => b[1].count - a[1].count)
      .map(([name, s]) => `${name} ${pct(s.count / total)} (${s.errors === 0 ? 'no' : pct(s.errors / s.count, 2)} err)`)
      .join(', ');
  }

  /** Average VMAs of `sample` live processes of the scratch host (public API: processReport). */
  averageVmas(sample = 200): number {
    let vmas = 0;
    let n = 0;
    for (const [, t] of this.state.tasks) {
      if (!t.alive) continue;
      vmas += processReport(t).vmas.length;
      if (++n === sample) break;
    }
    return vmas / n;
  }
}

// (a) ------------------------------------------------------------------------------------------

const A_POPULATION = 3000;
const A_PID_MAX = 8192; // fork reuses free pids, so dead entries of the task table stay bounded
const A_MEMLOCK = 8 * 1024 * 1024; // RLIMIT_MEMLOCK's default since Linux 5.16
/**
 * RLIMIT_MEMLOCK's default before 5.16. One process in eight (and its descendants) has it: their
 * mlockall(MCL_CURRENT) fails (ENOMEM), and after MCL_FUTURE their mmaps and brks fail (EAGAIN/ENOMEM)
 * and a 2008-patch exec that inherits the lock can be killed — the error paths get exercised too.
 */
const SMALL_MEMLOCK = 64 * 1024;
const A_OPS = 600_000;
/** what a program maps at run time: mostly data, some read-only, a little code (a JIT, dlopen) */
const MIX_PROTS: readonly Prot[] = ['rw-', 'r--', 'rw-', 'r-x'];

/**
 * The mix of (a), per step: 33% mmap/munmap (balanced around ~14 mapped regions per process), 12%
 * brk, 40% mlock/munlock of part of a region, 6% mlockall/munlockall, 8% fork/exit (balanced
 * around the population; 20% of the children exec), 1% exec. Each exec is followed by the ~15 mmaps
 * and the brk of a program starting, so the recorded mix has more mmaps than this table.
 */
function mixedStep(w: Workload): void {
  const rng = w.rng;
  const x = rng.int(100);
  const pid = w.live.pick(rng);
  if (x < 33) {
    const mine = w.shadows.get(pid)!.regions.filter((r) => !r.fromImage);
    if (mine.length === 0 || rng.chance(Math.max(0.1, Math.min(0.9, 1 - mine.length / 28)))) {
      w.mmap(pid, rng.between(1, 16), rng.pick(MIX_PROTS), rng.chance(0.05));
    } else unmapSome(w, pid, rng.pick(mine));
  } else if (x < 45) w.heap(pid);
  else if (x < 85) w.lockRegion(pid, rng.chance(0.5));
  else if (x < 91) w.lockall(pid);
  else if (x < 99) w.lifecycle(0.2);
  else w.exec(pid);
}

/** munmap a whole region (70%) or its upper part. */
function unmapSome(w: Workload, pid: number, reg: Region): void {
  const s = w.shadows.get(pid)!;
  const keep = reg.pages > 1 && w.rng.chance(0.3) ? w.rng.between(1, reg.pages - 1) : 0;
  w.emit({ op: 'munmap', pid, addr: reg.addr + keep * PAGE, length: (reg.pages - keep) * PAGE });
  const i = s.regions.indexOf(reg);
  if (keep === 0) s.regions.splice(i, 1);
  else s.regions[i] = { ...reg, pages: keep };
}

function buildMixed(profile: ProfileName, seed: number): { w: Workload; initial: HostState } {
  const w = new Workload(profile, seed, A_PID_MAX, A_POPULATION, A_MEMLOCK, 8);
  for (let pid = 1; pid <= A_POPULATION; pid++) w.startProgram(pid);
  const initial = cloneHostState(w.state);
  w.recording = true;
  while (w.ops.length < A_OPS) mixedStep(w);
  return { w, initial };
}

// (b) ------------------------------------------------------------------------------------------

const B_POPULATION = 200;
const B_PID_MAX = 512;
const B_MEMLOCK = 64 * 1024 * 1024; // room for mlockall of 1,000 regions
const B_SLOTS = 1100; // ~1,000 of them mapped at any time
const B_TARGET_MAPPED = 1000;
const B_SLOT_PAGES = 4;
/** Slots 6 pages apart: a 2-page hole between regions, so neighbours never merge. */
const B_SLOT_STRIDE_PAGES = 6;
const B_SLOT_BASE = 0x10000000; // far above the heap, far below the mmap base: the hints are free
const B_OPS = 200_000;

const slotAddr = (i: number): number => B_SLOT_BASE + i * B_SLOT_STRIDE_PAGES * PAGE;
/** Alternate protections too: even with no hole two neighbours would stay two VMAs. */
const slotProt = (i: number): Prot => (i % 2 === 0 ? 'rw-' : 'r--');

/** The next slot at or after a random one whose mapped state is `mapped` (there always is one). */
function randomSlot(w: Workload, slots: Uint8Array, mapped: boolean): number {
  let i = w.rng.int(B_SLOTS);
  while ((slots[i] === 1) !== mapped) i = (i + 1) % B_SLOTS;
  return i;
}

function mapSlot(w: Workload, pid: number, slots: Uint8Array, i: number): void {
  // A hint, not MAP_FIXED: the hinted range is free, so get_unmapped_area() returns it.
  const r = w.emit({ op: 'mmap', pid, addr: slotAddr(i), length: B_SLOT_PAGES * PAGE, prot: slotProt(i), flags: ANON });
  if (r.errno === null) {
    if (r.addr !== slotAddr(i)) throw new Error(`mmap hint ${slotAddr(i)} not honoured: got ${r.addr}`);
    slots[i] = 1;
  }
}

/**
 * The mix of (b): 70% mlock/munlock of a random part of a random slot (splits and re-merges VMAs in
 * a table of 1,000+), 27% mmap/munmap of a whole slot (balanced around 1,000 mapped), 2%
 * mlockall/munlockall, 0.8% brk, 0.2% fork/exit. Forks copy 1,000+ VMAs (~20–30 KiB each), so they
 * are kept rare; their cost is measured on its own below.
 */
function manyVmasStep(w: Workload): void {
  const rng = w.rng;
  const x = rng.int(1000);
  const pid = w.live.pick(rng);
  const slots = w.shadows.get(pid)!.slots!;
  if (x < 700) {
    const i = randomSlot(w, slots, true);
    const off = rng.int(B_SLOT_PAGES);
    const len = rng.between(1, B_SLOT_PAGES - off);
    w.emit({ op: rng.chance(0.5) ? 'mlock' : 'munlock', pid, addr: slotAddr(i) + off * PAGE, length: len * PAGE });
  } else if (x < 970) {
    let mapped = 0;
    for (let i = 0; i < B_SLOTS; i++) mapped += slots[i]!;
    const pMap = Math.min(1, Math.max(0, 0.5 + (B_TARGET_MAPPED - mapped) / 50));
    if (rng.chance(pMap)) mapSlot(w, pid, slots, randomSlot(w, slots, false));
    else {
      const i = randomSlot(w, slots, true);
      w.emit({ op: 'munmap', pid, addr: slotAddr(i), length: B_SLOT_PAGES * PAGE });
      slots[i] = 0;
    }
  } else if (x < 990) w.lockall(pid);
  else if (x < 998) w.heap(pid);
  else w.lifecycle(0);
}

function buildManyVmas(profile: ProfileName, seed: number): { w: Workload; initial: HostState } {
  const w = new Workload(profile, seed, B_PID_MAX, B_POPULATION, B_MEMLOCK);
  for (let pid = 1; pid <= B_POPULATION; pid++) {
    w.startProgram(pid);
    const slots = new Uint8Array(B_SLOTS);
    w.shadows.get(pid)!.slots = slots;
    for (let i = 0; i < B_SLOTS; i++) if (w.rng.int(B_SLOTS) < B_TARGET_MAPPED) mapSlot(w, pid, slots, i);
  }
  const initial = cloneHostState(w.state);
  w.recording = true;
  while (w.ops.length < B_OPS) manyVmasStep(w);
  return { w, initial };
}

// ---------------------------------------------------------------------------------------------
// Timing

interface Throughput {
  median: number;
  min: number;
  max: number;
  rounds: number;
  opsPerRound: number;
  errnoFraction: number;
}

function applyAll(state: HostState, ops: readonly Op[]): number {
  let errors = 0;
  for (let i = 0; i < ops.length; i++) if (applyOp(state, ops[i]!).errno !== null) errors++;
  return errors;
}

/** One untimed warm-up round (so V8 has optimised applyOp and its callees), then ≥ SECONDS of rounds. */
function timeRounds(initial: HostState, w: Workload): Throughput {
  const check = (errors: number): void => {
    if (errors !== w.errors) throw new Error(`replay gave ${errors} errors, generation ${w.errors}: not deterministic`);
  };
  check(applyAll(cloneHostState(initial), w.ops));
  const rates: number[] = [];
  let elapsed = 0;
  while ((rates.length < MIN_ROUNDS || elapsed < SECONDS * 1000) && rates.length < MAX_ROUNDS) {
    const state = cloneHostState(initial);
    gc(); // start each round with the previous round's garbage gone, so rounds are comparable
    const t0 = performance.now();
    const errors = applyAll(state, w.ops);
    const ms = performance.now() - t0;
    check(errors);
    rates.push(w.ops.length / (ms / 1000));
    elapsed += ms;
  }
  rates.sort((a, b) => a - b);
  return {
    median: median(rates),
    min: rates[0]!,
    max: rates[rates.length - 1]!,
    rounds: rates.length,
    opsPerRound: w.ops.length,
    errnoFraction: w.errors / w.ops.length,
  };
}

/** Microseconds per fork of `pid` (into fresh pids of a copy of `initial`). */
function forkCost(initial: HostState, pid: number, count: number): number {
  const state = cloneHostState(initial);
  const ops: Op[] = [];
  for (let i = 0; i < count; i++) ops.push({ op: 'fork', pid, child: 1_000_000 + i });
  applyAll(cloneHostState(initial), ops.slice(0, 100)); // warm-up
  gc();
  const t0 = performance.now();
  const errors = applyAll(state, ops);
  const us = ((performance.now() - t0) * 1000) / count;
  if (errors !== 0) throw new Error('fork failed');
  return us;
}

// ---------------------------------------------------------------------------------------------
// (c) memory

interface Memory {
  heapBytes: number;
  arrayBufferBytes: number;
  totalBytes: number;
  vmasEach: number;
}

const MEM_COUNT = 100_000;

/**
 * Bytes per task: heapUsed and arrayBuffers before and after creating MEM_COUNT tasks from a
 * template with ~20 VMAs, each after a full GC. The VMA tables are plain arrays of doubles on the
 * V8 heap (they were Float64Arrays, whose storage is outside it: arrayBuffers is kept in the sum for
 * anything stored that way). Forks get their own mm (a copy, then two mmaps make each one distinct); threads
 * (clone with shareVm) share the template's, which shows the cost of a task alone.
 */
function bytesPerTask(profile: ProfileName, kind: 'fork' | 'thread'): Memory {
  const w = new Workload(profile, 7, 1, 1, A_MEMLOCK);
  w.startProgram(1);
  const host = w.state;
  gc();
  gc();
  const before = process.memoryUsage();
  for (let i = 0; i < MEM_COUNT; i++) {
    const child = 2 + i;
    if (kind === 'thread') applyOp(host, { op: 'clone', pid: 1, child, shareVm: true });
    else {
      applyOp(host, { op: 'fork', pid: 1, child });
      applyOp(host, { op: 'mmap', pid: child, length: PAGE, prot: '---', flags: ANON });
      applyOp(host, { op: 'mmap', pid: child, length: 2 * PAGE, prot: 'rw-', flags: ANON });
    }
  }
  gc();
  gc();
  const after = process.memoryUsage();
  const alive = [...host.tasks.values()].filter((t) => t.alive).length;
  if (alive !== MEM_COUNT + 1) throw new Error(`expected ${MEM_COUNT + 1} live tasks, found ${alive}`);
  const heapBytes = (after.heapUsed - before.heapUsed) / MEM_COUNT;
  const arrayBufferBytes = (after.arrayBuffers - before.arrayBuffers) / MEM_COUNT;
  return {
    heapBytes,
    arrayBufferBytes,
    totalBytes: heapBytes + arrayBufferBytes,
    vmasEach: processReport(host.tasks.get(2)!).vmas.length,
  };
}

// ---------------------------------------------------------------------------------------------
// Output

function throughputTable(title: string, results: Record<string, Throughput>): void {
  const widths = [24, 12, 25, 7, 7, 22];
  console.log(title);
  console.log(row(['profile', 'median op/s', 'min – max op/s', 'rounds', 'errno', `aim ≥ ${fmt(AIM_OPS_PER_SEC)}/s`], widths));
  for (const [profile, t] of Object.entries(results)) {
    const aim = verdict(t.median >= AIM_OPS_PER_SEC);
    console.log(row([profile, fmt(t.median), `${fmt(t.min)} – ${fmt(t.max)}`, String(t.rounds), pct(t.errnoFraction), aim], widths));
  }
}

// ---------------------------------------------------------------------------------------------
// Main

const require = createRequire(import.meta.url);
const started = performance.now();
const result: Record<string, unknown> = {
  benchmark: 'kernel',
  date: new Date().toISOString(),
  node: process.version,
  kernelModule: require.resolve('@lockline/kernel'),
  cores: CORES_NOTE,
  aims: { opsPerSec: AIM_OPS_PER_SEC, bytesPerProcess: AIM_BYTES_PER_PROCESS },
};

console.log(`Lockline kernel model benchmark — ${result.date as string}, node ${process.version}, ${CORES_NOTE}`);
console.log(`@lockline/kernel from ${result.kernelModule as string}`);
console.log(`each figure: median of ≥ ${MIN_ROUNDS} rounds, ≥ ${SECONDS} s timed (--seconds=N to change)\n`);

if (ONLY.has('a')) {
  const load = otherLoad();
  const results: Record<string, Throughput & { forkMicros: number; vmasPerProcess: number; mix: Record<string, OpStats> }> = {};
  const mixes: string[] = [];
  for (const profile of PROFILE_LIST) {
    const { w, initial } = buildMixed(profile, 1);
    const t = timeRounds(initial, w);
    const vmasPerProcess = w.averageVmas();
    results[profile] = { ...t, forkMicros: forkCost(initial, 1, 20_000), vmasPerProcess, mix: Object.fromEntries(w.byOp) };
    mixes.push(`  ${profile}: ${w.opMix()}; ${w.signals} exec deaths; ~${vmasPerProcess.toFixed(0)} VMAs/process at the end`);
  }
  throughputTable(
    `(a) mixed operations: ${fmt(A_POPULATION)} processes, ~20 VMAs each, ${fmt(A_OPS)} ops per round`,
    results,
  );
  console.log('  recorded op mix (share of ops, errno rate of that op):');
  for (const m of mixes) console.log(m);
  const forks = Object.entries(results).map(([p, r]) => `${p} ${r.forkMicros.toFixed(2)} µs`);
  console.log(`  fork of a ~20-VMA process alone: ${forks.join(', ')}`);
  const cores = load();
  console.log(`  ${loadNote(cores)}\n`);
  result.mixed = { ...results, otherLoadCores: cores };
}

if (ONLY.has('b')) {
  const load = otherLoad();
  const results: Record<string, Throughput & { forkMicros: number; vmasPerProcess: number; mix: Record<string, OpStats> }> = {};
  const mixes: string[] = [];
  for (const profile of PROFILE_LIST) {
    const { w, initial } = buildManyVmas(profile, 2);
    const t = timeRounds(initial, w);
    const vmasPerProcess = w.averageVmas();
    results[profile] = { ...t, forkMicros: forkCost(initial, 1, 2_000), vmasPerProcess, mix: Object.fromEntries(w.byOp) };
    mixes.push(`  ${profile}: ${w.opMix()}; ~${vmasPerProcess.toFixed(0)} VMAs/process at the end`);
  }
  throughputTable(
    `(b) ~1,000 VMAs per process: ${fmt(B_POPULATION)} processes, ${fmt(B_OPS)} ops per round (forks 0.1%: they copy every VMA)`,
    results,
  );
  console.log('  recorded op mix (share of ops, errno rate of that op):');
  for (const m of mixes) console.log(m);
  const forks = Object.entries(results).map(([p, r]) => `${p} ${r.forkMicros.toFixed(2)} µs`);
  console.log(`  fork of a ~1,000-VMA process alone: ${forks.join(', ')}`);
  const cores = load();
  console.log(`  ${loadNote(cores)}\n`);
  result.manyVmas = { ...results, otherLoadCores: cores };
}

if (ONLY.has('c')) {
  const profile: ProfileName = 'linux-modern'; // the layout of a task and an mm is the same under every profile
  const fork = bytesPerTask(profile, 'fork');
  const thread = bytesPerTask(profile, 'thread');
  const widths = [44, 11, 14, 9, 20];
  console.log(`(c) memory: ${fmt(MEM_COUNT)} tasks made from one template (${profile}), after a full GC`);
  console.log(row(['', 'heap B', 'arrayBuf. B', 'total B', `aim < ${fmt(AIM_BYTES_PER_PROCESS)} B/process`], widths));
  console.log(
    row(
      [`process, own mm (fork + 2 mmaps, ${fork.vmasEach} VMAs)`, fmt(fork.heapBytes), fmt(fork.arrayBufferBytes), fmt(fork.totalBytes), verdict(fork.totalBytes < AIM_BYTES_PER_PROCESS)],
      widths,
    ),
  );
  console.log(
    row(['thread, shared mm (clone shareVm)', fmt(thread.heapBytes), fmt(thread.arrayBufferBytes), fmt(thread.totalBytes), '(task alone)'], widths),
  );
  console.log();
  result.memory = { profile, tasks: MEM_COUNT, process: fork, thread };
}

result.seconds = Number(((performance.now() - started) / 1000).toFixed(1));
console.log(`done in ${result.seconds as number} s`);
console.log(`RESULT ${JSON.stringify(result)}`);
