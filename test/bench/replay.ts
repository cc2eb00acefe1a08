/**
 * Benchmark of a replay from the event store into the projection: `npm run bench -- replay`
 * (scripts/bench.mjs builds the workspace first and passes --expose-gc). The figures of issue 3 that
 * the kernel and store benchmarks leave out: how fast a projection rebuilds from SQLite, and how much
 * memory it holds per live process it tracks.
 *
 * Setup (timed for information only): `simulateFleet` makes EVENTS events of HOSTS simulated hosts,
 * streamed into a fresh SQLite store in a temp dir, one stream per host boot (`hostStreamName`), in
 * batches of 100–500 events of one boot (seeded) with expected revisions, hosts interleaved as the
 * simulator interleaves them. Then:
 *
 *   (a) read + decode: readAllPages (pages of 1,000), every envelope decoded and read;
 *   (b) read + decode + fold into a fresh FleetProjection: THE figure (aim ≥ 500,000 events/s);
 *   (c) the fold alone, over the same decoded envelopes already in memory;
 *   (d) read + parseEvent (zod) + fold: what validating on read would cost (information: stored events
 *       were validated on the way in, so a replay trusts them);
 *   (e) memory of the projection (b) builds, per live process it tracks, after a full GC, with what
 *       it is made of (below);
 *   (f) the same for larger populations of long-lived processes made with recordHost (default 1,000
 *       hosts × 100 processes, and 1 host × 100,000): each exec'd a small image, mapped a thread
 *       stack, a guard page, an arena, two more regions and a heap (9 VMAs; the simulated
 *       workloads' processes have ~8).
 *
 * The writer is closed before the replay (a projection rebuilding at start-up opens the file
 * afresh). Before the warm-up, one untimed pass counts what readAllPages hands JSON.parse against
 * what is stored: a page re-parses the batch it starts in.
 *
 * (a), (b) and (d) run ROUNDS times interleaved, each on a fresh projection; (c) runs afterwards,
 * ROUNDS times (the million envelopes it needs in memory would otherwise weigh on the GC of the
 * others). Medians are reported with every round. One untimed warm-up first, so what is timed is
 * optimised code.
 *
 * Memory is heapUsed + arrayBuffers (anything kept in ArrayBuffers is off the V8 heap; the VMA
 * tables were Float64Arrays until they became plain arrays of doubles) after two full GCs, before the projection is made and after the fold, divided by the live
 * tasks (`alive`, threads included) of every boot. The breakdown is measured, not estimated: after
 * the total, parts of the projection are dropped one at a time, each followed by a full GC, and what
 * each drop frees is its share — lock causes HostProjection.pruneCauses() forgets (the fold never
 * calls it), the other lock causes with findings and set-aside events, projection bookkeeping (its
 * private maps and sets), lineage records, mms with their VMA tables, tasks, and
 * what is left (the HostProjection objects and fleet maps).
 *
 * On ONE core, like the kernel benchmark: better-sqlite3 reads on the main thread, the fold is
 * synchronous JS, and V8's GC helpers would otherwise borrow the other core — the script re-runs
 * itself under `taskset` (--cpu=N to choose the CPU, --cpu=all not to pin). The machine may be
 * shared: the CPU other processes used during each section is read from /proc/stat and printed.
 *
 * Options: --events=N (default 1,000,000), --hosts=N (default 100), --rounds=N (default 3),
 * --population=HxP[,HxP…] (default 1000x100,1x100000), --only=a,b,c,d,e,f, --seed=N, --cpu=N|all.
 */
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import Database from 'better-sqlite3';
import { hostStreamName, parseEvent, type HostEvent } from '@lockline/events';
import { readAllPages, type EventStore, type ExpectedRevision, type NewEvent } from '@lockline/eventstore';
import { openSqliteEventStore } from '@lockline/eventstore/sqlite';
import { PAGE, type ImageLayout, type MapFlagName, type Mm, type Op } from '@lockline/kernel';
import { FleetProjection } from '@lockline/projection';
import { recordHost } from '@lockline/projection/testing';
import { simulateFleet } from '@lockline/sim';
import { cpuArg, fmt, isCpuArg, loadNote, mulberry32, otherLoad, parseArgs, pct, pinToOneCpu, positiveInt, requireGc, row, say, verdict } from './support.js';

// ---------------------------------------------------------------------------------------------
// Settings

