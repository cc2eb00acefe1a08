import { FINDINGS_STREAM, ensureStreams, openHostSummaries, partitionOf } from '@lockline/bus';
import type { StoredMsg } from 'nats';
import { openEventStore } from '@lockline/eventstore';
import { findingsByCode, hostView } from '@lockline/projection';
import { serveMetrics } from '@lockline/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostSummary } from './hostSummary.js';
import type { HostState } from './queries.js';
import { expectedFindings, fleetEvents, referenceFold } from './testing/fixture.js';
import { eventually, forgetSummaries, startHarness, type Harness } from './testing/harness.js';

const PARTITIONS = 2;
const HOSTS = 6;
const events = fleetEvents({ hosts: HOSTS, seed: 7, events: 20_000 });
const reference = referenceFold(events);
const expected = expectedFindings(reference);
const hostIds = [...reference.latest.keys()].sort();

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ partitions: PARTITIONS });
  await h.append(events);
});
afterAll(async () => {
  await h?.close();
});

describe('the fixture', () => {
  it('has findings of several codes, hosts in every partition, and no host with more boots than the projector keeps', () => {
    expect(Object.keys(findingsByCode(reference.findings())).length).toBeGreaterThanOrEqual(3);
    expect(new Set(hostIds.map((id) => partitionOf(id, PARTITIONS))).size).toBe(PARTITIONS);
    const boots = new Map<string, number>();
    for (const p of reference.boots.values()) boots.set(p.hostId, (boots.get(p.hostId) ?? 0) + 1);
    expect(Math.max(...boots.values())).toBe(2); // a reboot is in it, and nothing dropped
  });
});

