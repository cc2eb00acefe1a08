/**
 * The model's vocabulary: profiles, flag names, operations and their results.
 *
 * Flags are names, never numbers: MCL_INHERIT is 4 in the 2008 patch and 4 is MCL_ONFAULT today
 * (spec A.3). Names a profile does not know make the call fail with EINVAL, as an unknown bit would.
 */

export const PROFILES = ['linux-2008-patch', 'linux-2008-patch-fixed', 'linux-modern'] as const;
export type ProfileName = (typeof PROFILES)[number];

export const PAGE_SIZE = 4096;
/** RLIM_INFINITY; scenario files spell it "unlimited". */
export const RLIM_INFINITY = Number.POSITIVE_INFINITY;

export const MCL_FLAG_NAMES = ['MCL_CURRENT', 'MCL_FUTURE', 'MCL_ONFAULT', 'MCL_INHERIT', 'MCL_RECURSIVE'] as const;
export type MclFlagName = (typeof MCL_FLAG_NAMES)[number];

export const MLOCK2_FLAG_NAMES = ['MLOCK_ONFAULT'] as const;
export type Mlock2FlagName = (typeof MLOCK2_FLAG_NAMES)[number];

export const MAP_FLAG_NAMES = [
  'MAP_PRIVATE',
  'MAP_SHARED',
  'MAP_ANONYMOUS',
  'MAP_FIXED',
  'MAP_FIXED_NOREPLACE',
  'MAP_LOCKED',
  'MAP_GROWSDOWN',
  'MAP_POPULATE',
  'MAP_NORESERVE',
  'MAP_DROPPABLE',
] as const;
export type MapFlagName = (typeof MAP_FLAG_NAMES)[number];

export const MADVICE_NAMES = ['MADV_DONTFORK', 'MADV_DOFORK'] as const;
export type MadviceName = (typeof MADVICE_NAMES)[number];

export const VM_FLAG_NAMES = ['VM_LOCKED', 'VM_LOCKONFAULT'] as const;
export type VmFlagName = (typeof VM_FLAG_NAMES)[number];

export const ERRNO_NAMES = ['EPERM', 'ESRCH', 'EAGAIN', 'ENOMEM', 'EFAULT', 'EEXIST', 'EINVAL', 'ENOSYS'] as const;
export type Errno = (typeof ERRNO_NAMES)[number];

export const SIGNAL_NAMES = ['SIGKILL', 'SIGSEGV'] as const;
export type Signal = (typeof SIGNAL_NAMES)[number];

export const IMAGE_FORMATS = ['elf', 'script', 'aout'] as const;
export type ImageFormat = (typeof IMAGE_FORMATS)[number];

/** Protection as the kernel prints it in /proc/PID/maps: "rw-", "r-x", "---". */
export type Prot = string;

/** An explicitly laid-out mapping, e.g. read from a real process's /proc/PID/maps. Bytes, page aligned. */
export interface VmaSpec {
  start: number;
  end: number;
  prot: Prot;
  special?: boolean;
  growsDown?: boolean;
}

/** An executable laid out by the fixed rule of scenario-format.md (sizes in pages). */
export interface ImageLayout {
  format: ImageFormat;
  argPages: number;
  textPages: number;
  dataPages: number;
  bssPages: number;
  vdsoPages: number;
  interpPages?: number;
}

/** An image given as explicit mappings plus its program break (a real process's layout). */
export interface ExplicitImage {
  format?: ImageFormat;
  vmas: VmaSpec[];
  brk: number;
}

export type Image = ImageLayout | ExplicitImage;

export interface RlimitMemlock {
  /** bytes, or RLIM_INFINITY */
  cur: number;
  max: number;
}

export interface InitialProcess {
  pid: number;
  /** Parent pid, for lineage only; defaults to 0. */
  ppid?: number;
  capIpcLock?: boolean;
  capSysResource?: boolean;
  rlimitMemlock?: RlimitMemlock;
  /** A kernel thread has no mm (current->mm == NULL); only exec is meaningful for it. */
  kernelThread?: boolean;
  image?: Image;
}

/** Every operation of the scenario format, with the acting pid. Addresses and lengths in bytes. */
export type Op =
  | { op: 'fork'; pid: number; child: number }
  | { op: 'vfork'; pid: number; child: number }
  | { op: 'clone'; pid: number; child: number; shareVm: boolean }
  | { op: 'exec'; pid: number; image: Image }
  | { op: 'exit'; pid: number }
  | { op: 'mmap'; pid: number; addr?: number; length: number; prot: Prot; flags: readonly MapFlagName[] }
  | { op: 'munmap'; pid: number; addr: number; length: number }
  /** brk to an absolute address, or sbrk by an increment (bytes, may be negative). */
  | { op: 'brk'; pid: number; addr?: number; increment?: number }
  | { op: 'mlock'; pid: number; addr: number; length: number }
  | { op: 'mlock2'; pid: number; addr: number; length: number; flags: readonly Mlock2FlagName[] }
  | { op: 'munlock'; pid: number; addr: number; length: number }
  | { op: 'mlockall'; pid: number; flags: readonly MclFlagName[] }
  | { op: 'munlockall'; pid: number }
  | { op: 'setrlimit'; pid: number; cur: number; max: number }
  | { op: 'capset'; pid: number; capIpcLock?: boolean; capSysResource?: boolean }
  | { op: 'madvise'; pid: number; addr: number; length: number; advice: MadviceName }
  | { op: 'mremap'; pid: number; addr: number; oldLength: number; newLength: number }
  /** Lockline extension: the stack VMA grows down by `length` bytes, as deep recursion would. */
  | { op: 'growstack'; pid: number; length: number }
  | { op: 'check'; pid: number };

export type OpName = Op['op'];
export const OP_NAMES = [
  'fork',
  'vfork',
  'clone',
  'exec',
  'exit',
  'mmap',
  'munmap',
  'brk',
  'mlock',
  'mlock2',
  'munlock',
  'mlockall',
  'munlockall',
  'setrlimit',
  'capset',
  'madvise',
  'mremap',
  'growstack',
  'check',
] as const satisfies readonly OpName[];

/** What the calling process observed: errno (null for success), or the signal that killed it. */
export interface OpResult {
  errno: Errno | null;
  signal?: Signal;
  /** mmap: the address mapped. */
  addr?: number;
  /** brk: the program break after the call. */
  brk?: number;
  /** Set when the model refused the operation for a reason outside the kernel (e.g. pid in use). */
  note?: string;
}
