import type { HostEvent } from '@lockline/events';
import { hostStreamName } from '@lockline/events';
import { openEventStore } from '@lockline/eventstore';
import { describe, expect, it } from 'vitest';
import { StateAtReader } from './stateAt.js';
import { fleetEvents, foldUpTo } from './testing/fixture.js';

describe('StateAtReader', () => {
  it('gives the fold up to any seq, asked in any order, from its kept copies or the live fold', async () => {
    const events = fleetEvents({ hosts: 2, seed: 3, events: 4000 });
    const { hostId, bootId } = events[0]!;
    const boot = events.filter((e) => e.hostId === hostId && e.bootId === bootId);
    const store = await openEventStore('memory:');
    for (let i = 0; i < boot.length; i += 64) {
      const page = boot.slice(i, i + 64);
      await store.append(hostStreamName(hostId, bootId), page.map((e) => ({ id: e.id, type: e.type, data: e })), i === 0 ? 'no_stream' : i - 1);
    }
    const last = boot.at(-1)!.seq;
    const reader = new StateAtReader(store, { projection: {}, snapshotEvery: 97, maxSnapshotsPerBoot: 8 });
    // Forward, backward, at the ends, past the end: each equals a fresh fold.
    for (const seq of [last, 1, 500, 499, 1500, 120, last - 1, 980, 2, last + 50]) {
      const at = await reader.at(hostId, bootId, seq);
      expect(at?.p.stateHash(), `seq ${seq}`).toBe(foldUpTo(boot, hostId, bootId, seq).stateHash());
      expect(at?.p.seq).toBe(Math.min(seq, last));
    }
    // The live fold as a starting point: a copy is taken, the live one is not changed.
    const live = foldUpTo(boot, hostId, bootId, 700);
    const hash = live.stateHash();
    const at = await reader.at(hostId, bootId, 900, { p: live, revision: 699 });
    expect(at?.p.stateHash()).toBe(foldUpTo(boot, hostId, bootId, 900).stateHash());
    expect(live.seq).toBe(700);
    expect(live.stateHash()).toBe(hash);
    // A boot the store does not hold, or a seq before its first event.
    expect(await reader.at(hostId, 'nosuchboot', 10)).toBeUndefined();
    expect(await reader.at(hostId, bootId, 0)).toBeUndefined();
    await store.close();
  });

  it('keeps at most maxSnapshotsPerBoot copies of at most bootsCached boots', async () => {
    const events: HostEvent[] = fleetEvents({ hosts: 1, seed: 5, events: 3000 });
    const { hostId, bootId } = events[0]!;
    const boot = events.filter((e) => e.bootId === bootId);
    const store = await openEventStore('memory:');
    await store.append(hostStreamName(hostId, bootId), boot.map((e) => ({ id: e.id, type: e.type, data: e })), 'no_stream');
    const reader = new StateAtReader(store, { projection: {}, snapshotEvery: 10, maxSnapshotsPerBoot: 6, bootsCached: 1 });
    await reader.at(hostId, bootId, boot.at(-1)!.seq);
    const cache = (reader as unknown as { cache: Map<string, unknown[]> }).cache;
    expect(cache.get(`${hostId}/${bootId}`)!.length).toBeLessThanOrEqual(6);
    await reader.at(hostId, 'other', 5);
    expect([...cache.keys()]).toEqual([`${hostId}/other`]);
    await store.close();
  });
});
