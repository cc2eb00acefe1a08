import type { Finding, FindingCode } from '@lockline/audit';
import { countersDiffer, isOverHostShare, isOverLimit, limitText, pagesText } from '@lockline/audit';
import type { EventOf, HostEvent, SyscallEvent } from '@lockline/events';
import { initialProcessFromTableEntry, opFromSyscallEvent } from '@lockline/events';
import type { HostState, Mm, OpResult, ProfileName, Task } from '@lockline/kernel';
import { DEF_LOCKED, addProcess, applyOp, cloneHostState, createHost, memlockLimitPages, reapTask } from '@lockline/kernel';
import type { TaskRecord } from './lineage.js';
import { childRecord, cloneLineage, recordExec, tableRecord } from './lineage.js';
import { stateHash } from './stateHash.js';

export interface ProjectionOptions {
  /** The auditor's profile; by default the one the host booted with. */
  profile?: ProfileName;
  /** HOST_LOCKED_OVER_SHARE: locked memory above this share of the host's RAM (default 0.5). */
  hostLockedShare?: number;
}

/** Why a range got VM_LOCKED: the operation (by seq) and, for MCL_FUTURE locking, where def_flags came from. */
export interface LockCause {
  seq: number;
  pid: number;
  op: 'mlockall' | 'mlock' | 'mlock2' | 'mmap' | 'brk' | 'exec';
  flags?: string[];
  /** tag (seq) of the mlockall whose MCL_FUTURE made this mapping locked; 0 when it was explicit */
  defTag: number;
  comm?: string;
}

/** An event that could not be applied, with why. */
export interface SetAside {
  seq: number | null;
  type: string;
  reason: string;
}

const TWO_64 = 2n ** 64n;
/** how many set-aside events are kept with their reasons (the rest are only counted) */
const MAX_SET_ASIDE = 1000;
const wrapped = (n: number): string => (TWO_64 + BigInt(n)).toString();

/**
 * The fold of one host boot's events into its state, audited as it goes. It does not trust the
 * host: every syscall is applied to the model of the auditor's profile and the reported result and
 * counters are compared with the model's. Invalid or inapplicable events never stop the fold: they
 * are set aside with the reason.
 */
export class HostProjection {
  readonly hostId: string;
  readonly bootId: string;
  readonly options: Required<ProjectionOptions> | Omit<Required<ProjectionOptions>, 'profile'>;
  /** the profile the host booted with, and the one the model audits with */
  hostProfile: ProfileName | undefined;
  auditProfile: ProfileName | undefined;
  ramPages = 0;
  host: HostState | null = null;
  /** seq of the last event applied */
  seq = 0;
  /** events applied (not duplicates, not set aside) */
  applied = 0;
  duplicates = 0;
  lineage = new Map<number, TaskRecord>();
  lockCauses = new Map<number, LockCause>();
  findings: Finding[] = [];
  setAside: SetAside[] = [];
  /** missing seq ranges [from, to] after gaps */
  gaps: Array<[number, number]> = [];
  /** seq of the first gap whose state no sample has confirmed since; null when certain */
  uncertainSince: number | null = null;
  private overLimit = new Set<number>();
  /** pids whose sampled counters disagree: reported once per episode, until a sample agrees */
  private drifting = new Set<number>();
  /** pids the host reports activity for but the projection never saw created (events missing) */
  private unknown = new Set<number>();
  /** set-aside events beyond the first MAX_SET_ASIDE kept */
  setAsideDropped = 0;
  private underflowed = new Set<number>();
  private counted = new Map<Mm, number>();
  lockedPages = 0;
  private overShare = false;
  /** lockCauses.size after the last prune */
  private prunedAt = 0;

  constructor(hostId: string, bootId: string, options: ProjectionOptions = {}) {
    this.hostId = hostId;
    this.bootId = bootId;
    this.options = { hostLockedShare: options.hostLockedShare ?? 0.5, ...(options.profile ? { profile: options.profile } : {}) };
    this.auditProfile = options.profile;
  }

