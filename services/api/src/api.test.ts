import { DLQ_STREAM, EVENTS_STREAM, FINDINGS_STREAM, encodeJson, partitionOf, publishDeadLetter } from '@lockline/bus';
import { readStoredMessages } from '@lockline/bus/testing';
import { explain, hostView, vmaViews } from '@lockline/projection';
import { createLogger, createRegistry } from '@lockline/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiApp } from './app.js';
import { build } from './app.js';
import { apiConfig } from './config.js';
import type { DeadLetter, DeadLettersPage, EventsPage, Explanation, Fleet, FindingsPage, HostState, ProcessDetail, RebuildResult, ReplayResult, StateDiff, Tree } from './schemas.js';
import { TOKENS, eventually, fleetEvents, foldUpTo, referenceFold, startHarness, type Harness } from './testing/harness.js';

const PARTITIONS = 2;
const events = fleetEvents({ hosts: 4, seed: 7, events: 8000 });
const reference = referenceFold(events);
const hostIds = [...reference.latest.keys()].sort();
const hostId = hostIds[0]!;
const latest = reference.latest.get(hostId)!;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ partitions: PARTITIONS, events });
  // The API is ready once it has every host's summary and every finding the projector published.
  const total = reference.findings().length;
  await eventually(async () => {
    const ready = await h.request({ url: '/readyz', as: null });
    const fleet = (await h.request({ url: '/v1/fleet' })).json<Fleet>();
    const findings = h.app.backend.feed.position.findingCursor;
    return ready.statusCode === 200 && fleet.hosts.length === hostIds.length && fleet.hosts.every((x) => x.seq === reference.latest.get(x.hostId)!.seq) && findings >= total;
  }, 20_000);
});
afterAll(async () => {
  await h?.close();
});

const problemOf = (r: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }) => {
  expect(r.headers['content-type']).toMatch(/^application\/problem\+json/);
  return r.json() as { type: string; title: string; status: number; detail: string; code: string; errors?: Array<{ in: string; path: string; message: string }> };
};

/** A pid of `p` holding locked memory (inherited if there is one). */
function lockedPid(p = latest): number {
  const view = hostView(p);
  const v = view.processes.find((x) => x.lockState === 'inherited') ?? view.processes.find((x) => x.lockState !== 'none');
  if (!v) throw new Error(`no locked process on ${p.hostId}`);
  return v.pid;
}

describe('authentication and roles', () => {
  it('refuses a request without a token with 401, a problem, and WWW-Authenticate', async () => {
    const r = await h.request({ url: '/v1/fleet', as: null });
    expect(r.statusCode).toBe(401);
    expect(r.headers['www-authenticate']).toBe('Bearer realm="lockline"');
    expect(problemOf(r)).toMatchObject({ status: 401, code: 'UNAUTHORIZED', type: 'urn:lockline:problem:unauthorized', detail: expect.stringMatching(/Authorization: Bearer/) });
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['x-ratelimit-remaining']).toBeDefined();
  });

  it('refuses an unknown token, a malformed header and another scheme alike', async () => {
    for (const authorization of ['Bearer not-a-token-of-ours-at-all', 'Bearer', `Basic ${Buffer.from('a:b').toString('base64')}`, `Bearer ${TOKENS[0].token} extra`]) {
      const r = await h.request({ url: '/v1/fleet', as: null, headers: { authorization } });
      expect(r.statusCode, authorization).toBe(401);
    }
  });

  it('checks the token before the request: a bad query or body without a token is 401, not 400', async () => {
    expect((await h.request({ url: '/v1/hosts/no.such.host', as: null })).statusCode).toBe(401);
    expect((await h.request({ method: 'POST', url: '/v1/rebuild', as: null, payload: '{"hostId":', headers: { 'content-type': 'application/json' } })).statusCode).toBe(401);
  });

  it('counts refused requests against the address: guessing tokens is rate limited', async () => {
    const app = await h.app2({ rateLimitPerMinute: 5 });
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) codes.push((await h.request({ url: '/v1/fleet', as: null, headers: { authorization: `Bearer guess-${i}-0123456789abcdef` } }, app)).statusCode);
    expect(codes).toEqual([401, 401, 401, 401, 401, 429, 429]);
  });

  it('lets a viewer read and forbids it an operator action (403); an operator may act', async () => {
    expect((await h.request({ url: '/v1/fleet', as: 'viewer' })).statusCode).toBe(200);
    expect((await h.request({ url: '/v1/fleet', as: 'operator' })).statusCode).toBe(200);
    const forbidden = await h.request({ method: 'POST', url: '/v1/rebuild', as: 'viewer' });
    expect(forbidden.statusCode).toBe(403);
    expect(problemOf(forbidden)).toMatchObject({ code: 'FORBIDDEN', detail: expect.stringMatching(/operator role/) });
    const replay = await h.request({ method: 'POST', url: '/v1/dead-letters/1/replay', as: 'viewer' });
    expect(replay.statusCode).toBe(403);
  });
});

