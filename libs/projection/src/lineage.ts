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
  /** its execs, oldest first; undefined until the first (most tasks never exec: no array for them) */
  execs: ExecRecord[] | undefined;
  /** seq at which it died; 0 while alive */
  exitSeq: number;
}

export function tableRecord(pid: number, comm: string | undefined): TaskRecord {
  return { pid, createdSeq: 0, createdBy: 'table', parent: null, comm, execs: undefined, exitSeq: 0 };
}

export function childRecord(parent: TaskRecord | undefined, pid: number, seq: number, createdBy: CreatedBy): TaskRecord {
  return { pid, createdSeq: seq, createdBy, parent: parent ?? null, comm: parent?.comm, execs: undefined, exitSeq: 0 };
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
    c = { ...r, parent: copy(r.parent), execs: r.execs ? [...r.execs] : undefined };
    copies.set(r, c);
    return c;
  };
  const out = new Map<number, TaskRecord>();
  for (const [pid, r] of map) out.set(pid, copy(r)!);
  return out;
}