const AIM_EVENTS_PER_SEC = 500_000;
const AIM_BYTES_PER_PROCESS = 1024;

const { args, unknown } = parseArgs(['events', 'hosts', 'rounds', 'population', 'only', 'seed', 'cpu']);
const EVENTS = Number(args.get('events') ?? 1_000_000);
const HOSTS = Number(args.get('hosts') ?? 100);
const ROUNDS = Number(args.get('rounds') ?? 3);
const SEED = Number(args.get('seed') ?? 1);
const ONLY = new Set((args.get('only') ?? 'a,b,c,d,e,f').split(','));
const CPU = cpuArg(args);
const POPULATIONS = (args.get('population') ?? '1000x100,1x100000').split(',').map((s) => {
  const [h, p] = s.split('x').map(Number);
  return { hosts: h ?? NaN, processes: p ?? NaN };
});
if (
  !positiveInt(EVENTS) ||
  !(positiveInt(HOSTS) && HOSTS <= 100_000) ||
  !positiveInt(ROUNDS) ||
  !Number.isSafeInteger(SEED) ||
  [...ONLY].some((p) => !['a', 'b', 'c', 'd', 'e', 'f'].includes(p)) ||
  POPULATIONS.some((p) => !positiveInt(p.hosts) || !positiveInt(p.processes) || p.processes > 4_000_000) ||
  !isCpuArg(CPU) ||
  unknown.length > 0
) {
  console.error('usage: npm run bench -- replay [--events=N] [--hosts=N] [--rounds=N] [--population=HxP[,HxP…]] [--only=a,b,c,d,e,f] [--seed=N] [--cpu=N|all]');
  process.exit(2);
}

const CORES_NOTE = pinToOneCpu(CPU);
const gc = requireGc('replay');

/** Batches of one host boot's events, as an ingest or `lockline import` appends them. */
const MIN_BATCH = 100;
const MAX_BATCH = 500;

// ---------------------------------------------------------------------------------------------
// Setup: simulate, append

interface Setup {
  readonly events: number;
  readonly streams: number;
  readonly batches: number;
  readonly bytesPerEvent: number;
  readonly simulateSeconds: number;
  readonly appendSeconds: number;
  readonly types: Map<string, number>;
}

interface StreamBuffer {
  readonly name: string;
  expected: ExpectedRevision;
  target: number;
  events: NewEvent[];
}

/** Streams the simulator's records into the store, one host boot per stream, in batches. */
async function simulateAndAppend(store: EventStore): Promise<Setup> {
  const rnd = mulberry32(SEED ^ 0x5eed); // batch sizes only: the events come from the simulator's own seeded streams
  const size = (): number => MIN_BATCH + Math.floor(rnd() * (MAX_BATCH - MIN_BATCH + 1));
  const buffers = new Map<string, StreamBuffer>();
  const types = new Map<string, number>();
  let appendMs = 0;
  let batches = 0;
  let bytes = 0;
  let n = 0;
  const flush = async (b: StreamBuffer): Promise<void> => {
    if (b.events.length === 0) return;
    const t = performance.now();
    const r = await store.append(b.name, b.events, b.expected);
    appendMs += performance.now() - t;
    b.expected = r.nextExpectedRevision;
    b.events = [];
    b.target = size();
    batches++;
  };
  const t0 = performance.now();
  for (const r of simulateFleet({ hosts: HOSTS, seed: SEED, events: EVENTS })) {
    const e = r.event;
    if (!e) throw new Error(`the simulator gave an invalid record (${r.corruption ?? '?'}) with faults off`);
    const key = `${r.hostId}/${r.bootId}`;
    let b = buffers.get(key);
    if (!b) buffers.set(key, (b = { name: hostStreamName(r.hostId, r.bootId), expected: 'no_stream', target: size(), events: [] }));
    b.events.push({ id: e.id, type: e.type, data: e });
    types.set(e.type, (types.get(e.type) ?? 0) + 1);
    bytes += r.payload.length;
    n++;
    if (b.events.length >= b.target) await flush(b);
  }
  for (const b of buffers.values()) await flush(b);
  const totalMs = performance.now() - t0;
  return {
    events: n,
    streams: buffers.size,
    batches,
    bytesPerEvent: bytes / n,
    simulateSeconds: (totalMs - appendMs) / 1000,
    appendSeconds: appendMs / 1000,
    types,
  };
}

