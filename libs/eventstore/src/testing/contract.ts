import { randomUUID } from 'node:crypto';
import { hostStreamName } from '@lockline/events';
import { afterEach, describe, expect, it } from 'vitest';
import { ExpectedRevisionConflict } from '../errors.js';
import { readAllPages, readStreamPages } from '../pages.js';
import type { EventStore, NewEvent, RecordedEvent, Subscription } from '../port.js';

/**
 * The contract every adapter keeps (STYLE.md 5): `eventStoreContract('sqlite', { open, reopen })`
 * inside a test file defines the suite. `open()` gives a store on new, empty data; `reopen()` a
 * second store object on the data of the last `open()`, as after a restart (the contract closes the
 * first one before). `{ skip: reason }` lists the same tests as skipped, with the reason.
 *
 * The store need not be empty: every test writes streams of its own (named like real ones,
 * `host-<hostId>-<bootId>`, with a fresh hostId) and looks only at those, so the suite also runs on
 * a shared EventStoreDB server.
 */
export type EventStoreFactory = { open(): Promise<EventStore>; reopen?(): Promise<EventStore> } | { skip: string };

export function eventStoreContract(name: string, factory: EventStoreFactory): void {
  if ('skip' in factory) {
    describe.skip(`${name} event store contract — skipped: ${factory.skip}`, () => defineContract(undefined));
    return;
  }
  describe(`${name} event store contract`, () => defineContract(factory));
}

/** Test data: a fresh host, its stream names and events. */
function testHost(): { stream: (boot?: string) => string; events: (n: number, tag?: string) => NewEvent[] } {
  const hostId = `ct-${randomUUID().slice(0, 8)}`;
  let seq = 0;
  return {
    stream: (boot = 'b1') => hostStreamName(hostId, boot),
    events: (n, tag = 'x') =>
      Array.from({ length: n }, () => {
        seq++;
        const id = randomUUID();
        return { id, type: 'syscall.mlock', data: { id, hostId, seq, tag, nested: { flags: ['MCL_CURRENT', 'MCL_INHERIT'], length: 4096 * seq } } };
      }),
  };
}

function summary(events: readonly RecordedEvent[]): string[] {
  return events.map((e) => `${e.stream}#${e.revision}:${e.id}`);
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function allOf(store: EventStore, streams: ReadonlySet<string>, after?: number): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  for await (const page of readAllPages(store, after === undefined ? {} : { after })) out.push(...page.filter((e) => streams.has(e.stream)));
  return out;
}

