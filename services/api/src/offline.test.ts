import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventStore } from '@lockline/eventstore';
import { openEventStore } from '@lockline/eventstore';
import { explain, hostView, vmaViews } from '@lockline/projection';
import { createLogger, createRegistry } from '@lockline/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type ApiApp } from './app.js';
import { apiConfig } from './config.js';
import type { EventsPage, Fleet, FindingsPage, HostState, ProcessDetail, StateDiff, Tree } from './schemas.js';
import { TOKENS, appendEvents, eventually, fleetEvents, foldUpTo, referenceFold } from './testing/harness.js';

// The API without NATS, folding a SQLite store itself: for offline debugging of a copied store.

const events = fleetEvents({ hosts: 3, seed: 11, events: 5000 });
const reference = referenceFold(events);
const hostIds = [...reference.latest.keys()].sort();
const hostId = hostIds[0]!;
const latest = reference.latest.get(hostId)!;

let dir: string;
let store: EventStore;
let app: ApiApp;
const get = (url: string) => app.inject({ url, headers: { authorization: `Bearer ${TOKENS[0].token}` } });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lockline-api-offline-'));
  store = await openEventStore(`sqlite:${join(dir, 'events.db')}`);
  await appendEvents(store, events);
  app = build(apiConfig({ tokens: TOKENS, store: `sqlite:${join(dir, 'events.db')}` }), { store, log: createLogger('api', 'silent'), registry: createRegistry('api') });
  await app.ready();
  await eventually(async () => (await app.inject({ url: '/readyz' })).statusCode === 200);
});
afterAll(async () => {
  await app?.close();
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('the API on a store, offline', () => {
  it('is ready once the store is folded, and says it serves a store', async () => {
    expect((await app.inject({ url: '/readyz' })).json()).toEqual({ status: 'ok', backend: 'store', checks: { store: true } });
  });

  it('fleet, host state and tree are the fold of the store', async () => {
    const fleet = (await get('/v1/fleet')).json<Fleet>();
    expect(fleet.hosts.map((x) => x.hostId)).toEqual(hostIds);
    for (const x of fleet.hosts) expect(x).toMatchObject({ seq: reference.latest.get(x.hostId)!.seq, stateHash: reference.latest.get(x.hostId)!.stateHash() });
    expect((await get(`/v1/hosts/${hostId}`)).json<HostState>()).toMatchObject({ seq: latest.seq, stateHash: latest.stateHash(), applied: latest.applied });
    expect((await get(`/v1/hosts/${hostId}/tree`)).json<Tree>().processes).toEqual(JSON.parse(JSON.stringify(hostView(latest).processes)));
  });

  it('one process: its mm with every VMA, and the explanation', async () => {
    const pid = hostView(latest).processes.find((p) => p.lockState !== 'none' && p.mm !== null)!.pid;
    const r = await get(`/v1/hosts/${hostId}/processes/${pid}`);
    expect(r.statusCode).toBe(200);
    const d = r.json<ProcessDetail>();
    expect(d.explain).toEqual(JSON.parse(JSON.stringify(explain(latest, pid))));
    expect(d.mm!.vmas!.length).toBe(d.process.vmaCount);
    expect(d.mm!.vmas).toEqual(JSON.parse(JSON.stringify(vmaViews(latest, pid))));
    expect(d.mm!.vmas!.filter((v) => v.flags.includes('VM_LOCKED')).length).toBeGreaterThanOrEqual(d.mm!.lockedRanges.length > 0 ? 1 : 0);
    expect((await get(`/v1/hosts/${hostId}/processes/4000000`)).statusCode).toBe(404);
  });

  it('time travel: a past state, a diff, the events', async () => {
    const seq = Math.floor(latest.seq / 2);
    expect((await get(`/v1/hosts/${hostId}/at/${seq}`)).json<Tree>().stateHash).toBe(foldUpTo(events, hostId, latest.bootId, seq).stateHash());
    const diff = (await get(`/v1/hosts/${hostId}/diff?from=${seq}&to=${latest.seq}`)).json<StateDiff>();
    expect(diff.to.stateHash).toBe(latest.stateHash());
    const page = (await get(`/v1/hosts/${hostId}/events?limit=10`)).json<EventsPage>();
    expect(page.items.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    expect(page.next).toMatch(/cursor=10/);
  });

  it('findings: every finding of the fold, in pages', async () => {
    const seen: number[] = [];
    let url: string | null = '/v1/findings?limit=100';
    while (url !== null) {
      const page: FindingsPage = (await get(url)).json<FindingsPage>();
      seen.push(...page.items.map((i) => i.cursor));
      url = page.next;
    }
    expect(seen.length).toBe(reference.findings().length);
  });

  it('dead letters and rebuilds need NATS: 501', async () => {
    const r = await get('/v1/dead-letters');
    expect(r.statusCode).toBe(501);
    expect(r.json()).toMatchObject({ code: 'NOT_IMPLEMENTED', detail: expect.stringMatching(/needs NATS/) });
    const rebuild = await app.inject({ method: 'POST', url: '/v1/rebuild', headers: { authorization: `Bearer ${TOKENS[1].token}` } });
    expect(rebuild.statusCode).toBe(501);
  });
});