// ---------------------------------------------------------------------------------------------
// What is timed

/** What a fold ended with: every variant and every round must agree. */
interface Fingerprint {
  boots: number;
  applied: number;
  live: number;
  findings: number;
  setAside: number;
}

function countLive(fleet: FleetProjection): number {
  let live = 0;
  for (const p of fleet.boots.values()) for (const t of p.host?.tasks.values() ?? []) if (t.alive) live++;
  return live;
}

function fingerprint(fleet: FleetProjection): Fingerprint {
  let applied = 0;
  let findings = 0;
  let setAside = 0;
  for (const p of fleet.boots.values()) {
    applied += p.applied;
    findings += p.findings.length;
    setAside += p.setAside.length + p.setAsideDropped;
  }
  return { boots: fleet.boots.size, applied, live: countLive(fleet), findings, setAside };
}

/** (a) every envelope decoded (JSON.parse of its batch, in the store) and read, as store.ts does. */
async function readDecode(store: EventStore): Promise<number> {
  let n = 0;
  let check = 0;
  for await (const page of readAllPages(store)) {
    for (let i = 0; i < page.length; i++) check += (page[i]!.data as HostEvent).seq;
    n += page.length;
  }
  if (check <= 0) throw new Error('replay read no data');
  return n;
}

/** (b) the replay: every stored envelope folded, trusted (it was validated when it was ingested). */
async function readFold(store: EventStore, fleet: FleetProjection): Promise<number> {
  let n = 0;
  for await (const page of readAllPages(store)) {
    for (let i = 0; i < page.length; i++) fleet.apply(page[i]!.data as HostEvent);
    n += page.length;
  }
  return n;
}

/** (c) the fold alone. */
function foldAll(events: readonly HostEvent[], fleet: FleetProjection): number {
  for (let i = 0; i < events.length; i++) fleet.apply(events[i]!);
  return events.length;
}

/** (d) validating every envelope again on the way out. */
async function readParseFold(store: EventStore, fleet: FleetProjection): Promise<number> {
  let n = 0;
  for await (const page of readAllPages(store)) {
    for (let i = 0; i < page.length; i++) {
      const parsed = parseEvent(page[i]!.data);
      if (!parsed.ok) throw new Error(`a stored event does not parse: ${parsed.problems[0]?.message ?? '?'}`);
      fleet.apply(parsed.event);
    }
    n += page.length;
  }
  return n;
}

interface Round {
  readonly seconds: number;
  readonly rate: number;
  /** cores' worth of CPU other processes used during the round */
  readonly others: number | null;
}

async function timed(events: () => Promise<number> | number): Promise<Round> {
  gc(); // each round starts with the previous one's garbage gone
  const load = otherLoad();
  const t0 = performance.now();
  const n = await events();
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, rate: n / seconds, others: load() };
}

interface Figure {
  median: number;
  min: number;
  max: number;
  rounds: number[];
  seconds: number;
  otherLoadCores: number | null;
}

function figure(rounds: readonly Round[]): Figure {
  const sorted = [...rounds].sort((x, y) => x.rate - y.rate);
  const mid = sorted[sorted.length >> 1]!;
  const loads = rounds.map((r) => r.others).filter((x): x is number => x !== null);
  return {
    median: mid.rate,
    min: sorted[0]!.rate,
    max: sorted[sorted.length - 1]!.rate,
    rounds: rounds.map((r) => Math.round(r.rate)),
    seconds: Number(mid.seconds.toFixed(3)),
    otherLoadCores: loads.length ? Number(Math.max(...loads).toFixed(2)) : null,
  };
}

// ---------------------------------------------------------------------------------------------
// Memory

interface Footprint {
  heap: number;
  arrayBuffers: number;
}

