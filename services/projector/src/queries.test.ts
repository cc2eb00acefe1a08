import { partitionOf } from '@lockline/bus';
import type { HostEvent } from '@lockline/events';
import type { Explanation, HostView, VmaView } from '@lockline/projection';
import { diffViews, explain, hostView, vmaViews } from '@lockline/projection';
import type { Registry } from '@lockline/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostSummary } from './hostSummary.js';
import type { Projector } from './projector.js';
import type { EventsPage, HostState, QueryReply, StateAtDiff } from './queries.js';
import { fleetEvents, foldUpTo, referenceFold } from './testing/fixture.js';
import { startHarness, type Harness } from './testing/harness.js';

const PARTITIONS = 3;
const events = fleetEvents({ hosts: 6, seed: 5, events: 15_000 });
const reference = referenceFold(events);
const hostIds = [...reference.latest.keys()].sort();
const byPartition = (p: number): string[] => hostIds.filter((id) => partitionOf(id, PARTITIONS) === p);

let h: Harness;
/** copy A folds partitions 0 and 2, copy B partition 1 */
let a: Projector;
let b: Projector;
let bMetrics: Registry;
beforeAll(async () => {
  h = await startHarness({ partitions: PARTITIONS });
  await h.append(events);
  a = (await h.projector({ partitionsMine: [0, 2] })).projector;
  ({ projector: b, registry: bMetrics } = await h.projector({ partitionsMine: [1] }));
  await Promise.all([a.start(), b.start()]);
  await Promise.all([a.whenReady(), b.whenReady()]);
});
afterAll(async () => {
  await h?.close();
});

/** A host of `partition` with a process holding locked memory, and that pid. */
function lockedProcess(partition: number): { hostId: string; pid: number } {
  for (const hostId of byPartition(partition)) {
    const view = hostView(reference.latest.get(hostId)!);
    const v = view.processes.find((p) => p.lockState === 'inherited') ?? view.processes.find((p) => p.lockState !== 'none');
    if (v) return { hostId, pid: v.pid };
  }
  throw new Error(`no locked process in partition ${partition}`);
}

const error = (code: string, message: RegExp = /./) => ({ ok: false, error: { code, message: expect.stringMatching(message) } });

describe('two copies on different partitions', () => {
  it('each folds only its own hosts', () => {
    expect(a.status().hosts).toBe(byPartition(0).length + byPartition(2).length);
    expect(b.status().hosts).toBe(byPartition(1).length);
    expect(a.status().eventsRead).toBe(events.length); // both read the whole store …
    expect(a.status().eventsFolded + b.status().eventsFolded).toBe(events.length); // … and fold a share
    for (let p = 0; p < PARTITIONS; p++) expect(byPartition(p).length).toBeGreaterThan(0);
  });

  it('answer fleet with the hosts of the partition asked, and nothing else', async () => {
    for (let p = 0; p < PARTITIONS; p++) {
      const r = (await h.ask<HostSummary[]>(p, 'fleet', {})) as QueryReply<HostSummary[]>;
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.data.map((s) => s.hostId)).toEqual(byPartition(p));
      for (const s of r.data) {
        const ref = reference.latest.get(s.hostId)!;
        expect(s).toMatchObject({ bootId: ref.bootId, seq: ref.seq, stateHash: ref.stateHash(), lockedPages: ref.lockedPages, partition: p, partitions: PARTITIONS });
      }
    }
  });

  it("refuse a host of another copy's partition, naming the right one", async () => {
    const hostId = byPartition(1)[0]!;
    expect(await h.ask(0, 'state', { hostId })).toEqual(error('BAD_REQUEST', new RegExp(`belongs to partition 1 of 3, not 0.*LOCKLINE_PARTITIONS`)));
    expect((await h.ask(1, 'state', { hostId })).ok).toBe(true);
  });

  it('published the findings of their own hosts, together every finding exactly once', async () => {
    const stored = await h.findings();
    expect(stored.length).toBe(reference.findings().length);
    expect(new Set(stored.map((m) => m.msgId)).size).toBe(stored.length);
    expect(a.status().findings.stored + b.status().findings.stored).toBe(stored.length);
  });
});

