import { InvalidStoreUrl } from './errors.js';
import type { EventStore } from './port.js';

/**
 * Opens the store a URL names. The adapter is imported only when its URL is used, so the core never
 * loads a driver (STYLE.md 4):
 *
 * - `sqlite:PATH` — the embedded store in the file PATH (`sqlite:./data/events.db`,
 *   `sqlite:/var/lib/lockline/events.db`); `sqlite::memory:` for a private in-memory database;
 * - `memory:` — in memory, for unit tests;
 * - `esdb://…`, `esdb+discover://…`, `kurrentdb://…`, `kurrentdb+discover://…` — an EventStoreDB
 *   (KurrentDB) server or cluster, e.g. `esdb://localhost:2113?tls=false`.
 */
export async function openEventStore(url: string): Promise<EventStore> {
  if (typeof url !== 'string') throw new InvalidStoreUrl(String(url), 'not a string');
  if (url === 'memory:') {
    const { openMemoryEventStore } = await import('./memory.js');
    return openMemoryEventStore();
  }
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path.length === 0) throw new InvalidStoreUrl(url, 'no file path after "sqlite:"');
    if (path.startsWith('//')) throw new InvalidStoreUrl(url, 'write sqlite:PATH (sqlite:/abs/path.db or sqlite:rel/path.db), not sqlite://');
    const { openSqliteEventStore } = await import('./sqlite.js');
    return openSqliteEventStore(path);
  }
  if (/^(esdb|kurrentdb)(\+discover)?:\/\/./.test(url)) {
    const { openEsdbEventStore } = await import('./esdb.js');
    return openEsdbEventStore(url);
  }
  throw new InvalidStoreUrl(url, 'unknown scheme');
}
