import { RLIM_INFINITY } from '@lockline/kernel';
import { PROGRAMS } from '../programs.js';
import type { ProcessRun, Self } from '../script.js';
import { KiB, MiB, anon, bigAllocations, exit, growHeap, spawn, waitOne } from './common.js';
import type { Workload } from './workload.js';

/**
 * A database server: with CAP_IPC_LOCK it maps its shared buffer pool and mlocks all of it, then
 * drops the capability and lowers RLIMIT_MEMLOCK for the backends it forks — below what it holds
 * itself. No call failed, yet its locked memory is now over its own limit: the LOCKED_OVER_LIMIT
 * story. Later it unlocks a slice of the pool for maintenance and cannot lock it back (ENOMEM: the
 * capability is gone). Backends are forked (no exec), do their work in heap and mmapped work_mem,
 * and exit. After a while the server shuts down and its supervisor starts it again.
 */
export interface DatabaseOptions {
  /** The locked buffer pool, bytes (default 256 MiB). */
  bufferBytes?: number;
  /** The RLIMIT_MEMLOCK it lowers itself to, bytes (default 64 MiB). */
  loweredLimit?: number;
  /** Concurrent backends (default 4). */
  backends?: number;
  /** Main-loop iterations per run (default 60 to 200). */
  iterations?: readonly [min: number, max: number];
  weight?: number;
}

export function database(options: DatabaseOptions = {}): Workload {
  const buffer = options.bufferBytes ?? 256 * MiB;
  const lowered = options.loweredLimit ?? 64 * MiB;
  const maxBackends = options.backends ?? 4;
  const [minIter, maxIter] = options.iterations ?? [60, 200];

  const backend = function* (self: Self): ProcessRun {
    yield* growHeap(self, self.rng.between(2, 8), 128 * KiB);
    yield* bigAllocations(self, self.rng.between(1, 3), 256 * KiB, 4 * MiB);
    // a backend may lock a small sort buffer of its own (within the lowered limit)
    if (self.rng.chance(0.2)) {
      const m = yield anon(64 * KiB);
      if (m.errno === null && m.addr !== undefined) yield { op: 'mlock', addr: m.addr, length: 64 * KiB };
    }
    yield { op: 'exit', code: 0 };
  };

  const server = spawn(PROGRAMS.postgres, function* (self) {
    const pool = yield { op: 'mmap', length: buffer, prot: 'rw-', flags: ['MAP_SHARED', 'MAP_ANONYMOUS'] };
    if (pool.errno !== null || pool.addr === undefined) return yield* exit(1);
    yield { op: 'mlock', addr: pool.addr, length: buffer };
    yield { op: 'capset', capIpcLock: false };
    yield { op: 'setrlimit', cur: lowered, max: lowered };
    let backends = 0;
    let unlocked = false;
    for (let i = self.rng.between(minIter, maxIter); i > 0; i--) {
      const u = self.rng.float();
      if (u < 0.5 && backends < maxBackends) {
        const r = yield { op: 'fork', run: backend, job: true };
        if (r.errno === null) backends++;
      } else if (u < 0.8 && backends > 0) {
        const w = yield { op: 'wait' };
        backends = w.exited === undefined ? 0 : backends - 1;
      } else if (u < 0.9) {
        // grow the heap for a catalog cache
        yield* growHeap(self, 1, 256 * KiB);
      } else if (!unlocked) {
        // maintenance: unlock a slice of the pool, then try to lock it again: ENOMEM, it is over its limit
        const slice = 4 * MiB;
        const at = pool.addr + self.rng.int(buffer / slice) * slice;
        yield { op: 'munlock', addr: at, length: slice };
        yield { op: 'mlock', addr: at, length: slice };
        unlocked = true;
      } else {
        // check-pointer: write out and drop a temporary buffer
        const m = yield anon(1 * MiB);
        if (m.errno === null && m.addr !== undefined) yield { op: 'munmap', addr: m.addr, length: 1 * MiB };
      }
    }
    while (backends > 0) {
      const w = yield { op: 'wait' };
      backends = w.exited === undefined ? 0 : backends - 1;
    }
    yield { op: 'exit', code: 0 };
  });

  function* supervisor(): ProcessRun {
    for (;;) {
      const r = yield { op: 'fork', run: server, job: true };
      if (r.errno === null) yield* waitOne();
    }
  }

  return {
    kind: 'database',
    weight: options.weight ?? 2,
    label: `database(${Math.round(buffer / MiB)} MiB locked, limit lowered to ${Math.round(lowered / MiB)} MiB)`,
    roots: () => [{ program: PROGRAMS.pgCtl, capIpcLock: true, rlimitMemlock: { cur: RLIM_INFINITY, max: RLIM_INFINITY }, run: supervisor }],
  };
}