describe('a projector of every partition, from an empty start to a restart', () => {
  it('catches up: every host state and hash equal a from-scratch fold, /healthz turns 200, lag 0', async () => {
    const { projector, registry } = await h.projector();
    const metrics = await serveMetrics(registry, 0, () => projector.ready);
    try {
      expect((await fetch(`http://127.0.0.1:${metrics.port}/healthz`)).status).toBe(503);
      const t0 = performance.now();
      await projector.start();
      await projector.whenReady();
      const ms = performance.now() - t0;
      console.log(`catch-up: ${events.length} events in ${ms.toFixed(0)} ms (${Math.round(events.length / (ms / 1000)).toLocaleString('en-US')} events/s, findings published included)`);
      expect((await fetch(`http://127.0.0.1:${metrics.port}/healthz`)).status).toBe(200);
      expect(projector.status()).toMatchObject({ ready: true, eventsRead: events.length, eventsFolded: events.length, hosts: HOSTS, lag: 0, checkpoint: events.length });

      for (const hostId of hostIds) {
        const ref = reference.latest.get(hostId)!;
        const partition = partitionOf(hostId, PARTITIONS);
        const state = await h.ask<HostState>(partition, 'state', { hostId });
        expect(state.ok).toBe(true);
        if (!state.ok) continue;
        const { processes: _p, ...view } = hostView(ref);
        expect(state.data).toMatchObject(view);
        expect(state.data.stateHash).toBe(ref.stateHash());
        const tree = await h.ask(partition, 'tree', { hostId });
        expect(tree).toEqual({ ok: true, data: hostView(ref) });
        // The boot before a reboot is held too, and equals its own fold.
        for (const p of reference.boots.values()) {
          if (p.hostId !== hostId || p.bootId === ref.bootId) continue;
          const old = await h.ask<HostState>(partition, 'state', { hostId, bootId: p.bootId });
          expect(old.ok && old.data.stateHash).toBe(p.stateHash());
        }
      }

      const text = await (await fetch(`http://127.0.0.1:${metrics.port}/metrics`)).text();
      expect(text).toMatch(new RegExp(`lockline_projector_events_folded_total\\{service="projector"\\} ${events.length}\\b`));
      expect(text).toMatch(/lockline_projector_lag_events\{service="projector"\} 0\b/);
      expect(text).toMatch(/lockline_projector_query_duration_seconds_count\{[^}]*verb="state",outcome="ok"[^}]*\} \d+/);
      expect(text).toMatch(/lockline_projector_findings_total\{code="RESULT_DIVERGENCE"[^}]*\} \d+/);
      expect(text).toMatch(/lockline_projector_ready\{service="projector"\} 1\b/);

      await projector.stop();
      expect((await fetch(`http://127.0.0.1:${metrics.port}/healthz`)).status).toBe(503);
    } finally {
      await projector.stop();
      await metrics.close();
    }
  });

  it('published every finding exactly once, each under its deterministic Nats-Msg-Id, on its host subject', async () => {
    const stored = await h.findings();
    expect(stored.length).toBe(expected.size);
    expect(new Set(stored.map((m) => m.msgId)).size).toBe(stored.length);
    for (const m of stored) {
      const f = expected.get(m.msgId!);
      expect(f, m.msgId).toBeDefined();
      expect(m.finding).toEqual(JSON.parse(JSON.stringify(f)));
      expect(m.subject).toBe(`lockline.v1.findings.${f!.hostId}`);
    }
  });

  it('wrote a correct summary of every host to the hosts bucket (read as the api user)', async () => {
    const bucket = await openHostSummaries(h.api.jetstream());
    expect(await bucket.hostIds()).toEqual(hostIds);
    for (const hostId of hostIds) {
      const ref = reference.latest.get(hostId)!;
      const got = await bucket.get(hostId);
      const s = got?.summary as HostSummary;
      let live = 0;
      for (const t of ref.host!.tasks.values()) if (t.alive) live++;
      expect(s).toMatchObject({
        hostId,
        bootId: ref.bootId,
        seq: ref.seq,
        stateHash: ref.stateHash(),
        processes: live,
        lockedPages: ref.lockedPages,
        findingsByCode: findingsByCode(ref.findings),
        uncertainSince: ref.uncertainSince,
        lastEventTime: events.filter((e) => e.hostId === hostId).at(-1)!.time,
        partition: partitionOf(hostId, PARTITIONS),
        partitions: PARTITIONS,
      });
      expect(s.findingsPublishedThrough).toBe(s.position);
      expect(s.eventRate).toBeGreaterThanOrEqual(0);
      expect(Date.parse(s.updatedAt)).toBeGreaterThan(Date.now() - 60_000);
    }
  });

  it('restarted, it rebuilds the same state and publishes no finding again', async () => {
    const before = (await h.admin.jetstreamManager()).streams.info(FINDINGS_STREAM);
    const { projector } = await h.projector();
    await projector.start();
    await projector.whenReady();
    const status = projector.status();
    expect(status.findings).toEqual({ stored: 0, duplicate: 0, suppressed: expected.size });
    const hostId = hostIds[0]!;
    const state = await h.ask<HostState>(partitionOf(hostId, PARTITIONS), 'state', { hostId });
    expect(state.ok && state.data.stateHash).toBe(reference.latest.get(hostId)!.stateHash());
    await projector.stop();
    expect((await (await h.admin.jetstreamManager()).streams.info(FINDINGS_STREAM)).state.messages).toBe((await before).state.messages);
  });

  it('restarted without its summaries (as after a crash before it wrote them), it learns from the findings stream what it published: nothing goes out twice', async () => {
    await forgetSummaries(h.admin);
    const { projector } = await h.projector();
    await projector.start();
    await projector.whenReady();
    // Not even as a duplicate JetStream would drop: past its 2-minute window it would not.
    expect(projector.status().findings).toEqual({ stored: 0, duplicate: 0, suppressed: expected.size });
    expect((await h.findings()).length).toBe(expected.size);
    // ... and its summaries carry the checkpoint again.
    await eventually(async () => {
      const s = (await (await openHostSummaries(h.api.jetstream())).get(hostIds[0]!))?.summary as HostSummary | undefined;
      return s !== undefined && s.findingsPublishedThrough > 0;
    });
    await projector.stop();
  });
});

describe('a run that died in the middle of publishing findings', () => {
  it('publishes again exactly the findings that did not get out, and none that did', async () => {
    // The findings stream as that run left it: every finding but the last three of the host with the
    // most, written exactly as the projector writes them (same subject, Msg-Id and position header).
    const jsm = await h.admin.jetstreamManager();
    const { state } = await jsm.streams.info(FINDINGS_STREAM);
    const messages: StoredMsg[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq; seq++) messages.push(await jsm.streams.getMessage(FINDINGS_STREAM, { seq }));
    const counts = new Map<string, number>();
    for (const m of messages) counts.set(m.subject, (counts.get(m.subject) ?? 0) + 1);
    const [subject] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
    const lost = new Set(messages.filter((m) => m.subject === subject).slice(-3));
    expect(lost.size).toBe(3);
    await jsm.streams.delete(FINDINGS_STREAM);
    await ensureStreams(jsm, { partitions: PARTITIONS, storage: 'memory' });
    for (const m of messages) if (!lost.has(m)) await h.admin.jetstream().publish(m.subject, m.data, { msgID: m.header.get('Nats-Msg-Id'), headers: m.header });
    await forgetSummaries(h.admin);

    const { projector } = await h.projector();
    await projector.start();
    await projector.whenReady();
    expect(projector.status().findings).toEqual({ stored: lost.size, duplicate: 0, suppressed: expected.size - lost.size });
    const after = await h.findings();
    expect(after.length).toBe(expected.size);
    expect(new Set(after.map((m) => m.msgId))).toEqual(new Set(expected.keys()));
    expect(after.slice(-3).map((m) => m.msgId)).toEqual([...lost].map((m) => m.header.get('Nats-Msg-Id')));
    await projector.stop();
  });
});

