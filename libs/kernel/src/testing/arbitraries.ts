import fc from 'fast-check';
import { applyOp, createHost } from '../host.js';
import type { HostState } from '../state.js';
import type { ImageLayout, MapFlagName, MclFlagName, Op, ProfileName } from '../types.js';
import { MCL_FLAG_NAMES } from '../types.js';
import { IMG28 } from './given.js';

/**
 * fast-check arbitraries for random operation sequences over a handful of processes and a small
 * address window, for property tests of the model and of everything that folds its events.
 */
const PAGE = 4096;
export const BASE = 0x10000000;
const PIDS = [1, 2, 3, 4, 5, 6];

/** Addresses in a 64-page window, mostly page aligned, sometimes not. */
const addr = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 63 }).map((p) => BASE + p * PAGE) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 64 * PAGE }).map((o) => BASE + o) },
);
const length = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 16 }).map((p) => p * PAGE) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 16 * PAGE }) },
);
const child = fc.constantFrom(3, 4, 5, 6, 1, 2);
const pid = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(1, 2) }, { weight: 1, arbitrary: fc.constantFrom(...PIDS) });
const image: fc.Arbitrary<ImageLayout> = fc.record({
  format: fc.constantFrom('elf' as const, 'script' as const, 'aout' as const),
  argPages: fc.integer({ min: 0, max: 3 }),
  textPages: fc.integer({ min: 0, max: 8 }),
  dataPages: fc.integer({ min: 0, max: 4 }),
  bssPages: fc.integer({ min: 0, max: 4 }),
  vdsoPages: fc.integer({ min: 0, max: 2 }),
});
const mclFlags = fc.oneof(
  fc.constantFrom<MclFlagName[]>(
    ['MCL_CURRENT'],
    ['MCL_FUTURE'],
    ['MCL_CURRENT', 'MCL_FUTURE'],
    ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT'],
    ['MCL_FUTURE', 'MCL_INHERIT', 'MCL_RECURSIVE'],
    ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_INHERIT', 'MCL_RECURSIVE'],
    ['MCL_CURRENT', 'MCL_INHERIT'],
    ['MCL_FUTURE', 'MCL_ONFAULT'],
    ['MCL_CURRENT', 'MCL_ONFAULT'],
  ),
  fc.subarray([...MCL_FLAG_NAMES] as MclFlagName[]),
);
const mapFlags = fc
  .tuple(fc.constantFrom<MapFlagName>('MAP_PRIVATE', 'MAP_SHARED'), fc.subarray<MapFlagName>(['MAP_ANONYMOUS', 'MAP_FIXED', 'MAP_LOCKED', 'MAP_FIXED_NOREPLACE']))
  .map(([t, rest]) => [t, ...rest]);
const limit = fc.oneof(fc.integer({ min: 0, max: 80 }).map((p) => p * PAGE), fc.constant(7), fc.constant(Number.POSITIVE_INFINITY));

/** Random operation sequences over a handful of processes and a small address window. */
export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ op: fc.constant('fork' as const), pid, child }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('vfork' as const), pid, child }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clone' as const), pid, child, shareVm: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('exec' as const), pid, image }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('exit' as const), pid }) },
  {
    weight: 5,
    arbitrary: fc.record({ op: fc.constant('mmap' as const), pid, addr, length, prot: fc.constantFrom('rw-', 'r--', '---', 'r-x'), flags: mapFlags }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('munmap' as const), pid, addr, length }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('brk' as const), pid, increment: fc.integer({ min: -8, max: 8 }).map((p) => p * PAGE + 7) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('mlock' as const), pid, addr, length }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('mlock2' as const), pid, addr, length, flags: fc.subarray(['MLOCK_ONFAULT' as const]) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('munlock' as const), pid, addr, length }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('mlockall' as const), pid, flags: mclFlags }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('munlockall' as const), pid }) },
  {
    weight: 1,
    arbitrary: fc.tuple(pid, limit, limit).map(([p, a, b]): Op => ({ op: 'setrlimit', pid: p, cur: Math.min(a, b), max: Math.max(a, b) })),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('capset' as const), pid, capIpcLock: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('madvise' as const), pid, addr, length, advice: fc.constantFrom('MADV_DONTFORK' as const, 'MADV_DOFORK' as const) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('mremap' as const), pid, addr, oldLength: length, newLength: length }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('growstack' as const), pid, length: fc.integer({ min: 0, max: 40 * PAGE }) }) },
);

/** Two processes, each with the 64-page window mapped (two VMAs of different protection) so most ranges hit memory. */
export function start(profile: ProfileName): HostState {
  const state = createHost(profile, [
    { pid: 1, image: IMG28, capIpcLock: true },
    { pid: 2, image: IMG28, rlimitMemlock: { cur: 24 * PAGE, max: 32 * PAGE } },
  ]);
  for (const p of [1, 2]) {
    applyOp(state, { op: 'mmap', pid: p, addr: BASE, length: 40 * PAGE, prot: 'rw-', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'] });
    applyOp(state, { op: 'mmap', pid: p, addr: BASE + 40 * PAGE, length: 24 * PAGE, prot: 'r--', flags: ['MAP_PRIVATE', 'MAP_ANONYMOUS'] });
  }
  return state;
}