describe('GET /v1/fleet', () => {
  it('lists every host with its boot, processes, locked pages, findings by code, event rate and lag', async () => {
    const r = await h.request({ url: '/v1/fleet' });
    expect(r.statusCode).toBe(200);
    const fleet = r.json<Fleet>();
    expect(fleet.hosts.map((x) => x.hostId)).toEqual(hostIds);
    for (const x of fleet.hosts) {
      const ref = reference.latest.get(x.hostId)!;
      let live = 0;
      for (const t of ref.host!.tasks.values()) if (t.alive) live++;
      expect(x).toMatchObject({ bootId: ref.bootId, seq: ref.seq, stateHash: ref.stateHash(), lockedPages: ref.lockedPages, processes: live, findingsByCode: hostView(ref).findingsByCode });
      expect(x.lagMs).toBeGreaterThanOrEqual(0);
      expect(typeof x.eventRate).toBe('number');
    }
    expect(fleet.totals.hosts).toBe(hostIds.length);
    expect(fleet.totals.lockedPages).toBe(fleet.hosts.reduce((n, x) => n + x.lockedPages, 0));
  });
});

describe('GET /v1/hosts/:hostId', () => {
  it("is the host's state, as the projector folded it", async () => {
    const r = await h.request({ url: `/v1/hosts/${hostId}` });
    expect(r.statusCode).toBe(200);
    const { processes: _p, ...view } = hostView(latest);
    expect(r.json<HostState>()).toMatchObject({ ...view, applied: latest.applied, boots: expect.arrayContaining([latest.bootId]) });
  });

  it('is 404 for a host nobody has heard of, 400 for a host id that cannot be one', async () => {
    const missing = await h.request({ url: '/v1/hosts/host-999' });
    expect(missing.statusCode).toBe(404);
    expect(problemOf(missing)).toMatchObject({ code: 'NOT_FOUND', detail: expect.stringMatching(/host-999/), instance: '/v1/hosts/host-999' });
    const bad = await h.request({ url: '/v1/hosts/no.such.host' });
    expect(bad.statusCode).toBe(400);
    expect(problemOf(bad)).toMatchObject({ code: 'BAD_REQUEST', errors: [{ in: 'params', path: 'hostId', message: expect.stringMatching(/host id/) }] });
    expect((await h.request({ url: `/v1/hosts/${hostId}?bootId=a-b` })).statusCode).toBe(400);
    expect((await h.request({ url: `/v1/hosts/${hostId}?bootId=nosuchboot` })).statusCode).toBe(404);
    expect((await h.request({ url: `/v1/hosts/${hostId}?unknown=1` })).statusCode).toBe(400);
  });
});