function footprint(): Footprint {
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

/** Bytes (heap, off-heap) per live process, one part of the projection. */
interface Part {
  heap: number;
  arrayBuffers: number;
  total: number;
}

interface Breakdown {
  live: number;
  /** live tasks that are threads (tgid ≠ pid), and kernel threads (no mm) */
  threads: number;
  kernelThreads: number;
  /** dead tasks the model still holds (not yet reaped) */
  deadHeld: number;
  /** distinct mms of live tasks, their VMAs and VMA table capacity (in VMAs), per mm */
  liveMms: number;
  vmasPerMm: number;
  vmaCapacityPerMm: number;
  /** Σ 8 B × capacity of every VMA table the model holds (live or dead tasks), per live process: the tables' numbers, part of the heap figure */
  vmaTableBytesPerLive: number;
  lineageRecords: number;
  lockCauses: number;
  /** lock causes left after HostProjection.pruneCauses() */
  lockCausesPruned: number;
  findings: number;
  total: Part;
  parts: Record<string, Part>;
  /** private fields of HostProjection the breakdown could not find (renamed?): counted elsewhere */
  missing: string[];
}

/** The projection's own maps and sets, private in TypeScript: dropped by name, for the breakdown only. */
const BOOKKEEPING = ['counted', 'overLimit', 'drifting', 'unknown', 'underflowed'] as const;

/**
 * What `fleet` holds, per live process: total, then each part as dropping it frees it (destructive:
 * the projection is unusable afterwards). `base` is the footprint taken before the projection existed.
 */
function breakdown(fleet: FleetProjection, base: Footprint): Breakdown {
  const boots = [...fleet.boots.values()];
  let live = 0;
  let threads = 0;
  let kernelThreads = 0;
  let deadHeld = 0;
  let vmas = 0;
  let capacity = 0;
  let tableBytes = 0;
  let lineageRecords = 0;
  let lockCauses = 0;
  let findings = 0;
  const liveMms = new Set<Mm>();
  const allMms = new Set<Mm>();
  for (const p of boots) {
    lineageRecords += p.lineage.size;
    lockCauses += p.lockCauses.size;
    findings += p.findings.length;
    for (const t of p.host?.tasks.values() ?? []) {
      if (t.mm && !allMms.has(t.mm)) {
        allMms.add(t.mm);
        tableBytes += t.mm.vmas.d.length * 8;
      }
      if (!t.alive) {
        deadHeld++;
        continue;
      }
      live++;
      if (t.tgid !== t.pid) threads++;
      if (!t.mm) kernelThreads++;
      else if (!liveMms.has(t.mm)) {
        liveMms.add(t.mm);
        vmas += t.mm.vmas.n;
        capacity += t.mm.vmas.d.length / 4;
      }
    }
  }
  const mmCount = liveMms.size;
  liveMms.clear();
  allMms.clear();
  const per = (a: Footprint, b: Footprint): Part => {
    const heap = (a.heap - b.heap) / live;
    const arrayBuffers = (a.arrayBuffers - b.arrayBuffers) / live;
    return { heap, arrayBuffers, total: heap + arrayBuffers };
  };
  const parts: Record<string, Part> = {};
  const missing: string[] = [];
  let before = footprint();
  const total = per(before, base);
  const drop = (name: string, what: () => void): void => {
    what();
    const after = footprint();
    parts[name] = per(before, after);
    before = after;
  };
  let lockCausesPruned = 0;
  drop('lock causes no lock refers to any more', () => {
    for (const p of boots) {
      p.pruneCauses(); // public API: "called from time to time" — the fold never calls it
      lockCausesPruned += p.lockCauses.size;
    }
  });
  drop('lock causes still referred to, findings, set-aside', () => {
    for (const p of boots) {
      p.findings = [];
      p.setAside = [];
      p.lockCauses = new Map();
    }
  });
  drop('projection bookkeeping (its maps and sets)', () => {
    for (const p of boots) {
      const internals = p as unknown as Record<string, unknown>;
      for (const key of BOOKKEEPING) {
        const v = internals[key];
        if (v instanceof Map) internals[key] = new Map();
        else if (v instanceof Set) internals[key] = new Set();
        else if (!missing.includes(key)) missing.push(key);
      }
      p.gaps = [];
    }
  });
  drop('lineage records (+ Map entries)', () => {
    for (const p of boots) p.lineage = new Map();
  });
  drop('mm + VMA table', () => {
    for (const p of boots) for (const t of p.host?.tasks.values() ?? []) t.mm = null;
  });
  drop('task + limits + task-table entry', () => {
    for (const p of boots) p.host = null;
  });
  parts['HostProjection objects, fleet maps'] = per(before, base);
  return {
    live,
    threads,
    kernelThreads,
    deadHeld,
    liveMms: mmCount,
    vmasPerMm: vmas / Math.max(1, mmCount),
    vmaCapacityPerMm: capacity / Math.max(1, mmCount),
    vmaTableBytesPerLive: tableBytes / live,
    lineageRecords,
    lockCauses,
    lockCausesPruned,
    findings,
    total,
    parts,
    missing,
  };
}

function printBreakdown(title: string, b: Breakdown): void {
  const widths = [52, 8, 13, 8];
  say(title);
  say(
    `  ${fmt(b.live)} live tasks (${fmt(b.threads)} threads, ${fmt(b.kernelThreads)} kernel threads; ${fmt(b.deadHeld)} dead ones not reaped yet); ` +
      `${fmt(b.liveMms)} mms of ${b.vmasPerMm.toFixed(1)} VMAs (table capacity ${b.vmaCapacityPerMm.toFixed(1)})`,
  );
  say(
    `  ${fmt(b.lineageRecords)} lineage records, ${fmt(b.findings)} findings, ${fmt(b.lockCauses)} lock causes ` +
      `(${fmt(b.lockCausesPruned)} left after pruneCauses(), which the fold never calls)`,
  );
  say(`  ${row(['bytes per live process, as dropping each part frees it', 'heap', 'arrayBuffers', 'total'], widths)}`);
  for (const [name, p] of Object.entries(b.parts)) say(`  ${row([`  ${name}`, fmt(p.heap), fmt(p.arrayBuffers), fmt(p.total)], widths)}`);
  say(`  ${row(['  total', fmt(b.total.heap), fmt(b.total.arrayBuffers), fmt(b.total.total)], widths)}`);
  say(`  → ${fmt(b.total.total)} B per live process: ${verdict(b.total.total <= AIM_BYTES_PER_PROCESS)} (aim ≤ ${fmt(AIM_BYTES_PER_PROCESS)} B)`);
  say(`  (the VMA tables' numbers: ${fmt(b.vmaTableBytesPerLive)} B per live process, in the mms' heap share; arrayBuffers freed with the mms: ${fmt(b.parts['mm + VMA table']?.arrayBuffers ?? 0)})`);
  if (b.missing.length) say(`  note: HostProjection has no field ${b.missing.join(', ')} any more: whatever replaced it is counted with the HostProjection objects`);
}

// (f) ------------------------------------------------------------------------------------------

const SMALL_IMAGE: ImageLayout = { format: 'elf', argPages: 1, textPages: 4, dataPages: 2, bssPages: 0, vdsoPages: 1 };
const ANON: readonly MapFlagName[] = ['MAP_PRIVATE', 'MAP_ANONYMOUS'];

/**
 * One host of `processes` long-lived processes, as events: init forks each, the child execs a small
 * image (reporting comm and path, as the simulated hosts do: stack, text, data, vDSO), maps a thread
 * stack, its guard page, an arena, a read-only and an executable region (prots alternate, so five
 * VMAs), and grows its heap (which merges with the data VMA): 9 VMAs.
 */
function populationHost(hostIndex: number, processes: number): HostEvent[] {
  const ops: Op[] = [];
  for (let i = 0; i < processes; i++) {
    const child = 2 + i;
    ops.push(
      { op: 'fork', pid: 1, child },
      { op: 'exec', pid: child, image: SMALL_IMAGE },
      { op: 'mmap', pid: child, length: 64 * PAGE, prot: 'rw-', flags: ANON },
      { op: 'mmap', pid: child, length: PAGE, prot: '---', flags: ANON },
      { op: 'mmap', pid: child, length: 32 * PAGE, prot: 'rw-', flags: ANON },
      { op: 'mmap', pid: child, length: 8 * PAGE, prot: 'r--', flags: ANON },
      { op: 'mmap', pid: child, length: 16 * PAGE, prot: 'r-x', flags: ANON },
      { op: 'brk', pid: child, increment: 4 * PAGE },
    );
  }
  const hostId = `pop-${String(hostIndex).padStart(5, '0')}`;
  const bootId = (0x1000_0000 + hostIndex).toString(16).padStart(32, '0');
  const { events } = recordHost('linux-2008-patch', [{ pid: 1, image: SMALL_IMAGE }], ops, { hostId, bootId });
  for (const e of events) {
    if (e.type === 'syscall.exec') Object.assign(e.data, { comm: 'worker', path: '/usr/libexec/worker' });
  }
  return events;
}

/**
 * Folds `hosts` population hosts into a new FleetProjection, one host at a time, each event through
 * JSON as a replay would give it (so every string the projection keeps is its own).
 */
function foldPopulation(hosts: number, processes: number): { fleet: FleetProjection; events: number; seconds: number } {
  const fleet = new FleetProjection();
  let events = 0;
  let ms = 0;
  for (let h = 0; h < hosts; h++) {
    const decoded = JSON.parse(JSON.stringify(populationHost(h, processes))) as HostEvent[];
    const t = performance.now();
    foldAll(decoded, fleet);
    ms += performance.now() - t;
    events += decoded.length;
  }
  return { fleet, events, seconds: ms / 1000 };
}

// ---------------------------------------------------------------------------------------------
// Sections. Each is its own function, so that nothing a section made outlives it: a suspended async
// frame keeps its dead registers, and an old projection left in one would be counted in the next
// section's "before" footprint.

/** One untimed read + fold: what is timed afterwards is optimised code. */
async function warmUp(store: EventStore): Promise<number> {
  const t = performance.now();
  await readFold(store, new FleetProjection());
  return (performance.now() - t) / 1000;
}

interface ParseCount {
  /** batch rows stored, and the characters of their JSON */
  batches: number;
  storedChars: number;
  /** JSON.parse calls during one readAllPages pass, and the characters they parsed */
  parses: number;
  parsedChars: number;
}

/**
 * How much JSON one readAllPages pass parses, against what is stored (untimed, before the warm-up:
 * the JSON.parse wrapper would otherwise be what gets optimised). A page starts at the batch that
 * holds its first event and parses it whole, so a batch split by a page boundary is parsed twice.
 */
async function countParses(store: EventStore): Promise<ParseCount> {
  const db = new Database(dbPath, { readonly: true });
  const [batches, storedChars] = db.prepare('SELECT count(*), sum(length(events)) FROM batches').raw().get() as [number, number];
  db.close();
  const original = JSON.parse;
  let parses = 0;
  let parsedChars = 0;
  JSON.parse = ((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    parses++;
    parsedChars += text.length;
    return original(text, reviver);
  }) as typeof JSON.parse;
  try {
    await readDecode(store);
  } finally {
    JSON.parse = original;
  }
  return { batches, storedChars, parses, parsedChars };
}

/** Throws unless every fold ends the same as the first one checked. */
class SameFold {
  reference: Fingerprint | undefined;
  check(label: string, fleet: FleetProjection): void {
    const f = fingerprint(fleet);
    if (!this.reference) this.reference = f;
    else if (JSON.stringify(f) !== JSON.stringify(this.reference)) {
      throw new Error(`${label} folded to ${JSON.stringify(f)}, not ${JSON.stringify(this.reference)}: not deterministic`);
    }
  }
}

/** (a), (b) and (d), interleaved round by round. */
async function replayRounds(store: EventStore, events: number, same: SameFold): Promise<Record<'a' | 'b' | 'd', Round[]>> {
  const rounds: Record<'a' | 'b' | 'd', Round[]> = { a: [], b: [], d: [] };
  const oneRound = async (which: 'a' | 'b' | 'd'): Promise<void> => {
    const fleet = new FleetProjection();
    let n = 0;
    const run = which === 'a' ? () => readDecode(store) : which === 'b' ? () => readFold(store, fleet) : () => readParseFold(store, fleet);
    rounds[which].push(await timed(async () => (n = await run())));
    if (n !== events) throw new Error(`(${which}) read ${n} events, expected ${events}`);
    if (which !== 'a') same.check(`(${which})`, fleet);
  };
  for (let r = 0; r < ROUNDS; r++) for (const which of ['a', 'b', 'd'] as const) if (ONLY.has(which)) await oneRound(which);
  return rounds;
}

/** (c): every envelope read into memory first, then folded ROUNDS times. */
async function foldRounds(store: EventStore, same: SameFold): Promise<Round[]> {
  const all: HostEvent[] = [];
  for await (const page of readAllPages(store)) for (const e of page) all.push(e.data as HostEvent);
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const fleet = new FleetProjection();
    rounds.push(await timed(() => foldAll(all, fleet)));
    same.check('(c)', fleet);
  }
  return rounds;
}

