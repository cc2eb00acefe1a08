/**
 * Across packages: simulated hosts → a real SQLite event store → the projection. Rebuilding from the
 * store must give the live fold's state (same hash); the simulator's faults must come out as the
 * audit's findings; an export imported elsewhere must replay the same.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostEvent } from '@lockline/events';
import { hostStreamName, parseEvent } from '@lockline/events';
import type { EventStore, ExpectedRevision } from '@lockline/eventstore';
import { openEventStore, readAllPages } from '@lockline/eventstore';
import { FleetProjection } from '@lockline/projection';
import type { Faults, SimRecord } from '@lockline/sim';
import { createFleet, simulateFleet } from '@lockline/sim';

const dir = mkdtempSync(join(tmpdir(), 'lockline-e2e-replay-'));
let dbCount = 0;
const newStore = (): Promise<EventStore> => openEventStore(`sqlite:${join(dir, `store-${++dbCount}.db`)}`);

/** Append events in arrival order, one stream per host boot, as ingest will: duplicates and late events dropped. */
async function append(store: EventStore, events: readonly HostEvent[]): Promise<void> {
  const next = new Map<string, { revision: ExpectedRevision; seq: number; batch: HostEvent[] }>();
  const flush = async (stream: string): Promise<void> => {
    const s = next.get(stream)!;
    if (!s.batch.length) return;
    const r = await store.append(stream, s.batch.map((e) => ({ id: e.id, type: e.type, data: e })), s.revision);
    s.revision = r.nextExpectedRevision;
    s.batch = [];
  };
  for (const e of events) {
    const stream = hostStreamName(e.hostId, e.bootId);
    let s = next.get(stream);
    if (!s) next.set(stream, (s = { revision: 'no_stream', seq: 0, batch: [] }));
    if (e.seq <= s.seq) continue;
    s.seq = e.seq;
    s.batch.push(e);
    if (s.batch.length >= 200) await flush(stream);
  }
  for (const stream of next.keys()) await flush(stream);
}

async function readBack(store: EventStore): Promise<HostEvent[]> {
  const out: HostEvent[] = [];
  for await (const page of readAllPages(store)) for (const r of page) out.push(r.data as HostEvent);
  return out;
}

function fold(events: Iterable<HostEvent>): FleetProjection {
  const fleet = new FleetProjection();
  for (const e of events) fleet.apply(e);
  return fleet;
}

const hashes = (fleet: FleetProjection): Record<string, string> =>
  Object.fromEntries([...fleet.boots].map(([k, p]) => [k, `${p.seq}:${p.stateHash()}`]));

describe('rebuild from the store equals the live fold', () => {
  it('for many seeds and all three profiles: same hash for every host boot', async () => {
    for (let seed = 1; seed <= 9; seed++) {
      const profile = (['linux-2008-patch', 'linux-2008-patch-fixed', 'linux-modern'] as const)[seed % 3]!;
      const events = [...simulateFleet({ hosts: 3, seed, events: 3000, profile })].map((r) => r.event!);
      const live = fold(events);
      const store = await newStore();
      await append(store, events);
      const rebuilt = fold(await readBack(store));
      await store.close();
      expect(hashes(rebuilt), `seed ${seed} (${profile})`).toEqual(hashes(live));
      // the simulated hosts tell the truth: the auditor agrees with every result and counter
      const disagreements = live.findings().filter((f) => f.code === 'RESULT_DIVERGENCE' || f.code === 'ACCOUNTING_DRIFT' || f.code === 'SEQUENCE_GAP');
      expect(disagreements, `seed ${seed}`).toEqual([]);
    }
  });

  it('an export imported into another store replays the same', async () => {
    const events = [...simulateFleet({ hosts: 2, seed: 42, events: 4000 })].map((r) => r.event!);
    const a = await newStore();
    await append(a, events);
    const exported = (await readBack(a)).map((e) => JSON.stringify(e));
    await a.close();
    const b = await newStore();
    await append(
      b,
      exported.map((line) => {
        const parsed = parseEvent(line);
        if (!parsed.ok) throw new Error(JSON.stringify(parsed.problems));
        return parsed.event;
      }),
    );
    expect(hashes(fold(await readBack(b)))).toEqual(hashes(fold(events)));
    await b.close();
  });
});