  /** Fold one event of this host boot. */
  apply(event: HostEvent): void {
    if (event.hostId !== this.hostId || event.bootId !== this.bootId) {
      this.aside(event, `belongs to ${event.hostId}/${event.bootId}, not ${this.hostId}/${this.bootId}`);
      return;
    }
    const seq = event.seq;
    if (seq <= this.seq) {
      if (this.gaps.some(([a, b]) => seq >= a && seq <= b)) {
        this.aside(event, `arrived after seq ${this.seq}: out of order, its place was already recorded as a gap`);
      } else {
        this.duplicates++;
        this.find('DUPLICATE_EVENT', null, seq, `event seq ${seq} (${event.type}) was received again; the copy is ignored`, { id: event.id });
      }
      return;
    }
    if (seq > this.seq + 1) {
      const from = this.seq + 1;
      this.gaps.push([from, seq - 1]);
      this.uncertainSince ??= from;
      const n = seq - from;
      this.find(
        'SEQUENCE_GAP',
        null,
        seq,
        `${n} event${n === 1 ? '' : 's'} missing before seq ${seq} (seq ${from}${n > 1 ? `–${seq - 1}` : ''}); the state after it is uncertain until a counter sample agrees`,
        { missingFrom: from, missingTo: seq - 1 },
      );
    }
    this.seq = seq;
    this.applied++;
    // Forget causes no live lock refers to any more, from time to time, so memory follows the live state.
    if (this.lockCauses.size > this.prunedAt * 2 + 512) {
      this.pruneCauses();
      this.prunedAt = this.lockCauses.size;
    }
    switch (event.type) {
      case 'host.booted':
        this.booted(event);
        return;
      case 'process.table':
        this.processTable(event);
        return;
      case 'process.exited':
        this.exited(event);
        return;
      case 'counters.sampled':
        this.sampled(event);
        return;
      default:
        this.syscall(event);
    }
  }

  /** Record an event that could not be folded (parse failures come here too, from the reader). */
  aside(event: { seq?: number; type?: string } | null, reason: string): void {
    if (this.setAside.length >= MAX_SET_ASIDE) {
      this.setAsideDropped++;
      return;
    }
    this.setAside.push({ seq: event?.seq ?? null, type: event?.type ?? 'unknown', reason });
  }

  private booted(event: EventOf<'host.booted'>): void {
    this.hostProfile = event.data.profile;
    this.auditProfile ??= event.data.profile;
    this.ramPages = event.data.ramPages;
  }

  private processTable(event: EventOf<'process.table'>): void {
    const profile = this.auditProfile ?? this.hostProfile;
    if (!profile) {
      this.aside(event, 'a process table before host.booted: the profile is unknown');
      return;
    }
    this.host ??= createHost(profile, []);
    for (const entry of event.data.processes) {
      try {
        const task = addProcess(this.host, initialProcessFromTableEntry(entry));
        this.lineage.set(entry.pid, tableRecord(entry.pid, entry.comm));
        this.afterChange(task, null, event.seq);
      } catch (err) {
        this.aside(event, `process ${entry.pid}: ${(err as Error).message}`);
      }
    }
  }