/** (e): the projection a replay builds, measured. */
async function replayMemory(store: EventStore, same: SameFold): Promise<Breakdown> {
  const base = footprint();
  const fleet = new FleetProjection();
  await readFold(store, fleet);
  same.check('(e)', fleet);
  return breakdown(fleet, base);
}

/** (f): one population, measured. */
function populationMemory(hosts: number, processes: number): Breakdown & { events: number; foldEventsPerSecond: number } {
  const base = footprint();
  const { fleet, events, seconds } = foldPopulation(hosts, processes);
  return { events, foldEventsPerSecond: Math.round(events / seconds), ...breakdown(fleet, base) };
}

// ---------------------------------------------------------------------------------------------
// Main

const started = performance.now();
const result: Record<string, unknown> = {
  benchmark: 'replay',
  date: new Date().toISOString(),
  node: process.version,
  cores: CORES_NOTE,
  aims: { eventsPerSec: AIM_EVENTS_PER_SEC, bytesPerLiveProcess: AIM_BYTES_PER_PROCESS },
  events: EVENTS,
  hosts: HOSTS,
  seed: SEED,
};
const dir = mkdtempSync(join(tmpdir(), 'lockline-bench-replay-'));
const dbPath = join(dir, 'events.db');

async function storeSections(): Promise<void> {
  // Setup ----------------------------------------------------------------------------------------
  // The appending connection is closed before the replay (closing checkpoints the WAL into the file
  // and deletes it): a projection rebuilding at start-up opens the file afresh. Read through the
  // writer's connection instead, every page read also looks through a WAL of hundreds of MB.
  const load = otherLoad();
  const writer = await openSqliteEventStore(dbPath);
  let setup: Setup;
  let walBytes = 0;
  try {
    setup = await simulateAndAppend(writer);
    walBytes = existsSync(`${dbPath}-wal`) ? statSync(`${dbPath}-wal`).size : 0;
  } finally {
    await writer.close();
  }
  const store = await openSqliteEventStore(dbPath);
  try {
    const fileBytes = statSync(dbPath).size;
    const mix = [...setup.types.entries()]
      .sort((x, y) => y[1] - x[1])
      .slice(0, 8)
      .map(([t, c]) => `${t.replace(/^syscall\./, '')} ${pct(c / setup.events)}`)
      .join(', ');
    say(
      `setup: simulateFleet({ hosts: ${HOSTS}, seed: ${SEED}, events: ${fmt(EVENTS)} }) → ${fmt(setup.streams)} streams, ${fmt(setup.batches)} batches of ` +
        `${MIN_BATCH}–${MAX_BATCH} events, ~${Math.round(setup.bytesPerEvent)} B per envelope; simulated in ${setup.simulateSeconds.toFixed(1)} s, ` +
        `appended in ${setup.appendSeconds.toFixed(1)} s (not timed below); file ${(fileBytes / 1e6).toFixed(0)} MB (the WAL was ${(walBytes / 1e6).toFixed(0)} MB before the writer closed)`,
    );
    say(`  mix: ${mix}, …`);
    const setupLoad = load();
    say(`  ${loadNote(setupLoad)}`);
    result.setup = { ...setup, types: Object.fromEntries(setup.types), fileBytes, walBytesBeforeClose: walBytes, otherLoadCores: setupLoad };
    const parses = await countParses(store);
    result.parses = parses;
    say(
      `one readAllPages pass parses ${fmt(parses.parses)} batch rows for ${fmt(parses.batches)} stored, ${(parses.parsedChars / 1e6).toFixed(0)} MB of JSON for ` +
        `${(parses.storedChars / 1e6).toFixed(0)} MB stored (${(parses.parsedChars / parses.storedChars).toFixed(2)}×): a batch a page boundary splits is parsed by both pages`,
    );
    say(`warm-up: one untimed read + fold (${(await warmUp(store)).toFixed(1)} s)`);
    say();

    const same = new SameFold();
    const sectionLoad = otherLoad();
    const rounds = await replayRounds(store, setup.events, same);
    const readLoad = sectionLoad();
    const figures: Record<string, Figure> = {};
    if (rounds.a.length) figures.readDecode = figure(rounds.a);
    if (rounds.b.length) figures.readDecodeFold = figure(rounds.b);
    if (rounds.d.length) figures.readParseFold = figure(rounds.d);

    const breakdownE = ONLY.has('e') ? await replayMemory(store, same) : undefined;

    let foldLoad: number | null = null;
    if (ONLY.has('c')) {
      const l = otherLoad();
      figures.foldOnly = figure(await foldRounds(store, same));
      foldLoad = l();
    }

    // Report ---------------------------------------------------------------------------------------
    if (Object.keys(figures).length) {
      const widths = [46, 13, 25, 11, 18];
      say(`Replay of ${fmt(setup.events)} events (${setup.streams} streams) from SQLite, readAllPages in pages of 1,000; median of ${ROUNDS} round(s), each on a fresh FleetProjection`);
      say(row(['', 'median ev/s', 'min – max ev/s', 'per event', `aim ≥ ${fmt(AIM_EVENTS_PER_SEC)}/s`], widths));
      const line = (label: string, f: Figure | undefined, aim: boolean): void => {
        if (!f) return;
        say(row([label, fmt(f.median), `${fmt(f.min)} – ${fmt(f.max)}`, `${(1e6 / f.median).toFixed(2)} µs`, aim ? verdict(f.median >= AIM_EVENTS_PER_SEC) : ''], widths));
      };
      line('(a) read + decode', figures.readDecode, false);
      line('(b) read + decode + fold  ← the figure', figures.readDecodeFold, true);
      line('(c) fold alone (envelopes in memory)', figures.foldOnly, false);
      line('(d) read + parseEvent (zod) + fold', figures.readParseFold, false);
      const us = (f: Figure | undefined): number | undefined => (f ? 1e6 / f.median : undefined);
      const [a, b, c, d] = [us(figures.readDecode), us(figures.readDecodeFold), us(figures.foldOnly), us(figures.readParseFold)];
      if (a !== undefined && b !== undefined) {
        say(
          `  split of (b), ${b.toFixed(2)} µs/event: read + decode ${a.toFixed(2)} µs (${pct(a / b, 0)}), the fold the other ${(b - a).toFixed(2)} µs` +
            (c !== undefined ? ` (alone, in memory: ${c.toFixed(2)} µs)` : ''),
        );
      }
      if (b !== undefined && d !== undefined) say(`  validating on read (zod) would add ${(d - b).toFixed(2)} µs/event: ${pct((d - b) / b, 0)} more time`);
      const ref = same.reference;
      if (ref) say(`  every fold: ${fmt(ref.boots)} boots, ${fmt(ref.applied)} events applied, ${fmt(ref.live)} live tasks, ${fmt(ref.findings)} findings, ${ref.setAside} set aside`);
      say(`  ${loadNote(readLoad)}${foldLoad !== null ? ` (during (c): ${foldLoad.toFixed(2)})` : ''}`);
      say();
      result.replay = { ...figures, fingerprint: ref, otherLoadCores: readLoad, otherLoadCoresDuringFoldOnly: foldLoad };
    }
    if (breakdownE) {
      printBreakdown('(e) memory: the FleetProjection a replay of the store builds, per live task, after a full GC (heapUsed + arrayBuffers)', breakdownE);
      say();
      result.memoryFleet = breakdownE;
    }
  } finally {
    await store.close();
  }
}

