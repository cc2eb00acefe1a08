import { PROGRAMS, type Program } from '../programs.js';
import type { ProcessRun, Script, Self } from '../script.js';
import { KiB, MiB, bigAllocations, growHeap, spawn, waitAll } from './common.js';
import type { Workload } from './workload.js';

/**
 * Background churn: cron starting short jobs — date, ls, a grep | gzip pipeline through sh, a python
 * script, and a report generator that now and then recurses past its 8 MiB stack and dies of SIGSEGV.
 * Small, short-lived, mostly unlocked processes: the noise every real host has.
 */
export interface ChurnOptions {
  /** Jobs running at once (default 4). */
  concurrency?: number;
  weight?: number;
}

const SMALL: readonly Program[] = [PROGRAMS.date, PROGRAMS.sleep, PROGRAMS.ls, PROGRAMS.grep, PROGRAMS.find, PROGRAMS.gzip, PROGRAMS.logrotate];

export function churn(options: ChurnOptions = {}): Workload {
  const concurrency = options.concurrency ?? 4;

  const small = (program: Program): Script =>
    spawn(program, function* (self) {
      yield* growHeap(self, self.rng.between(1, 3), 32 * KiB);
      if (self.rng.chance(0.3)) yield* bigAllocations(self, 1, 128 * KiB, 1 * MiB);
      yield { op: 'exit', code: 0 };
    });

  const pipeline = spawn(PROGRAMS.sh, function* (self) {
    yield* growHeap(self, 1, 16 * KiB);
    yield { op: 'fork', run: small(PROGRAMS.grep) };
    yield { op: 'fork', run: small(PROGRAMS.gzip) };
    yield { op: 'exit', code: yield* waitAll() };
  });

  const python = spawn(PROGRAMS.python3, function* (self) {
    yield* growHeap(self, self.rng.between(4, 12), 256 * KiB);
    yield* bigAllocations(self, 2, 1 * MiB, 4 * MiB);
    yield { op: 'exit', code: 0 };
  });

  const report = spawn(PROGRAMS.report, function* (self) {
    // 1 MiB of stack per level; the 8 MiB stack limit ends a deep run with SIGSEGV
    for (let depth = self.rng.chance(0.3) ? 12 : self.rng.between(1, 5); depth > 0; depth--) {
      yield { op: 'growstack', length: 1 * MiB };
    }
    yield { op: 'exit', code: 0 };
  });

  function job(self: Self): Script {
    const u = self.rng.float();
    if (u < 0.55) return small(self.rng.pick(SMALL));
    if (u < 0.75) return pipeline;
    if (u < 0.9) return python;
    return report;
  }

  function* cron(self: Self): ProcessRun {
    let running = 0;
    for (;;) {
      if (running < concurrency && self.rng.chance(0.6)) {
        const r = yield { op: self.rng.chance(0.3) ? 'vfork' : 'fork', run: job(self), job: true };
        if (r.errno === null) running++;
      } else {
        const w = yield { op: 'wait' };
        running = w.exited === undefined ? 0 : running - 1;
        if (w.exited === undefined) {
          // nothing to reap: a cron tick with no job due still reads its crontab
          yield { op: 'brk', increment: 0 };
        }
      }
    }
  }

  return {
    kind: 'churn',
    weight: options.weight ?? 1,
    label: `churn(${concurrency} at once)`,
    roots: () => [{ program: PROGRAMS.cron, run: cron }],
  };
}
