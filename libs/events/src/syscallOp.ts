import type { Op, OpResult } from '@lockline/kernel';
import type { EventData, EventOf, SyscallEventType, SyscallOpName, SyscallResult } from './events.js';
import { copyImage, rlimitFromWire, rlimitToWire } from './vocabulary.js';

/**
 * Between the model's operations and the `syscall.*` facts hosts report: the simulator turns what
 * the model did into an event body; the projection turns an event back into the operation to replay.
 */

export type SyscallOp = Extract<Op, { op: SyscallOpName }>;

/** A `syscall.*` event without its envelope. */
export type SyscallEventBody = { [T in SyscallEventType]: Pick<EventOf<T>, 'type' | 'data'> }[SyscallEventType];

/** What an exec event may say beyond the model's operation. */
export interface ExecDetails {
  /** The program name (the kernel's `comm`). */
  comm?: string;
  /** The path passed to execve. */
  path?: string;
}

function resultData(result: OpResult): SyscallResult {
  return result.signal === undefined ? { errno: result.errno } : { errno: result.errno, signal: result.signal };
}

/** mmap and mremap report the address they returned (when the model gives one). */
function withAddr(result: OpResult): EventData<'syscall.mmap'>['result'] {
  const data: EventData<'syscall.mmap'>['result'] = resultData(result);
  if (result.addr !== undefined) data.addr = result.addr;
  return data;
}

/**
 * The body of the `syscall.*` event reporting `op` and what it returned. `result.note` (a model-only
 * remark) is not a fact a host reports and is dropped; so are `addr`/`brk` on ops that return neither.
 *
 * Keys come in the schema's order (EVENT_DATA_SCHEMAS): the JSON of the event then reads back as
 * exactly what parseEvent makes of it, so ingest stores the line as it came instead of serialising
 * the event again (parseEventLine).
 */
export function syscallEventBody(op: SyscallOp, result: OpResult, exec: ExecDetails = {}): SyscallEventBody {
  const { pid } = op;
  switch (op.op) {
    case 'fork':
    case 'vfork':
      return { type: `syscall.${op.op}`, data: { pid, child: op.child, result: resultData(result) } };
    case 'clone':
      return { type: 'syscall.clone', data: { pid, child: op.child, shareVm: op.shareVm, result: resultData(result) } };
    case 'exec': {
      const image = copyImage(op.image);
      const { comm, path } = exec;
      const res = resultData(result);
      const data: EventData<'syscall.exec'> =
        comm === undefined
          ? path === undefined
            ? { pid, image, result: res }
            : { pid, image, path, result: res }
          : path === undefined
            ? { pid, image, comm, result: res }
            : { pid, image, comm, path, result: res };
      return { type: 'syscall.exec', data };
    }
    case 'mmap': {
      const { addr, length, prot } = op;
      const flags = [...op.flags];
      const res = withAddr(result);
      const data: EventData<'syscall.mmap'> = addr === undefined ? { pid, length, prot, flags, result: res } : { pid, addr, length, prot, flags, result: res };
      return { type: 'syscall.mmap', data };
    }
    case 'brk': {
      const res: EventData<'syscall.brk'>['result'] = resultData(result);
      if (result.brk !== undefined) res.brk = result.brk;
      const { addr, increment } = op;
      const data: EventData<'syscall.brk'> =
        addr === undefined
          ? increment === undefined
            ? { pid, result: res }
            : { pid, increment, result: res }
          : increment === undefined
            ? { pid, addr, result: res }
            : { pid, addr, increment, result: res };
      return { type: 'syscall.brk', data };
    }
    case 'munmap':
    case 'mlock':
    case 'munlock':
      return { type: `syscall.${op.op}`, data: { pid, addr: op.addr, length: op.length, result: resultData(result) } };
    case 'mlock2':
      return { type: 'syscall.mlock2', data: { pid, addr: op.addr, length: op.length, flags: [...op.flags], result: resultData(result) } };
    case 'mlockall':
      return { type: 'syscall.mlockall', data: { pid, flags: [...op.flags], result: resultData(result) } };
    case 'munlockall':
      return { type: 'syscall.munlockall', data: { pid, result: resultData(result) } };
    case 'setrlimit':
      return { type: 'syscall.setrlimit', data: { pid, cur: rlimitToWire(op.cur), max: rlimitToWire(op.max), result: resultData(result) } };
    case 'capset': {
      const { capIpcLock, capSysResource } = op;
      const res = resultData(result);
      const data: EventData<'syscall.capset'> =
        capIpcLock === undefined
          ? capSysResource === undefined
            ? { pid, result: res }
            : { pid, capSysResource, result: res }
          : capSysResource === undefined
            ? { pid, capIpcLock, result: res }
            : { pid, capIpcLock, capSysResource, result: res };
      return { type: 'syscall.capset', data };
    }
    case 'madvise':
      return { type: 'syscall.madvise', data: { pid, addr: op.addr, length: op.length, advice: op.advice, result: resultData(result) } };
    case 'mremap':
      return {
        type: 'syscall.mremap',
        data: { pid, addr: op.addr, oldLength: op.oldLength, newLength: op.newLength, result: withAddr(result) },
      };
    case 'growstack':
      return { type: 'syscall.growstack', data: { pid, length: op.length, result: resultData(result) } };
    default: {
      const _exhaustive: never = op;
      return _exhaustive;
    }
  }
}

