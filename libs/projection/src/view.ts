import type { Finding } from '@lockline/audit';
import { PAGE, VmaFlag, lockedVmValue, mclInheritNames, memlockLimitPages, vmFlagNames, vmaEnd, vmaFlags, vmaStart, vmaTag } from '@lockline/kernel';
import type { LockState } from './explain.js';
import { explain } from './explain.js';
import type { HostProjection } from './hostProjection.js';
import { execsOf } from './lineage.js';

/** One process as replay, diff and the API show it. */
export interface ProcessView {
  pid: number;
  ppid: number;
  comm?: string;
  alive: boolean;
  /** seq of the event that created it (0: the starting process table) */
  createdSeq: number;
  createdBy: string;
  /** execs, oldest first */
  execs: Array<{ seq: number; comm?: string }>;
  /** the mm's id; processes sharing an mm (threads, vfork) show the same one */
  mm: string | null;
  lockedVmPages: number | string;
  totalVmPages: number;
  defFlags: string[];
  mclInherit: string[];
  capIpcLock: boolean;
  rlimitMemlockPages: number | 'unlimited';
  lockState: LockState;
  vmaCount: number;
  children: number[];
}

export interface HostView {
  hostId: string;
  bootId: string;
  seq: number;
  stateHash: string;
  profile: string | null;
  hostProfile: string | null;
  uncertainSince: number | null;
  lockedPages: number;
  findingsByCode: Record<string, number>;
  processes: ProcessView[];
}

/** Every process (or only `only`), in pid order. */
export function processViews(p: HostProjection, only?: readonly number[]): ProcessView[] {
  const host = p.host;
  if (!host) return [];
  const views: ProcessView[] = [];
  const children = new Map<number, number[]>();
  for (const t of host.tasks.values()) {
    const list = children.get(t.ppid) ?? [];
    list.push(t.pid);
    children.set(t.ppid, list);
  }
  const pids = (only ? only.filter((pid) => host.tasks.has(pid)) : [...host.tasks.keys()]).sort((a, b) => a - b);
  for (const pid of pids) {
    const t = host.tasks.get(pid)!;
    const record = p.lineage.get(pid);
    const mm = t.mm;
    const limit = memlockLimitPages(t);
    const v: ProcessView = {
      pid,
      ppid: t.ppid,
      ...(record?.comm ? { comm: record.comm } : {}),
      alive: t.alive,
      createdSeq: record?.createdSeq ?? 0,
      createdBy: record?.createdBy ?? 'table',
      execs: (record ? execsOf(record) : []).map((e) => ({ seq: e.seq, ...(e.comm ? { comm: e.comm } : {}) })),
      mm: mm ? String(mm.id) : null,
      lockedVmPages: mm ? lockedVmValue(mm.lockedVm) : 0,
      totalVmPages: mm?.totalVm ?? 0,
      defFlags: mm ? vmFlagNames(mm.defFlags) : [],
      mclInherit: mm ? mclInheritNames(mm.mclInherit) : [],
      capIpcLock: t.capIpcLock,
      rlimitMemlockPages: limit === Number.POSITIVE_INFINITY ? 'unlimited' : limit,
      lockState: explain(p, pid)?.lockState ?? 'none',
      vmaCount: mm?.vmas.n ?? 0,
      children: [],
    };
    views.push(v);
  }
  for (const v of views) v.children = (children.get(v.pid) ?? []).sort((a, b) => a - b);
  return views;
}

/** One VMA of a process's mm, as the API shows it. */
export interface VmaView {
  /** byte addresses, hex: `[start, end)` */
  start: string;
  end: string;
  pages: number;
  /** protection and the lock and special bits set on it: read, write, exec, shared, VM_LOCKED … */
  flags: string[];
  /** seq of the event that set VM_LOCKED on it (here or in an ancestor's mm it was copied from), or null */
  lockedAt: number | null;
}