  private syscall(event: SyscallEvent): void {
    const host = this.host;
    if (!host) {
      this.aside(event, 'no process table yet: the host state is unknown');
      return;
    }
    const seq = event.seq;
    const reported = event.data.result;
    const op = opFromSyscallEvent(event);
    // Place a mapping where the host did: the model's own choice of a free address may differ.
    if (op.op === 'mmap' && reported.errno === null && 'addr' in reported && reported.addr !== undefined) op.addr = reported.addr;
    const task = host.tasks.get(op.pid);
    if ((!task || !task.alive) && reported.errno !== 'ESRCH') {
      // The host has a process the projection never saw created: its creation was not received.
      if (!this.unknown.has(op.pid)) {
        this.unknown.add(op.pid);
        this.find(
          'RESULT_DIVERGENCE',
          op.pid,
          seq,
          `pid ${op.pid} acts (${event.type.slice(8)}), but the projection has no live process ${op.pid}` +
            (this.uncertainSince !== null ? ` (events are missing since seq ${this.uncertainSince})` : ''),
          { op: event.type.slice(8), reported: { errno: reported.errno, signal: reported.signal ?? null }, model: { errno: 'ESRCH', signal: null } },
        );
      }
      this.aside(event, `pid ${op.pid} is not a live process of the projection`);
      return;
    }
    const mmBefore = task?.mm ?? null;
    const defBefore = mmBefore?.defFlags ?? 0;
    const defTagBefore = mmBefore?.defTag ?? 0;
    const result = applyOp(host, op, seq);
    this.compare(event, result);
    if (!task) return;
    const record = this.lineage.get(op.pid);
    let child: Task | undefined;
    switch (op.op) {
      case 'fork':
      case 'vfork':
      case 'clone':
        if (result.errno === null) {
          child = host.tasks.get(op.child);
          const kind = op.op === 'clone' ? (op.shareVm ? 'thread' : 'fork') : op.op;
          this.lineage.set(op.child, childRecord(record, op.child, seq, kind));
        }
        break;
      case 'exec':
        if (record && result.errno === null) {
          recordExec(record, seq, (event as EventOf<'syscall.exec'>).data.comm);
          if (task.mm && task.mm.defFlags & DEF_LOCKED) this.cause(seq, op.pid, 'exec', task.mm.defTag, record.comm);
        }
        break;
      case 'mlockall':
        if (result.errno === null) this.lockCauses.set(seq, { seq, pid: op.pid, op: 'mlockall', flags: [...op.flags], defTag: 0, ...(record?.comm ? { comm: record.comm } : {}) });
        break;
      case 'mlock':
      case 'mlock2':
        // ENOMEM and EAGAIN can leave part of the range locked (holes, PROT_NONE): keep the cause.
        if (result.errno === null || result.errno === 'ENOMEM' || result.errno === 'EAGAIN') this.cause(seq, op.pid, op.op, 0, record?.comm);
        break;
      case 'mmap':
        if (result.errno === null && (op.flags.includes('MAP_LOCKED') || defBefore & DEF_LOCKED)) {
          this.cause(seq, op.pid, 'mmap', op.flags.includes('MAP_LOCKED') ? 0 : defTagBefore, record?.comm);
        }
        break;
      case 'brk':
        if (result.errno === null && defBefore & DEF_LOCKED) this.cause(seq, op.pid, 'brk', defTagBefore, record?.comm);
        break;
      default:
    }
    if (result.signal && record) record.exitSeq = seq;
    this.afterChange(task, mmBefore, seq);
    if (child) this.afterChange(child, null, seq);
  }

  private cause(seq: number, pid: number, op: LockCause['op'], defTag: number, comm: string | undefined): void {
    const c: LockCause = { seq, pid, op, defTag };
    if (comm) c.comm = comm;
    this.lockCauses.set(seq, c);
  }

  private compare(event: SyscallEvent, model: OpResult): void {
    const r = event.data.result;
    if (r.errno === model.errno && (r.signal ?? null) === (model.signal ?? null)) return;
    const show = (x: { errno: string | null; signal?: string | undefined }): string => x.signal ?? x.errno ?? 'success';
    this.find(
      'RESULT_DIVERGENCE',
      event.data.pid,
      event.seq,
      `${event.type.slice(8)} by pid ${event.data.pid} was reported as ${show(r)}, but ${this.auditProfile} gives ${show(model)}`,
      { op: event.type.slice(8), reported: { errno: r.errno, signal: r.signal ?? null }, model: { errno: model.errno, signal: model.signal ?? null } },
    );
  }

