/**
 * Who begat whom. pids are reused, so a task is its record: the pid plus the seq of the event that
 * created it, linked to its parent's record (which outlives the parent while descendants live).
 */
export interface ExecRecord {
  seq: number;
  comm?: string;
}

export type CreatedBy = 'table' | 'fork' | 'vfork' | 'thread';

export interface TaskRecord {
  readonly pid: number;
  /** seq of the fork/vfork/clone that created it; 0 for the starting process table */
  readonly createdSeq: number;
  readonly createdBy: CreatedBy;
  readonly parent: TaskRecord | null;
  comm: string | undefined;
  /**
   * Its execs, oldest first: read them with execsOf, add one with recordExec. Most tasks never exec
   * (undefined) and nearly all the others exec once, reporting the comm they keep: that exec is held
   * as its bare seq (its comm is the record's), which saves an array and an ExecRecord — ~96 of the
   * ~1,000 bytes a live process costs the projection. A second exec, or one without a comm, makes it
   * a list.
   */
  execs: number | ExecRecord[] | undefined;
  /** seq at which it died; 0 while alive */
  exitSeq: number;
}

export function tableRecord(pid: number, comm: string | undefined): TaskRecord {
  return { pid, createdSeq: 0, createdBy: 'table', parent: null, comm, execs: undefined, exitSeq: 0 };
}

export function childRecord(parent: TaskRecord | undefined, pid: number, seq: number, createdBy: CreatedBy): TaskRecord {
  return { pid, createdSeq: seq, createdBy, parent: parent ?? null, comm: parent?.comm, execs: undefined, exitSeq: 0 };
}

/** The record's execs, oldest first. */
export function execsOf(record: TaskRecord): readonly ExecRecord[] {
  const e = record.execs;
  if (e === undefined) return [];
  if (typeof e !== 'number') return e;
  return [record.comm === undefined ? { seq: e } : { seq: e, comm: record.comm }];
}

/** An exec by the task at `seq`, reporting `comm` when the host knew it: the task takes that comm. */
export function recordExec(record: TaskRecord, seq: number, comm: string | undefined): void {
  const e = record.execs;
  const exec: ExecRecord = comm ? { seq, comm } : { seq };
  if (e === undefined) record.execs = comm ? seq : [exec];
  // Array literals, not push(): a literal is allocated at its exact size, push() reserves 17 slots.
  else if (typeof e === 'number') record.execs = [execsOf(record)[0]!, exec];
  else e.push(exec);
  if (comm) record.comm = comm;
}

/** The chain from `record` up to (and including) the first ancestor for which `stop` holds. */
export function ancestry(record: TaskRecord, stop: (r: TaskRecord) => boolean): TaskRecord[] {
  const chain: TaskRecord[] = [record];
  let r: TaskRecord | null = record;
  while (r && !stop(r)) {
    r = r.parent;
    if (r) chain.push(r);
  }
  return chain;
}

/** A deep copy of the records reachable from `map`, parents included, sharing nothing with it. */
export function cloneLineage(map: ReadonlyMap<number, TaskRecord>): Map<number, TaskRecord> {
  const copies = new Map<TaskRecord, TaskRecord>();
  const copy = (r: TaskRecord | null): TaskRecord | null => {
    if (!r) return null;
    let c = copies.get(r);
    if (c) return c;
    c = { ...r, parent: copy(r.parent), execs: Array.isArray(r.execs) ? [...r.execs] : r.execs };
    copies.set(r, c);
    return c;
  };
  const out = new Map<number, TaskRecord>();
  for (const [pid, r] of map) out.set(pid, copy(r)!);
  return out;
}
