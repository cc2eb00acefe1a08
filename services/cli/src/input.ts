import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { HostEvent } from '@lockline/events';
import { formatProblems, parseEvent } from '@lockline/events';
import type { EventStore } from '@lockline/eventstore';
import { InvalidStoreUrl, StoreUnavailable, openEventStore, readAllPages } from '@lockline/eventstore';
import type { Io } from './command.js';
import { UsageError } from './command.js';
import { Progress } from './progress.js';

const SHOW_BAD_LINES = 20;

/** One host boot's events, in seq order. */
export interface BootHistory {
  hostId: string;
  bootId: string;
  events: HostEvent[];
}

export interface History {
  /** in the order each boot was first seen */
  boots: BootHistory[];
  /** events read and accepted */
  events: number;
  /** lines or stored events that were not valid events (reported on stderr and skipped) */
  invalid: number;
}

/** Open a store URL, turning every failure into one line the user can act on. */
export async function openStore(url: string): Promise<EventStore> {
  try {
    return await openEventStore(url);
  } catch (err) {
    if (err instanceof InvalidStoreUrl || err instanceof StoreUnavailable) throw new UsageError(`--store ${url}: ${err.message}`);
    throw new UsageError(`--store ${url}: ${(err as Error).message}`);
  }
}

class HistoryBuilder {
  private readonly byBoot = new Map<string, BootHistory>();
  events = 0;
  invalid = 0;
  private shownBad = 0;

  constructor(private readonly io: Io) {}

  bad(where: string, message: string): void {
    this.invalid++;
    if (this.shownBad < SHOW_BAD_LINES) this.io.err(`${where}: ${message} (skipped)`);
    this.shownBad++;
  }

  add(event: HostEvent): void {
    const key = `${event.hostId}/${event.bootId}`;
    let boot = this.byBoot.get(key);
    if (!boot) {
      boot = { hostId: event.hostId, bootId: event.bootId, events: [] };
      this.byBoot.set(key, boot);
    }
    boot.events.push(event);
    this.events++;
  }

  finish(source: string): History {
    if (this.shownBad > SHOW_BAD_LINES) this.io.err(`${source}: … and ${this.shownBad - SHOW_BAD_LINES} more invalid events (skipped)`);
    const boots = [...this.byBoot.values()];
    // Hosts report in their own order; a file may hold them reordered. Stable: duplicates stay adjacent.
    for (const b of boots) b.events.sort((x, y) => x.seq - y.seq);
    return { boots, events: this.events, invalid: this.invalid };
  }
}

/** Read a JSONL file of events: every bad line is reported with its number and skipped, never silently. */
export async function readEventsFile(file: string, io: Io): Promise<History> {
  try {
    await access(file);
  } catch {
    throw new UsageError(`${file}: cannot read: no such file`);
  }
  const builder = new HistoryBuilder(io);
  const progress = new Progress(io, `reading ${file}`);
  const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line.trim() === '') continue;
      const parsed = parseEvent(line);
      if (parsed.ok) builder.add(parsed.event);
      else builder.bad(`${file}:${n}`, formatProblems(parsed.problems, '').split('\n').map((l) => l.replace(/^: /, '')).join('; '));
      progress.tick(n);
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`${file}: cannot read: ${code === 'EISDIR' ? 'is a directory' : (err as Error).message}`);
  }
  progress.done(n);
  return builder.finish(file);
}

/** Read every event of a store (optionally only one host's streams). */
export async function readEventsStore(url: string, io: Io, hostId?: string): Promise<History> {
  const store = await openStore(url);
  const builder = new HistoryBuilder(io);
  const progress = new Progress(io, `reading ${url}`);
  let n = 0;
  try {
    for await (const page of readAllPages(store)) {
      for (const e of page) {
        n++;
        if (hostId && !e.stream.startsWith(`host-${hostId}-`)) continue;
        const parsed = parseEvent(e.data);
        if (parsed.ok) builder.add(parsed.event);
        else builder.bad(`${url} ${e.stream}@${e.revision}`, formatProblems(parsed.problems, '').replace(/^: /gm, '').split('\n').join('; '));
      }
      progress.tick(n);
    }
  } catch (err) {
    throw new UsageError(`--store ${url}: ${(err as Error).message}`);
  } finally {
    await store.close();
  }
  progress.done(n);
  return builder.finish(url);
}

export async function readHistory(values: Record<string, unknown>, io: Io, hostId?: string): Promise<History> {
  const store = values.store as string | undefined;
  const file = values.file as string | undefined;
  if ((store === undefined) === (file === undefined)) throw new UsageError('give exactly one of --store URL and --file FILE.jsonl');
  return store !== undefined ? readEventsStore(store, io, hostId) : readEventsFile(file!, io);
}

/** The boot of `hostId` to look at: `--boot B`, or the one seen last. */
export function selectBoot(history: History, hostId: string, bootId?: string): BootHistory {
  const boots = history.boots.filter((b) => b.hostId === hostId);
  if (boots.length === 0) {
    const hosts = [...new Set(history.boots.map((b) => b.hostId))].sort();
    const list = hosts.length > 10 ? `${hosts.slice(0, 10).join(', ')} … (${hosts.length} hosts)` : hosts.join(', ');
    throw new UsageError(`no events for host "${hostId}"${hosts.length ? ` (hosts: ${list})` : ' (no valid events at all)'}`);
  }
  if (bootId === undefined) return boots[boots.length - 1]!;
  const boot = boots.find((b) => b.bootId === bootId);
  if (!boot) throw new UsageError(`host "${hostId}" has no boot "${bootId}" (boots: ${boots.map((b) => b.bootId).join(', ')})`);
  return boot;
}
