import { describe, expect, it } from 'vitest';
import { parseEvent, type HostEvent } from '@lockline/events';
import { CORRUPTION_KINDS } from './corrupt.js';
import { InvalidFaultSpecError } from './errors.js';
import { DEFAULT_FAULT_RATES, parseFaults, type Faults } from './faults.js';
import { createSimHost, type SimRecord } from './simHost.js';
import { eventsByBoot, replayBoot } from './testing/replay.js';

describe('parseFaults', () => {
  it('reads name=probability items, and a bare name at its default rate', () => {
    expect(parseFaults('drop=0.01,duplicate=0.02,reboot')).toEqual({ drop: 0.01, duplicate: 0.02, reboot: DEFAULT_FAULT_RATES.reboot });
    expect(parseFaults(' kernel-bug-result=0.1 , kernel_bug_counter')).toEqual({
      kernelBugResult: 0.1,
      kernelBugCounter: DEFAULT_FAULT_RATES.kernelBugCounter,
    });
    expect(parseFaults('reorder=1e-3,corrupt=.5')).toEqual({ reorder: 0.001, corrupt: 0.5 });
    expect(parseFaults('')).toEqual({});
    expect(parseFaults('none')).toEqual({});
  });

  it.each([
    ['dorp=0.1', /fault "dorp=0.1": unknown fault "dorp" \(expected one of drop, duplicate/],
    ['drop=2', /fault "drop=2": the probability must be a number from 0 to 1, got "2"/],
    ['drop=abc', /"drop=abc".*got "abc"/],
    ['drop=', /"drop=".*got ""/],
    ['drop=-0.1', /"drop=-0.1"/],
    ['drop=0.1,,reboot', /empty item/],
    ['drop=0.1,drop=0.2', /"drop=0.2": drop is given twice/],
    ['drop=1', /drop=1.*never delivers/],
    ['drop=0.5,duplicate=0.6', /add up to at most 1/],
  ])('rejects %j, naming the bad item', (spec, message) => {
    expect(() => parseFaults(spec)).toThrow(InvalidFaultSpecError);
    expect(() => parseFaults(spec)).toThrow(message);
  });
});

const N = 20_000;

function run(faults: Faults, seed = 1, n = N): { records: SimRecord[]; stats: ReturnType<typeof createSimHost>['stats'] } {
  const host = createSimHost({ hostId: 'faulty-1', seed, faults });
  const records = host.take(n);
  return { records, stats: host.stats };
}

/** Within 25% of the expectation (the expectations here are 400 or more: about 5 standard deviations). */
function nearRate(actual: number, expected: number): void {
  expect(actual).toBeGreaterThan(expected * 0.75);
  expect(actual).toBeLessThan(expected * 1.25);
}

describe('fault injection', () => {
  it('injects nothing by default', () => {
    const { stats } = run({}, 1, 5000);
    expect(stats).toEqual({ generated: 5000, emitted: 5000, dropped: 0, duplicated: 0, reordered: 0, corrupted: 0, reboots: 0, kernelBugs: 0, kernelBugResults: 0, kernelBugCounters: 0 });
  });

  it('drop: skips events at its rate, each leaving a seq gap', () => {
    const { records, stats } = run({ drop: 0.03 });
    nearRate(stats.dropped, 0.03 * stats.generated);
    expect(stats.emitted).toBe(stats.generated - stats.dropped);
    const seqs = records.map((r) => r.seq);
    let missing = 0;
    for (let i = 1; i < seqs.length; i++) {
      expect(seqs[i]!).toBeGreaterThan(seqs[i - 1]!);
      missing += seqs[i]! - seqs[i - 1]! - 1;
    }
    // a drop at the very start or end leaves no gap inside the run
    expect(missing + (seqs[0]! - 1)).toBe(stats.dropped - (stats.generated - seqs[seqs.length - 1]!));
  });

  it('duplicate: delivers the same payload, same id, twice', () => {
    const { records, stats } = run({ duplicate: 0.03 });
    nearRate(stats.duplicated, 0.03 * (stats.generated - stats.duplicated));
    const dupes = records.filter((r) => r.fault === 'duplicate');
    expect(dupes.length).toBe(stats.duplicated);
    for (const d of dupes) {
      const i = records.indexOf(d);
      expect(records[i - 1]!.payload).toBe(d.payload);
    }
    const ids = records.map((r) => r.event!.id);
    expect(ids.length - new Set(ids).size).toBe(dupes.length);
  });

  it('reorder: delivers an event after the next one', () => {
    const { records, stats } = run({ reorder: 0.03 });
    nearRate(stats.reordered, 0.03 * stats.generated);
    let outOfOrder = 0;
    records.forEach((r, i) => {
      const prev = records[i - 1];
      if (prev !== undefined && r.seq < prev.seq) {
        outOfOrder++;
        expect(r.fault).toBe('reorder');
        expect(prev.seq).toBe(r.seq + 1);
      }
    });
    expect(outOfOrder).toBe(records.filter((r) => r.fault === 'reorder').length);
    // nothing is lost: sorted, the seqs are contiguous again
    const sorted = records.map((r) => r.seq).sort((a, b) => a - b);
    sorted.forEach((s, i) => expect(s).toBe(i + 1));
  });

  it('corrupt: payloads that fail parseEvent with problems, the host and seq still recoverable', () => {
    const { records, stats } = run({ corrupt: 0.03 });
    nearRate(stats.corrupted, 0.03 * stats.generated);
    const corrupted = records.filter((r) => r.fault === 'corrupt');
    expect(corrupted.length).toBe(stats.corrupted);
    const kinds = new Set<string>();
    for (const r of corrupted) {
      expect(r.event).toBeUndefined();
      const parsed = parseEvent(r.payload);
      expect(parsed.ok, r.payload).toBe(false);
      if (!parsed.ok) expect(parsed.problems.length).toBeGreaterThan(0);
      kinds.add(r.corruption!);
      if (r.corruption === 'invalid-json') {
        expect(r.payload).toContain(`"hostId":"faulty-1"`);
        expect(/"seq":(\d+)/.exec(r.payload)?.[1]).toBe(String(r.seq));
      } else {
        const raw = JSON.parse(r.payload) as { hostId: string; seq: number };
        expect(raw.hostId).toBe('faulty-1');
        expect(raw.seq).toBe(r.seq);
      }
      if (r.corruption === 'proto-key' && !parsed.ok) expect(parsed.problems.map((p) => p.path)).toContain('data.__proto__');
      if (r.corruption === 'unknown-flag' && !parsed.ok) expect(parsed.problems[0]!.message).toMatch(/unknown (flag|advice)/);
    }
    expect([...kinds].sort()).toEqual([...CORRUPTION_KINDS].sort());
  });

  it('reboot: a new bootId, seq from 1, host.booted and process.table again, a fresh model', () => {
    const host = createSimHost({ hostId: 'faulty-1', seed: 2, faults: { reboot: 0.002 } });
    const records = host.take(N);
    const reboots = records.filter((r) => r.fault === 'reboot');
    nearRate(host.stats.reboots, 0.002 * N);
    expect(reboots.length).toBe(host.stats.reboots);
    for (const r of reboots) {
      const i = records.indexOf(r);
      expect(r.event?.type).toBe('host.booted');
      expect(r.seq).toBe(1);
      expect(r.bootId).not.toBe(records[i - 1]!.bootId);
      expect(records[i + 1]?.event?.type ?? 'process.table').toBe('process.table');
    }
    const boots = eventsByBoot(records);
    expect(boots.size).toBe(reboots.length + 1);
    for (const events of boots.values()) {
      events.forEach((e, i) => expect(e.seq).toBe(i + 1));
      if (events.length < 2) continue;
      const replay = replayBoot(events);
      expect(replay.resultMismatches).toEqual([]);
      expect(replay.counterMismatches).toEqual([]);
    }
    // boots follow one another in time
    const firstTimes = [...boots.values()].map((events) => events[0]!.time);
    expect([...firstTimes].sort()).toEqual(firstTimes);
  });

  it('kernelBugResult: the reported result differs from replaying the op on a fresh model, only there', () => {
    const { records, stats } = run({ kernelBugResult: 0.02 });
    const syscalls = records.filter((r) => r.event?.type.startsWith('syscall.')).length;
    nearRate(stats.kernelBugResults, 0.02 * syscalls);
    const replay = replayBoot(records.map((r) => r.event as HostEvent));
    const lied = records.filter((r) => r.fault === 'kernel-bug-result').map((r) => r.seq);
    expect(lied.length).toBe(stats.kernelBugResults);
    expect(replay.resultMismatches.map((m) => m.seq)).toEqual(lied);
    for (const m of replay.resultMismatches) expect(m.reported.errno === null).not.toBe(m.replayed.errno === null);
    expect(replay.counterMismatches).toEqual([]);
  });

  it('kernelBugCounter: a sampled locked_vm off by some pages, only there', () => {
    const { records, stats } = run({ kernelBugCounter: 0.3 });
    const samples = records.filter((r) => r.event?.type === 'counters.sampled').length;
    nearRate(stats.kernelBugCounters, 0.3 * samples);
    const replay = replayBoot(records.map((r) => r.event as HostEvent));
    const lied = records.filter((r) => r.fault === 'kernel-bug-counter').map((r) => r.seq);
    expect(lied.length).toBe(stats.kernelBugCounters);
    expect(replay.counterMismatches.map((m) => m.seq)).toEqual(lied);
    for (const m of replay.counterMismatches) {
      const drift = Math.abs(Number(m.reported.lockedVmPages) - Number(m.replayed!.lockedVmPages));
      expect(drift).toBeGreaterThanOrEqual(1);
      expect(drift).toBeLessThanOrEqual(64);
      expect(m.reported.totalVmPages).toBe(m.replayed!.totalVmPages);
    }
    expect(replay.resultMismatches).toEqual([]);
  });

  it('all at once: counts add up and every record is accounted for', () => {
    const faults = { drop: 0.02, duplicate: 0.02, reorder: 0.02, corrupt: 0.02, reboot: 0.001, kernelBugResult: 0.01, kernelBugCounter: 0.1 };
    const { records, stats } = run(faults, 7);
    expect(stats.emitted).toBe(records.length);
    expect(stats.emitted).toBe(stats.generated - stats.dropped + stats.duplicated);
    expect(stats.kernelBugs).toBe(stats.kernelBugResults + stats.kernelBugCounters);
    for (const kind of ['duplicate', 'reorder', 'corrupt', 'reboot', 'kernel-bug-result', 'kernel-bug-counter'] as const) {
      expect(records.some((r) => r.fault === kind), kind).toBe(true);
    }
    for (const r of records) expect(parseEvent(r.payload).ok).toBe(r.fault !== 'corrupt');
  });
});
