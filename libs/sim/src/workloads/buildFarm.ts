import { PROGRAMS } from '../programs.js';
import type { Call, Outcome, ProcessRun, Script, Self } from '../script.js';
import { KiB, MiB, anon, bigAllocations, exit, growHeap, spawn, waitOne } from './common.js';
import type { Workload } from './workload.js';

/**
 * `mlock -r make -jN all`, the seed's own example: an admin's shell runs the lock prefix command,
 * which calls mlockall(MCL_CURRENT|MCL_FUTURE|MCL_INHERIT|MCL_RECURSIVE) and execs make. make runs N
 * jobs at a time, each `sh -c "cc -c …"`; cc runs cc1 then as; now and then a job is a sub-make or a
 * generator script, and the build ends with cc → collect2 → ld. Seven generations deep, every one of
 * them mapping and growing memory that, under the patch, is locked without anyone asking.
 *
 * Under linux-modern the mlockall fails with EINVAL (MCL_INHERIT is an unknown bit there) and, as
 * mlock(1) execs its command whatever mlockall returned, the same build runs unlocked. Under the
 * patch, a cc1 whose locked memory reaches RLIMIT_MEMLOCK fails (brk ENOMEM, mmap EAGAIN) and the build
 * fails with it: the price of inheriting locks. The shell starts the next build when one ends.
 */
export interface BuildFarmOptions {
  /** make -jN (default 8). */
  jobs?: number;
  /** Translation units per build (default 12 to 40). */
  files?: readonly [min: number, max: number];
  /** RLIMIT_MEMLOCK of the build user's shell, bytes (default 64 MiB). */
  rlimitMemlock?: number;
  weight?: number;
}