function populationSections(): void {
  foldPopulation(2, 300); // warm-up: compiled code is heap too, keep it out of the figures
  const out: unknown[] = [];
  for (const { hosts, processes } of POPULATIONS) {
    const load = otherLoad();
    const b = populationMemory(hosts, processes);
    printBreakdown(
      `(f) memory: ${fmt(hosts)} host${hosts === 1 ? '' : 's'} × ${fmt(processes)} long-lived processes (fork, exec of a small image, 5 mmaps, brk; ` +
        `recordHost events through JSON, ${fmt(b.events)} of them folded at ${fmt(b.foldEventsPerSecond)}/s)`,
      b,
    );
    const cores = load();
    say(`  ${loadNote(cores)}`);
    say();
    out.push({ hosts, processes, ...b, otherLoadCores: cores });
  }
  result.memoryPopulations = out;
}

try {
  say(`Lockline replay benchmark — ${result.date as string}, node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ${CORES_NOTE}`);
  if (['a', 'b', 'c', 'd', 'e'].some((x) => ONLY.has(x))) await storeSections();
  if (ONLY.has('f')) populationSections();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

result.seconds = Number(((performance.now() - started) / 1000).toFixed(1));
say(`done in ${result.seconds as number} s`);
say(`RESULT ${JSON.stringify(result)}`);
