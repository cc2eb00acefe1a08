import { FINDINGS_STREAM, openHostSummaries, partitionOf } from '@lockline/bus';
import type { EventStore } from '@lockline/eventstore';
import { hostView } from '@lockline/projection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOOTS_KEPT } from './hostEntry.js';
import type { HostSummary } from './hostSummary.js';
import type { Projector } from './projector.js';
import type { HostState, QueryReply, RebuiltHost } from './queries.js';
import { expectedFindings, fleetEvents, referenceFold } from './testing/fixture.js';
import { eventually, startHarness, type Harness } from './testing/harness.js';

const PARTITIONS = 2;
const HOSTS = 5;
const all = fleetEvents({ hosts: HOSTS, seed: 13, events: 12_400 });
// What is stored before the projector starts; the rest is appended while rebuilds run.
const events = all.slice(0, 12_000);
const later = all.slice(12_000);
const reference = referenceFold(events);
const expected = expectedFindings(reference);
const hostIds = [...reference.latest.keys()].sort();

/**
 * The host whose fold the projector gets wrong: the one whose current boot has the latest finding.
 * The projector's subscription never shows it the events from that finding's seq on (they are in the
 * store, and a rebuild reads them from there): its state is behind, and those findings never went out.
 */
const wrong = (() => {
  let best: { hostId: string; bootId: string; seq: number } | undefined;
  for (const p of reference.latest.values()) {
    const last = p.findings.at(-1);
    if (last !== undefined && (best === undefined || last.seq > best.seq)) best = { hostId: p.hostId, bootId: p.bootId, seq: last.seq };
  }
  return best!;
})();
const hidden = new Set(events.filter((e) => e.hostId === wrong.hostId && e.bootId === wrong.bootId && e.seq >= wrong.seq).map((e) => e.id));
const hiddenFindings = [...expected.values()].filter((f) => f.hostId === wrong.hostId && f.bootId === wrong.bootId && f.seq >= wrong.seq).length;

/**
 * The store as the projector's subscription sees it: the hidden events come as stored data that is not
 * an event; and while `hold`, batches read from the store are not handed over (as when the fold is
 * busy), so the store holds events the fold has not seen.
 */
function tampered(store: EventStore, ids: ReadonlySet<string>) {
  let gate: Promise<void> = Promise.resolve();
  let release = (): void => undefined;
  let waiting = 0;
  const view: EventStore = {
    append: (stream, batch, expectedRevision) => store.append(stream, batch, expectedRevision),
    readStream: (stream, options) => store.readStream(stream, options),
    readAll: (options) => store.readAll(options),
    listStreams: () => store.listStreams(),
    subscribeToAll: (options, handler) =>
      store.subscribeToAll(options, async (batch) => {
        waiting++;
        await gate;
        waiting--;
        return handler(batch.map((r) => (ids.has(r.id) ? { ...r, data: null } : r)));
      }),
    // the harness closes the store it lent
    close: () => Promise.resolve(),
  };
  return {
    view,
    hold(): void {
      gate = new Promise<void>((resolve) => (release = resolve));
    },
    release: () => release(),
    /** batches read and held back */
    waiting: () => waiting,
  };
}

let h: Harness;
let projector: Projector;
let view: ReturnType<typeof tampered>;
beforeAll(async () => {
  h = await startHarness({ partitions: PARTITIONS });
  await h.append(events);
  view = tampered(h.store, hidden);
  ({ projector } = await h.projector({}, view.view));
  await projector.start();
  await projector.whenReady();
});
afterAll(async () => {
  await h?.close();
});

const partition = (hostId: string): number => partitionOf(hostId, PARTITIONS);
async function rebuild(hostId: string): Promise<RebuiltHost> {
  const r = (await h.ask<RebuiltHost>(partition(hostId), 'rebuild', { hostId })) as QueryReply<RebuiltHost>;
  if (!r.ok) throw new Error(`rebuild ${hostId}: ${r.error.code} ${r.error.message}`);
  return r.data;
}
async function stateHash(hostId: string): Promise<string> {
  const r = await h.ask<HostState>(partition(hostId), 'state', { hostId });
  if (!r.ok) throw new Error(`state ${hostId}: ${r.error.message}`);
  return r.data.stateHash;
}
const summaryOf = async (hostId: string): Promise<HostSummary> => (await (await openHostSummaries(h.api.jetstream())).get(hostId))?.summary as HostSummary;
const findingsOut = async (): Promise<number> => (await (await h.admin.jetstreamManager()).streams.info(FINDINGS_STREAM)).state.messages;