function defineContract(factory: Exclude<EventStoreFactory, { skip: string }> | undefined): void {
  const opened: EventStore[] = [];
  const subscriptions: Subscription[] = [];
  const open = async (): Promise<EventStore> => {
    const store = await (factory as { open(): Promise<EventStore> }).open();
    opened.push(store);
    return store;
  };
  const reopen = async (): Promise<EventStore> => {
    const again = factory?.reopen;
    if (again === undefined) throw new Error('this factory has no reopen()');
    const store = await again.call(factory);
    opened.push(store);
    return store;
  };
  const track = (s: Subscription): Subscription => (subscriptions.push(s), s);

  afterEach(async () => {
    await Promise.all(subscriptions.splice(0).map((s) => s.stop()));
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  describe('append and read', () => {
    it('numbers a new stream 0..n−1 and reads back ids, types and data in order', async () => {
      const store = await open();
      const h = testHost();
      const events = h.events(5);
      const result = await store.append(h.stream(), events, 'no_stream');
      expect(result.nextExpectedRevision).toBe(4);
      const read = await store.readStream(h.stream());
      expect(read.map((e) => e.revision)).toEqual([0, 1, 2, 3, 4]);
      expect(read.map((e) => ({ id: e.id, type: e.type, data: e.data }))).toEqual(events.map((e) => ({ id: e.id, type: e.type, data: e.data })));
      expect(read.every((e) => e.stream === h.stream())).toBe(true);
      expect(result.position).toBe(read[4]?.position);

      const more = h.events(3);
      const second = await store.append(h.stream(), more, result.nextExpectedRevision);
      expect(second.nextExpectedRevision).toBe(7);
      expect(second.position).toBeGreaterThan(result.position);
      expect((await store.readStream(h.stream())).map((e) => e.id)).toEqual([...events, ...more].map((e) => e.id));
    });

    it('keeps the order of appends across streams, with strictly increasing positions', async () => {
      const store = await open();
      const h = testHost();
      const [a, b, c] = [h.stream('a'), h.stream('b'), h.stream('c')];
      const expected: string[] = [];
      const plan: [string, number][] = [[a, 3], [b, 1], [a, 2], [c, 4], [b, 2], [a, 1], [c, 1]];
      const next = new Map<string, number>();
      for (const [stream, n] of plan) {
        const events = h.events(n);
        const rev = next.get(stream);
        const r = await store.append(stream, events, rev === undefined ? 'no_stream' : rev);
        next.set(stream, r.nextExpectedRevision);
        events.forEach((e, k) => expected.push(`${stream}#${r.nextExpectedRevision - n + 1 + k}:${e.id}`));
      }
      const all = await allOf(store, new Set([a, b, c]));
      expect(summary(all)).toEqual(expected);
      for (let i = 1; i < all.length; i++) expect((all[i] as RecordedEvent).position).toBeGreaterThan((all[i - 1] as RecordedEvent).position);
    });

    it('reads all from every position and after every position: exactly the suffix', async () => {
      const store = await open();
      const h = testHost();
      const streams = new Set([h.stream('a'), h.stream('b')]);
      await store.append(h.stream('a'), h.events(4), 'no_stream');
      await store.append(h.stream('b'), h.events(3), 'no_stream');
      await store.append(h.stream('a'), h.events(2), 3);
      const all = await allOf(store, streams);
      expect(all).toHaveLength(9);
      for (const [i, e] of all.entries()) {
        const from = (await store.readAll({ fromPosition: e.position })).filter((x) => streams.has(x.stream));
        expect(summary(from)).toEqual(summary(all.slice(i)));
        const after = (await store.readAll({ after: e.position })).filter((x) => streams.has(x.stream));
        expect(summary(after)).toEqual(summary(all.slice(i + 1)));
      }
    });

    it('pages readAll with maxCount and after: every event once, in order', async () => {
      const store = await open();
      const h = testHost();
      const streams = new Set([h.stream('a'), h.stream('b')]);
      for (let i = 0; i < 5; i++) {
        await store.append(h.stream('a'), h.events(3), i === 0 ? 'no_stream' : 'any');
        await store.append(h.stream('b'), h.events(2), i === 0 ? 'no_stream' : 'any');
      }
      const whole = await allOf(store, streams);
      expect(whole).toHaveLength(25);
      const first = whole[0] as RecordedEvent;
      for (const pageSize of [1, 2, 7]) {
        const seen: RecordedEvent[] = [];
        // The first page from a position the store gave (positions may have gaps), then `after`.
        let after: number | undefined;
        for (;;) {
          const page = await store.readAll(after === undefined ? { fromPosition: first.position, maxCount: pageSize } : { after, maxCount: pageSize });
          expect(page.length).toBeLessThanOrEqual(pageSize);
          seen.push(...page.filter((e) => streams.has(e.stream)));
          if (page.length < pageSize) break;
          after = (page[page.length - 1] as RecordedEvent).position;
        }
        expect(summary(seen)).toEqual(summary(whole));
      }
    });

    it('reads a stream from every revision, and pages it with maxCount', async () => {
      const store = await open();
      const h = testHost();
      await store.append(h.stream(), h.events(4), 'no_stream');
      await store.append(h.stream('other'), h.events(2), 'no_stream');
      await store.append(h.stream(), h.events(3), 3);
      const all = await store.readStream(h.stream());
      expect(all.map((e) => e.revision)).toEqual([0, 1, 2, 3, 4, 5, 6]);
      for (let from = 0; from <= 7; from++) {
        expect(summary(await store.readStream(h.stream(), { fromRevision: from }))).toEqual(summary(all.slice(from)));
        for (const maxCount of [1, 2, 5]) {
          expect(summary(await store.readStream(h.stream(), { fromRevision: from, maxCount }))).toEqual(summary(all.slice(from, from + maxCount)));
        }
      }
      expect(await store.readStream(h.stream(), { fromRevision: 100 })).toEqual([]);
      expect(await store.readStream(h.stream('neverwritten'))).toEqual([]);
      const paged: RecordedEvent[] = [];
      for await (const page of readStreamPages(store, h.stream(), { pageSize: 3 })) paged.push(...page);
      expect(summary(paged)).toEqual(summary(all));
    });

    it('keeps many interleaved streams apart, and lists them with their last revisions', async () => {
      const store = await open();
      const h = testHost();
      const streams = Array.from({ length: 30 }, (_, i) => h.stream(`boot${i}`));
      const written = new Map<string, string[]>(streams.map((s) => [s, []]));
      const last = new Map<string, number>();
      // A fixed interleaving: stream i gets a batch of (i % 4) + 1 events in each of 4 rounds.
      for (let round = 0; round < 4; round++) {
        await Promise.all(
          streams.map(async (s, i) => {
            const events = h.events((i % 4) + 1);
            const r = await store.append(s, events, round === 0 ? 'no_stream' : (last.get(s) as number));
            last.set(s, r.nextExpectedRevision);
            written.get(s)?.push(...events.map((e) => e.id));
          }),
        );
      }
      for (const s of streams) {
        const read = await store.readStream(s);
        expect(read.map((e) => e.id)).toEqual(written.get(s));
        expect(read.map((e) => e.revision)).toEqual(read.map((_, i) => i));
      }
      const listed = new Map((await store.listStreams()).map((x) => [x.stream, x.lastRevision]));
      for (const s of streams) expect(listed.get(s)).toBe(last.get(s));
      const all = await allOf(store, new Set(streams));
      expect(all).toHaveLength([...written.values()].reduce((n, ids) => n + ids.length, 0));
    });
  });

  describe('expected revision', () => {
    it('refuses an append at a stale revision with a typed conflict carrying expected and actual', async () => {
      const store = await open();
      const h = testHost();
      await store.append(h.stream(), h.events(3), 'no_stream');
      const error = await store.append(h.stream(), h.events(1), 0).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ExpectedRevisionConflict);
      expect(error).toMatchObject({ code: 'EXPECTED_REVISION_CONFLICT', stream: h.stream(), expected: 0, actual: 2 });
      const ahead = await store.append(h.stream(), h.events(1), 7).catch((e: unknown) => e);
      expect(ahead).toMatchObject({ code: 'EXPECTED_REVISION_CONFLICT', expected: 7, actual: 2 });
      expect(await store.readStream(h.stream())).toHaveLength(3);
    });

    it("no_stream: refuses an existing stream; a revision: refuses a missing one (actual 'no_stream')", async () => {
      const store = await open();
      const h = testHost();
      await store.append(h.stream(), h.events(2), 'no_stream');
      await expect(store.append(h.stream(), h.events(1), 'no_stream')).rejects.toMatchObject({ code: 'EXPECTED_REVISION_CONFLICT', expected: 'no_stream', actual: 1 });
      await expect(store.append(h.stream('missing'), h.events(1), 0)).rejects.toMatchObject({ code: 'EXPECTED_REVISION_CONFLICT', expected: 0, actual: 'no_stream' });
      expect(await store.readStream(h.stream('missing'))).toEqual([]);
    });

    it("any: appends whatever the stream's state", async () => {
      const store = await open();
      const h = testHost();
      expect((await store.append(h.stream(), h.events(2), 'any')).nextExpectedRevision).toBe(1);
      expect((await store.append(h.stream(), h.events(1), 'any')).nextExpectedRevision).toBe(2);
      expect(await store.readStream(h.stream())).toHaveLength(3);
    });

    it('lets exactly one of two racing appends at the same revision through', async () => {
      const store = await open();
      const h = testHost();
      await store.append(h.stream(), h.events(1), 'no_stream');
      const results = await Promise.allSettled([store.append(h.stream(), h.events(2, 'a'), 0), store.append(h.stream(), h.events(2, 'b'), 0)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected');
      expect(rejected?.reason).toBeInstanceOf(ExpectedRevisionConflict);
      expect(await store.readStream(h.stream())).toHaveLength(3);
    });
  });

  describe('idempotent retry', () => {
    it('a retry with the same ids and expected revision writes nothing and returns the same result', async () => {
      const store = await open();
      const h = testHost();
      const first = h.events(3);
      const second = h.events(2);
      const r1 = await store.append(h.stream(), first, 'no_stream');
      expect(await store.append(h.stream(), first, 'no_stream')).toEqual(r1);
      const r2 = await store.append(h.stream(), second, r1.nextExpectedRevision);
      // Retries of both, after the stream moved on.
      expect(await store.append(h.stream(), first, 'no_stream')).toEqual(r1);
      expect(await store.append(h.stream(), second, r1.nextExpectedRevision)).toEqual(r2);
      const read = await store.readStream(h.stream());
      expect(read.map((e) => e.id)).toEqual([...first, ...second].map((e) => e.id));
      expect((await allOf(store, new Set([h.stream()]))).map((e) => e.id)).toEqual(read.map((e) => e.id));
    });

    it('a retry whose ids differ is a conflict', async () => {
      const store = await open();
      const h = testHost();
      const first = h.events(3);
      await store.append(h.stream(), first, 'no_stream');
      const changed = [first[0] as NewEvent, first[1] as NewEvent, ...h.events(1)];
      await expect(store.append(h.stream(), changed, 'no_stream')).rejects.toMatchObject({ code: 'EXPECTED_REVISION_CONFLICT', expected: 'no_stream', actual: 2 });
      await expect(store.append(h.stream(), h.events(3), 'no_stream')).rejects.toBeInstanceOf(ExpectedRevisionConflict);
      expect((await store.readStream(h.stream())).map((e) => e.id)).toEqual(first.map((e) => e.id));
    });
  });

  describe('subscribeToAll', () => {
    it('catches up on everything after the checkpoint, in order, then delivers new appends live', async () => {
      const store = await open();
      const h = testHost();
      const mine = new Set([h.stream('a'), h.stream('b')]);
      await store.append(h.stream('a'), h.events(5), 'no_stream');
      await store.append(h.stream('b'), h.events(5), 'no_stream');
      const all = await allOf(store, mine);
      const checkpoint = (all[3] as RecordedEvent).position;
      const got: RecordedEvent[] = [];
      track(store.subscribeToAll({ after: checkpoint, maxBatch: 3 }, (batch) => void got.push(...batch.filter((e) => mine.has(e.stream)))));
      await waitFor('catch-up', () => got.length >= 6);
      expect(summary(got)).toEqual(summary(all.slice(4)));

      const live = h.events(4);
      await store.append(h.stream('a'), live, 4);
      await waitFor('live events', () => got.length >= 10);
      expect(got.slice(6).map((e) => e.id)).toEqual(live.map((e) => e.id));
      await new Promise((r) => setTimeout(r, 100));
      expect(got).toHaveLength(10);
    });

    it('never overlaps handler calls, and moves its checkpoint only after a call returns', async () => {
      const store = await open();
      const h = testHost();
      for (let i = 0; i < 6; i++) await store.append(h.stream(), h.events(2), i === 0 ? 'no_stream' : 'any');
      const mine = new Set([h.stream()]);
      let running = 0;
      let maxRunning = 0;
      let count = 0;
      const sub = track(
        store.subscribeToAll({ maxBatch: 2 }, async (batch) => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          await new Promise((r) => setTimeout(r, 5));
          count += batch.filter((e) => mine.has(e.stream)).length;
          running--;
        }),
      );
      await store.append(h.stream(), h.events(2), 'any');
      await waitFor('all events', () => count >= 14);
      expect(maxRunning).toBe(1);
      const last = (await store.readStream(h.stream())).at(-1) as RecordedEvent;
      await waitFor('checkpoint', () => (sub.checkpoint ?? 0) >= last.position);
    });

    it('resumes after a restart from its last checkpoint: no loss, no repeat', async () => {
      if (factory?.reopen === undefined) return expect.fail('the factory must provide reopen()');
      let store = await open();
      const h = testHost();
      const mine = new Set([h.stream('a'), h.stream('b')]);
      await store.append(h.stream('a'), h.events(3), 'no_stream');
      const got: RecordedEvent[] = [];
      const handler = (batch: readonly RecordedEvent[]): void => void got.push(...batch.filter((e) => mine.has(e.stream)));
      const first = track(store.subscribeToAll({}, handler));
      await store.append(h.stream('b'), h.events(2), 'no_stream');
      await waitFor('first events', () => got.length >= 5);
      await first.stop();
      await first.done;
      const checkpoint = first.checkpoint;
      expect(checkpoint).toBeDefined();
      // Appended while no one listens, then the process restarts.
      await store.append(h.stream('a'), h.events(2), 2);
      await store.close();
      store = await reopen();
      await store.append(h.stream('b'), h.events(2), 1);
      track(store.subscribeToAll(checkpoint === undefined ? {} : { after: checkpoint }, handler));
      await store.append(h.stream('a'), h.events(1), 4);
      const expected = await allOf(store, mine);
      expect(expected).toHaveLength(10);
      await waitFor('resumed events', () => got.length >= 10);
      await new Promise((r) => setTimeout(r, 100));
      expect(summary(got)).toEqual(summary(expected));
    });

    it('loses and repeats nothing that is appended while it catches up', async () => {
      const store = await open();
      const h = testHost();
      const streams = [h.stream('a'), h.stream('b'), h.stream('c')];
      const mine = new Set(streams);
      for (const s of streams) await store.append(s, h.events(20), 'no_stream');
      const got: RecordedEvent[] = [];
      track(
        store.subscribeToAll({ maxBatch: 7 }, async (batch) => {
          got.push(...batch.filter((e) => mine.has(e.stream)));
          await new Promise((r) => setTimeout(r, 1));
        }),
      );
      const last = new Map(streams.map((s) => [s, 19]));
      for (let i = 0; i < 30; i++) {
        const s = streams[i % 3] as string;
        const r = await store.append(s, h.events(3), last.get(s) as number);
        last.set(s, r.nextExpectedRevision);
        if (i % 5 === 0) await new Promise((r) => setTimeout(r, 2));
      }
      const expected = await allOf(store, mine);
      expect(expected).toHaveLength(150);
      await waitFor('every event', () => got.length >= 150);
      await new Promise((r) => setTimeout(r, 100));
      expect(summary(got)).toEqual(summary(expected));
    });

    it('stops delivering after stop(), and done resolves', async () => {
      const store = await open();
      const h = testHost();
      const mine = new Set([h.stream()]);
      let count = 0;
      const sub = track(store.subscribeToAll({}, (batch) => void (count += batch.filter((e) => mine.has(e.stream)).length)));
      await store.append(h.stream(), h.events(2), 'no_stream');
      await waitFor('events', () => count >= 2);
      await sub.stop();
      await expect(sub.done).resolves.toBeUndefined();
      await store.append(h.stream(), h.events(2), 1);
      await new Promise((r) => setTimeout(r, 150));
      expect(count).toBe(2);
    });

    it("stops on the handler's error and rejects done with it", async () => {
      const store = await open();
      const h = testHost();
      const mine = new Set([h.stream()]);
      await store.append(h.stream(), h.events(3), 'no_stream');
      let calls = 0;
      const boom = new Error('projection failed');
      const sub = track(
        store.subscribeToAll({}, (batch) => {
          if (batch.some((e) => mine.has(e.stream))) {
            calls++;
            throw boom;
          }
        }),
      );
      await expect(sub.done).rejects.toBe(boom);
      await store.append(h.stream(), h.events(1), 2);
      await new Promise((r) => setTimeout(r, 150));
      expect(calls).toBe(1);
    });
  });
}