  private exited(event: EventOf<'process.exited'>): void {
    const host = this.host;
    if (!host) {
      this.aside(event, 'no process table yet: the host state is unknown');
      return;
    }
    const { pid } = event.data;
    const task = host.tasks.get(pid);
    if (!task) {
      this.aside(event, `pid ${pid} is not a known process`);
      return;
    }
    const mm = task.mm;
    if (task.alive) applyOp(host, { op: 'exit', pid }, event.seq);
    const record = this.lineage.get(pid);
    if (record && record.exitSeq === 0) record.exitSeq = event.seq;
    this.afterChange(task, mm, event.seq);
    // release_task(): a reaped process leaves only its lineage record, kept by its descendants.
    reapTask(host, pid);
    this.lineage.delete(pid);
    this.overLimit.delete(pid);
    this.drifting.delete(pid);
  }

  private sampled(event: EventOf<'counters.sampled'>): void {
    const host = this.host;
    if (!host) {
      this.aside(event, 'no process table yet: the host state is unknown');
      return;
    }
    let agree = true;
    for (const s of event.data.samples) {
      const task = host.tasks.get(s.pid);
      if (!task || !task.alive || !task.mm) {
        agree = false;
        if (this.drifting.has(s.pid) || this.unknown.has(s.pid)) continue;
        this.drifting.add(s.pid);
        this.find('ACCOUNTING_DRIFT', s.pid, event.seq, `the host samples pid ${s.pid}, which the projection has no live process for`, {
          sampled: { lockedVmPages: s.lockedVmPages, totalVmPages: s.totalVmPages },
        });
        continue;
      }
      const mm = task.mm;
      if (!countersDiffer(mm, s.lockedVmPages, s.totalVmPages)) {
        this.drifting.delete(s.pid);
      } else {
        agree = false;
        if (this.drifting.has(s.pid)) continue;
        this.drifting.add(s.pid);
        const projected = mm.lockedVm < 0 ? wrapped(mm.lockedVm) : mm.lockedVm;
        this.find(
          'ACCOUNTING_DRIFT',
          s.pid,
          event.seq,
          `pid ${s.pid}: the host counts ${s.lockedVmPages} locked / ${s.totalVmPages} total pages, the projection ${projected} / ${mm.totalVm}` +
            (this.uncertainSince !== null ? ` (events are missing since seq ${this.uncertainSince})` : ''),
          { sampled: { lockedVmPages: s.lockedVmPages, totalVmPages: s.totalVmPages }, projected: { lockedVmPages: projected, totalVmPages: mm.totalVm } },
        );
      }
    }
    if (agree && this.uncertainSince !== null) this.uncertainSince = null;
  }

  /** Audit what an event may have changed: the acting task's group, its mm before and after. */
  private afterChange(task: Task, mmBefore: Mm | null, seq: number): void {
    if (mmBefore && mmBefore !== task.mm) this.recount(mmBefore);
    const mm = task.mm;
    if (mm) {
      this.recount(mm);
      if (mm.lockedVm < 0 && !this.underflowed.has(mm.id)) {
        this.underflowed.add(mm.id);
        this.find(
          'LOCKED_VM_UNDERFLOW',
          task.pid,
          seq,
          `pid ${task.pid}: locked_vm went below zero and wrapped to ${wrapped(mm.lockedVm)} pages (bug B7: exec locked the stack's argument pages without counting them)`,
          { lockedVmPages: wrapped(mm.lockedVm) },
        );
      }
    }
    const group = task.limits.threads;
    if (task.alive && group) for (const t of group) this.checkLimit(t, seq);
    else this.checkLimit(task, seq);
    this.checkHostShare(seq);
  }

  private checkLimit(task: Task, seq: number): void {
    const over = isOverLimit(task);
    if (!over) {
      this.overLimit.delete(task.pid);
      return;
    }
    if (this.overLimit.has(task.pid)) return;
    this.overLimit.add(task.pid);
    const mm = task.mm!;
    const limit = memlockLimitPages(task);
    this.find(
      'LOCKED_OVER_LIMIT',
      task.pid,
      seq,
      `pid ${task.pid}${this.commOf(task.pid)} holds ${pagesText(mm.lockedVm)} locked against its RLIMIT_MEMLOCK of ${limitText(task.limits.memlockCur)}, without CAP_IPC_LOCK`,
      { lockedVmPages: mm.lockedVm, limitPages: limit },
    );
  }

