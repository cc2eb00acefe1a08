/**
 * Malformed, oversized and prototype-polluting payloads, generated with fast-check from the fault's
 * seed, published by hosts' own NATS users on their own events subjects, among a host's valid events
 * and beside host-sim's ordinary traffic. Ingest and the projector run in this process (their
 * `build`, on the real nats-server and SQLite store), so that `({}).polluted` is checked where the
 * payloads were parsed, stored, dead-lettered and folded; host-sim is a child process as elsewhere.
 *
 * - host-004: its simulated events, some replaced by a polluted copy (`__proto__` / `constructor.
 *   prototype` keys, plain or \u-escaped, at the top or in `data`), some followed by one, with junk
 *   lines in between: random text and bytes, JSON that is no event, events cut short or with a field
 *   of the wrong type or claiming another host, nesting thousands deep, lines of 64–600 KiB, raw
 *   invalid UTF-8, and one message over the server's max_payload.
 * - host-005 and host-006: valid events whose boot ids are `__proto__` and `constructor` (the id
 *   pattern allows them): stored, folded and answered like any other.
 */
import { DEAD_LETTER_PAYLOAD_MAX_BYTES, EVENTS_STREAM, decodeLines, hostUser, natsAuthOptions, truncateUtf8 } from '@lockline/bus';
import { eventsSubject, hostStreamName, parseEvent, parseEventLine, type HostEvent } from '@lockline/events';
import { openEventStore } from '@lockline/eventstore';
import { build as buildIngest, loadConfig as loadIngestConfig } from '@lockline/ingest';
import { build as buildProjector, loadConfig as loadProjectorConfig } from '@lockline/projector';
import { FleetProjection } from '@lockline/projection';
import { createLogger, createRegistry } from '@lockline/runtime';
import { createSimHost, type SimRecord } from '@lockline/sim';
import fc from 'fast-check';
import { connect, type NatsConnection } from 'nats';
import { expect } from 'vitest';
import { keyOf, startPipeline, waitFor, waitStored, type Pipeline } from '../e2e/support/pipeline.js';
import { faultTest, finishAndAudit } from './support/harness.js';

const HOSTS = 6;
const SIMULATED = 3; // host-001…003: host-sim
const HOSTILE = 'host-004';
const ODD_BOOTS: ReadonlyArray<[string, string]> = [
  ['host-005', '__proto__'],
  ['host-006', 'constructor'],
];
const HOSTILE_EVENTS = 300;
const ODD_BOOT_EVENTS = 80;
const MAX_MESSAGE = 900 * 1024;
const OVER_MAX_PAYLOAD = 1536 * 1024;

type Polluter = readonly [name: string, inject: (line: string) => string];

/** Adds `"key":value` as the first member of the object that starts right after `at` in `line`. */
function addMember(line: string, at: number, member: string): string {
  const empty = line[at] === '}';
  return `${line.slice(0, at)}${member}${empty ? '' : ','}${line.slice(at)}`;
}

function inData(line: string, member: string): string {
  const at = line.indexOf('"data":{');
  return at < 0 ? addMember(line, 1, member) : addMember(line, at + '"data":{'.length, member);
}

const POLLUTED = '{"polluted":true}';
const POLLUTERS: readonly Polluter[] = [
  ['"__proto__" first', (l) => addMember(l, 1, `"__proto__":${POLLUTED}`)],
  ['"__proto__" last', (l) => `${l.slice(0, -1)},"__proto__":${POLLUTED}}`],
  ['"__proto__" in data', (l) => inData(l, `"__proto__":${POLLUTED}`)],
  ['"constructor":{"prototype":…}', (l) => addMember(l, 1, `"constructor":{"prototype":${POLLUTED}}`)],
  ['"constructor":{"prototype":…} in data', (l) => inData(l, `"constructor":{"prototype":${POLLUTED}}`)],
  ['"\\u005f_proto__" (escaped)', (l) => addMember(l, 1, `"\\u005f_proto__":${POLLUTED}`)],
  ['"__proto__" holding a constructor.prototype', (l) => addMember(l, 1, `"__proto__":{"constructor":{"prototype":${POLLUTED}}}`)],
];

interface Junk {
  readonly kind: string;
  readonly line: string;
}

