import type { MapFlagName } from '@lockline/kernel';
import type { Program } from '../programs.js';
import type { Call, Outcome, ProcessRun, Script, Self } from '../script.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const PAGE = 4096;

/** An anonymous private read-write mapping, placed by the kernel. */
export function anon(length: number, extra: readonly MapFlagName[] = []): Call {
  return { op: 'mmap', length, prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS', ...extra] };
}

/** A new process that execs `program`, then runs `body` as that program (nothing if exec killed it). */
export function spawn(program: Program, body?: (self: Self) => ProcessRun): Script {
  return function* spawned(self) {
    const r = yield { op: 'exec', program };
    if (r.signal !== undefined) return;
    if (body) yield* body(self);
  };
}

/** Wait for every child; returns the first non-zero exit status (128+n for a signal), or 0. */
export function* waitAll(): Generator<Call, number, Outcome> {
  let status = 0;
  for (;;) {
    const w = yield { op: 'wait' };
    if (w.exited === undefined) return status;
    if (status === 0) status = exitStatus(w);
  }
}

/** Wait for one child; its status, or 0 when there was none. */
export function* waitOne(): Generator<Call, number, Outcome> {
  const w = yield { op: 'wait' };
  return exitStatus(w);
}

function exitStatus(w: Outcome): number {
  if (w.exited === undefined) return 0;
  if (w.exited.signal !== undefined) return w.exited.signal === 'SIGKILL' ? 137 : 139;
  return w.exited.code ?? 0;
}

/**
 * Grow the heap with sbrk in `steps` increments of about `bytes` (glibc's malloc does exactly this
 * for small allocations); false as soon as one fails (ENOMEM: under MCL_FUTURE the break is
 * limit-checked).
 */
export function* growHeap(self: Self, steps: number, bytes: number): Generator<Call, boolean, Outcome> {
  for (let i = 0; i < steps; i++) {
    const increment = Math.max(PAGE, Math.round((bytes * (0.5 + self.rng.float())) / PAGE) * PAGE);
    const r = yield { op: 'brk', increment };
    if (r.errno !== null) return false;
  }
  return true;
}

/** Large allocations: glibc mmaps anything above 128 KiB. Returns the mappings made, or null on failure. */
export function* bigAllocations(self: Self, count: number, minBytes: number, maxBytes: number): Generator<Call, Array<{ addr: number; length: number }> | null, Outcome> {
  const made: Array<{ addr: number; length: number }> = [];
  for (let i = 0; i < count; i++) {
    const length = Math.round((minBytes + self.rng.float() * (maxBytes - minBytes)) / PAGE) * PAGE || PAGE;
    const r = yield anon(length);
    if (r.errno !== null || r.addr === undefined) return null;
    made.push({ addr: r.addr, length });
    // free() of an earlier block now and then
    if (made.length > 1 && self.rng.chance(0.3)) {
      const k = self.rng.int(made.length - 1);
      const [freed] = made.splice(k, 1);
      if (freed) yield { op: 'munmap', addr: freed.addr, length: freed.length };
    }
  }
  return made;
}

/** exit_group(code). The script is never resumed after it: `return yield* exit(1)`. */
export function* exit(code: number): ProcessRun {
  yield { op: 'exit', code };
}
