import type { EventStore } from '@lockline/eventstore';
import { openEventStore } from '@lockline/eventstore';
import { describe, expect, it } from 'vitest';
import { StoredEventInvalid, isSeqStored, readStoredEnd } from './storedEnd.js';

/** A store (memory adapter) whose stream holds envelopes with these seqs, appended in batches of 7. */
async function storeWith(seqs: readonly number[]): Promise<{ store: Pick<EventStore, 'readStream'>; reads: () => number }> {
  const inner = await openEventStore('memory:');
  for (let i = 0; i < seqs.length; i += 7) {
    const chunk = seqs.slice(i, i + 7).map((seq) => ({ id: `id-${seq}`, type: 't', data: { id: `id-${seq}`, type: 't', seq } }));
    await inner.append('s', chunk, i === 0 ? 'no_stream' : i - 1);
  }
  let count = 0;
  const store: Pick<EventStore, 'readStream'> = {
    readStream: (stream, options) => {
      count++;
      return inner.readStream(stream, options);
    },
  };
  return { store, reads: () => count };
}

describe('readStoredEnd', () => {
  it('finds the last seq and revision of a stream without gaps, in three reads with a right hint', async () => {
    const seqs = Array.from({ length: 1000 }, (_, i) => i + 1);
    const { store, reads } = await storeWith(seqs);
    expect(await readStoredEnd(store, 's', 999)).toEqual({ lastSeq: 1000, revision: 999 });
    expect(reads()).toBe(3);
    for (const hint of [0, 1, 500, 998, 1000, 5000]) expect(await readStoredEnd(store, 's', hint), `hint ${hint}`).toEqual({ lastSeq: 1000, revision: 999 });
  });

  it('finds the end of a stream with gaps (revision ≠ seq − 1) and of no stream', async () => {
    const seqs = [1, 2, 3, 7, 8, 20, 21, 22, 23, 100];
    const { store } = await storeWith(seqs);
    for (const hint of [0, 3, 8, 98, 200]) expect(await readStoredEnd(store, 's', hint)).toEqual({ lastSeq: 100, revision: 9 });
    expect(await readStoredEnd(store, 'none', 5)).toEqual({ lastSeq: 0, revision: 'no_stream' });
  });

  it('refuses a stream holding something that is not an envelope', async () => {
    const store = await openEventStore('memory:');
    await store.append('s', [{ id: 'x', type: 't', data: { nope: true } }], 'no_stream');
    await expect(readStoredEnd(store, 's')).rejects.toThrow(StoredEventInvalid);
  });
});

describe('isSeqStored', () => {
  it('tells a stored seq from one given up in a gap', async () => {
    const seqs = [1, 2, 3, 7, 8, 20, 21, 22, 23, 100];
    const { store } = await storeWith(seqs);
    for (let seq = 1; seq <= 101; seq++) expect(await isSeqStored(store, 's', seq, seqs.length - 1), `seq ${seq}`).toBe(seqs.includes(seq));
  });
});