describe('live', () => {
  it('folds events appended after it caught up, and answers for them within a second (append → queryable)', async () => {
    const more = fleetEvents({ hosts: HOSTS, seed: 7, events: 20_400 }).slice(events.length);
    expect(more.length).toBe(400);
    const { projector } = await h.projector();
    await projector.start();
    await projector.whenReady();
    const baseline = projector.status().findings.stored;
    // Half through a second store object on the same file, as ingest in another process appends
    // (the projector notices by polling the file), half through the projector's own (woken at once).
    const writer = await openEventStore(h.storeUrl);
    const measure = async (slice: typeof more, via: typeof writer | undefined): Promise<number[]> => {
      const latencies: number[] = [];
      for (const e of slice) {
        const t0 = performance.now();
        await h.append([e], via);
        const partition = partitionOf(e.hostId, PARTITIONS);
        for (;;) {
          const r = await h.ask<HostState>(partition, 'state', { hostId: e.hostId, bootId: e.bootId });
          if (r.ok && r.data.seq >= e.seq) break;
          if (performance.now() - t0 > 5000) throw new Error(`seq ${e.seq} of ${e.hostId} not queryable after 5 s`);
        }
        latencies.push(performance.now() - t0);
      }
      return latencies.sort((a, b) => a - b);
    };
    const pct = (xs: number[], q: number): number => xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
    try {
      const other = await measure(more.slice(0, 200), writer);
      const same = await measure(more.slice(200), undefined);
      console.log(
        `append → queryable, ${other.length} appends from another store object (polled): p50 ${pct(other, 0.5).toFixed(1)} ms, p99 ${pct(other, 0.99).toFixed(1)} ms, max ${other.at(-1)!.toFixed(1)} ms; ` +
          `${same.length} through the projector's own store object: p50 ${pct(same, 0.5).toFixed(2)} ms, p99 ${pct(same, 0.99).toFixed(2)} ms`,
      );
      expect(pct(other, 0.99)).toBeLessThan(1000);
      expect(pct(same, 0.99)).toBeLessThan(1000);
      // Live state equals a from-scratch fold of everything stored.
      const all = referenceFold([...events, ...more]);
      for (const hostId of hostIds) {
        const r = await h.ask<HostState>(partitionOf(hostId, PARTITIONS), 'state', { hostId });
        expect(r.ok && r.data.stateHash).toBe(all.latest.get(hostId)!.stateHash());
      }
      // New findings of the live events went out once, none of the old ones again.
      const allExpected = expectedFindings(all);
      await eventually(async () => (await h.findings()).length === allExpected.size);
      expect(projector.status().findings.stored - baseline).toBe(allExpected.size - expected.size);
    } finally {
      await writer.close();
      await projector.stop();
    }
  });

  it('ends (done rejects, not ready) when its store goes away: main.ts then exits and is restarted', async () => {
    const own = await openEventStore(h.storeUrl);
    const { projector } = await h.projector({}, own);
    await projector.start();
    await projector.whenReady();
    await own.close();
    await expect(projector.done).rejects.toThrow(/store/);
    expect(projector.ready).toBe(false);
    await projector.stop();
  });

  it('stops cleanly: stop() is idempotent, done resolves, queries find no responder, the store stays usable', async () => {
    const { projector, nc } = await h.projector();
    await projector.start();
    await projector.whenReady();
    const hostId = hostIds[0]!;
    const partition = partitionOf(hostId, PARTITIONS);
    expect((await h.ask(partition, 'state', { hostId })).ok).toBe(true);
    await Promise.all([projector.stop(), projector.stop()]);
    await expect(projector.done).resolves.toBeUndefined();
    expect(projector.ready).toBe(false);
    await expect(h.ask(partition, 'state', { hostId })).rejects.toThrow(/503|no responders/i);
    expect(nc.isClosed()).toBe(false); // connections belong to main.ts
    expect((await h.store.readStream(`host-${hostId}-${reference.latest.get(hostId)!.bootId}`, { maxCount: 1 })).length).toBe(1);
  });
});
