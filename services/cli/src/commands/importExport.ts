import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { HostEvent } from '@lockline/events';
import { hostStreamName } from '@lockline/events';
import type { NewEvent } from '@lockline/eventstore';
import { readAllPages, readStreamPages } from '@lockline/eventstore';
import type { Command } from '../command.js';
import { EXIT_OK, UsageError } from '../command.js';
import { openStore, readEventsFile } from '../input.js';
import { Progress } from '../progress.js';

const BATCH = 500;

export const importCommand: Command = {
  path: ['import'],
  summary: 'append a JSONL file of events to an event store',
  usage: 'lockline import FILE.jsonl --store URL',
  help: `Validates every line, then appends each host boot's events to its stream (host-<hostId>-<bootId>)
in seq order, with the expected revision checked. Invalid lines are reported with their numbers and
skipped; an event whose seq the stream already holds (a duplicate, or an earlier import of the same
file) is skipped and counted, so importing a file twice stores it once.

Options:
  --store URL      sqlite:PATH (created if missing), or an EventStoreDB connection string`,
  options: { store: { type: 'string' } },
  async run({ values, positionals, io }) {
    if (positionals.length !== 1) throw new UsageError(`expected one FILE.jsonl\nUsage: ${this.usage}`);
    const url = values.store as string | undefined;
    if (!url) throw new UsageError(`--store URL is required\nUsage: ${this.usage}`);
    const history = await readEventsFile(positionals[0]!, io);
    const store = await openStore(url);
    const progress = new Progress(io, `importing into ${url}`, history.events);
    let appended = 0;
    let skipped = 0;
    try {
      for (const boot of history.boots) {
        const stream = hostStreamName(boot.hostId, boot.bootId);
        // Resume after what the stream already holds: the last stored seq, and its revision.
        let revision: number | 'no_stream' = 'no_stream';
        let lastSeq = 0;
        const streams = await store.readStream(stream, { fromRevision: 0, maxCount: 1 });
        if (streams.length > 0) {
          for await (const page of readStreamPages(store, stream)) {
            const last = page[page.length - 1]!;
            revision = last.revision;
            lastSeq = (last.data as HostEvent).seq;
          }
        }
        let batch: NewEvent[] = [];
        const flush = async (): Promise<void> => {
          if (!batch.length) return;
          const r = await store.append(stream, batch, revision);
          revision = r.nextExpectedRevision;
          appended += batch.length;
          batch = [];
          progress.tick(appended + skipped);
        };
        for (const e of boot.events) {
          if (e.seq <= lastSeq) {
            skipped++;
            continue;
          }
          lastSeq = e.seq;
          batch.push({ id: e.id, type: e.type, data: e });
          if (batch.length >= BATCH) await flush();
        }
        await flush();
      }
    } catch (err) {
      throw new UsageError(`--store ${url}: ${(err as Error).message}`);
    } finally {
      await store.close();
    }
    progress.done(appended + skipped);
    io.err(
      `imported ${appended.toLocaleString('en-US')} events into ${history.boots.length} streams` +
        (skipped ? `; ${skipped.toLocaleString('en-US')} already stored or duplicated, skipped` : '') +
        (history.invalid ? `; ${history.invalid.toLocaleString('en-US')} invalid lines skipped` : ''),
    );
    return EXIT_OK;
  },
};

export const exportCommand: Command = {
  path: ['export'],
  summary: 'write an event store (or one host) as JSONL',
  usage: 'lockline export --store URL [--host H] --out FILE.jsonl',
  help: `Writes every stored event (or only host H's boots), in store order, one JSON a line: the file
replays the same on another machine (lockline replay --file, lockline import).

Options:
  --store URL      sqlite:PATH, or an EventStoreDB connection string
  --host H         only this host's streams
  --out FILE       where to write (required)`,
  options: { store: { type: 'string' }, host: { type: 'string' }, out: { type: 'string' } },
  async run({ values, io }) {
    const url = values.store as string | undefined;
    const out = values.out as string | undefined;
    if (!url || !out) throw new UsageError(`--store URL and --out FILE.jsonl are required\nUsage: ${this.usage}`);
    const host = values.host as string | undefined;
    const store = await openStore(url);
    const stream = createWriteStream(out);
    await once(stream, 'open').catch((err: Error) => {
      throw new UsageError(`--out ${out}: cannot write: ${err.message}`);
    });
    const progress = new Progress(io, `exporting ${url}`);
    let n = 0;
    try {
      for await (const page of readAllPages(store)) {
        let text = '';
        for (const e of page) {
          if (host && !e.stream.startsWith(`host-${host}-`)) continue;
          text += JSON.stringify(e.data) + '\n';
          n++;
        }
        if (text && !stream.write(text)) await once(stream, 'drain');
        progress.tick(n);
      }
    } catch (err) {
      throw new UsageError(`--store ${url}: ${(err as Error).message}`);
    } finally {
      await store.close();
    }
    stream.end();
    await once(stream, 'finish');
    progress.done(n);
    io.err(`exported ${n.toLocaleString('en-US')} events${host ? ` of ${host}` : ''} to ${out}`);
    if (host && n === 0) io.err(`note: no stream of host "${host}" in ${url}`);
    return EXIT_OK;
  },
};