describe('rebuild', () => {
  it('the fixture: one host folded wrong (behind, its last findings missing), the others right', async () => {
    expect(hidden.size).toBeGreaterThan(0);
    expect(hiddenFindings).toBeGreaterThan(0);
    expect(await stateHash(wrong.hostId)).not.toBe(reference.latest.get(wrong.hostId)!.stateHash());
    for (const hostId of hostIds) if (hostId !== wrong.hostId) expect(await stateHash(hostId)).toBe(reference.latest.get(hostId)!.stateHash());
    expect(await findingsOut()).toBe(expected.size - hiddenFindings);
  });

  it("corrects a wrong host from the store: its state, its summary, and the findings it had missed, published once", async () => {
    const ref = reference.latest.get(wrong.hostId)!;
    const before = projector.status().findings;
    const r = await rebuild(wrong.hostId);
    expect(r).toMatchObject({
      hostId: wrong.hostId,
      seq: ref.seq,
      stateHash: ref.stateHash(),
      events: events.filter((e) => e.hostId === wrong.hostId).length,
      findingsPublished: hiddenFindings,
      boots: [...reference.boots.values()].filter((p) => p.hostId === wrong.hostId).map((p) => p.bootId).slice(-BOOTS_KEPT),
    });
    expect(r.ms).toBeGreaterThanOrEqual(0);
    expect(await h.ask(partition(wrong.hostId), 'tree', { hostId: wrong.hostId })).toEqual({ ok: true, data: JSON.parse(JSON.stringify(hostView(ref))) });
    expect(await summaryOf(wrong.hostId)).toMatchObject({ seq: ref.seq, stateHash: ref.stateHash() });
    // The findings the wrong fold had published are not sent again; the missing ones are, once.
    const after = projector.status().findings;
    expect(after.stored - before.stored).toBe(hiddenFindings);
    expect(after.duplicate).toBe(before.duplicate);
    const out = await h.findings();
    expect(out.length).toBe(expected.size);
    expect(new Set(out.map((m) => m.msgId))).toEqual(new Set(expected.keys()));
  });

  it('of a right host gives the same state hash and publishes nothing', async () => {
    const hostId = hostIds.find((id) => id !== wrong.hostId)!;
    const ref = reference.latest.get(hostId)!;
    const before = projector.status().findings;
    const r = await rebuild(hostId);
    expect(r).toMatchObject({ hostId, seq: ref.seq, stateHash: ref.stateHash(), findingsPublished: 0 });
    const after = projector.status().findings;
    expect(after.stored).toBe(before.stored);
    expect(after.suppressed - before.suppressed).toBe([...expected.values()].filter((f) => f.hostId === hostId).length);
    expect(await findingsOut()).toBe(expected.size);
  });

  it('without a hostId rebuilds every host of the partition asked, and only those', async () => {
    for (let p = 0; p < PARTITIONS; p++) {
      const r = (await h.ask<RebuiltHost[]>(p, 'rebuild', {})) as QueryReply<RebuiltHost[]>;
      expect(r.ok && r.data.length).toBeGreaterThan(0);
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.data.map((x) => x.hostId)).toEqual(hostIds.filter((id) => partition(id) === p));
      for (const x of r.data) expect(x).toMatchObject({ stateHash: reference.latest.get(x.hostId)!.stateHash(), findingsPublished: 0 });
    }
    expect(await findingsOut()).toBe(expected.size);
  });

  it('a host of another partition is BAD_REQUEST, an unknown one NOT_FOUND', async () => {
    const hostId = hostIds[0]!;
    const other = (partition(hostId) + 1) % PARTITIONS;
    expect(await h.ask(other, 'rebuild', { hostId })).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/belongs to partition/) } });
    const unknown = Array.from({ length: 50 }, (_, i) => `ghost-${i}`).find((id) => partition(id) === 0)!;
    expect(await h.ask(0, 'rebuild', { hostId: unknown })).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });

  it('refolds only what the fold was handed: events stored but not handed over yet are folded once, after it', async () => {
    const s = view;
    const first = later.slice(0, 200);
    s.hold();
    await h.append(first);
    await eventually(() => s.waiting() > 0);
    try {
      for (const hostId of hostIds) expect(await rebuild(hostId)).toMatchObject({ seq: reference.latest.get(hostId)!.seq, stateHash: reference.latest.get(hostId)!.stateHash() });
    } finally {
      s.release();
    }
    const whole = referenceFold([...events, ...first]);
    await eventually(async () => {
      for (const hostId of hostIds) if ((await stateHash(hostId)) !== whole.latest.get(hostId)!.stateHash()) return false;
      return true;
    });
    for (const hostId of hostIds) expect(await h.ask(partition(hostId), 'state', { hostId })).toMatchObject({ ok: true, data: { duplicates: 0, applied: whole.latest.get(hostId)!.applied } });
    await eventually(async () => (await findingsOut()) === expectedFindings(whole).size);
  });

  it('while new events arrive: they wait for it, are folded once after it, and their findings go out once', async () => {
    // Appends and rebuilds side by side: a rebuild that let the fold in halfway, or refolded past
    // what the subscription had handed over, would leave a state off the from-scratch fold.
    const appending = (async () => {
      for (let i = 200; i < later.length; i += 20) {
        await h.append(later.slice(i, i + 20));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    })();
    const rebuilding = (async () => {
      const done: RebuiltHost[] = [];
      for (let round = 0; round < 3; round++) for (const hostId of hostIds) done.push(await rebuild(hostId));
      return done;
    })();
    const [, rebuilt] = await Promise.all([appending, rebuilding]);
    expect(rebuilt.map((x) => x.hostId)).toEqual([...hostIds, ...hostIds, ...hostIds]);
    const whole = referenceFold(all);
    const allExpected = expectedFindings(whole);
    await eventually(async () => {
      for (const hostId of hostIds) if ((await stateHash(hostId)) !== whole.latest.get(hostId)!.stateHash()) return false;
      return true;
    }, 10_000);
    await eventually(async () => (await findingsOut()) === allExpected.size);
    for (const hostId of hostIds) expect(await h.ask(partition(hostId), 'state', { hostId })).toMatchObject({ ok: true, data: { duplicates: 0 } });
    const out = await h.findings();
    expect(new Set(out.map((m) => m.msgId))).toEqual(new Set(allExpected.keys()));
    expect(out.length).toBe(allExpected.size);
    // The summaries catch up with the fold: none was moved back by a rebuild.
    await eventually(async () => {
      for (const hostId of hostIds) if ((await summaryOf(hostId))?.stateHash !== whole.latest.get(hostId)!.stateHash()) return false;
      return true;
    });
  });
});
