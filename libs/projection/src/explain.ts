import { limitText, pagesText } from '@lockline/audit';
import type { Mm, Task } from '@lockline/kernel';
import { LOCK_MASK, PAGE, UNLOCKABLE, VmaFlag, mclInheritNames, memlockLimitPages, vmFlagNames, vmaEnd, vmaFlags, vmaStart, vmaTag } from '@lockline/kernel';
import type { HostProjection, LockCause } from './hostProjection.js';
import type { TaskRecord } from './lineage.js';
import { execsOf } from './lineage.js';

export type LockState = 'none' | 'own' | 'inherited' | 'over-limit';

/** One link of a provenance chain, newest first: how the lock got from one task to the next. */
export interface ChainLink {
  seq: number;
  pid: number;
  what: 'fork' | 'vfork' | 'thread' | 'exec' | 'locked';
  /** for fork-like links: the parent */
  fromPid?: number;
  comm?: string;
  /** for 'locked': the call */
  call?: string;
}

export interface LockedRange {
  start: string;
  end: string;
  pages: number;
  /** the event that set VM_LOCKED on this range (in this task or an ancestor) */
  lockedAt: number;
  /** own: locked by this process (or its threads); inherited: it came from an ancestor */
  origin: 'own' | 'inherited' | 'unknown';
  chain: ChainLink[];
  text: string;
}

export interface Explanation {
  hostId: string;
  pid: number;
  seq: number;
  comm?: string;
  alive: boolean;
  lockState: LockState;
  lockedVmPages: number | string;
  limitPages: number | 'unlimited';
  capIpcLock: boolean;
  defFlags: string[];
  mclInherit: string[];
  ranges: LockedRange[];
  /** sentences, the first one the answer */
  text: string[];
}

const hex = (page: number): string => '0x' + (page * PAGE).toString(16);

function callText(c: LockCause): string {
  switch (c.op) {
    case 'mlockall':
      return `mlockall(${(c.flags ?? []).join('|')})`;
    case 'mmap':
      return c.defTag ? 'mmap' : 'mmap(MAP_LOCKED)';
    case 'exec':
      return `exec${c.comm ? ` of ${c.comm}` : ''}`;
    default:
      return c.op;
  }
}

function sameGroup(task: Task, pid: number): boolean {
  return task.pid === pid || (task.limits.threads?.some((t) => t.pid === pid) ?? false);
}

/**
 * The links from `record` back to the task incarnation `pid` that was alive at `seq`: forks and
 * execs after `seq` on the way, newest first. Empty when the record itself did it.
 */
export function chainTo(record: TaskRecord | undefined, pid: number, seq: number): ChainLink[] | null {
  const links: ChainLink[] = [];
  let r: TaskRecord | null = record ?? null;
  while (r) {
    const execs = execsOf(r);
    for (let i = execs.length - 1; i >= 0; i--) {
      const e = execs[i]!;
      if (e.seq > seq) links.push({ seq: e.seq, pid: r.pid, what: 'exec', ...(e.comm ? { comm: e.comm } : {}) });
    }
    if (r.pid === pid && r.createdSeq <= seq) return links;
    if (!r.parent || r.createdBy === 'table') return null;
    links.push({ seq: r.createdSeq, pid: r.pid, what: r.createdBy, fromPid: r.parent.pid, ...(r.comm ? { comm: r.comm } : {}) });
    r = r.parent;
  }
  return null;
}

function linkText(l: ChainLink): string {
  switch (l.what) {
    case 'exec':
      return `pid ${l.pid} exec'd${l.comm ? ` ${l.comm}` : ''} at event ${l.seq}`;
    case 'locked':
      return `pid ${l.pid}${l.comm ? ` (${l.comm})` : ''} called ${l.call} at event ${l.seq}`;
    case 'thread':
      return `pid ${l.pid} was started as a thread of pid ${l.fromPid} at event ${l.seq}`;
    default:
      return `pid ${l.pid} was ${l.what === 'vfork' ? 'vforked' : 'forked'} from pid ${l.fromPid} at event ${l.seq}`;
  }
}

