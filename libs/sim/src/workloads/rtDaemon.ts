import { PROGRAMS } from '../programs.js';
import type { ProcessRun, Self } from '../script.js';
import { KiB, MiB, anon, growHeap, spawn, waitOne } from './common.js';
import type { Workload } from './workload.js';

/**
 * A real-time daemon (a PTP clock, an audio server): started with CAP_IPC_LOCK by its supervisor,
 * it calls mlockall(MCL_CURRENT|MCL_FUTURE) so that nothing it touches is ever paged out, then maps
 * its ring buffer and its threads' stacks — all locked by def_flags, past any RLIMIT_MEMLOCK because
 * of the capability. Its threads (clone with a shared mm) map and unmap scratch buffers; the main
 * thread grows its heap and stack now and then. After a while it shuts down (munlockall, exit) and
 * the supervisor starts it again.
 */
export interface RtDaemonOptions {
  /** Worker threads (default 3). */
  threads?: number;
  /** Main-loop iterations per run (default 100 to 400). */
  iterations?: readonly [min: number, max: number];
  weight?: number;
}

export function rtDaemon(options: RtDaemonOptions = {}): Workload {
  const threads = options.threads ?? 3;
  const [minIter, maxIter] = options.iterations ?? [100, 400];
  if (!Number.isInteger(threads) || threads < 0 || threads > 32) throw new RangeError(`rtDaemon: threads must be 0 to 32, got ${threads}`);

  /** A worker thread: it never exits by itself (exit would be exit_group); it ends with its process. */
  function* worker(self: Self): ProcessRun {
    for (;;) {
      const length = self.rng.pick([64 * KiB, 256 * KiB, 1 * MiB]);
      const m = yield anon(length);
      if (m.errno === null && m.addr !== undefined) yield { op: 'munmap', addr: m.addr, length };
    }
  }

  const daemon = spawn(PROGRAMS.rtDaemon, function* (self) {
    yield { op: 'mlockall', flags: ['MCL_CURRENT', 'MCL_FUTURE'] };
    yield* growHeap(self, 4, 256 * KiB);
    const ring = yield anon(4 * MiB);
    for (let t = 0; t < threads; t++) {
      // pthread_create: the stack is an 8 MiB mapping, then clone(CLONE_VM|CLONE_THREAD…)
      yield anon(8 * MiB);
      yield { op: 'thread', run: worker };
    }
    let stackGrown = 0;
    let heapExtra = 0;
    for (let i = self.rng.between(minIter, maxIter); i > 0; i--) {
      const u = self.rng.float();
      if (u < 0.4) {
        const length = self.rng.pick([16 * KiB, 128 * KiB, 512 * KiB]);
        const m = yield anon(length);
        if (m.errno === null && m.addr !== undefined) yield { op: 'munmap', addr: m.addr, length };
      } else if (u < 0.7) {
        // the heap breathes: grow, later give back
        const increment = heapExtra > 0 && self.rng.chance(0.5) ? -heapExtra : 64 * KiB;
        const r = yield { op: 'brk', increment };
        if (r.errno === null) heapExtra += increment;
      } else if (u < 0.8 && stackGrown < 1 * MiB) {
        // a deep call path touches more stack (locked, prefaulted)
        yield { op: 'growstack', length: 64 * KiB };
        stackGrown += 64 * KiB;
      } else if (ring.addr !== undefined) {
        // re-lock the ring after a reconfiguration (already locked: no change)
        yield { op: 'mlock', addr: ring.addr, length: 4 * MiB };
      }
    }
    yield { op: 'munlockall' };
    yield { op: 'exit', code: 0 };
  });

  function* supervisor(): ProcessRun {
    for (;;) {
      const r = yield { op: 'fork', run: daemon, job: true };
      if (r.errno === null) yield* waitOne();
    }
  }

  return {
    kind: 'rtDaemon',
    weight: options.weight ?? 1,
    label: `rtDaemon(${threads} threads)`,
    roots: () => [{ program: PROGRAMS.runsv, capIpcLock: true, run: supervisor }],
  };
}