/** Queries copy `registry` answered so far. */
async function answered(registry: Registry): Promise<number> {
  const m = await registry.getSingleMetric('lockline_projector_query_duration_seconds')!.get();
  return m.values.filter((v) => (v as { metricName?: string }).metricName === 'lockline_projector_query_duration_seconds_count').reduce((n, v) => n + v.value, 0);
}

describe('two copies of the same partition', () => {
  it('share its queries (one queue group), and the second publishes no finding the first did', async () => {
    const before = (await h.findings()).length;
    const c = await h.projector({ partitionsMine: [1] });
    await c.projector.start();
    await c.projector.whenReady();
    expect(c.projector.status().findings.stored).toBe(0);
    const [b0, c0] = [await answered(bMetrics), await answered(c.registry)];
    const hostId = byPartition(1)[0]!;
    for (let i = 0; i < 60; i++) expect((await h.ask<HostState>(1, 'state', { hostId })).ok).toBe(true);
    const [b1, c1] = [await answered(bMetrics), await answered(c.registry)];
    expect(b1 - b0 + (c1 - c0)).toBe(60);
    expect(b1 - b0).toBeGreaterThan(0);
    expect(c1 - c0).toBeGreaterThan(0);
    await c.projector.stop();
    expect((await h.findings()).length).toBe(before);
  });
});