/** The operation a `syscall.*` event reports, for the model to replay. */
export function opFromSyscallEvent(event: SyscallEventBody): SyscallOp {
  switch (event.type) {
    case 'syscall.fork':
    case 'syscall.vfork':
      return { op: event.type === 'syscall.fork' ? 'fork' : 'vfork', pid: event.data.pid, child: event.data.child };
    case 'syscall.clone':
      return { op: 'clone', pid: event.data.pid, child: event.data.child, shareVm: event.data.shareVm };
    case 'syscall.exec':
      return { op: 'exec', pid: event.data.pid, image: copyImage(event.data.image) };
    case 'syscall.mmap': {
      const { pid, addr, length, prot, flags } = event.data;
      return addr === undefined ? { op: 'mmap', pid, length, prot, flags: [...flags] } : { op: 'mmap', pid, addr, length, prot, flags: [...flags] };
    }
    case 'syscall.munmap':
      return { op: 'munmap', pid: event.data.pid, addr: event.data.addr, length: event.data.length };
    case 'syscall.brk': {
      const { pid, addr, increment } = event.data;
      const op: Extract<SyscallOp, { op: 'brk' }> = { op: 'brk', pid };
      if (addr !== undefined) op.addr = addr;
      if (increment !== undefined) op.increment = increment;
      return op;
    }
    case 'syscall.mlock':
      return { op: 'mlock', pid: event.data.pid, addr: event.data.addr, length: event.data.length };
    case 'syscall.mlock2':
      return { op: 'mlock2', pid: event.data.pid, addr: event.data.addr, length: event.data.length, flags: [...event.data.flags] };
    case 'syscall.munlock':
      return { op: 'munlock', pid: event.data.pid, addr: event.data.addr, length: event.data.length };
    case 'syscall.mlockall':
      return { op: 'mlockall', pid: event.data.pid, flags: [...event.data.flags] };
    case 'syscall.munlockall':
      return { op: 'munlockall', pid: event.data.pid };
    case 'syscall.setrlimit':
      return { op: 'setrlimit', pid: event.data.pid, cur: rlimitFromWire(event.data.cur), max: rlimitFromWire(event.data.max) };
    case 'syscall.capset': {
      const { pid, capIpcLock, capSysResource } = event.data;
      const op: Extract<SyscallOp, { op: 'capset' }> = { op: 'capset', pid };
      if (capIpcLock !== undefined) op.capIpcLock = capIpcLock;
      if (capSysResource !== undefined) op.capSysResource = capSysResource;
      return op;
    }
    case 'syscall.madvise':
      return { op: 'madvise', pid: event.data.pid, addr: event.data.addr, length: event.data.length, advice: event.data.advice };
    case 'syscall.mremap':
      return { op: 'mremap', pid: event.data.pid, addr: event.data.addr, oldLength: event.data.oldLength, newLength: event.data.newLength };
    case 'syscall.growstack':
      return { op: 'growstack', pid: event.data.pid, length: event.data.length };
    default: {
      const _exhaustive: never = event;
      return _exhaustive;
    }
  }
}

/** The result a `syscall.*` event reports, in the model's terms (to compare with what the model predicts). */
export function opResultFromSyscallEvent(event: SyscallEventBody): OpResult {
  const r: { errno: OpResult['errno']; signal?: OpResult['signal']; addr?: number; brk?: number } = event.data.result;
  const out: OpResult = { errno: r.errno };
  if (r.signal !== undefined) out.signal = r.signal;
  if (r.addr !== undefined) out.addr = r.addr;
  if (r.brk !== undefined) out.brk = r.brk;
  return out;
}