  /** Keep the host's locked total (Σ locked_vm over live mms) up to date for one mm. */
  private recount(mm: Mm): void {
    const before = this.counted.get(mm) ?? 0;
    const now = mm.users > 0 && mm.lockedVm > 0 ? mm.lockedVm : 0;
    if (now === before) return;
    this.lockedPages += now - before;
    if (now === 0) this.counted.delete(mm);
    else this.counted.set(mm, now);
  }

  private checkHostShare(seq: number): void {
    const over = isOverHostShare(this.lockedPages, this.ramPages, this.options.hostLockedShare);
    if (over && !this.overShare) {
      this.find(
        'HOST_LOCKED_OVER_SHARE',
        null,
        seq,
        `the host's processes lock ${pagesText(this.lockedPages)}, over ${Math.round(this.options.hostLockedShare * 100)}% of its ${pagesText(this.ramPages)} of RAM`,
        { lockedPages: this.lockedPages, ramPages: this.ramPages, share: this.options.hostLockedShare },
      );
    }
    this.overShare = over;
  }

  private commOf(pid: number): string {
    const comm = this.lineage.get(pid)?.comm;
    return comm ? ` (${comm})` : '';
  }

  private find(code: FindingCode, pid: number | null, seq: number, message: string, details?: Record<string, unknown>): void {
    const f: Finding = { code, hostId: this.hostId, bootId: this.bootId, pid, seq, message };
    if (details) f.details = details;
    this.findings.push(f);
  }

  /** The state hash: the model's state (tasks, mms, VMAs, lock tags) at this seq. */
  stateHash(): string {
    return this.host ? stateHash(this.host, [this.seq]) : stateHash(createHost('linux-modern', []), [this.seq]);
  }

  /** Causes no live lock refers to any more are forgotten (called from time to time). */
  pruneCauses(): void {
    if (!this.host) return;
    const live = new Set<number>();
    for (const t of this.host.tasks.values()) {
      const mm = t.mm;
      if (!mm) continue;
      live.add(mm.defTag).add(mm.mclTag).add(mm.createdTag);
      const v = mm.vmas;
      for (let i = 0; i < v.n; i++) live.add(v.d[i * 4 + 3]!);
    }
    for (const seq of this.lockCauses.keys()) if (!live.has(seq)) this.lockCauses.delete(seq);
  }

  /** An independent copy (a snapshot). */
  clone(): HostProjection {
    const c = new HostProjection(this.hostId, this.bootId, this.options);
    c.hostProfile = this.hostProfile;
    c.auditProfile = this.auditProfile;
    c.ramPages = this.ramPages;
    c.host = this.host ? cloneHostState(this.host) : null;
    c.seq = this.seq;
    c.applied = this.applied;
    c.duplicates = this.duplicates;
    c.lineage = cloneLineage(this.lineage);
    c.lockCauses = new Map(this.lockCauses);
    c.findings = [...this.findings];
    c.setAside = [...this.setAside];
    c.gaps = this.gaps.map(([a, b]) => [a, b]);
    c.uncertainSince = this.uncertainSince;
    c.overLimit = new Set(this.overLimit);
    c.drifting = new Set(this.drifting);
    c.unknown = new Set(this.unknown);
    c.setAsideDropped = this.setAsideDropped;
    c.underflowed = new Set(this.underflowed);
    c.overShare = this.overShare;
    // The host-wide locked total is keyed by mm object: rebuild it over the copy's mms.
    c.lockedPages = 0;
    if (c.host) {
      const seen = new Set<Mm>();
      for (const t of c.host.tasks.values()) {
        if (t.mm && t.alive && !seen.has(t.mm)) {
          seen.add(t.mm);
          c.recount(t.mm);
        }
      }
    }
    return c;
  }

  /** Is the pid currently over its limit (LOCKED_OVER_LIMIT holds)? */
  isOverLimit(pid: number): boolean {
    return this.overLimit.has(pid);
  }
}