describe('each verb, asked as the api user', () => {
  it('state: the host view without processes, equal to a from-scratch fold', async () => {
    for (const hostId of hostIds) {
      const ref = reference.latest.get(hostId)!;
      const r = await h.ask<HostState>(partitionOf(hostId, PARTITIONS), 'state', { hostId });
      const { processes: _p, ...view } = hostView(ref);
      expect(r).toMatchObject({ ok: true, data: { ...view, applied: ref.applied, duplicates: 0, gaps: [] } });
      expect(r.ok && 'processes' in r.data).toBe(false);
    }
  });

  it('tree: the host view with processes; only "locked" and "over-limit" filter them', async () => {
    const hostId = lockedProcess(0).hostId;
    const ref = hostView(reference.latest.get(hostId)!);
    expect(await h.ask(0, 'tree', { hostId })).toEqual({ ok: true, data: ref });
    const locked = (await h.ask<HostView>(0, 'tree', { hostId, only: 'locked' })) as QueryReply<HostView>;
    expect(locked.ok && locked.data.processes).toEqual(ref.processes.filter((p) => p.lockState !== 'none' || (p.lockedVmPages !== 0 && p.lockedVmPages !== '0')));
    expect(locked.ok && locked.data.processes.length).toBeGreaterThan(0);
    const over = (await h.ask<HostView>(0, 'tree', { hostId, only: 'over-limit' })) as QueryReply<HostView>;
    expect(over.ok && over.data.processes).toEqual(ref.processes.filter((p) => p.lockState === 'over-limit'));
  });

  it('explain: why a process holds locked memory; an unknown pid is NOT_FOUND; explain at a past seq', async () => {
    for (const partition of [0, 1]) {
      const { hostId, pid } = lockedProcess(partition);
      const p = reference.latest.get(hostId)!;
      const r = (await h.ask<Explanation>(partition, 'explain', { hostId, pid })) as QueryReply<Explanation>;
      expect(r).toEqual({ ok: true, data: JSON.parse(JSON.stringify(explain(p, pid))) });
      expect(r.ok && r.data.ranges.length).toBeGreaterThan(0);
      expect(r.ok && r.data.text[0]).toMatch(new RegExp(`^pid ${pid}\\b`));
      expect(await h.ask(partition, 'explain', { hostId, pid: 999_999 })).toEqual(error('NOT_FOUND', /no process 999999/));
      const seq = Math.floor(p.seq / 2);
      const past = foldUpTo(events, hostId, p.bootId, seq);
      const pastPid = [...past.host!.tasks.keys()].at(-1)!;
      expect(await h.ask(partition, 'explain', { hostId, pid: pastPid, seq })).toEqual({ ok: true, data: JSON.parse(JSON.stringify(explain(past, pastPid))) });
    }
  });

  it('stateAt: the view at a past seq equals a fresh fold of the events up to it, at any seq asked in any order', async () => {
    const hostId = byPartition(2)[0]!;
    const p = reference.latest.get(hostId)!;
    for (const seq of [1, 2, Math.floor(p.seq / 3), p.seq - 1, Math.floor(p.seq / 3) + 7, p.seq, p.seq + 1000]) {
      const r = await h.ask(2, 'stateAt', { hostId, seq });
      const want = hostView(foldUpTo(events, hostId, p.bootId, seq));
      expect(r, `seq ${seq}`).toEqual({ ok: true, data: JSON.parse(JSON.stringify(want)) });
    }
    const locked = (await h.ask<HostView>(2, 'stateAt', { hostId, seq: p.seq, only: 'locked' })) as QueryReply<HostView>;
    expect(locked.ok && locked.data.processes.every((v) => v.lockState !== 'none' || v.lockedVmPages !== 0)).toBe(true);
  });

  it('stateAt with from and to: the diff between the two states', async () => {
    const hostId = byPartition(1)[0]!;
    const p = reference.latest.get(hostId)!;
    const from = Math.floor(p.seq / 2);
    const to = from + 40;
    const x = hostView(foldUpTo(events, hostId, p.bootId, from));
    const y = hostView(foldUpTo(events, hostId, p.bootId, to));
    const r = (await h.ask<StateAtDiff>(1, 'stateAt', { hostId, from, to })) as QueryReply<StateAtDiff>;
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.data.changes).toEqual(JSON.parse(JSON.stringify(diffViews(x.processes, y.processes))));
    expect(r.data.changes.length).toBeGreaterThan(0);
    expect(r.data.from).toMatchObject({ seq: x.seq, stateHash: x.stateHash });
    expect(r.data.to).toMatchObject({ seq: y.seq, stateHash: y.stateHash });
    // Backwards is the same diff the other way round.
    const back = (await h.ask<StateAtDiff>(1, 'stateAt', { hostId, from: to, to: from })) as QueryReply<StateAtDiff>;
    expect(back.ok && back.data.changes).toEqual(JSON.parse(JSON.stringify(diffViews(y.processes, x.processes))));
  });

  it('stateAt reads a boot from before a reboot from the store', async () => {
    const rebooted = [...reference.boots.values()].find((p) => reference.latest.get(p.hostId) !== p);
    expect(rebooted).toBeDefined();
    const { hostId, bootId } = rebooted!;
    const partition = partitionOf(hostId, PARTITIONS);
    const r = await h.ask(partition, 'stateAt', { hostId, bootId, seq: rebooted!.seq });
    expect(r).toEqual({ ok: true, data: JSON.parse(JSON.stringify(hostView(rebooted!))) });
    expect(await h.ask(partition, 'stateAt', { hostId, bootId: 'nosuchboot', seq: 5 })).toEqual(error('NOT_FOUND', /no event with seq ≤ 5/));
  });
});

