import { describe, expect, it } from 'vitest';
import { parseEvent } from '@lockline/events';
import { createFleet, simulateFleet } from './fleet.js';
import { createSimHost, type SimRecord } from './simHost.js';
import { eventsByBoot, replayBoot } from './testing/replay.js';

describe('simulateFleet', () => {
  it('yields exactly `events` records from host-001 … host-N, interleaved', () => {
    const records = [...simulateFleet({ hosts: 12, seed: 1, events: 5000 })];
    expect(records.length).toBe(5000);
    const hosts = new Set(records.map((r) => r.hostId));
    expect([...hosts].sort()).toEqual(Array.from({ length: 12 }, (_, i) => `host-${String(i + 1).padStart(3, '0')}`));
    // interleaved: no host runs for long on its own
    let longest = 0;
    let run = 0;
    records.forEach((r, i) => {
      run = i > 0 && records[i - 1]!.hostId === r.hostId ? run + 1 : 1;
      longest = Math.max(longest, run);
    });
    expect(longest).toBeLessThan(20);
  });

  it('is deterministic, and keeps each host in its own order with contiguous seqs', () => {
    const a = [...simulateFleet({ hosts: 5, seed: 'x', events: 3000 })];
    const b = [...simulateFleet({ hosts: 5, seed: 'x', events: 3000 })];
    expect(a.map((r) => r.payload)).toEqual(b.map((r) => r.payload));
    for (const [, events] of eventsByBoot(a)) events.forEach((e, i) => expect(e.seq).toBe(i + 1));
    const perHost = new Map<string, number>();
    for (const r of a) {
      expect(r.seq).toBe((perHost.get(r.hostId) ?? 0) + 1);
      perHost.set(r.hostId, r.seq);
    }
  });

  it('gives a host the same stream whatever the fleet size (its seed is (seed, hostId))', () => {
    const host = (records: SimRecord[]): string[] => records.filter((r) => r.hostId === 'host-002').map((r) => r.payload);
    const small = host([...simulateFleet({ hosts: 2, seed: 5, events: 2000 })]);
    const large = host([...simulateFleet({ hosts: 7, seed: 5, events: 7000 })]);
    const n = Math.min(small.length, large.length);
    const alone = createSimHost({ hostId: 'host-002', seed: 5 }).take(n).map((r) => r.payload);
    expect(n).toBeGreaterThan(500);
    expect(large.slice(0, n)).toEqual(small.slice(0, n));
    expect(alone).toEqual(small.slice(0, n));
  });

  it('assigns profiles round-robin and passes faults and host options on', () => {
    const fleet = createFleet({
      hosts: 3,
      seed: 2,
      profile: ['linux-2008-patch', 'linux-modern'],
      faults: { corrupt: 0.05 },
      hostIdPrefix: 'rack7-',
      host: { counterSampleEvery: 10 },
    });
    expect(fleet.hosts.map((h) => [h.hostId, h.profile])).toEqual([
      ['rack7-001', 'linux-2008-patch'],
      ['rack7-002', 'linux-modern'],
      ['rack7-003', 'linux-2008-patch'],
    ]);
    const records = [...fleet.records(6000)];
    expect(records.filter((r) => r.fault === 'corrupt').length).toBeGreaterThan(100);
    expect(records.filter((r) => r.event?.type === 'counters.sampled').length).toBeGreaterThan(6000 / 12);
    const corrupt = records.filter((r) => r.fault === 'corrupt').length;
    expect(fleet.hosts.reduce((n, h) => n + h.stats.corrupted, 0)).toBe(corrupt);
    for (const r of records) expect(parseEvent(r.payload).ok).toBe(r.fault !== 'corrupt');
  });

  it('folds against the model host by host', () => {
    const records = [...simulateFleet({ hosts: 4, seed: 8, events: 8000, profile: ['linux-2008-patch', 'linux-2008-patch-fixed', 'linux-modern'] })];
    for (const [boot, events] of eventsByBoot(records)) {
      const replay = replayBoot(events);
      expect(replay.resultMismatches, boot).toEqual([]);
      expect(replay.counterMismatches, boot).toEqual([]);
    }
  });

  it('rejects a bad fleet with the option named', () => {
    expect(() => [...simulateFleet({ hosts: 0, seed: 1, events: 1 })]).toThrow(/hosts/);
    expect(() => [...simulateFleet({ hosts: 1, seed: 1, events: -1 })]).toThrow(/events/);
    expect(() => createFleet({ hosts: 1, seed: 1, hostIdPrefix: 'a.b' })).toThrow(/hostId/);
    expect(() => createFleet({ hosts: 1, seed: 1, profile: [] })).toThrow(/profile/);
  });
});
