import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidStoreUrl, StoreUnavailable } from './errors.js';
import { openEventStore } from './open.js';

const dir = mkdtempSync(join(tmpdir(), 'lockline-open-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('openEventStore', () => {
  it('opens memory: and sqlite:PATH', async () => {
    for (const url of ['memory:', `sqlite:${join(dir, 'a.db')}`, 'sqlite::memory:']) {
      const store = await openEventStore(url);
      const r = await store.append('host-a-1', [{ id: 'e1', type: 't', data: { n: 1 } }], 'no_stream');
      expect(r).toEqual({ nextExpectedRevision: 0, position: 1 });
      await store.close();
    }
  });

  it('routes esdb:// to the EventStoreDB adapter (here: nothing listens)', async () => {
    await expect(openEventStore('esdb://127.0.0.1:1?tls=false')).rejects.toBeInstanceOf(StoreUnavailable);
    await expect(openEventStore('kurrentdb://127.0.0.1:1?tls=false')).rejects.toBeInstanceOf(StoreUnavailable);
  });

  it.each(['', 'postgres://localhost/db', 'sqlite:', 'sqlite:///tmp/x.db', 'memory', 'esdb://', '/tmp/events.db'])(
    'refuses %j with InvalidStoreUrl naming the URL and the accepted forms',
    async (url) => {
      const error = await openEventStore(url).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidStoreUrl);
      expect(error).toMatchObject({ code: 'INVALID_STORE_URL', url });
      expect((error as Error).message).toContain(`"${url}"`);
      expect((error as Error).message).toContain('sqlite:PATH, memory:, esdb://');
    },
  );
});