export function buildFarm(options: BuildFarmOptions = {}): Workload {
  const jobs = options.jobs ?? 8;
  const [minFiles, maxFiles] = options.files ?? [12, 40];
  const limit = options.rlimitMemlock ?? 64 * MiB;
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 64) throw new RangeError(`buildFarm: jobs must be 1 to 64, got ${jobs}`);

  /** cc1: parse, optimise; the heap grows in steps and big arrays are mmapped. */
  const cc1 = spawn(PROGRAMS.cc1, function* (self) {
    if (!(yield* growHeap(self, self.rng.between(8, 32), 256 * KiB))) return yield* exit(1);
    if ((yield* bigAllocations(self, self.rng.between(1, 4), 1 * MiB, 12 * MiB)) === null) return yield* exit(1);
    yield* exit(0);
  });

  const as = spawn(PROGRAMS.as, function* (self) {
    if (!(yield* growHeap(self, self.rng.between(2, 6), 128 * KiB))) return yield* exit(1);
    if ((yield* bigAllocations(self, 1, 256 * KiB, 2 * MiB)) === null) return yield* exit(1);
    yield { op: 'exit', code: 0 };
  });

  const ld = spawn(PROGRAMS.ld, function* (self) {
    if (!(yield* growHeap(self, self.rng.between(4, 12), 512 * KiB))) return yield* exit(1);
    // the output buffer goes where it has room to grow in place (mremap without MREMAP_MAYMOVE)
    const out = yield { op: 'mmap', addr: 0x7e0000000000 + self.rng.int(4096) * 0x10000000, length: 4 * MiB, prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'] };
    if (out.errno !== null || out.addr === undefined) return yield* exit(1);
    // the output buffer doubles as sections are laid out
    let length = 4 * MiB;
    for (let i = self.rng.between(1, 3); i > 0; i--) {
      const r = yield { op: 'mremap', addr: out.addr, oldLength: length, newLength: length * 2 };
      if (r.errno === null) length *= 2;
    }
    yield { op: 'exit', code: 0 };
  });

  /** Run one child and exit with its status (what sh -c, cc and collect2 mostly do). */
  function* runChildren(children: readonly Script[]): ProcessRun {
    for (const run of children) {
      const r = yield { op: 'fork', run };
      const status = r.errno === null ? yield* waitOne() : 1;
      if (status !== 0) return yield* exit(status);
    }
    yield { op: 'exit', code: 0 };
  }

  const shellSmallHeap = function* (self: Self): Generator<Call, void, Outcome> {
    yield* growHeap(self, 1, 16 * KiB);
  };

  const ccCompile = spawn(PROGRAMS.cc, function* (self) {
    yield* growHeap(self, self.rng.between(1, 3), 64 * KiB);
    yield* runChildren([cc1, as]);
  });
  const collect2 = spawn(PROGRAMS.collect2, () => runChildren([ld]));
  const ccLink = spawn(PROGRAMS.cc, function* (self) {
    yield* growHeap(self, 2, 64 * KiB);
    yield* runChildren([collect2]);
  });
  const generator = (self: Self): Script =>
    spawn(self.rng.chance(0.5) ? PROGRAMS.genScript : PROGRAMS.legacyM4, function* (me) {
      yield* growHeap(me, me.rng.between(1, 4), 32 * KiB);
      yield { op: 'exit', code: 0 };
    });

  const shC = (child: (self: Self) => Script): Script =>
    spawn(PROGRAMS.sh, function* (self) {
      yield* shellSmallHeap(self);
      yield* runChildren([child(self)]);
    });

  const compileJob = shC(() => ccCompile);
  const linkJob = shC(() => ccLink);
  const generateJob = shC(generator);
  const subMakeJob = shC(() => spawn(PROGRAMS.make, (self) => make(self, 1)));

  /** GNU make: read the makefiles, run up to `jobs` recipes at a time, stop starting new ones after a failure. */
  function* make(self: Self, depth: number): ProcessRun {
    yield* growHeap(self, self.rng.between(2, 6), 64 * KiB);
    yield anon(self.rng.pick([256 * KiB, 512 * KiB, 1 * MiB]));
    const files = depth === 0 ? self.rng.between(minFiles, maxFiles) : self.rng.between(2, 6);
    const parallel = depth === 0 ? jobs : Math.min(2, jobs);
    let started = 0;
    let running = 0;
    let failed = false;
    while ((!failed && started < files) || running > 0) {
      if (!failed && started < files && running < parallel) {
        const run = depth === 0 && self.rng.chance(0.06) ? subMakeJob : self.rng.chance(0.04) ? generateJob : compileJob;
        // make spawns recipes with vfork (posix_spawn) or fork
        const r = yield { op: self.rng.chance(0.5) ? 'vfork' : 'fork', run, job: true };
        started++;
        if (r.errno === null) running++;
        continue;
      }
      const w = yield { op: 'wait' };
      if (w.exited === undefined) {
        running = 0;
        continue;
      }
      running--;
      if (w.exited.code !== 0) failed = true;
    }
    if (!failed && depth === 0) {
      const r = yield { op: 'fork', run: linkJob, job: true };
      if (r.errno !== null || (yield* waitOne()) !== 0) failed = true;
    }
    yield { op: 'exit', code: failed ? 2 : 0 };
  }

  /** mlock(1): lock, then exec the command whatever mlockall said. */
  const mlockMake = spawn(PROGRAMS.mlock, function* (self) {
    yield { op: 'mlockall', flags: ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT', 'MCL_RECURSIVE'] };
    const r = yield { op: 'exec', program: PROGRAMS.make };
    if (r.signal !== undefined) return;
    yield* make(self, 0);
  });

  const ls = spawn(PROGRAMS.ls, function* (self) {
    yield* growHeap(self, 1, 32 * KiB);
    yield { op: 'exit', code: 0 };
  });

  /** The admin's shell: `mlock -r make -jN all`, look at the result, again. */
  function* shell(self: Self): ProcessRun {
    for (;;) {
      const r = yield { op: 'fork', run: mlockMake, job: true };
      if (r.errno === null) yield* waitOne();
      if (self.rng.chance(0.5)) {
        const l = yield { op: 'fork', run: ls, job: true };
        if (l.errno === null) yield* waitOne();
      }
    }
  }

  return {
    kind: 'buildFarm',
    weight: options.weight ?? 4,
    label: `buildFarm(mlock -r make -j${jobs})`,
    roots: () => [{ program: PROGRAMS.bash, rlimitMemlock: { cur: limit, max: limit }, run: shell }],
  };
}