const hex = (page: number): string => `0x${(page * PAGE).toString(16)}`;
const VMA_FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [VmaFlag.READ, 'read'],
  [VmaFlag.WRITE, 'write'],
  [VmaFlag.EXEC, 'exec'],
  [VmaFlag.SHARED, 'shared'],
  [VmaFlag.LOCKED, 'VM_LOCKED'],
  [VmaFlag.LOCKONFAULT, 'VM_LOCKONFAULT'],
  [VmaFlag.SPECIAL, 'special'],
  [VmaFlag.GROWSDOWN, 'VM_GROWSDOWN'],
  [VmaFlag.DONTCOPY, 'VM_DONTCOPY'],
  [VmaFlag.DROPPABLE, 'VM_DROPPABLE'],
];

/**
 * Every VMA of `pid`'s mm, in address order; null when the boot has no such process or it has no mm
 * (a kernel thread, or a process that exited).
 */
export function vmaViews(p: HostProjection, pid: number): VmaView[] | null {
  const mm = p.host?.tasks.get(pid)?.mm;
  if (mm === undefined || mm === null) return null;
  const v = mm.vmas;
  const out: VmaView[] = [];
  for (let i = 0; i < v.n; i++) {
    const flags = vmaFlags(v, i);
    const tag = vmaTag(v, i);
    out.push({
      start: hex(vmaStart(v, i)),
      end: hex(vmaEnd(v, i)),
      pages: vmaEnd(v, i) - vmaStart(v, i),
      flags: VMA_FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name),
      lockedAt: tag === 0 ? null : tag,
    });
  }
  return out;
}

export function findingsByCode(findings: readonly Finding[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of findings) out[f.code] = (out[f.code] ?? 0) + 1;
  return out;
}

/** The host's view without its process list (cheap: no per-process work). */
export function hostSummaryView(p: HostProjection): Omit<HostView, 'processes'> {
  return {
    hostId: p.hostId,
    bootId: p.bootId,
    seq: p.seq,
    stateHash: p.stateHash(),
    profile: p.auditProfile ?? null,
    hostProfile: p.hostProfile ?? null,
    uncertainSince: p.uncertainSince,
    lockedPages: p.lockedPages,
    findingsByCode: findingsByCode(p.findings),
  };
}

export function hostView(p: HostProjection): HostView {
  return { ...hostSummaryView(p), processes: processViews(p) };
}

export interface ProcessChange {
  pid: number;
  change: 'added' | 'removed' | 'changed';
  fields: Record<string, { from: unknown; to: unknown }>;
}

const DIFF_FIELDS = ['alive', 'comm', 'mm', 'lockedVmPages', 'totalVmPages', 'defFlags', 'mclInherit', 'capIpcLock', 'rlimitMemlockPages', 'lockState', 'vmaCount'] as const;

/** What changed between two views of the same host (by pid). */
export function diffViews(from: readonly ProcessView[], to: readonly ProcessView[]): ProcessChange[] {
  const a = new Map(from.map((v) => [v.pid, v]));
  const b = new Map(to.map((v) => [v.pid, v]));
  const changes: ProcessChange[] = [];
  const pids = [...new Set([...a.keys(), ...b.keys()])].sort((x, y) => x - y);
  for (const pid of pids) {
    const x = a.get(pid);
    const y = b.get(pid);
    if (!x || !y || x.createdSeq !== y.createdSeq) {
      if (x) changes.push({ pid, change: 'removed', fields: {} });
      if (y) changes.push({ pid, change: 'added', fields: {} });
      continue;
    }
    const fields: ProcessChange['fields'] = {};
    for (const f of DIFF_FIELDS) {
      if (JSON.stringify(x[f]) !== JSON.stringify(y[f])) fields[f] = { from: x[f], to: y[f] };
    }
    if (Object.keys(fields).length) changes.push({ pid, change: 'changed', fields });
  }
  return changes;
}

export function changeText(c: ProcessChange): string {
  if (c.change !== 'changed') return `pid ${c.pid} ${c.change}`;
  const parts = Object.entries(c.fields).map(([k, { from, to }]) => `${k} ${JSON.stringify(from)} → ${JSON.stringify(to)}`);
  return `pid ${c.pid}: ${parts.join(', ')}`;
}
