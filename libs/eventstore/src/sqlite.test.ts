import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { InvalidStoreFile } from './errors.js';
import type { EventStore, NewEvent, RecordedEvent } from './port.js';
import { openSqliteEventStore } from './sqlite.js';
import { eventStoreContract } from './testing/contract.js';

const dir = mkdtempSync(join(tmpdir(), 'lockline-eventstore-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
let file = '';

eventStoreContract('sqlite', {
  open: () => openSqliteEventStore((file = join(dir, `contract-${++n}.db`))),
  reopen: () => openSqliteEventStore(file),
});

function events(count: number, from = 0): NewEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `00000000-0000-4000-8000-${(from + i).toString(16).padStart(12, '0')}`,
    type: 'syscall.fork',
    data: { seq: from + i + 1 },
  }));
}

describe('sqlite event store', () => {
  const opened: EventStore[] = [];
  const open = async (path: string, options?: Parameters<typeof openSqliteEventStore>[1]): Promise<EventStore> => {
    const store = await openSqliteEventStore(path, options);
    opened.push(store);
    return store;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });

  it('numbers positions 1, 2, 3 … with no gap, across streams and batches', async () => {
    const store = await open(join(dir, 'dense.db'));
    await store.append('host-a-1', events(3), 'no_stream');
    await store.append('host-b-1', events(2, 100), 'no_stream');
    const r = await store.append('host-a-1', events(1, 3), 2);
    expect(r.position).toBe(6);
    expect((await store.readAll()).map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await store.readAll({ fromPosition: 5 })).map((e) => e.position)).toEqual([5, 6]);
    expect((await store.readAll({ after: 6 })).map((e) => e.position)).toEqual([]);
  });

  it('stores one row per appended batch', async () => {
    const path = join(dir, 'rows.db');
    const store = await open(path);
    await store.append('host-a-1', events(250), 'no_stream');
    await store.append('host-a-1', events(250, 250), 249);
    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.prepare('SELECT position, revision, count FROM batches ORDER BY position').all()).toEqual([
        { position: 1, revision: 0, count: 250 },
        { position: 251, revision: 250, count: 250 },
      ]);
    } finally {
      raw.close();
    }
  });

  it("stores an envelope's JSON text as the caller gives it (NewEvent.json) and serialises anything else itself", async () => {
    const path = join(dir, 'json.db');
    const store = await open(path);
    const [first, second] = events(2);
    if (first === undefined || second === undefined) throw new Error('two events expected');
    const envelope = { id: first.id, type: first.type, seq: 1, data: { pid: 1 } };
    // Spaced out as a host might write it: kept as is, so the text shows which path it took.
    const given = JSON.stringify(envelope, null, 1);
    await store.append(
      'host-a-1',
      [
        { ...first, data: envelope, json: given },
        // Not an envelope (no id and type of its own): stored as [id, type, data], its json unused.
        { ...second, json: '{"not":"used"}' },
      ],
      'no_stream',
    );
    const raw = new Database(path, { readonly: true });
    try {
      expect(raw.prepare('SELECT events FROM batches').pluck().get()).toBe(`[${given},${JSON.stringify([second.id, second.type, second.data])}]`);
    } finally {
      raw.close();
    }
    expect((await store.readStream('host-a-1')).map((e) => [e.id, e.type, e.data])).toEqual([
      [first.id, first.type, envelope],
      [second.id, second.type, second.data],
    ]);
  });

  it('keeps revisions across a reopen: conflicts and retries still recognised', async () => {
    const path = join(dir, 'reopen.db');
    const first = await openSqliteEventStore(path);
    const r1 = await first.append('host-a-1', events(3), 'no_stream');
    await first.append('host-b-1', events(1, 50), 'no_stream');
    await first.close();
    const store = await open(path);
    expect(await store.listStreams()).toEqual([
      { stream: 'host-a-1', lastRevision: 2 },
      { stream: 'host-b-1', lastRevision: 0 },
    ]);
    expect(await store.append('host-a-1', events(3), 'no_stream')).toEqual(r1);
    await expect(store.append('host-a-1', events(1, 9), 1)).rejects.toMatchObject({ code: 'EXPECTED_REVISION_CONFLICT', actual: 2 });
    expect(await store.append('host-a-1', events(1, 3), 2)).toEqual({ nextExpectedRevision: 3, position: 5 });
  });

  it('sees, through subscription polling, what a second store object on the same file appends', async () => {
    const path = join(dir, 'two-objects.db');
    const reader = await open(path, { pollIntervalMs: 20 });
    const writer = await open(path);
    const got: RecordedEvent[] = [];
    const sub = reader.subscribeToAll({}, (batch) => void got.push(...batch));
    await writer.append('host-a-1', events(4), 'no_stream');
    await expect.poll(() => got.length, { timeout: 2000 }).toBe(4);
    await writer.append('host-a-1', events(2, 4), 3);
    await expect.poll(() => got.length, { timeout: 2000 }).toBe(6);
    expect(got.map((e) => e.position)).toEqual([1, 2, 3, 4, 5, 6]);
    await sub.stop();
  });

  it('stays correct with two writers on one file: each sees the other before it checks a revision', async () => {
    const path = join(dir, 'two-writers.db');
    const a = await open(path);
    const b = await open(path);
    await a.append('host-a-1', events(2), 'no_stream');
    await expect(b.append('host-a-1', events(1, 10), 'no_stream')).rejects.toMatchObject({ code: 'EXPECTED_REVISION_CONFLICT', actual: 1 });
    const r = await b.append('host-a-1', events(1, 2), 1);
    expect(r).toEqual({ nextExpectedRevision: 2, position: 3 });
    await expect(a.append('host-a-1', events(1, 11), 1)).rejects.toMatchObject({ code: 'EXPECTED_REVISION_CONFLICT', actual: 2 });
    expect((await a.readAll()).map((e) => [e.stream, e.revision, e.position])).toEqual([
      ['host-a-1', 0, 1],
      ['host-a-1', 1, 2],
      ['host-a-1', 2, 3],
    ]);
  });

  it('opens a new file while another connection is writing it (two services starting together): it waits instead of failing with SQLITE_BUSY', async () => {
    // Another connection in the middle of a write on the new, not yet WAL, file: turning it into WAL
    // is refused at once, without SQLite's busy handler (seen as `lockline up`'s ingest exiting with
    // "database is locked" when the projector created the store at the same moment).
    const path = join(dir, 'opened-together.db');
    const other = new Database(path);
    other.exec('BEGIN IMMEDIATE');
    const released = new Promise<void>((resolve) =>
      setTimeout(() => {
        other.exec('COMMIT');
        other.close();
        resolve();
      }, 200),
    );
    const store = await open(path);
    await released;
    await store.append('host-a-1', events(1), 'no_stream');
    expect((await store.readAll()).map((e) => e.stream)).toEqual(['host-a-1']);
    // and a lock that outlives the busy timeout still ends in a clear error, not a hang
    const stuck = join(dir, 'locked-for-good.db');
    const holder = new Database(stuck);
    holder.exec('BEGIN IMMEDIATE');
    try {
      await expect(openSqliteEventStore(stuck, { busyTimeoutMs: 100 })).rejects.toThrow(/database is locked/);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
  });

  it('writes appends made in the same tick in one transaction, each with its own result', async () => {
    const store = await open(join(dir, 'group.db'));
    const results = await Promise.allSettled([
      store.append('host-a-1', events(2), 'no_stream'),
      store.append('host-b-1', events(2, 10), 'no_stream'),
      store.append('host-a-1', events(1, 20), 'no_stream'), // conflicts with the first
      store.append('host-a-1', events(1, 2), 1), // follows the first, in the same transaction
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as { code: string }).code))).toEqual([
      { nextExpectedRevision: 1, position: 2 },
      { nextExpectedRevision: 1, position: 4 },
      'EXPECTED_REVISION_CONFLICT',
      { nextExpectedRevision: 2, position: 5 },
    ]);
  });

  it('refuses an event whose data cannot be stored, without touching the others', async () => {
    const store = await open(join(dir, 'bad-data.db'));
    const bad: NewEvent = { id: 'x', type: 't', data: { n: 1n } };
    const results = await Promise.allSettled([store.append('host-a-1', [bad], 'no_stream'), store.append('host-b-1', events(1), 'no_stream')]);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: expect.any(TypeError) });
    expect(results[1]).toMatchObject({ status: 'fulfilled' });
    expect(await store.listStreams()).toEqual([{ stream: 'host-b-1', lastRevision: 0 }]);
  });

  it('gives a clear error for a file that is not a database', async () => {
    const path = join(dir, 'not-a-db.db');
    writeFileSync(path, 'this is a text file, not SQLite\n'.repeat(200));
    const error = await openSqliteEventStore(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidStoreFile);
    expect(error).toMatchObject({ code: 'INVALID_STORE_FILE', path });
    expect((error as Error).message).toMatch(/not a usable Lockline event store: file is not a database/);
  });

  it("refuses another application's SQLite database instead of adding tables to it", async () => {
    const path = join(dir, 'foreign.db');
    const foreign = new Database(path);
    foreign.exec('CREATE TABLE accounts (id INTEGER PRIMARY KEY)');
    foreign.close();
    await expect(openSqliteEventStore(path)).rejects.toMatchObject({ code: 'INVALID_STORE_FILE', message: expect.stringMatching(/another application/) });
  });

  it('names the path when the directory does not exist', async () => {
    const path = join(dir, 'no-such-dir', 'events.db');
    await expect(openSqliteEventStore(path)).rejects.toMatchObject({ code: 'INVALID_STORE_FILE', path, message: expect.stringMatching(/directory does not exist/) });
  });

  it('refuses calls after close with StoreUnavailable', async () => {
    const store = await openSqliteEventStore(join(dir, 'closed.db'));
    await store.close();
    await expect(store.readAll()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(store.append('host-a-1', events(1), 'any')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});
