/**
 * The fault suite's frame: each fault is one `faultTest`, run in order in one file (the machine's
 * cores are shared: faults never run side by side), with its own seeded schedule, a list of cleanups
 * run also when it fails, and a result (the ledger of what was published, acked and stored, the
 * recovery times, what was seen) that the suite renders into docs/reliability.md at the end.
 */
import { hostStreamName, type HostEvent } from '@lockline/events';
import { expect, it } from 'vitest';
import {
  diffKeys,
  expectedFindingIds,
  serviceProblems,
  sleep,
  waitDrained,
  waitFor,
  type Pipeline,
  type Service,
} from '../../e2e/support/pipeline.js';
import type { FaultResult, Ledger, Recovery } from './report.js';
import { Prng, SEED, faultSeed } from './seed.js';

export const results: FaultResult[] = [];

export class FaultRun {
  readonly faultSeed: number;
  readonly prng: Prng;
  readonly startedAt = performance.now();
  readonly recoveries: Recovery[] = [];
  readonly observations: string[] = [];
  fault = '';
  ledger: Ledger | undefined;
  pipeline: Pipeline | undefined;
  readonly #cleanups: Array<() => Promise<void> | void> = [];

  constructor(readonly id: string) {
    this.faultSeed = faultSeed(id);
    this.prng = new Prng(this.faultSeed);
  }

  /** Runs at the end, last registered first, whether the fault passed or not. */
  defer(cleanup: () => Promise<void> | void): void {
    this.#cleanups.push(cleanup);
  }

  /** Set once cleanup began (the fault finished, failed or overran): loops of a fault stop injecting. */
  cleaningUp = false;

  async cleanUp(): Promise<void> {
    this.cleaningUp = true;
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        console.error(`[fault ${this.id}] cleanup failed: ${(error as Error).message}`);
      }
    }
  }

  note(text: string): void {
    this.observations.push(text);
  }

  recovered(label: string, ms: number): void {
    this.recoveries.push({ label, ms: Math.round(ms) });
  }

  get elapsedMs(): number {
    return performance.now() - this.startedAt;
  }
}

class Skip extends Error {}

/** What a fault's cleanup may take (processes killed, servers stopped, the tmpfs unmounted). */
const CLEANUP_MS = 20_000;

/** Ends a fault as skipped, with the reason in the test report and in docs/reliability.md. */
export function skipFault(reason: string): never {
  throw new Skip(reason);
}

/**
 * One fault: `body` does the damage and fills `run` (its ledger, recoveries, observations). A failure
 * names the seed to replay it with; the result is recorded whatever happens.
 */