/** Lines no ingest should store for HOSTILE: invalid, or claiming another host. */
function junkArbitrary(valid: readonly string[]): fc.Arbitrary<Junk> {
  const validLine = fc.constantFrom(...valid);
  const junk = (kind: string, line: fc.Arbitrary<string>): fc.Arbitrary<Junk> => line.map((l) => ({ kind, line: l }));
  return fc
    .oneof(
      junk('random text', fc.string({ maxLength: 300 })),
      junk('random unicode', fc.string({ unit: 'binary', maxLength: 300 })),
      junk('JSON that is no event', fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null')),
      junk('an event cut short', fc.tuple(validLine, fc.nat()).map(([l, n]) => l.slice(0, 1 + (n % (l.length - 1))))),
      junk(
        'an event with a field of the wrong type',
        fc.tuple(validLine, fc.constantFrom('id', 'seq', 'time', 'type', 'bootId', 'schemaVersion', 'data'), fc.jsonValue({ maxDepth: 2 })).map(([l, key, value]) => {
          const o = JSON.parse(l) as Record<string, unknown>;
          o[key] = value;
          return JSON.stringify(o);
        }),
      ),
      junk('an event claiming another host', validLine.map((l) => l.replace(`"hostId":"${HOSTILE}"`, '"hostId":"host-001"'))),
      junk('an event claiming host "__proto__"', validLine.map((l) => l.replace(`"hostId":"${HOSTILE}"`, '"hostId":"__proto__"'))),
      junk('arrays nested thousands deep', fc.integer({ min: 1000, max: 50_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`)),
      junk('objects nested thousands deep', fc.integer({ min: 1000, max: 20_000 }).map((n) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`)),
      junk('an oversized line (64–600 KiB)', fc.integer({ min: 64 * 1024, max: 600 * 1024 }).map((n) => `{"padding":"${'x'.repeat(n)}"}`)),
      junk('an event with an oversized field', fc.tuple(validLine, fc.integer({ min: 64 * 1024, max: 400 * 1024 })).map(([l, n]) => inData(l, `"path":"${'/a'.repeat(n / 2)}"`))),
    )
    .filter((j) => {
      const parsed = parseEvent(j.line);
      return !parsed.ok || parsed.event.hostId !== HOSTILE;
    });
}

interface Outgoing {
  readonly hostId: string;
  readonly data: Uint8Array;
}

/** The lines of a host, cut into messages of at most `sizes[i]` lines and MAX_MESSAGE bytes. */
function toMessages(hostId: string, lines: readonly string[], sizes: readonly number[]): Outgoing[] {
  const encoder = new TextEncoder();
  const out: Outgoing[] = [];
  let batch: string[] = [];
  let bytes = 0;
  let next = 0;
  const flush = (): void => {
    if (batch.length === 0) return;
    out.push({ hostId, data: encoder.encode(`${batch.join('\n')}\n`) });
    batch = [];
    bytes = 0;
  };
  for (const line of lines) {
    const size = Buffer.byteLength(line) + 1;
    if (batch.length > 0 && (batch.length >= (sizes[next % sizes.length] ?? 5) || bytes + size > MAX_MESSAGE)) {
      flush();
      next++;
    }
    batch.push(line);
    bytes += size;
  }
  flush();
  return out;
}

/** Every own key anywhere in `value` that is a prototype's name. */
function prototypeKeys(value: unknown, path = '', out: string[] = []): string[] {
  if (typeof value !== 'object' || value === null) return out;
  for (const key of Object.keys(value)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') out.push(`${path}.${key}`);
    prototypeKeys((value as Record<string, unknown>)[key], `${path}.${key}`, out);
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== Array.prototype && Object.getPrototypeOf(value) !== null) out.push(`${path} (its prototype was replaced)`);
  return out;
}

function polluted(): string[] {
  const probe: Record<string, unknown> = {};
  const found: string[] = [];
  if (probe.polluted !== undefined) found.push(`({}).polluted is ${JSON.stringify(probe.polluted)}`);
  for (const proto of [Object.prototype, Array.prototype, Function.prototype, String.prototype]) {
    if (Object.prototype.hasOwnProperty.call(proto, 'polluted')) found.push(`${proto.constructor.name}.prototype has "polluted"`);
  }
  return found;
}

async function inProcessServices(p: Pipeline): Promise<{ stop(): Promise<void>; ready(): boolean }> {
  const url = p.natsUrls.join(',');
  const as = async (user: string): Promise<NatsConnection> => {
    const credential = p.server.credentials[user];
    if (credential === undefined) throw new Error(`no NATS user ${user}`);
    return await connect({ servers: [...p.natsUrls], ...natsAuthOptions(credential), maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  };
  const ingestNc = await as('ingest');
  const ingestStore = await openEventStore(p.storeUrl);
  const ingest = buildIngest(loadIngestConfig({ LOCKLINE_NATS_URL: url, LOCKLINE_STORE: p.storeUrl, LOCKLINE_GAP_HOLD_MS: '300' }), {
    nc: ingestNc,
    store: ingestStore,
    log: createLogger('ingest', 'error'),
    registry: createRegistry('ingest'),
  });
  await ingest.start();
  const projectorNc = await as('projector');
  const projectorStore = await openEventStore(p.storeUrl);
  const projectorCredential = p.server.credentials.projector!;
  const projector = buildProjector(
    loadProjectorConfig({
      LOCKLINE_NATS_URL: url,
      LOCKLINE_NATS_USER: projectorCredential.user,
      LOCKLINE_NATS_PASSWORD: projectorCredential.password,
      LOCKLINE_STORE: p.storeUrl,
      LOCKLINE_PARTITIONS: String(p.partitions),
      LOCKLINE_SUMMARY_INTERVAL_MS: '500',
      LOCKLINE_LOG_LEVEL: 'error',
    }),
    { nc: projectorNc, store: projectorStore, log: createLogger('projector', 'error'), registry: createRegistry('projector') },
  );
  await projector.start();
  await projector.whenReady();
  let stopped = false;
  return {
    ready: () => ingest.ready() && projector.ready,
    async stop() {
      if (stopped) return;
      stopped = true;
      await projector.stop().catch(() => undefined);
      await ingest.stop().catch(() => undefined);
      for (const nc of [ingestNc, projectorNc]) await nc.close().catch(() => undefined);
      for (const store of [ingestStore, projectorStore]) await store.close().catch(() => undefined);
    },
  };
}

export function hostilePayloads(): void {
  faultTest('hostile-payloads', 'Malformed, oversized and prototype-polluting payloads (fast-check)', 120_000, async (run) => {
    const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const p = await startPipeline({ hosts: HOSTS, seed: String(run.faultSeed) });
    run.pipeline = p;
    run.defer(() => p.close());
    const services = await inProcessServices(p);
    run.defer(() => services.stop());
    const hostSim = await p.hostSim({ LOCKLINE_HOSTS: String(SIMULATED), LOCKLINE_RATE: '3000' });
    await waitStored(p, 2000, 30_000, [hostSim]);

    // The plan, from the fault's seed.
    const simulated = (hostId: string, n: number): SimRecord[] => createSimHost({ hostId, seed: p.seed, profile: 'linux-2008-patch', faults: {} }).take(n);
    const hostile = simulated(HOSTILE, HOSTILE_EVENTS);
    const validLines = hostile.map((r) => r.payload);
    const middle = HOSTILE_EVENTS - 2; // the first (host.booted) and the last event always go as they are
    const [plan] = fc.sample(
      fc.record({
        choices: fc.array(fc.constantFrom('valid', 'valid', 'valid', 'polluted instead', 'polluted, then valid'), { minLength: middle, maxLength: middle }),
        polluters: fc.array(fc.nat(POLLUTERS.length - 1), { minLength: middle, maxLength: middle }),
        junk: fc.array(fc.tuple(fc.nat(HOSTILE_EVENTS - 1), junkArbitrary(validLines)), { minLength: 150, maxLength: 200 }),
        invalidUtf8: fc.array(fc.uint8Array({ minLength: 1, maxLength: 2000 }).map((b) => Uint8Array.from(b, (x, i) => (i % 7 === 0 ? 0xc0 | (x & 0x1f) : x))), { minLength: 4, maxLength: 8 }),
        sizes: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 50, maxLength: 50 }),
      }),
      { seed: run.faultSeed, numRuns: 1 },
    );
    if (plan === undefined) throw new Error('fast-check gave no plan');

    const lines: string[] = [];
    const kinds = new Map<string, number>();
    const count = (kind: string): void => void kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    const pollutedSeqs: number[] = [];
    const pollutedCopies: string[] = [];
    for (const [i, record] of hostile.entries()) {
      for (const [at, j] of plan.junk) {
        if (at === i) {
          lines.push(j.line);
          count(j.kind);
        }
      }
      const choice = i === 0 || i === hostile.length - 1 ? 'valid' : plan.choices[i - 1]!;
      if (choice !== 'valid') {
        const [name, inject] = POLLUTERS[plan.polluters[i - 1]!]!;
        const copy = inject(record.payload);
        lines.push(copy);
        pollutedCopies.push(copy);
        count(`polluted: ${name}`);
        if (choice === 'polluted instead') pollutedSeqs.push(record.seq);
      }
      if (choice !== 'polluted instead') lines.push(record.payload);
    }
    // Each polluted copy is valid JSON that really holds the key (JSON.parse makes "__proto__" an own
    // property): refused as an event, not as text.
    expect(pollutedCopies.filter((copy) => prototypeKeys(JSON.parse(copy)).length === 0).slice(0, 3), 'polluted copies without their key').toEqual([]);
    const messages = toMessages(HOSTILE, lines, plan.sizes);
    for (const bytes of plan.invalidUtf8) messages.splice(1 + (bytes.length % messages.length), 0, { hostId: HOSTILE, data: bytes });
    for (const [hostId, bootId] of ODD_BOOTS) {
      const odd = simulated(hostId, ODD_BOOT_EVENTS).map((r) => JSON.stringify({ ...(JSON.parse(r.payload) as object), bootId }));
      messages.push(...toMessages(hostId, odd, plan.sizes));
    }

    // Publish, each host as its own NATS user; what got an ack is what must be stored (or dead-lettered).
    const connections = new Map<string, NatsConnection>();
    run.defer(async () => {
      for (const nc of connections.values()) await nc.close().catch(() => undefined);
    });
    const connectionOf = async (hostId: string): Promise<NatsConnection> => {
      let nc = connections.get(hostId);
      if (nc === undefined) {
        const credential = p.server.credentials[hostUser(hostId)];
        if (credential === undefined) throw new Error(`no NATS user for ${hostId}`);
        nc = await connect({ servers: [...p.natsUrls], ...natsAuthOptions(credential) });
        connections.set(hostId, nc);
      }
      return nc;
    };
    const acked = new Map<string, HostEvent>();
    let expectedDeadLetters = 0;
    const expectedPayloads: string[] = [];
    for (const [n, m] of messages.entries()) {
      const js = (await connectionOf(m.hostId)).jetstream();
      await js.publish(eventsSubject(m.hostId), m.data, { msgID: `${m.hostId}.hostile.${n}`, timeout: 10_000 });
      const decoded = decodeLines(m.data);
      if (decoded.length === 0) expectedDeadLetters++;
      for (const line of decoded) {
        const parsed = parseEvent(line);
        if (parsed.ok && parsed.event.hostId === m.hostId) acked.set(keyOf(parsed.event), parsed.event);
        else {
          expectedDeadLetters++;
          expectedPayloads.push(line);
        }
      }
    }
    // One message over the server's max_payload (1 MiB): the client refuses to send it.
    let overMax = 'sent';
    try {
      await (await connectionOf(HOSTILE)).jetstream().publish(eventsSubject(HOSTILE), new TextEncoder().encode(`{"padding":"${'x'.repeat(OVER_MAX_PAYLOAD)}"}\n`), { msgID: `${HOSTILE}.hostile.over`, timeout: 10_000 });
    } catch (error) {
      overMax = `refused by the client: ${(error as { code?: string }).code ?? (error as Error).message}`;
    }

    // The pipeline keeps going, every hostile line accounted for.
    const jsm = await p.admin.jetstreamManager();
    const events = await jsm.streams.info(EVENTS_STREAM);
    expect(events.state.messages).toBeGreaterThan(messages.length);
    await waitFor('ingest to take every hostile batch', async () => (await p.deadLetters()).filter((d) => d.hostId === HOSTILE).length >= expectedDeadLetters, 60_000, undefined, 250);
    expect(services.ready(), 'the in-process ingest and projector are still ready').toBe(true);

    // The oracles of every fault, the hostile hosts' acked events included; host-004 has gaps.
    const ledger = await finishAndAudit(run, p, hostSim, { alsoAcked: acked, expectGaps: true });

    // Dead letters: every invalid line once, with its host; nothing else.
    const letters = (await p.deadLetters()).filter((d) => d.hostId === HOSTILE);
    expect(letters.length, 'dead letters of host-004').toBe(expectedDeadLetters);
    const byPayload = new Map<string, number>();
    for (const l of letters) byPayload.set(l.payload ?? '', (byPayload.get(l.payload ?? '') ?? 0) + 1);
    const missing = expectedPayloads.filter((line) => {
      const kept = truncateUtf8(line, DEAD_LETTER_PAYLOAD_MAX_BYTES).text;
      const n = byPayload.get(kept) ?? 0;
      if (n > 0) byPayload.set(kept, n - 1);
      return n === 0;
    });
    expect(missing.map((l) => l.slice(0, 120)), 'invalid lines missing from the dead-letter stream').toEqual([]);
    expect(ledger.deadLettered).toBe(letters.length);

    // host-004's holes are exactly the seqs only a polluted copy carried (below its last valid event).
    const stored = await p.readStore();
    const boot = hostile[0]!.bootId;
    const last = Math.max(...[...acked.values()].filter((e) => e.hostId === HOSTILE).map((e) => e.seq));
    expect(stored.holes.get(hostStreamName(HOSTILE, boot)) ?? []).toEqual(pollutedSeqs.filter((s) => s < last));
    // The odd boot ids are boots like any other: stored whole, answered.
    for (const [hostId, bootId] of ODD_BOOTS) {
      expect([...stored.events.values()].filter((e) => e.hostId === hostId && e.bootId === bootId).length, `${hostId}'s boot "${bootId}"`).toBe(ODD_BOOT_EVENTS);
      const reply = await p.askState(hostId);
      expect(reply.ok && reply.data.bootId, `the projector's answer for ${hostId}`).toBe(bootId);
    }
    // Nothing stored carries a prototype's name as a key, and no prototype of this process changed —
    // the process that parsed, dead-lettered, stored and folded every payload above.
    const carriers = [...stored.events.values()].flatMap((e) => prototypeKeys(e, keyOf(e)));
    expect(carriers.slice(0, 10), 'stored events holding __proto__ / constructor / prototype keys').toEqual([]);
    // And once more at unit level: every line through the parsers and a fold of its own.
    const fold = new FleetProjection();
    for (const m of messages) {
      for (const line of decodeLines(m.data)) {
        parseEventLine(line);
        const parsed = parseEvent(line);
        if (parsed.ok) fold.apply(parsed.event);
      }
    }
    expect(polluted(), 'prototype pollution in this process').toEqual([]);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);

    const pollutedLines = [...kinds].filter(([k]) => k.startsWith('polluted')).reduce((a, [, n]) => a + n, 0);
    const pollutedAccepted = pollutedCopies.filter((line) => parseEvent(line).ok).length;
    run.fault = `${messages.length} messages (${lines.length} lines for ${HOSTILE}, ${plan.invalidUtf8.length} of raw invalid UTF-8, ${ODD_BOOTS.length * ODD_BOOT_EVENTS} events of boots named ${ODD_BOOTS.map(([, b]) => `"${b}"`).join(' and ')}) published by the hosts' own NATS users while host-sim published 3,000 events/s for ${SIMULATED} other hosts; generated by fast-check from the fault seed. Ingest and the projector ran in the test's process (their build(), on the real server and store).`;
    run.note(`${HOSTILE}'s lines: ${HOSTILE_EVENTS} valid events, ${pollutedLines} polluted copies (${pollutedSeqs.length} replacing their event, the others followed by it), and junk: ${[...kinds].filter(([k]) => !k.startsWith('polluted')).map(([k, n]) => `${k} ${n}`).join(', ')}.`);
    run.note(`polluted copies: ${[...kinds].filter(([k]) => k.startsWith('polluted')).map(([k, n]) => `${k.slice('polluted: '.length)} ${n}`).join(', ')} — ${pollutedAccepted === 0 ? "every one refused by the schema (its objects are strict) and dead-lettered" : `${pollutedAccepted} accepted by the schema and stored without the key, the others dead-lettered`}; ${expectedDeadLetters} dead letters in all for ${HOSTILE}, each matched to its line; its ${pollutedSeqs.filter((s) => s < last).length} missing seqs reported as gaps.`);
    run.note(`a message of ${(OVER_MAX_PAYLOAD / 1024).toFixed(0)} KiB, over the server's max_payload: ${overMax}.`);
    run.note(`boot ids "__proto__" and "constructor": stored (${ODD_BOOTS.length * ODD_BOOT_EVENTS} events), folded and answered like any other; no stored event holds a __proto__, constructor or prototype key; ({}).polluted stayed undefined and Object.prototype unchanged in the process running ingest and the projector.`);
  });
}