/** The provenance of one lock cause, as links and a sentence. */
interface Provenance {
  origin: LockedRange['origin'];
  chain: ChainLink[];
  text: string;
  /** the text without the range's own locking call: ranges with the same root read as one */
  root: string;
  /** the call that locked this range under MCL_FUTURE (mmap, brk, exec), if it was not the root itself */
  via?: string;
}

function provenance(p: HostProjection, task: Task, record: TaskRecord | undefined, cause: LockCause | undefined, tag: number): Provenance {
  if (!cause) {
    const text = `locked at event ${tag}, which this projection has no record of (it started later, or the cause was pruned)`;
    return { origin: 'unknown', chain: [], text, root: text };
  }
  // Locked through MCL_FUTURE: the mapping is explained by the mlockall that set def_flags.
  const root = cause.defTag ? (p.lockCauses.get(cause.defTag) ?? cause) : cause;
  // Own: this task did it during its life, or another thread of its group did (they share the mm).
  const own = root.pid === task.pid ? root.seq >= (record?.createdSeq ?? 0) : sameGroup(task, root.pid);
  const rootLink: ChainLink = { seq: root.seq, pid: root.pid, what: 'locked', call: callText(root), ...(root.comm ? { comm: root.comm } : {}) };
  const via = cause.defTag ? `${callText(cause)} at event ${cause.seq} while MCL_FUTURE was set` : `${callText(cause)} at event ${cause.seq}`;
  const viaOp = cause !== root ? { via: callText(cause).replace(/ of .*$/, '') } : {};
  if (own) {
    const rootText = `locked by its own ${callText(root)} at event ${root.seq}`;
    const text = root === cause ? rootText : `locked by its own ${via}, set by ${callText(root)} at event ${root.seq}`;
    return { origin: 'own', chain: [rootLink], text, root: rootText, ...viaOp };
  }
  const links = chainTo(record, root.pid, root.seq) ?? [];
  const chain = [...links, rootLink];
  const rootText = `inherited: ${chain.map(linkText).join('; ')}`;
  const text = rootText + (cause !== root ? ` (this range was locked by ${via})` : '');
  return { origin: 'inherited', chain, text, root: rootText, ...viaOp };
}

