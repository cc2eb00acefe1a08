import type { EventStore, RecordedEvent } from './port.js';

/**
 * Async iterators over a store, one page at a time: `for await (const page of readStreamPages(…))`.
 */

/** A stream from `fromRevision` to its current end, in pages of at most `pageSize` events. */
export async function* readStreamPages(
  store: Pick<EventStore, 'readStream'>,
  stream: string,
  options: { fromRevision?: number; pageSize?: number } = {},
): AsyncGenerator<RecordedEvent[], void, undefined> {
  const pageSize = options.pageSize ?? 1000;
  let fromRevision = options.fromRevision ?? 0;
  for (;;) {
    const page = await store.readStream(stream, { fromRevision, maxCount: pageSize });
    if (page.length === 0) return;
    yield page;
    if (page.length < pageSize) return;
    fromRevision = (page[page.length - 1] as RecordedEvent).revision + 1;
  }
}

/**
 * Every event after the checkpoint `after` (default: all) to the current end, in pages.
 *
 * Pages are small on purpose: a page of 1,000 decoded envelopes dies young, while 10,000 outlive a
 * young-generation collection and get copied to the old one, which halved the replay rate when
 * measured (docs/benchmarks.md, "Event store").
 */
export async function* readAllPages(
  store: Pick<EventStore, 'readAll'>,
  options: { after?: number; pageSize?: number } = {},
): AsyncGenerator<RecordedEvent[], void, undefined> {
  const pageSize = options.pageSize ?? 1000;
  let after = options.after;
  for (;;) {
    const page = await store.readAll(after === undefined ? { maxCount: pageSize } : { after, maxCount: pageSize });
    if (page.length === 0) return;
    yield page;
    if (page.length < pageSize) return;
    after = (page[page.length - 1] as RecordedEvent).position;
  }
}
