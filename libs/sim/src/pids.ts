/**
 * pid allocation as alloc_pid() does it: the next free number after the last one given, wrapping at
 * pid_max back to RESERVED_PIDS (300), skipping pids still in use. A pid is reused only after its
 * process is gone, so a live pid never collides.
 */

export const DEFAULT_PID_MAX = 32768;
/** include/linux/pid.h: after a wrap, allocation restarts above the range daemons got at boot. */
export const RESERVED_PIDS = 300;

export class PidAllocator {
  private readonly used: Uint8Array;
  private last: number;
  private inUse = 0;

  constructor(
    readonly pidMax: number = DEFAULT_PID_MAX,
    start = 0,
  ) {
    this.used = new Uint8Array(pidMax);
    this.last = start;
  }

  get live(): number {
    return this.inUse;
  }

  /** Mark a pid taken (the boot's fixed ones: 1, 2). */
  claim(pid: number): void {
    if (this.used[pid] === 1) throw new Error(`pid ${pid} is already in use`);
    this.used[pid] = 1;
    this.inUse++;
  }

  /** The next free pid, or -1 when every pid is in use. */
  alloc(): number {
    const max = this.pidMax;
    // A tiny pid_max (tests) wraps to 3, above init and kthreadd.
    const wrapTo = max > 2 * RESERVED_PIDS ? RESERVED_PIDS : 3;
    let pid = this.last;
    for (let tries = 0; tries < max; tries++) {
      pid++;
      if (pid >= max) pid = wrapTo;
      if (this.used[pid] === 0) {
        this.used[pid] = 1;
        this.inUse++;
        this.last = pid;
        return pid;
      }
    }
    return -1;
  }

  free(pid: number): void {
    if (this.used[pid] !== 1) return;
    this.used[pid] = 0;
    this.inUse--;
  }

  isUsed(pid: number): boolean {
    return this.used[pid] === 1;
  }
}
