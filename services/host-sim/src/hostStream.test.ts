import { createSimHost, parseFaults, type Faults, type SimRecord } from '@lockline/sim';
import { describe, expect, it } from 'vitest';
import { HostStream, ResumeMismatch, type Batch } from './hostStream.js';

// Every fault at a high rate, so that short runs cross reboots, duplicates, reorders and drops.
const FAULTY = parseFaults('reboot=0.01,duplicate=0.05,reorder=0.05,drop=0.02,corrupt=0.02,kernel-bug-result,kernel-bug-counter');

function stream(hostId = 'h-1', faults: Faults = {}): HostStream {
  return new HostStream(createSimHost({ hostId, seed: 7, faults }));
}

function cut(s: HostStream, count: number, maxEvents: number): Batch[] {
  return Array.from({ length: count }, () => {
    const b = s.nextBatch(maxEvents);
    if (b === undefined) throw new Error('the host ended');
    return b;
  });
}

function records(hostId: string, n: number, faults: Faults = {}): SimRecord[] {
  return createSimHost({ hostId, seed: 7, faults }).take(n);
}

describe('HostStream', () => {
  it('cuts the simulated records into batches of at most maxEvents, in order, nothing left out', () => {
    const batches = cut(stream(), 40, 50);
    const lines = batches.flatMap((b) => b.lines);
    expect(lines).toEqual(records('h-1', lines.length).map((r) => r.payload));
    expect(batches.every((b) => b.lines.length === 50)).toBe(true); // no faults: one record a step
    expect(batches[1]).toMatchObject({ firstSeq: 51, lastSeq: 100, batchId: `h-1.${batches[1]!.bootId}.51`, endPosition: 100 });
  });

  it('with faults: keeps steps whole, never spans a boot, and gives every batch its own id', () => {
    const s = stream('h-2', FAULTY);
    const batches = cut(s, 400, 20);
    const all = records('h-2', batches.reduce((n, b) => n + b.lines.length, 0), FAULTY);
    expect(batches.flatMap((b) => b.lines)).toEqual(all.map((r) => r.payload));
    expect(new Set(batches.map((b) => b.batchId)).size).toBe(batches.length);
    expect(new Set(batches.map((b) => b.bootId)).size).toBeGreaterThan(1);
    let at = 0;
    for (const b of batches) {
      const own = all.slice(at, at + b.lines.length);
      at += b.lines.length;
      expect(b.lines.length).toBeLessThanOrEqual(20);
      expect(own.every((r) => r.bootId === b.bootId)).toBe(true);
      expect(own[0]!.fault === 'duplicate').toBe(false); // a duplicate never opens a batch
      expect(b.endPosition).toBe(at);
    }
    expect(all.some((r) => r.fault === 'duplicate') && all.some((r) => r.fault === 'reorder') && all.some((r) => r.fault === 'reboot')).toBe(true);
  });

  it('cuts the same batches from the same position: a resumed stream re-sends batches with the same ids', () => {
    const first = stream('h-3', FAULTY);
    const original = cut(first, 60, 25);
    const acked = original[29]!;
    const resumed = stream('h-3', FAULTY);
    return resumed.skipTo({ bootId: acked.bootId, lastAckedSeq: acked.lastSeq, recordsAcked: acked.endPosition }).then((skipped) => {
      expect(skipped).toBe(acked.endPosition);
      expect(cut(resumed, 30, 25)).toEqual(original.slice(30));
    });
  });

  it('acks in order only, and reports the acked position', () => {
    const s = stream();
    const [a, b] = cut(s, 2, 10) as [Batch, Batch];
    expect(() => s.ack(b)).toThrow(/out of order/);
    s.ack(a);
    expect(s.acked).toEqual({ bootId: a.bootId, lastAckedSeq: 10, recordsAcked: 10 });
    s.ack(b);
    expect(s.acked).toMatchObject({ lastAckedSeq: 20, recordsAcked: 20 });
  });

  it('refuses a position the regenerated stream does not reach', async () => {
    const s = stream();
    const bootId = createSimHost({ hostId: 'h-1', seed: 7 }).bootId;
    await expect(s.skipTo({ bootId, lastAckedSeq: 99, recordsAcked: 100 })).rejects.toThrow(ResumeMismatch);
    await expect(stream().skipTo({ bootId: 'other', lastAckedSeq: 100, recordsAcked: 100 })).rejects.toThrow(/state says boot other seq 100/);
    const ok = stream();
    await ok.skipTo({ bootId, lastAckedSeq: 100, recordsAcked: 100 });
    expect(ok.nextBatch(5)).toMatchObject({ firstSeq: 101, lastSeq: 105 });
  });

  it('keeps a batch under the size cap: more, smaller batches of the same records', () => {
    const s = stream('h-5');
    const batches = Array.from({ length: 100 }, () => s.nextBatch(200, 8 * 1024)!);
    for (const b of batches) expect(b.lines.reduce((n, line) => n + line.length + 1, 0)).toBeLessThanOrEqual(8 * 1024);
    expect(Math.max(...batches.map((b) => b.lines.length))).toBeLessThan(200);
    const lines = batches.flatMap((b) => b.lines);
    expect(lines).toEqual(records('h-5', lines.length).map((r) => r.payload));
  });

  it('splits a two-record step only when maxEvents is 1', () => {
    const s = stream('h-4', parseFaults('duplicate=0.3'));
    const batches = cut(s, 300, 1);
    expect(batches.every((b) => b.lines.length === 1)).toBe(true);
    expect(batches.flatMap((b) => b.lines)).toEqual(records('h-4', 300, parseFaults('duplicate=0.3')).map((r) => r.payload));
  });
});
