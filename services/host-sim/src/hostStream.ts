import { batchIdOf } from '@lockline/bus';
import type { SimHost, SimRecord } from '@lockline/sim';
import type { HostPosition } from './resumeState.js';

/** One JetStream message: consecutive records of one host boot, as JSONL. */
export interface Batch {
  readonly hostId: string;
  readonly bootId: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** `<hostId>.<bootId>.<firstSeq>`: the batch's Nats-Msg-Id (batchIdOf). */
  readonly batchId: string;
  /** One payload per record, each keeping its own event id and seq. */
  readonly lines: readonly string[];
  /** The host's record count once this batch is acked. */
  readonly endPosition: number;
}

/** A saved position that the regenerated stream does not reach (the simulator changed under it). */
export class ResumeMismatch extends Error {
  readonly code = 'RESUME_MISMATCH';
  constructor(
    readonly hostId: string,
    message: string,
  ) {
    super(`${hostId}: ${message}`);
    this.name = 'ResumeMismatch';
  }
}

const SKIP_CHUNK = 10_000;

/**
 * A batch stays under this many characters of JSONL, whatever BATCH_MAX_EVENTS says: NATS refuses a
 * message over max_payload (1 MiB by default). An event is ~300 bytes and at most a few KiB (a
 * counters.sampled of a busy host), so the count cuts first in practice; the cap depends only on the
 * payloads, so it cuts deterministically too.
 */
export const BATCH_MAX_CHARS = 512 * 1024;

/**
 * One simulated host cut into batches. Batches are cut by count (and size) only, at step boundaries,
 * and never across a boot, so the same position always gives the same batches:
 *  - by count: a batch holds up to `maxEvents` records and is closed before a step that would not fit;
 *    after a crash the batches published again are cut where they were the first time and carry the
 *    same batch ids, so JetStream drops them as duplicates;
 *  - whole steps: a duplicated or reordered event comes in one step with its twin or its overtaker,
 *    so every batch starts with a step's first record, whose seq no earlier batch of the boot started
 *    with — two different batches never share a batch id (were they to, JetStream would drop the
 *    second and its events with it). Only `maxEvents = 1` splits a step, and then the twin that may
 *    share its batch id is a duplicate itself;
 *  - one boot: the batch id names one boot, and a consumer sees a reboot at a batch's first line.
 */
export class HostStream {
  readonly hostId: string;
  readonly #sim: SimHost;
  /** Records taken from the simulator and not in a batch yet (the rest of a step). */
  #pending: SimRecord[] = [];
  /** Records handed out in batches (acked or not). */
  #position = 0;
  #acked: HostPosition;

  constructor(sim: SimHost) {
    this.hostId = sim.hostId;
    this.#sim = sim;
    this.#acked = { bootId: sim.bootId, lastAckedSeq: 0, recordsAcked: 0 };
  }

  /** What is acked so far: what the resume state saves. */
  get acked(): HostPosition {
    return this.#acked;
  }

  /** Records handed out in batches, over every run. */
  get position(): number {
    return this.#position;
  }

  get done(): boolean {
    return this.#pending.length === 0 && this.#sim.done;
  }

  /**
   * Regenerates what an earlier run got acked, and drops it: the simulator is deterministic, so these
   * are the very records that run published. Checks that the last one is the boot and seq the state
   * names. Yields to the event loop between chunks (a long history takes a while to regenerate).
   */
  async skipTo(position: HostPosition): Promise<number> {
    if (this.#position !== 0) throw new Error(`${this.hostId}: skipTo() on a stream that already cut batches`);
    let remaining = position.recordsAcked;
    let last: SimRecord | undefined;
    while (remaining > 0) {
      const chunk = this.#sim.take(Math.min(SKIP_CHUNK, remaining));
      if (chunk.length === 0) throw new ResumeMismatch(this.hostId, `the state says ${position.recordsAcked} records were acked, but the host ends after ${position.recordsAcked - remaining}`);
      remaining -= chunk.length;
      last = chunk[chunk.length - 1];
      if (remaining > 0) await new Promise((resolve) => setImmediate(resolve));
    }
    if (last !== undefined && (last.bootId !== position.bootId || last.seq !== position.lastAckedSeq)) {
      throw new ResumeMismatch(
        this.hostId,
        `record ${position.recordsAcked} regenerates as boot ${last.bootId} seq ${last.seq}, but the state says boot ${position.bootId} seq ${position.lastAckedSeq}: the simulator's output changed (another version?); use another LOCKLINE_STATE_DIR`,
      );
    }
    this.#position = position.recordsAcked;
    this.#acked = last === undefined ? this.#acked : { ...position };
    return position.recordsAcked;
  }

  /** The next batch of at most `maxEvents` records (and BATCH_MAX_CHARS), or undefined once the host is done. */
  nextBatch(maxEvents: number, maxChars = BATCH_MAX_CHARS): Batch | undefined {
    const records: SimRecord[] = [];
    let chars = 0;
    while (records.length < maxEvents) {
      const step = this.#pending.length > 0 ? this.#pending : this.#sim.next();
      this.#pending = [];
      if (step.length === 0) {
        if (this.#sim.done) break;
        continue; // a dropped event: it took a seq, and yields nothing
      }
      const first = step[0]!;
      const stepChars = step.reduce((n, r) => n + r.payload.length + 1, 0);
      if (records.length > 0 && (first.bootId !== records[0]!.bootId || records.length + step.length > maxEvents || chars + stepChars > maxChars)) {
        this.#pending = step;
        break;
      }
      if (step.length > maxEvents) {
        // maxEvents = 1 and a two-record step: the only split (see the class comment)
        records.push(first);
        this.#pending = step.slice(1);
        break;
      }
      for (const record of step) records.push(record);
      chars += stepChars;
    }
    if (records.length === 0) return undefined;
    const head = records[0]!;
    const tail = records[records.length - 1]!;
    this.#position += records.length;
    return {
      hostId: this.hostId,
      bootId: head.bootId,
      firstSeq: head.seq,
      lastSeq: tail.seq,
      batchId: batchIdOf(this.hostId, head.bootId, head.seq),
      lines: records.map((r) => r.payload),
      endPosition: this.#position,
    };
  }

  /** Records `batch` as acked. Batches of a host are acked in the order they were cut. */
  ack(batch: Batch): void {
    const start = batch.endPosition - batch.lines.length;
    if (start !== this.#acked.recordsAcked) {
      throw new Error(`${this.hostId}: batch ${batch.batchId} acked out of order (it starts at record ${start}, the acked prefix ends at ${this.#acked.recordsAcked})`);
    }
    this.#acked = { bootId: batch.bootId, lastAckedSeq: batch.lastSeq, recordsAcked: batch.endPosition };
  }
}
