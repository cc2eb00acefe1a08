import { describe, expect, it } from 'vitest';
import { HOST_EVENTS_MAX_SCAN, appendHostEvents, bootsOf, readHostEvents, readHostInStoreOrder } from './hostEvents.js';
import { openMemoryEventStore } from './memory.js';
import type { EventStore, RecordedEvent } from './port.js';

/** Events shaped like envelopes: what readHostEvents filters on is `type` and `data.pid` / `data.child`. */
function envelope(hostId: string, bootId: string, seq: number, type: string, data: Record<string, unknown>) {
  return { id: `${hostId}-${bootId}-${seq}`, type, data: { id: `${hostId}-${bootId}-${seq}`, hostId, bootId, seq, time: '2025-01-01T00:00:00.000Z', type, data } };
}

/** Appends `n` events of one boot, in batches of 50: every third a fork by pid 1 of child 100 + seq. */
async function boot(store: EventStore, hostId: string, bootId: string, n: number, from = 1): Promise<void> {
  const stream = `host-${hostId}-${bootId}`;
  for (let seq = from; seq < from + n; seq += 50) {
    const batch = [];
    for (let s = seq; s < Math.min(from + n, seq + 50); s++) batch.push(s % 3 === 0 ? envelope(hostId, bootId, s, 'syscall.fork', { pid: 1, child: 100 + s }) : envelope(hostId, bootId, s, 'syscall.mmap', { pid: 2 }));
    await store.append(stream, batch, seq === 1 ? 'no_stream' : seq - 2);
  }
}

const seqs = (items: ReadonlyArray<{ seq: number }>): number[] => items.map((e) => e.seq);

describe("a host's events, read from the store", () => {
  it('pages by cursor with the filters; a full last page says there is no next one', async () => {
    const store = await openMemoryEventStore();
    await boot(store, 'h1', 'b1', 120);
    const first = (await readHostEvents(store, 'h1', 'b1', { cursor: 0, limit: 50 }))!;
    expect(seqs(first.items)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(first.nextCursor).toBe(50);
    const last = (await readHostEvents(store, 'h1', 'b1', { cursor: 100, limit: 20 }))!;
    expect(last.nextCursor).toBeNull();
    const forks = (await readHostEvents(store, 'h1', 'b1', { cursor: 0, limit: 5, types: new Set(['syscall.fork']) }))!;
    expect(seqs(forks.items)).toEqual([3, 6, 9, 12, 15]);
    const child = (await readHostEvents(store, 'h1', 'b1', { cursor: 0, limit: 5, pid: 109 }))!;
    expect(seqs(child.items)).toEqual([9]);
    expect(child.nextCursor).toBeNull();
    expect(await readHostEvents(store, 'h1', 'nope', { cursor: 0, limit: 5 })).toBeUndefined();
    expect(await readHostEvents(store, 'h1', 'b1', { cursor: 500, limit: 5 })).toEqual({ hostId: 'h1', bootId: 'b1', items: [], nextCursor: null });
  });

  it('reads at most HOST_EVENTS_MAX_SCAN events a page: a filter that matches nothing answers an empty page with a cursor', async () => {
    const store = await openMemoryEventStore();
    await boot(store, 'h1', 'b1', HOST_EVENTS_MAX_SCAN + 10);
    const page = (await readHostEvents(store, 'h1', 'b1', { cursor: 0, limit: 10, types: new Set(['syscall.exec']) }))!;
    expect(page).toEqual({ hostId: 'h1', bootId: 'b1', items: [], nextCursor: HOST_EVENTS_MAX_SCAN });
    expect((await readHostEvents(store, 'h1', 'b1', { cursor: HOST_EVENTS_MAX_SCAN, limit: 10, types: new Set(['syscall.exec']) }))!.nextCursor).toBeNull();
  });

  it("lists a host's boots newest first, never another host's whose id shares a prefix", async () => {
    const store = await openMemoryEventStore();
    await boot(store, 'h1', 'old', 10);
    await boot(store, 'h1-x', 'b9', 10);
    await boot(store, 'h1', 'new', 10);
    expect(await bootsOf(store, 'h1')).toEqual(['new', 'old']);
    expect(await bootsOf(store, 'h1-x')).toEqual(['b9']);
    expect(await bootsOf(store, 'h2')).toEqual([]);
  });

  it('reads a host in store order across its boots, up to a position, in pages', async () => {
    const store = await openMemoryEventStore();
    // Two boots appended turn about (a late event of the old boot after the new one began), and another host between.
    await boot(store, 'h1', 'a', 100);
    await boot(store, 'h2', 'z', 30);
    await boot(store, 'h1', 'b', 60);
    await boot(store, 'h1', 'a', 20, 101);
    const everything = await store.readAll();
    const mine = everything.filter((r) => r.stream.startsWith('host-h1-'));
    const read = async (through: number): Promise<RecordedEvent[]> => {
      const out: RecordedEvent[] = [];
      for await (const page of readHostInStoreOrder(store, 'h1', { through, pageSize: 7 })) {
        expect(page.length).toBeLessThanOrEqual(7);
        out.push(...page);
      }
      return out;
    };
    expect((await read(Number.MAX_SAFE_INTEGER)).map((r) => r.position)).toEqual(mine.map((r) => r.position));
    const cut = mine[150]!.position;
    expect((await read(cut)).map((r) => r.position)).toEqual(mine.filter((r) => r.position <= cut).map((r) => r.position));
    expect(await read(0)).toEqual([]);
  });
});

describe('appendHostEvents', () => {
  it('appends each host boot to its own stream in batches, in order, and goes on from where an earlier call left off', async () => {
    const store = await openMemoryEventStore();
    const events = (from: number, to: number, bootId: string) => Array.from({ length: to - from + 1 }, (_, i) => envelope('h1', bootId, from + i, 'syscall.mmap', { pid: 2 }).data as never);
    const expected = new Map();
    expect(await appendHostEvents(store, [...events(1, 25, 'b1'), ...events(1, 3, 'b2')], { batchEvents: 10, expected })).toBe(28);
    expect(await appendHostEvents(store, events(26, 30, 'b1'), { batchEvents: 10, expected })).toBe(5);
    const b1 = await store.readStream('host-h1-b1');
    expect(b1.map((e) => (e.data as { seq: number }).seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(b1.map((e) => e.revision)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect((await store.readStream('host-h1-b2')).length).toBe(3);
    // the map holds each stream's last revision: the second call went on from it
    expect(expected.get('host-h1-b1')).toBe(29);
  });
});