/** Run a faulty fleet (round-robin over its hosts) and fold what arrives, parsing each payload as a reader would. */
function faulty(faults: Faults, seed = 5, total = 8000) {
  const fleet = createFleet({ hosts: 3, seed, faults });
  const records: SimRecord[] = [];
  while (records.length < total) for (const h of fleet.hosts) records.push(...h.next());
  let invalid = 0;
  const projection = new FleetProjection();
  for (const r of records) {
    const parsed = parseEvent(r.payload);
    if (parsed.ok) projection.apply(parsed.event);
    else invalid++;
  }
  const stats = { dropped: 0, reboots: 0 };
  for (const h of fleet.hosts) {
    stats.dropped += h.stats.dropped;
    stats.reboots += h.stats.reboots;
  }
  const findings = (code: string) => projection.findings().filter((f) => f.code === code);
  const count = (code: string) => findings(code).length;
  return { projection, invalid, stats, count, findings, records };
}

describe("the simulator's faults are detected as findings", () => {
  it('dropped events → SEQUENCE_GAP covering every dropped seq (but a drop at the very end, which nothing reveals)', () => {
    const { findings, stats } = faulty({ drop: 0.01 });
    expect(stats.dropped).toBeGreaterThan(0);
    const missing = findings('SEQUENCE_GAP').reduce((n, f) => n + (f.details!.missingTo as number) - (f.details!.missingFrom as number) + 1, 0);
    expect(missing).toBeLessThanOrEqual(stats.dropped);
    expect(missing).toBeGreaterThanOrEqual(stats.dropped - 3);
  });

  it('duplicated events → DUPLICATE_EVENT, one per copy, and the state is unharmed', () => {
    const { count, records } = faulty({ duplicate: 0.01 });
    const copies = records.filter((r) => r.fault === 'duplicate').length;
    expect(copies).toBeGreaterThan(0);
    expect(count('DUPLICATE_EVENT')).toBe(copies);
    const clean = fold(records.filter((r) => r.fault !== 'duplicate').map((r) => r.event!));
    const dup = fold(records.map((r) => r.event!));
    expect(hashes(dup)).toEqual(hashes(clean));
  });

  it('corrupted payloads fail validation, each one', () => {
    const { invalid, records } = faulty({ corrupt: 0.01 });
    const corrupted = records.filter((r) => r.fault === 'corrupt').length;
    expect(corrupted).toBeGreaterThan(0);
    expect(invalid).toBe(corrupted);
  });

  it('reordered events arrive late: a gap, then the late one set aside; sorted by seq (as ingest orders) they fold cleanly', () => {
    const { count, records } = faulty({ reorder: 0.01 });
    expect(records.some((r) => r.fault === 'reorder')).toBe(true);
    expect(count('SEQUENCE_GAP')).toBeGreaterThan(0);
    const sorted = [...records].sort((a, b) => (a.hostId + a.bootId).localeCompare(b.hostId + b.bootId) || a.seq - b.seq);
    const ordered = fold(sorted.map((r) => r.event!));
    expect(ordered.findings().filter((f) => f.code === 'SEQUENCE_GAP')).toEqual([]);
  });

  it('kernel bugs → RESULT_DIVERGENCE for each lying result, ACCOUNTING_DRIFT for lying counters', () => {
    const results = faulty({ kernelBugResult: 0.01 });
    const lies = results.records.filter((r) => r.fault === 'kernel-bug-result').length;
    expect(lies).toBeGreaterThan(0);
    expect(results.count('RESULT_DIVERGENCE')).toBe(lies);
    const counters = faulty({ kernelBugCounter: 0.2 });
    const wrong = counters.records.filter((r) => r.fault === 'kernel-bug-counter').length;
    expect(wrong).toBeGreaterThan(0);
    expect(counters.count('ACCOUNTING_DRIFT')).toBeGreaterThan(0);
    expect(counters.count('ACCOUNTING_DRIFT')).toBeLessThanOrEqual(wrong);
  });

  it('a reboot starts a new boot: a new stream, seq from 1, no gap', () => {
    const { projection, records, stats } = faulty({ reboot: 0.002 });
    const reboots = records.filter((r) => r.fault === 'reboot').length;
    expect(reboots).toBeGreaterThan(0);
    expect(reboots).toBe(stats.reboots);
    expect(projection.boots.size).toBe(3 + reboots);
    expect(projection.findings().filter((f) => f.code === 'SEQUENCE_GAP')).toEqual([]);
  });
});
