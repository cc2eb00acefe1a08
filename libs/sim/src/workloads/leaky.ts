import { PROGRAMS } from '../programs.js';
import type { ProcessRun } from '../script.js';
import { KiB, MiB, anon, spawn, waitOne } from './common.js';
import type { Workload } from './workload.js';

/**
 * A leaky service without CAP_IPC_LOCK: it locks what it allocates — either mlockall(MCL_FUTURE) and
 * then plain mmaps and heap growth, or mmap(MAP_LOCKED) — and never frees anything, until the limit
 * says no (EAGAIN from mmap, ENOMEM from brk). It exits with status 1 and its supervisor restarts it.
 */
export interface LeakyOptions {
  /** RLIMIT_MEMLOCK, bytes (default 8 MiB). */
  rlimitMemlock?: number;
  weight?: number;
}

export function leaky(options: LeakyOptions = {}): Workload {
  const limit = options.rlimitMemlock ?? 8 * MiB;

  const leak = spawn(PROGRAMS.leaky, function* (self) {
    let future = self.rng.chance(0.5);
    if (future) {
      const r = yield { op: 'mlockall', flags: ['MCL_FUTURE'] };
      future = r.errno === null;
    }
    // bounded, in case the limit is unlimited
    for (let i = 0; i < 500; i++) {
      const length = self.rng.between(16, 256) * 4 * KiB;
      if (future && self.rng.chance(0.3)) {
        const r = yield { op: 'brk', increment: length };
        if (r.errno !== null) break;
      } else {
        const r = yield anon(length, future ? [] : ['MAP_LOCKED']);
        if (r.errno !== null) break;
      }
    }
    yield { op: 'exit', code: 1 };
  });

  function* supervisor(): ProcessRun {
    for (;;) {
      const r = yield { op: 'fork', run: leak, job: true };
      if (r.errno === null) yield* waitOne();
    }
  }

  return {
    kind: 'leaky',
    weight: options.weight ?? 1,
    label: `leaky(limit ${Math.round(limit / KiB)} KiB)`,
    roots: () => [{ program: PROGRAMS.runsv, rlimitMemlock: { cur: limit, max: limit }, run: supervisor }],
  };
}