/** Why is this process's memory locked? Every locked range with the event that locked it and the chain it came through. */
export function explain(p: HostProjection, pid: number): Explanation | null {
  const task = p.host?.tasks.get(pid);
  if (!task) return null;
  const record = p.lineage.get(pid);
  const mm: Mm | null = task.mm;
  const limit = memlockLimitPages(task);
  const base: Explanation = {
    hostId: p.hostId,
    pid,
    seq: p.seq,
    ...(record?.comm ? { comm: record.comm } : {}),
    alive: task.alive,
    lockState: 'none',
    lockedVmPages: mm ? (mm.lockedVm < 0 ? (2n ** 64n + BigInt(mm.lockedVm)).toString() : mm.lockedVm) : 0,
    limitPages: limit === Number.POSITIVE_INFINITY ? 'unlimited' : limit,
    capIpcLock: task.capIpcLock,
    defFlags: mm ? vmFlagNames(mm.defFlags) : [],
    mclInherit: mm ? mclInheritNames(mm.mclInherit) : [],
    ranges: [],
    text: [],
  };
  if (!mm) {
    base.text.push(`pid ${pid} is a kernel thread: it has no memory map`);
    return base;
  }
  // Group locked, lockable ranges by the operation that locked them.
  const byTag = new Map<number, Array<[number, number]>>();
  const v = mm.vmas;
  for (let i = 0; i < v.n; i++) {
    const f = vmaFlags(v, i);
    if ((f & VmaFlag.LOCKED) === 0 || (f & UNLOCKABLE) !== 0) continue;
    const tag = vmaTag(v, i);
    const list = byTag.get(tag) ?? [];
    list.push([vmaStart(v, i), vmaEnd(v, i)]);
    byTag.set(tag, list);
  }
  let inherited = false;
  /** ranges with the same root, summed, and the MCL_FUTURE calls that locked them counted */
  const groups = new Map<string, { pages: number; ranges: number; via: Map<string, number> }>();
  for (const [tag, spans] of [...byTag].sort((a, b) => a[0] - b[0])) {
    const cause = p.lockCauses.get(tag);
    const prov = provenance(p, task, record, cause, tag);
    if (prov.origin === 'inherited') inherited = true;
    const g = groups.get(prov.root) ?? { pages: 0, ranges: 0, via: new Map<string, number>() };
    groups.set(prov.root, g);
    for (const [s, e] of spans) {
      base.ranges.push({ start: hex(s), end: hex(e), pages: e - s, lockedAt: tag, origin: prov.origin, chain: prov.chain, text: prov.text });
      g.pages += e - s;
      g.ranges++;
      if (prov.via) g.via.set(prov.via, (g.via.get(prov.via) ?? 0) + 1);
    }
  }
  const locked = base.ranges.reduce((n, r) => n + r.pages, 0);
  base.lockState = p.isOverLimit(pid) ? 'over-limit' : locked === 0 ? 'none' : inherited ? 'inherited' : 'own';
  const who = `pid ${pid}${record?.comm ? ` (${record.comm})` : ''}`;
  if (locked === 0) {
    base.text.push(`${who} has no locked memory (locked_vm ${pagesText(mm.lockedVm)})`);
  } else {
    base.text.push(
      `${who} has ${pagesText(locked)} locked in ${base.ranges.length} range${base.ranges.length === 1 ? '' : 's'}` +
        (mm.lockedVm !== locked ? ` (locked_vm counts ${pagesText(mm.lockedVm)})` : '') +
        `; its RLIMIT_MEMLOCK is ${limitText(task.limits.memlockCur)}${task.capIpcLock ? ', and it has CAP_IPC_LOCK' : ''}.`,
    );
    for (const [text, g] of groups) {
      const via = [...g.via].map(([op, n]) => `${op} (${n} range${n === 1 ? '' : 's'})`).join(', ');
      base.text.push(`${pagesText(g.pages)} in ${g.ranges} range${g.ranges === 1 ? '' : 's'}: ${text}.${via ? ` Mapped while MCL_FUTURE was set, by ${via}.` : ''}`);
    }
  }
  // A chain already told above is named, not repeated.
  const told = (prov: Provenance, tag: number): string => {
    if (!groups.has(prov.root)) return prov.text.replace(/^locked by/, 'set by');
    const c = p.lockCauses.get(tag);
    return `${prov.origin === 'own' ? 'its own' : 'the same'} ${c ? callText(c) : 'call'} at event ${tag}, as above`;
  };
  if (mm.defFlags & LOCK_MASK) {
    const prov = provenance(p, task, record, p.lockCauses.get(mm.defTag), mm.defTag);
    base.text.push(`New mappings will be locked too (MCL_FUTURE, def_flags ${base.defFlags.join('|')}): ${told(prov, mm.defTag)}.`);
  }
  if (mm.mclInherit) {
    const prov = provenance(p, task, record, p.lockCauses.get(mm.mclTag), mm.mclTag);
    base.text.push(`Its children will inherit its locks (${base.mclInherit.join('|')}): ${told(prov, mm.mclTag)}.`);
  }
  if (p.isOverLimit(pid)) base.text.push(`It is over its limit without CAP_IPC_LOCK (LOCKED_OVER_LIMIT): no failed call got it there.`);
  return base;
}

/** The lock state the dashboard colours a process by. */
export function lockStateOf(p: HostProjection, pid: number): LockState {
  return explain(p, pid)?.lockState ?? 'none';
}