describe('vmas', () => {
  it("every VMA of the process's mm, equal to a from-scratch fold's, now and at a past seq", async () => {
    for (const partition of [0, 1, 2]) {
      const { hostId, pid } = lockedProcess(partition);
      const p = reference.latest.get(hostId)!;
      const r = (await h.ask<VmaView[]>(partition, 'vmas', { hostId, pid })) as QueryReply<VmaView[]>;
      expect(r).toEqual({ ok: true, data: JSON.parse(JSON.stringify(vmaViews(p, pid))) });
      expect(r.ok && r.data.length).toBe(hostView(p).processes.find((v) => v.pid === pid)!.vmaCount);
      expect(r.ok && r.data.some((v) => v.flags.includes('VM_LOCKED') && v.lockedAt !== null)).toBe(true);
      const seq = Math.floor(p.seq / 2);
      const past = foldUpTo(events, hostId, p.bootId, seq);
      const pastPid = [...past.host!.tasks.keys()].at(-1)!;
      expect(await h.ask(partition, 'vmas', { hostId, pid: pastPid, seq })).toEqual({ ok: true, data: JSON.parse(JSON.stringify(vmaViews(past, pastPid))) });
    }
  });

  it('a pid the boot does not have is NOT_FOUND; the pid is required', async () => {
    const { hostId } = lockedProcess(0);
    expect(await h.ask(0, 'vmas', { hostId, pid: 999_999 })).toEqual(error('NOT_FOUND', /no process 999999/));
    expect(await h.ask(0, 'vmas', { hostId })).toEqual(error('BAD_REQUEST', /vmas needs "pid"/));
  });
});

describe('events', () => {
  const hostId = () => byPartition(2)[0]!;
  const stored = (id: string, bootId: string): HostEvent[] => events.filter((e) => e.hostId === id && e.bootId === bootId);
  const page = async (body: Record<string, unknown>, partition = 2): Promise<EventsPage> => {
    const r = await h.ask<EventsPage>(partition, 'events', body);
    if (!r.ok) throw new Error(`events: ${r.error.code} ${r.error.message}`);
    return r.data;
  };

  it("pages through the current boot's stored events by cursor, to the end", async () => {
    const boot = stored(hostId(), reference.latest.get(hostId())!.bootId);
    const seen: HostEvent[] = [];
    let cursor: number | null = 0;
    let pages = 0;
    while (cursor !== null) {
      const p: EventsPage = await page({ hostId: hostId(), cursor, limit: 500 });
      expect(p.bootId).toBe(boot[0]!.bootId);
      expect(p.items.length).toBeLessThanOrEqual(500);
      seen.push(...(p.items as HostEvent[]));
      cursor = p.nextCursor;
      pages++;
    }
    expect(pages).toBe(Math.ceil(boot.length / 500));
    expect(seen).toEqual(JSON.parse(JSON.stringify(boot)));
    // Past the end: an empty last page.
    expect(await page({ hostId: hostId(), cursor: boot.length + 10, limit: 5 })).toMatchObject({ items: [], nextCursor: null });
  });

  it('filters by types and by pid (the actor, or the child a fork made); the default page is 100', async () => {
    const { hostId: id, pid } = lockedProcess(2);
    const boot = stored(id, reference.latest.get(id)!.bootId);
    const forks = await page({ hostId: id, types: ['syscall.fork', 'syscall.exec'], limit: 30 });
    expect(forks.items).toEqual(JSON.parse(JSON.stringify(boot.filter((e) => e.type === 'syscall.fork' || e.type === 'syscall.exec').slice(0, 30))));
    const about = (e: HostEvent): boolean => {
      const d = e.data as { pid?: unknown; child?: unknown };
      return d.pid === pid || d.child === pid;
    };
    const mine = await page({ hostId: id, pid });
    expect(mine.items).toEqual(JSON.parse(JSON.stringify(boot.filter(about).slice(0, 100))));
    expect(mine.items.length).toBeGreaterThan(0);
  });

  it('reads a boot from before a reboot from the store; an unknown boot or host is NOT_FOUND', async () => {
    const rebooted = [...reference.boots.values()].find((p) => reference.latest.get(p.hostId) !== p)!;
    const partition = partitionOf(rebooted.hostId, PARTITIONS);
    const p = await page({ hostId: rebooted.hostId, bootId: rebooted.bootId, limit: 10 }, partition);
    expect(p.items).toEqual(JSON.parse(JSON.stringify(stored(rebooted.hostId, rebooted.bootId).slice(0, 10))));
    expect(await h.ask(partition, 'events', { hostId: rebooted.hostId, bootId: 'nosuchboot', limit: 10 })).toEqual(error('NOT_FOUND', /no boot nosuchboot/));
    const unknown = Array.from({ length: 50 }, (_, i) => `ghost-${i}`).find((id) => partitionOf(id, PARTITIONS) === 0)!;
    expect(await h.ask(0, 'events', { hostId: unknown })).toEqual(error('NOT_FOUND', new RegExp(`no events of host ${unknown}`)));
  });
});