describe('questions to the projector', () => {
  it('are shared while in flight: the same question asked at once goes out once', async () => {
    const asked = async () => {
      const text = (await h.request({ url: '/metrics', as: null })).body;
      const count = (name: string) => Number(new RegExp(`^${name}\\{[^}]*verb="state"[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
      return { sent: count('lockline_api_query_duration_seconds_count'), shared: count('lockline_api_queries_shared_total') };
    };
    const before = await asked();
    const answers = await Promise.all(Array.from({ length: 5 }, () => h.request({ url: `/v1/hosts/${hostId}` })));
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect(new Set(answers.map((r) => r.body)).size).toBe(1);
    const after = await asked();
    expect(after.sent - before.sent + (after.shared - before.shared)).toBe(5);
    expect(after.shared - before.shared).toBeGreaterThan(0);
  });
});

describe('GET /v1/hosts/:hostId/tree', () => {
  it('is the process tree with lineage, exec chains and the mms shared', async () => {
    const r = await h.request({ url: `/v1/hosts/${hostId}/tree` });
    expect(r.statusCode).toBe(200);
    const tree = r.json<Tree>();
    const ref = hostView(latest);
    expect(tree.processes).toEqual(JSON.parse(JSON.stringify(ref.processes)));
    for (const { mm, pids } of tree.sharedMms) {
      expect(pids.length).toBeGreaterThan(1);
      for (const pid of pids) expect(tree.processes.find((p) => p.pid === pid)?.mm).toBe(mm);
    }
  });

  it('filters to locked or over-limit processes', async () => {
    const locked = (await h.request({ url: `/v1/hosts/${hostId}/tree?only=locked` })).json<Tree>();
    expect(locked.processes.length).toBeGreaterThan(0);
    expect(locked.processes.every((p) => p.lockState !== 'none' || Number(p.lockedVmPages) !== 0)).toBe(true);
    const over = (await h.request({ url: `/v1/hosts/${hostId}/tree?only=over-limit` })).json<Tree>();
    expect(over.processes.every((p) => p.lockState === 'over-limit')).toBe(true);
    const bad = await h.request({ url: `/v1/hosts/${hostId}/tree?only=everything` });
    expect(bad.statusCode).toBe(400);
    expect(problemOf(bad).errors?.[0]).toMatchObject({ in: 'querystring', path: 'only' });
  });
});

describe('GET /v1/hosts/:hostId/processes/:pid', () => {
  it("is the process's mm and its explanation", async () => {
    const pid = lockedPid();
    const r = await h.request({ url: `/v1/hosts/${hostId}/processes/${pid}` });
    expect(r.statusCode).toBe(200);
    const d = r.json<ProcessDetail>();
    const ref = explain(latest, pid)!;
    expect(d.process.pid).toBe(pid);
    expect(d.explain).toEqual(JSON.parse(JSON.stringify(ref)));
    expect(d.mm).toMatchObject({ defFlags: ref.defFlags, mclInherit: ref.mclInherit, lockedRanges: d.explain.ranges, vmaCount: d.process.vmaCount });
    // Every VMA, over NATS too (the projector's vmas verb), as a from-scratch fold lists them.
    expect(d.mm!.vmas).toEqual(JSON.parse(JSON.stringify(vmaViews(latest, pid))));
    expect(d.mm!.vmas!.length).toBe(d.process.vmaCount);
  });

  it('goes back in time with seq', async () => {
    const pid = lockedPid();
    const seq = Math.max(1, latest.seq - 200);
    const past = foldUpTo(events, hostId, latest.bootId, seq);
    const r = await h.request({ url: `/v1/hosts/${hostId}/processes/${pid}?seq=${seq}` });
    const ref = explain(past, pid);
    if (ref === null) {
      expect(r.statusCode).toBe(404);
    } else {
      expect(r.statusCode).toBe(200);
      expect(r.json<ProcessDetail>()).toMatchObject({ seq: past.seq, explain: JSON.parse(JSON.stringify(ref)) });
      expect(r.json<ProcessDetail>().mm!.vmas).toEqual(JSON.parse(JSON.stringify(vmaViews(past, pid))));
    }
  });

  it('is 404 for a pid the host does not have, 400 for one that is not a number', async () => {
    const missing = await h.request({ url: `/v1/hosts/${hostId}/processes/4000000` });
    expect(missing.statusCode).toBe(404);
    expect(problemOf(missing).detail).toMatch(/no process 4000000/);
    const bad = await h.request({ url: `/v1/hosts/${hostId}/processes/init` });
    expect(bad.statusCode).toBe(400);
    expect(problemOf(bad).errors?.[0]).toMatchObject({ in: 'params', path: 'pid' });
  });

  it('explain alone: the chain in words', async () => {
    const pid = lockedPid();
    const r = await h.request({ url: `/v1/hosts/${hostId}/processes/${pid}/explain` });
    expect(r.statusCode).toBe(200);
    const x = r.json<Explanation>();
    expect(x.text.length).toBeGreaterThan(0);
    expect(x.text).toEqual(explain(latest, pid)!.text);
    expect((await h.request({ url: `/v1/hosts/${hostId}/processes/4000000/explain` })).statusCode).toBe(404);
  });
});

describe('time travel', () => {
  it("GET /v1/hosts/:hostId/at/:seq is the host's tree at that seq", async () => {
    const seq = Math.floor(latest.seq / 2);
    const r = await h.request({ url: `/v1/hosts/${hostId}/at/${seq}` });
    expect(r.statusCode).toBe(200);
    const past = hostView(foldUpTo(events, hostId, latest.bootId, seq));
    const tree = r.json<Tree>();
    expect(tree).toMatchObject({ seq: past.seq, stateHash: past.stateHash });
    expect(tree.processes).toEqual(JSON.parse(JSON.stringify(past.processes)));
    expect((await h.request({ url: `/v1/hosts/${hostId}/at/${seq}?only=locked` })).json<Tree>().processes.every((p) => p.lockState !== 'none' || Number(p.lockedVmPages) !== 0)).toBe(true);
  });

  it('at/:seq is 404 before the first event and 400 for a seq that is not a number', async () => {
    expect((await h.request({ url: `/v1/hosts/${hostId}/at/0` })).statusCode).toBe(404);
    expect((await h.request({ url: `/v1/hosts/${hostId}/at/-1` })).statusCode).toBe(400);
    expect((await h.request({ url: `/v1/hosts/${hostId}/at/latest` })).statusCode).toBe(400);
  });

  it('GET /v1/hosts/:hostId/diff is what changed between two seqs', async () => {
    const from = Math.floor(latest.seq / 3);
    const to = Math.floor((2 * latest.seq) / 3);
    const r = await h.request({ url: `/v1/hosts/${hostId}/diff?from=${from}&to=${to}` });
    expect(r.statusCode).toBe(200);
    const d = r.json<StateDiff>();
    expect(d.from.seq).toBe(foldUpTo(events, hostId, latest.bootId, from).seq);
    expect(d.to.stateHash).toBe(foldUpTo(events, hostId, latest.bootId, to).stateHash());
    expect(d.changes.length).toBeGreaterThan(0);
    const missing = await h.request({ url: `/v1/hosts/${hostId}/diff?from=${from}` });
    expect(missing.statusCode).toBe(400);
    expect(problemOf(missing).errors).toEqual([expect.objectContaining({ in: 'querystring', path: 'to' })]);
  });

  it('GET /v1/hosts/:hostId/events pages through the stored events; next links chain to the end', async () => {
    const boot = events.filter((e) => e.hostId === hostId && e.bootId === latest.bootId);
    const seen: number[] = [];
    let url: string | null = `/v1/hosts/${hostId}/events?limit=500`;
    let pages = 0;
    while (url !== null) {
      const r = await h.request({ url });
      expect(r.statusCode).toBe(200);
      const page: EventsPage = r.json<EventsPage>();
      expect(page.bootId).toBe(latest.bootId);
      expect(page.items.length).toBeLessThanOrEqual(500);
      seen.push(...page.items.map((e) => e.seq));
      url = page.next;
      pages++;
    }
    expect(pages).toBe(Math.ceil(boot.length / 500));
    expect(seen).toEqual(boot.map((e) => e.seq));
  });

  it('events filter by type and by pid', async () => {
    const forks = (await h.request({ url: `/v1/hosts/${hostId}/events?type=syscall.fork,syscall.exec&limit=50` })).json<EventsPage>();
    expect(forks.items.length).toBe(50);
    expect(forks.items.every((e) => e.type === 'syscall.fork' || e.type === 'syscall.exec')).toBe(true);
    const pid = lockedPid();
    const mine = (await h.request({ url: `/v1/hosts/${hostId}/events?pid=${pid}&limit=20` })).json<EventsPage>();
    expect(mine.items.length).toBeGreaterThan(0);
    for (const e of mine.items) expect([(e.data as { pid?: number }).pid, (e.data as { child?: number }).child]).toContain(pid);
  });

  it('events come from the projector: an API without a store serves them over NATS alone', async () => {
    const app = build(apiConfig({ tokens: TOKENS, partitions: PARTITIONS }), { nc: h.api, log: createLogger('api', 'silent'), registry: createRegistry('api') });
    try {
      await app.ready();
      const boot = events.filter((e) => e.hostId === hostId && e.bootId === latest.bootId);
      const first = await h.request({ url: `/v1/hosts/${hostId}/events?limit=100` }, app);
      expect(first.statusCode).toBe(200);
      const page = first.json<EventsPage>();
      expect(page.items).toEqual(JSON.parse(JSON.stringify(boot.slice(0, 100))));
      expect(page.next).toBe(`/v1/hosts/${hostId}/events?limit=100&cursor=100&bootId=${latest.bootId}`);
      const second = (await h.request({ url: page.next! }, app)).json<EventsPage>();
      expect(second.items.map((e) => e.seq)).toEqual(boot.slice(100, 200).map((e) => e.seq));
      const forks = (await h.request({ url: `/v1/hosts/${hostId}/events?type=syscall.fork&limit=10` }, app)).json<EventsPage>();
      expect(forks.items).toEqual(JSON.parse(JSON.stringify(boot.filter((e) => e.type === 'syscall.fork').slice(0, 10))));
      expect((await h.request({ url: '/v1/hosts/host-999/events' }, app)).statusCode).toBe(404);
      expect((await h.request({ url: `/v1/hosts/${hostId}/events?bootId=nosuchboot` }, app)).statusCode).toBe(404);
      const metrics = (await h.request({ url: '/metrics', as: null }, app)).body;
      expect(metrics).toMatch(/lockline_api_query_duration_seconds_count\{[^}]*verb="events",outcome="ok"[^}]*\} [1-9]/);
    } finally {
      await app.close();
    }
  });

  it('events: when no projector answers, an API with a store reads them from it', async () => {
    // The API believes in more partitions than the projector runs: this host routes to nobody.
    const app = await h.app2({ partitions: 64 });
    const stray = hostIds.find((id) => partitionOf(id, 64) >= PARTITIONS);
    expect(stray).toBeDefined();
    const boot = events.filter((e) => e.hostId === stray && e.bootId === reference.latest.get(stray!)!.bootId);
    const r = await h.request({ url: `/v1/hosts/${stray}/events?limit=20` }, app);
    expect(r.statusCode).toBe(200);
    expect(r.json<EventsPage>().items.map((e) => e.seq)).toEqual(boot.slice(0, 20).map((e) => e.seq));
    // Without a store, the same is 503.
    const bare = build(apiConfig({ tokens: TOKENS, partitions: 64 }), { nc: h.api, log: createLogger('api', 'silent'), registry: createRegistry('api') });
    try {
      await bare.ready();
      const unavailable = await h.request({ url: `/v1/hosts/${stray}/events?limit=20` }, bare);
      expect(unavailable.statusCode).toBe(503);
      expect(problemOf(unavailable).detail).toMatch(/no projector answers events/);
    } finally {
      await bare.close();
    }
  });

  it('events: 400 for a bad page size or type, 404 for an unknown host or boot', async () => {
    for (const q of ['limit=0', 'limit=501', 'limit=ten', 'type=Fork', 'cursor=-3']) expect((await h.request({ url: `/v1/hosts/${hostId}/events?${q}` })).statusCode, q).toBe(400);
    expect((await h.request({ url: '/v1/hosts/host-999/events' })).statusCode).toBe(404);
    expect((await h.request({ url: `/v1/hosts/${hostId}/events?bootId=nosuchboot` })).statusCode).toBe(404);
  });
});

describe('GET /v1/findings', () => {
  const key = (f: { hostId: string; bootId: string; seq: number; code: string; pid: number | null }) => `${f.hostId}/${f.bootId}/${f.seq}/${f.code}/${f.pid}`;

  it('pages newest first through every finding the projector published', async () => {
    const all: FindingsPage['items'] = [];
    let url: string | null = '/v1/findings?limit=37';
    while (url !== null) {
      const page: FindingsPage = (await h.request({ url })).json<FindingsPage>();
      all.push(...page.items);
      url = page.next;
    }
    expect(all.length).toBe(reference.findings().length);
    expect(all.map((i) => i.cursor)).toEqual([...all.map((i) => i.cursor)].sort((a, b) => b - a));
    expect(all.map((i) => key(i.finding)).sort()).toEqual(reference.findings().map(key).sort());
  });

  it('pages oldest first with after, and filters by host, code and pid', async () => {
    const first = (await h.request({ url: '/v1/findings?after=0&limit=5' })).json<FindingsPage>();
    expect(first.items.map((i) => i.cursor)).toEqual([...first.items.map((i) => i.cursor)].sort((a, b) => a - b));
    expect(first.next).toMatch(/after=\d+/);
    const second = (await h.request({ url: first.next! })).json<FindingsPage>();
    expect(second.items[0]!.cursor).toBeGreaterThan(first.items[4]!.cursor);

    const code = reference.findings()[0]!.code;
    const byHost = (await h.request({ url: `/v1/findings?hostId=${hostId}&code=${code}&limit=500` })).json<FindingsPage>();
    const expected = reference.findings().filter((f) => f.hostId === hostId && f.code === code);
    expect(byHost.items.map((i) => key(i.finding)).sort()).toEqual(expected.map(key).sort());
    const pid = expected.find((f) => f.pid !== null)?.pid;
    if (pid != null) {
      const byPid = (await h.request({ url: `/v1/findings?hostId=${hostId}&pid=${pid}&limit=500` })).json<FindingsPage>();
      expect(byPid.items.length).toBeGreaterThan(0);
      expect(byPid.items.every((i) => i.finding.pid === pid)).toBe(true);
    }
  });

  it('is 400 for before and after together, a bad code or a bad limit', async () => {
    for (const q of ['before=10&after=2', 'code=locked', 'limit=1000', 'hostId=a.b']) {
      const r = await h.request({ url: `/v1/findings?${q}` });
      expect(r.statusCode, q).toBe(400);
      expect(problemOf(r).code).toBe('BAD_REQUEST');
    }
  });
});

/** Reads server-sent events from an injected request until `until` says stop. */
async function readStream(app: ApiApp, url: string, headers: Record<string, string>, until: (events: Array<{ id: string; event: string; data: unknown }>) => boolean, act?: () => Promise<void>) {
  const controller = new AbortController();
  const res = await app.inject({ url, headers, payloadAsStream: true, signal: controller.signal });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
  const out: Array<{ id: string; event: string; data: unknown }> = [];
  let buffer = '';
  const stream = res.stream();
  const done = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`stream: only ${out.length} events in 10 s`)), 10_000);
    stream.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let i: number;
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        const fields = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':') && l.includes(': ')).map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]));
        if (fields.event !== undefined) out.push({ id: fields.id!, event: fields.event, data: JSON.parse(fields.data!) });
      }
      if (until(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    stream.on('error', () => undefined);
  });
  if (act) await act();
  await done;
  controller.abort();
  return out;
}

describe('GET /v1/stream', () => {
  const auth = { authorization: `Bearer ${TOKENS[0].token}` };

  it('starts with every host summary, then follows; Last-Event-ID resumes with the findings missed', async () => {
    const first = await readStream(h.app, '/v1/stream', auth, (e) => e.filter((x) => x.event === 'host').length >= hostIds.length);
    expect(new Set(first.filter((x) => x.event === 'host').map((x) => (x.data as { summary: { hostId: string } }).summary.hostId))).toEqual(new Set(hostIds));
    // Resume from a point before the last 10 findings: exactly those come back, oldest first.
    const cursor = h.app.backend.feed.position.findingCursor;
    const resumed = await readStream(h.app, '/v1/stream?kinds=finding', { ...auth, 'last-event-id': `${cursor - 10}.999999` }, (e) => e.length >= 10);
    expect(resumed.map((x) => (x.data as { cursor: number }).cursor)).toEqual(Array.from({ length: 10 }, (_, i) => cursor - 9 + i));
    expect(resumed.every((x) => x.event === 'finding')).toBe(true);
    expect(resumed[9]!.id).toBe(`${cursor}.999999`);
  });

  it('delivers a new finding live, filtered by host', async () => {
    const other = hostIds[1]!;
    const live = await readStream(
      h.app,
      `/v1/stream?kinds=finding&hostId=${other}`,
      auth,
      (e) => e.some((x) => (x.data as { finding: { message: string } }).finding.message === 'live test'),
      async () => {
        // As the projector would publish it (the admin user stands in for it here).
        const js = h.admin.jetstream();
        await js.publish(`lockline.v1.findings.${hostIds[0]}`, encodeJson({ code: 'ACCOUNTING_DRIFT', hostId: hostIds[0], bootId: 'b1', pid: 1, seq: 1, message: 'other host' }));
        await js.publish(`lockline.v1.findings.${other}`, encodeJson({ code: 'ACCOUNTING_DRIFT', hostId: other, bootId: 'b1', pid: 1, seq: 1, message: 'live test' }));
      },
    );
    expect(live.every((x) => (x.data as { finding: { hostId: string } }).finding.hostId === other)).toBe(true);
    const stored = (await readStoredMessages(h.admin.jetstream(), FINDINGS_STREAM)).at(-1)!;
    const last = live.at(-1)!;
    expect((last.data as { cursor: number }).cursor).toBe(stored.seq);
    expect(last.id).toBe(`${stored.seq}.${h.app.backend.feed.position.hostRevision}`);
  });

  it('is 400 for an unknown kind, 401 without a token', async () => {
    expect((await h.request({ url: '/v1/stream?kinds=everything' })).statusCode).toBe(400);
    expect((await h.request({ url: '/v1/stream', as: null })).statusCode).toBe(401);
  });
});

describe('dead letters', () => {
  let seqs: number[] = [];
  beforeAll(async () => {
    const js = h.admin.jetstream();
    const line = JSON.stringify({ ...events.find((e) => e.hostId === hostId)!, seq: 999_999 });
    const acks = [
      await publishDeadLetter(js, hostId, { reason: 'schema: data.pid: expected a number', line, subject: `lockline.v1.pevents.0.${hostId}`, seq: 1, lineIndex: 0 }),
      await publishDeadLetter(js, null, { reason: 'not JSON', line: '{oops', subject: 'lockline.v1.pevents.0.x', seq: 2, lineIndex: 0 }),
      await publishDeadLetter(js, hostIds[1]!, { reason: 'too long', line: 'x'.repeat(70_000), subject: `lockline.v1.pevents.1.${hostIds[1]}`, seq: 3, lineIndex: 0 }),
      await publishDeadLetter(js, hostId, { reason: 'another', line: '{}', subject: `lockline.v1.pevents.0.${hostId}`, seq: 4, lineIndex: 0 }),
    ];
    seqs = acks.map((a) => a.seq);
  });

  it('lists them oldest first, in pages, by host', async () => {
    const all = (await h.request({ url: '/v1/dead-letters' })).json<DeadLettersPage>();
    expect(all.items.map((d) => d.seq)).toEqual(seqs);
    expect(all.next).toBeNull();
    const page1 = (await h.request({ url: '/v1/dead-letters?limit=2' })).json<DeadLettersPage>();
    expect(page1.items.map((d) => d.seq)).toEqual(seqs.slice(0, 2));
    const page2 = (await h.request({ url: page1.next! })).json<DeadLettersPage>();
    expect(page2.items.map((d) => d.seq)).toEqual(seqs.slice(2));
    expect(page2.next).toBeNull();
    const mine = (await h.request({ url: `/v1/dead-letters?hostId=${hostId}` })).json<DeadLettersPage>();
    expect(mine.items.map((d) => d.seq)).toEqual([seqs[0], seqs[3]]);
    const unknown = (await h.request({ url: '/v1/dead-letters?hostId=~unknown' })).json<DeadLettersPage>();
    expect(unknown.items.map((d) => d.reason)).toEqual(['not JSON']);
    expect((await h.request({ url: '/v1/dead-letters?hostId=a.b' })).statusCode).toBe(400);
  });

  it('shows one, with its reason and input; 404 for one that is not there', async () => {
    const r = await h.request({ url: `/v1/dead-letters/${seqs[0]}` });
    expect(r.statusCode).toBe(200);
    expect(r.json<DeadLetter>()).toMatchObject({ seq: seqs[0], hostId, reason: 'schema: data.pid: expected a number', payloadTruncated: false });
    expect((await h.request({ url: '/v1/dead-letters/9999' })).statusCode).toBe(404);
    expect((await h.request({ url: '/v1/dead-letters/0' })).statusCode).toBe(400);
  });

  it('an operator replays one onto its host events subject, once within the duplicate window', async () => {
    const r = await h.request({ method: 'POST', url: `/v1/dead-letters/${seqs[0]}/replay`, as: 'operator' });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json<ReplayResult>()).toEqual({ seq: seqs[0], hostId, subject: `lockline.v1.events.${hostId}`, duplicate: false });
    const again = await h.request({ method: 'POST', url: `/v1/dead-letters/${seqs[0]}/replay`, as: 'operator' });
    expect(again.json<ReplayResult>().duplicate).toBe(true);
    const stored = await readStoredMessages(h.admin.jetstream(), EVENTS_STREAM);
    expect(stored).toHaveLength(1);
    const letter = (await h.request({ url: `/v1/dead-letters/${seqs[0]}` })).json<DeadLetter>();
    expect(new TextDecoder().decode(stored[0]!.data)).toBe(letter.payload);
    expect(stored[0]!.subject).toMatch(new RegExp(`^lockline\\.v1\\.pevents\\.\\d+\\.${hostId}$`));
  });

  it('refuses to replay one without a host or with a cut payload (409), and one that is not there (404)', async () => {
    const noHost = await h.request({ method: 'POST', url: `/v1/dead-letters/${seqs[1]}/replay`, as: 'operator' });
    expect(noHost.statusCode).toBe(409);
    expect(problemOf(noHost).detail).toMatch(/names no host/);
    const cut = await h.request({ method: 'POST', url: `/v1/dead-letters/${seqs[2]}/replay`, as: 'operator' });
    expect(cut.statusCode).toBe(409);
    expect(problemOf(cut).detail).toMatch(/cut line/);
    expect((await h.request({ method: 'POST', url: '/v1/dead-letters/9999/replay', as: 'operator' })).statusCode).toBe(404);
    expect((await readStoredMessages(h.admin.jetstream(), DLQ_STREAM)).length).toBe(4);
  });
});

describe('operations', () => {
  it("rebuild: an operator's rebuild of a host folds it again from the store; the same state, no finding published again", async () => {
    const findings = async () => (await (await h.admin.jetstreamManager()).streams.info(FINDINGS_STREAM)).state.messages;
    const before = await findings();
    const r = await h.request({ method: 'POST', url: '/v1/rebuild', as: 'operator', payload: { hostId } });
    expect(r.statusCode).toBe(200);
    const body = r.json<RebuildResult>();
    expect(body.hosts).toEqual([
      expect.objectContaining({ hostId, seq: latest.seq, stateHash: latest.stateHash(), events: events.filter((e) => e.hostId === hostId).length, findingsPublished: 0 }),
    ]);
    expect(body.hosts[0]!.boots).toContain(latest.bootId);
    expect((await h.request({ url: `/v1/hosts/${hostId}` })).json<HostState>().stateHash).toBe(latest.stateHash());
    expect(await findings()).toBe(before);
  });

  it('rebuild without a body rebuilds every host, each partition asked; a viewer may not (403), an unknown host is 404', async () => {
    const all = await h.request({ method: 'POST', url: '/v1/rebuild', as: 'operator' });
    expect(all.statusCode).toBe(200);
    const { hosts } = all.json<RebuildResult>();
    expect(hosts.map((x) => x.hostId)).toEqual(hostIds);
    for (const x of hosts) expect(x).toMatchObject({ stateHash: reference.latest.get(x.hostId)!.stateHash(), findingsPublished: 0 });
    const forbidden = await h.request({ method: 'POST', url: '/v1/rebuild', as: 'viewer', payload: { hostId } });
    expect(forbidden.statusCode).toBe(403);
    expect(problemOf(forbidden).code).toBe('FORBIDDEN');
    const missing = await h.request({ method: 'POST', url: '/v1/rebuild', as: 'operator', payload: { hostId: 'host-999' } });
    expect(missing.statusCode).toBe(404);
    expect(problemOf(missing).detail).toMatch(/host-999/);
  });

  it('bodies: unknown fields and bad JSON are 400, a body over the limit 413, another media type 415', async () => {
    expect((await h.request({ method: 'POST', url: '/v1/rebuild', as: 'operator', payload: { hostId, force: true } })).statusCode).toBe(400);
    const badJson = await h.request({ method: 'POST', url: '/v1/rebuild', as: 'operator', payload: '{"hostId":', headers: { 'content-type': 'application/json' } });
    expect(badJson.statusCode).toBe(400);
    expect(problemOf(badJson).code).toBe('BAD_REQUEST');
    const big = await h.request({ method: 'POST', url: '/v1/rebuild', as: 'operator', payload: { hostId: 'x'.repeat(20_000) } });
    expect(big.statusCode).toBe(413);
    expect(problemOf(big).code).toBe('PAYLOAD_TOO_LARGE');
    const text = await h.request({ method: 'POST', url: '/v1/rebuild', as: 'operator', payload: 'rebuild', headers: { 'content-type': 'text/plain' } });
    expect(text.statusCode).toBe(415);
  });
});

describe('errors', () => {
  it('an unknown route is a 404 problem', async () => {
    const r = await h.request({ url: '/v1/nothing-here' });
    expect(r.statusCode).toBe(404);
    expect(problemOf(r)).toMatchObject({ code: 'NOT_FOUND', detail: expect.stringMatching(/\/docs/) });
  });

  it('a projector that does not answer is 503 with Retry-After (no copy owns the partition asked)', async () => {
    // The API believes in more partitions than the projector runs: some hosts route to nobody.
    const app = await h.app2({ partitions: 64 });
    const stray = Array.from({ length: 200 }, (_, i) => `host-x${i}`);
    let seen = false;
    for (const id of stray) {
      const r = await h.request({ url: `/v1/hosts/${id}` }, app);
      if (r.statusCode === 503) {
        expect(r.headers['retry-after']).toBe('1');
        expect(problemOf(r)).toMatchObject({ code: 'UNAVAILABLE', detail: expect.stringMatching(/no projector answers/) });
        seen = true;
        break;
      }
    }
    expect(seen).toBe(true);
  });

  it('never sends a stack trace or an internal message', async () => {
    const broken = {
      listStreams: () => Promise.reject(new Error('SQLITE_CORRUPT at /secret/path/events.db')),
      readStream: () => Promise.reject(new Error('SQLITE_CORRUPT at /secret/path/events.db')),
    } as never;
    const app = build(apiConfig({ tokens: TOKENS }), { store: broken, log: createLogger('api', 'silent'), registry: createRegistry('api') });
    try {
      const r = await app.inject({ url: '/v1/fleet', headers: { authorization: `Bearer ${TOKENS[0].token}` } });
      expect(r.statusCode).toBe(500);
      expect(r.body).not.toMatch(/secret|SQLITE|at .*\.ts|stack/);
      expect(problemOf(r)).toMatchObject({ code: 'INTERNAL', detail: expect.stringMatching(/request id/) });
    } finally {
      await app.close().catch(() => undefined);
    }
  });

  it('rate limits per token: 429 with Retry-After past the limit', async () => {
    const app = await h.app2({ rateLimitPerMinute: 3 });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await h.request({ url: '/v1/fleet' }, app)).statusCode);
    expect(codes).toEqual([200, 200, 200, 429]);
    const limited = await h.request({ url: '/v1/fleet' }, app);
    expect(limited.headers['retry-after']).toBeDefined();
    expect(problemOf(limited).code).toBe('RATE_LIMITED');
    // Another token has its own budget; probes are never limited.
    expect((await h.request({ url: '/v1/fleet', as: 'operator' }, app)).statusCode).toBe(200);
    for (let i = 0; i < 5; i++) expect((await h.request({ url: '/healthz', as: null }, app)).statusCode).toBe(200);
  });
});

describe('service routes', () => {
  it('/healthz, /readyz and /metrics need no token', async () => {
    expect((await h.request({ url: '/healthz', as: null })).json()).toEqual({ status: 'ok', backend: 'nats', checks: {} });
    const ready = await h.request({ url: '/readyz', as: null });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ok', backend: 'nats', checks: { nats: true, hostSummaries: true, findings: true } });
    const metrics = await h.request({ url: '/metrics', as: null });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toMatch(/lockline_api_http_request_duration_seconds_bucket\{.*route="\/v1\/fleet"/);
    expect(metrics.body).toMatch(/lockline_api_query_duration_seconds_count\{.*verb="tree",outcome="ok"/);
  });

  it('/docs serves the OpenAPI document generated from the zod schemas', async () => {
    const doc = (await h.request({ url: '/docs/json', as: null })).json<{
      openapi: string;
      paths: Record<string, Record<string, { parameters?: Array<{ name: string; in: string }>; responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
    }>();
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes).toEqual({ bearer: { type: 'http', scheme: 'bearer' } });
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Fleet', 'ProcessTree', 'ProcessDetail', 'Explanation', 'FindingsPage', 'DeadLetter', 'Problem']));
    expect(Object.keys(doc.components.schemas).filter((name) => name.endsWith('Input'))).toEqual([]);
    for (const path of ['/v1/fleet', '/v1/hosts/{hostId}', '/v1/hosts/{hostId}/tree', '/v1/hosts/{hostId}/processes/{pid}', '/v1/hosts/{hostId}/at/{seq}', '/v1/hosts/{hostId}/diff', '/v1/hosts/{hostId}/events', '/v1/findings', '/v1/stream', '/v1/dead-letters/{seq}/replay', '/v1/rebuild', '/healthz']) {
      expect(doc.paths[path], path).toBeDefined();
    }
    expect(doc.paths['/v1/hosts/{hostId}/tree']!.get!.parameters!.map((p) => `${p.in}:${p.name}`).sort()).toEqual(['path:hostId', 'query:bootId', 'query:only']);
    expect(Object.keys(doc.paths['/v1/fleet']!.get!.responses)).toEqual(expect.arrayContaining(['200', '4XX', '5XX']));
    const ui = await h.request({ url: '/docs/', as: null });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toMatch(/text\/html/);
  });

  it('/ serves the static files of public/ with security headers', async () => {
    const r = await h.request({ url: '/', as: null });
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/text\/html/);
    expect(r.body).toMatch(/Lockline/);
    expect(r.headers['content-security-policy']).toMatch(/default-src 'self'/);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['x-frame-options']).toBe('SAMEORIGIN');
    const api = await h.request({ url: '/v1/fleet' });
    expect(api.headers['strict-transport-security']).toBeDefined();
    expect(api.headers['x-request-id']).toBeDefined();
  });
});