export function faultTest(id: string, title: string, timeoutMs: number, body: (run: FaultRun) => Promise<void>): void {
  it(title, async (ctx) => {
    const run = new FaultRun(id);
    console.log(`[fault ${id}] LOCKLINE_FAULT_SEED=${SEED} (fault seed ${run.faultSeed})`);
    const record = (status: FaultResult['status'], reason?: string): void => {
      results.push({
        id,
        title,
        status,
        ...(reason === undefined ? {} : { reason }),
        seed: SEED,
        faultSeed: run.faultSeed,
        durationMs: Math.round(run.elapsedMs),
        fault: run.fault,
        ...(run.ledger === undefined ? {} : { ledger: run.ledger }),
        recoveries: run.recoveries,
        observations: run.observations,
      });
    };
    // The fault's own deadline, inside vitest's: a fault that overruns is recorded as failed and
    // cleaned up (its processes killed) before the next one starts, not left running beside it.
    const work = body(run);
    work.catch(() => undefined);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const overrun = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the fault did not finish within ${(timeoutMs - CLEANUP_MS) / 1000} s`)), timeoutMs - CLEANUP_MS);
    });
    try {
      await Promise.race([work, overrun]);
      record('passed');
    } catch (error) {
      if (error instanceof Skip) {
        record('skipped', error.message);
        await run.cleanUp();
        ctx.skip(error.message);
        return;
      }
      const message = error instanceof Error ? error.message : String(error);
      record('failed', message.split('\n')[0]?.slice(0, 300));
      if (run.pipeline !== undefined) console.error(`[fault ${id}] services:\n${serviceProblems(run.pipeline)}`);
      const wrapped = new Error(`[fault ${id}: replay with LOCKLINE_FAULT_SEED=${SEED}] ${message}`, { cause: error });
      if (error instanceof Error && error.stack !== undefined) wrapped.stack = `${wrapped.message}\n${error.stack.split('\n').slice(1).join('\n')}`;
      throw wrapped;
    } finally {
      clearTimeout(timer);
      await run.cleanUp();
    }
  }, timeoutMs);
}

/** A service's metric, 0 while it does not answer (starting, stopped, killed). */
export async function metricOr0(service: Service | undefined, name: string): Promise<number> {
  if (service === undefined || !service.running) return 0;
  try {
    return await service.metric(name);
  } catch {
    return 0;
  }
}

export const PUBLISHED_METRIC = 'lockline_host_sim_events_published_total';

/**
 * Waits until host-sim gets acks again (its published count passes what it was when this was called)
 * and the store grows past its size then: the pipeline moves again end to end. Returns the time
 * taken. `hostSim` is asked each time (a test may restart it meanwhile).
 */
export async function waitProgress(p: Pipeline, hostSim: () => Service | undefined, timeoutMs: number, what: string): Promise<number> {
  return (await waitProgressEach(p, hostSim, timeoutMs, what)).both;
}

/** waitProgress, with the time until acks moved and until stored events moved, each. */
export async function waitProgressEach(p: Pipeline, hostSim: () => Service | undefined, timeoutMs: number, what: string): Promise<{ acks: number; stores: number; both: number }> {
  const t0 = performance.now();
  const published0 = await metricOr0(hostSim(), PUBLISHED_METRIC);
  const stored0 = await p.storedCount();
  let published = published0;
  let stored = stored0;
  let acks: number | undefined;
  let stores: number | undefined;
  for (;;) {
    published = await metricOr0(hostSim(), PUBLISHED_METRIC);
    stored = await p.storedCount();
    if (published > published0) acks ??= performance.now() - t0;
    if (stored > stored0) stores ??= performance.now() - t0;
    if (acks !== undefined && stores !== undefined) return { acks, stores, both: Math.max(acks, stores) };
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(`no progress ${timeoutMs} ms after ${what}: host-sim acked ${published0} → ${published} events, the store holds ${stored0} → ${stored}\n${serviceProblems(p)}`);
    }
    await sleep(50);
  }
}

export interface LedgerOptions {
  /** Events acked to a publisher other than host-sim (the test's own), by `host/boot/seq`. */
  alsoAcked?: ReadonlyMap<string, HostEvent>;
  /** How long the projector may take to reach the replay; default 30 s. */
  projectionTimeoutMs?: number;
}

/**
 * The oracles, as numbers: what LOCKLINE_EVENTS holds, what was acked, what the store holds, the
 * store's seq holes against the projector's reported gaps, the projector's answers against a
 * from-scratch replay, and the findings stream against the replay's findings.
 */
export async function ledgerOf(p: Pipeline, options: LedgerOptions = {}): Promise<{ ledger: Ledger; details: string[] }> {
  const details: string[] = [];
  const published = await p.published();
  const acked = new Map(published.events);
  for (const [key, e] of options.alsoAcked ?? []) acked.set(key, e);
  const bus = await p.eventsStream();
  const stored = await p.readStore();
  const lost = diffKeys(acked.keys(), stored.events.keys());
  const lostOnBus = diffKeys(acked.keys(), bus.events.keys());
  if (lost.missing > 0) details.push(`lost (acked, not stored): ${lost.firstMissing.join(', ')}`);
  if (lost.extra > 0) details.push(`stored and never acked: ${lost.firstExtra.join(', ')}`);
  if (stored.repeated.length > 0) details.push(`stored twice: ${stored.repeated.slice(0, 10).join(', ')}`);
  if (stored.disordered.length > 0) details.push(`out of order: ${stored.disordered.slice(0, 10).join(', ')}`);
  const otherIds = [...acked].filter(([key, e]) => stored.events.has(key) && stored.events.get(key)?.id !== e.id).length;
  if (otherIds > 0) details.push(`${otherIds} events stored under another event id`);

  const fleet = await p.foldStore();
  let projectionMismatches = 0;
  try {
    const compared = await p.projectionConverged(fleet, options.projectionTimeoutMs ?? 30_000);
    for (const c of compared) {
      const a = c.actual;
      if (typeof a === 'string' || a.bootId !== c.expected.bootId || a.seq !== c.expected.seq || a.stateHash !== c.expected.stateHash) {
        projectionMismatches++;
        details.push(`projection of ${c.hostId}: ${JSON.stringify(a)}, replay ${JSON.stringify(c.expected)}`);
      }
    }
  } catch (error) {
    projectionMismatches = fleet.latest.size;
    details.push((error as Error).message.slice(0, 2000));
  }

  // The store's holes against the gaps the projector reports for each host's current boot.
  let gaps = 0;
  for (const holes of stored.holes.values()) gaps += holes.length;
  let gapsUnreported = 0;
  for (const hostId of p.hostIds) {
    const latest = fleet.latest.get(hostId);
    if (latest === undefined) continue;
    const holes = stored.holes.get(hostStreamName(hostId, latest.bootId)) ?? [];
    let reported: number[] = [];
    try {
      const reply = await p.askState(hostId);
      if (reply.ok) reported = reply.data.gaps.flatMap(([from, to]) => Array.from({ length: to - from + 1 }, (_, i) => from + i));
      else details.push(`${hostId}: ${reply.error.code} ${reply.error.message}`);
    } catch (error) {
      details.push(`${hostId}: no state: ${(error as Error).message}`);
    }
    const off = diffKeys(holes.map(String), reported.map(String));
    if (off.missing + off.extra > 0) details.push(`${hostId}: holes ${JSON.stringify(holes.slice(0, 20))}, gaps reported ${JSON.stringify(reported.slice(0, 20))}`);
    gapsUnreported += off.missing + off.extra;
  }
  // Earlier boots are not asked about (the projector answers the current boot): their holes count as unreported.
  for (const [stream, holes] of stored.holes) {
    if (![...fleet.latest.values()].some((h) => hostStreamName(h.hostId, h.bootId) === stream)) {
      gapsUnreported += holes.length;
      details.push(`holes in ${stream}, an earlier boot: ${JSON.stringify(holes.slice(0, 20))}`);
    }
  }

  const expectedFindings = expectedFindingIds(fleet);
  const findings = await p.findings();
  const ids = findings.map((f) => f.msgId ?? '(no Msg-Id)');
  const findingsTwice = ids.filter((id, i) => ids.indexOf(id) !== i).length;
  const findingsDiff = diffKeys(expectedFindings, ids);
  if (findingsTwice > 0 || findingsDiff.missing + findingsDiff.extra > 0) details.push(`findings: ${findingsTwice} twice, ${JSON.stringify(findingsDiff)}`);

  const ledger: Ledger = {
    hosts: fleet.latest.size,
    published: bus.events.size,
    publishedLines: bus.lines,
    acked: acked.size,
    stored: stored.total,
    lost: lost.missing,
    lostOnBus: lostOnBus.missing,
    storedTwice: stored.repeated.length,
    unexpected: lost.extra + otherIds,
    disordered: stored.disordered.length,
    gaps,
    gapsUnreported,
    deadLettered: (await p.deadLetters()).length,
    projectionMismatches,
    findings: expectedFindings.length,
    findingsTwice,
    findingsOff: findingsDiff.missing + findingsDiff.extra,
  };
  return { ledger, details };
}

/** Stops host-sim cleanly (every ack awaited, resume state saved) and checks it exited 0. */
export async function stopHostSim(hostSim: Service): Promise<void> {
  const exit = await hostSim.stop(30_000);
  expect(exit, `host-sim's exit (log tail:\n${hostSim.logs().slice(-2000)})`).toEqual({ code: 0, signal: null });
}

/**
 * How every fault ends: host-sim stopped cleanly, LOCKLINE_EVENTS drained, the ledger recorded on
 * `run`, then the invariants: nothing acked lost, nothing stored twice or out of order, every gap
 * reported, the projection equal to a from-scratch replay, every finding once.
 */
export async function finishAndAudit(run: FaultRun, p: Pipeline, hostSim: Service | undefined, options: LedgerOptions & { expectGaps?: boolean } = {}): Promise<Ledger> {
  if (hostSim !== undefined) await stopHostSim(hostSim);
  // long enough for ingest's pull consumer to notice a lost pull request (two missed 15 s heartbeats)
  await waitDrained(p, 75_000);
  // A consumer whose new leader's copy of the stream still lags after a node restart reports
  // nothing pending until that copy catches up: "drained" can come early. Give the store the time
  // to hold every event host-sim got acked (the audit below names whatever is still missing).
  const expected = (await p.published()).events.size;
  await waitFor('the store to hold every event host-sim got acked', async () => (await p.storedCount()) >= expected, 30_000).catch(() => undefined);
  const { ledger, details } = await ledgerOf(p, options);
  run.ledger = ledger;
  for (const d of details) console.error(`[fault ${run.id}] ${d}`);
  const invariants = {
    lost: ledger.lost,
    lostOnBus: ledger.lostOnBus,
    storedTwice: ledger.storedTwice,
    unexpected: ledger.unexpected,
    disordered: ledger.disordered,
    gapsUnreported: ledger.gapsUnreported,
    projectionMismatches: ledger.projectionMismatches,
    findingsTwice: ledger.findingsTwice,
    findingsOff: ledger.findingsOff,
    ...(options.expectGaps === true ? {} : { gaps: ledger.gaps }),
  };
  const zero = Object.fromEntries(Object.keys(invariants).map((k) => [k, 0]));
  expect(invariants, `invariants broken (${details.slice(0, 5).join(' | ')})`).toEqual(zero);
  expect(ledger.acked, 'something was acked').toBeGreaterThan(0);
  expect(ledger.stored).toBe(ledger.acked);
  return ledger;
}

/**
 * One metric's samples by their label set (`code="STREAM_FULL"` → 3), from the service's /metrics;
 * empty while it does not answer.
 */
export async function labelledMetric(service: Service | undefined, name: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (service === undefined || !service.running) return out;
  try {
    const response = await fetch(`http://127.0.0.1:${service.metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    for (const line of (await response.text()).split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      const match = /^[^{\s]+(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
      if (match === null) continue;
      // the service label every Lockline metric carries says nothing here
      const labels = (match[1] ?? '').split(',').filter((l) => l !== '' && !l.startsWith('service=')).join(',');
      out.set(labels, (out.get(labels) ?? 0) + Number(match[2]));
    }
  } catch {
    // not answering
  }
  return out;
}

/** `a=1, b=2` from labelledMetric's answer, for a note. */
export function formatLabelled(values: ReadonlyMap<string, number>): string {
  return values.size === 0 ? 'none' : [...values].map(([labels, n]) => `${labels.replace(/"/g, '') || '(no label)'}: ${Math.round(n).toLocaleString('en-US')}`).join(', ');
}

/**
 * With LOCKLINE_FAULT_TRACE=1, prints `sample()` every second until `work` settles (what a stalled
 * recovery was doing); otherwise just awaits `work`.
 */
export async function traced<T>(label: string, work: Promise<T>, sample: () => Promise<string>): Promise<T> {
  if (process.env.LOCKLINE_FAULT_TRACE !== '1') return await work;
  let done = false;
  const t0 = performance.now();
  const loop = (async () => {
    while (!done) {
      console.log(`[trace ${label} +${((performance.now() - t0) / 1000).toFixed(1)} s] ${await sample().catch((error: unknown) => (error as Error).message)}`);
      await sleep(1000);
    }
  })();
  try {
    return await work;
  } finally {
    done = true;
    await loop;
  }
}

export interface Stalls {
  /** The longest stretch without a new ack to host-sim, and without a new stored event. */
  readonly maxAckStallMs: number;
  readonly maxStoreStallMs: number;
  /** Every stretch of at least STALL_MS, in order. */
  readonly ackStalls: readonly number[];
  readonly storeStalls: readonly number[];
  /** The longest time between two of the watch's own samples (it can only see what it samples). */
  readonly maxSampleGapMs: number;
}

const STALL_MS = 2000;

/**
 * Samples host-sim's acks and the store's size every 200 ms while a fault runs, and keeps the
 * stretches in which either stood still: what the pipeline's users would see as an outage.
 */
export class StallWatch {
  #running = true;
  #loop: Promise<void>;
  readonly #ack: number[] = [];
  readonly #store: number[] = [];
  #maxAck = 0;
  #maxStore = 0;
  #maxGap = 0;

  constructor(p: Pipeline, hostSim: () => Service | undefined) {
    this.#loop = (async () => {
      let acked = -1;
      let stored = -1;
      let ackSince = performance.now();
      let storeSince = performance.now();
      const close = (since: number, list: number[]): number => {
        const ms = performance.now() - since;
        if (ms >= STALL_MS) list.push(Math.round(ms));
        return ms;
      };
      let sampledAt = performance.now();
      while (this.#running) {
        this.#maxGap = Math.max(this.#maxGap, performance.now() - sampledAt);
        sampledAt = performance.now();
        const a = await metricOr0(hostSim(), PUBLISHED_METRIC);
        const s = await p.storedCount().catch(() => stored);
        if (a !== acked) {
          this.#maxAck = Math.max(this.#maxAck, close(ackSince, this.#ack));
          acked = a;
          ackSince = performance.now();
        }
        if (s !== stored) {
          this.#maxStore = Math.max(this.#maxStore, close(storeSince, this.#store));
          stored = s;
          storeSince = performance.now();
        }
        await sleep(200);
      }
    })();
  }

  async stop(): Promise<Stalls> {
    this.#running = false;
    await this.#loop;
    return { maxAckStallMs: Math.round(this.#maxAck), maxStoreStallMs: Math.round(this.#maxStore), ackStalls: [...this.#ack], storeStalls: [...this.#store], maxSampleGapMs: Math.round(this.#maxGap) };
  }
}

/** Waits until host-sim gets a new ack; returns the time taken. */
export async function waitAcks(hostSim: Service, timeoutMs: number, what: string): Promise<number> {
  const t0 = performance.now();
  const before = await metricOr0(hostSim, PUBLISHED_METRIC);
  await waitFor(`host-sim to get an ack again after ${what}`, async () => (await metricOr0(hostSim, PUBLISHED_METRIC)) > before, timeoutMs, () => hostSim.logs().slice(-2000), 50);
  return performance.now() - t0;
}