describe('bad requests get an error reply, never a stack trace', () => {
  const hostId = () => byPartition(0)[0]!;
  it.each([
    ['not JSON', 'state', '{"hostId":', 'BAD_REQUEST', /not JSON/],
    ['an array', 'state', '[1]', 'BAD_REQUEST', /invalid request/],
    ['a field it does not know', 'state', '{"hostId":"host-001","color":"red"}', 'BAD_REQUEST', /color/],
    ['no hostId', 'tree', '{}', 'BAD_REQUEST', /tree needs "hostId"/],
    ['an invalid hostId', 'state', '{"hostId":"no.dots"}', 'BAD_REQUEST', /hostId: expected a host id/],
    ['a pid that is not a number', 'explain', '{"hostId":"host-001","pid":"12"}', 'BAD_REQUEST', /pid/],
    ['explain without pid', 'explain', '{"hostId":"host-001"}', 'BAD_REQUEST', /explain needs "pid"/],
    ['stateAt without seq', 'stateAt', '{"hostId":"host-001"}', 'BAD_REQUEST', /needs "seq", or "from" and "to"/],
    ['stateAt with seq and from', 'stateAt', '{"hostId":"host-001","seq":3,"from":1,"to":2}', 'BAD_REQUEST', /not both/],
    ['an unknown filter', 'tree', '{"hostId":"host-001","only":"everything"}', 'BAD_REQUEST', /only/],
    ['an unknown verb', 'reboot', '{}', 'BAD_REQUEST', /unknown query verb "reboot"; the projector answers state, tree, explain, stateAt, fleet, vmas, events, rebuild/],
    ['events without hostId', 'events', '{}', 'BAD_REQUEST', /events needs "hostId"/],
    ['events: a page too large', 'events', '{"hostId":"host-001","limit":501}', 'BAD_REQUEST', /limit/],
    ['events: a type that cannot be one', 'events', '{"hostId":"host-001","types":["Fork"]}', 'BAD_REQUEST', /types\.0: expected an event type/],
    ['events: a negative cursor', 'events', '{"hostId":"host-001","cursor":-1}', 'BAD_REQUEST', /cursor/],
  ])('%s', async (_name, verb, payload, code, message) => {
    // host-001 may live in another partition: ask the one that owns it, so only the request is wrong.
    const partition = partitionOf('host-001', PARTITIONS);
    const r = await h.askRaw(partition, verb, payload);
    expect(r).toEqual(error(code, message));
    expect(JSON.stringify(r)).not.toMatch(/\n\s+at /);
  });

  it('an unknown host of the partition is NOT_FOUND; so is a boot the projector does not hold', async () => {
    const unknown = Array.from({ length: 50 }, (_, i) => `ghost-${i}`).find((id) => partitionOf(id, PARTITIONS) === 0)!;
    expect(await h.ask(0, 'state', { hostId: unknown })).toEqual(error('NOT_FOUND', new RegExp(`no events of host ${unknown}`)));
    expect(await h.ask(0, 'tree', { hostId: hostId(), bootId: 'gone' })).toEqual(error('NOT_FOUND', /boot gone .* is not held/));
  });
});
