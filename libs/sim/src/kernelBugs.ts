import type { Errno } from '@lockline/kernel';
import type { EventBody, EventData, SyscallEventType } from '@lockline/events';
import type { Random } from './random.js';

/**
 * A host kernel that misreports. Only the REPORT lies: the host's own model state is what the model
 * did, so a projection that replays the operation stays in step with the host and sees exactly the
 * lie (RESULT_DIVERGENCE, ACCOUNTING_DRIFT).
 */

type SyscallBody = Extract<EventBody, { type: SyscallEventType }>;
type AnyResult = { errno: Errno | null; signal?: unknown; addr?: number; brk?: number };

/** The failure a buggy kernel reports for a call that succeeded. */
function plausibleFailure(type: SyscallEventType): Errno {
  switch (type) {
    case 'syscall.fork':
    case 'syscall.vfork':
    case 'syscall.clone':
      return 'EAGAIN';
    case 'syscall.setrlimit':
    case 'syscall.capset':
      return 'EPERM';
    case 'syscall.munmap':
    case 'syscall.madvise':
    case 'syscall.exec':
    case 'syscall.munlockall':
      return 'EINVAL';
    default:
      return 'ENOMEM';
  }
}

/**
 * Report a success as a failure (mmap OK → ENOMEM) or a failure as a success (mlock ENOMEM → OK).
 * A result with a signal is left alone (false): the process is dead either way.
 */
export function lieAboutResult(body: SyscallBody): boolean {
  const data = body.data as { result: AnyResult };
  const r = data.result;
  if (r.signal !== undefined) return false;
  const lie: AnyResult = { errno: r.errno === null ? plausibleFailure(body.type) : null };
  // a failed brk still returns the break; a failed mmap returns no address
  if (r.brk !== undefined) lie.brk = r.brk;
  data.result = lie;
  return true;
}

/** One sample's locked_vm off by 1 to 64 pages; false when there is no numeric sample to change. */
export function lieAboutCounters(data: EventData<'counters.sampled'>, rng: Random): boolean {
  const numeric = data.samples.filter((s) => typeof s.lockedVmPages === 'number');
  if (numeric.length === 0) return false;
  const sample = rng.pick(numeric);
  const value = sample.lockedVmPages as number;
  let delta = rng.between(1, 64) * (rng.chance(0.5) ? -1 : 1);
  if (value + delta < 0) delta = -delta;
  sample.lockedVmPages = value + delta;
  return true;
}
